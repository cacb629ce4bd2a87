#!/usr/bin/python3
"""Write the remote write/read test vectors in tests/unit/ingest/data/ with an encoder independent of
Ember's: Debian's python3-protobuf (Google's implementation), with the message definitions built here
from the field numbers of the specification (not from ingest/proto/remote.proto), a literal-only snappy
block encoder and a bitwise CRC32C written below.

    /usr/bin/python3 tests/tools/gen_remote_vectors.py [outdir]

Output is deterministic; tests/unit/ingest/test_remote.c asserts the values written here.
"""
import os
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto
OPT, REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED


def build_pool():
    fd = descriptor_pb2.FileDescriptorProto(name="vectors.proto", package="prometheus", syntax="proto3")

    def msg(name, fields, enums=()):
        m = fd.message_type.add(name=name)
        for en, values in enums:
            e = m.enum_type.add(name=en)
            for vn, vv in values:
                e.value.add(name=vn, number=vv)
        for fname, num, typ, label, type_name, packed in fields:
            f = m.field.add(name=fname, number=num, type=typ, label=label)
            if type_name:
                f.type_name = type_name
            if packed is not None:
                f.options.packed = packed
        return m

    S, I64, D, U64, B, E, M, BY, SI32 = (F.TYPE_STRING, F.TYPE_INT64, F.TYPE_DOUBLE, F.TYPE_UINT64, F.TYPE_BOOL,
                                        F.TYPE_ENUM, F.TYPE_MESSAGE, F.TYPE_BYTES, F.TYPE_SINT32)
    msg("Label", [("name", 1, S, OPT, None, None), ("value", 2, S, OPT, None, None)])
    msg("Sample", [("value", 1, D, OPT, None, None), ("timestamp", 2, I64, OPT, None, None)])
    msg("Exemplar", [("labels", 1, M, REP, ".prometheus.Label", None), ("value", 2, D, OPT, None, None),
                     ("timestamp", 3, I64, OPT, None, None)])
    # A subset of Prometheus's native histogram message: enough to be a real, non-empty one.
    msg("Histogram", [("count_int", 1, U64, OPT, None, None), ("sum", 3, D, OPT, None, None),
                      ("schema", 4, SI32, OPT, None, None), ("zero_threshold", 5, D, OPT, None, None),
                      ("timestamp", 15, I64, OPT, None, None)])
    msg("TimeSeries", [("labels", 1, M, REP, ".prometheus.Label", None),
                       ("samples", 2, M, REP, ".prometheus.Sample", None),
                       ("exemplars", 3, M, REP, ".prometheus.Exemplar", None),
                       ("histograms", 4, M, REP, ".prometheus.Histogram", None)])
    msg("MetricMetadata", [("type", 1, E, OPT, ".prometheus.MetricMetadata.MetricType", None),
                           ("metric_family_name", 2, S, OPT, None, None), ("help", 4, S, OPT, None, None),
                           ("unit", 5, S, OPT, None, None)],
        enums=[("MetricType", [("UNKNOWN", 0), ("COUNTER", 1), ("GAUGE", 2), ("HISTOGRAM", 3),
                               ("GAUGEHISTOGRAM", 4), ("SUMMARY", 5), ("INFO", 6), ("STATESET", 7)])])
    msg("WriteRequest", [("timeseries", 1, M, REP, ".prometheus.TimeSeries", None),
                         ("metadata", 3, M, REP, ".prometheus.MetricMetadata", None)])
    msg("LabelMatcher", [("type", 1, E, OPT, ".prometheus.LabelMatcher.Type", None),
                         ("name", 2, S, OPT, None, None), ("value", 3, S, OPT, None, None)],
        enums=[("Type", [("EQ", 0), ("NEQ", 1), ("RE", 2), ("NRE", 3)])])
    msg("ReadHints", [("step_ms", 1, I64, OPT, None, None), ("func", 2, S, OPT, None, None),
                      ("start_ms", 3, I64, OPT, None, None), ("end_ms", 4, I64, OPT, None, None),
                      ("grouping", 5, S, REP, None, None), ("by", 6, B, OPT, None, None),
                      ("range_ms", 7, I64, OPT, None, None)])
    msg("Query", [("start_timestamp_ms", 1, I64, OPT, None, None), ("end_timestamp_ms", 2, I64, OPT, None, None),
                  ("matchers", 3, M, REP, ".prometheus.LabelMatcher", None),
                  ("hints", 4, M, OPT, ".prometheus.ReadHints", None)])
    rt = [("SAMPLES", 0), ("STREAMED_XOR_CHUNKS", 1)]
    msg("ReadRequest", [("queries", 1, M, REP, ".prometheus.Query", None),
                        ("accepted_response_types", 2, E, REP, ".prometheus.ReadRequest.ResponseType", None)],
        enums=[("ResponseType", rt)])
    # The same message with the enum list unpacked, as an older or unusual client may send it.
    msg("ReadRequestUnpacked", [("queries", 1, M, REP, ".prometheus.Query", None),
                                ("accepted_response_types", 2, E, REP, ".prometheus.ReadRequestUnpacked.ResponseType",
                                 False)],
        enums=[("ResponseType", rt)])
    msg("QueryResult", [("timeseries", 1, M, REP, ".prometheus.TimeSeries", None)])
    msg("ReadResponse", [("results", 1, M, REP, ".prometheus.QueryResult", None)])
    msg("Chunk", [("min_time_ms", 1, I64, OPT, None, None), ("max_time_ms", 2, I64, OPT, None, None),
                  ("type", 3, E, OPT, ".prometheus.Chunk.Encoding", None), ("data", 4, BY, OPT, None, None)],
        enums=[("Encoding", [("UNKNOWN", 0), ("XOR", 1)])])
    msg("ChunkedSeries", [("labels", 1, M, REP, ".prometheus.Label", None),
                          ("chunks", 2, M, REP, ".prometheus.Chunk", None)])
    msg("ChunkedReadResponse", [("chunked_series", 1, M, REP, ".prometheus.ChunkedSeries", None),
                                ("query_index", 2, I64, OPT, None, None)])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    fac = message_factory.MessageFactory(pool)
    return {m.name: fac.GetPrototype(pool.FindMessageTypeByName("prometheus." + m.name)) for m in fd.message_type}


P = build_pool()
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


def uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def snappy_literal(data):
    """Snappy block format with literal elements only: valid, if not small."""
    out = bytearray(uvarint(len(data)))
    for i in range(0, len(data), 65536):
        chunk = data[i:i + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + struct.pack("<H", n)
        out += chunk
    return bytes(out)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def labels(msg, pairs):
    for n, v in pairs:
        msg.labels.add(name=n, value=v)


def write_request():
    w = P["WriteRequest"]()
    t = w.timeseries.add()
    labels(t, [("__name__", "up"), ("instance", "localhost:9090"), ("job", "prometheus")])
    t.samples.add(value=1.0, timestamp=1700000000000)
    t.samples.add(value=0.0, timestamp=1700000015000)
    t = w.timeseries.add()
    labels(t, [("__name__", "http_requests_total"), ("code", "200"), ("handler", "/api/v1/query")])
    t.samples.add(value=STALE_NAN, timestamp=-1000)
    t.samples.add(value=float("inf"), timestamp=0)
    t = w.timeseries.add()
    labels(t, [("__name__", "temperature_celsius"), ("city", "naïve ☃")])
    t.samples.add(value=-12.5, timestamp=1700000000000)
    e = t.exemplars.add(value=0.5, timestamp=1700000000123)
    labels(e, [("trace_id", "abc123")])
    t = w.timeseries.add()
    labels(t, [("__name__", "latency_seconds"), ("job", "api")])
    t.histograms.add(count_int=10, sum=2.5, schema=3, zero_threshold=1e-128, timestamp=1700000000000)
    t.histograms.add(count_int=12, sum=3.0, schema=3, timestamp=1700000015000)
    m = w.metadata.add(type=1, metric_family_name="http_requests_total", help="Total HTTP requests.")
    m = w.metadata.add(type=2, metric_family_name="temperature_celsius", help="Temperature.", unit="celsius")
    return w.SerializeToString()


def field_bytes(num, wt, payload):
    return uvarint(num << 3 | wt) + payload


def write_request_unknown_fields():
    """A WriteRequest with unknown fields of every non-group wire type at every level, which receivers
    must skip: message bytes are assembled from serialized parts plus extra fields."""
    junk = (field_bytes(11, 0, uvarint(150)) + field_bytes(9, 5, b"\x01\x02\x03\x04") +
            field_bytes(15, 1, b"\x00" * 8) + field_bytes(100, 2, uvarint(3) + b"abc") +
            field_bytes(20000, 0, uvarint(1)))
    lab = P["Label"](name="__name__", value="up").SerializeToString() + junk
    lab2 = junk + P["Label"](name="job", value="x").SerializeToString()
    smp = P["Sample"](value=2.0, timestamp=5).SerializeToString() + junk
    ts = (field_bytes(1, 2, uvarint(len(lab)) + lab) + junk + field_bytes(1, 2, uvarint(len(lab2)) + lab2) +
          field_bytes(2, 2, uvarint(len(smp)) + smp) + field_bytes(5, 2, uvarint(2) + b"\x08\x01"))
    meta = P["MetricMetadata"](type=2, metric_family_name="up").SerializeToString() + junk
    return junk + field_bytes(1, 2, uvarint(len(ts)) + ts) + field_bytes(3, 2, uvarint(len(meta)) + meta) + junk


def write_request_for_encoder():
    """What Ember's encoder must produce byte for byte from the same content (see the test)."""
    w = P["WriteRequest"]()
    for i in range(3):
        t = w.timeseries.add()
        labels(t, [("__name__", "node_cpu_seconds_total"), ("cpu", str(i)), ("instance", "host-00001:9100"),
                   ("job", "node"), ("mode", "idle")])
        t.samples.add(value=1234.56 + i, timestamp=1700000000000 + i)
    t = w.timeseries.add()
    labels(t, [("__name__", "empty_series")])
    t = w.timeseries.add()
    labels(t, [("__name__", "zero"), ("job", "node")])
    t.samples.add(value=0.0, timestamp=0)
    t.samples.add(value=-1.0, timestamp=-5)
    w.metadata.add(type=1, metric_family_name="node_cpu_seconds_total", help="Seconds the CPUs spent in each mode.")
    w.metadata.add(type=7, metric_family_name="x", unit="u")
    return w.SerializeToString()


def read_request(cls):
    r = P[cls]()
    q = r.queries.add(start_timestamp_ms=1700000000000, end_timestamp_ms=1700003600000)
    q.matchers.add(type=0, name="__name__", value="up")
    q.matchers.add(type=1, name="job", value="")
    q.matchers.add(type=2, name="instance", value="local.*")
    q.matchers.add(type=3, name="mode", value="idle|iowait")
    q.hints.step_ms = 15000
    q.hints.func = "rate"
    q.hints.start_ms = 1699999700000
    q.hints.end_ms = 1700003600000
    q.hints.grouping.extend(["job", "instance"])
    q.hints.by = True
    q.hints.range_ms = 300000
    q = r.queries.add(start_timestamp_ms=-5000, end_timestamp_ms=1000)
    q.matchers.add(type=0, name="__name__", value="x")
    r.accepted_response_types.extend([1, 0])
    return r.SerializeToString()


def read_response():
    """Must equal Ember's SAMPLES encoder's output for the same series (see the test)."""
    r = P["ReadResponse"]()
    q = r.results.add()
    t = q.timeseries.add()
    labels(t, [("__name__", "up"), ("instance", "a:9100"), ("job", "node")])
    for i in range(3):
        t.samples.add(value=float(i), timestamp=1700000000000 + 15000 * i)
    t = q.timeseries.add()
    labels(t, [("__name__", "up"), ("instance", "b:9100"), ("job", "node")])
    t.samples.add(value=STALE_NAN, timestamp=1700000000000)
    r.results.add()
    q = r.results.add()
    t = q.timeseries.add()
    labels(t, [("__name__", "x")])
    return r.SerializeToString()


def chunk_data(n):
    return bytes([0, n]) + bytes((7 * i + n) & 0xFF for i in range(10 + n))


def chunked_frames():
    """Two frames as Ember's encoder writes them for series A (chunks 1, 2) of query 0 and series B
    (chunk 3) of query 1, with a frame limit large enough for each series."""
    out = bytearray()
    for qi, lbls, chunks in [(0, [("__name__", "a"), ("job", "x")], [(1000, 2000, 1), (2001, 3000, 2)]),
                             (1, [("__name__", "b")], [(-10, 10, 3)])]:
        m = P["ChunkedReadResponse"](query_index=qi)
        s = m.chunked_series.add()
        labels(s, lbls)
        for mint, maxt, n in chunks:
            s.chunks.add(min_time_ms=mint, max_time_ms=maxt, type=1, data=chunk_data(n))
        b = m.SerializeToString()
        out += uvarint(len(b)) + struct.pack(">I", crc32c(b)) + b
    return bytes(out)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "unit", "ingest",
                                                                "data")
    os.makedirs(out, exist_ok=True)
    files = {
        "write_v1.pb": write_request(),
        "write_unknown_fields.pb": write_request_unknown_fields(),
        "write_for_encoder.pb": write_request_for_encoder(),
        "read_request.pb": read_request("ReadRequest"),
        "read_request_unpacked.pb": read_request("ReadRequestUnpacked"),
        "read_response.pb": read_response(),
        "chunked_frames.bin": chunked_frames(),
    }
    files["write_v1.snappy"] = snappy_literal(files["write_v1.pb"])
    files["read_request.snappy"] = snappy_literal(files["read_request.pb"])
    files["read_response.snappy"] = snappy_literal(files["read_response.pb"])
    for name, data in sorted(files.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print("%-28s %6d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()
