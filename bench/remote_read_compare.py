#!/usr/bin/python3
"""Remote read serving: ember against Debian's Prometheus 2.42, same data, same requests, same session.

Builds nothing: run `make build` first (it uses build/release). Both servers are started on free loopback
ports with their data in a temporary directory and fed the same data by remote write: --series series
of one metric, --samples samples each, 5 s apart, counter-like values (random increments, fixed seed).
Then, for each response type (SAMPLES, STREAMED_XOR_CHUNKS) and each server in turn, the same ReadRequest
selecting every series over the whole range is sent --rounds times after one warm-up; the client reads
the whole body (no decoding). Prints wall time per request, samples/s served, server CPU per request,
response bytes, and the ratios.

  bench/remote_read_compare.py [--series 2000] [--samples 720] [--rounds 5]
"""
import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests/integration/lib"))
import promwire as pw  # noqa: E402

EMBER = os.path.join(ROOT, "build/release/tools/ember")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
STEP_MS = 5000


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


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post(url, body, headers):
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.status, r.read()


def write_requests(a, t0):
    """Requests of 60 samples per series each, in time order."""
    rnd = random.Random(1)
    values = [0.0] * a.series
    labels = [[("__name__", "bench_read_total"), ("instance", f"host-{i // 10:04d}:9100"), ("job", "node"),
               ("shard", str(i % 10))] for i in range(a.series)]
    for k0 in range(0, a.samples, 60):
        series = []
        for i in range(a.series):
            samples = []
            for k in range(k0, min(k0 + 60, a.samples)):
                values[i] += rnd.randrange(0, 1000) / 10
                samples.append((t0 + k * STEP_MS, values[i]))
            series.append((labels[i], samples))
        yield pw.snappy(pw.write_request(series))


def measure(name, pid, url, body, rounds):
    post(url + "/api/v1/read", body, pw.READ_HEADERS)  # warm-up
    c0, w0 = cpu_seconds(pid), time.perf_counter()
    size = 0
    for _ in range(rounds):
        status, resp = post(url + "/api/v1/read", body, pw.READ_HEADERS)
        if status != 200:
            raise SystemExit(f"{name}: HTTP {status}: {resp[:200]}")
        size = len(resp)
    wall = (time.perf_counter() - w0) / rounds
    cpu = (cpu_seconds(pid) - c0) / rounds
    return wall, cpu, size


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=2000)
    ap.add_argument("--samples", type=int, default=720)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    if not os.path.exists(EMBER):
        raise SystemExit(f"{EMBER} is missing: run `make build` first")
    t0 = (int(time.time() * 1000) - a.samples * STEP_MS) // 1000 * 1000
    total = a.series * a.samples
    bodies = list(write_requests(a, t0))
    tmp = tempfile.mkdtemp(prefix="ember-readbench-")
    servers = {}
    try:
        for name in ("ember", "prometheus"):
            port = free_port()
            d = os.path.join(tmp, name)
            os.makedirs(d)
            argv = ([EMBER] if name == "ember" else [PROMETHEUS, "--web.enable-remote-write-receiver",
                                                     f"--config.file={os.path.join(d, 'p.yml')}"])
            argv += [f"--web.listen-address=127.0.0.1:{port}", f"--storage.tsdb.path={d}/data"]
            with open(os.path.join(d, "p.yml"), "w") as f:
                f.write("global:\n  scrape_interval: 1h\n")
            log = open(os.path.join(d, "log"), "wb")
            p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
            servers[name] = (p, f"http://127.0.0.1:{port}")
            wait_ready(servers[name][1])
            for b in bodies:
                status, resp = post(servers[name][1] + "/api/v1/write", b, pw.HEADERS)
                if status not in (200, 204):
                    raise SystemExit(f"{name} refused the data: {status} {resp[:200]}")
        query = [(t0, t0 + a.samples * STEP_MS, [(pw.EQ, "__name__", "bench_read_total")], None)]
        print(f"{a.series} series x {a.samples} samples = {total} samples per request, {a.rounds} rounds")
        for typ, tname in ((pw.SAMPLES, "SAMPLES"), (pw.STREAMED_XOR_CHUNKS, "STREAMED_XOR_CHUNKS")):
            body = pw.snappy(pw.read_request(query, [typ]))
            res = {}
            for name, (p, url) in servers.items():
                res[name] = measure(name, p.pid, url, body, a.rounds)
                wall, cpu, size = res[name]
                print(f"{tname:20s} {name:10s} {wall * 1000:8.1f} ms/request  {total / wall / 1e6:6.2f} M samples/s"
                      f"  cpu {cpu * 1000:7.1f} ms/request  {size / 1e6:6.2f} MB")
            e, p_ = res["ember"], res["prometheus"]
            print(f"{tname:20s} ratio ember/prometheus: {p_[0] / e[0]:.2f}x faster (wall), "
                  f"{p_[1] / max(e[1], 1e-9):.2f}x less CPU")
    finally:
        for p, _ in servers.values():
            p.terminate()
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
