#!/usr/bin/python3
"""On-disk bytes per sample: Ember's block writer against Prometheus 2.42's, on identical samples.

bench_blockgen (bench/tools/blockgen.c) writes node_exporter-like data (bench/block_data.h) as an Ember
block and as an OpenMetrics file; `promtool tsdb create-blocks-from openmetrics` turns the file into a
Prometheus block. Both blocks are then measured file by file.

    python3 bench/block_size_compare.py [--hosts 10] [--minutes 120] [--blockgen build/release/bench/tools/blockgen]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile


def block_sizes(parent):
    blocks = [d for d in os.listdir(parent) if os.path.isdir(os.path.join(parent, d)) and len(d) == 26]
    chunks = index = other = 0
    for b in blocks:
        root = os.path.join(parent, b)
        for dirpath, _, files in os.walk(root):
            for f in files:
                size = os.path.getsize(os.path.join(dirpath, f))
                if os.path.basename(dirpath) == "chunks":
                    chunks += size
                elif f == "index":
                    index += size
                else:
                    other += size
    return len(blocks), chunks, index, other


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--minutes", type=int, default=120)
    ap.add_argument("--blockgen", default="build/release/bench/tools/blockgen")
    ap.add_argument("--promtool", default="/usr/bin/promtool")
    args = ap.parse_args()
    if not os.path.exists(args.promtool):
        print("SKIPPED: promtool not installed", file=sys.stderr)
        return 0
    work = tempfile.mkdtemp(prefix="ember-blocksize-")
    try:
        out = subprocess.run([args.blockgen, str(args.hosts), str(args.minutes), work], check=True,
                             capture_output=True, text=True, timeout=600).stdout
        stats = dict(line.split() for line in out.splitlines())
        samples, series = int(stats["samples"]), int(stats["series"])
        prom = os.path.join(work, "prom")
        os.mkdir(prom)
        subprocess.run([args.promtool, "tsdb", "create-blocks-from", "openmetrics",
                        os.path.join(work, "source.om"), prom], check=True, capture_output=True, timeout=1200)
        print(f"{series} series, {samples} samples, {args.minutes} min at 15 s")
        print("| writer | blocks | chunks B/sample | index B/sample | total B/sample | total bytes |")
        print("|---|---|---|---|---|---|")
        rows = {}
        for name, parent in (("Ember", os.path.join(work, "ember")), ("Prometheus 2.42 (promtool)", prom)):
            n, c, i, o = block_sizes(parent)
            rows[name] = c + i + o
            print(f"| {name} | {n} | {c / samples:.3f} | {i / samples:.3f} | {(c + i + o) / samples:.3f} "
                  f"| {c + i + o} |")
        e, p = rows["Ember"], rows["Prometheus 2.42 (promtool)"]
        print(f"\nEmber / Prometheus total size: {e / p:.4f}")
    finally:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
