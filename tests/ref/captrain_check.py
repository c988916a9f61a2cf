"""Checks of captrain's outputs for tests/captrain.bats.

    captrain_check.py log LOG STEPS [VALS]   every line is JSON with the documented
                                             fields; STEPS step lines numbered 1..STEPS,
                                             VALS validation lines; prints the first
                                             loss and the mean of the last ten
    captrain_check.py fields LOG             the log without its timings, for comparing runs
    captrain_check.py valloss MODEL SHARDS.. the mean loss of the PyTorch reference model
                                             (model.py) over every caption of the shards
    captrain_check.py steps MODEL            the step counters of MODEL and its state file
    captrain_check.py same A B ATOL          two checkpoints (and their state files) agree
                                             within ATOL, and differ from their start by
                                             far more (MOVED, the third checkpoint, if given)
    captrain_check.py frozen INIT MODEL      the encoder of MODEL is INIT's, bit for bit,
                                             and the decoder has moved
"""
import json
import math
import os
import sys

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as ref  # noqa: E402
from tsr import records  # noqa: E402

STEP = {"step": int, "epoch": int, "loss": float, "lr": float, "grad_norm": float,
        "images_per_s": float, "tokens_per_s": float, "gflops": float, "time": float}
VAL = {"step": int, "epoch": int, "val_loss": float, "val_tokens": int}
TIMINGS = ("images_per_s", "tokens_per_s", "gflops", "time")


def check_log(path, steps, vals=None):
    losses, nval = [], 0
    for line in open(path):
        obj = json.loads(line)
        want = VAL if "val_loss" in obj else STEP
        assert list(obj) == list(want), (list(obj), list(want))
        for k, t in want.items():
            assert isinstance(obj[k], (int, float) if t is float else int), (k, obj)
            assert math.isfinite(obj[k]) and obj[k] >= 0, (k, obj)
        if want is VAL:
            nval += 1
            continue
        losses.append(obj["loss"])
        assert obj["step"] == len(losses), (obj["step"], len(losses))
        assert obj["images_per_s"] > 0 and obj["gflops"] > 0
    assert len(losses) == steps, (len(losses), steps)
    assert vals is None or nval == vals, (nval, vals)
    print("%.4f %.4f" % (losses[0], sum(losses[-10:]) / len(losses[-10:])))


def fields(path):
    for line in open(path):
        obj = json.loads(line)
        print(json.dumps({k: v for k, v in obj.items() if k not in TIMINGS}))


def valloss(path, shards):
    m, _ = ref.load(path)
    m.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for shard in shards:
            with open(shard, "rb") as f:
                for meta, a in records(f):
                    tok = torch.from_numpy(a["tokens"]).long()
                    img = torch.from_numpy(a["image"]).unsqueeze(0).expand(len(tok), -1, -1, -1)
                    n = int((tok[:, 1:] != 0).sum())
                    total += float(m(ids=tok[:, :-1], targets=tok[:, 1:], images=img)) * n
                    count += n
    print("%.6f" % (total / count))


def meta(path):
    with safe_open(path, framework="np") as f:
        return f.metadata()


def state_path(path):
    return path[: -len(".safetensors")] + ".state.safetensors"


def steps(path):
    print(meta(path)["train_step"], meta(state_path(path))["step"])


def same(a, b, atol, moved=None):
    atol = float(atol)
    worst = (0.0, "")
    for pa, pb in ((a, b), (state_path(a), state_path(b))):
        x, y = load_file(pa), load_file(pb)
        assert sorted(x) == sorted(y)
        for k in x:
            d = float(np.abs(x[k] - y[k]).max()) if x[k].size else 0.0
            worst = max(worst, (d, k))
    assert worst[0] <= atol, worst
    if moved:
        x, y = load_file(a), load_file(moved)
        far = max(float(np.abs(x[k] - y[k]).max()) for k in x)
        assert far > 100 * atol, far
        print("max difference %.3g (%s); moved %.3g" % (worst[0], worst[1], far))
    else:
        print("max difference %.3g (%s)" % worst)


def frozen(init, path):
    x, y = load_file(init), load_file(path)
    for k in x:
        if k.startswith("encoder."):
            assert np.array_equal(x[k], y[k]), k
    assert any(not np.array_equal(x[k], y[k]) for k in x if k.startswith("decoder.")
               and x[k].shape == y[k].shape)
    print("encoder unchanged")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "log":
        check_log(args[0], int(args[1]), int(args[2]) if len(args) > 2 else None)
    elif cmd == "fields":
        fields(args[0])
    elif cmd == "valloss":
        valloss(args[0], args[1:])
    elif cmd == "steps":
        steps(args[0])
    elif cmd == "same":
        same(*args)
    elif cmd == "frozen":
        frozen(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
