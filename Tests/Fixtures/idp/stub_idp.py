#!/usr/bin/env python3
"""A deliberately broken OpenID Connect provider, for the refusal paths only (the main flow is
tested against the real provider in idp.py). It signs in anyone at once and answers the token
request with an ID token spoiled as `--mode` says:

  good           a correct RS256 token (the control case)
  bad-signature  the signature of another key
  wrong-aud      aud is another client
  wrong-nonce    nonce is not the one the login sent
  alg-none       alg none, no signature
  hs256          HS256 keyed with the provider's public key (the classic forgery)
  expired        exp in the past
  future-iat     iat ten minutes ahead
  wrong-iss      iss is another issuer
  error          the callback carries error=access_denied
  error-forged   the callback's error carries CR LF and a fake log line after it
  control-sub    sub holds a line feed (no header could carry it)
  es256, ps256, eddsa   correct tokens with these algorithms (accepted)

Prints `issuer=http://127.0.0.1:PORT` once it listens.
"""
import argparse
import base64
import hashlib
import hmac
import json
import signal
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
NUMBERS = KEY.public_key().public_numbers()
JWK = {"kty": "RSA", "kid": "stub-1", "use": "sig", "alg": "RS256",
       "n": b64(NUMBERS.n.to_bytes((NUMBERS.n.bit_length() + 7) // 8, "big")),
       "e": b64(NUMBERS.e.to_bytes(3, "big"))}
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()


def rsa_jwk(key, kid, alg):
    numbers = key.public_key().public_numbers()
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": alg,
            "n": b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")), "e": b64(numbers.e.to_bytes(3, "big"))}


EC_NUMBERS = EC_KEY.public_key().public_numbers()
EC_JWK = {"kty": "EC", "kid": "stub-ec", "use": "sig", "crv": "P-256",
          "x": b64(EC_NUMBERS.x.to_bytes(32, "big")), "y": b64(EC_NUMBERS.y.to_bytes(32, "big"))}
ED_JWK = {"kty": "OKP", "kid": "stub-ed", "use": "sig", "crv": "Ed25519",
          "x": b64(ED_KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))}
PS_JWK = rsa_jwk(KEY, "stub-ps", "PS256")
PUBLIC_PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
CODES = {}


def sign(header, claims, mode):
    signing_input = (b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())).encode()
    if mode == "alg-none":
        return signing_input.decode() + "."
    if mode == "hs256":
        return signing_input.decode() + "." + b64(hmac.new(PUBLIC_PEM, signing_input, hashlib.sha256).digest())
    if mode == "es256":
        r, s_ = decode_dss_signature(EC_KEY.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return signing_input.decode() + "." + b64(r.to_bytes(32, "big") + s_.to_bytes(32, "big"))
    if mode == "eddsa":
        return signing_input.decode() + "." + b64(ED_KEY.sign(signing_input))
    if mode == "ps256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        return signing_input.decode() + "." + b64(KEY.sign(signing_input, pss, hashes.SHA256()))
    key = OTHER if mode == "bad-signature" else KEY
    return signing_input.decode() + "." + b64(key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256()))


def id_token(issuer, client_id, nonce, mode):
    now = int(time.time())
    claims = {"iss": issuer, "sub": "mallory", "aud": client_id, "iat": now, "exp": now + 300, "nonce": nonce,
              "email": "mallory@example.com", "name": "Mallory"}
    if mode == "wrong-aud":
        claims["aud"] = "another-client"
    if mode == "wrong-nonce":
        claims["nonce"] = "not-the-nonce"
    if mode == "expired":
        claims["iat"], claims["exp"] = now - 600, now - 300
    if mode == "future-iat":
        claims["iat"] = now + 600
    if mode == "wrong-iss":
        claims["iss"] = "https://elsewhere.example"
    if mode == "control-sub":
        claims["sub"] = "mal\nlory"
    alg = {"alg-none": "none", "hs256": "HS256", "es256": "ES256", "eddsa": "EdDSA", "ps256": "PS256"}.get(mode, "RS256")
    kid = {"es256": "stub-ec", "eddsa": "stub-ed", "ps256": "stub-ps"}.get(mode, "stub-1")
    header = {"alg": alg, "kid": kid, "typ": "JWT"}
    return sign(header, claims, mode)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        sys.stderr.write("stub-idp " + (args[0] % args[1:]) + "\n")

    def send(self, status, body, headers=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        issuer = self.server.issuer
        if url.path == "/.well-known/openid-configuration":
            doc = {"issuer": issuer, "authorization_endpoint": issuer + "/authorize", "token_endpoint": issuer + "/token",
                   "jwks_uri": issuer + "/jwks", "response_types_supported": ["code"],
                   "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"]}
            return self.send(200, json.dumps(doc), [("Content-Type", "application/json")])
        if url.path == "/jwks":
            keys = [JWK, EC_JWK, ED_JWK, PS_JWK]
            return self.send(200, json.dumps({"keys": keys}), [("Content-Type", "application/json")])
        if url.path == "/authorize":
            query = dict(urllib.parse.parse_qsl(url.query))
            if self.server.mode in ("error", "error-forged"):
                error = "access_denied"
                if self.server.mode == "error-forged":
                    error += "\r\n2026-12-07T07:15:09+0000 notice cloakroom: sub=root FORGED"
                target = query["redirect_uri"] + "?" + urllib.parse.urlencode({"error": error, "state": query["state"]})
                return self.send(302, "", [("Location", target)])
            code = b64(hashlib.sha256(query["state"].encode()).digest())
            CODES[code] = (query["client_id"], query["nonce"])
            target = query["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": query["state"]})
            return self.send(302, "", [("Location", target)])
        self.send(404, "not found")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        if self.path == "/token" and form.get("code") in CODES:
            client_id, nonce = CODES.pop(form["code"])
            body = {"access_token": "stub-access", "token_type": "Bearer", "expires_in": 300,
                    "id_token": id_token(self.server.issuer, client_id, nonce, self.server.mode)}
            return self.send(200, json.dumps(body), [("Content-Type", "application/json")])
        self.send(400, json.dumps({"error": "invalid_grant"}), [("Content-Type", "application/json")])


def main():
    # A parent that ignores SIGTERM (a server under test does, for its graceful shutdown) passes
    # that on: take the default back so terminating this process works.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="good")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.mode = args.mode
    server.issuer = "http://127.0.0.1:%d" % server.server_port
    print("issuer=" + server.issuer, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
