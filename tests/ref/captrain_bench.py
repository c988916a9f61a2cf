"""PyTorch's side of tests/bench/captrain.sh: the reference model (model.py)
trained as captrain trains it, on the same shards, for timing.

    captrain_bench.py MODEL.safetensors SHARD B STEPS THREADS

Starts from MODEL's weights and config; takes the pairs of SHARD in file order, B
a step, with the decoder positions trimmed to the batch's longest caption as
captrain does; a step is forward, backward, clipping to norm 1 and AdamW with
weight decay on the matrices of linear maps. Prints the median images/s of the
steps after the first, and the peak resident memory.
"""
import os
import resource
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as ref  # noqa: E402
from tsr import records  # noqa: E402


def main():
    path, shard, B, steps, threads = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    torch.set_num_threads(threads)
    m, _ = ref.load(path)
    images, rows = [], []
    with open(shard, "rb") as f:
        for _, a in records(f):
            for row in a["tokens"]:
                images.append(a["image"])
                rows.append(row)
    decay = [p for n, p in m.named_parameters() if n.endswith(".weight") and p.dim() == 2
             and "embed" not in n]
    other = [p for n, p in m.named_parameters() if not any(p is q for q in decay)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": other, "weight_decay": 0.0}], lr=1e-4)
    times = []
    for s in range(steps):
        i = (s * B) % (len(rows) - B + 1)
        tok = torch.from_numpy(np.stack(rows[i:i + B])).long()
        T = int((tok != 0).nonzero()[:, 1].max())
        img = torch.from_numpy(np.stack(images[i:i + B]))
        t0 = time.perf_counter()
        loss = m(ids=tok[:, :T], targets=tok[:, 1:T + 1], images=img)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
    times = sorted(times[1:])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("%.2f %.0f" % (B / times[len(times) // 2], rss))


if __name__ == "__main__":
    main()
