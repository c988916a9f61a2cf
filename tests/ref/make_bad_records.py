"""Malformed record streams and the one-line message the reader must give for each.

    make_bad_records.py DIR           write DIR/NAME.tsr and DIR/NAME.want for each case
    make_bad_records.py --safetensors check which cases the safetensors library rejects

NAME.want holds the message after "tsrinfo: FILE:" ("record I: byte O: what").
The last column says whether safetensors.deserialize also rejects the bad record:
where it does not, the reader is deliberately stricter (see tsr(5)).
"""
import json
import os
import struct
import sys


def rec(header, data=b"", n=None):
    """A record from a header (str or bytes) and data; n overrides the length."""
    if isinstance(header, str):
        header = header.encode()
    return struct.pack("<Q", len(header) if n is None else n) + header + data


def t(dtype="U8", shape=(4,), offsets=(0, 4), name="a"):
    """One tensor entry as header text."""
    return '"%s":{"dtype":"%s","shape":%s,"data_offsets":%s}' % (
        name, dtype, json.dumps(list(shape)).replace(" ", ""),
        json.dumps(list(offsets)).replace(" ", ""))


def obj(*entries):
    return "{" + ",".join(entries) + "}"


GOOD = rec(obj(t()), b"abcd")       # 8 + 53 + 4 = 65 bytes
GOOD_HDR = obj(t())

# (name, bytes before the bad record, the bad record, message, safetensors rejects it)
CASES = [
    # --- truncation at every field boundary
    ("trunc-length-1", b"", b"\x38", "record 0: byte 1: truncated: record length needs 8 bytes, stream ended after 1", True),
    ("trunc-length-7", b"", GOOD[:7], "record 0: byte 7: truncated: record length needs 8 bytes, stream ended after 7", True),
    ("trunc-header-0", b"", GOOD[:8], "record 0: byte 8: truncated: header needs 53 bytes, stream ended after 0", True),
    ("trunc-header-mid", b"", GOOD[:30], "record 0: byte 30: truncated: header needs 53 bytes, stream ended after 22", True),
    ("trunc-header-last", b"", GOOD[:60], "record 0: byte 60: truncated: header needs 53 bytes, stream ended after 52", True),
    ("trunc-data-0", b"", GOOD[:61], "record 0: byte 61: truncated: data needs 4 bytes, stream ended after 0", True),
    ("trunc-data-mid", b"", GOOD[:63], "record 0: byte 63: truncated: data needs 4 bytes, stream ended after 2", True),
    ("trunc-second-length", GOOD, GOOD[:3], "record 1: byte 68: truncated: record length needs 8 bytes, stream ended after 3", True),
    ("trunc-second-data", GOOD + GOOD, GOOD[:64], "record 2: byte 194: truncated: data needs 4 bytes, stream ended after 3", True),
    ("lying-size-petabyte", b"", rec(obj(t(shape=[10**15], offsets=[0, 10**15])), b"abcd"),
     "record 0: byte 95: truncated: data needs 1000000000000000 bytes, stream ended after 4", True),
    # --- header length
    ("header-length-max", b"", b"\xff" * 8, "record 0: byte 0: header length 18446744073709551615 exceeds the 104857600-byte limit", True),
    ("header-length-over-limit", GOOD, rec("{}", n=100 * 2**20 + 1),
     "record 1: byte 65: header length 104857601 exceeds the 104857600-byte limit", True),
    ("header-length-0", b"", rec(""), "record 0: byte 0: header length 0 is too short for a JSON object", True),
    ("header-length-1", b"", rec("{"), "record 0: byte 0: header length 1 is too short for a JSON object", True),
    # --- JSON syntax and shape of the header
    ("header-leading-space", b"", rec(" {}"), "record 0: byte 8: header must start with '{', not byte 0x20", False),
    ("header-array", b"", rec("[1,2]"), "record 0: byte 8: header must start with '{', not '['", True),
    ("header-nul", b"", rec(b"\0{}"), "record 0: byte 8: header must start with '{', not byte 0x00", True),
    ("bad-json", b"", rec('{"a":}'), "record 0: byte 13: JSON error at header byte 5: unexpected token near '}'", True),
    ("unterminated-json", b"", rec('{"a":{"dtype"'), "record 0: byte 20: JSON error at header byte 12: ':' expected near end of file", True),
    ("trailing-garbage", b"", rec("{} x"), "record 0: byte 11: JSON error at header byte 3: end of file expected near 'x'", True),
    ("trailing-nul-padding", b"", rec(b"{}\0\0"), "record 0: byte 10: JSON error at header byte 2: end of file expected near end of file", True),
    ("invalid-utf8", b"", rec(b'{"\xff":1}'), "record 0: byte 10: JSON error at header byte 2: unable to decode byte 0xff near '\"'", True),
    ("nul-in-name", b"", rec('{"a\\u0000b":1}'), "record 0: byte 18: JSON error at header byte 10: NUL byte in object key not supported near '\"a\\u0000b\"'", True),
    ("too-deep", b"", rec('{"a":' + "[" * 3000 + "]" * 3000 + "}"),
     "record 0: byte 2060: JSON error at header byte 2052: maximum parsing depth reached near '['", True),
    ("duplicate-tensor", b"", rec(obj(t(), t()), b"abcd"),
     "record 0: byte 63: JSON error at header byte 55: duplicate object key near '\"a\"'", False),
    ("duplicate-meta-key", b"", rec('{"__metadata__":{"k":"1","k":"2"}}'),
     "record 0: byte 35: JSON error at header byte 27: duplicate object key near '\"k\"'", False),
    ("integer-beyond-64-bits", b"", rec(obj(t(shape=[18446744073709551616]))),
     "record 0: byte 55: JSON error at header byte 47: too big integer near '18446744073709551616'", True),
    # --- metadata
    ("meta-not-object", b"", rec('{"__metadata__":"x"}'), "record 0: byte 8: __metadata__ is a string, not an object", True),
    ("meta-value-number", b"", rec('{"__metadata__":{"k":1}}'), 'record 0: byte 8: __metadata__ "k" is an integer, not a string', True),
    ("meta-value-null", b"", rec('{"__metadata__":{"ok":"1","k":null}}'), 'record 0: byte 8: __metadata__ "k" is null, not a string', True),
    ("meta-value-object", b"", rec('{"__metadata__":{"k":{}}}'), 'record 0: byte 8: __metadata__ "k" is an object, not a string', True),
    # --- tensor entries
    ("entry-not-object", b"", rec('{"a":[1]}'), 'record 0: byte 8: tensor "a": entry is an array, not an object', True),
    ("entry-missing-dtype", b"", rec('{"a":{"shape":[4],"data_offsets":[0,4]}}', b"abcd"), 'record 0: byte 8: tensor "a": missing "dtype"', True),
    ("entry-missing-offsets", b"", rec('{"a":{"dtype":"U8","shape":[4]}}', b"abcd"), 'record 0: byte 8: tensor "a": missing "data_offsets"', True),
    ("entry-extra-key", b"", rec('{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4],"stride":[1]}}', b"abcd"),
     'record 0: byte 8: tensor "a": unexpected key "stride" (an entry has only dtype, shape and data_offsets)', False),
    ("dtype-not-string", b"", rec('{"a":{"dtype":7,"shape":[4],"data_offsets":[0,4]}}', b"abcd"),
     'record 0: byte 8: tensor "a": dtype is an integer, not a string', True),
    ("dtype-unknown", b"", rec(obj(t(dtype="F33")), b"abcd"), 'record 0: byte 8: tensor "a": unknown dtype "F33"', True),
    ("dtype-lowercase", b"", rec(obj(t(dtype="u8")), b"abcd"), 'record 0: byte 8: tensor "a": unknown dtype "u8"', True),
    ("shape-not-array", b"", rec('{"a":{"dtype":"U8","shape":4,"data_offsets":[0,4]}}', b"abcd"),
     'record 0: byte 8: tensor "a": shape is an integer, not an array', True),
    ("shape-negative", b"", rec(obj(t(shape=[-4])), b"abcd"),
     'record 0: byte 8: tensor "a": shape dimension 0 is -4, not a non-negative integer', True),
    ("shape-real", b"", rec(obj(t(shape=[1, 4.0])), b"abcd"),
     'record 0: byte 8: tensor "a": shape dimension 1 is a real number, not a non-negative integer', True),
    ("shape-string", b"", rec(obj(t(shape=["4"])), b"abcd"),
     'record 0: byte 8: tensor "a": shape dimension 0 is a string, not a non-negative integer', True),
    ("shape-9-dims", b"", rec(obj(t(shape=[1] * 8 + [4])), b"abcd"),
     'record 0: byte 8: tensor "a": shape has 9 dimensions, more than the limit of 8', False),
    ("shape-product-overflow", b"", rec(obj(t("F32", [2**32, 2**32], [0, 0]))),
     'record 0: byte 8: tensor "a": shape [4294967296,4294967296] F32 is too large: its byte size overflows', True),
    ("shape-bytes-overflow", b"", rec(obj(t("F64", [2**62], [0, 0]))),
     'record 0: byte 8: tensor "a": shape [4611686018427387904] F64 is too large: its byte size overflows', True),
    ("shape-lies-short", b"", rec(obj(t("U8", [2, 3], [0, 5])), b"abcde"),
     'record 0: byte 8: tensor "a": shape [2,3] U8 needs 6 bytes but data_offsets span 5', True),
    ("shape-lies-long", b"", rec(obj(t("F32", [2], [0, 16])), b"x" * 16),
     'record 0: byte 8: tensor "a": shape [2] F32 needs 8 bytes but data_offsets span 16', True),
    ("scalar-lies", b"", rec(obj(t("I64", [], [0, 4])), b"abcd"),
     'record 0: byte 8: tensor "a": shape [] I64 needs 8 bytes but data_offsets span 4', True),
    # --- data_offsets
    ("offsets-not-array", b"", rec('{"a":{"dtype":"U8","shape":[4],"data_offsets":4}}', b"abcd"),
     'record 0: byte 8: tensor "a": data_offsets is an integer, not an array of two integers', True),
    ("offsets-three", b"", rec(obj(t(offsets=[0, 4, 8])), b"abcd"),
     'record 0: byte 8: tensor "a": data_offsets is an array of another length, not an array of two integers', True),
    ("offsets-negative", b"", rec(obj(t(offsets=[-4, 0]))),
     'record 0: byte 8: tensor "a": data_offsets value is -4, not a non-negative integer', True),
    ("offsets-real", b"", rec(obj(t(offsets=[0, 4.0])), b"abcd"),
     'record 0: byte 8: tensor "a": data_offsets value is a real number, not a non-negative integer', True),
    ("offsets-end-before-begin", b"", rec(obj(t(offsets=[8, 4])), b"abcdabcd"),
     'record 0: byte 8: tensor "a": data_offsets [8,4] end before they begin', True),
    ("offsets-not-from-0", b"", rec(obj(t(offsets=[4, 8])), b"abcdabcd"),
     'record 0: byte 8: tensor "a": data_offsets [4,8] leave a gap: the data starts at 0', True),
    ("offsets-gap", b"", rec(obj(t(), t(offsets=[8, 12], name="b")), b"x" * 12),
     'record 0: byte 8: tensor "b": data_offsets [8,12] leave a gap after tensor "a" [0,4]', True),
    ("offsets-overlap", b"", rec(obj(t("U8", [8], [0, 8]), t(offsets=[4, 8], name="b")), b"x" * 8),
     'record 0: byte 8: tensor "b": data_offsets [4,8] overlap tensor "a" [0,8]', True),
    ("offsets-same-range", b"", rec(obj(t(name="b"), t()), b"abcd"),
     'record 0: byte 8: tensor "b": data_offsets [0,4] overlap tensor "a" [0,4]', True),
    ("zero-size-past-end", b"", rec(obj(t(), t("F32", [0], [8, 8], "z")), b"abcd"),
     'record 0: byte 8: tensor "z": data_offsets [8,8] leave a gap after tensor "a" [0,4]', True),
    ("second-record-overlap", GOOD, rec(obj(t(), t(offsets=[2, 6], name="b")), b"abcdef"),
     'record 1: byte 73: tensor "b": data_offsets [2,6] overlap tensor "a" [0,4]', True),
    # --- names in messages stay on one line and short
    ("name-with-newline", b"", rec(obj(t(dtype="F33", name="a\\nb\\\"c"))),
     'record 0: byte 8: tensor "a?b\\"c": unknown dtype "F33"', True),
    ("name-very-long", b"", rec(obj(t(dtype="F33", name="n" * 500))),
     'record 0: byte 8: tensor "' + "n" * 73 + '...": unknown dtype "F33"', True),
]


def write(outdir):
    os.makedirs(outdir, exist_ok=True)
    for name, before, bad, want, _ in CASES:
        with open(os.path.join(outdir, name + ".tsr"), "wb") as f:
            f.write(before + bad)
        with open(os.path.join(outdir, name + ".want"), "w") as f:
            f.write(want + "\n")


def check_safetensors():
    """The library must reject what the table says it rejects, and take the good record."""
    import safetensors
    safetensors.deserialize(GOOD)
    wrong = 0
    for name, _, bad, _, rejects in CASES:
        try:
            safetensors.deserialize(bad)
            got = False
        except Exception:
            got = True
        if got != rejects:
            print("%s: safetensors %s it" % (name, "rejects" if got else "accepts"))
            wrong += 1
    return wrong


if __name__ == "__main__":
    if sys.argv[1:] == ["--safetensors"]:
        sys.exit(1 if check_safetensors() else 0)
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    write(sys.argv[1])
