#!/usr/bin/python3
"""Run `embertool test promql` and judge its summary line.

Usage: run.py EMBERTOOL [--min-passed N] [--max-failed N] [--exact-failed N] PATH...

Every line embertool prints (one per failed eval) is passed through, so failures are always visible;
the test fails when fewer than N evals pass (--min-passed) or more than N fail (--max-failed), or
when embertool cannot read or parse a file.
"""
import re
import subprocess
import sys


def main():
    args = sys.argv[1:]
    tool = args.pop(0)
    min_passed = None
    max_failed = None
    exact_failed = None
    paths = []
    while args:
        a = args.pop(0)
        if a == "--min-passed":
            min_passed = int(args.pop(0))
        elif a == "--max-failed":
            max_failed = int(args.pop(0))
        elif a == "--exact-failed":
            exact_failed = int(args.pop(0))
        else:
            paths.append(a)
    p = subprocess.run([tool, "test", "promql", *paths], capture_output=True, text=True, timeout=1200)
    sys.stdout.write(p.stdout)
    sys.stderr.write(p.stderr)
    m = re.search(r"^(\d+) passed, (\d+) failed, (\d+) skipped$", p.stdout, re.M)
    if not m or p.returncode == 2:
        print("embertool did not finish (exit %d)" % p.returncode)
        return 1
    passed, failed = int(m.group(1)), int(m.group(2))
    if min_passed is not None and passed < min_passed:
        print("FAIL: %d evals passed, the floor is %d" % (passed, min_passed))
        return 1
    if max_failed is not None and failed > max_failed:
        print("FAIL: %d evals failed, at most %d allowed" % (failed, max_failed))
        return 1
    if exact_failed is not None and failed != exact_failed:
        print("FAIL: %d evals failed, expected exactly %d" % (failed, exact_failed))
        return 1
    print("OK: %d passed (floor %s), %d failed" % (passed, min_passed, failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
