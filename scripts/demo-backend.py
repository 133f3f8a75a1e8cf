#!/usr/bin/env python3
"""A tiny stateless API for trying Cloakroom: /login answers with Session-Login, every other
path answers with the identity headers it received.

Usage: demo-backend.py [port] [host] [--jwks URL [--audience AUD] [--issuer ISS] [--header NAME]]
(default 9000 on 127.0.0.1; deploy/compose.yaml uses 0.0.0.0).

With --jwks (Cloakroom's /.well-known/cloakroom/jwks.json), every path but /login must carry
a valid identity assertion (identity.assertion in proxy.yaml): an ES256 JWT signed by a key of
that set, with iss ISS (default cloakroom), aud AUD (default api) and exp in the future. It is
verified with joserfc (pip install joserfc); the answer shows its claims instead of the token.
A request without one, or with a forged one, gets 401: the backend no longer trusts headers
just because they arrived."""
import argparse
import base64
import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Assertions:
    """The proxy's published keys, fetched on first use and again (at most every 5 s) when a
    token names a kid the set does not hold: a rotated-in key is picked up without a restart."""

    def __init__(self, url, audience, issuer):
        from joserfc import jwt
        from joserfc.jwk import KeySet

        self.jwt, self.KeySet = jwt, KeySet
        self.url, self.audience, self.issuer = url, audience, issuer
        self.keys, self.fetched = None, 0.0
        self.lock = threading.Lock()

    def _key_set(self, kid):
        with self.lock:
            known = self.keys is not None and any(k.kid == kid for k in self.keys.keys)
            if not known and time.monotonic() - self.fetched > 5:
                with urllib.request.urlopen(self.url, timeout=5) as answer:
                    self.keys = self.KeySet.import_key_set(json.load(answer))
                self.fetched = time.monotonic()
            return self.keys

    @staticmethod
    def _kid(token):
        """The kid in the token's header, read before verifying only to pick the key set."""
        try:
            part = token.split(".", 1)[0]
            return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))).get("kid")
        except (ValueError, AttributeError):
            return None

    def verify(self, token):
        """The token's claims, or raises with the reason it is refused."""
        if not token:
            raise ValueError("no assertion")
        keys = self._key_set(self._kid(token))
        if keys is None:
            raise ValueError("keys unavailable")
        decoded = self.jwt.decode(token, keys, algorithms=["ES256"])
        claims = self.jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.audience},
            exp={"essential": True},
            sub={"essential": True},
        )
        claims.validate(decoded.claims)
        return decoded.claims


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    assertions = None
    header = "X-Cloakroom-Assertion"

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
        if self.assertions is None:
            return self._answer(200, {"path": self.path, "headers": seen})
        tokens = self.headers.get_all(self.header) or []
        try:
            if len(tokens) > 1:
                raise ValueError("more than one assertion")
            claims = self.assertions.verify(tokens[0] if tokens else None)
        except Exception as error:  # joserfc's errors and ours: all mean "not from the proxy"
            return self._answer(401, {"error": f"invalid assertion: {error}"})
        seen = {k: v for k, v in seen.items() if k.lower() != self.header.lower()}
        self._answer(200, {"path": self.path, "assertion": claims, "headers": seen})

    do_POST = do_GET

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A tiny stateless API for trying Cloakroom.")
    parser.add_argument("port", nargs="?", type=int, default=9000)
    parser.add_argument("host", nargs="?", default="127.0.0.1")
    parser.add_argument("--jwks", help="verify identity assertions against this JWKS URL")
    parser.add_argument("--audience", default="api", help="the aud assertions must carry (default api)")
    parser.add_argument("--issuer", default="cloakroom", help="the iss assertions must carry (default cloakroom)")
    parser.add_argument("--header", default="X-Cloakroom-Assertion", help="the field carrying the assertion")
    options = parser.parse_args()
    if options.jwks:
        Handler.assertions = Assertions(options.jwks, options.audience, options.issuer)
        Handler.header = options.header
    ThreadingHTTPServer((options.host, options.port), Handler).serve_forever()
