"""PyTorch's speed on the reference model (model.py), to set beside
`test_model bench` with the same arguments.

    model_bench.py CONFIG VOCAB B STEPS MODE [THREADS]

CONFIG: tiny, small, base or a JSON file; MODE: full, frozen or embed. Prints
images/s of forward+backward and of whole AdamW steps, and the peak resident
memory of the process.
"""
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as ref  # noqa: E402

PRESETS = {
    "tiny": dict(image=64, patch=8, dim=192, heads=6, enc_layers=4, dec_layers=4, dec_len=24),
    "small": dict(image=224, patch=16, dim=384, heads=6, enc_layers=6, dec_layers=6, dec_len=32),
    "base": dict(image=224, patch=16, dim=768, heads=12, enc_layers=12, dec_layers=6, dec_len=40),
}


def main():
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__)
    name, vocab, B, steps, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
        int(sys.argv[4]), sys.argv[5]
    threads = int(sys.argv[6]) if len(sys.argv) == 7 else int(os.environ.get("OMP_NUM_THREADS", 2))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = dict(PRESETS[name]) if name in PRESETS else json.load(open(name))
    cfg["vocab"] = vocab
    m = ref.Captioner(cfg)
    c = m.config
    T = c["dec_len"]
    n = (c["image"] // c["patch"]) ** 2 + (1 if c["cls_token"] else 0)
    images = torch.randint(0, 256, (B, c["image"], c["image"], 3), dtype=torch.uint8)
    embed = torch.randn(B, n, c["dim"])
    ids = torch.randint(4, vocab, (B, T))
    targets = torch.randint(4, vocab, (B, T))
    if mode != "full":
        for p in m.encoder.parameters():
            p.requires_grad_(False)
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.1)

    def forward():
        if mode == "embed":
            mem = embed
        elif mode == "frozen":
            with torch.no_grad():
                mem = m.encoder(images)
        else:
            mem = m.encoder(images)
        logits = m.decoder(ids, mem)
        return torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1),
                                                 ignore_index=0)

    def fwd_bwd():
        loss = forward()
        opt.zero_grad()
        loss.backward()

    def step():
        fwd_bwd()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    step()                                                     # warm up
    fb, full = [], []
    for _ in range(steps):
        t0 = time.perf_counter()
        fwd_bwd()
        fb.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        step()
        full.append(time.perf_counter() - t0)
    fb.sort()
    full.sort()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"pytorch {torch.__version__} {name} B={B} V={vocab} threads={threads} mode={mode}: "
          f"forward+backward {B / fb[0]:.1f} images/s (median {B / fb[steps // 2]:.1f}), "
          f"step {B / full[0]:.1f} images/s (median {B / full[steps // 2]:.1f}); "
          f"peak RSS {rss:.0f} MiB")

if __name__ == "__main__":
    main()
