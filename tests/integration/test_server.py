#!/usr/bin/python3
"""The server skeleton: health and readiness, self-metrics, status endpoints over HTTP/1.1 and HTTP/2,
configuration reload (good and bad files, HTTP and SIGHUP), lifecycle gating, clean shutdown, and the
exit codes and messages for bad flags and bad configuration files."""
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import harness  # noqa: E402
from harness import EMBER_BIN, curl_h2, wait_for  # noqa: E402

GOOD = """global:
  scrape_interval: 30s
  evaluation_interval: 30s
  external_labels:
    site: test
scrape_configs:
  - job_name: first
    static_configs:
      - targets: ['127.0.0.1:1']
"""

GOOD2 = GOOD.replace("first", "second")

BAD = """global:
  scrape_interval: 30s
scrape_configs:
  - job_name: first
    scrape_intervall: 15s
"""


class ServerTest(harness.TempDirTestCase):
    def test_health_ready_and_status_endpoints_over_http1_and_http2(self):
        e = self.start_ember().wait_ready()
        r = e.get("/-/healthy")
        self.assertEqual(r.status_code, 200)
        self.assertIn("Healthy", r.text)
        self.assertEqual(e.get("/-/ready").status_code, 200)
        for path in ("/-/healthy", "/-/ready", "/metrics", "/api/v1/status/buildinfo",
                     "/api/v1/status/flags", "/api/v1/status/config", "/api/v1/status/runtimeinfo"):
            ver, code, body = curl_h2(e.url + path)
            self.assertEqual((ver, code), ("2", 200), path)
            self.assertEqual(code, e.get(path).status_code, path)

        build = e.get("/api/v1/status/buildinfo").json()
        self.assertEqual(build["status"], "success")
        for key in ("version", "revision", "branch", "buildUser", "buildDate", "goVersion"):
            self.assertIn(key, build["data"])

        flags = e.get("/api/v1/status/flags").json()["data"]
        self.assertEqual(flags["web.listen-address"], f"127.0.0.1:{e.port}")
        self.assertEqual(flags["query.timeout"], "2m")
        self.assertEqual(flags["query.max-samples"], "50000000")
        self.assertEqual(flags["web.enable-remote-write-receiver"], "true")

        cfg = e.get("/api/v1/status/config").json()["data"]["yaml"]
        self.assertIn("job_name: ember", cfg, "the embedded default scrapes ember itself")
        self.assertIn(f"localhost:{e.port}", cfg)
        self.assertIn("scrape_interval: 15s", cfg)

        rt = e.get("/api/v1/status/runtimeinfo").json()["data"]
        self.assertTrue(rt["reloadConfigSuccess"])
        self.assertEqual(rt["storageRetention"], "2w1d")  # Prometheus prints 15d this way too

        metrics = e.get("/metrics")
        self.assertTrue(metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        text = metrics.text
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                     "process_start_time_seconds", "ember_build_info{", "ember_head_series",
                     "ember_config_last_reload_successful 1",
                     'ember_http_requests_total{code="200",handler="/api/v1/status/buildinfo"}',
                     'ember_http_request_duration_seconds_bucket{handler="/metrics"'):
            self.assertIn(name, text)

    def test_unknown_paths_and_methods(self):
        e = self.start_ember().wait_ready()
        self.assertEqual(e.get("/nope").status_code, 404)
        self.assertEqual(e.post("/-/healthy").status_code, 405)
        self.assertEqual(e.get("/-/reload").status_code, 405)

    def test_rules_and_alerts_answer_empty_and_rule_files_are_reported_as_ignored(self):
        rules = os.path.join(self.tmp, "rules.yml")
        with open(rules, "w") as f:
            f.write("groups: []\n")
        e = self.start_ember(config=f"rule_files: ['{rules}']\n").wait_ready()
        self.assertEqual(e.get("/api/v1/rules").json(), {"status": "success", "data": {"groups": []}})
        self.assertEqual(e.get("/api/v1/alerts").json(), {"status": "success", "data": {"alerts": []}})
        e.stop()
        self.assertIn("rule_files are ignored", e.output())

    def test_lifecycle_endpoints_are_refused_unless_enabled(self):
        e = self.start_ember().wait_ready()
        r = e.post("/-/reload")
        self.assertEqual(r.status_code, 403)
        self.assertEqual(r.text, "Lifecycle API is not enabled.")
        self.assertEqual(e.post("/-/quit").status_code, 403)
        self.assertTrue(e.alive())

    def test_reload_with_good_and_bad_files_keeps_running_configuration(self):
        e = self.start_ember(config=GOOD, args=["--web.enable-lifecycle"]).wait_ready()
        self.assertIn("job_name: first", e.get("/api/v1/status/config").json()["data"]["yaml"])

        with open(e.config_path, "w") as f:
            f.write(GOOD2)
        r = e.post("/-/reload")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertIn("job_name: second", e.get("/api/v1/status/config").json()["data"]["yaml"])

        with open(e.config_path, "w") as f:
            f.write(BAD)
        r = e.post("/-/reload")
        self.assertEqual(r.status_code, 500)
        self.assertIn("failed to reload config", r.text)
        self.assertIn('unknown field "scrape_intervall"', r.text)
        self.assertIn("job_name: second", e.get("/api/v1/status/config").json()["data"]["yaml"],
                      "a bad file keeps the running configuration")
        self.assertIn("ember_config_last_reload_successful 0", e.get("/metrics").text)
        self.assertFalse(e.get("/api/v1/status/runtimeinfo").json()["data"]["reloadConfigSuccess"])

        # SIGHUP reloads too.
        with open(e.config_path, "w") as f:
            f.write(GOOD)
        e.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "ember_config_last_reload_successful 1" in e.get("/metrics").text, 10,
                 what="reload after SIGHUP")
        self.assertIn("job_name: first", e.get("/api/v1/status/config").json()["data"]["yaml"])
        self.assertIn("Error reloading config", e.output())

    def test_quit_endpoint_stops_cleanly(self):
        e = self.start_ember(args=["--web.enable-lifecycle"]).wait_ready()
        r = e.post("/-/quit")
        self.assertEqual(r.status_code, 200)
        e.proc.wait(timeout=30)
        self.assertEqual(e.proc.returncode, 0, e.output())

    def test_sigterm_finishes_cleanly_with_exit_0(self):
        e = self.start_ember().wait_ready()
        e.get("/metrics")
        self.assertEqual(e.stop(signal.SIGTERM), 0, e.output())
        out = e.output()
        self.assertIn("shutting down gracefully", out)
        self.assertIn("Storage closed", out)
        self.assertNotIn("ERROR: AddressSanitizer", out)
        self.assertNotIn("LeakSanitizer", out)

    def test_sigint_also_stops_cleanly(self):
        e = self.start_ember().wait_ready()
        self.assertEqual(e.stop(signal.SIGINT), 0, e.output())

    def test_broken_configuration_exits_1_with_one_line_naming_file_line_and_field(self):
        path = os.path.join(self.tmp, "broken.yml")
        with open(path, "w") as f:
            f.write(BAD)
        out = subprocess.run([EMBER_BIN, f"--config.file={path}", "--web.listen-address=127.0.0.1:0",
                              f"--storage.tsdb.path={self.tmp}/data"], capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 1)
        err = out.stderr.decode()
        lines = [l for l in err.splitlines() if "level=error" in l]
        self.assertEqual(len(lines), 1, err)
        self.assertIn(f"{path}:5:5", lines[0])
        self.assertIn("scrape_intervall", lines[0])

    def test_missing_configuration_file_exits_1(self):
        out = subprocess.run([EMBER_BIN, f"--config.file={self.tmp}/nope.yml", "--web.listen-address=127.0.0.1:0",
                              f"--storage.tsdb.path={self.tmp}/data"], capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 1)
        self.assertIn("nope.yml", out.stderr.decode())

    def test_bad_flags_exit_2_with_one_line(self):
        for argv, want in ((["--no-such-flag"], "unknown long flag '--no-such-flag'"),
                           (["--query.timeout=abc"], 'invalid value "abc" for flag --query.timeout')):
            out = subprocess.run([EMBER_BIN, *argv], capture_output=True, timeout=30)
            self.assertEqual(out.returncode, 2, argv)
            err = out.stderr.decode().strip()
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertIn(want, err)

    def test_help_and_version(self):
        out = subprocess.run([EMBER_BIN, "--help"], capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0)
        self.assertIn("--storage.tsdb.retention.time", out.stdout.decode())
        out = subprocess.run([EMBER_BIN, "--version"], capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0)
        self.assertTrue(out.stdout.decode().startswith("ember, version"))

    def test_address_in_use_is_a_clear_error(self):
        e = self.start_ember().wait_ready()
        out = subprocess.run([EMBER_BIN, f"--web.listen-address=127.0.0.1:{e.port}",
                              f"--storage.tsdb.path={self.tmp}/data2"], capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 1)
        err = out.stderr.decode()
        self.assertIn(f"listen tcp 127.0.0.1:{e.port}", err)
        self.assertIn("Address already in use", err)


if __name__ == "__main__":
    harness.run()
