#!/usr/bin/env python3
"""Writes the disk_segment seeds: segments in the record format of
crates/collector/src/disk_queue.rs, `[len: u32 LE][crc32: u32 LE][payload]`, the payload a
protobuf `WriteRequest` (crates/amp/src/proto.rs). Run from fuzz/: python3 seeds/segment.py
"""
import struct
import zlib


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(tag, wire, body):
    return varint(tag << 3 | wire) + body


def msg(tag, body):  # length-delimited
    return field(tag, 2, varint(len(body)) + body)


def label(name, value):
    return msg(1, msg(1, name.encode()) + msg(2, value.encode()))


def sample(value_bits, ts):
    body = field(1, 1, struct.pack("<Q", value_bits)) + field(2, 0, varint(ts & (2**64 - 1)))
    return msg(2, body)


def series(labels, samples):
    body = b"".join(label(n, v) for n, v in sorted(labels))
    body += b"".join(sample(v, t) for v, t in samples)
    return msg(1, body)


def record(payload):
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


def f64(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


STALE_NAN = 0x7FF0000000000002
base = {"job": "node", "instance": "127.0.0.1:9100"}
r1 = series({**base, "__name__": "node_load1"}.items(), [(f64(0.42), 1_700_000_000_000)])
r1 += series(
    {**base, "__name__": "node_cpu_seconds_total", "cpu": "0", "mode": "idle"}.items(),
    [(f64(522.15), 1_700_000_000_000), (f64(523.0), 1_700_000_015_000)],
)
r2 = series({**base, "__name__": "up"}.items(), [(f64(1.0), 1_700_000_015_000)])
r2 += series({**base, "__name__": "gone"}.items(), [(STALE_NAN, 1_700_000_015_000)])
seg = record(r1) + record(r2)
with open("corpus/disk_segment/two_records.seg", "wb") as f:
    f.write(seg)
# A torn write: the last record cut short (replay stops there, reported as corrupt).
with open("corpus/disk_segment/torn_tail.seg", "wb") as f:
    f.write(seg[:-7])
