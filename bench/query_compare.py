#!/usr/bin/python3
"""PromQL evaluation latency: Ember's engine against Debian's Prometheus 2.42 on the same samples.

Builds nothing: run `make build` first (it uses build/release). The data set is bench_query_eval's
(10,000 counters and 100 x 11 classic histogram buckets at 15 s over 70 minutes): the script dumps it
as OpenMetrics, turns it into a TSDB block with promtool, starts Prometheus on it (free loopback port,
temporary directory), and then, alternating between the two so both see the same machine load, runs
each query --repeat times:
  - Ember: bench_query_eval's own case (in-process engine over an in-memory head), wall time after a
    warm-up query (Prometheus is a long-running process with warm pools too);
  - Prometheus: GET /api/v1/query_range with stats=all, its reported execTotalTime (evaluation
    without HTTP and JSON encoding).
It prints the medians and the ratio Ember / Prometheus (lower is better for Ember).

  bench/query_compare.py [--repeat 5]
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BENCH = os.path.join(ROOT, "build/release/bench/bench_query_eval")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

# (bench_query_eval case index, query) -- keep in step with kQueries in bench/query_eval.cc.
QUERIES = [
    (0, "sum by (job) (rate(x_total[5m]))"),
    (1, "topk(10, rate(x_total[5m]))"),
    (2, "histogram_quantile(0.99, sum by (le) (rate(req_seconds_bucket[5m])))"),
    (3, "sum(x_total)"),
    (4, 'x_total{job="job-3"} / on(instance, job) x_total{job="job-3"}'),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/-/ready", timeout=2).status == 200:
                return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.3)
    raise SystemExit(f"{url} did not become ready")


def ember_ms(idx):
    out = subprocess.run([BENCH, f"--benchmark_filter=BM_QueryRange/{idx}/", "--benchmark_format=json",
                          "--benchmark_min_time=2x", "--benchmark_min_warmup_time=0.05"], capture_output=True, timeout=600, check=True)
    data = json.loads(out.stdout)
    b = data["benchmarks"][0]
    return b["real_time"] if b["time_unit"] == "ms" else b["real_time"] / 1e6


def prom_ms(port, query):
    qs = urllib.parse.urlencode({"query": query, "start": 300, "end": 3900, "step": 15, "stats": "all"})
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query_range?{qs}", timeout=600) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise SystemExit(f"prometheus: {body}")
    return body["data"]["stats"]["timings"]["execTotalTime"] * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ember-qbench-")
    try:
        om = os.path.join(tmp, "data.om")
        subprocess.run([BENCH, "--dump", om], check=True)
        subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", om, os.path.join(tmp, "data")],
                       check=True, capture_output=True)
        os.unlink(om)
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global: {}\n")
        port = free_port()
        log = open(os.path.join(tmp, "prometheus.log"), "wb")
        p = subprocess.Popen([PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={tmp}/data",
                              f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=100y"],
                             stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(f"http://127.0.0.1:{port}")
            print(f"{'query':<72} {'ember ms':>9} {'prom ms':>9} {'ratio':>6}")
            for idx, q in QUERIES:
                prom_ms(port, q)  # warm-up: page in the block
                e, pr = [], []
                for _ in range(a.repeat):
                    e.append(ember_ms(idx))
                    pr.append(prom_ms(port, q))
                em, pm = statistics.median(e), statistics.median(pr)
                print(f"{q:<72} {em:9.1f} {pm:9.1f} {em / pm:6.2f}", flush=True)
        finally:
            p.terminate()
            p.wait(timeout=60)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
