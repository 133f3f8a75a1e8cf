#!/usr/bin/env python3
"""A tiny HTTPS API for trying Cloakroom in front of real APIs: every request is answered with
what the API saw, as JSON: its name, the path, the Host, the identity headers, and the subject of
the client certificate the caller presented (mutual TLS), if any.
Usage: demo-tls-backend.py NAME PORT CERT KEY [CLIENT_CA]
  CERT, KEY: the server certificate (PEM chain) and key. With CLIENT_CA, a client certificate
  signed by that CA is required: a handshake without one is refused."""
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        certificate = self.connection.getpeercert()
        subject = None
        if certificate:
            subject = dict(pair[0] for pair in certificate["subject"]).get("commonName")
        body = json.dumps({
            "api": self.server.name,
            "path": self.path,
            "host": self.headers.get("Host"),
            "client_certificate": subject,
            "user": self.headers.get("X-User-Id"),
            "roles": self.headers.get("X-User-Roles"),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    name, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if len(sys.argv) == 6:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(sys.argv[5])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.name = name
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()
