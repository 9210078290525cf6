"""A fault-injecting HTTP proxy for the S3 tests: forwards every request to TARGET and answers a
share of them (RATE, 0..1) with 503 SlowDown instead, before they reach the server, as S3 does
when it throttles. The request's body is read first, so the client sees a throttled upload as it
would from S3. Writes "requests N injected M" to COUNTS when it is stopped (SIGTERM).

  s3_fault_proxy.py PORT TARGET_HOST:TARGET_PORT RATE COUNTS [SEED]
"""
import http.client
import random
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, TARGET, RATE, COUNTS = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
RNG = random.Random(sys.argv[5] if len(sys.argv) > 5 else 16)
LOCK = threading.Lock()
STATS = {"requests": 0, "injected": 0}
SLOWDOWN = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
            b"<Message>Please reduce your request rate.</Message></Error>")
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def relay(self):
        n = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Expect", "").lower() == "100-continue":
            self.send_response_only(100)
            self.end_headers()
        body = self.rfile.read(n) if n else b""
        with LOCK:
            STATS["requests"] += 1
            fault = RNG.random() < RATE
            STATS["injected"] += fault
        if fault:
            self.send_response(503)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(SLOWDOWN)))
            self.end_headers()
            self.wfile.write(SLOWDOWN)
            return
        host, port = TARGET.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP and k.lower() != "expect"}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP and (k.lower() != "content-length" or self.command == "HEAD"):
                self.send_header(k, v)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = relay


def stop(*_):
    with open(COUNTS, "w") as f:
        f.write("requests %d injected %d\n" % (STATS["requests"], STATS["injected"]))
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
server = ThreadingHTTPServer(("127.0.0.1", PORT), Proxy)
server.daemon_threads = True
server.serve_forever()
