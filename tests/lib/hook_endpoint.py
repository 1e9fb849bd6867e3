#!/usr/bin/env python3
"""A product's webhook endpoint, for tests of `tally replay`.

    python3 tests/lib/hook_endpoint.py --secret whsec_... [--secret ...]
        --record FILE [--log FILE] [--port-file FILE] [--port N]
        [--now T] [--tolerance S] [--status N]

It binds 127.0.0.1 (port 0 takes any free port), writes the port and a
newline to --port-file once it listens (through a temporary file and a
rename), and serves until SIGTERM or SIGINT.

Every POST is verified as Stripe's libraries verify a webhook
(Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]; HMAC-SHA256 keyed by the
whole secret over "<t>." + the raw body bytes; any v1 matching any secret;
rejected when now - t > tolerance, tolerance <= 0 disabling that) and
answered --status (default 200) with {"received": true} when it verifies,
400 with {"error": "..."} when it does not.

--record FILE gets one JSON line per request: {"t", "path", "headers"
(Content-Type, Stripe-Signature, User-Agent, Idempotency-Key,
Authorization), "body" (the raw body as text, exactly), "body_sha256",
"length", "verified", "why", "status"}.  --log FILE gets, for each verified
request, the delivery record the product would write to its webhook log
(SPEC 3.1): received_at, endpoint, attempt 1, status, http_status,
signature and the raw body, one JSON line.  --now fixes the clock (Unix
seconds) used for the tolerance and received_at.

Standard library only.
"""
import argparse
import hashlib
import hmac
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def verify(header, body, secrets, now, tolerance):
    """(ok, why) for a Stripe-Signature header over body (bytes)."""
    if not header:
        return False, "not signed"
    t = None
    v1 = []
    for pair in header.split(","):
        pair = pair.strip()
        if "=" not in pair:
            return False, "bad header"
        k, v = pair.split("=", 1)
        if k == "t":
            if t is not None or not v.isdigit():
                return False, "bad header"
            t = int(v)
        elif k == "v1":
            v1.append(v)
    if t is None:
        return False, "bad header"
    if not v1:
        return False, "no v1"
    signed = str(t).encode() + b"." + body
    good = False
    for s in secrets:
        mac = hmac.new(s.encode(), signed, hashlib.sha256).hexdigest()
        for v in v1:
            if hmac.compare_digest(mac, v):
                good = True
    if not good:
        return False, "no match"
    if tolerance > 0 and now - t > tolerance:
        return False, "too old"
    return True, "valid"


class Hook:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()

    def now(self):
        return self.args.now if self.args.now is not None else int(time.time())

    def append(self, path, obj):
        if not path:
            return
        line = json.dumps(obj, separators=(",", ":")) + "\n"
        with self.lock:
            with open(path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()


def make_handler(hook):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def answer(self, status, obj):
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.answer(404, {"error": "POST webhooks here"})

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n > 0 else b""
            sig = self.headers.get("Stripe-Signature") or ""
            now = hook.now()
            ok, why = verify(sig, body, hook.args.secret, now, hook.args.tolerance)
            status = hook.args.status if ok else 400
            hdrs = {k: self.headers.get(k) for k in ("Content-Type", "Stripe-Signature",
                                                      "User-Agent", "Idempotency-Key",
                                                      "Authorization")
                    if self.headers.get(k) is not None}
            text = body.decode("utf-8", "surrogateescape")
            hook.append(hook.args.record, {
                "t": time.time(), "path": self.path, "headers": hdrs, "body": text,
                "body_sha256": hashlib.sha256(body).hexdigest(), "length": len(body),
                "verified": ok, "why": why, "status": status})
            if ok:
                port = self.server.server_address[1]
                hook.append(hook.args.log, {
                    "received_at": now, "endpoint": "http://127.0.0.1:%d%s" % (port, self.path),
                    "attempt": 1, "status": "ok" if 200 <= status < 300 else "failed",
                    "http_status": status, "signature": sig, "body": text})
            if ok:
                self.answer(status, {"received": True})
            else:
                self.answer(400, {"error": "signature: " + why})

    return Handler


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--secret", action="append", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--log")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--now", type=int)
    ap.add_argument("--tolerance", type=int, default=300)
    ap.add_argument("--status", type=int, default=200)
    args = ap.parse_args(argv)
    hook = Hook(args)
    try:
        srv = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(hook))
    except OSError as e:
        print("hook_endpoint: cannot listen: %s" % e, file=sys.stderr)
        return 2
    srv.daemon_threads = True
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(tmp, args.port_file)

    def stop(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    srv.serve_forever()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
