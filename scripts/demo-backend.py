#!/usr/bin/env python3
"""A tiny stateless API for trying Cloakroom: /login answers with Session-Login, every other
path answers with the identity headers it received.
Usage: demo-backend.py [port] [host] (default 9000 on 127.0.0.1; deploy/compose.yaml uses 0.0.0.0)."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, status, body, extra=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.startswith("/login"):
            user = "alice"
            if "?user=" in self.path:
                user = self.path.split("?user=", 1)[1]
            login = {"sub": user, "email": f"{user}@example.com", "roles": ["reader", "writer"]}
            return self._answer(200, {"logged_in": user}, [("Session-Login", json.dumps(login))])
        seen = {k: v for k, v in self.headers.items() if k.lower().startswith("x-")}
        self._answer(200, {"path": self.path, "headers": seen})

    do_POST = do_GET

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    ThreadingHTTPServer((host, port), Handler).serve_forever()
