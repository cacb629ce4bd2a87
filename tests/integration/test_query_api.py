#!/usr/bin/python3
"""The query HTTP API (/api/v1/query, query_range, series, labels, label/<name>/values, format_query,
query_exemplars) compared with a real Prometheus 2.42 fed the same samples by remote write: the same JSON
for the same requests, including errors, except where Prometheus 3 differs from 2.42 (then the test
says so and checks Prometheus 3's answer)."""
import math
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import harness  # noqa: E402
import promwire  # noqa: E402
from harness import wait_for  # noqa: E402

STEP_MS = 15000
N_SAMPLES = 121  # 30 minutes at 15 s


def L(name, **labels):
    return [("__name__", name)] + sorted(labels.items())


def dataset(t0):
    """Counters, gauges and classic histogram buckets; timestamps t0 + k*15s."""
    series = []
    for job in ("api", "web"):
        for inst in range(3):
            for code in ("200", "500"):
                rate = (inst + 1) * (10 if code == "200" else 1) * (2 if job == "api" else 1)
                samples = [(t0 + k * STEP_MS, float(rate * k)) for k in range(N_SAMPLES)]
                series.append((L("http_requests_total", job=job, instance=f"i{inst}", code=code), samples))
    for room, base in (("kitchen", 21.5), ("hall", 18.25), ("cellar", 12.0)):
        samples = [(t0 + k * STEP_MS, base + math.sin(k / 7.0) * 2) for k in range(N_SAMPLES)]
        series.append((L("temperature_celsius", room=room, site="home"), samples))
    bounds = ["0.1", "0.5", "1", "+Inf"]
    for i, le in enumerate(bounds):
        samples = [(t0 + k * STEP_MS, float(k * (i + 1) * 3)) for k in range(N_SAMPLES)]
        series.append((L("req_duration_seconds_bucket", job="api", le=le), samples))
    return series


def push(url, series):
    body = promwire.snappy(promwire.write_request(series))
    r = harness.requests.post(url + "/api/v1/write", data=body, headers=promwire.HEADERS, timeout=30)
    assert r.status_code in (200, 204), (url, r.status_code, r.text)


def close(a, b):
    if a == b:
        return True
    try:
        fa, fb = float(a), float(b)
    except ValueError:
        return False
    if math.isnan(fa) and math.isnan(fb):
        return True
    return abs(fa - fb) <= 1e-9 * max(1.0, abs(fa), abs(fb))


def same_points(pa, pb):
    return len(pa) == len(pb) and all(x[0] == y[0] and close(x[1], y[1]) for x, y in zip(pa, pb))


def key(s):
    return tuple(sorted(s["metric"].items()))


class QueryAPITest(harness.TempDirTestCase):
    @classmethod
    def setUpClass(cls):
        cls.prom_bin = shutil.which("prometheus") or "/usr/bin/prometheus"

    def start_pair(self):
        if not os.path.exists(self.prom_bin):
            self.skipTest("Debian's prometheus is not installed (tools/install-deps.sh installs it)")
        e = self.start_ember(config=harness.NO_SCRAPE).wait_ready()
        pport = harness.free_port()
        cfg = os.path.join(self.tmp, "prom.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1h\n")
        p = harness.Process([self.prom_bin, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{pport}",
                             f"--storage.tsdb.path={self.tmp}/prom", "--web.enable-remote-write-receiver"],
                            os.path.join(self.tmp, "prom.log"))
        self.procs.append(p)
        purl = f"http://127.0.0.1:{pport}"
        wait_for(lambda: harness.requests.get(purl + "/-/ready", timeout=2).status_code == 200, 60,
                 what="Prometheus ready")
        # Minute-aligned start, then a 7.5 s offset for query times, so no range boundary falls exactly
        # on a sample (Prometheus 3's left-open ranges would differ from 2.42's there).
        t0 = (int(time.time() * 1000) // 60000) * 60000 - 40 * 60000
        data = dataset(t0)
        push(e.url, data)
        push(purl, data)
        return e, purl, t0

    def both(self, e, purl, path, params, method="GET"):
        if method == "GET":
            a = e.get(path, params=params)
            b = harness.requests.get(purl + path, params=params, timeout=30)
        else:
            a = e.post(path, data=params)
            b = harness.requests.post(purl + path, data=params, timeout=30)
        return a, b

    def assert_same_result(self, e, purl, path, params, method="GET"):
        a, b = self.both(e, purl, path, params, method)
        ja, jb = a.json(), b.json()
        ctx = f"{path} {params}\nember: {a.text[:800]}\nprom:  {b.text[:800]}"
        self.assertEqual(a.status_code, b.status_code, ctx)
        self.assertEqual(ja["status"], jb["status"], ctx)
        if ja["status"] != "success":
            self.assertEqual(ja, jb, ctx)
            return ja
        da, db = ja["data"], jb["data"]
        self.assertEqual(da["resultType"], db["resultType"], ctx)
        rt = da["resultType"]
        if rt in ("scalar", "string"):
            self.assertEqual(da["result"][0], db["result"][0], ctx)
            self.assertTrue(close(da["result"][1], db["result"][1]), ctx)
        else:
            ra = sorted(da["result"], key=key)
            rb = sorted(db["result"], key=key)
            self.assertEqual([s["metric"] for s in ra], [s["metric"] for s in rb], ctx)
            for sa, sb in zip(ra, rb):
                pa = [sa["value"]] if rt == "vector" else sa["values"]
                pb = [sb["value"]] if rt == "vector" else sb["values"]
                self.assertTrue(same_points(pa, pb), ctx)
        return ja

    def test_queries_match_prometheus(self):
        e, purl, t0 = self.start_pair()
        t = (t0 + 25 * 60000 + 7500) / 1000.0
        instant = [
            "http_requests_total",
            'http_requests_total{job="api",code="500"}',
            "sum by (job) (rate(http_requests_total[5m]))",
            "sum(rate(http_requests_total[5m])) by (job, code)",
            "topk(2, rate(http_requests_total[5m]))",
            "max_over_time(temperature_celsius[10m])",
            "avg(temperature_celsius)",
            "count(http_requests_total) by (instance)",
            "histogram_quantile(0.9, sum by (le) (rate(req_duration_seconds_bucket[5m])))",
            "http_requests_total offset 5m",
            "rate(http_requests_total[5m]) / on (job, instance) group_left sum by (job, instance) "
            "(rate(http_requests_total[5m]))",
            'temperature_celsius > bool 20',
            "1 + 2 * 3",
            "time()",
            '"a string"',
            "http_requests_total[1m]",
            "-temperature_celsius",
            "absent(nonexistent_metric)",
            "nonexistent_metric",
        ]
        for q in instant:
            self.assert_same_result(e, purl, "/api/v1/query", {"query": q, "time": t})
            self.assert_same_result(e, purl, "/api/v1/query", {"query": q, "time": t}, method="POST")
        start, end = (t0 + 5 * 60000 + 7500) / 1000.0, (t0 + 30 * 60000 + 7500) / 1000.0
        for q in instant[:13]:
            for step in ("60", "1m30s", "30s"):
                self.assert_same_result(e, purl, "/api/v1/query_range",
                                        {"query": q, "start": start, "end": end, "step": step})
        # RFC 3339 times
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(t))) + ".500Z"
        self.assert_same_result(e, purl, "/api/v1/query", {"query": "temperature_celsius", "time": iso})

    def test_parameter_errors_match_prometheus(self):
        e, purl, t0 = self.start_pair()
        cases = [
            ("/api/v1/query", {"query": "sum(", "time": "100"}),
            ("/api/v1/query", {"query": "foo bar"}),
            ("/api/v1/query", {"query": "1 +"}),
            ("/api/v1/query", {"query": "rate(x)"}),
            ("/api/v1/query", {"query": "up", "timeout": "soon"}),
            ("/api/v1/query_range", {"query": "up", "start": "10", "end": "5", "step": "1"}),
            ("/api/v1/query_range", {"query": "up", "start": "0", "end": "100000", "step": "1"}),
            ("/api/v1/query_range", {"query": "up", "start": "0", "end": "10", "step": "0"}),
            ("/api/v1/query_range", {"query": "up", "start": "0", "end": "10", "step": "x"}),
            ("/api/v1/query_range", {"query": "up", "end": "10", "step": "1"}),
            ("/api/v1/series", {}),
            ("/api/v1/series", {"match[]": "{}"}),
            ("/api/v1/series", {"match[]": "up{"}),
            ("/api/v1/labels", {"match[]": '{a=""}'}),
            ("/api/v1/labels", {"match[]": "rate(x[5m])"}),
            ("/api/v1/format_query", {"query": "sum by (a (x)"}),
        ]
        for path, params in cases:
            a, b = self.both(e, purl, path, params)
            self.assertEqual((a.status_code, a.json()), (b.status_code, b.json()), f"{path} {params}")

    def test_prometheus3_differences(self):
        """Where Prometheus 3 answers differently from 2.42, ember answers as 3 does."""
        e = self.start_ember().wait_ready()
        st, j = e.api("/api/v1/query_range", query="x[5m]", start="0", end="10", step="5")
        self.assertEqual(st, 400)
        self.assertEqual(j["error"], 'invalid parameter "query": invalid expression type "range vector" for range '
                         'query, must be Scalar or instant Vector')
        st, j = e.api("/api/v1/format_query", query="5m + x offset 1.5")
        self.assertEqual((st, j["data"]), (200, "5m + x offset 1s500ms"), "durations are numbers in v3")
        # 2.42 capitalises "Invalid time value".
        st, j = e.api("/api/v1/query", query="up", time="yesterday")
        self.assertEqual((st, j["error"]), (400, 'invalid parameter "time": invalid time value for \'time\': cannot '
                                                 'parse "yesterday" to a valid timestamp'))
        st, j = e.api("/api/v1/series", **{"match[]": "up", "start": "x"})
        self.assertEqual((st, j["error"]), (400, 'invalid parameter "start": invalid time value for \'start\': cannot '
                                                 'parse "x" to a valid timestamp'))
        st, j = e.api("/api/v1/query", query="1", limit="-1")
        self.assertEqual((st, j["error"]), (400, 'invalid parameter "limit": limit must be non-negative'))

    def test_stats_match_prometheus(self):
        """stats=all: Prometheus's timings and samples members. totalQueryableSamples counts each sample
        once per step that uses it; peakSamples, the most samples held at once (what --query.max-samples
        limits), is Prometheus's exactly for selectors, range functions and subqueries, and within a few
        percent where operators combine results (Prometheus also counts some per-step vectors)."""
        e, purl, t0 = self.start_pair()
        t = (t0 + 25 * 60000 + 7500) / 1000.0
        start, end = t - 600, t
        exact, close_peak = True, False
        cases = [
            ("/api/v1/query", {"query": "http_requests_total", "time": t}, exact),
            ("/api/v1/query", {"query": "rate(http_requests_total[5m])", "time": t}, exact),
            ("/api/v1/query", {"query": "sum by (job) (rate(http_requests_total[5m]))", "time": t}, exact),
            ("/api/v1/query", {"query": "temperature_celsius[2m]", "time": t}, exact),
            ("/api/v1/query", {"query": "max_over_time(rate(http_requests_total[2m])[10m:1m])", "time": t}, exact),
            ("/api/v1/query_range", {"query": "temperature_celsius", "start": start, "end": end, "step": "60"},
             exact),
            ("/api/v1/query_range", {"query": "max_over_time(temperature_celsius[1m])", "start": start, "end": end,
                                     "step": "30"}, exact),
            ("/api/v1/query_range", {"query": "sum by (job) (rate(http_requests_total[5m]))", "start": start,
                                     "end": end, "step": "30"}, close_peak),
            ("/api/v1/query_range", {"query": "rate(http_requests_total[5m]) / on (job, instance) group_left sum by "
                                              "(job, instance) (rate(http_requests_total[5m]))", "start": start,
                                     "end": end, "step": "60"}, close_peak),
        ]
        for path, params, peak_exact in cases:
            params = dict(params, stats="all")
            a, b = self.both(e, purl, path, params)
            sa, sb = a.json()["data"]["stats"], b.json()["data"]["stats"]
            ctx = f"{params['query']}: ember {sa}, Prometheus {sb}"
            self.assertEqual(sorted(sa["timings"]), sorted(sb["timings"]), ctx)
            self.assertTrue(all(v >= 0 for v in sa["timings"].values()), ctx)
            self.assertEqual(sa["samples"]["totalQueryableSamples"], sb["samples"]["totalQueryableSamples"], ctx)
            pa, pb = sa["samples"]["peakSamples"], sb["samples"]["peakSamples"]
            if peak_exact:
                self.assertEqual(pa, pb, ctx)
            else:
                self.assertLess(abs(pa - pb), 0.1 * pb, ctx)
        # Without the parameter there is no stats member, as in Prometheus.
        st, j = e.api("/api/v1/query", query="http_requests_total", time=str(t))
        self.assertNotIn("stats", j["data"])

    def test_max_samples_counts_what_is_held_at_once(self):
        """--query.max-samples limits the samples held at once, as Prometheus counts them: with a limit of
        100, 12 series selected at one step fit, 12 series x 11 steps do not, and neither do two
        selectors of 60 samples each that are held together."""
        e = self.start_ember(config=harness.NO_SCRAPE, args=["--query.max-samples=100"]).wait_ready()
        t0 = (int(time.time() * 1000) // 60000) * 60000 - 40 * 60000
        push(e.url, dataset(t0))
        t = (t0 + 25 * 60000 + 7500) / 1000.0
        st, j = e.api("/api/v1/query", query="http_requests_total", time=str(t))
        self.assertEqual(st, 200, j)
        too_many = "query processing would load too many samples into memory in query execution"
        st, j = e.api("/api/v1/query_range", query="http_requests_total", start=str(t - 600), end=str(t), step="60")
        self.assertEqual((st, j.get("errorType"), j.get("error")), (422, "execution", too_many))
        # 6 series x 10 steps = 60 each side: each fits alone, both together do not.
        q = 'http_requests_total{job="api"}'
        st, j = e.api("/api/v1/query_range", query=q, start=str(t - 540), end=str(t), step="60")
        self.assertEqual(st, 200, j)
        st, j = e.api("/api/v1/query_range", query=f"{q} + {q}", start=str(t - 540), end=str(t), step="60")
        self.assertEqual((st, j.get("error")), (422, too_many))

    def test_lookback_delta_parameter(self):
        """Prometheus's per-query lookback_delta (2.43+, absent from 2.42): the instant selector looks back
        that far instead of --query.lookback-delta; 0 or negative keeps the server's."""
        e = self.start_ember().wait_ready()
        t0 = (int(time.time() * 1000) // 60000) * 60000 - 40 * 60000
        push(e.url, dataset(t0))
        last = t0 + (N_SAMPLES - 1) * STEP_MS
        t = (last + 20000) / 1000.0  # 20 s after the newest sample

        def rooms(**extra):
            st, j = e.api("/api/v1/query", query="temperature_celsius", time=str(t), **extra)
            self.assertEqual(st, 200, j)
            return sorted(s["metric"]["room"] for s in j["data"]["result"])

        self.assertEqual(rooms(), ["cellar", "hall", "kitchen"])
        self.assertEqual(rooms(lookback_delta="10s"), [])
        self.assertEqual(rooms(lookback_delta="30"), ["cellar", "hall", "kitchen"])
        self.assertEqual(rooms(lookback_delta="0"), ["cellar", "hall", "kitchen"])
        # Ranges too: each step looks back 10 s only, so only steps within 10 s of a sample have a value.
        st, j = e.api("/api/v1/query_range", method="POST", query='temperature_celsius{room="hall"}',
                      start=str(last / 1000.0 - 60), end=str(t), step="5", lookback_delta="10s")
        self.assertEqual(st, 200, j)
        ts = [p[0] for p in j["data"]["result"][0]["values"]]
        self.assertTrue(ts and all((x * 1000 - t0) % STEP_MS < 10000 for x in ts), ts)
        self.assertNotIn(t, ts)
        st, j = e.api("/api/v1/query", query="up", lookback_delta="soon")
        self.assertEqual((st, j["errorType"], j["error"]),
                         (400, "bad_data", 'error parsing lookback delta duration: cannot parse "soon" to a valid '
                                           'duration'))

    def test_series_and_labels_match_prometheus(self):
        e, purl, t0 = self.start_pair()
        cases = [
            ("/api/v1/series", {"match[]": "http_requests_total"}),
            ("/api/v1/series", {"match[]": ['temperature_celsius{room!="hall"}', 'http_requests_total{code="500"}']}),
            ("/api/v1/series", {"match[]": ["temperature_celsius", "temperature_celsius"]}),
            ("/api/v1/series", {"match[]": '{__name__=~"temp.*"}'}),
            ("/api/v1/labels", {}),
            ("/api/v1/labels", {"match[]": "temperature_celsius"}),
            ("/api/v1/labels", {"match[]": ["temperature_celsius", "req_duration_seconds_bucket"]}),
            ("/api/v1/label/job/values", {}),
            ("/api/v1/label/__name__/values", {}),
            ("/api/v1/label/room/values", {"match[]": 'temperature_celsius{room=~"k.*|h.*"}'}),
            ("/api/v1/label/instance/values", {"match[]": ['http_requests_total{instance="i0"}',
                                                           'http_requests_total{instance="i2"}']}),
            ("/api/v1/label/nonexistent/values", {}),
            ("/api/v1/series", {"match[]": "http_requests_total", "start": str(t0 / 1000 - 7200),
                                "end": str(t0 / 1000 - 3600)}),
        ]
        for path, params in cases:
            for method in ("GET", "POST"):
                if method == "POST" and "/label/" in path:
                    continue
                a, b = self.both(e, purl, path, params, method)
                ja, jb = a.json(), b.json()
                ctx = f"{method} {path} {params}\nember: {a.text[:500]}\nprom: {b.text[:500]}"
                self.assertEqual(a.status_code, b.status_code, ctx)
                if path == "/api/v1/series":
                    ja["data"] = sorted(ja["data"], key=lambda m: sorted(m.items()))
                    jb["data"] = sorted(jb["data"], key=lambda m: sorted(m.items()))
                self.assertEqual(ja, jb, ctx)
        # Quoted UTF-8 names in match[] (Prometheus 3; 2.42 cannot parse them).
        st, j = e.api("/api/v1/series", **{"match[]": '{"odd.metric.name", "service.name"="x"}'})
        self.assertEqual((st, j["data"]), (200, []))
        st, j = e.api("/api/v1/label/service.name/values")
        self.assertEqual((st, j["data"]), (200, []))
        # "U__" escaped label names (Prometheus 3's model.UnescapeName): _62_ is 'b', __ is '_'.
        st, j = e.api("/api/v1/label/U__jo_62_/values")
        self.assertEqual((st, j["data"]), (200, ["api", "web"]))
        st, j = e.api("/api/v1/label/U______name____/values", **{"match[]": "temperature_celsius"})
        self.assertEqual((st, j["data"]), (200, ["temperature_celsius"]))
        # limit: the first N, with Prometheus 3's warning (2.42 has no limit parameter).
        st, j = e.api("/api/v1/label/instance/values", limit="2")
        self.assertEqual((st, j["data"], j["warnings"]), (200, ["i0", "i1"], ["results truncated due to limit"]))
        st, j = e.api("/api/v1/series", **{"match[]": "temperature_celsius", "limit": "3"})
        self.assertEqual(len(j["data"]), 3)
        self.assertNotIn("warnings", j, "exactly the limit is not truncated")
        st, j = e.api("/api/v1/query", query="http_requests_total", limit="5", time=str(t0 / 1000 + 600))
        self.assertEqual(len(j["data"]["result"]), 5)
        self.assertEqual(j["warnings"], ["results truncated due to limit"])

    def test_format_query_and_exemplars_match_prometheus(self):
        e, purl, t0 = self.start_pair()
        for q in ["sum(rate(x[5m]))by(job)", "a+on(b)group_left(c)d", "foo{b=\"1\",a=~\"x\"} offset 5m",
                  "-(1)", "topk(3,  x)  > bool 1",
                  "sum by (job) (rate(http_requests_total{job=\"apiserver\",code=~\"5..\"}[5m])) / sum by (job) "
                  "(rate(http_requests_total{job=\"apiserver\"}[5m]))"]:
            for method in ("GET", "POST"):
                a, b = self.both(e, purl, "/api/v1/format_query", {"query": q}, method)
                self.assertEqual((a.status_code, a.json()), (b.status_code, b.json()), q)
        a, b = self.both(e, purl, "/api/v1/query_exemplars", {"query": "http_requests_total"})
        self.assertEqual(a.json(), b.json())

    def test_deferred_queries_run_concurrently_with_correct_answers(self):
        import concurrent.futures
        e = self.start_ember().wait_ready()
        now = int(time.time() * 1000)
        push(e.url, [(L("conc", i=str(i)), [(now, float(i))]) for i in range(50)])

        def one(i):
            return e.api("/api/v1/query", query=f'conc{{i="{i}"}} * 2', time=str(now / 1000))

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            for i, (st, j) in enumerate(ex.map(one, range(50))):
                self.assertEqual(st, 200)
                self.assertEqual(j["data"]["result"][0]["value"][1], str(i * 2))


if __name__ == "__main__":
    harness.run()
