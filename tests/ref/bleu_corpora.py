#!/usr/bin/env python3
"""Random corpora scored by bin/bleu and by the references: sacrebleu (its API and,
for some corpora, its command line) and the coco-caption scorers (pycocoevalcap's
Bleu and Cider on text tokenized by bleu(1)'s documented COCO rules).

    bleu_corpora.py --bleu bin/bleu --count 240 [--seed 1] [--cli 12] MODE

MODE is `aligned` (line-aligned files), `tsv` (keyed files, a varying number of
references per key) or `coco`. Prints one line per mismatch and exits 1 if any.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

from sacrebleu.metrics import BLEU
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider

WORDS = """the The THE a A dog dogs cat man woman women child runs running run sits red
blue green ball on in of at with grass field park beach street water snow two three
ΣΟΦΙΑ Σ ΌΣΟΣ σ straße İstanbul café naïve 東京 北京 😀 ǅ ﬁ K Å don't man's it's dogs'
can't they're I'm we've you'll he'd 3.5 10,000 1-2 2-3 e-mail U.S. &amp; &quot;hi&quot;
<skipped> &lt;b&gt; ... -- - ' '' (x) [y] {z} 50% $5 #tag @me a/b x+y ~ ^_^ `q` "q" ,
. ; : ! ? 7. 8, .9 ,1 x.y a,b Mr. etc.""".split()
SEPS = [" "] * 30 + ["  ", "\t", "\u00a0", "\u3000", "\u2009", "\x1c", "\u0085", "\x0b",
                     "\u2028", "\r"]


def sentence(rng, words, maxlen=14):
    n = rng.randint(0, maxlen)
    s = "".join(rng.choice(words) + rng.choice(SEPS) for _ in range(n))
    if rng.random() < 0.3:
        s = s.rstrip()
    if rng.random() < 0.1:
        s += rng.choice([" ", "\t", "\r", "  \u3000"])
    if rng.random() < 0.05:
        s = rng.choice(SEPS) + s
    return s.replace("\n", " ")


def corpus(rng):
    """Segments of (hypothesis, [references]); references are perturbed copies of a
    base sentence so that n-grams match, except in the zero-match corpora."""
    nseg = rng.randint(1, 30) if rng.random() > 0.05 else rng.randint(129, 300)
    nref = rng.randint(1, 5)
    disjoint = rng.random() < 0.08
    words = WORDS if not disjoint else ["zz%d" % i for i in range(20)]
    segs = []
    for _ in range(nseg):
        base = sentence(rng, WORDS)
        refs = []
        for _ in range(nref):
            toks = base.split(" ")
            for _ in range(rng.randint(0, 4)):
                if toks:
                    toks[rng.randrange(len(toks))] = rng.choice(WORDS)
            refs.append(" ".join(toks) if rng.random() > 0.05 else "")
        if disjoint:
            hyp = sentence(rng, words)
        else:
            toks = base.split(" ")
            for _ in range(rng.randint(0, 5)):
                if toks and rng.random() < 0.5:
                    del toks[rng.randrange(len(toks))]
                elif toks:
                    toks[rng.randrange(len(toks))] = rng.choice(WORDS)
            hyp = " ".join(toks) if rng.random() > 0.05 else ""
        segs.append((hyp, refs))
    return segs


def write(path, lines, crlf=False):
    with open(path, "w", encoding="utf-8", newline="") as f:
        for line in lines:
            f.write(line + ("\r\n" if crlf else "\n"))


def read_cli_lines(path):
    # sacrebleu.py reads every file with newline="\n" and rstrip()s each line.
    with open(path, encoding="utf-8", newline="\n") as f:
        return [line.rstrip() for line in f]


def read_tsv(path):
    """bleu(1)'s keyed files: blank lines skipped, the key up to the first tab, the
    caption rstrip()ped as sacrebleu does."""
    with open(path, encoding="utf-8", newline="\n") as f:
        lines = [line[:-1] if line.endswith("\n") else line for line in f]
    return [(k, t.rstrip()) for k, t in (line.split("\t", 1) for line in lines if line.strip())]


PUNCT = set('.,?!:;"`()[]{}')
CLITICS = ["n't", "'s", "'m", "'d", "'re", "'ve", "'ll"]


def coco_tokens(s):
    """bleu(1), COCO TOKENIZATION, in Python."""
    s = s.rstrip().lower().rstrip()
    out = []
    for tok in "".join(" " if c in PUNCT else c for c in s).split():
        tok = tok.strip("'-")
        if not tok:
            continue
        for c in CLITICS:
            if len(tok) > len(c) and tok.endswith(c):
                out += [tok[: -len(c)], c]
                break
        else:
            out.append(tok)
    return " ".join(out)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode, p.stderr))
    return p.stdout


def sacre_options(rng):
    opts = {"lowercase": rng.random() < 0.3, "tokenize": rng.choice(["13a"] * 3 + ["none"]),
            "smooth_method": rng.choice(["exp", "exp", "floor", "add-k", "none"])}
    if opts["smooth_method"] in ("floor", "add-k") and rng.random() < 0.5:
        opts["smooth_value"] = rng.choice([0.01, 0.5, 2.0])
    return opts


def flags(opts):
    f = ["--tokenize", opts["tokenize"], "--smooth", opts["smooth_method"]]
    if opts["lowercase"]:
        f.append("--lowercase")
    if "smooth_value" in opts:
        f += ["--smooth-value", repr(opts["smooth_value"])]
    return f


def check_sacrebleu(args, rng, d, i, tsv):
    segs = corpus(rng)
    opts = sacre_options(rng)
    crlf = rng.random() < 0.1
    hyp_path = os.path.join(d, "hyp")
    if tsv:
        # keyed: a varying number of references per key, shuffled across two files
        rows = []
        for k, (_, refs) in enumerate(segs):
            keep = refs[: rng.randint(1, len(refs))]
            segs[k] = (segs[k][0], keep)
            rows += [("k%d" % k, r) for r in keep]
        rng.shuffle(rows)
        half = len(rows) // 2
        ref_paths = [os.path.join(d, "r0"), os.path.join(d, "r1")]
        write(ref_paths[0], ["%s\t%s" % r for r in rows[:half]], crlf)
        write(ref_paths[1], ["%s\t%s" % r for r in rows[half:]], crlf)
        write(hyp_path, ["k%d\t%s" % (k, h) for k, (h, _) in enumerate(segs)], crlf)
        # the same grouping bleu makes: references in file order within each key
        by_key = {}
        for path in ref_paths:
            for key, text in read_tsv(path):
                by_key.setdefault(key, []).append(text)
        hyps = [text for _, text in read_tsv(hyp_path)]
        nmax = max(len(v) for v in by_key.values())
        refs = [[by_key["k%d" % k][j] if j < len(by_key["k%d" % k]) else None
                 for k in range(len(segs))] for j in range(nmax)]
    else:
        nref = len(segs[0][1])
        ref_paths = [os.path.join(d, "r%d" % j) for j in range(nref)]
        for j, p in enumerate(ref_paths):
            write(p, [s[1][j] for s in segs], crlf)
        write(hyp_path, [s[0] for s in segs], crlf)
        hyps = read_cli_lines(hyp_path)
        refs = [read_cli_lines(p) for p in ref_paths]

    metric = BLEU(**opts)
    score = metric.corpus_score(hyps, refs)
    sig = metric.get_signature().format()
    base = [args.bleu] + (["--tsv"] if tsv else []) + flags(opts)
    for p in ref_paths:
        base += ["-r", p]
    failures = []
    width = rng.choice([1, 1, 2, 4])
    want = score.format(width, False, sig) + "\n"
    got = run(base + ["-w", str(width), hyp_path])
    if got != want:
        failures.append("text -w %d\n  want %r\n  got  %r" % (width, want, got))
    want = score.format(12, False, sig, is_json=True) + "\n"
    got = run(base + ["--json", "-w", "12", hyp_path])
    if got != want:
        failures.append("json -w 12\n  want %r\n  got  %r" % (want, got))
    if not tsv and i < args.cli:
        # sacrebleu's own command line: file reading and output format end to end
        cli = [sys.executable, "-m", "sacrebleu", *ref_paths, "-i", hyp_path, "-f", "text",
               "-tok", opts["tokenize"], "-s", opts["smooth_method"]]
        if opts["lowercase"]:
            cli.append("-lc")
        if "smooth_value" in opts:
            cli += ["-sv", repr(opts["smooth_value"])]
        want = run(cli)
        got = run(base + [hyp_path])
        if got != want:
            failures.append("vs sacrebleu CLI\n  want %r\n  got  %r" % (want, got))
    return failures


def check_coco(args, rng, d, i):
    segs = corpus(rng)
    hyp_path, ref_path = os.path.join(d, "hyp"), os.path.join(d, "ref")
    write(hyp_path, ["img%d\t%s" % (k, h) for k, (h, _) in enumerate(segs)])
    write(ref_path, ["img%d\t%s" % (k, r) for k, (_, refs) in enumerate(segs) for r in refs])
    res = {k: [coco_tokens(h)] for k, (h, _) in enumerate(segs)}
    gts = {k: [coco_tokens(r) for r in refs] for k, (_, refs) in enumerate(segs)}
    b, _ = Bleu(4).compute_score(gts, res, verbose=0)
    c, _ = Cider().compute_score(gts, res)
    want = {"Bleu_%d" % (n + 1): "%.6f" % b[n] for n in range(4)}
    want["CIDEr-D"] = "%.6f" % c
    got = json.loads(run([args.bleu, "--coco", "--json", "--tsv", "-r", ref_path, hyp_path]),
                     parse_float=str)
    got = {k: got[k] for k in want}
    if got != want:
        return ["coco\n  want %r\n  got  %r" % (want, got)]
    return []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bleu", required=True)
    ap.add_argument("--count", type=int, default=240)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cli", type=int, default=12, help="corpora also run through sacrebleu's CLI")
    ap.add_argument("mode", choices=["aligned", "tsv", "coco"])
    args = ap.parse_args()
    bad = 0
    with tempfile.TemporaryDirectory() as d:
        for i in range(args.count):
            rng = random.Random("%d-%s-%d" % (args.seed, args.mode, i))
            if args.mode == "coco":
                failures = check_coco(args, rng, d, i)
            else:
                failures = check_sacrebleu(args, rng, d, i, args.mode == "tsv")
            for f in failures:
                print("corpus %d (seed %d): %s" % (i, args.seed, f))
                bad += 1
    print("%d corpora, %d mismatches" % (args.count, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
