#!/usr/bin/env python3
"""token-server.py — a minimal Docker registry token server (the "realm" of a Bearer challenge)
for registry.bats: checks HTTP Basic credentials and answers {"token": JWT, "expires_in": 300}
with an RS256 JWT the distribution registry accepts (auth.token with rootcertbundle).

    token-server.py --port-file F --log L --key key.pem --issuer ISS --service SVC --user U:P

The JWT header carries "kid", the libtrust key id of the signing key (what the registry derives
from the certificates in rootcertbundle); the signature is made by `openssl dgst -sha256 -sign`
so nothing beyond python3 and openssl is needed. Claims: iss, sub, aud (a plain string, the
service), exp, nbf, iat, jti, access (one entry per requested repository scope, with every
requested action granted to a valid user). Every request is logged as one JSON line:
{"user", "ok", "service", "scopes"}. Binds port 0 on 127.0.0.1 and writes the port to --port-file.
"""
import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def libtrust_kid(key_path):
    """base32 of the first 240 bits of sha256(DER SubjectPublicKeyInfo), in 4-char groups."""
    der = subprocess.run(["openssl", "pkey", "-in", key_path, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    s = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(s[i:i + 4] for i in range(0, len(s), 4))


def parse_scope(scope):
    # repository:name:pull,push (name may contain ':' only in the registry:catalog form)
    parts = scope.split(":")
    if len(parts) < 3:
        return None
    typ, actions = parts[0], parts[-1]
    name = ":".join(parts[1:-1])
    return {"type": typ, "name": name, "actions": [a for a in actions.split(",") if a]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def do_GET(self):
        cfg = self.server.cfg
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        scopes = []
        for s in q.get("scope", []):
            scopes.extend(s.split(" "))  # one scope param may carry several, space separated
        service = (q.get("service") or [None])[0]
        user, ok = None, False
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                ok = (user, pw) == cfg["user"]
            except Exception:
                ok = False
        with self.server.lock:
            with open(cfg["log"], "a") as f:
                f.write(json.dumps({"path": u.path, "user": user, "ok": ok, "service": service,
                                    "scopes": scopes}) + "\n")
        if u.path != "/token":
            return self.reply(404, {"error": "not found"})
        if not ok:
            return self.reply(401, {"errors": [{"code": "UNAUTHORIZED",
                                                "message": "bad credentials"}]},
                              {"WWW-Authenticate": 'Basic realm="lana-token"'})
        now = int(time.time())
        access = [a for a in (parse_scope(s) for s in scopes) if a and a["type"] == "repository"]
        claims = {"iss": cfg["issuer"], "sub": user, "aud": service or cfg["service"],
                  "exp": now + 300, "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex,
                  "access": access}
        header = {"typ": "JWT", "alg": "RS256", "kid": cfg["kid"]}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", cfg["key"]],
                             input=signing_input.encode(), check=True,
                             capture_output=True).stdout
        token = signing_input + "." + b64url(sig)
        self.reply(200, {"token": token, "access_token": token, "expires_in": 300,
                         "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--service", required=True)
    ap.add_argument("--user", required=True, help="USER:PASSWORD")
    a = ap.parse_args()
    user, _, pw = a.user.partition(":")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.lock = threading.Lock()
    srv.cfg = {"log": a.log, "key": a.key, "issuer": a.issuer, "service": a.service,
               "user": (user, pw), "kid": libtrust_kid(a.key)}
    open(a.log, "w").close()
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
