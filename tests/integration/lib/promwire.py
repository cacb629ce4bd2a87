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
