#!/usr/bin/env python3
"""A real OpenID Connect provider on loopback, for Cloakroom's tests and README walkthrough.

The protocol is IdentityPython's idpyoidc server (PyPI `idpyoidc`): discovery, JWKS, the
authorization code flow with PKCE, refresh tokens, userinfo, RP-initiated logout
(end_session_endpoint) and back-channel logout (it POSTs logout tokens itself). This file only
hosts its endpoints in a WSGI app, the way idpyoidc's own example/flask_op does, with one
statically registered client and a few users.

Usage: idp.py --port 0 --client-id cloakroom --client-secret S --redirect-uri URL
              [--backchannel-uri URL] [--post-logout-uri URL] [--access-lifetime 3600]
              [--refresh-lifetime 86400] [--access-token-audience AUD]
Prints `issuer=http://127.0.0.1:PORT` on stdout once it listens.
Users: diana / krall, babs / howes (see USERS below).
"""
import argparse
import json
import signal
import logging
import os
import sys
import tempfile
import traceback
from urllib.parse import urlparse

from flask import Flask, make_response, redirect, render_template, request
from werkzeug.serving import make_server

from idpyoidc.message.oauth2 import ResponseMessage
from idpyoidc.message.oidc import AccessTokenRequest, AuthorizationRequest
from idpyoidc.server import Server
from idpyoidc.server.configure import OPConfiguration
from idpyoidc.server.exception import FailedAuthentication
from idpyoidc.server.oidc.session import Session as EndSession
from idpyoidc.server.oidc.token import Token
from idpyoidc.server.token.jwt_token import JWTToken

# idpyoidc 5.0.0's end-session endpoint expects a bearer token from whatever client
# authentication matched, and a browser's logout request has none (RP-Initiated Logout asks
# for no client authentication; the id_token_hint or the provider's cookie names the session).
EndSession.client_authentication = lambda self, request, http_info=None, **kwargs: {}

HERE = os.path.dirname(os.path.realpath(__file__))

PASSWORDS = {"diana": "krall", "babs": "howes"}
USERS = {
    "diana": {"sub": "diana", "name": "Diana Krall", "email": "diana@example.org", "email_verified": True,
              "groups": ["admin", "music"]},
    "babs": {"sub": "babs", "name": "Barbara Jensen", "email": "babs@example.com", "email_verified": True,
             "groups": ["staff"]},
}


def plain_subject(uid, *args, **kwargs):
    """`sub` is the username (idpyoidc hashes it by default), so walkthroughs read well."""
    return uid


def op_configuration(issuer, workdir, args):
    return {
        "issuer": issuer,
        "httpc_params": {"verify": False, "timeout": 5},
        "keys": {
            "private_path": os.path.join(workdir, "jwks.json"),
            "key_defs": [{"type": "RSA", "use": ["sig"]}, {"type": "EC", "crv": "P-256", "use": ["sig"]}],
            "read_only": False,
            "uri_path": "jwks",
        },
        "add_on": {
            "pkce": {
                "function": "idpyoidc.server.oauth2.add_on.pkce.add_support",
                "kwargs": {"essential": True, "code_challenge_method": "S256"},
            }
        },
        "authz": {
            "class": "idpyoidc.server.authz.AuthzHandling",
            "kwargs": {
                "grant_config": {
                    "usage_rules": {
                        "authorization_code": {"supports_minting": ["access_token", "refresh_token", "id_token"], "max_usage": 1},
                        "access_token": {},
                        "refresh_token": {"supports_minting": ["access_token", "refresh_token", "id_token"]},
                    },
                    "expires_in": 43200,
                }
            },
        },
        "authentication": {
            "user": {
                "acr": "urn:oasis:names:tc:SAML:2.0:ac:classes:InternetProtocolPassword",
                "class": "idpyoidc.server.user_authn.user.UserPassJinja2",
                "kwargs": {
                    "verify_endpoint": "verify/user",
                    "template": "user_pass.jinja2",
                    "db": {"class": "idpyoidc.server.util.JSONDictDB",
                           "kwargs": {"filename": os.path.join(workdir, "passwd.json")}},
                    "page_header": "Test identity provider",
                    "submit_btn": "Sign in",
                    "user_label": "Username",
                    "passwd_label": "Password",
                },
            }
        },
        "preference": {
            "subject_types_supported": ["public"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        },
        "claims_interface": {"class": "idpyoidc.server.session.claims.ClaimsInterface", "kwargs": {}},
        "cookie_handler": {
            "class": "idpyoidc.server.cookie_handler.CookieHandler",
            "kwargs": {
                "keys": {
                    "private_path": os.path.join(workdir, "cookie_jwks.json"),
                    "key_defs": [{"type": "OCT", "use": ["enc"], "kid": "enc"}, {"type": "OCT", "use": ["sig"], "kid": "sig"}],
                    "read_only": False,
                },
                "name": {"session": "oidc_op", "register": "oidc_op_rp", "session_management": "sman"},
            },
        },
        "endpoint": {
            "provider_info": {"path": ".well-known/openid-configuration",
                              "class": "idpyoidc.server.oidc.provider_config.ProviderConfiguration",
                              "kwargs": {"client_authn_method": None}},
            "authorization": {"path": "authorization", "class": "idpyoidc.server.oidc.authorization.Authorization",
                              "kwargs": {"client_authn_method": None, "response_types_supported": ["code"],
                                         "response_modes_supported": ["query"]}},
            "token": {"path": "token", "class": "idpyoidc.server.oidc.token.Token",
                      "kwargs": {"client_authn_method": ["client_secret_basic", "client_secret_post"]}},
            "userinfo": {"path": "userinfo", "class": "idpyoidc.server.oidc.userinfo.UserInfo", "kwargs": {}},
            "end_session": {"path": "session", "class": "idpyoidc.server.oidc.session.Session",
                            "kwargs": {"logout_verify_url": "verify_logout", "post_logout_uri_path": "post_logout",
                                       "signing_alg": "ES256", "backchannel_logout_supported": True,
                                       "backchannel_logout_session_supported": True}},
        },
        "template_dir": os.path.join(HERE, "templates"),
        "token_handler_args": {
            "jwks_def": {
                "private_path": os.path.join(workdir, "token_jwks.json"),
                "key_defs": [{"type": "OCT", "kid": "code", "use": ["enc"]},
                             {"type": "OCT", "kid": "token", "use": ["enc"]},
                             {"type": "OCT", "kid": "refresh", "use": ["enc"]}],
                "read_only": False,
            },
            "code": {"kwargs": {"lifetime": 600}},
            "token": access_token_handler(args),
            "refresh": {"kwargs": {"lifetime": args.refresh_lifetime}},
            "id_token": {"class": "idpyoidc.server.token.id_token.IDToken", "kwargs": {}},
        },
        "userinfo": {"class": "idpyoidc.server.user_info.UserInfo",
                     "kwargs": {"db_file": os.path.join(workdir, "users.json")}},
        "session_params": {"sub_func": {"public": {"function": plain_subject}}, "encrypter": {"kwargs": {"keys": {"key_defs": [
            {"type": "OCT", "use": ["enc"], "kid": "password"},
            {"type": "OCT", "use": ["enc"], "kid": "salt"}]}, "iterations": 1}}},
    }


class AudienceJWTToken(JWTToken):
    """A JWT access token whose `aud` also names the configured API audience (idpyoidc 5 puts
    only the grant's resources there, i.e. the client id), as Keycloak's audience mapper or
    Auth0's API identifier do."""

    def load_custom_claims(self, payload=None):
        payload["aud"] = list(dict.fromkeys(list(payload.get("aud") or []) + list(self.def_aud)))
        return payload


def access_token_handler(args):
    """Opaque access tokens, or with --access-token-audience signed JWT access tokens (RFC 9068)
    naming that audience too."""
    if not args.access_token_audience:
        return {"kwargs": {"lifetime": args.access_lifetime}}
    return {"class": __name__ + ".AudienceJWTToken",
            "kwargs": {"lifetime": args.access_lifetime, "aud": [args.access_token_audience], "alg": "RS256"}}


def build_app(server, log):
    app = Flask("idp", template_folder=os.path.join(HERE, "templates"))

    def do_response(endpoint, req_args, error="", **args):
        info = endpoint.do_response(request=req_args, error=error, **args)
        placement = info.get("response_placement", endpoint.response_placement)
        if placement == "body":
            resp = make_response(info["response"], info.get("response_code", 400 if error else 200))
        else:
            resp = redirect(info["response"])
        for key, value in info["http_headers"]:
            resp.headers[key] = value
        cookies = info.get("cookie", [])
        for spec in (cookies if isinstance(cookies, list) else [cookies]):
            kwargs = {k: v for k, v in spec.items() if k != "name"}
            kwargs["path"] = "/"
            kwargs["samesite"] = "Lax"
            resp.set_cookie(spec["name"], **kwargs)
        return resp

    def service(endpoint):
        http_info = {
            "headers": {k: v for k, v in request.headers.items(lower=True) if k not in ("cookie", "user-agent")},
            "method": request.method,
            "url": request.url,
            "cookie": [{"name": k, "value": v} for k, v in request.cookies.items()],
        }
        try:
            if request.method == "GET":
                req_args = endpoint.parse_request(request.args.to_dict(), http_info=http_info)
            else:
                body = request.get_data(as_text=True)
                form = request.form.to_dict()
                req_args = endpoint.parse_request(form if form else body, http_info=http_info)
        except Exception as err:
            log.info("parse_request failed at %s: %s", endpoint.name, err)
            return make_response(json.dumps({"error": "invalid_request", "error_description": str(err)}), 400,
                                 {"Content-Type": "application/json"})
        if isinstance(req_args, ResponseMessage) and "error" in req_args:
            return make_response(req_args.to_json(), 400, {"Content-Type": "application/json"})
        try:
            if isinstance(endpoint, Token):
                args = endpoint.process_request(AccessTokenRequest(**req_args), http_info=http_info)
            else:
                args = endpoint.process_request(req_args, http_info=http_info)
        except Exception as err:
            log.info("process_request failed at %s: %s", endpoint.name, traceback.format_exc())
            return make_response(json.dumps({"error": "invalid_request", "error_description": str(err)}), 400,
                                 {"Content-Type": "application/json"})
        if "redirect_location" in args:
            return redirect(args["redirect_location"])
        if "http_response" in args:
            return make_response(args["http_response"], 200)
        if isinstance(args, ResponseMessage) and "error" in args:
            return make_response(args.to_json(), 400, {"Content-Type": "application/json"})
        if "response_args" in args and isinstance(args["response_args"], ResponseMessage) \
                and "error" in args["response_args"]:
            status = 400
            return make_response(args["response_args"].to_json(), status, {"Content-Type": "application/json"})
        return do_response(endpoint, req_args, **args)

    @app.after_request
    def plain_http_cookies(response):
        # The provider runs over plain http on loopback: its cookies cannot be Secure there.
        cookies = response.headers.getlist("Set-Cookie")
        if cookies:
            del response.headers["Set-Cookie"]
            for cookie in cookies:
                response.headers.add("Set-Cookie", cookie.replace("; Secure", ""))
        return response

    @app.route("/.well-known/openid-configuration")
    def well_known():
        return service(server.get_endpoint("provider_config"))

    @app.route("/jwks")
    def jwks():
        return make_response(server.context.keyjar.export_jwks(), 200, {"Content-Type": "application/json"})

    @app.route("/authorization")
    def authorization():
        return service(server.get_endpoint("authorization"))

    @app.route("/token", methods=["POST"])
    def token():
        return service(server.get_endpoint("token"))

    @app.route("/userinfo", methods=["GET", "POST"])
    def userinfo():
        return service(server.get_endpoint("userinfo"))

    @app.route("/session", methods=["GET"])
    def end_session():
        return service(server.get_endpoint("session"))

    @app.route("/verify/user", methods=["POST"])
    def verify_user():
        authn = server.context.authn_broker.get_method_by_id("user")
        form = request.form.to_dict()
        try:
            username = authn.verify(**form)
        except FailedAuthentication as err:
            return make_response(render_template("error.html", title=str(err)), 403)
        if not username:
            return make_response("Authentication failed", 403)
        auth_args = authn.unpack_token(form["token"])
        authz_request = AuthorizationRequest().from_urlencoded(auth_args["query"])
        endpoint = server.get_endpoint("authorization")
        session_id = endpoint.create_session(authz_request, username, auth_args["authn_class_ref"],
                                             auth_args["iat"], authn)
        args = endpoint.authz_part2(request=authz_request, session_id=session_id)
        if isinstance(args, ResponseMessage) and "error" in args:
            return make_response(args.to_json(), 400)
        return do_response(endpoint, request, **args)

    @app.route("/verify_logout", methods=["GET"])
    def verify_logout():
        part = urlparse(server.context.issuer)
        return render_template("logout.html", op=part.netloc, do_logout="rp_logout", sjwt=request.args["sjwt"])

    @app.route("/rp_logout", methods=["POST"])
    def rp_logout():
        endpoint = server.get_endpoint("session")
        info = endpoint.unpack_signed_jwt(request.form["sjwt"])
        # "logout": every client of the provider session (their back-channel URIs are called).
        endpoint.do_verified_logout(alla="logout" in request.form, **info)
        resp = redirect(info["redirect_uri"])
        for cookie in endpoint.kill_cookies():
            kwargs = {k: v for k, v in cookie.items() if k != "name"}
            kwargs["path"] = "/"
            resp.set_cookie(cookie["name"], **kwargs)
        return resp

    @app.route("/admin/revoke", methods=["POST"])
    def revoke_user():
        """What an administrator of the provider does: revoke every grant (and so every refresh
        token) of a user, without a logout the relying parties would hear of."""
        manager = server.context.session_manager
        user = manager.get_user_info(request.form["user"])
        revoked = 0
        for client_key in user.subordinate:
            client = manager.get(manager.unpack_branch_key(client_key))
            for grant_key in client.subordinate:
                manager.revoke_grant(manager.encrypted_session_id(*manager.unpack_branch_key(grant_key)))
                revoked += 1
        return make_response(json.dumps({"revoked": revoked}), 200, {"Content-Type": "application/json"})

    @app.route("/post_logout", methods=["GET"])
    def post_logout():
        return render_template("post_logout.html")

    return app


def main():
    # A parent that ignores SIGTERM (a server under test does, for its graceful shutdown) passes
    # that on: take the default back so terminating this process works.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--client-id", default="cloakroom")
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--redirect-uri", action="append", required=True)
    parser.add_argument("--backchannel-uri")
    parser.add_argument("--post-logout-uri", action="append", default=[])
    parser.add_argument("--access-lifetime", type=int, default=3600)
    parser.add_argument("--refresh-lifetime", type=int, default=86400)
    parser.add_argument("--access-token-audience")
    parser.add_argument("--workdir")
    args = parser.parse_args()

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="idp %(levelname)s %(name)s %(message)s")
    log = logging.getLogger("idp")
    workdir = args.workdir or tempfile.mkdtemp(prefix="cloakroom-idp-")
    with open(os.path.join(workdir, "passwd.json"), "w") as f:
        json.dump(PASSWORDS, f)
    with open(os.path.join(workdir, "users.json"), "w") as f:
        json.dump(USERS, f)

    holder = {}

    def dispatch(environ, start_response):
        return holder["app"](environ, start_response)

    httpd = make_server("127.0.0.1", args.port, dispatch, threaded=True)
    issuer = "http://127.0.0.1:%d" % httpd.server_port
    server = Server(OPConfiguration(conf=op_configuration(issuer, workdir, args), base_path=workdir), cwd=workdir)
    client = {
        "client_id": args.client_id,
        "client_secret": args.client_secret,
        "client_salt": "salted",
        "redirect_uris": [(uri, {}) for uri in args.redirect_uri],
        "post_logout_redirect_uri": [[uri, ""] for uri in args.post_logout_uri][0] if args.post_logout_uri else None,
        "token_endpoint_auth_method": "client_secret_basic",
        "response_types_supported": ["code"],
        "allowed_scopes": ["openid", "profile", "email", "offline_access", "groups"],
        "id_token_signed_response_alg": "RS256",
    }
    if args.backchannel_uri:
        client["backchannel_logout_uri"] = args.backchannel_uri
    client = {k: v for k, v in client.items() if v is not None}
    server.context.cdb = {args.client_id: client}
    holder["app"] = build_app(server, log)
    print("issuer=" + issuer, flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
