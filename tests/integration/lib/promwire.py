"""Minimal encoders for tests: protobuf WriteRequest and snappy's block format (literals only), written
from the protocol specifications so the tests do not share code with the server they check."""
import struct


def uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field_bytes(num, data):
    return uvarint(num << 3 | 2) + uvarint(len(data)) + data


def write_request(series, metadata=()):
    """series: [(labels as [(name, value)], [(t_ms, value)])]; metadata: [(type_enum, family, help, unit)]"""
    out = bytearray()
    for labels, samples in series:
        ts = bytearray()
        for name, value in labels:
            ts += field_bytes(1, field_bytes(1, name.encode()) + field_bytes(2, value.encode()))
        for t, v in samples:
            sample = uvarint(1 << 3 | 1) + struct.pack("<d", v) + uvarint(2 << 3 | 0) + uvarint(t & (2**64 - 1))
            ts += field_bytes(2, sample)
        out += field_bytes(1, bytes(ts))
    for typ, family, help_, unit in metadata:
        md = uvarint(1 << 3) + uvarint(typ) + field_bytes(2, family.encode()) + field_bytes(4, help_.encode()) + \
            field_bytes(5, unit.encode())
        out += field_bytes(3, md)
    return bytes(out)


def snappy(data):
    """Snappy block format using only literal elements (valid, just not compressed)."""
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


HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
           "X-Prometheus-Remote-Write-Version": "0.1.0"}


# ---- remote read: requests, responses, frames, XOR chunks (independent of ember's C codecs) ----

EQ, NEQ, RE, NRE = 0, 1, 2, 3
SAMPLES, STREAMED_XOR_CHUNKS = 0, 1
CHUNKED_CONTENT_TYPE = "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"
READ_HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                "X-Prometheus-Remote-Read-Version": "0.1.0"}


def varint_field(num, v):
    return uvarint(num << 3) + uvarint(v & (2**64 - 1))


def read_request(queries, accepted=()):
    """queries: [(start_ms, end_ms, [(type, name, value)], hints or None)]; hints: dict with step_ms, func,
    start_ms, end_ms, grouping, by, range_ms. accepted: response types, written packed."""
    out = bytearray()
    for start, end, matchers, hints in queries:
        q = bytearray(varint_field(1, start) + varint_field(2, end))
        for typ, name, value in matchers:
            m = (varint_field(1, typ) if typ else b"") + field_bytes(2, name.encode()) + field_bytes(3, value.encode())
            q += field_bytes(3, m)
        if hints is not None:
            h = varint_field(1, hints.get("step_ms", 0)) + field_bytes(2, hints.get("func", "").encode()) + \
                varint_field(3, hints.get("start_ms", 0)) + varint_field(4, hints.get("end_ms", 0))
            for g in hints.get("grouping", ()):
                h += field_bytes(5, g.encode())
            h += varint_field(6, 1 if hints.get("by") else 0) + varint_field(7, hints.get("range_ms", 0))
            q += field_bytes(4, h)
        out += field_bytes(1, bytes(q))
    if accepted:
        out += field_bytes(2, b"".join(uvarint(a) for a in accepted))
    return bytes(out)


def read_uvarint(data, pos):
    shift = n = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("bad varint")
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return n, pos


def to_int64(u):
    return u - 2**64 if u >= 2**63 else u


def fields(data):
    """Walk a protobuf message: yields (field number, wire type, value); LEN values are bytes."""
    pos = 0
    while pos < len(data):
        key, pos = read_uvarint(data, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = read_uvarint(data, pos)
        elif wt == 1:
            v, pos = data[pos:pos + 8], pos + 8
        elif wt == 2:
            n, pos = read_uvarint(data, pos)
            v, pos = data[pos:pos + n], pos + n
            if len(v) != n:
                raise ValueError("truncated field")
        elif wt == 5:
            v, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"wire type {wt}")
        yield num, wt, v


def parse_label(data):
    name = value = ""
    for num, _, v in fields(data):
        if num == 1:
            name = v.decode()
        elif num == 2:
            value = v.decode()
    return name, value


def parse_read_response(pb):
    """ReadResponse -> [[(labels tuple, [(t_ms, value bits as int)])] per query]. Value bits keep NaN
    payloads (stale markers) exact."""
    results = []
    for num, _, qr in fields(pb):
        if num != 1:
            continue
        series = []
        for n2, _, ts in fields(qr):
            if n2 != 1:
                continue
            labels, samples = [], []
            for n3, _, v in fields(ts):
                if n3 == 1:
                    labels.append(parse_label(v))
                elif n3 == 2:
                    t, bits = 0, 0
                    for n4, _, sv in fields(v):
                        if n4 == 1:
                            bits = struct.unpack("<Q", sv)[0]
                        elif n4 == 2:
                            t = to_int64(sv)
                    samples.append((t, bits))
            series.append((tuple(labels), samples))
        results.append(series)
    return results


def unsnappy(data):
    """Snappy block format decoder (literals and all three copy kinds)."""
    n, pos = read_uvarint(data, 0)
    out = bytearray()
    while pos < len(data):
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            ln = tag >> 2
            if ln >= 60:
                nb = ln - 59
                ln = int.from_bytes(data[pos:pos + nb], "little")
                pos += nb
            ln += 1
            out += data[pos:pos + ln]
            pos += ln
            continue
        if kind == 1:
            ln = ((tag >> 2) & 7) + 4
            off = ((tag >> 5) << 8) | data[pos]
            pos += 1
        elif kind == 2:
            ln = (tag >> 2) + 1
            off = int.from_bytes(data[pos:pos + 2], "little")
            pos += 2
        else:
            ln = (tag >> 2) + 1
            off = int.from_bytes(data[pos:pos + 4], "little")
            pos += 4
        if off == 0 or off > len(out):
            raise ValueError("bad snappy copy offset")
        for _ in range(ln):
            out.append(out[-off])
    if len(out) != n:
        raise ValueError(f"snappy: decoded {len(out)} bytes, header said {n}")
    return bytes(out)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def parse_frames(body, check_crc=True):
    """A STREAMED_XOR_CHUNKS body -> [(query_index, labels tuple, [(min_t, max_t, type, data)], msg_len)]."""
    frames, pos = [], 0
    while pos < len(body):
        n, pos = read_uvarint(body, pos)
        crc = struct.unpack(">I", body[pos:pos + 4])[0]
        msg = body[pos + 4:pos + 4 + n]
        if len(msg) != n:
            raise ValueError("truncated frame")
        if check_crc and crc32c(msg) != crc:
            raise ValueError("checksum mismatch")
        pos += 4 + n
        qi, series = 0, []
        for num, _, v in fields(msg):
            if num == 2:
                qi = to_int64(v)
            elif num == 1:
                labels, chunks = [], []
                for n2, _, cv in fields(v):
                    if n2 == 1:
                        labels.append(parse_label(cv))
                    elif n2 == 2:
                        c = {1: 0, 2: 0, 3: 0, 4: b""}
                        for n3, _, x in fields(cv):
                            c[n3] = to_int64(x) if n3 in (1, 2) else x
                        chunks.append((c[1], c[2], c[3], c[4]))
                series.append((tuple(labels), chunks))
        if len(series) != 1:
            raise ValueError(f"a frame must carry exactly one series, got {len(series)}")
        frames.append((qi, series[0][0], series[0][1], n))
    return frames


class _Bits:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def bit(self):
        byte = self.data[self.pos >> 3]
        b = (byte >> (7 - (self.pos & 7))) & 1
        self.pos += 1
        return b

    def bits(self, n):
        v = 0
        for _ in range(n):
            v = (v << 1) | self.bit()
        return v

    def uvarint(self):
        shift = n = 0
        while True:
            b = self.bits(8)
            n |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return n


def xor_decode(data):
    """A Prometheus XOR chunk -> [(t_ms, value bits)]."""
    count = struct.unpack(">H", data[:2])[0]
    r = _Bits(data[2:])
    out = []
    t = delta = 0
    v = leading = trailing = 0
    for i in range(count):
        if i == 0:
            u = r.uvarint()
            t = (u >> 1) ^ -(u & 1)
            v = r.bits(64)
        else:
            if i == 1:
                delta = r.uvarint()
            else:
                prefix = 0
                for _ in range(4):
                    prefix = (prefix << 1) | r.bit()
                    if not prefix & 1:
                        break
                size = {0: 0, 0b10: 14, 0b110: 17, 0b1110: 20, 0b1111: 64}[prefix]
                dod = r.bits(size) if size else 0
                if 0 < size < 64 and dod > (1 << (size - 1)):
                    dod -= 1 << size
                elif size == 64 and dod >= 2**63:
                    dod -= 2**64
                delta += dod
            t += delta
            if r.bit():
                if r.bit():
                    leading = r.bits(5)
                    sig = r.bits(6) or 64
                    trailing = 64 - leading - sig
                v ^= r.bits(64 - leading - trailing) << trailing
        out.append((t, v))
    return out


def f2bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


STALE_NAN = 0x7FF0000000000002


def bits2f(b):
    return struct.unpack("<d", struct.pack("<Q", b))[0]
