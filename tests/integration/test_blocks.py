#!/usr/bin/python3
"""Persistent blocks end to end: data remote-written into ember is cut into blocks (a tiny block
duration), and Prometheus's own promtool reads them back (`tsdb analyze`, `tsdb dump`) equal to what
was sent; blocks written by promtool are loaded by ember; the lock file; the admin API and
/api/v1/status/tsdb as Prometheus shapes them."""
import gzip
import math
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import harness  # noqa: E402
import promwire  # noqa: E402
from harness import wait_for  # noqa: E402

PROMTOOL = shutil.which("promtool")
BLOCK_MS = 5 * 60 * 1000
T0 = 1700000000000 - 1700000000000 % BLOCK_MS
ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def labels_str(labels):
    """Go's labels.String(), as promtool dump prints it."""
    return "{" + ", ".join(f'{n}="{v}"' for n, v in sorted(labels)) + "}"


def parse_dump(text):
    """promtool tsdb dump lines -> {(labels, t): value}"""
    out = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        lbl, _, rest = line.rpartition("} ")
        v, t = rest.split(" ")
        out[(lbl + "}", int(t))] = float(v)
    return out


def same(a, b):
    if a.keys() != b.keys():
        missing = sorted(set(a) - set(b))[:3]
        extra = sorted(set(b) - set(a))[:3]
        return f"keys differ: {len(a)} vs {len(b)}; missing {missing}; extra {extra}"
    for k in a:
        x, y = a[k], b[k]
        if not (x == y or (math.isnan(x) and math.isnan(y))):
            return f"{k}: {x} != {y}"
    return None


def series_data(n_series=12, minutes=40):
    """Node-exporter-like samples every 15 s with millisecond jitter: counters and gauges."""
    series = []
    for i in range(n_series):
        kind = "counter" if i % 2 == 0 else "gauge"
        labels = [("__name__", f"it_blocks_{kind}"), ("instance", f"host{i}:9100"), ("job", "node")]
        samples = []
        v = float(i * 100)
        for k in range(minutes * 4):
            t = T0 + k * 15000 + (k * 7 + i) % 5
            v = v + (k % 7) * 0.25 if kind == "counter" else 50 + ((k * 13 + i) % 17) * 0.5
            samples.append((t, v))
        series.append((labels, samples))
    return series


def remote_read_all(e, start, end):
    """Every series through POST /api/v1/read (samples response) -> {(labels string, t): value}."""
    body = promwire.snappy(promwire.read_request([(start, end, [(promwire.RE, "__name__", ".+")], None)]))
    r = e.post("/api/v1/read", data=body, headers=promwire.READ_HEADERS)
    assert r.status_code == 200, (r.status_code, r.text)
    out = {}
    for labels, samples in promwire.parse_read_response(promwire.unsnappy(r.content))[0]:
        for t, b in samples:
            out[(labels_str(labels), t)] = promwire.bits2f(b)
    return out


class BlocksTest(harness.TempDirTestCase):
    def send(self, e, series, per=4):
        """Remote-write all series, `per` samples of each at a time, in time order (a request spanning more
        than half a block range would fall behind the head's lower bound, as in Prometheus)."""
        n = len(series[0][1])
        for s in range(0, n, per):
            body = promwire.snappy(promwire.write_request([(l, smp[s:s + per]) for l, smp in series]))
            r = e.post("/api/v1/write", data=body, headers=promwire.HEADERS)
            self.assertEqual(r.status_code, 204, r.text)

    def snapshot(self, e, skip_head=True):
        r = e.post("/api/v1/admin/tsdb/snapshot", params={"skip_head": "true" if skip_head else "false"})
        self.assertEqual(r.status_code, 200, r.text)
        name = r.json()["data"]["name"]
        self.assertRegex(name, r"^\d{8}T\d{6}Z-[0-9a-f]{16}$")
        return os.path.join(e.data_dir, "snapshots", name)

    @staticmethod
    def max_block_time(d):
        best = None
        for name in os.listdir(d):
            if ULID_RE.match(name):
                with open(os.path.join(d, name, "meta.json")) as f:
                    mt = int(re.search(r'"maxTime":\s*(-?\d+)', f.read()).group(1))
                best = mt if best is None else max(best, mt)
        return best

    def test_blocks_cut_from_remote_written_data_are_read_by_promtool(self):
        if not PROMTOOL:
            self.skipTest("promtool is not installed (tools/install-deps.sh installs the prometheus package)")
        e = self.start_ember(config=harness.NO_SCRAPE,
                             args=["--storage.tsdb.min-block-duration=5m", "--web.enable-admin-api"]).wait_ready()
        series = series_data()
        self.send(e, series)
        # 40 minutes in the head cut into 5-minute blocks until it spans at most 7.5 minutes: [T0, T0+35m).
        cut_end = T0 + 35 * 60 * 1000

        def cut():
            return harness.metric(e.get("/metrics").text, "ember_tsdb_head_truncations_total") and \
                self.max_block_time(e.data_dir) == cut_end
        wait_for(cut, timeout=60, what="blocks cut from the head")
        snap = wait_for(lambda: (lambda d: d if self.max_block_time(d) == cut_end else None)(self.snapshot(e)),
                        timeout=30, what="a snapshot holding every block")
        os.makedirs(os.path.join(snap, "wal"), exist_ok=True)

        out = subprocess.run([PROMTOOL, "tsdb", "analyze", snap], capture_output=True, timeout=120, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("Block ID", out.stdout)
        self.assertIn("Series:", out.stdout)
        out = subprocess.run([PROMTOOL, "tsdb", "dump", snap], capture_output=True, timeout=120, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        got = parse_dump(out.stdout)
        want = {(labels_str(l), t): v for l, smp in series for t, v in smp if t < cut_end}
        self.assertIsNone(same(want, got))
        # Ember itself serves blocks and head merged.
        everything = {(labels_str(l), t): v for l, smp in series for t, v in smp}
        self.assertIsNone(same(everything, remote_read_all(e, T0 - 1, T0 + 3600 * 1000)))

        # Deleting a series hides it at once; clean_tombstones rewrites the blocks; promtool agrees.
        r = e.post("/api/v1/admin/tsdb/delete_series",
                   params={"match[]": 'it_blocks_gauge{instance="host1:9100"}', "start": str(T0 // 1000),
                           "end": str((T0 + 10 * 60 * 1000) // 1000)})
        self.assertEqual(r.status_code, 204, r.text)
        r = e.post("/api/v1/admin/tsdb/clean_tombstones")
        self.assertEqual(r.status_code, 204, r.text)
        snap = self.snapshot(e)
        os.makedirs(os.path.join(snap, "wal"), exist_ok=True)
        out = subprocess.run([PROMTOOL, "tsdb", "dump", snap], capture_output=True, timeout=120, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        got = parse_dump(out.stdout)
        gone = labels_str([("__name__", "it_blocks_gauge"), ("instance", "host1:9100"), ("job", "node")])
        want = {k: v for k, v in want.items() if not (k[0] == gone and k[1] <= T0 + 10 * 60 * 1000)}
        self.assertIsNone(same(want, got))

    def test_prometheus_blocks_copied_into_the_data_dir_are_loaded(self):
        src = os.path.join(harness.SHARED_DIR or "/work/shared", "testdata", "prometheus-blocks")
        if not os.path.isdir(src):
            self.skipTest(f"{src} is missing")
        data = os.path.join(self.tmp, "data")
        os.makedirs(data)
        names = [n for n in os.listdir(src) if ULID_RE.match(n)]
        for n in names:
            shutil.copytree(os.path.join(src, n), os.path.join(data, n))
            for root, dirs, files in os.walk(os.path.join(data, n)):
                for x in dirs + files:
                    os.chmod(os.path.join(root, x), 0o755 if x in dirs else 0o644)
                os.chmod(root, 0o755)
        e = self.start_ember(config=harness.NO_SCRAPE, data_dir=data, args=["--web.enable-admin-api"]).wait_ready()
        text = e.get("/metrics").text
        self.assertEqual(harness.metric(text, "ember_tsdb_blocks_loaded"), len(names))
        self.assertEqual(harness.metric(text, "ember_blocks_corrupted_total") or 0, 0)
        with gzip.open(os.path.join(src, "expected-dump.txt.gz"), "rt") as f:
            want = parse_dump(f.read())
        # Served through remote read exactly as promtool dumps Prometheus's own blocks.
        self.assertIsNone(same(want, remote_read_all(e, 0, 2**62)))
        if not PROMTOOL:
            return
        snap = self.snapshot(e)
        os.makedirs(os.path.join(snap, "wal"), exist_ok=True)
        out = subprocess.run([PROMTOOL, "tsdb", "dump", snap], capture_output=True, timeout=120, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIsNone(same(want, parse_dump(out.stdout)))

    def test_a_corrupt_block_is_skipped_and_counted_and_the_rest_served(self):
        e = self.start_ember(config=harness.NO_SCRAPE, args=["--storage.tsdb.min-block-duration=5m"]).wait_ready()
        self.send(e, series_data(n_series=4, minutes=20))
        wait_for(lambda: self.max_block_time(e.data_dir) is not None, timeout=60, what="a block")
        self.assertEqual(e.stop(), 0)
        names = sorted(n for n in os.listdir(e.data_dir) if ULID_RE.match(n))
        with open(os.path.join(e.data_dir, names[0], "index"), "r+b") as f:
            f.truncate(100)
        e2 = self.start_ember(config=harness.NO_SCRAPE, data_dir=e.data_dir).wait_ready()
        text = e2.get("/metrics").text
        self.assertEqual(harness.metric(text, "ember_blocks_corrupted_total"), 1)
        self.assertEqual(harness.metric(text, "ember_tsdb_blocks_loaded"), len(names) - 1)
        self.assertIn("Skipping a block that cannot be opened", e2.output())

    def test_second_server_on_the_same_directory_is_refused_by_the_lock(self):
        e = self.start_ember(config=harness.NO_SCRAPE).wait_ready()
        e2 = self.start_ember(config=harness.NO_SCRAPE, data_dir=e.data_dir)
        wait_for(lambda: not e2.alive(), timeout=30, what="the second server to exit")
        self.assertNotEqual(e2.proc.returncode, 0)
        self.assertIn("lock DB directory", e2.output())
        self.assertIn(f"pid {e.proc.pid}", e2.output())
        self.assertEqual(e.get("/-/ready").status_code, 200)

    def test_admin_api_is_refused_without_the_flag_as_prometheus_does(self):
        e = self.start_ember(config=harness.NO_SCRAPE).wait_ready()
        for path in ("delete_series?match[]=up", "clean_tombstones", "snapshot"):
            r = e.post("/api/v1/admin/tsdb/" + path)
            self.assertEqual(r.status_code, 500, path)
            self.assertEqual(r.json(), {"status": "error", "errorType": "unavailable", "error": "admin APIs disabled"})
        self.assertEqual(e.get("/api/v1/admin/tsdb/snapshot").status_code, 405)
        self.assertEqual(e.post("/api/v1/admin/foo").status_code, 404)

    def test_admin_api_errors_match_prometheus(self):
        e = self.start_ember(config=harness.NO_SCRAPE, args=["--web.enable-admin-api"]).wait_ready()
        r = e.post("/api/v1/admin/tsdb/delete_series")
        self.assertEqual(r.status_code, 400)
        self.assertEqual(r.json()["error"], "no match[] parameter provided")
        r = e.post("/api/v1/admin/tsdb/delete_series", params={"match[]": "up{"})
        self.assertEqual(r.status_code, 400)
        self.assertEqual(r.json()["error"],
                         'invalid parameter "match[]": 1:4: parse error: unexpected end of input inside braces')
        r = e.post("/api/v1/admin/tsdb/delete_series", params={"match[]": "up", "start": "abc"})
        self.assertEqual(r.status_code, 400)
        self.assertEqual(r.json()["error"], 'invalid parameter "start": Invalid time value for \'start\': cannot parse '
                                            '"abc" to a valid timestamp')
        self.assertEqual(e.post("/api/v1/admin/tsdb/delete_series", params={"match[]": "up"}).status_code, 204)
        r = e.post("/api/v1/admin/tsdb/snapshot?skip_head=maybe")
        self.assertEqual(r.status_code, 400)
        self.assertEqual(r.json()["error"], 'invalid parameter "skip_head": unable to parse boolean: '
                                            'strconv.ParseBool: parsing "maybe": invalid syntax')

    def test_status_tsdb_has_prometheus_shape(self):
        e = self.start_ember(config=harness.NO_SCRAPE).wait_ready()
        self.send(e, series_data(n_series=6, minutes=1), per=4)
        d = e.get("/api/v1/status/tsdb").json()
        self.assertEqual(d["status"], "success")
        data = d["data"]
        self.assertEqual(list(data), ["headStats", "seriesCountByMetricName", "labelValueCountByLabelName",
                                      "memoryInBytesByLabelName", "seriesCountByLabelValuePair"])
        hs = data["headStats"]
        self.assertEqual(hs["numSeries"], 6)
        self.assertEqual(hs["minTime"], T0)
        self.assertEqual(sorted(data["seriesCountByMetricName"], key=lambda x: x["name"]),
                         [{"name": "it_blocks_counter", "value": 3}, {"name": "it_blocks_gauge", "value": 3}])
        self.assertIn({"name": "job=node", "value": 6}, data["seriesCountByLabelValuePair"])
        self.assertIn({"name": "instance", "value": 6}, data["labelValueCountByLabelName"])


if __name__ == "__main__":
    harness.run()
