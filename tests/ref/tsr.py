"""The tensor stream's records (tsr(5)) for the reference scripts: the reader of
README.md's "The tensor stream", once."""
import json
import os
import struct


def records(src, load=None):
    """Yields (metadata, {name: tensor}) for each record of src, a path or a binary
    file, the names in the order of the record's header. load turns one record's
    bytes into tensors: safetensors.numpy.load unless given (safetensors.torch.load,
    say)."""
    if isinstance(src, (str, os.PathLike)):
        with open(src, "rb") as f:
            yield from records(f, load)
        return
    if load is None:
        from safetensors.numpy import load
    while prefix := src.read(8):
        header = src.read(struct.unpack("<Q", prefix)[0])
        entries = json.loads(header)
        meta = entries.pop("__metadata__", {})
        size = max((e["data_offsets"][1] for e in entries.values()), default=0)
        tensors = load(prefix + header + src.read(size))
        yield meta, {name: tensors[name] for name in entries}
