#!/usr/bin/env python3
"""oldsensor.py - a sensor that predates /api/v1/metrics?hist=1: passes
every request on to a real sensor but refuses the parameter "hist" as an
older sensor does (400, {"error":"unknown parameter","param":"hist"}).

usage: oldsensor.py PORT SENSOR_URL   (serves 127.0.0.1:PORT until killed)
"""

import http.server
import sys
import urllib.error
import urllib.parse
import urllib.request


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if "hist" in q:
            self.answer(400, b'{"error":"unknown parameter","param":"hist"}')
            return
        req = urllib.request.Request(self.server.target + self.path)
        if self.headers.get("Authorization"):
            req.add_header("Authorization", self.headers["Authorization"])
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                self.answer(r.status, r.read())
        except urllib.error.HTTPError as e:
            self.answer(e.code, e.read())

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    srv.target = sys.argv[2]
    srv.serve_forever()


if __name__ == "__main__":
    main()
