#!/usr/bin/python3
"""Scraping against real peers: ember and a real Prometheus 2.42 scrape the same prometheus-node-exporter
and the same Python prometheus_client app with the same configuration (relabelling with hashmod and
labelmap, a dropped target, metric relabelling) and must store the same series names and labels and
describe the same targets in /api/v1/targets. What ember stored is read back through its remote read
endpoint and its /api/v1/series; what Prometheus stored through its /api/v1/series.

Also: ember scrapes itself with the embedded default configuration; a reload keeps unchanged targets'
state; a target that goes away gets stale markers; failed scrapes show Prometheus's lastError."""
import base64
import gzip
import http.server
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import harness  # noqa: E402
import promwire as pw  # noqa: E402
from harness import wait_for  # noqa: E402

PROM = shutil.which("prometheus") or "/usr/bin/prometheus"
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"

APP = r'''
import sys, time, random
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, start_http_server
reg = CollectorRegistry()
req = Counter("app_requests", "Requests served.", ["method", "code"], registry=reg)
temp = Gauge("app_temperature_celsius", "Temperature per room.", ["room"], registry=reg)
lat = Histogram("app_latency_seconds", "Request latency.", ["handler"], buckets=[0.1, 0.5, 1, 5], registry=reg)
size = Summary("app_payload_bytes", "Payload sizes.", registry=reg)
start_http_server(int(sys.argv[1]), addr="127.0.0.1", registry=reg)
rnd = random.Random(7)
while True:
    req.labels("GET", "200").inc(); req.labels("POST", "500").inc(2)
    temp.labels("kitchen").set(rnd.uniform(18, 24)); temp.labels("cellar").set(rnd.uniform(8, 12))
    lat.labels("/api").observe(rnd.random()); lat.labels("/").observe(rnd.random() * 3)
    size.observe(rnd.randint(10, 5000))
    time.sleep(0.1)
'''

CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:{node}']
        labels: {{env: test}}
    relabel_configs:
      - {{source_labels: [__address__], modulus: 8, target_label: shard, action: hashmod}}
      - {{source_labels: [__address__], regex: '([^:]+):.*', target_label: host, replacement: 'h-$1'}}
    metric_relabel_configs:
      - {{source_labels: [__name__], regex: 'go_memstats_.*', action: drop}}
  - job_name: app
    static_configs:
      - targets: ['127.0.0.1:{app}', 'drop-me:1']
    relabel_configs:
      - {{source_labels: [__address__], regex: 'drop-.*', action: drop}}
      - {{regex: '__scheme__', replacement: 'scheme_copy', action: labelmap}}
"""


def free_port():
    return harness.free_port()


def wait_port(port, timeout=20):
    def up():
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    wait_for(up, timeout, what=f"port {port}")


def ember_series(e, matchers, start_ms, end_ms):
    """{labels tuple: [(t_ms, value bits)]} from ember's remote read (SAMPLES)."""
    body = pw.snappy(pw.read_request([(start_ms, end_ms, matchers, None)]))
    r = e.post("/api/v1/read", data=body, headers=pw.READ_HEADERS)
    assert r.status_code == 200, r.text
    return {ls: s for ls, s in pw.parse_read_response(pw.unsnappy(r.content))[0]}


def om_float(name, value):
    """Prometheus 3 (and ember) write le and quantile values of the text format as OpenMetrics floats
    ("1" -> "1.0"); Prometheus 2.42 keeps them as written. The one documented difference."""
    if name in ("le", "quantile") and value.lstrip("-").isdigit():
        return value + ".0"
    return value


def prom_series(url, match, start_s, end_s):
    r = harness.requests.get(url + "/api/v1/series", params={"match[]": match, "start": start_s, "end": end_s},
                             timeout=30)
    assert r.status_code == 200, r.text
    return {tuple(sorted((k, om_float(k, v)) for k, v in s.items())) for s in r.json()["data"]}


class ScrapeAgainstPrometheus(harness.TempDirTestCase):
    def start(self, argv, name):
        p = harness.Process(argv, os.path.join(self.tmp, name + ".log"))
        self.procs.append(p)
        return p

    def test_same_series_and_targets_as_prometheus(self):
        for b in (PROM, NODE_EXPORTER):
            if not os.path.exists(b):
                self.skipTest(f"{b} is not installed (tools/install-deps.sh installs it)")
        node, app = free_port(), free_port()
        self.start([NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{node}"], "node")
        app_py = os.path.join(self.tmp, "app.py")
        with open(app_py, "w") as f:
            f.write(APP)
        self.start(["/usr/bin/python3", app_py, str(app)], "app")
        wait_port(node)
        wait_port(app)
        cfg = CONFIG.format(node=node, app=app)
        cfg_path = os.path.join(self.tmp, "prom.yml")
        with open(cfg_path, "w") as f:
            f.write(cfg)
        pport = free_port()
        purl = f"http://127.0.0.1:{pport}"
        self.start([PROM, f"--config.file={cfg_path}", f"--web.listen-address=127.0.0.1:{pport}",
                    f"--storage.tsdb.path={self.tmp}/prom"], "prom")
        e = self.start_ember(config=cfg).wait_ready()
        wait_for(lambda: harness.requests.get(purl + "/-/ready", timeout=2).status_code == 200, 60,
                 what="Prometheus ready")
        t0 = time.time()

        def all_up(url):
            r = harness.requests.get(url + "/api/v1/targets", timeout=10).json()["data"]
            ts = r["activeTargets"]
            return len(ts) == 2 and all(t["health"] == "up" for t in ts) and r
        wait_for(lambda: all_up(purl), 30, what="Prometheus targets up")
        wait_for(lambda: all_up(e.url), 30, what="ember targets up")
        time.sleep(3.5)  # a few scrapes each
        start_s, end_s = int(t0) - 5, int(time.time()) + 5

        # /api/v1/targets: the same targets, labels and discovered labels; ember's keys include Prometheus's.
        pt, et = all_up(purl), all_up(e.url)
        def by_url(d):
            return {t["scrapeUrl"]: t for t in d["activeTargets"]}
        pa, ea = by_url(pt), by_url(et)
        self.assertEqual(set(pa), set(ea))
        for url in pa:
            self.assertLessEqual(set(pa[url]), set(ea[url]), "ember's target has every key Prometheus's has")
            for k in ("labels", "discoveredLabels", "scrapePool", "scrapeUrl", "health", "lastError",
                      "scrapeInterval", "scrapeTimeout"):
                self.assertEqual(pa[url][k], ea[url][k], f"{k} of {url}")
            self.assertIn("shard", ea[url]["labels"] if ea[url]["scrapePool"] == "node" else {"shard": 1})
        pd = sorted(str(sorted(t["discoveredLabels"].items())) for t in pt["droppedTargets"])
        ed = sorted(str(sorted(t["discoveredLabels"].items())) for t in et["droppedTargets"])
        self.assertEqual(pd, ed)
        self.assertEqual(len(ed), 1)
        for state, key, other in (("active", "activeTargets", "droppedTargets"),
                                  ("dropped", "droppedTargets", "activeTargets")):
            d = e.get("/api/v1/targets", params={"state": state}).json()["data"]
            self.assertTrue(d[key])
            self.assertEqual(d[other], [])

        # The stored series: names and label sets equal.
        for job in ("app", "node"):
            want = prom_series(purl, '{job="%s"}' % job, start_s, end_s)
            got = set(ember_series(e, [(pw.EQ, "job", job)], start_s * 1000, end_s * 1000))
            self.assertTrue(want)
            missing, extra = want - got, got - want
            self.assertFalse(missing or extra, f"job {job}: only in Prometheus: {sorted(missing)[:10]}, "
                                               f"only in ember: {sorted(extra)[:10]}")
            # The same through ember's own /api/v1/series, as a client of both would ask.
            self.assertEqual(prom_series(e.url, '{job="%s"}' % job, start_s, end_s), got)
        names = {dict(ls)["__name__"] for ls in ember_series(e, [(pw.EQ, "job", "app")], start_s * 1000,
                                                            end_s * 1000)}
        for n in ("app_requests_total", "app_temperature_celsius", "app_latency_seconds_bucket",
                  "app_latency_seconds_sum", "app_latency_seconds_count", "app_payload_bytes_count",
                  "app_payload_bytes_sum", "up", "scrape_duration_seconds", "scrape_samples_scraped",
                  "scrape_samples_post_metric_relabeling", "scrape_series_added"):
            self.assertIn(n, names)

        # /api/v1/targets/metadata: the same metadata for the app target.
        q = {"match_target": '{job="app"}', "metric": "app_latency_seconds"}
        pm = harness.requests.get(purl + "/api/v1/targets/metadata", params=q, timeout=10).json()["data"]
        em = e.get("/api/v1/targets/metadata", params=q).json()["data"]
        self.assertEqual(pm, em)


class ScrapeOnItsOwn(harness.TempDirTestCase):
    def test_default_config_scrapes_ember_itself(self):
        e = self.start_ember(args=["--web.enable-lifecycle"]).wait_ready()
        now = int(time.time() * 1000)
        # The embedded job scrapes every 15s at an offset within the interval: wait for the first scrape.
        wait_for(lambda: e.get("/api/v1/targets").json()["data"]["activeTargets"][0]["health"] == "up", 40,
                 what="self scrape")
        # The status is set when the page is parsed; the batch reaches the head a moment later.
        got = wait_for(lambda: ember_series(e, [(pw.EQ, "__name__", "up"), (pw.EQ, "job", "ember")], now - 60000,
                                            now + 60000), 10, what="up in storage")
        self.assertEqual(len(got), 1)
        ls, samples = next(iter(got.items()))
        self.assertEqual(dict(ls)["instance"], f"localhost:{e.port}")
        self.assertEqual(pw.bits2f(samples[-1][1]), 1.0)
        # And PromQL sees it.
        r = e.get("/api/v1/query", params={"query": 'up{job="ember"}'}).json()
        self.assertEqual(r["status"], "success", r)
        self.assertEqual([v["value"][1] for v in r["data"]["result"]], ["1"])

    def test_reload_keeps_targets_and_removed_targets_go_stale(self):
        port = free_port()
        app_py = os.path.join(self.tmp, "app.py")
        with open(app_py, "w") as f:
            f.write(APP)
        p = harness.Process(["/usr/bin/python3", app_py, str(port)], os.path.join(self.tmp, "app.log"))
        self.procs.append(p)
        wait_port(port)
        base = textwrap.dedent(f"""
            global: {{scrape_interval: 1s, scrape_timeout: 500ms}}
            scrape_configs:
              - job_name: app
                static_configs: [{{targets: ['127.0.0.1:{port}']}}]
              - job_name: gone
                static_configs: [{{targets: ['127.0.0.1:{port}']}}]
            """)
        e = self.start_ember(config=base, args=["--web.enable-lifecycle"]).wait_ready()

        def targets():
            return {t["scrapePool"]: t for t in e.get("/api/v1/targets").json()["data"]["activeTargets"]}
        wait_for(lambda: targets()["app"]["health"] == "up" and targets()["gone"]["health"] == "up", 20,
                 what="first scrapes")
        before = targets()["app"]
        # Reload: job app unchanged, job gone removed, a job with a bad port added.
        with open(e.config_path, "w") as f:
            f.write(textwrap.dedent(f"""
                global: {{scrape_interval: 1s, scrape_timeout: 500ms}}
                scrape_configs:
                  - job_name: app
                    static_configs: [{{targets: ['127.0.0.1:{port}']}}]
                  - job_name: refused
                    static_configs: [{{targets: ['127.0.0.1:1']}}]
                """))
        t_reload = int(time.time() * 1000)
        r = e.post("/-/reload")
        self.assertEqual(r.status_code, 200, r.text)
        after = targets()
        self.assertEqual(after["app"]["health"], "up", "an unchanged target keeps its state")
        self.assertGreaterEqual(after["app"]["lastScrape"], before["lastScrape"])
        self.assertNotIn("gone", after)
        wait_for(lambda: targets()["refused"]["health"] == "down", 20, what="refused target scraped")
        err = targets()["refused"]["lastError"]
        self.assertTrue(err.startswith('Get "http://127.0.0.1:1/metrics": '), err)
        # The removed target's series (its up included) end with a stale marker.
        got = ember_series(e, [(pw.EQ, "job", "gone"), (pw.EQ, "__name__", "up")], t_reload - 60000,
                           t_reload + 60000)
        self.assertEqual(len(got), 1)
        samples = next(iter(got.values()))
        self.assertEqual(samples[-1][1], pw.STALE_NAN)
        # And at shutdown every target's series go stale.
        self.assertEqual(e.stop(signal.SIGTERM), 0)


PAGE = b"# TYPE t_metric gauge\nt_metric{a=\"1\"} 1\nt_metric{a=\"2\"} 2\n"


class Target(http.server.BaseHTTPRequestHandler):
    """Paths: /plain, /basic (user:pass), /bearer (token tok), /gzip, /big (64 KiB), /slow (2 s), /bad
    (invalid exposition). Every request's headers are recorded per path."""
    seen = {}

    def log_message(self, *a):
        pass

    def do_GET(self):
        path = self.path.split("?")[0]
        Target.seen.setdefault(path, []).append(dict(self.headers))
        auth = self.headers.get("Authorization", "")
        if path == "/basic" and auth != "Basic " + base64.b64encode(b"user:pass").decode():
            return self.answer(401, b"unauthorized")
        if path == "/bearer" and auth != "Bearer tok":
            return self.answer(401, b"unauthorized")
        if path == "/slow":
            time.sleep(2)
        body = PAGE
        if path == "/big":
            body = PAGE + b"".join(b"t_big{i=\"%d\"} 1\n" % i for i in range(4000))
        if path == "/bad":
            body = b"t_metric{a=\"1\" 1\n"
        headers = {"Content-Type": "text/plain; version=0.0.4"}
        if path == "/gzip" and "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        self.answer(200, body, headers)

    def answer(self, code, body, headers=None):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # the slow and the oversized targets see ember hang up on purpose


def serve(server):
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    return server


class ScrapeClientFeatures(harness.TempDirTestCase):
    def tearDown(self):
        for srv in getattr(self, "servers", []):
            srv.shutdown()
            srv.server_close()
        super().tearDown()

    def make_cert(self):
        key, crt = os.path.join(self.tmp, "key.pem"), os.path.join(self.tmp, "crt.pem")
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                            "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", crt],
                           capture_output=True, timeout=60)
        if r.returncode != 0:
            self.skipTest("openssl cannot make a certificate: " + r.stderr.decode())
        return key, crt

    def test_auth_gzip_limits_timeouts_tls_and_headers(self):
        Target.seen = {}
        plain = serve(QuietServer(("127.0.0.1", 0), Target))
        key, crt = self.make_cert()
        tls = QuietServer(("127.0.0.1", 0), Target)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        ctx.load_verify_locations(crt)
        ctx.verify_mode = ssl.CERT_REQUIRED  # client certificates required
        tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
        serve(tls)
        self.servers = [plain, tls]
        p, q = plain.server_address[1], tls.server_address[1]
        secret = os.path.join(self.tmp, "pw")
        with open(secret, "w") as f:
            f.write("pass\n")

        def job(name, path, extra="", port=p, scheme="http"):
            if scheme == "https":  # TLS handshakes with a Python server on a busy machine take a while
                extra += "    scrape_interval: 3s\n    scrape_timeout: 3s\n"
            return (f"  - job_name: {name}\n    metrics_path: {path}\n    scheme: {scheme}\n"
                    f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n{extra}")
        cfg = "global: {scrape_interval: 1s, scrape_timeout: 500ms}\nscrape_configs:\n" + "".join([
            job("plain", "/plain"),
            job("basic", "/basic", f"    basic_auth: {{username: user, password_file: {secret}}}\n"),
            job("basic_bad", "/basic", "    basic_auth: {username: user, password: wrong}\n"),
            job("bearer", "/bearer", "    authorization: {credentials: tok}\n"),
            job("gzip", "/gzip"),
            job("big", "/big", "    body_size_limit: 10KB\n"),
            job("limited", "/plain", "    sample_limit: 1\n"),
            job("slow", "/slow"),
            job("bad", "/bad"),
            job("tls", "/tls", f"    tls_config: {{ca_file: {crt}, cert_file: {crt}, key_file: {key}}}\n",
                port=q, scheme="https"),
            job("tls_insecure", "/tls", f"    tls_config: {{insecure_skip_verify: true, cert_file: {crt}, "
                                          f"key_file: {key}}}\n", port=q, scheme="https"),
            job("tls_unknown_ca", "/tls", f"    tls_config: {{cert_file: {crt}, key_file: {key}}}\n",
                port=q, scheme="https"),
        ])
        e = self.start_ember(config=cfg).wait_ready()

        def targets():
            return {t["scrapePool"]: t for t in e.get("/api/v1/targets").json()["data"]["activeTargets"]}
        wait_for(lambda: all(t["health"] != "unknown" for t in targets().values()), 30, what="every target scraped")
        time.sleep(3.5)
        t = targets()
        for name in ("plain", "basic", "bearer", "gzip", "tls", "tls_insecure"):
            self.assertEqual((name, t[name]["health"], t[name]["lastError"]), (name, "up", ""))
        self.assertEqual(t["basic_bad"]["lastError"], "server returned HTTP status 401 Unauthorized")
        self.assertEqual(t["big"]["lastError"], "body size limit exceeded")
        self.assertEqual(t["limited"]["lastError"], "sample limit exceeded")
        self.assertEqual(t["slow"]["lastError"], f'Get "http://127.0.0.1:{p}/slow": context deadline exceeded')
        self.assertTrue(t["bad"]["lastError"].startswith("line 1: "), t["bad"]["lastError"])
        self.assertEqual(t["tls_unknown_ca"]["health"], "down")
        h = Target.seen["/plain"][0]
        self.assertTrue(h["Accept"].startswith("application/openmetrics-text;version=1.0.0"), h["Accept"])
        self.assertEqual(h["X-Prometheus-Scrape-Timeout-Seconds"], "0.5")
        self.assertIn("gzip", h.get("Accept-Encoding", ""))
        self.assertTrue(h["User-Agent"].startswith("Prometheus/"), h["User-Agent"])
        # What the gzip target served arrived decompressed and stored.
        got = ember_series(e, [(pw.EQ, "job", "gzip"), (pw.EQ, "__name__", "t_metric")], 0, int(time.time() * 1000) + 60000)
        self.assertEqual(len(got), 2)
        # Failed scrapes are counted.
        m = e.get("/metrics").text
        self.assertRegex(m, r"ember_target_scrapes_exceeded_sample_limit_total [1-9]")
        self.assertRegex(m, r"ember_target_scrapes_exceeded_body_size_limit_total [1-9]")
        self.assertRegex(m, r"ember_target_scrapes_failed_total [1-9]")


if __name__ == "__main__":
    harness.run()
