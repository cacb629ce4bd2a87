#!/usr/bin/python3
"""Remote-write ingestion: ember against Debian's Prometheus 2.42, same requests, same session.

Builds nothing: run `make build` first (it uses build/release). For each server in turn it starts the
server on a free loopback port with its data in a temporary directory, replays rwgen's pre-encoded
node_exporter-like requests (warm-up rounds, then --duration seconds), stops the server, and prints
accepted samples/s, the server's CPU per sample and RSS, and the ratio.

  bench/ingest_compare.py [--series 100000] [--duration 30] [--conns 4] [--batch 2000] [--repeat 1]
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
EMBER = os.path.join(ROOT, "build/release/tools/ember")
RWGEN = os.path.join(ROOT, "build/release/bench/tools/rwgen")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/-/ready", timeout=2).status == 200:
                return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.2)
    raise SystemExit(f"{url} did not become ready")


def run(name, argv, port, a, tmp):
    log = open(os.path.join(tmp, f"{name}.log"), "wb")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        out = subprocess.run([RWGEN, "--url", f"http://127.0.0.1:{port}/api/v1/write", "--series", str(a.series),
                              "--duration", str(a.duration), "--conns", str(a.conns), "--batch", str(a.batch),
                              "--max-rate", str(a.max_rate), "--server-pid", str(p.pid)],
                             capture_output=True, timeout=a.duration * 10 + 600)
        line = out.stdout.decode().strip()
        if not line:
            raise SystemExit(f"rwgen printed nothing for {name}: {out.stderr.decode()}")
        res = dict(kv.split("=", 1) for kv in line.split())
        res = {k: float(v) for k, v in res.items()}
        return res
    finally:
        p.terminate()
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
        log.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=100000)
    ap.add_argument("--duration", type=int, default=30)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--max-rate", type=float, default=2.5e6)
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    for path in (EMBER, RWGEN):
        if not os.path.exists(path):
            raise SystemExit(f"{path} is missing: run `make build` first")
    results = {"ember": [], "prometheus": []}
    for _ in range(a.repeat):
        for name in ("ember", "prometheus"):
            tmp = tempfile.mkdtemp(prefix=f"ember-ingest-{name}-")
            port = free_port()
            # Both servers get the same configuration without scrape jobs: a self-scrape at start-up
            # would move the head's newest time to now, and the generator's first samples (an hour of
            # history) would then be out of bounds, in either server.
            cfg = os.path.join(tmp, "config.yml")
            with open(cfg, "w") as f:
                f.write("global:\n  scrape_interval: 1h\n")
            if name == "ember":
                argv = [EMBER, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}",
                        f"--storage.tsdb.path={tmp}/data"]
            else:
                argv = [PROMETHEUS, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}",
                        f"--storage.tsdb.path={tmp}/data", "--web.enable-remote-write-receiver"]
            r = run(name, argv, port, a, tmp)
            results[name].append(r)
            print(f"{name:10s} {r['samples_per_s'] / 1e3:8.0f}k samples/s  server {r['server_cpu_cores']:.2f} cores, "
                  f"{r['server_cpu_us_per_sample']:.2f} us/sample, RSS {r['server_rss_mb']:.0f} MB  "
                  f"generator {r['gen_cpu_cores']:.2f} cores  rejected={r['rejected_requests']:.0f} "
                  f"errors={r['errors']:.0f}", flush=True)
            if not os.environ.get("EMBER_KEEP_TMP"):
                shutil.rmtree(tmp, ignore_errors=True)
    best = {k: max(v, key=lambda r: r["samples_per_s"]) for k, v in results.items()}
    e, p = best["ember"], best["prometheus"]
    print(f"ratio ember/prometheus: {e['samples_per_s'] / p['samples_per_s']:.2f}x throughput, "
          f"{p['server_cpu_us_per_sample'] / e['server_cpu_us_per_sample']:.2f}x less CPU per sample")


if __name__ == "__main__":
    sys.exit(main())
