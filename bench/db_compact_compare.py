#!/usr/bin/python3
"""Compaction time of ember and Prometheus 2.42 on the same four 2-hour blocks.

bench_engine_db writes four level-1 blocks (node_cpu_seconds_total-like counters, 15 s scrapes) and times
ember merging the oldest three into one 6-hour block. The same block directories are then copied into an
empty Prometheus data directory; Prometheus's planner picks the same three blocks at its first compaction
round (within a minute of start-up) and logs `compact blocks ... duration=`. Both include fsync.

    python3 bench/db_compact_compare.py [series]     (default 8000; needs build/release/bench/bench_engine_db)
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

BENCH = os.environ.get("BENCH", "build/release/bench/bench_engine_db")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ember(series, keep):
    out = subprocess.run([BENCH, f"--benchmark_filter=BM_DbCompact/series:{series}/", "--benchmark_min_time=1",
                          "--benchmark_format=csv"], env=dict(os.environ, EMBER_BENCH_DB_KEEP=keep),
                         capture_output=True, text=True, timeout=900)
    for line in out.stdout.splitlines():
        if line.startswith('"BM_DbCompact'):
            f = line.split(",")
            return float(f[2]), float(f[3])  # real_time, cpu_time in ms
    raise SystemExit("no result from " + BENCH + ":\n" + out.stdout + out.stderr)


def prometheus(blocks_dir, work):
    data = os.path.join(work, "prom")
    shutil.copytree(blocks_dir, data)
    cfg = os.path.join(work, "p.yml")
    with open(cfg, "w") as f:
        f.write("global: {}\n")
    log = open(os.path.join(work, "prom.log"), "w+")
    p = subprocess.Popen(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={data}",
                          f"--web.listen-address=127.0.0.1:{free_port()}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 150
        while time.time() < deadline:
            log.seek(0)
            m = re.search(r'msg="compact blocks" count=3 .*duration=(\S+)', log.read())
            if m:
                d = m.group(1)
                return float(d[:-2]) if d.endswith("ms") else float(d[:-1]) * 1000
            time.sleep(1)
        raise SystemExit("Prometheus did not compact within 150 s; log: " + log.name)
    finally:
        p.terminate()
        p.wait(timeout=30)


def main():
    series = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    work = tempfile.mkdtemp(prefix="ember-compact-compare-")
    try:
        keep = os.path.join(work, "blocks")
        real, cpu = ember(series, keep)
        prom = prometheus(keep, work)
        samples = series * 480 * 3
        print(f"series={series} merged_samples={samples}")
        print(f"ember      {real:8.1f} ms wall ({cpu:.1f} ms CPU)  {samples / real / 1000:.1f} M samples/s")
        print(f"prometheus {prom:8.1f} ms wall                     {samples / prom / 1000:.1f} M samples/s")
        print(f"ratio prometheus/ember wall time: {prom / real:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
