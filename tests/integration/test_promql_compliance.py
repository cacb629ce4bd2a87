#!/usr/bin/python3
"""Ember against a real Prometheus 2.42 on identical data: the PromQL compliance queries and the calls
Grafana's Prometheus data source makes.

A real Prometheus scrapes the compliance suite's demo-service emulators every 5 s and remote-writes
everything to ember; after a few minutes of data, the shared compare.py runs the 539 compliance
queries (range and instant) against both, and grafana_replay.py replays Grafana's requests. This is
the shortened form of ../shared/conformance/compliance/run_pair.sh (3 minutes instead of 15).

Every query must match, except those listed in V3_DIFFERENCES: there Prometheus 3's semantics (which
ember follows) differ from 2.42's, as docs/promql-differences.md explains. Skipped, with a visible
message, when the shared conformance material or Prometheus is absent.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import harness  # noqa: E402

SHARED = os.environ.get("EMBER_SHARED_DIR", "")
COMPLIANCE = os.path.join(SHARED, "conformance", "compliance")
GRAFANA = os.path.join(SHARED, "conformance", "grafana", "grafana_replay.py")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
MINUTES = 3
COUNTER_HEADSTART = 20  # seconds, about four scrape intervals

# Queries whose answers differ between Prometheus 2.42 and 3 (docs/promql-differences.md): ranges
# are left-open in 3, so a subquery window holds one point fewer when a step lands on its start.
V3_DIFFERENCES = [
    r"\w+_over_time\(rate\(demo_cpu_usage_seconds_total\[1m\]\)\[2m:10s\]\)",
    # Prometheus 3 accepts any UTF-8 label name as the destination of label_replace/label_join.
    r'label_(replace|join)\(demo_num_cpus, "~invalid", [^:]*\)',
]

PROM_CFG = """global:
  scrape_interval: 5s
scrape_configs:{jobs}
remote_write:
  - url: {url}/api/v1/write
    queue_config: {{batch_send_deadline: 1s}}
"""
DEMO_JOB = """
  - job_name: demo
    static_configs:
      - targets: ['127.0.0.1:10000', '127.0.0.1:10001', '127.0.0.1:10002']"""


def known_difference(fail_line):
    """fail_line is compare.py's "FAIL [mode] <query>: <problem>"."""
    return any(re.match(r"FAIL \[\w+\] " + p + ": ", fail_line) for p in V3_DIFFERENCES)


def raw_samples(url, t):
    """Every stored sample of the demo job in the last 10 minutes before t: {labels: [(t, v), ...]}."""
    r = harness.requests.get(url + "/api/v1/query", params={"query": '{job="demo"}[10m]', "time": str(t)},
                             timeout=60).json()
    return {tuple(sorted(s["metric"].items())): [tuple(p) for p in s["values"]] for s in r["data"]["result"]}


class ComplianceTest(harness.TempDirTestCase):
    def assert_same_samples(self, ref_url, test_url, t):
        """Before comparing answers, the data: ember must hold exactly the samples Prometheus holds."""
        ref, test = raw_samples(ref_url, t), raw_samples(test_url, t)
        diffs = []
        for key in sorted(set(ref) | set(test)):
            a, b = set(ref.get(key, [])), set(test.get(key, []))
            if a != b:
                diffs.append(f"{dict(key)}: only in Prometheus {sorted(a - b)[:3]}, only in ember {sorted(b - a)[:3]}")
        self.assertEqual(diffs[:10], [], f"{len(diffs)} series hold different samples")

    def test_compliance_queries_and_grafana_calls_match_prometheus(self):
        if not os.path.isdir(COMPLIANCE) or not os.path.exists(PROMETHEUS):
            print("SKIPPED: needs ../shared/conformance/compliance and Debian's prometheus", file=sys.stderr)
            return
        e = self.start_ember(config=harness.NO_SCRAPE).wait_ready()
        emu = harness.Process(["/usr/bin/python3", os.path.join(COMPLIANCE, "demo_service.py"),
                               "10000", "10001", "10002"], os.path.join(self.tmp, "demo.log"))
        self.procs.append(emu)
        # The demo counters start at zero when the emulator starts. Prometheus 3 caps a counter's
        # extrapolation at its zero point after choosing half an interval, 2.42 before
        # (docs/promql-differences.md); the two disagree on windows reaching back to the first sample
        # when that sample lies between half an interval and 1.1 intervals after the zero point. Letting
        # the counters run well beyond that before the first scrape keeps the comparison on ground
        # where both versions agree, instead of on the scrape's phase.
        time.sleep(COUNTER_HEADSTART)
        pport = harness.free_port()
        cfg = os.path.join(self.tmp, "prom.yml")
        with open(cfg, "w") as f:
            f.write(PROM_CFG.format(jobs=DEMO_JOB, url=e.url))
        prom = harness.Process([PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={self.tmp}/prom",
                                f"--web.listen-address=127.0.0.1:{pport}"], os.path.join(self.tmp, "prom.log"))
        self.procs.append(prom)
        purl = f"http://127.0.0.1:{pport}"
        harness.wait_for(lambda: harness.requests.get(purl + "/-/ready", timeout=2).status_code == 200, 60,
                         what="Prometheus to start")
        time.sleep(MINUTES * 60)

        # Freeze the data before comparing: ember receives each sample a moment after Prometheus stores
        # it, so queries reaching the newest samples (offset -1m, say) would race. Prometheus stops
        # scraping (writing stale markers, which ember receives too) and drains its queue.
        with open(cfg, "w") as f:
            f.write(PROM_CFG.format(jobs=" []", url=e.url))
        prom.proc.send_signal(signal.SIGHUP)
        freeze = time.time()
        last = [None]

        def drained():
            text = harness.requests.get(purl + "/metrics", timeout=5).text
            sent = harness.metric(text, "prometheus_remote_storage_samples_total") or 0
            pending = harness.metric(text, "prometheus_remote_storage_samples_pending") or 0
            stable = sent == last[0] and pending == 0
            last[0] = sent
            return stable
        time.sleep(3)
        harness.wait_for(drained, 60, interval=2, what="Prometheus's remote-write queue to drain")

        metrics = harness.requests.get(purl + "/metrics", timeout=5).text
        failed = harness.metric(metrics, "prometheus_remote_storage_samples_failed_total") or 0
        self.assertEqual(failed, 0, "ember took every sample Prometheus sent")

        end = int(freeze) - 30
        self.assert_same_samples(purl, e.url, end)
        out = subprocess.run(["/usr/bin/python3", os.path.join(COMPLIANCE, "compare.py"), "--ref", purl,
                              "--test", e.url, "--end", str(end - end % 10), "--window", str(MINUTES * 60 - 120),
                              "--instant"], capture_output=True, text=True, timeout=600).stdout
        print(out, file=sys.stderr)
        m = re.search(r"^(\d+) passed, (\d+) failed$", out, re.M)
        self.assertIsNotNone(m, "compare.py ran to the end")
        unexplained = [line for line in out.splitlines() if line.startswith("FAIL ") and not known_difference(line)]
        self.assertEqual(unexplained, [], "every difference from Prometheus is a documented v3 difference")
        self.assertGreaterEqual(int(m.group(1)), 1000, "the compliance queries ran")

        out = subprocess.run(["/usr/bin/python3", GRAFANA, "--ref", purl, "--test", e.url,
                              "--metric", "demo_cpu_usage_seconds_total"],
                             capture_output=True, text=True, timeout=300).stdout
        print(out, file=sys.stderr)
        m = re.search(r"^(\d+) passed, (\d+) failed$", out, re.M)
        self.assertIsNotNone(m, "grafana_replay.py ran to the end")
        fails = [line for line in out.splitlines() if line.startswith("FAIL")]
        self.assertEqual(fails, [], "Grafana's calls get the answers Prometheus gives")


if __name__ == "__main__":
    harness.run()
