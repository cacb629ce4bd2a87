#!/usr/bin/python3
"""Capture real remote write/read traffic of Debian's Prometheus (2.42) for Ember's test vectors.

    /usr/bin/python3 tests/tools/capture_prometheus_remote.py [outdir]

Starts, on loopback ports chosen by the kernel, a capture server and a Prometheus that scrapes only
itself, remote-writes to the capture server and remote-reads from it (read_recent), then:
  - saves the first remote write body carrying samples and the first carrying metadata;
  - runs a query through Prometheus so it sends a remote read request, and saves that request;
  - sends a ReadRequest to Prometheus's own /api/v1/read (its built-in remote read server) asking once
    for SAMPLES and once for STREAMED_XOR_CHUNKS, and saves both responses.
The bodies hold only Prometheus's self-metrics. Everything is bounded in time; Prometheus is stopped
and its data directory removed at the end.
"""
import http.server
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import gen_remote_vectors as vec  # noqa: E402  (message classes, uvarint, literal snappy)

PROMETHEUS = "/usr/bin/prometheus"
DEADLINE_S = 90


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def snappy_decode(data):
    """Minimal snappy block decoder (literals and copies), enough to classify captured bodies."""
    n, shift, i = 0, 0, 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            break
    out = bytearray()
    while i < len(data):
        tag = data[i]
        i += 1
        kind = tag & 3
        if kind == 0:
            ln = tag >> 2
            if ln >= 60:
                nb = ln - 59
                ln = int.from_bytes(data[i:i + nb], "little")
                i += nb
            ln += 1
            out += data[i:i + ln]
            i += ln
            continue
        if kind == 1:
            ln = ((tag >> 2) & 7) + 4
            off = ((tag >> 5) << 8) | data[i]
            i += 1
        elif kind == 2:
            ln = (tag >> 2) + 1
            off = int.from_bytes(data[i:i + 2], "little")
            i += 2
        else:
            ln = (tag >> 2) + 1
            off = int.from_bytes(data[i:i + 4], "little")
            i += 4
        for _ in range(ln):
            out.append(out[-off])
    assert len(out) == n
    return bytes(out)


class Capture(http.server.BaseHTTPRequestHandler):
    writes, reads = [], []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/write":
            Capture.writes.append(body)
            self.send_response(204)
            self.end_headers()
        elif self.path == "/read":
            Capture.reads.append(body)
            resp = vec.snappy_literal(b"\x0a\x00")  # ReadResponse with one empty QueryResult
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Encoding", "snappy")
            self.send_header("Content-Length", str(len(resp)))
            self.end_headers()
            self.wfile.write(resp)
        else:
            self.send_response(404)
            self.end_headers()


def classify(body):
    w = vec.P["WriteRequest"]()
    w.ParseFromString(snappy_decode(body))
    return len(w.timeseries), len(w.metadata)


def post_read(port, accepted):
    r = vec.P["ReadRequest"]()
    q = r.queries.add(start_timestamp_ms=int((time.time() - 600) * 1000), end_timestamp_ms=int(time.time() * 1000))
    q.matchers.add(type=0, name="__name__", value="prometheus_build_info")
    r.accepted_response_types.extend([accepted])
    req = urllib.request.Request("http://127.0.0.1:%d/api/v1/read" % port,
                                 data=vec.snappy_literal(r.SerializeToString()), method="POST",
                                 headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
                                          "X-Prometheus-Remote-Read-Version": "0.1.0"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "unit", "ingest",
                                                                "data")
    os.makedirs(out, exist_ok=True)
    cap_port, prom_port = free_port(), free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", cap_port), Capture)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    tmp = tempfile.mkdtemp(prefix="ember-capture-")
    cfg = os.path.join(tmp, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("""global:
  scrape_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:%d']
remote_write:
  - url: http://127.0.0.1:%d/write
    queue_config: {batch_send_deadline: 1s, max_samples_per_send: 500}
    metadata_config: {send_interval: 2s}
remote_read:
  - url: http://127.0.0.1:%d/read
    read_recent: true
""" % (prom_port, cap_port, cap_port))
    prom = subprocess.Popen([PROMETHEUS, "--config.file=" + cfg, "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                             "--web.listen-address=127.0.0.1:%d" % prom_port, "--log.level=warn"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    files = {}
    try:
        deadline = time.time() + DEADLINE_S
        while time.time() < deadline and not ("write" in files and "metadata" in files):
            time.sleep(0.5)
            for body in list(Capture.writes):
                n_ts, n_meta = classify(body)
                if n_ts and "write" not in files:
                    files["write"] = body
                if n_meta and "metadata" not in files:
                    files["metadata"] = body
        params = urllib.parse.urlencode({"query": "up"})
        while time.time() < deadline and not Capture.reads:
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/api/v1/query?%s" % (prom_port, params), timeout=5).read()
            except OSError:
                pass
            time.sleep(0.5)
        if Capture.reads:
            files["read-request"] = Capture.reads[0]
        files["read-response"] = post_read(prom_port, 0)
        files["read-chunked"] = post_read(prom_port, 1)
    finally:
        prom.terminate()
        try:
            prom.wait(timeout=15)
        except subprocess.TimeoutExpired:
            prom.kill()
        srv.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    names = {"write": "prometheus-2.42-write.snappy", "metadata": "prometheus-2.42-metadata.snappy",
             "read-request": "prometheus-2.42-read-request.snappy",
             "read-response": "prometheus-2.42-read-response.snappy",
             "read-chunked": "prometheus-2.42-read-chunked.bin"}
    missing = [k for k in names if k not in files]
    for k, data in files.items():
        with open(os.path.join(out, names[k]), "wb") as f:
            f.write(data)
        print("%-40s %6d bytes" % (names[k], len(data)))
    if missing:
        print("not captured: %s" % ", ".join(missing), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
