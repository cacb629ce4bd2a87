#!/usr/bin/python3
"""Scrape ingestion: ember against Debian's Prometheus 2.42, same simulated targets, same session.

Builds nothing: run `make build` first (it uses build/release, including bench/tools/scrapesim). For
each server in turn it starts scrapesim (N targets x M series, values changing every 250 ms, targets
listed in a file_sd file), starts the server on a free loopback port with its data in a temporary
directory and a configuration that scrapes every target every --interval, waits until every target has
been scraped (series created), then measures for --duration seconds: samples appended to the head
(ember_head_samples_appended_total / prometheus_tsdb_head_samples_appended_total), the server's CPU
(/proc/PID/stat) and RSS, and the share of scrapes that failed. Prints one line per server and the ratio.

  bench/scrape_compare.py [--targets 1000] [--series 1000] [--interval 1s] [--duration 20]
"""
import argparse
import json
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
SCRAPESIM = os.path.join(ROOT, "build/release/bench/tools/scrapesim")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_ready(url, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: server exited early")
        try:
            if urllib.request.urlopen(url + "/-/ready", timeout=2).status == 200:
                return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.2)
    raise SystemExit(f"{url} did not become ready")


def counter(url, names):
    total = 0.0
    for line in get(url + "/metrics").splitlines():
        if line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in names:
            total += float(line.rsplit(" ", 1)[1])
    return total


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def targets_state(url):
    d = json.loads(get(url + "/api/v1/targets?state=active", timeout=30))["data"]["activeTargets"]
    scraped = sum(1 for t in d if t["health"] != "unknown")
    down = sum(1 for t in d if t["health"] == "down")
    return len(d), scraped, down


def run(name, a, tmp, sd):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cfg = os.path.join(tmp, f"{name}.yml")
    with open(cfg, "w") as f:
        f.write(f"global:\n  scrape_interval: {a.interval}\n  scrape_timeout: {a.interval}\n"
                f"scrape_configs:\n  - job_name: sim\n    file_sd_configs:\n      - files: ['{sd}']\n")
    data = os.path.join(tmp, f"{name}-data")
    if name == "ember":
        argv = [EMBER, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}",
                f"--storage.tsdb.path={data}"]
        names = {"ember_head_samples_appended_total"}
    else:
        argv = [PROMETHEUS, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}",
                f"--storage.tsdb.path={data}"]
        names = {"prometheus_tsdb_head_samples_appended_total"}
    log = open(os.path.join(tmp, f"{name}.log"), "wb")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(url, p)
        # Warm-up: every target scraped at least once (series created), then one more interval.
        deadline = time.time() + a.warmup_max
        while time.time() < deadline:
            n, scraped, _ = targets_state(url)
            if n == a.targets and scraped == n:
                break
            time.sleep(0.5)
        time.sleep(a.interval_s)
        c0, cpu0, t0 = counter(url, names), cpu_s(p.pid), time.time()
        time.sleep(a.duration)
        c1, cpu1, t1 = counter(url, names), cpu_s(p.pid), time.time()
        n, scraped, down = targets_state(url)
        rate = (c1 - c0) / (t1 - t0)
        return {"samples_per_s": rate, "cpu_cores": (cpu1 - cpu0) / (t1 - t0), "rss_mb": rss_mb(p.pid),
                "targets": n, "down": down,
                "cpu_us_per_sample": (cpu1 - cpu0) / max(c1 - c0, 1) * 1e6}
    finally:
        p.terminate()
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--interval", default="1s")
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--warmup-max", type=float, default=60)
    ap.add_argument("--only", choices=["ember", "prometheus"])
    a = ap.parse_args()
    a.interval_s = float(a.interval[:-1]) if a.interval.endswith("s") else float(a.interval)
    for b in (EMBER, SCRAPESIM):
        if not os.path.exists(b):
            raise SystemExit(f"{b} missing: run `make build` first")
    tmp = tempfile.mkdtemp(prefix="ember-scrape-bench-")
    offered = a.targets * (a.series + 5) / a.interval_s  # page series plus the 5 synthetic ones
    print(f"targets={a.targets} series_per_target={a.series} interval={a.interval} offered_samples_per_s={offered:.0f}")
    results = {}
    try:
        for name in ("ember", "prometheus"):
            if a.only and a.only != name:
                continue
            sd = os.path.join(tmp, f"{name}-targets.json")
            sim = subprocess.Popen([SCRAPESIM, "--targets", str(a.targets), "--series", str(a.series),
                                    "--file-sd", sd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            sim.stdout.readline()  # "port=..." once listening and the file is written
            try:
                r = run(name, a, tmp, sd)
            finally:
                sim.terminate()
                sim.wait(timeout=30)
            results[name] = r
            print(f"{name}: samples/s={r['samples_per_s']:.0f} ({r['samples_per_s'] / offered * 100:.0f}% of offered) "
                  f"cpu_cores={r['cpu_cores']:.2f} cpu_us/sample={r['cpu_us_per_sample']:.2f} "
                  f"rss_mb={r['rss_mb']:.0f} targets={r['targets']} down={r['down']}", flush=True)
        if len(results) == 2:
            e, p = results["ember"], results["prometheus"]
            print(f"ratio ember/prometheus: samples/s {e['samples_per_s'] / max(p['samples_per_s'], 1):.2f}, "
                  f"cpu per sample {p['cpu_us_per_sample'] / max(e['cpu_us_per_sample'], 1e-9):.2f}x less")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
