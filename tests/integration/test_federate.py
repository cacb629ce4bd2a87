#!/usr/bin/python3
"""GET /federate: ember and a real Prometheus 2.42 fed the same data by remote write serve the same page
(families, TYPE lines, labels with the external ones and instance="", values, timestamps, stale series
left out); and a real Prometheus 2.42 federating from ember stores the newest samples."""
import math
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import harness  # noqa: E402
import promwire as pw  # noqa: E402
from harness import wait_for  # noqa: E402

CFG = """global:
  scrape_interval: 1h
  external_labels:
    region: eu
    zone: z1
"""
MATCH = ['{__name__=~"fed_.*"}', 'fed_a{job="x"}', '{job="esc"}']


def L(name, **labels):
    return [("__name__", name)] + sorted(labels.items())


def make_series(now):
    old = now - 10 * 60 * 1000  # beyond the 5m lookback delta
    t = [now - 90_000 + k * 15_000 for k in range(6)]
    stale = pw.bits2f(pw.STALE_NAN)
    return [
        (L("fed_a", job="x", instance="h1"), [(ts, k * 1.5) for k, ts in enumerate(t)]),
        (L("fed_a", job="y"), [(ts, 100 + k) for k, ts in enumerate(t)]),
        (L("fed_a", job="z", zone="own"), [(t[0], 7.0)]),  # its own zone wins over the external one
        (L("fed_b", job="x"), [(t[0], 1.0), (t[1], stale)]),  # newest is a stale marker: left out
        (L("fed_b", job="w"), [(t[0], 2.0), (t[1], stale), (t[2], 3.0)]),  # back after a stale marker
        (L("fed_c", job="x", kind="nan"), [(t[0], math.nan)]),
        (L("fed_c", job="x", kind="inf"), [(t[0], math.inf)]),
        (L("fed_c", job="x", kind="ninf"), [(t[0], -math.inf)]),
        (L("fed_c", job="x", kind="small"), [(t[0], 1e-7)]),
        (L("fed_c", job="x", kind="big"), [(t[0], 123456789.123)]),
        (L("fed_c", job="x", kind="neg0"), [(t[0], -0.0)]),
        (L("fed_c", job="x", kind="exp"), [(t[0], 1.5e300)]),
        (L("fed_d", job="esc", v='a"b\\c\nd'), [(t[3], 42.0)]),
        (L("fed_old", job="x"), [(old, 1.0)]),  # too old: left out
        (L("aaa_first", job="esc"), [(t[5], 1.0)]),
    ]


def parse_page(text):
    """-> [(family name, type, sorted sample lines)] in page order."""
    fams = []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            fams.append((name, typ, []))
        elif line.startswith("#") or not line:
            continue
        else:
            assert fams, line
            fams[-1][2].append(line)
    return [(n, t, sorted(s)) for n, t, s in fams]


class FederateTest(harness.TempDirTestCase):
    def start_prometheus(self, cfg_text, *args):
        prom = shutil.which("prometheus") or "/usr/bin/prometheus"
        if not os.path.exists(prom):
            self.skipTest("Debian's prometheus is not installed (tools/install-deps.sh installs it)")
        port = harness.free_port()
        d = os.path.join(self.tmp, f"prom-{port}")
        os.makedirs(d)
        cfg = os.path.join(d, "prom.yml")
        with open(cfg, "w") as f:
            f.write(cfg_text)
        p = harness.Process([prom, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}",
                             f"--storage.tsdb.path={d}/data", *args], os.path.join(d, "prom.log"))
        self.procs.append(p)
        p.url = f"http://127.0.0.1:{port}"
        wait_for(lambda: harness.requests.get(p.url + "/-/ready", timeout=2).status_code == 200, 60,
                 what="Prometheus ready")
        return p

    def test_page_matches_prometheus_for_the_same_data(self):
        e = self.start_ember(config=CFG).wait_ready()
        p = self.start_prometheus(CFG, "--web.enable-remote-write-receiver")
        now = int(time.time() * 1000)
        body = pw.snappy(pw.write_request(make_series(now)))
        for url in (e.url, p.url):
            r = harness.requests.post(url + "/api/v1/write", data=body, headers=pw.HEADERS, timeout=30)
            self.assertEqual(r.status_code, 204, (url, r.text))
        params = [("match[]", m) for m in MATCH]
        got = e.get("/federate", params=params)
        want = harness.requests.get(p.url + "/federate", params=params, timeout=30)
        self.assertEqual(got.status_code, 200, got.text)
        self.assertEqual(want.status_code, 200)
        self.assertEqual(got.headers["Content-Type"], want.headers["Content-Type"])
        gp, wp = parse_page(got.text), parse_page(want.text)
        self.assertEqual(gp, wp, f"\nember:\n{got.text}\nprometheus:\n{want.text}")
        names = [n for n, _, _ in gp]
        self.assertEqual(names, ["aaa_first", "fed_a", "fed_b", "fed_c", "fed_d"])
        self.assertIn('fed_a{job="y",instance="",region="eu",zone="z1"} 105', got.text)
        self.assertNotIn('job="x"} 1 ', got.text)  # fed_b{job="x"} is stale
        self.assertTrue(got.text.endswith("\n"))
        # Without match[]: an empty page, as Prometheus serves it.
        self.assertEqual(e.get("/federate").text, harness.requests.get(p.url + "/federate", timeout=10).text)
        # A selector that does not parse: 400, as from Prometheus.
        bad = e.get("/federate", params={"match[]": "fed_a{"})
        self.assertEqual(bad.status_code, 400)
        self.assertEqual(harness.requests.get(p.url + "/federate", params={"match[]": "fed_a{"}, timeout=10).status_code,
                         400)

    def test_prometheus_federates_from_ember(self):
        e = self.start_ember(config=CFG).wait_ready()
        now = int(time.time() * 1000)
        series = make_series(now)
        r = e.post("/api/v1/write", data=pw.snappy(pw.write_request(series)), headers=pw.HEADERS)
        self.assertEqual(r.status_code, 204, r.text)
        p = self.start_prometheus(f"""global:
  scrape_interval: 1s
scrape_configs:
  - job_name: federate
    honor_labels: true
    metrics_path: /federate
    params:
      'match[]': ['{{__name__=~"fed_.*"}}']
    static_configs:
      - targets: ['127.0.0.1:{e.port}']
""")

        def query(expr):
            r = harness.requests.get(p.url + "/api/v1/query", params={"query": expr}, timeout=10)
            return r.json()["data"]["result"]

        wait_for(lambda: query('up{job="federate"} == 1'), 30, what="Prometheus to scrape ember's /federate")
        wait_for(lambda: query("fed_a"), 30, what="federated samples")
        got = {tuple(sorted(s["metric"].items())): (s["value"][0], s["value"][1]) for s in query('{__name__=~"fed_.*"}')}
        # Expected: each non-stale series' newest sample, with ember's external labels and no instance.
        want = {}
        for labels, samples in series:
            d = dict(labels)
            t, v = samples[-1]
            if not d["__name__"].startswith("fed_") or now - t > 300_000 or pw.f2bits(v) == pw.STALE_NAN:
                continue
            d.setdefault("region", "eu")
            d.setdefault("zone", "z1")
            want[tuple(sorted(d.items()))] = v
        self.assertEqual(set(got), set(want))
        for k, v in want.items():
            g = float(got[k][1])
            self.assertTrue(g == v or (math.isnan(g) and math.isnan(v)), (k, g, v))
        # The samples keep ember's timestamps (honor_timestamps): the value at an older time is there too.
        t = series[0][1][-1][0]
        r = harness.requests.get(p.url + "/api/v1/query", params={"query": 'fed_a{job="x"}', "time": t / 1000},
                                 timeout=10).json()["data"]["result"]
        self.assertEqual(float(r[0]["value"][1]), series[0][1][-1][1])
        self.assertFalse(re.search("federation failed", e.output()))


if __name__ == "__main__":
    harness.run()
