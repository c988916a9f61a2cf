"""The Hugging Face tokenizers library doing tokenize(1)'s job, for the tests and
for make bench: the same vocabulary file, the same <bos> ... <eos> framing and
the same --max-len truncation.

    tokenize_hf.py encode VOCAB TEXT [MAXLEN]     ids per line, as `tokenize encode`
    tokenize_hf.py decode VOCAB IDS               captions per line, as `tokenize decode`
    tokenize_hf.py bench VOCAB TEXT MAXLEN OUT    times encode_batch; writes ids to OUT
    tokenize_hf.py train TEXT MERGES              times BpeTrainer learning that many merges

A word-level vocabulary becomes a WordLevel model behind a normalizer that does
what tokenize(1) documents (lowercase; punctuation to a space unless it is an
apostrophe or hyphen between word characters) for text whose white space is
ASCII; a BPE vocabulary becomes a BPE model with the file's merges, behind the
ByteLevel pre-tokenizer (GPT-2's regex, no prefix space).
"""
import sys
import time

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from tokenizers.processors import TemplateProcessing

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
PUNCT = r"!-/:-@\[-`{-~\p{P}"
WORD = r"[^\s" + PUNCT + "]"


def load(path, maxlen):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    kind = {"#vitcap-vocab word 1": "word", "#vitcap-vocab bpe 1": "bpe"}[lines[0]]
    vocab, merges = {}, []
    for i, line in enumerate(lines[1:]):
        token = line.rsplit("\t", 1)[0]
        if kind == "bpe" and i >= 4 + 256:
            left, right = token.split(" ")
            merges.append((left, right))
            token = left + right
        vocab[token] = i
    assert [vocab[s] for s in SPECIALS] == [0, 1, 2, 3]
    if kind == "word":
        tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
        tok.normalizer = normalizers.Sequence([
            normalizers.Lowercase(),
            normalizers.Replace(Regex(f"(?!(?<={WORD})['-](?={WORD}))[{PUNCT}]"), " "),
        ])
        tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    else:
        tok = Tokenizer(models.BPE(vocab, merges))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIALS)
    tok.post_processor = TemplateProcessing(single="<bos> $A <eos>",
                                            special_tokens=[("<bos>", 1), ("<eos>", 2)])
    tok.enable_truncation(max_length=maxlen + 1)
    return kind, tok


def captions(path):
    with open(path, encoding="utf-8", newline="\n") as f:
        text = f.read()
    if text.endswith("\n"):
        text = text[:-1]
    return text.split("\n") if text else []


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    mode, vocab = sys.argv[1], sys.argv[2]
    if mode == "encode":
        maxlen = int(sys.argv[4]) if len(sys.argv) > 4 else 24
        _, tok = load(vocab, maxlen)
        for e in tok.encode_batch(captions(sys.argv[3])):
            print(" ".join(map(str, e.ids)))
    elif mode == "decode":
        kind, tok = load(vocab, 1 << 20)
        for line in captions(sys.argv[3]):
            ids = [int(x) for x in line.split()]
            if 2 in ids:
                ids = ids[:ids.index(2)]
            text = tok.decode(ids, skip_special_tokens=True)
            print(text)
    elif mode == "bench":
        maxlen, out = int(sys.argv[4]), sys.argv[5]
        _, tok = load(vocab, maxlen)
        caps = captions(sys.argv[3])
        t0 = time.perf_counter()
        enc = tok.encode_batch(caps)
        t1 = time.perf_counter()
        with open(out, "w") as f:
            for e in enc:
                f.write(" ".join(map(str, e.ids)) + "\n")
        print(f"{t1 - t0:.3f}")
    elif mode == "train":
        caps, merges = captions(sys.argv[2]), int(sys.argv[3])
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        trainer = trainers.BpeTrainer(vocab_size=4 + 256 + merges, show_progress=False,
                                      special_tokens=SPECIALS,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        t0 = time.perf_counter()
        tok.train_from_iterator(caps, trainer, length=len(caps))
        t1 = time.perf_counter()
        print(f"{t1 - t0:.3f}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
