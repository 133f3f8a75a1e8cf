#!/usr/bin/env python3
"""Verifies Cloakroom identity assertions with joserfc, independently of the Swift code that
signs them (AssertionTests).

Reads one JSON object on stdin: {"jwks": <the JWKS document>, "tokens": ["...", ...]}.
Writes one JSON object: {"thumbprints": [RFC 7638 thumbprint of each JWK, computed here],
"results": [{"header": {...}, "claims": {...}} or {"error": "..."} per token]}.
Only the signature (ES256, the key named by the token's kid) is checked here; the claims are
returned for the test to judge against its own clock and expectations."""
import json
import sys

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet


def main():
    request = json.load(sys.stdin)
    jwks = request["jwks"]
    keys = KeySet.import_key_set(jwks)
    thumbprints = [ECKey.import_key(entry).thumbprint() for entry in jwks["keys"]]
    results = []
    for token in request["tokens"]:
        try:
            decoded = jwt.decode(token, keys, algorithms=["ES256"])
            results.append({"header": decoded.header, "claims": decoded.claims})
        except (JoseError, ValueError) as error:
            results.append({"error": f"{type(error).__name__}: {error}"})
    json.dump({"thumbprints": thumbprints, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
