#!/usr/bin/python3
"""A payment gateway stub for the checkout example (not part of brownout).

POST /charge  {"order_id": "...", "amount_cents": 4999}
    -> 200 {"charge_id": "ch_000001", "amount_cents": 4999, "replayed": false}
    An `Idempotency-Key` header makes the call safe to repeat: the same key
    always answers with the same charge and never charges twice (replayed:
    true). Without a key every call is a new charge.
GET /health   -> 200 {"ok": true}
GET /stats    -> 200 {"charges": N, "replays": M, "keys": K}

Usage: payment_stub.py [--host 127.0.0.1] [--port 26311]
"""
import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
charges = {}  # idempotency key -> the charge answered for it
counts = {"charges": 0, "replays": 0}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):  # quiet: one line per request is noise here
        pass

    def send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            self.send_json(200, {"ok": True})
        elif self.path == "/stats":
            with lock:
                self.send_json(200, dict(counts, keys=len(charges)))
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self):
        if self.path != "/charge":
            self.send_json(404, {"error": "not found"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            req = json.loads(self.rfile.read(length) or b"{}")
            amount = int(req.get("amount_cents", 0))
        except (ValueError, TypeError, AttributeError):
            self.send_json(400, {"error": "bad request"})
            return
        if amount <= 0:
            self.send_json(400, {"error": "amount_cents must be > 0"})
            return
        key = self.headers.get("Idempotency-Key")
        with lock:
            if key and key in charges:
                counts["replays"] += 1
                charge = dict(charges[key], replayed=True)
            else:
                counts["charges"] += 1
                charge = {"charge_id": "ch_%06d" % counts["charges"], "amount_cents": amount,
                          "replayed": False}
                if key:
                    charges[key] = charge
        self.send_json(200, charge)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=26311)
    args = ap.parse_args()
    server = Server((args.host, args.port), Handler)
    print(f"payment stub on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
