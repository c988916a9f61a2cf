"""The reference for vit-embed and capdecode: the encoder, greedy decoding and
beam search written plainly over the PyTorch model of model.py, recomputing
the decoder over the whole prefix at every step (no key/value cache), one
image at a time. It follows the definitions of capdecode(1), not the C code.

    decode_ref.py model CONFIG SEED OUT        a random checkpoint with a word
                                               vocabulary "w4 w5 ..."
    decode_ref.py images N SIZE SEED OUT       a stream of N random images
    decode_ref.py encoder MODEL IMAGES EMBEDS  the encoder over the images of
                                               stream IMAGES against the embed
                                               of stream EMBEDS (vit-embed's)
    decode_ref.py check MODEL STREAM JSONL [--beam K] [--length-penalty A]
                  [--max-len L] [--images]     the captions of STREAM (its
                                               embed, or its image with
                                               --images) against capdecode's
                                               --format jsonl output

encoder prints the largest error relative to the largest value and fails
over 1e-5; check prints how many captions agree, token for token, and the
largest log-probability difference, and fails on any disagreement.
"""
import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as ref  # noqa: E402
import tsr  # noqa: E402

PAD, BOS, EOS, UNK = 0, 1, 2, 3


def records(path):
    """(metadata, {name: torch tensor}) for each record of the stream at path."""
    from safetensors.torch import load
    return tsr.records(path, load)


def words(vocab_text):
    """The tokens of a word-level vocabulary file, in id order."""
    lines = vocab_text.split("\n")
    assert lines[0] == "#vitcap-vocab word 1", "a word-level vocabulary is needed"
    return [line.split("\t")[0] for line in lines[1:] if line]


def allowed_order(logits, n):
    """The n best tokens but <pad> and <bos>, best first, equal logits in id order."""
    keyed = sorted((-float(logits[v]), v) for v in range(len(logits)) if v not in (PAD, BOS))
    return [v for _, v in keyed[:n]]


@torch.no_grad()
def next_logprobs(m, prefixes, memory):
    """Log-probabilities (float64) of the next token after each prefix, from the
    full decoder over the prefix; memory [1, N, D]."""
    ids = torch.tensor([[BOS] + p for p in prefixes])
    logits = m.decoder(ids, memory.expand(len(prefixes), -1, -1))[:, -1]
    return logits, logits.double().log_softmax(-1)


def greedy(m, memory, L):
    prefix, lp = [], 0.0
    for t in range(L + 1):
        logits, logp = next_logprobs(m, [prefix], memory)
        c = EOS if t == L else allowed_order(logits[0], 1)[0]
        lp += float(logp[0, c])
        if c == EOS:
            break
        prefix.append(c)
    return prefix, lp


def beam(m, memory, K, alpha, L):
    """The standard beam search: each step, every beam's 2K best tokens are
    candidates, ranked by log-probability (ties: the better beam, then the lower
    id); an <eos> among the first K ends a hypothesis, scored logprob / (words +
    1)^alpha; the first K others are the next beams. It stops when K hypotheses
    have ended; after L words only <eos> may follow."""
    beams = [([], 0.0)]
    finished = []
    for t in range(L + 1):
        logits, logp = next_logprobs(m, [b[0] for b in beams], memory)
        cands = []
        for j, (prefix, score) in enumerate(beams):
            toks = [EOS] if t == L else allowed_order(logits[j], 2 * K)
            cands += [(score + float(logp[j, v]), j, v) for v in toks]
        cands.sort(key=lambda c: (-c[0], c[1], c[2]))
        nxt = []
        for rank, (score, j, v) in enumerate(cands[:2 * K]):
            if len(nxt) == K or len(finished) == K:
                break
            if v == EOS:
                if rank < K:
                    finished.append((beams[j][0], score, score / (t + 1) ** alpha))
            else:
                nxt.append((beams[j][0] + [v], score))
        if len(finished) >= K or not nxt:
            break
        beams = nxt
    best = None
    for f in finished:
        if best is None or f[2] > best[2]:
            best = f
    return best[0], best[1]


def cmd_model(args):
    """Random weights with PyTorch's default initialisation (which makes the
    tied output layer's logits spread widely, so the choices are clear), the
    parameters that start at zero drawn too, and <eos> made likely enough that
    captions end at different lengths."""
    from safetensors.torch import save_file
    torch.manual_seed(args.seed)
    cfg = json.load(open(args.config))
    m = ref.Captioner(cfg)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "decoder.pos_embed" in name:
                p.normal_(0, args.pos_std)
            elif "pos_embed" in name or "cls_token" in name:
                p.normal_(0, 0.5)
            elif name.endswith(".bias"):
                p.normal_(0, 0.1)
            elif "ln" in name and name.endswith(".weight"):
                p.normal_(1, 0.1)
            elif "cross_attn.proj.weight" in name:
                p.mul_(args.cross_scale)
        m.decoder.tok_embed.weight.mul_(args.tok_scale)
        m.decoder.tok_embed.weight[EOS].mul_(args.eos_scale)
    V = m.config["vocab"]
    vocab = "#vitcap-vocab word 1\n<pad>\t0\n<bos>\t0\n<eos>\t0\n<unk>\t0\n" + \
        "".join("w%d\t1\n" % i for i in range(4, V))
    meta = {"format": "pt", "config": json.dumps(m.config), "vocab": vocab}
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, args.out, metadata=meta)


def cmd_images(args):
    """Records of random images, smooth enough for a ViT to tell apart, keyed
    img000.png ..., with two reference captions each."""
    from safetensors.torch import save
    g = torch.Generator().manual_seed(args.seed)
    with open(args.out, "wb") as f:
        for i in range(args.n):
            coarse = torch.rand(1, 3, 4, 4, generator=g)
            img = torch.nn.functional.interpolate(coarse, size=(args.size, args.size),
                                                  mode="bilinear", align_corners=False)
            img = (img[0].permute(1, 2, 0) * 255).round().to(torch.uint8).contiguous()
            meta = {"__key__": "img%03d.png" % i,
                    "captions": json.dumps(["picture %d" % i, "image number %d" % i])}
            f.write(save({"image": img}, metadata=meta))


def cmd_encoder(args):
    m, _ = ref.load(args.model)
    m.eval()
    worst, peak, n = 0.0, 0.0, 0
    for (meta_a, a), (meta_b, b) in zip(records(args.images), records(args.embeds)):
        with torch.no_grad():
            want = m.encoder(a["image"].unsqueeze(0))[0]
        got = b["embed"].float()
        assert got.shape == want.shape, (got.shape, want.shape)
        assert meta_a.get("__key__") == meta_b.get("__key__")
        worst = max(worst, float((got - want).abs().max()))
        peak = max(peak, float(want.abs().max()))
        n += 1
    rel = worst / peak if peak else math.inf
    print("%d images: encoder output, max |error| %.3g, relative to max |value| %.3g" %
          (n, worst, rel))
    sys.exit(0 if n > 0 and rel < args.tol else 1)


def cmd_check(args):
    m, vocab_text = ref.load(args.model)
    m.eval()
    toks = words(vocab_text)
    L = args.max_len if args.max_len is not None else m.config["dec_len"] - 1
    ours = [json.loads(line) for line in open(args.jsonl)]
    same, n, worst = 0, 0, 0.0
    for (meta, t), got in zip(records(args.stream), ours):
        with torch.no_grad():
            memory = m.encoder(t["image"].unsqueeze(0)) if args.images else \
                t["embed"].float().unsqueeze(0)
        if args.beam:
            ids, lp = beam(m, memory, args.beam, args.length_penalty, L)
        else:
            ids, lp = greedy(m, memory, L)
        caption = " ".join(toks[i] for i in ids)
        key = meta.get("__key__")
        assert got["key"] == key, (got["key"], key)
        n += 1
        if got["caption"] == caption:
            same += 1
            worst = max(worst, abs(got["logprob"] - lp))
        else:
            print("%s: capdecode %r (%.6f), reference %r (%.6f)" %
                  (key, got["caption"], got["logprob"], caption, lp))
    assert n == len(ours), (n, len(ours))
    what = "beam %d, alpha %g" % (args.beam, args.length_penalty) if args.beam else "greedy"
    print("%s: %d/%d captions the same, max log-probability difference %.2g" %
          (what, same, n, worst))
    sys.exit(0 if same == n and worst < 1e-3 else 1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("model")
    a.add_argument("config")
    a.add_argument("seed", type=int)
    a.add_argument("out")
    a.add_argument("--eos-scale", type=float, default=1.5)
    a.add_argument("--tok-scale", type=float, default=0.5)
    a.add_argument("--cross-scale", type=float, default=4.0)
    a.add_argument("--pos-std", type=float, default=4.0)
    a = sub.add_parser("images")
    a.add_argument("n", type=int)
    a.add_argument("size", type=int)
    a.add_argument("seed", type=int)
    a.add_argument("out")
    a = sub.add_parser("encoder")
    a.add_argument("model")
    a.add_argument("images")
    a.add_argument("embeds")
    a.add_argument("--tol", type=float, default=1e-5)
    a = sub.add_parser("check")
    a.add_argument("model")
    a.add_argument("stream")
    a.add_argument("jsonl")
    a.add_argument("--beam", type=int, default=0)
    a.add_argument("--length-penalty", type=float, default=1.0)
    a.add_argument("--max-len", type=int)
    a.add_argument("--images", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    {"model": cmd_model, "images": cmd_images, "encoder": cmd_encoder,
     "check": cmd_check}[args.cmd](args)


if __name__ == "__main__":
    main()
