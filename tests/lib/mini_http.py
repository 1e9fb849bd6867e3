#!/usr/bin/env python3
"""mini_http: a tiny scripted HTTP/1.1 server for the Stripe client's unit test.

It listens on 127.0.0.1 on a free port, writes the port to --port-file
(atomically: written beside it, then renamed), and answers every request
from a script of canned responses, one route per path (the query string is
not part of the route):

  {"routes": {"/v1/customers": [RESPONSE, ...], ...},
   "default": RESPONSE}                      # optional, for unknown or used-up routes

Each route's responses are used in order, one per request.  A RESPONSE is

  {"status": 200,                  # default 200
   "headers": {"Retry-After": "1"},  # added to Date, Server, Content-Type,
                                     # Content-Length and Request-Id (req_mini_N);
                                     # a header given as null is left out
   "body": "text" | <any JSON>,    # a non-string is sent as JSON; default {}
   "body_fill": 1000,              # instead of body: a JSON object of this many bytes
   "delay": 0.5,                   # seconds to wait before answering
   "drop": true,                   # read the request, then close without a byte
   "truncate": 10,                 # send the headers (full Content-Length) and
                                   # only this many body bytes, then close
   "repeat": 3}                    # use this response this many times

When a route has nothing left (and there is no default) the answer is a 500
Stripe error with Stripe-Should-Retry: false, so a test sees the mistake.

Every request is appended to --log as one JSON line, before it is answered:
{"n", "t" (time.time()), "method", "path" (with the query), "headers"
{name: value}, "body"}.  The server exits when --parent is no longer
running, or after --lifetime seconds.
"""
import argparse
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Script:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        self.lock = threading.Lock()
        self.routes = {}
        for route, responses in doc.get("routes", {}).items():
            queue = []
            for r in responses:
                queue.extend([r] * int(r.get("repeat", 1)))
            self.routes[route] = queue
        self.default = doc.get("default")

    def next(self, route):
        with self.lock:
            queue = self.routes.get(route)
            if queue:
                return queue.pop(0)
        if self.default is not None:
            return self.default
        return {"status": 500, "headers": {"Stripe-Should-Retry": "false"},
                "body": {"error": {"type": "api_error",
                                   "message": "mini_http: no scripted response left for " + route}}}


class Log:
    def __init__(self, path):
        self.f = open(path, "a", encoding="utf-8")
        self.lock = threading.Lock()
        self.n = 0

    def write(self, entry):
        with self.lock:
            self.n += 1
            entry["n"] = self.n
            self.f.write(json.dumps(entry) + "\n")
            self.f.flush()
            return self.n


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mini_http"
    sys_version = ""

    def log_message(self, fmt, *args):      # quiet: the JSONL log is the record
        pass

    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without this, Nagle and the
        # client's delayed ACK add 40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, socket.timeout):
            pass

    def answer(self):
        t = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {}
        for k, v in self.headers.items():
            headers[k] = headers[k] + ", " + v if k in headers else v
        n = self.server.log.write({"t": t, "method": self.command, "path": self.path,
                                   "headers": headers,
                                   "body": body.decode("utf-8", "replace")})
        r = self.server.script.next(self.path.split("?", 1)[0])
        if r.get("delay"):
            time.sleep(float(r["delay"]))
        if r.get("drop"):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if "body_fill" in r:
            size = int(r["body_fill"])
            payload = b'{"pad":"' + b"x" * max(0, size - 10) + b'"}'
        else:
            b = r.get("body", {})
            payload = (b if isinstance(b, str) else json.dumps(b)).encode("utf-8")
        out = {"Content-Type": "application/json", "Content-Length": str(len(payload)),
               "Request-Id": "req_mini_%d" % n}
        out.update(r.get("headers", {}))
        self.send_response_only(int(r.get("status", 200)))
        if "Date" not in out:
            self.send_header("Date", self.date_time_string())
        self.send_header("Server", self.version_string())
        for k, v in out.items():
            if v is not None:
                self.send_header(k, str(v))
        self.end_headers()
        if "truncate" in r:
            self.wfile.write(payload[:int(r["truncate"])])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(payload)
        self.wfile.flush()

    do_GET = do_POST = do_DELETE = answer


def watch(parent, lifetime):
    end = time.monotonic() + lifetime
    while time.monotonic() < end:
        if parent:
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                break
        time.sleep(0.2)
    os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--script", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--parent", type=int, default=0)
    ap.add_argument("--lifetime", type=float, default=300)
    a = ap.parse_args()

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.script = Script(a.script)
    srv.log = Log(a.log)
    threading.Thread(target=watch, args=(a.parent, a.lifetime), daemon=True).start()
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
