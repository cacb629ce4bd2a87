#!/usr/bin/python3
"""POST /api/v1/write: accepted requests, per-series rejections that keep the rest of a request,
malformed bodies, limits, metadata, and a real Prometheus 2.42 remote-writing into ember with nothing
lost."""
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import harness  # noqa: E402
import signal  # noqa: E402,F401
import promwire  # noqa: E402
from harness import wait_for  # noqa: E402


def L(name, **labels):
    return [("__name__", name)] + sorted(labels.items())


class RemoteWriteTest(harness.TempDirTestCase):
    def post(self, e, series, metadata=(), raw=None, headers=None):
        body = raw if raw is not None else promwire.snappy(promwire.write_request(series, metadata))
        return e.post("/api/v1/write", data=body, headers=headers or promwire.HEADERS)

    def appended(self, e):
        return harness.metric(e.get("/metrics").text, "ember_head_samples_appended_total")

    def test_valid_request_is_stored_and_acknowledged_with_204(self):
        e = self.start_ember(config=harness.NO_SCRAPE).wait_ready()
        now = int(time.time() * 1000)
        series = [(L("rw_test", job="a", i=str(i)), [(now + k * 1000, float(k)) for k in range(5)]) for i in range(100)]
        r = self.post(e, series, metadata=[(1, "rw_test", "A test counter.", "")])
        self.assertEqual(r.status_code, 204, r.text)
        self.assertEqual(self.appended(e), 500)
        text = e.get("/metrics").text
        self.assertEqual(harness.metric(text, "ember_head_series"), 100)
        md = e.get("/api/v1/metadata", params={"metric": "rw_test"}).json()
        self.assertEqual(md["data"], {"rw_test": [{"type": "counter", "help": "A test counter.", "unit": ""}]})
        # An exact duplicate of a series' newest sample is accepted silently, as Prometheus does (older
        # samples, even identical ones, are out of order).
        labels, samples = series[0]
        r = self.post(e, [(labels, samples[-1:])])
        self.assertEqual(r.status_code, 204, r.text)
        self.assertEqual(self.appended(e), 501, "counted as accepted, stored once")

    def test_out_of_order_sample_answers_400_naming_series_but_stores_the_rest(self):
        e = self.start_ember(config=harness.NO_SCRAPE).wait_ready()
        now = int(time.time() * 1000)
        self.assertEqual(self.post(e, [(L("ooo", job="a"), [(now, 1.0)])]).status_code, 204)
        r = self.post(e, [(L("ooo", job="a"), [(now - 1000, 2.0)]),
                          (L("fresh", job="a"), [(now, 3.0), (now + 1000, 4.0)])])
        self.assertEqual(r.status_code, 400)
        self.assertIn("out of order sample", r.text)
        self.assertIn('__name__="ooo"', r.text)
        self.assertEqual(self.appended(e), 3, "the valid samples of the rejected request are stored")
        r = self.post(e, [(L("ooo", job="a"), [(now, 9.0)])])
        self.assertEqual(r.status_code, 400)
        self.assertIn("duplicate sample for timestamp", r.text)
        text = e.get("/metrics").text
        self.assertIn('ember_head_samples_rejected_total{reason="out_of_order"} 1', text)
        self.assertIn('ember_head_samples_rejected_total{reason="duplicate"} 1', text)

    def test_invalid_labels_answer_400_naming_the_series(self):
        e = self.start_ember(config=harness.NO_SCRAPE).wait_ready()
        now = int(time.time() * 1000)
        cases = [
            ([("job", "a")], "__name__"),  # no metric name
            ([("__name__", "x"), ("b", "1"), ("a", "2")], "x"),  # unsorted
            ([("__name__", "x"), ("1bad", "v")], "1bad"),  # bad label name
            ([("__name__", "x"), ("a", "1"), ("a", "2")], "duplicate"),
        ]
        for labels, want in cases:
            r = self.post(e, [(labels, [(now, 1.0)]), (L("good", job="g", n=str(len(want))), [(now, 1.0)])])
            self.assertEqual(r.status_code, 400, labels)
            self.assertIn(want, r.text)
        self.assertEqual(self.appended(e), len(cases), "the valid series of each request are stored")

    def test_malformed_and_oversized_bodies(self):
        e = self.start_ember(config=harness.NO_SCRAPE).wait_ready()
        self.assertEqual(self.post(e, None, raw=b"\x10garbage").status_code, 400, "bad snappy")
        self.assertEqual(self.post(e, None, raw=promwire.snappy(b"\x0a\xff\xff\x01")).status_code, 400)
        self.assertEqual(self.post(e, None, raw=b"").status_code, 400, "not even a snappy header")
        self.assertEqual(self.post(e, None, raw=promwire.snappy(b"")).status_code, 204, "a valid empty message")
        r = e.post("/api/v1/write", data=b"x" * 10, headers={"Content-Encoding": "gzip"})
        self.assertEqual(r.status_code, 415)
        # A snappy header declaring a huge decompressed size is refused before decompressing.
        r = self.post(e, None, raw=promwire.uvarint(1 << 30) + b"\x00")
        self.assertEqual(r.status_code, 413)
        self.assertIn("ember_remote_write_malformed_requests_total 4", e.get("/metrics").text)
        self.assertTrue(e.alive())

    def test_receiver_can_be_disabled(self):
        e = self.start_ember(config=harness.NO_SCRAPE, args=["--no-web.enable-remote-write-receiver"]).wait_ready()
        r = self.post(e, [(L("x"), [(0, 1.0)])])
        self.assertEqual(r.status_code, 404)
        self.assertIn("--web.enable-remote-write-receiver", r.text)


PROM_CFG = """global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:{jobs}
remote_write:
  - url: {url}/api/v1/write
    queue_config:
      batch_send_deadline: 1s
      max_samples_per_send: 500
"""


class RealPrometheusTest(harness.TempDirTestCase):
    def test_prometheus_remote_write_loses_nothing(self):
        prom = shutil.which("prometheus") or "/usr/bin/prometheus"
        if not os.path.exists(prom):
            self.skipTest("Debian's prometheus is not installed (tools/install-deps.sh installs it)")
        e = self.start_ember(config=harness.NO_SCRAPE).wait_ready()
        pport = harness.free_port()
        purl = f"http://127.0.0.1:{pport}"
        jobs = f"""
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:{pport}']
  - job_name: ember
    static_configs:
      - targets: ['127.0.0.1:{e.port}']"""
        cfg = os.path.join(self.tmp, "prom.yml")
        with open(cfg, "w") as f:
            f.write(PROM_CFG.format(jobs=jobs, url=e.url))
        p = harness.Process([prom, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{pport}",
                             f"--storage.tsdb.path={self.tmp}/prom"], os.path.join(self.tmp, "prom.log"))
        self.procs.append(p)

        def prom_metric(name):
            return harness.metric(harness.requests.get(purl + "/metrics", timeout=5).text, name)

        wait_for(lambda: (prom_metric("prometheus_remote_storage_samples_total") or 0) > 5000, 120,
                 what="Prometheus to send 5000 samples")
        # Stop scraping (an empty job list; Prometheus writes stale markers for the targets), then wait
        # until everything appended has been sent.
        with open(cfg, "w") as f:
            f.write(PROM_CFG.format(jobs=" []", url=e.url))
        p.proc.send_signal(signal.SIGHUP)
        last = [None]

        def drained():
            sent = prom_metric("prometheus_remote_storage_samples_total")
            pending = prom_metric("prometheus_remote_storage_samples_pending")
            stable = sent == last[0] and pending == 0
            last[0] = sent
            return stable
        time.sleep(3)
        wait_for(drained, 60, interval=2, what="Prometheus's remote-write queue to drain")
        sent = prom_metric("prometheus_remote_storage_samples_total")
        for name in ("prometheus_remote_storage_samples_failed_total", "prometheus_remote_storage_samples_retried_total",
                     "prometheus_remote_storage_samples_dropped_total"):
            self.assertEqual(prom_metric(name) or 0, 0, name)
        text = e.get("/metrics").text
        received = harness.metric(text, "ember_remote_write_samples_received_total")
        appended = harness.metric(text, "ember_head_samples_appended_total")
        self.assertEqual(received, sent, "ember received every sample Prometheus sent")
        rejected = sum(float(v) for v in re.findall(r'^ember_head_samples_rejected_total\{[^}]*\} (\S+)$', text, re.M))
        self.assertEqual(rejected, 0, "Prometheus sends each series in order")
        self.assertEqual(appended, received, "every received sample is stored")
        self.assertGreater(harness.metric(text, "ember_head_series"), 100)


if __name__ == "__main__":
    harness.run()
