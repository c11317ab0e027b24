#!/usr/bin/python3
"""The naive checkout: how a checkout is often written, and why it falls over.

POST /checkout {"amount_cents": 4999} -> 200 {"order_id", "status": "paid", "charge_id"}
GET  /health                          -> 200 {"ok": true}

Every request opens its own database connection, stores the order, charges the
payment gateway and marks the order paid. Nothing has a timeout, nothing is
retried, and any error is a 500: a slow gateway holds a thread and a database
connection for as long as it is slow, and a full database refuses every order.

Usage: naive.py [--port 26300] [--db-host 127.0.0.1] [--db-port 26320]
                [--db-user postgres] [--db-name postgres]
                [--gateway http://127.0.0.1:26310]
Needs psycopg2 (Debian: python3-psycopg2); run it with /usr/bin/python3.
"""
import argparse
import json
import sys
import threading
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

SCHEMA = """CREATE TABLE IF NOT EXISTS orders (
    id text PRIMARY KEY,
    amount_cents integer NOT NULL,
    status text NOT NULL,
    charge_id text,
    created_at timestamptz NOT NULL DEFAULT now())"""

args = None
table_lock = threading.Lock()
table_ready = False


def connect():
    global table_ready
    conn = psycopg2.connect(host=args.db_host, port=args.db_port, user=args.db_user,
                            dbname=args.db_name)  # no connect_timeout: waits as long as it takes
    with table_lock:
        if not table_ready:  # the table is created by the first request that gets a connection
            with conn, conn.cursor() as cur:
                cur.execute(SCHEMA)
            table_ready = True
    return conn


def charge(order_id, amount, traceparent):
    req = urllib.request.Request(
        args.gateway + "/charge", method="POST",
        data=json.dumps({"order_id": order_id, "amount_cents": amount}).encode(),
        headers={"Content-Type": "application/json"})
    if traceparent:  # passed on, so brownout can tell which fault hit which order
        req.add_header("traceparent", traceparent)
    with urllib.request.urlopen(req) as resp:  # no timeout
        return json.load(resp)["charge_id"]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
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
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self):
        if self.path != "/checkout":
            self.send_json(404, {"error": "not found"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            amount = int(json.loads(self.rfile.read(length) or b"{}").get("amount_cents", 4999))
            order_id = uuid.uuid4().hex
            conn = connect()
            with conn, conn.cursor() as cur:
                cur.execute("INSERT INTO orders (id, amount_cents, status) VALUES (%s, %s, 'new')",
                            (order_id, amount))
            charge_id = charge(order_id, amount, self.headers.get("traceparent"))
            with conn, conn.cursor() as cur:
                cur.execute("UPDATE orders SET status = 'paid', charge_id = %s WHERE id = %s",
                            (charge_id, order_id))
            conn.close()
        except Exception as e:  # whatever it was, the customer gets a 500
            print(f"checkout failed: {type(e).__name__}: {str(e).strip()}", file=sys.stderr,
                  flush=True)
            self.send_json(500, {"error": "internal error"})
            return
        self.send_json(200, {"order_id": order_id, "status": "paid", "charge_id": charge_id})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main():
    global args
    ap = argparse.ArgumentParser(description="the naive checkout (no timeouts, no retries)")
    for flag, default in (("--host", "127.0.0.1"), ("--port", 26300), ("--db-host", "127.0.0.1"),
                          ("--db-port", 26320), ("--db-user", "postgres"), ("--db-name", "postgres"),
                          ("--gateway", "http://127.0.0.1:26310")):
        ap.add_argument(flag, default=default, type=type(default))
    args = ap.parse_args()
    server = Server((args.host, args.port), Handler)
    print(f"naive checkout on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
