"""The record stream of the tokenize(1) EXAMPLES (tests/data/man/tokenize/shard.tsr),
written by hand-rolled canonical code (compact JSON, padded to 8) so that its bytes
never depend on a library:

    tokenize_fixture.py > shard.tsr
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


def main():
    image = ("image", "U8", [2, 2, 3], bytes(range(12)))
    sys.stdout.buffer.write(
        rec({"__key__": "dog.jpg",
             "captions": json.dumps(["A dog runs on the grass.", "The dog's ball is red."])},
            [image]) +
        rec({"__key__": "cat.jpg", "captions": json.dumps(["A cat sits on the grass"])},
            [image]))


if __name__ == "__main__":
    main()
