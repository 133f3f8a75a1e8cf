#!/usr/bin/env python3
"""A fixed OpenID Connect provider for benchmarks: discovery and a JWKS, nothing else.

Makes an RSA key, serves /.well-known/openid-configuration and /jwks on 127.0.0.1:PORT, and
writes one RS256 access token (RFC 9068 shape: iss, sub, aud, exp in an hour, iat, jti) to
TOKEN_FILE, for `credentials: [bearer]` routes with `bearer_audience: AUDIENCE`. Benchmarks
only: the real provider the tests use is Tests/Fixtures/idp/idp.py (idpyoidc).

Usage: bench/static-idp.py PORT AUDIENCE TOKEN_FILE
"""
import base64, json, sys, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

port, audience, token_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
issuer = f"http://127.0.0.1:{port}"
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
numbers = key.public_key().public_numbers()

def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

def integer(value: int) -> str:
    return b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))

jwks = {"keys": [{"kty": "RSA", "kid": "bench", "use": "sig", "alg": "RS256", "n": integer(numbers.n), "e": integer(numbers.e)}]}
now = int(time.time())
header = b64(json.dumps({"alg": "RS256", "kid": "bench", "typ": "at+jwt"}).encode())
claims = b64(json.dumps({"iss": issuer, "sub": "bench-service", "aud": [audience], "exp": now + 3600, "iat": now,
                         "jti": str(uuid.uuid4()), "client_id": "bench"}).encode())
signature = key.sign(f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
with open(token_file, "w") as out:
    out.write(f"{header}.{claims}.{b64(signature)}\n")

discovery = {
    "issuer": issuer, "authorization_endpoint": issuer + "/authorize", "token_endpoint": issuer + "/token",
    "jwks_uri": issuer + "/jwks", "response_types_supported": ["code"], "subject_types_supported": ["public"],
    "id_token_signing_alg_values_supported": ["RS256"],
}

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = {"/.well-known/openid-configuration": discovery, "/jwks": jwks}.get(self.path)
        data = json.dumps(body).encode() if body is not None else b"{}"
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
