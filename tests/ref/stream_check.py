"""Cross-checks of the record stream with the safetensors library.

    stream_check.py reader MAN5            print the Python reader from tsr(5)
    stream_check.py py-stream OUT          write a stream with safetensors' own writers
                                           to OUT, what `tsrinfo -j OUT` must print to
                                           OUT.json, what `test_stream dump OUT` must
                                           print to OUT.dump
    stream_check.py check-c MAN5 numpy|all STREAM
                                           check a stream from `test_stream write`:
                                           exact header bytes, then every record cut
                                           out by the tsr(5) reader and loaded by
                                           safetensors, values compared exactly
"""
import json
import struct
import sys

import numpy as np

DTYPES = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16",
          "I32", "U32", "F32", "F64", "I64", "U64"]       # enum dtype order
NUMPY = {"BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "I16": np.int16,
         "U16": np.uint16, "F16": np.float16, "I32": np.int32, "U32": np.uint32,
         "F32": np.float32, "F64": np.float64, "I64": np.int64, "U64": np.uint64}
SIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2,
        "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8}


def man_reader(man5):
    """The program in the tsr(5) EXAMPLES, unescaped from mdoc."""
    lines = open(man5).read().split("\n")
    start = next(i for i, l in enumerate(lines) if "runs this program" in l)
    assert lines[start + 1].startswith(".Bd -literal"), "the reader must follow the marker"
    end = lines.index(".Ed", start)
    return "\n".join(l.replace("\\&", "").replace("\\e", "\\") for l in lines[start + 2:end]) + "\n"


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def fnv1a(data):
    h = 14695981039346656037
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


# ---- streams written by safetensors, read by us --------------------------------

def py_records():
    """(tensors as {name: (dtype, shape, bytes)}, blob) for each record."""
    import torch
    from safetensors.numpy import save as np_save
    from safetensors.torch import save as torch_save
    rng = np.random.default_rng(7)
    arrays = [
        ({"image": rng.integers(0, 256, (4, 5, 3), dtype=np.uint8),
          "tokens": rng.integers(0, 1000, (2, 6), dtype=np.int32),
          "f64": rng.standard_normal(3), "flag": rng.integers(0, 2, (2, 2)).astype(bool),
          "u16": np.arange(7, dtype=np.uint16), "i64": np.array([-5], dtype=np.int64),
          "u64": np.array([2**64 - 1], dtype=np.uint64), "i8": np.arange(-3, 2, dtype=np.int8)},
         {"__key__": "py0.jpg", "captions": json.dumps(["a red circle", "two \"squares\""])}),
        ({"embed": torch.randn(4, 8, generator=torch.Generator().manual_seed(1)).bfloat16(),
          "f16": torch.arange(6, dtype=torch.float16).reshape(3, 2),
          "scalar": torch.tensor(2.5), "u8": torch.arange(5, dtype=torch.uint8)},
         {"__key__": "py1.jpg", "encoder": "5f3a09c1", "note": "tab\there, caf\u00e9"}),
        ({}, None),
        ({"z": np.zeros((0, 3), np.float32), "x": np.ones(3, np.int8),
          "w": np.zeros((2, 0), np.float64)}, {"__key__": "empty"}),
    ]
    out = []
    for tensors, meta in arrays:
        if tensors and isinstance(next(iter(tensors.values())), torch.Tensor):
            blob = torch_save(tensors, metadata=meta)
            tensors = {k: (str(v.dtype), list(v.shape),
                           v.view(torch.int16).numpy().tobytes() if v.dtype == torch.bfloat16
                           else v.numpy().tobytes()) for k, v in tensors.items()}
        else:
            blob = np_save(tensors, metadata=meta)
            tensors = {k: (str(v.dtype), list(v.shape), v.tobytes()) for k, v in tensors.items()}
        out.append((tensors, blob))
    return out


def py_stream(path):
    """Our expectations come from the source arrays, in the order of their offsets."""
    jsonl, dump = [], []
    with open(path, "wb") as f:
        for i, (tensors, blob) in enumerate(py_records()):
            f.write(blob)
            n, = struct.unpack("<Q", blob[:8])
            header = json.loads(blob[8:8 + n])
            meta = header.pop("__metadata__", {})
            order = sorted(header, key=lambda k: (*header[k]["data_offsets"], k))
            jsonl.append(compact({"record": i, "key": meta.get("__key__"), "metadata": meta,
                                  "tensors": {k: {"dtype": header[k]["dtype"],
                                                  "shape": tensors[k][1]} for k in order}}))
            for k in order:
                dtype, shape, data = tensors[k]
                dump.append("%d %s %s [%s] %016x" % (i, k, header[k]["dtype"],
                                                     ",".join(map(str, shape)), fnv1a(data)))
    open(path + ".json", "w").write("\n".join(jsonl) + "\n")
    open(path + ".dump", "w").write("\n".join(dump) + "\n")


# ---- streams written by us, read by safetensors ---------------------------------

def fill(n, k, dtype):
    """test_stream.c's fill(): byte j of the k-th tensor."""
    if dtype == "BOOL":
        return bytes(1 if (j * 7 + k) % 3 == 0 else 0 for j in range(n))
    return bytes((j * 31 + k * 17 + 5) & 0xFF for j in range(n))


def c_records(which):
    """What test_stream.c's write_stream() writes: [(metadata, [(name, dtype, shape, bytes)])]."""
    shapes = [[4], [3, 4], [2, 3, 4]]
    r0 = []
    for d, dtype in enumerate(DTYPES):
        if which == "numpy" and dtype not in NUMPY:
            continue
        shape = shapes[d % 3]
        r0.append(("t_" + dtype, dtype, shape, fill(SIZE[dtype] * int(np.prod(shape)), d, dtype)))
    meta0 = {"__key__": "img 0.jpg", "captions": '["a \\"red\\" circle", "caf\u00e9\\tbar"]',
             "odd": "tab\there\nnewline \\ \u20ac"}
    r2 = [("empty_f32", "F32", [0, 3], b""), ("bytes", "U8", [3], fill(3, 1, "U8")),
          ("floats", "F32", [2], fill(8, 2, "F32")), ("empty_i64", "I64", [0, 3], b"")]
    return [(meta0, r0), ({}, []), ({}, r2)]


def canonical(meta, tensors):
    """The header bytes our writer must produce, built with Python's json."""
    h, off = {}, 0
    if meta:
        h["__metadata__"] = meta
    for name, dtype, shape, data in tensors:
        h[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
    s = compact(h).encode()
    return s + b" " * (-len(s) % 8)


def check_c(man5, which, path):
    import safetensors
    code = man_reader(man5)
    ns = {"__name__": "tsr"}
    exec(compile(code, "tsr.5", "exec"), ns)
    want = c_records(which)
    blob = open(path, "rb").read()
    pos, errors = 0, []
    for i, (meta, tensors) in enumerate(want):
        n, = struct.unpack("<Q", blob[pos:pos + 8])
        if blob[pos + 8:pos + 8 + n] != canonical(meta, tensors):
            errors.append("record %d: header %r, want %r" % (i, blob[pos + 8:pos + 8 + n],
                                                            canonical(meta, tensors)))
        pos += 8 + n + sum(len(t[3]) for t in tensors)
    if pos != len(blob):
        errors.append("stream is %d bytes, want %d" % (len(blob), pos))
    if which == "all":
        # numpy lacks BF16 and F8: let the library hand back raw bytes instead.
        ns["load"] = lambda b: {k: v for k, v in safetensors.deserialize(b)}
    with open(path, "rb") as f:
        got = list(ns["records"](f))
    if len(got) != len(want):
        errors.append("%d records, want %d" % (len(got), len(want)))
    for i, ((gmeta, garrays), (wmeta, wtensors)) in enumerate(zip(got, want)):
        if gmeta != wmeta:
            errors.append("record %d: metadata %r, want %r" % (i, gmeta, wmeta))
        if sorted(garrays) != sorted(t[0] for t in wtensors):
            errors.append("record %d: tensors %s" % (i, sorted(garrays)))
            continue
        for name, dtype, shape, data in wtensors:
            a = garrays[name]
            if which == "all":
                ok = (a["dtype"], a["shape"], bytes(a["data"])) == (dtype, shape, data)
            else:
                ok = (a.dtype == NUMPY[dtype] and list(a.shape) == shape and
                      a.tobytes() == data)
            if not ok:
                errors.append("record %d: tensor %s differs" % (i, name))
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[:1] == ["reader"] and len(a) == 2:
        sys.stdout.write(man_reader(a[1]))
    elif a[:1] == ["py-stream"] and len(a) == 2:
        py_stream(a[1])
    elif a[:1] == ["check-c"] and len(a) == 4 and a[2] in ("numpy", "all"):
        sys.exit(check_c(a[1], a[2], a[3]))
    else:
        sys.exit(__doc__)
