#!/usr/bin/python3
"""POST /api/v1/read: data written by remote write comes back exactly (stale markers bit for bit) through
both response types, with every matcher type, time ranges, external labels, the sample limit and the
frame size limit; and a real Prometheus 2.42 with remote_read pointed at ember answers PromQL over it."""
import math
import re
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import harness  # noqa: E402
import promwire as pw  # noqa: E402
from harness import wait_for  # noqa: E402

NOW = (int(time.time()) // 60) * 60 * 1000  # a whole minute, so PromQL steps land on round times
START = NOW - 20 * 60 * 1000  # inside what the head accepts
STEP = 1000


def L(name, **labels):
    return tuple([("__name__", name)] + sorted(labels.items()))


def make_data():
    """{labels: [(t_ms, value)]}, with a stale marker, NaN and infinities among ordinary values."""
    data = {}
    for job, inst, n in (("a", "i1", 300), ("b", "i2", 300), ("a", "i3", 40)):
        samples = [(START + k * STEP, k * 0.5 + (1 if job == "b" else 0)) for k in range(n)]
        data[L("rr_metric", job=job, instance=inst)] = samples
    odd = [(START + k * 7000, float(k)) for k in range(100)]
    odd[10] = (odd[10][0], math.inf)
    odd[11] = (odd[11][0], -math.inf)
    odd[12] = (odd[12][0], math.nan)
    odd[50] = (odd[50][0], pw.bits2f(pw.STALE_NAN))
    data[L("rr_odd", job="a", instance="i1")] = odd
    for i in range(20):
        data[L("rr_many", job="m", i=f"{i:02d}")] = [(START + k * 10000, float(i * 1000 + k)) for k in range(50)]
    return data


def bits(samples):
    return [(t, pw.f2bits(v)) for t, v in samples]


def write_all(e, data):
    series = [(list(ls), samples) for ls, samples in data.items()]
    r = e.post("/api/v1/write", data=pw.snappy(pw.write_request(series)), headers=pw.HEADERS)
    assert r.status_code == 204, r.text


def match(ls, matchers):
    import re
    d = dict(ls)
    for typ, name, value in matchers:
        v = d.get(name, "")
        ok = {pw.EQ: v == value, pw.NEQ: v != value, pw.RE: re.fullmatch(value, v) is not None,
              pw.NRE: re.fullmatch(value, v) is None}[typ]
        if not ok:
            return False
    return True


def expected(data, matchers, start, end, ext=()):
    out = {}
    for ls, samples in data.items():
        if not match(ls, matchers):
            continue
        s = [(t, b) for t, b in bits(samples) if start <= t <= end]
        if s:
            merged = dict(ext)
            merged.update(dict(ls))
            out[tuple(sorted(merged.items()))] = s
    return out


def read(e, queries, accepted=(), raw=None):
    body = raw if raw is not None else pw.snappy(pw.read_request(queries, accepted))
    return e.post("/api/v1/read", data=body, headers=pw.READ_HEADERS)


def samples_answer(r):
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["Content-Type"] == "application/x-protobuf"
    assert r.headers["Content-Encoding"] == "snappy"
    return [{ls: s for ls, s in q} for q in pw.parse_read_response(pw.unsnappy(r.content))]


def chunks_answer(r, start, end, max_frame=1 << 20):
    """Decode every frame and chunk; returns [{labels: samples in [start, end]}] per query index."""
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["Content-Type"] == pw.CHUNKED_CONTENT_TYPE
    assert "Content-Encoding" not in r.headers
    results = {}
    last = None
    for qi, ls, chunks, msg_len in pw.parse_frames(r.content):
        assert msg_len <= max_frame, (msg_len, max_frame)
        key = (qi, ls)
        if last != key:
            assert key not in results.get(qi, {}), "a series' frames must be consecutive"
        last = key
        got = results.setdefault(qi, {}).setdefault(ls, [])
        for mint, maxt, typ, data in chunks:
            assert typ == 1, "XOR"
            decoded = pw.xor_decode(data)
            assert decoded[0][0] == mint and decoded[-1][0] == maxt, "chunk time bounds"
            got += decoded
    out = []
    for qi in range(max(results) + 1 if results else 0):
        out.append({ls: [(t, b) for t, b in s if start <= t <= end] for ls, s in results.get(qi, {}).items()})
    for q in out:
        for ls in list(q):
            if not q[ls]:
                del q[ls]
    return out


QUERIES = [
    ([(pw.EQ, "__name__", "rr_metric")], START, NOW),
    ([(pw.EQ, "__name__", "rr_metric"), (pw.NEQ, "job", "b")], START, NOW),
    ([(pw.RE, "__name__", "rr_(metric|odd)"), (pw.EQ, "instance", "i1")], START + 30_000, START + 200_000),
    ([(pw.RE, "__name__", "rr_.*"), (pw.NRE, "job", "a|m")], START, START + 5_000),
    ([(pw.EQ, "__name__", "rr_odd")], START, NOW),
    ([(pw.EQ, "__name__", "rr_many"), (pw.RE, "i", "0[0-4]")], START + 100_000, START + 300_000),
    ([(pw.EQ, "__name__", "nothing_here")], START, NOW),
    ([(pw.EQ, "__name__", "rr_metric")], NOW + 60_000, NOW + 120_000),
]


class RemoteReadTest(harness.TempDirTestCase):
    def test_both_response_types_return_exactly_what_was_written(self):
        e = self.start_ember(config=harness.NO_SCRAPE).wait_ready()
        data = make_data()
        write_all(e, data)
        queries = [(start, end, ms, None) for ms, start, end in QUERIES]
        want = [expected(data, ms, start, end) for ms, start, end in QUERIES]
        self.assertTrue(any(pw.STALE_NAN in [b for _, b in s] for w in want for s in w.values()),
                        "the stale marker is among the expected samples")
        got = samples_answer(read(e, queries))
        self.assertEqual(got, want)
        got = chunks_answer(read(e, queries, [pw.STREAMED_XOR_CHUNKS]), 0, 2**62)
        # Chunks may hold samples outside a query's range: trim per query as a client does.
        trimmed = []
        for (ms, start, end), q in zip(QUERIES, got + [{}] * (len(QUERIES) - len(got))):
            trimmed.append({ls: [(t, b) for t, b in s if start <= t <= end] for ls, s in q.items()})
            trimmed[-1] = {ls: s for ls, s in trimmed[-1].items() if s}
        self.assertEqual(trimmed, want)
        # Hints change nothing; the first implemented accepted type wins; SAMPLES when none is listed.
        hinted = [(start, end, ms, {"step_ms": 1000, "func": "rate", "start_ms": start, "end_ms": end,
                                    "range_ms": 60000, "grouping": ["job"], "by": True})
                  for ms, start, end in QUERIES]
        self.assertEqual(samples_answer(read(e, hinted, [7, pw.SAMPLES, pw.STREAMED_XOR_CHUNKS])), want)

    def test_errors_have_prometheus_status_codes_and_texts(self):
        e = self.start_ember(config=harness.NO_SCRAPE).wait_ready()
        write_all(e, make_data())
        q = [(START, NOW, [(pw.EQ, "__name__", "rr_metric")], None)]
        r = read(e, q, [5, 9])
        self.assertEqual(r.status_code, 400)
        self.assertIn("server does not support any of the requested response types: [5 9]", r.text)
        self.assertTrue(r.text.endswith("\n"))
        r = read(e, None, raw=b"\xff\xff\xff\xff garbage")
        self.assertEqual(r.status_code, 400, r.text)
        r = read(e, [(START, NOW, [(pw.RE, "__name__", "rr_(")], None)])
        self.assertEqual(r.status_code, 500, r.text)
        self.assertIn("error parsing regexp", r.text)
        self.assertEqual(e.get("/api/v1/read").status_code, 405)
        self.assertTrue(e.alive())

    def test_sample_limit_applies_to_samples_per_query_not_to_streams(self):
        e = self.start_ember(config=harness.NO_SCRAPE, args=["--storage.remote.read-sample-limit=250"]).wait_ready()
        data = make_data()
        write_all(e, data)
        big = [(START, NOW, [(pw.EQ, "__name__", "rr_metric"), (pw.EQ, "job", "b")], None)]  # 300 samples
        r = read(e, big)
        self.assertEqual(r.status_code, 400)
        self.assertEqual(r.text, "exceeded sample limit (250)\n")
        # The limit counts one query: two queries of 200 samples each pass.
        small = [(START, START + 199_000, [(pw.EQ, "__name__", "rr_metric"), (pw.EQ, "job", "b")], None)] * 2
        got = samples_answer(read(e, small))
        self.assertEqual([sum(len(s) for s in q.values()) for q in got], [200, 200])
        got = chunks_answer(read(e, big, [pw.STREAMED_XOR_CHUNKS]), START, NOW)
        self.assertEqual(got, [expected(data, big[0][2], START, NOW)])

    def test_frames_respect_max_bytes_in_frame(self):
        e = self.start_ember(config=harness.NO_SCRAPE, args=["--storage.remote.read-max-bytes-in-frame=400"]).wait_ready()
        data = make_data()
        write_all(e, data)
        q = [(START, NOW, [(pw.RE, "__name__", "rr_.*")], None)]
        r = read(e, q, [pw.STREAMED_XOR_CHUNKS])
        frames = pw.parse_frames(r.content)
        per_series = {}
        for _, ls, chunks, n in frames:
            per_series[ls] = per_series.get(ls, 0) + 1
            self.assertTrue(n <= 400 or len(chunks) == 1, f"frame of {n} bytes with {len(chunks)} chunks")
        self.assertGreater(per_series[L("rr_metric", job="a", instance="i1")], 1, "a long series is split")
        self.assertEqual(chunks_answer(r, START, NOW, max_frame=1 << 20), [expected(data, q[0][2], START, NOW)])
        # Series in label order, as the streamed protocol requires.
        order = []
        for _, ls, _, _ in frames:
            if not order or order[-1] != ls:
                order.append(ls)
        self.assertEqual(order, sorted(order))

    def test_external_labels_are_added_and_matched(self):
        cfg = "global:\n  external_labels:\n    region: eu\n    job: ext\n"
        e = self.start_ember(config=cfg).wait_ready()
        data = make_data()
        write_all(e, data)
        ext = (("region", "eu"), ("job", "ext"))
        base = [(pw.EQ, "__name__", "rr_odd")]
        got = samples_answer(read(e, [(START, NOW, base, None),
                                      (START, NOW, base + [(pw.EQ, "region", "eu")], None),
                                      (START, NOW, base + [(pw.EQ, "region", "us")], None)]))
        want = expected(data, base, START, NOW, ext)
        self.assertIn((("__name__", "rr_odd"), ("instance", "i1"), ("job", "a"), ("region", "eu")), want,
                      "the series' own job label wins over the external one")
        self.assertEqual(got, [want, want, {}])
        got = chunks_answer(read(e, [(START, NOW, base + [(pw.EQ, "region", "eu")], None)],
                                 [pw.STREAMED_XOR_CHUNKS]), START, NOW)
        self.assertEqual(got, [want])

    def test_large_streamed_answer_arrives_whole_over_http1_and_http2_and_survives_a_gone_client(self):
        import random
        import socket
        import subprocess
        rnd = random.Random(42)
        e = self.start_ember(config=harness.NO_SCRAPE).wait_ready()
        data = {L("rr_big", i=f"{i:04d}", job="big"): [(START + k * 15000, rnd.uniform(-1e6, 1e6)) for k in range(60)]
                for i in range(1000)}
        write_all(e, data)
        q = [(START, NOW, [(pw.EQ, "__name__", "rr_big")], None)]
        body = pw.snappy(pw.read_request(q, [pw.STREAMED_XOR_CHUNKS]))
        r = read(e, q, [pw.STREAMED_XOR_CHUNKS])
        self.assertGreater(len(r.content), 512 << 10, "larger than one streamed piece")
        self.assertEqual(r.headers.get("Transfer-Encoding"), "chunked", "streamed, not buffered")
        want = [expected(data, q[0][2], START, NOW)]
        self.assertEqual(chunks_answer(r, START, NOW), want)
        path = os.path.join(self.tmp, "req.bin")
        with open(path, "wb") as f:
            f.write(body)
        out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "-", "--data-binary", "@" + path,
                              "-H", "Content-Encoding: snappy", "-H", "Content-Type: application/x-protobuf",
                              e.url + "/api/v1/read"], capture_output=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, r.content, "the same bytes over HTTP/2")
        # A client that reads a little and goes away: ember stops and keeps serving.
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", e.port), timeout=10) as sock:
                sock.sendall(b"POST /api/v1/read HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                sock.recv(1000)
        r = read(e, q, [pw.STREAMED_XOR_CHUNKS])
        self.assertEqual(chunks_answer(r, START, NOW), want)
        self.assertEqual(e.stop(), 0, e.output())
        self.assertNotIn("Sanitizer", e.output())

    def test_shutdown_is_not_held_up_by_a_client_that_stops_reading(self):
        import random
        import signal
        import socket
        rnd = random.Random(7)
        # No scrape jobs: this test is about a stalled reader, not about scrapes in flight at shutdown.
        e = self.start_ember(config="global:\n  scrape_interval: 1m\n").wait_ready()
        t = [START + k * 5000 for k in range(120)]
        for part in range(6):
            data = {L("rr_huge", i=f"{part}-{i:04d}", job="huge"): [(ts, rnd.uniform(-1e9, 1e9)) for ts in t]
                    for i in range(1000)}
            write_all(e, data)
        # The same query four times: an answer of about 25 MB, more than the pending bound and the socket
        # buffers hold, so the worker has to wait for this client.
        q = [(START, NOW, [(pw.EQ, "__name__", "rr_huge")], None)] * 4
        body = pw.snappy(pw.read_request(q, [pw.STREAMED_XOR_CHUNKS]))
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", e.port))
        sock.sendall(b"POST /api/v1/read HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        self.assertTrue(sock.recv(100).startswith(b"HTTP/1.1 200"))
        time.sleep(1)  # the worker fills the pending bound and waits for the client
        started = time.time()
        rc = e.stop(signal.SIGTERM, timeout=40)
        self.assertLess(time.time() - started, 30, "graceful stop waits at most its timeout")
        self.assertEqual(rc, 0, e.output())
        sock.close()


PROM_CFG = """global:
  scrape_interval: 1h
remote_read:
  - url: {url}/api/v1/read
    read_recent: true
"""


def promql_instant(data, sel_name, sel_labels, t_ms, lookback=300_000):
    """What PromQL's instant selector gives at t: the newest sample in (t - 5m, t], none when stale."""
    out = {}
    for ls, samples in data.items():
        d = dict(ls)
        if d["__name__"] != sel_name or any(d.get(k) != v for k, v in sel_labels.items()):
            continue
        best = None
        for t, v in samples:
            if t_ms - lookback <= t <= t_ms:  # Prometheus 2.42: the window includes its start
                best = (t, v)
        if best is not None and pw.f2bits(best[1]) != pw.STALE_NAN:
            out[ls] = best[1]
    return out


def same_float(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


class RealPrometheusReadTest(harness.TempDirTestCase):
    def test_prometheus_queries_ember_through_remote_read(self):
        prom = shutil.which("prometheus") or "/usr/bin/prometheus"
        if not os.path.exists(prom):
            self.skipTest("Debian's prometheus is not installed (tools/install-deps.sh installs it)")
        e = self.start_ember(config=harness.NO_SCRAPE).wait_ready()
        data = make_data()
        write_all(e, data)
        pport = harness.free_port()
        purl = f"http://127.0.0.1:{pport}"
        cfg = os.path.join(self.tmp, "prom.yml")
        with open(cfg, "w") as f:
            f.write(PROM_CFG.format(url=e.url))
        p = harness.Process([prom, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{pport}",
                             f"--storage.tsdb.path={self.tmp}/prom"], os.path.join(self.tmp, "prom.log"))
        self.procs.append(p)
        wait_for(lambda: harness.requests.get(purl + "/-/ready", timeout=2).status_code == 200, 60,
                 what="Prometheus ready")

        def api(path, **params):
            r = harness.requests.get(purl + path, params=params, timeout=30)
            self.assertEqual(r.status_code, 200, r.text)
            return r.json()["data"]

        # Ember's own PromQL answers: Prometheus over remote read must agree with them (labels, timestamps,
        # values).
        def same_as_ember(path, prom_data, exact=True, **params):
            r = e.get(path, params=params)
            self.assertEqual(r.status_code, 200, r.text)
            mine = r.json()["data"]
            key = "values" if path.endswith("query_range") or mine["resultType"] == "matrix" else "value"

            def norm(d):
                out = {}
                for x in d["result"]:
                    pts = x[key] if key == "values" else [x[key]]
                    out[tuple(sorted(x["metric"].items()))] = [(float(t), float(v)) for t, v in pts]
                return out
            self.assertEqual(mine["resultType"], prom_data["resultType"], params)
            a, b = norm(mine), norm(prom_data)
            self.assertEqual(set(a), set(b), params)
            for k in a:
                self.assertEqual([t for t, _ in a[k]], [t for t, _ in b[k]], (params, k))
                for (_, x), (_, y) in zip(a[k], b[k]):
                    # Raw samples agree bit for bit; aggregations may differ in the last bit (summation order).
                    ok = (math.isnan(x) and math.isnan(y)) or x == y or (not exact and abs(x - y) <= 1e-12 * abs(y))
                    self.assertTrue(ok, (params, k, x, y))

        cases = [("rr_metric", {}), ("rr_metric", {"job": "a"}), ("rr_odd", {}), ("rr_many", {"i": "07"})]
        for name, sel in cases:
            expr = name + "{" + ",".join(f'{k}="{v}"' for k, v in sel.items()) + "}"
            # Range query: every step compared with the written data.
            start_s, end_s, step_s = START // 1000, NOW // 1000 + 60, 15
            res = api("/api/v1/query_range", query=expr, start=start_s, end=end_s, step=step_s)
            same_as_ember("/api/v1/query_range", res, query=expr, start=start_s, end=end_s, step=step_s)
            got = {}
            for s in res["result"]:
                ls = tuple(sorted(s["metric"].items()))
                got[ls] = {int(t * 1000): float(v) for t, v in s["values"]}
            want = {}
            for t in range(start_s, end_s + 1, step_s):
                for ls, v in promql_instant(data, name, sel, t * 1000).items():
                    want.setdefault(tuple(sorted(ls)), {})[t * 1000] = v
            self.assertTrue(want, expr)
            self.assertEqual(set(got), set(want), expr)
            for ls in want:
                self.assertEqual(set(got[ls]), set(want[ls]), (expr, ls))
                for t in want[ls]:
                    self.assertTrue(same_float(got[ls][t], want[ls][t]), (expr, ls, t, got[ls][t], want[ls][t]))
            # Instant query at a time inside the data.
            t = START + 123_456
            res = api("/api/v1/query", query=expr, time=t / 1000)
            same_as_ember("/api/v1/query", res, query=expr, time=t / 1000)
            got = {tuple(sorted(s["metric"].items())): float(s["value"][1]) for s in res["result"]}
            want = {tuple(sorted(ls)): v for ls, v in promql_instant(data, name, sel, t).items()}
            self.assertTrue(want, expr)
            self.assertEqual(set(got), set(want), expr)
            for ls in want:
                self.assertTrue(same_float(got[ls], want[ls]), (expr, ls))
        # A range vector: every raw sample of the window, stale marker excluded as PromQL does.
        t = START + 400_000
        res = api("/api/v1/query", query='rr_odd[5m]', time=t / 1000)
        same_as_ember("/api/v1/query", res, query='rr_odd[5m]', time=t / 1000)
        got = [(int(float(x) * 1000), float(v)) for x, v in res["result"][0]["values"]]
        want = [(ts, v) for ts, v in data[L("rr_odd", job="a", instance="i1")]
                if t - 300_000 < ts <= t and pw.f2bits(v) != pw.STALE_NAN]
        self.assertGreater(len(want), 30)
        self.assertEqual(len(got), len(want))
        for (ta, va), (tb, vb) in zip(got, want):
            self.assertEqual(ta, tb)
            self.assertTrue(same_float(va, vb))
        # Functions and aggregations over the remotely read data agree with ember's own evaluation.
        for expr in ('sum by (job) (rate(rr_metric[1m]))', 'max_over_time(rr_odd[2m])', 'count(rr_many)'):
            res = api("/api/v1/query_range", query=expr, start=START // 1000, end=NOW // 1000, step=30)
            self.assertTrue(res["result"], expr)
            same_as_ember("/api/v1/query_range", res, exact=False, query=expr, start=START // 1000, end=NOW // 1000,
                          step=30)
        m = re.search(r'^ember_http_requests_total\{code="200",handler="/api/v1/read"\} (\d+)', e.get("/metrics").text,
                      re.M)
        self.assertTrue(m and int(m.group(1)) >= len(cases), "Prometheus read through ember's endpoint")


if __name__ == "__main__":
    harness.run()
