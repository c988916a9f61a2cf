"""Random captions for tests/tokenize.bats and tests/bench/tokenize.sh, one per
line, deterministic by seed.

    tokenize_corpus.py ascii N SEED     captions with the awkward parts of GPT-2's
                                        regex: contractions, runs of spaces and tabs,
                                        digits, punctuation runs, apostrophes
    tokenize_corpus.py unicode N SEED   the same plus accents, combining marks,
                                        Greek, Cyrillic, CJK, emoji, Unicode spaces,
                                        punctuation and digits
    tokenize_corpus.py plain N SEED     ordinary captions (the benchmark's): 5 to 16
                                        words drawn from 20,000 with Zipf's law
                                        frequencies, capitalised, a full stop
"""
import random
import sys

WORDS = ("a an the man woman dog dogs cat child children red blue green ball grass "
         "street water snow runs sits plays jumps rides on in with near two three young "
         "old small large is are wearing shirt t-shirt man's dog's it's they're we've "
         "I'm you'll he'd don't can't o'clock well-known x-ray 3.5 10 2019 1st").split()
PUNCT = list(".,!?;:\"()[]{}<>/\\|@#$%^&*_+=~`'-") + ["...", "--", "''", "'s", "'S", "'ll"]
SPACES = [" ", " ", " ", "  ", "\t", " \t", "   "]
UNI_WORDS = ("café naïve Zürich Ελληνικά Σίσυφος ΣΑΣ русский язык 中文 日本語 한국어 "
             "🐶 🐱🐕 e\u0301 n\u0303o İstanbul straße ǅemal ½ ٣٤ Ⅻ x²").split()
UNI_PUNCT = ["“", "”", "‘", "’", "—", "–", "…", "«", "»", "¿", "¡", "·", "‐", "、", "。"]
UNI_SPACES = ["\u00a0", "\u3000", "\u2009", " \u2003", "\u0085"]


def plain(rng, n):
    syl = ("ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo ga ge go la le li lo "
           "lu ma me mi mo mu na ne ni no nu pa pe pi po ra re ri ro ru sa se si so ta te "
           "ti to tu va ve vi wa we ya yo za st tr pl gr sh ch th").split()
    words = WORDS[:35]
    seen = set(words)
    while len(words) < 20000:
        w = "".join(rng.choice(syl) for _ in range(rng.randint(1, 4)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    weights = [1 / (r + 1) for r in range(len(words))]
    lens = [rng.randint(5, 16) for _ in range(n)]
    draws = iter(rng.choices(words, weights, k=sum(lens)))
    for k in lens:
        yield " ".join(next(draws) for _ in range(k)).capitalize() + "."


def caption(rng, kind):
    n = rng.randint(0, 16)
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.55:
            w = rng.choice(WORDS)
        elif r < 0.75:
            w = rng.choice(PUNCT)
        elif r < 0.85 and kind == "unicode":
            w = rng.choice(UNI_WORDS)
        elif r < 0.92 and kind == "unicode":
            w = rng.choice(UNI_PUNCT)
        else:
            w = rng.choice(WORDS).upper() if rng.random() < 0.5 else rng.choice(WORDS).title()
        out.append(w)
        if rng.random() < 0.85:
            sp = rng.choice(SPACES)
            if kind == "unicode" and rng.random() < 0.1:
                sp = rng.choice(UNI_SPACES)
            out.append(sp)
    return "".join(out)


def main():
    kind, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if kind not in ("ascii", "unicode", "plain"):
        sys.exit(__doc__)
    rng = random.Random(seed)
    w = sys.stdout.write
    if kind == "plain":
        for c in plain(rng, n):
            w(c + "\n")
        return
    for _ in range(n):
        w(caption(rng, kind) + "\n")


if __name__ == "__main__":
    main()
