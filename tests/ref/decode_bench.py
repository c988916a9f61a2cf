"""PyTorch doing the work of vit-embed and capdecode, for tests/bench/inference.sh:
the reference model of model.py, batched, in inference mode, on THREADS threads.

    decode_bench.py encoder MODEL IMAGES B THREADS
    decode_bench.py greedy MODEL EMBEDS B THREADS [cache|nocache]
    decode_bench.py beam MODEL EMBEDS B K THREADS [cache|nocache]

encoder: the encoder over the images of stream IMAGES in batches of B;
greedy and beam: captions (max-len dec_len - 1, length penalty 1) of the
embeddings of stream EMBEDS, B images at a time, recomputing the decoder over
the whole prefix at each step (nocache) or with a hand-written key/value cache:
self-attention keys and values appended one position at a time, cross-attention
keys and values computed once per image. The beam search is the usual batched
one (topk over K x V, finished hypotheses kept per image, stop at K finished).
Prints one line: items/s over the work alone (loading excluded), the number of
items, and the process's peak resident memory.
"""
import math
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as ref  # noqa: E402
from tsr import records  # noqa: E402
from safetensors.torch import load as torch_load  # noqa: E402

PAD, BOS, EOS = 0, 1, 2


class Cached:
    """Incremental decoding over model.py's decoder: one position per step."""

    def __init__(self, dec, memory, rows_per_image):
        self.dec, self.t = dec, 0
        self.self_kv = [None] * len(dec.blocks)
        self.cross_kv = []
        for blk in dec.blocks:
            k, v = blk.cross_attn.kv(memory).chunk(2, dim=-1)
            if rows_per_image > 1:
                k = k.repeat_interleave(rows_per_image, 0)
                v = v.repeat_interleave(rows_per_image, 0)
            self.cross_kv.append((k, v))

    def step(self, ids):
        dec = self.dec
        x = dec.tok_embed(ids)[:, None] + dec.pos_embed[self.t]
        for i, blk in enumerate(dec.blocks):
            sa = blk.self_attn
            q, k, v = sa.qkv(blk.ln1(x)).chunk(3, dim=-1)
            if self.self_kv[i] is not None:
                k = torch.cat([self.self_kv[i][0], k], 1)
                v = torch.cat([self.self_kv[i][1], v], 1)
            self.self_kv[i] = (k, v)
            x = x + sa.proj(ref.attend(q, k, v, sa.heads))
            ca = blk.cross_attn
            ck, cv = self.cross_kv[i]
            x = x + ca.proj(ref.attend(ca.q(blk.ln2(x)), ck, cv, ca.heads))
            x = x + blk.mlp(blk.ln3(x))
        self.t += 1
        return (dec.ln_f(x) @ dec.tok_embed.weight.t())[:, 0]

    def reorder(self, idx):
        self.self_kv = [(k.index_select(0, idx), v.index_select(0, idx)) for k, v in self.self_kv]


class Uncached:
    """The decoder over the whole prefix at each step."""

    def __init__(self, dec, memory, rows_per_image):
        self.dec = dec
        self.memory = memory.repeat_interleave(rows_per_image, 0) if rows_per_image > 1 else memory
        self.prefix = None

    def step(self, ids):
        ids = ids[:, None]
        self.prefix = ids if self.prefix is None else torch.cat([self.prefix, ids], 1)
        return self.dec(self.prefix, self.memory)[:, -1]

    def reorder(self, idx):
        self.prefix = self.prefix.index_select(0, idx)


def greedy(dec, memory, L, kind):
    B = memory.shape[0]
    d = kind(dec, memory, 1)
    ids = torch.full((B,), BOS)
    done = torch.zeros(B, dtype=torch.bool)
    out = []
    for t in range(L + 1):
        logits = d.step(ids)
        logits[:, PAD] = logits[:, BOS] = -math.inf
        ids = torch.full((B,), EOS) if t == L else logits.argmax(-1)
        ids = torch.where(done, torch.full_like(ids, EOS), ids)
        out.append(ids)
        done |= ids == EOS
        if bool(done.all()):
            break
    return torch.stack(out, 1)


def beam(dec, memory, K, L, alpha, kind):
    B = memory.shape[0]
    V = dec.tok_embed.weight.shape[0]
    d = kind(dec, memory, K)
    scores = torch.full((B, K), -math.inf, dtype=torch.float64)
    scores[:, 0] = 0
    ids = torch.full((B * K,), BOS)
    seqs = torch.zeros(B * K, 0, dtype=torch.long)
    finished = [[] for _ in range(B)]
    done = [False] * B
    base = (torch.arange(B) * K)[:, None]
    for t in range(L + 1):
        logp = d.step(ids).double().log_softmax(-1)
        logp[:, PAD] = logp[:, BOS] = -math.inf
        if t == L:
            keep = logp[:, EOS].clone()
            logp.fill_(-math.inf)
            logp[:, EOS] = keep
        cand = (scores.view(-1, 1) + logp).view(B, K * V)
        top, idx = cand.topk(2 * K, dim=1)
        beam_of, tok = idx // V, idx % V
        new_scores = torch.full((B, K), -math.inf, dtype=torch.float64)
        new_tok = torch.full((B, K), EOS, dtype=torch.long)
        parent = base.expand(B, K).clone()
        for b in range(B):
            if done[b]:
                continue
            n = 0
            for r in range(2 * K):
                s = float(top[b, r])
                if n == K or len(finished[b]) == K or s == -math.inf:
                    break
                j, v = int(beam_of[b, r]), int(tok[b, r])
                if v == EOS:
                    if r < K:
                        finished[b].append((seqs[b * K + j].tolist(), s / (t + 1) ** alpha))
                else:
                    new_scores[b, n], new_tok[b, n], parent[b, n] = s, v, b * K + j
                    n += 1
            if len(finished[b]) >= K or t == L:
                done[b] = True
        if all(done):
            break
        p = parent.view(-1)
        d.reorder(p)
        seqs = torch.cat([seqs.index_select(0, p), new_tok.view(-1, 1)], 1)
        scores, ids = new_scores, new_tok.view(-1)
    return [max(f, key=lambda h: h[1])[0] if f else [] for f in finished]


def main():
    what = sys.argv[1]
    m, _ = ref.load(sys.argv[2])
    m.eval()
    stream = [t for _, t in records(sys.argv[3], torch_load)]
    B = int(sys.argv[4])
    K = int(sys.argv[5]) if what == "beam" else 1
    threads = int(sys.argv[6 if what == "beam" else 5])
    kind = {"cache": Cached, "nocache": Uncached}[sys.argv[-1]] if what != "encoder" else None
    torch.set_num_threads(threads)
    L = m.config["dec_len"] - 1
    key = "image" if what == "encoder" else "embed"
    data = torch.stack([r[key] for r in stream])
    if key == "embed":
        data = data.float()
    with torch.inference_mode():
        t0 = time.perf_counter()
        for i in range(0, len(data), B):
            x = data[i:i + B]
            if what == "encoder":
                m.encoder(x)
            elif what == "greedy":
                greedy(m.decoder, x, L, kind)
            else:
                beam(m.decoder, x, K, L, 1.0, kind)
        dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    unit = "images" if what == "encoder" else "captions"
    print("%.1f %s/s (%d %s, %.2f s), peak RSS %.0f MiB" % (len(data) / dt, unit, len(data),
                                                          unit, dt, rss))


if __name__ == "__main__":
    main()
