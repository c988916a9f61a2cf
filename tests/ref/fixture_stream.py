"""Small streams with known bytes for tests/tsrinfo.bats, written by hand-rolled
canonical code (compact JSON, padded to 8) so the bytes never depend on a library.

    fixture_stream.py shard   the two-record shard of the tsrinfo(1) EXAMPLES
    fixture_stream.py mixed   three records: tensors, no key, awkward names

The EXAMPLES fixtures in tests/data/man/tsrinfo/shards/ are these streams:
val-0000.tsr and train-0000.tsr are `shard`, train-0001.tsr is `mixed`.
"""
import json
import struct
import sys


def rec(meta, tensors):
    h, off, data = {}, 0, b""
    if meta:
        h["__metadata__"] = meta
    for name, dtype, shape, b in tensors:
        h[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(b)]}
        off += len(b)
        data += b
    s = json.dumps(h, separators=(",", ":"), ensure_ascii=False).encode()
    s += b" " * (-len(s) % 8)
    return struct.pack("<Q", len(s)) + s + data


def shard():
    return (rec({"__key__": "a.jpg", "captions": json.dumps(["a red circle"])},
                [("image", "U8", [16, 16, 3], bytes(768))]) +
            rec({"__key__": "b.jpg", "captions": json.dumps(["two blue squares"])},
                [("image", "U8", [16, 16, 3], bytes(768))]))


def mixed():
    return (rec({"__key__": "a.jpg", "captions": json.dumps(["a cat", "one cat"])},
                [("image", "U8", [2, 2, 3], bytes(range(12))),
                 ("tokens", "I32", [2, 4], struct.pack("<8i", 1, 5, 9, 2, 1, 7, 2, 0))]) +
            rec({"encoder": "5f3a09c1"},
                [("embed", "F32", [3, 4], struct.pack("<12f", *range(12))),
                 ("none", "BF16", [0, 4], b"")]) +
            rec({"__key__": "tab\there", "note": "line 1\nline 2 \\ caf\u00e9"},
                [("scalar", "F64", [], struct.pack("<d", 0.5))]))


if __name__ == "__main__":
    if sys.argv[1:] not in (["shard"], ["mixed"]):
        sys.exit(__doc__)
    sys.stdout.buffer.write(globals()[sys.argv[1]]())
