#!/usr/bin/env python3
"""fault-proxy.py — an HTTP proxy in front of a registry that breaks blob and manifest replies on
purpose, so registry.bats can watch lana-img retry, resume, verify and refuse. Also an "origin"
server (the target of redirects) that serves blob files from a directory and logs every request's
headers.

    fault-proxy.py proxy  --port-file F --log L [--host 127.0.0.1]
    fault-proxy.py origin --port-file F --log L [--host 127.0.0.2]

Both bind port 0 on --host (loopback only) and write the port they got to --port-file. Every
request is logged as one JSON line: {"method", "path", "headers", "action", ...}.

The proxy is steered per test by `POST /__control` with a JSON body, which also resets the
per-mode state and empties the log:
    {"mode": MODE, "upstream": "http://127.0.0.1:PORT", "digest": "sha256:..." (optional filter),
     "redirect": "http://127.0.0.2:PORT" (for mode redirect), "stall": SECONDS (mode stall)}
Modes (faults apply to GET /v2/<name>/blobs/<digest>, or manifests for bigmanifest):
    pass         forward everything
    blob500      the first blob GET gets HTTP 500, later ones pass
    upload500    the first blob upload PUT gets HTTP 500, later ones pass
    truncate     the first blob GET (per digest) sends half of Content-Length, then closes
    truncate-always  every blob GET (Range requests too) is cut after half of its body
    corrupt      every blob GET has one byte flipped in the middle
    stall        the first blob GET sends headers, then nothing for "stall" seconds
    stall-always every blob GET does that
    bigmanifest  every manifest GET is answered with a 50 MiB body
    redirect     blob GETs the upstream answers with 200 become 307 to <redirect>/blobs/<digest>
The origin takes `POST /__control {"dir": DIR}` and serves GET /blobs/<digest> from DIR/<hex>.
"""
import argparse
import http.client
import json
import os
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BLOB_RE = re.compile(r"^/v2/.+/blobs/(sha256:[0-9a-f]{64})$")
MANIFEST_RE = re.compile(r"^/v2/.+/manifests/[^/]+$")
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-connection"}
BIG = 50 << 20


class State:
    def __init__(self, log):
        self.lock = threading.Lock()
        self.log_path = log
        self.mode = "pass"
        self.upstream = None
        self.digest = None
        self.redirect = None
        self.stall = 20.0
        self.dir = None
        self.done = set()  # digests (or "*") a one-shot fault has already hit

    def reset(self, cfg):
        with self.lock:
            self.mode = cfg.get("mode", self.mode)
            self.upstream = cfg.get("upstream", self.upstream)
            self.digest = cfg.get("digest")
            self.redirect = cfg.get("redirect")
            self.stall = float(cfg.get("stall", 20))
            self.dir = cfg.get("dir", self.dir)
            self.done = set()
            open(self.log_path, "w").close()

    def once(self, key):
        """True the first time key is seen since the last reset."""
        with self.lock:
            if key in self.done:
                return False
            self.done.add(key)
            return True

    def log(self, rec):
        line = json.dumps(rec, sort_keys=True) + "\n"
        with self.lock:
            with open(self.log_path, "a") as f:
                f.write(line)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fault-proxy"

    def log_message(self, fmt, *args):  # quiet: we keep our own log
        pass

    @property
    def st(self):
        return self.server.state

    def record(self, action, **extra):
        rec = {"method": self.command, "path": self.path, "action": action,
               "headers": {k: v for k, v in self.headers.items()}}
        rec.update(extra)
        self.st.log(rec)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def control(self):
        cfg = json.loads(self.read_body() or b"{}")
        self.st.reset(cfg)
        self.reply(200, b"ok\n")

    def do_any(self):
        if self.path == "/__control" and self.command == "POST":
            return self.control()
        if self.server.role == "origin":
            return self.origin()
        return self.proxy()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_any

    # ---- origin ----

    def origin(self):
        path = urllib.parse.urlsplit(self.path).path
        m = re.match(r"^/blobs/sha256:([0-9a-f]{64})$", path)
        f = os.path.join(self.st.dir or "/nonexistent", m.group(1)) if m else None
        if not f or not os.path.isfile(f):
            self.record("404")
            return self.reply(404, b"not found\n")
        with open(f, "rb") as fh:
            data = fh.read()
        self.record("served", bytes=len(data))
        self.reply(200, data, {"Content-Type": "application/octet-stream"})

    # ---- proxy ----

    def upstream(self, body):
        u = urllib.parse.urlsplit(self.st.upstream)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        hdrs["Connection"] = "close"
        if body or self.command in ("PUT", "POST", "PATCH"):
            hdrs["Content-Length"] = str(len(body))
        conn.request(self.command, self.path, body=body or None, headers=hdrs)
        return conn, conn.getresponse()

    def send_head(self, resp, length=None, status=None, drop=()):
        self.send_response(status or resp.status)
        for k, v in resp.getheaders():
            if k.lower() in HOP or k.lower() == "content-length" or k.lower() in drop:
                continue
            self.send_header(k, v)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def proxy(self):
        st = self.st
        body = self.read_body()
        path = urllib.parse.urlsplit(self.path).path
        m = BLOB_RE.match(path) if self.command == "GET" else None
        digest = m.group(1) if m else None
        target = digest and (st.digest is None or st.digest == digest)
        mode = st.mode

        if self.command == "GET" and mode == "bigmanifest" and MANIFEST_RE.match(path):
            return self.big_manifest()
        if (mode == "upload500" and self.command == "PUT" and "/blobs/uploads/" in path
                and st.once("*")):
            self.record("500")
            return self.reply(500, b'{"errors":[{"code":"UNKNOWN","message":"injected"}]}',
                              {"Content-Type": "application/json"})
        if target and mode == "blob500" and st.once("*"):
            self.record("500", digest=digest)
            return self.reply(500, b'{"errors":[{"code":"UNKNOWN","message":"injected"}]}',
                              {"Content-Type": "application/json"})

        conn, resp = self.upstream(body)
        try:
            data_len = resp.getheader("Content-Length")
            if target and resp.status == 200 and mode == "redirect":
                loc = "%s/blobs/%s?sig=lana-test" % (st.redirect, digest)
                self.record("307", digest=digest, location=loc)
                return self.reply(307, b"", {"Location": loc})
            if target and mode == "truncate-always" and resp.status in (200, 206) and data_len:
                n = int(data_len)
                half = n // 2
                self.send_head(resp, length=n)
                self.wfile.write(resp.read(half))
                self.wfile.flush()
                self.record("truncated", digest=digest, sent=half, length=n,
                            range=self.headers.get("Range"))
                return self.hard_close()
            if target and resp.status == 200 and data_len is not None:
                n = int(data_len)
                if mode == "truncate" and n >= 2 and st.once(digest):
                    half = n // 2
                    self.send_head(resp, length=n)
                    self.wfile.write(resp.read(half))
                    self.wfile.flush()
                    self.record("truncated", digest=digest, sent=half, length=n)
                    return self.hard_close()
                if mode == "corrupt" and n >= 1:
                    data = bytearray(resp.read())
                    data[len(data) // 2] ^= 0x01
                    self.record("corrupted", digest=digest, length=n)
                    self.send_head(resp, length=len(data))
                    self.wfile.write(bytes(data))
                    return
                if mode == "stall-always" or (mode == "stall" and st.once(digest)):
                    self.record("stalled", digest=digest, length=n)
                    self.send_head(resp, length=n)
                    self.wfile.flush()
                    time.sleep(st.stall)
                    return self.hard_close()
            # pass through, streaming
            self.record("pass", status=resp.status, range=self.headers.get("Range"))
            data = None
            if data_len is None:
                data = resp.read()
            self.send_head(resp, length=len(data) if data is not None else int(data_len))
            if self.command == "HEAD":
                return
            if data is not None:
                self.wfile.write(data)
                return
            while True:
                chunk = resp.read(1 << 16)
                if not chunk:
                    break
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            conn.close()

    def hard_close(self):
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(2)
        except OSError:
            pass

    def big_manifest(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        self.send_header("Content-Length", str(BIG))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        sent = 0
        try:
            self.wfile.write(b'{"schemaVersion":2,"x":"')
            sent = 24
            chunk = b"a" * (1 << 16)
            while sent + len(chunk) <= BIG - 2:
                self.wfile.write(chunk)
                sent += len(chunk)
            self.wfile.write(b"a" * (BIG - 2 - sent) + b'"}')
            sent = BIG
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.record("bigmanifest", sent=sent, length=BIG)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["proxy", "origin"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    srv = ThreadingHTTPServer((a.host, 0), Handler)
    srv.daemon_threads = True
    srv.role = a.role
    srv.state = State(a.log)
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
