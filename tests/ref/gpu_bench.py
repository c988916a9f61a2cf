"""PyTorch's side of tests/gpu/bench.sh, on the GPU: the reference model
(model.py) in bf16 autocast, eager and torch.compile.

    gpu_bench.py peak
        the bf16 matrix-product rate: torch.matmul 8192^3 on random data, the
        median of 20 after 3 warm-ups (TFLOP/s)
    gpu_bench.py train CONFIG VOCAB B STEPS eager|compile [T]
        training steps of the model of preset CONFIG (model.py's config
        keys) with a vocabulary of VOCAB, batch B of random images and full-
        length captions (T positions, default the preset's): forward, backward, clipping to norm 1, fused AdamW;
        images/s over STEPS steps after 3 warm-up steps
    gpu_bench.py encode CONFIG VOCAB B N eager|compile
        the encoder over N random images in batches of B: images/s
    gpu_bench.py greedy CONFIG VOCAB B N eager|compile
        greedy captions of N random embeddings, B at a time, every caption run
        to the decoder's positions: eager with a key/value cache
        (decode_bench.Cached); compiled, the decoder over the whole padded
        prefix (one shape, so one compilation) at each step: captions/s

Prints one JSON object. GPU_BENCH_DEVICE=cpu (with GPU_BENCH_PEAK_N=256, say)
runs the same code on the CPU in float32, to try the script where no GPU is;
its numbers mean nothing.
"""
import json
import os
import sys
import time

import torch

DEV = os.environ.get("GPU_BENCH_DEVICE", "cuda")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as ref  # noqa: E402
from model_bench import PRESETS  # noqa: E402


def sync():
    if DEV == "cuda":
        torch.cuda.synchronize()


def timed(fn, n):
    sync()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    sync()
    return time.perf_counter() - t0


def autocast():
    return torch.autocast(DEV, dtype=torch.bfloat16, enabled=DEV == "cuda")


def peak():
    n = int(os.environ.get("GPU_BENCH_PEAK_N", 8192))
    dt = torch.bfloat16 if DEV == "cuda" else torch.float32
    a = torch.randn(n, n, device=DEV, dtype=dt)
    b = torch.randn(n, n, device=DEV, dtype=dt)
    for _ in range(3):
        a @ b
    ts = []
    for _ in range(20):
        if DEV == "cuda":
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            a @ b
            e.record()
            e.synchronize()
            ts.append(s.elapsed_time(e) / 1e3)
        else:
            ts.append(timed(lambda: a @ b, 1))
    t = sorted(ts)[len(ts) // 2]
    return {"peak_tflops": 2 * n ** 3 / t / 1e12, "n": n}


def make(cfg, vocab):
    torch.manual_seed(0)
    m = ref.Captioner(dict(PRESETS[cfg], vocab=vocab)).to(DEV)
    for p in m.parameters():
        if p.dim() > 1:
            torch.nn.init.normal_(p, std=0.02)
    return m


def train(cfg, vocab, B, steps, how, T=0):
    m = make(cfg, vocab)
    c = m.config
    T = T or c["dec_len"]
    img = torch.randint(0, 256, (B, c["image"], c["image"], 3), dtype=torch.uint8, device=DEV)
    tok = torch.randint(4, vocab, (B, T + 1), device=DEV)
    decay = [p for n, p in m.named_parameters() if n.endswith(".weight") and p.dim() == 2
             and "embed" not in n]
    other = [p for p in m.parameters() if not any(p is q for q in decay)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": other, "weight_decay": 0.0}], lr=1e-4,
                            **({"fused": True} if DEV == "cuda" else {}))
    fwd = torch.compile(m) if how == "compile" else m

    def step():
        with autocast():
            loss = fwd(ids=tok[:, :T], targets=tok[:, 1:], images=img)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
    t0 = time.perf_counter()
    timed(step, 3)
    warm = time.perf_counter() - t0
    dt = timed(step, steps)
    return {"images_per_s": B * steps / dt, "warmup_s": warm,
            "T": T, "peak_mem_gib": torch.cuda.max_memory_allocated() / 2 ** 30
            if DEV == "cuda" else 0}


def encode(cfg, vocab, B, N, how):
    m = make(cfg, vocab).eval()
    c = m.config
    img = torch.randint(0, 256, (B, c["image"], c["image"], 3), dtype=torch.uint8, device=DEV)
    enc = torch.compile(m.encoder) if how == "compile" else m.encoder

    def run():
        with torch.inference_mode(), autocast():
            enc(img)
    timed(run, 3)
    return {"images_per_s": B * (N // B) / timed(run, N // B)}


def greedy(cfg, vocab, B, N, how):
    import decode_bench
    m = make(cfg, vocab).eval()
    c = m.config
    L = c["dec_len"] - 1
    n_enc = (c["image"] // c["patch"]) ** 2
    mem = torch.randn(B, n_enc, c["dim"], device=DEV)
    dec = m.decoder

    if how == "compile":
        full = torch.compile(dec)

        def run():
            ids = torch.full((B, c["dec_len"]), 1, device=DEV)
            for t in range(L + 1):
                logits = full(ids, mem)[:, t]
                logits[:, :3] = -float("inf")       # run to the last position
                if t + 1 < c["dec_len"]:
                    ids[:, t + 1] = logits.argmax(-1)
    else:
        def run():
            d = decode_bench.Cached(dec, mem, 1)
            ids = torch.full((B,), 1, device=DEV)
            for t in range(L + 1):
                logits = d.step(ids)
                logits[:, :3] = -float("inf")
                ids = logits.argmax(-1)

    def go():
        with torch.inference_mode(), autocast():
            run()
    timed(go, 2)
    return {"captions_per_s": B * (N // B) / timed(go, N // B)}


def main():
    what = sys.argv[1]
    torch.backends.cuda.matmul.allow_tf32 = True
    if what == "peak":
        out = peak()
    else:
        cfg, vocab, B, n, how = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
        extra = [int(x) for x in sys.argv[7:]]
        out = {"train": train, "encode": encode, "greedy": greedy}[what](cfg, vocab, B, n, how, *extra)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
