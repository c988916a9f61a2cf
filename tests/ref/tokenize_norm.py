"""The word-level normalisation of tokenize(1) in plain Python, for the tests:
lowercase; punctuation (string.punctuation and Unicode categories P*) becomes a
space unless it is an apostrophe or hyphen between two word characters; split
on white space; join with single spaces.

    tokenize_norm.py < captions.txt
"""
import string
import sys
import unicodedata


def punct(c):
    return c in string.punctuation or unicodedata.category(c).startswith("P")


def word(c):
    return not c.isspace() and not punct(c)


def normalise(s):
    s = s.lower()
    out = []
    for i, c in enumerate(s):
        keep = (not punct(c) or c in "'-" and 0 < i < len(s) - 1 and word(s[i - 1])
                and word(s[i + 1]))
        out.append(c if keep else " ")
    return " ".join("".join(out).split())


def main():
    text = sys.stdin.buffer.read().decode("utf-8")
    lines = text[:-1].split("\n") if text.endswith("\n") else (text.split("\n") if text else [])
    sys.stdout.write("".join(normalise(line) + "\n" for line in lines))


if __name__ == "__main__":
    main()
