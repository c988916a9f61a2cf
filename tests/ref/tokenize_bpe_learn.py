"""A plain reference for `tokenize build --bpe K`: the same learning rule written
the slow, obvious way (recount every pair at every step), pre-tokenised by the
tokenizers library's ByteLevel pre-tokenizer, writing the same vocabulary file.

    tokenize_bpe_learn.py K MIN_COUNT < captions.txt > vocab.txt

The rule (tokenize(1)): merge the most frequent adjacent pair, counting each
occurrence in each word; ties go to the smaller left id, then the smaller right
id (bytes are 4 + byte value, merge r makes 260 + r); never merge a pair whose
token already exists; stop after K merges or when no pair is seen MIN_COUNT times.
"""
import collections
import sys

from tokenizers import pre_tokenizers


def byte_chars():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def main():
    k, min_count = int(sys.argv[1]), int(sys.argv[2])
    text = sys.stdin.buffer.read().decode("utf-8")
    caps = text[:-1].split("\n") if text.endswith("\n") else (text.split("\n") if text else [])
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    char_byte = {c: b for b, c in byte_chars().items()}
    words = collections.Counter()
    for c in caps:
        for tok, _ in pre.pre_tokenize_str(c):
            words[tuple(4 + char_byte[ch] for ch in tok)] += 1
    names = {4 + b: c for b, c in byte_chars().items()}
    byte_count = collections.Counter()
    for w, n in words.items():
        for i in w:
            byte_count[i] += n
    segs = {w: list(w) for w in words}
    merges, known = [], set(names.values())
    banned = set()
    while len(merges) < k:
        pairs = collections.Counter()
        for w, s in segs.items():
            for a, b in zip(s, s[1:]):
                pairs[a, b] += words[w]
        cands = [(-n, a, b) for (a, b), n in pairs.items() if (a, b) not in banned]
        if not cands:
            break
        n, a, b = min(cands)
        if -n < max(min_count, 1):
            break
        if names[a] + names[b] in known:
            banned.add((a, b))
            continue
        new = 260 + len(merges)
        names[new] = names[a] + names[b]
        known.add(names[new])
        merges.append((a, b, -n))
        for s in segs.values():
            i = 0
            while i < len(s) - 1:
                if s[i] == a and s[i + 1] == b:
                    s[i:i + 2] = [new]
                i += 1
    out = ["#vitcap-vocab bpe 1", "<pad>\t0", f"<bos>\t{len(caps)}", f"<eos>\t{len(caps)}",
           "<unk>\t0"]
    out += [f"{names[4 + b]}\t{byte_count[4 + b]}" for b in range(256)]
    out += [f"{names[a]} {names[b]}\t{n}" for a, b, n in merges]
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
