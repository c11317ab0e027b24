#!/usr/bin/python3
"""The resilient checkout: naive.py's service, written to degrade gracefully.

POST /checkout {"amount_cents": 4999} -> 200 {"order_id", "status": "paid", "charge_id"}
    or 202 {"order_id", "status": "pending"} + Retry-After, Location: taken, charged later
    or 503 + Retry-After: the database is unavailable, come back shortly
GET /orders/ID -> the order; GET /health -> 200

- Database: a pool opened at start (connect_timeout, statement_timeout); a request waits
  briefly for a free connection and never opens more than the pool holds.
- Gateway: a short timeout per attempt and a budget per order; retries with jittered
  backoff under an Idempotency-Key (the order id), so a retry never charges twice; a
  circuit breaker that opens after a few consecutive failures and lets one trial call
  through after a cool-down (half-open).
- Fallback: the order is stored 'pending' first; when the gateway is slow or failing, or
  the breaker is open, it stays pending and the answer is 202. A background worker
  settles pending orders once the gateway answers again, and reopens broken connections.

Usage: resilient.py [--port 26300] [--db-host 127.0.0.1] [--db-port 26320] [--db-user postgres]
                    [--db-name postgres] [--gateway http://127.0.0.1:26310]
Needs psycopg2 (Debian: python3-psycopg2): run it with /usr/bin/python3.
"""
import argparse
import http.client
import json
import queue
import random
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

SCHEMA = """CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY, amount_cents integer NOT NULL,
    status text NOT NULL, charge_id text, created_at timestamptz NOT NULL DEFAULT now())"""
POOL_SIZE, POOL_WAIT = 4, 0.5  # connections; seconds a request waits for one
ATTEMPT_TIMEOUT, BUDGET, ATTEMPTS, BACKOFF = 0.25, 0.6, 3, 0.05  # gateway calls, seconds
BREAKER_FAILURES, BREAKER_COOLDOWN = 3, 2.0  # consecutive failed attempts; seconds


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class DbUnavailable(Exception):
    pass


class Pool:
    """A fixed number of connections, opened at start; a broken one is reopened later."""

    def __init__(self, size, **dsn):
        self.dsn, self.idle, self.lock, self.missing = dsn, queue.LifoQueue(), threading.Lock(), size
        self.refill()

    def open(self):  # one more connection if the pool is short of one, else None
        with self.lock:
            if self.missing == 0:
                return None
            self.missing -= 1
        try:
            conn = psycopg2.connect(connect_timeout=2, options="-c statement_timeout=2000",
                                    **self.dsn)
            with conn, conn.cursor() as cur:  # create the table if missing, one at a time
                cur.execute("SELECT pg_advisory_xact_lock(8); " + SCHEMA)
            return conn
        except psycopg2.Error as e:
            with self.lock:
                self.missing += 1
            raise DbUnavailable(str(e).strip()) from e

    def refill(self):  # at start, then every second from the worker
        try:
            while (conn := self.open()) is not None:
                self.idle.put(conn)
        except DbUnavailable as e:
            log(f"database unavailable: {e}")

    def run(self, sql, params=()):
        try:
            conn = self.idle.get_nowait()
        except queue.Empty:
            conn = self.open()  # not opened yet, or broken: open it now
        if conn is None:
            try:
                conn = self.idle.get(timeout=POOL_WAIT)
            except queue.Empty:
                raise DbUnavailable("every database connection is busy") from None
        try:
            with conn, conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else None
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
            raise DbUnavailable(str(e).strip()) from e
        finally:
            if conn.closed:
                with self.lock:
                    self.missing += 1
            else:
                self.idle.put(conn)


class Breaker:
    def __init__(self, failures, cooldown):
        self.limit, self.cooldown, self.lock = failures, cooldown, threading.Lock()
        self.failures, self.opened_at, self.trial = 0, None, False

    def allow(self):
        with self.lock:
            if self.opened_at is None:
                return True
            if self.trial or time.monotonic() - self.opened_at < self.cooldown:
                return False
            self.trial = True  # half-open: this one call finds out
            return True

    def record(self, ok):
        with self.lock:
            was_open = self.opened_at is not None
            self.failures = 0 if ok else self.failures + 1
            if ok:
                self.opened_at = None
            elif self.trial or self.failures >= self.limit:
                self.opened_at = time.monotonic()  # (again) for a whole cool-down
            self.trial = False
            if was_open != (self.opened_at is not None):
                log("breaker " + ("open" if self.opened_at else "closed"))


def charge(order_id, amount, traceparent=None, budget=BUDGET):
    """The charge id, or None when the gateway did not confirm it within the budget."""
    deadline = time.monotonic() + budget
    for attempt in range(ATTEMPTS):
        left = deadline - time.monotonic()
        if left < 0.05 or not breaker.allow():
            return None
        req = urllib.request.Request(
            args.gateway + "/charge", method="POST",
            data=json.dumps({"order_id": order_id, "amount_cents": amount}).encode(),
            headers={"Content-Type": "application/json", "Idempotency-Key": order_id})
        if traceparent:  # passed on, so brownout can tell which fault hit which order
            req.add_header("traceparent", traceparent)
        try:
            with urllib.request.urlopen(req, timeout=min(ATTEMPT_TIMEOUT, left)) as resp:
                charge_id = json.load(resp)["charge_id"]
        except urllib.error.HTTPError as e:
            declined = e.code < 500 and e.code != 429  # our request is wrong: do not retry
            breaker.record(declined)
            if declined:
                raise
        except (OSError, http.client.HTTPException, ValueError, KeyError):
            breaker.record(False)  # refused, reset, timed out, cut short, garbage
        else:
            breaker.record(True)
            return charge_id
        time.sleep(min(random.uniform(0, BACKOFF * 2**attempt), max(0, deadline - time.monotonic())))
    return None


def settle_pending():  # the background worker
    while True:
        time.sleep(1)
        try:
            pool.refill()
            for order_id, amount in pool.run(
                    "SELECT id, amount_cents FROM orders WHERE status = 'pending' AND "
                    "created_at < now() - interval '2 seconds' ORDER BY created_at LIMIT 20"):
                charge_id = charge(order_id, amount, budget=1.0)
                if charge_id is None:
                    break  # the gateway is still down: later
                pool.run("UPDATE orders SET status = 'paid', charge_id = %s WHERE id = %s",
                         (charge_id, order_id))
        except Exception as e:
            log(f"settling pending orders: {type(e).__name__}: {e}")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def send_json(self, status, obj, **headers):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():  # Retry_After="5" -> Retry-After: 5
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            return self.send_json(200, {"ok": True})
        if not self.path.startswith("/orders/"):
            return self.send_json(404, {"error": "not found"})
        try:
            rows = pool.run("SELECT id, status, charge_id FROM orders WHERE id = %s",
                            (self.path[len("/orders/"):],))
        except DbUnavailable:
            return self.send_json(503, {"error": "database unavailable"}, Retry_After="2")
        if not rows:
            return self.send_json(404, {"error": "no such order"})
        self.send_json(200, dict(zip(("order_id", "status", "charge_id"), rows[0])))

    def do_POST(self):
        if self.path != "/checkout":
            return self.send_json(404, {"error": "not found"})
        try:
            length = int(self.headers.get("Content-Length") or 0)
            amount = int(json.loads(self.rfile.read(length) or b"{}").get("amount_cents", 4999))
        except (ValueError, TypeError, AttributeError):
            return self.send_json(400, {"error": "bad request"})
        order_id = uuid.uuid4().hex
        try:  # stored first: whatever happens next, the order is not lost
            pool.run("INSERT INTO orders (id, amount_cents, status) VALUES (%s, %s, 'pending')",
                     (order_id, amount))
        except DbUnavailable as e:
            log(f"checkout refused: {e}")
            return self.send_json(503, {"error": "try again shortly"}, Retry_After="2")
        try:
            charge_id = charge(order_id, amount, self.headers.get("traceparent"))
        except urllib.error.HTTPError as e:
            return self.send_json(402, {"order_id": order_id, "error": f"payment refused ({e.code})"})
        if charge_id is not None:
            try:
                pool.run("UPDATE orders SET status = 'paid', charge_id = %s WHERE id = %s",
                         (charge_id, order_id))
                return self.send_json(200, {"order_id": order_id, "status": "paid",
                                            "charge_id": charge_id})
            except DbUnavailable:
                pass  # charged but not recorded: the worker replays the charge (same key)
        self.send_json(202, {"order_id": order_id, "status": "pending"}, Retry_After="5",
                       Location=f"/orders/{order_id}")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main():
    global args, pool, breaker
    ap = argparse.ArgumentParser(description="the resilient checkout")
    for flag, default in (("--host", "127.0.0.1"), ("--port", 26300), ("--db-host", "127.0.0.1"),
                          ("--db-port", 26320), ("--db-user", "postgres"), ("--db-name", "postgres"),
                          ("--gateway", "http://127.0.0.1:26310")):
        ap.add_argument(flag, default=default, type=type(default))
    args = ap.parse_args()
    breaker = Breaker(BREAKER_FAILURES, BREAKER_COOLDOWN)
    # Opened now; if the database is not there yet, the worker keeps trying every second.
    pool = Pool(POOL_SIZE, host=args.db_host, port=args.db_port, user=args.db_user,
                dbname=args.db_name)
    threading.Thread(target=settle_pending, daemon=True).start()
    server = Server((args.host, args.port), Handler)
    print(f"resilient checkout on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
