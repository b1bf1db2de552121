#!/usr/bin/env python3
"""Notification listener used by capture.sh to record real docker-registry envelopes.

Listens on 127.0.0.1 (port 0 = any free port, written to PORTFILE), answers every POST with 200
and saves it as OUTDIR/<step>/<endpoint>/<NNN>.body (the raw body) and <NNN>.headers.json (all request
headers plus the method and path). The current step name is read from OUTDIR/.step at each
request, so capture.sh can attribute envelopes to the action that caused them; <endpoint> is
the first component of the request path (capture.sh configures three endpoints: "all",
"filtered" with ignoredmediatypes: [application/octet-stream], and "quiet" that also ignores
the pull and mount actions).

Usage: listener.py OUTDIR PORTFILE
"""
import http.server
import json
import os
import sys
import threading

OUTDIR, PORTFILE = sys.argv[1], sys.argv[2]
LOCK = threading.Lock()
COUNTER = [0]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server naming)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        try:
            with open(os.path.join(OUTDIR, ".step"), encoding="utf-8") as f:
                step = f.read().strip() or "unsorted"
        except OSError:
            step = "unsorted"
        with LOCK:
            COUNTER[0] += 1
            n = COUNTER[0]
        endpoint = self.path.strip("/").split("/")[0] or "root"
        d = os.path.join(OUTDIR, step, endpoint)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "%03d.body" % n), "wb") as f:
            f.write(body)
        meta = {"method": self.command, "path": self.path,
                "headers": {k: v for k, v in self.headers.items()}}
        with open(os.path.join(d, "%03d.headers.json" % n), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2, sort_keys=True)
            f.write("\n")
        reply = b'{"accepted":0,"queued":0}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, fmt, *args):  # quiet
        pass


def main():
    os.makedirs(OUTDIR, exist_ok=True)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = PORTFILE + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, PORTFILE)
    srv.serve_forever()


if __name__ == "__main__":
    main()
