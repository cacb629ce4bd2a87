#!/usr/bin/env python3
"""Scrape exposition-format test pages with a real Prometheus and print what it made of them.

Usage: expfmt_vs_prometheus.py CASE_DIR [--prometheus /usr/bin/prometheus] [--wait 8]

Every file in CASE_DIR is one page. Files ending in .om are served as
"application/openmetrics-text; version=1.0.0; charset=utf-8", files ending in .prom as
"text/plain; version=0.0.4; charset=utf-8", files ending in .noct without a Content-Type.
One scrape job per file (job name = file name); after a few scrapes the script prints, per case,
the target's health and lastError from /api/v1/targets and the series the scrape stored
(from /api/v1/series), as JSON lines. Prometheus and the HTTP server are started on free loopback
ports with a temporary TSDB and stopped (by PID) at the end.
"""
import argparse
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_handler(case_dir):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            name = urllib.parse.unquote(self.path.lstrip("/").split("?")[0])
            path = os.path.join(case_dir, os.path.basename(name))
            if not os.path.isfile(path):
                self.send_response(404)
                self.end_headers()
                return
            with open(path, "rb") as f:
                body = f.read()
            self.send_response(200)
            if name.endswith(".om"):
                self.send_header("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
            elif name.endswith(".prom"):
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case_dir")
    ap.add_argument("--prometheus", default="/usr/bin/prometheus")
    ap.add_argument("--wait", type=float, default=8.0)
    args = ap.parse_args()
    cases = sorted(f for f in os.listdir(args.case_dir) if not f.startswith("."))

    http_port = free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", http_port), make_handler(os.path.abspath(args.case_dir)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()

    tmp = tempfile.mkdtemp(prefix="expfmt-prom-")
    prom_port = free_port()
    cfg = ["global:", "  scrape_interval: 1s", "  scrape_timeout: 1s", "scrape_configs:"]
    for c in cases:
        cfg += [f"  - job_name: {json.dumps(c)}", f"    metrics_path: {json.dumps('/' + c)}",
                "    honor_timestamps: true",
                f"    static_configs: [{{targets: ['127.0.0.1:{http_port}']}}]"]
    with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
        f.write("\n".join(cfg) + "\n")
    proc = subprocess.Popen([args.prometheus, f"--config.file={tmp}/prometheus.yml",
                             f"--web.listen-address=127.0.0.1:{prom_port}", f"--storage.tsdb.path={tmp}/data"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(args.wait)
        base = f"http://127.0.0.1:{prom_port}/api/v1"
        targets = get_json(base + "/targets")["data"]["activeTargets"]
        by_job = {t["labels"]["job"]: t for t in targets}
        for c in cases:
            t = by_job.get(c, {})
            q = urllib.parse.urlencode({"match[]": '{job="%s"}' % c})
            series = get_json(base + "/series?" + q)["data"]
            series = [s for s in series if not s["__name__"].startswith(("scrape_", "up"))]
            print(json.dumps({"case": c, "health": t.get("health"), "lastError": t.get("lastError"),
                              "series": series}, ensure_ascii=False))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        srv.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
