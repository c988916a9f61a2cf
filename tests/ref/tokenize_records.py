"""Reads tokenize(1)'s record output with the safetensors library, for
tests/tokenize.bats.

    tokenize_records.py captions IN.tsr      each caption of each record, one a line
    tokenize_records.py tokens IN.tsr OUT.tsr
        checks that OUT is IN with a tokens tensor (int32, [captions, L]) added to
        each record that has captions and nothing else changed, and prints each
        row of ids, pads included, one a line
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tsr  # noqa: E402


def records(f):
    """(metadata, tensor names in header order, tensors) of each record."""
    for meta, tensors in tsr.records(f):
        yield meta, list(tensors), tensors


def main():
    if sys.argv[1] == "captions":
        with open(sys.argv[2], "rb") as f:
            for meta, _, _ in records(f):
                for c in json.loads(meta.get("captions", "[]")):
                    print(c)
        return
    with open(sys.argv[2], "rb") as fi, open(sys.argv[3], "rb") as fo:
        ins, outs = list(records(fi)), list(records(fo))
    assert len(ins) == len(outs), (len(ins), len(outs))
    for (mi, ni, ai), (mo, no, ao) in zip(ins, outs):
        assert mi == mo, (mi, mo)
        caps = json.loads(mi["captions"]) if "captions" in mi else None
        if caps is None:
            assert ni == no and "tokens" not in ao
        else:
            assert no == ni + ["tokens"] if "tokens" not in ni else no == ni, (ni, no)
            t = ao["tokens"]
            assert t.dtype == np.int32 and t.ndim == 2 and t.shape[0] == len(caps), t.shape
            for row in t:
                print(" ".join(map(str, row)))
        for k in ni:
            if k != "tokens":
                assert ai[k].dtype == ao[k].dtype and np.array_equal(ai[k], ao[k]), k


if __name__ == "__main__":
    main()
