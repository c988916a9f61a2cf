#!/usr/bin/env bash
# bleu against the sacrebleu command on a 100,000-line corpus with 5 references.
set -euo pipefail
d="$BENCH_DIR/bleu"
mkdir -p "$d"
if [ ! -f "$d/hyp.txt" ]; then
	"$PY" - "$d" <<'PY'
import random, sys
d = sys.argv[1]
rng = random.Random(7)
words = ("a the man woman dog cat child red blue green ball grass street water snow runs "
         "sits plays jumps rides on in with near two three young old small large, .").split()
def sent():
    return " ".join(rng.choice(words) for _ in range(rng.randint(6, 16))).capitalize() + "."
files = [open("%s/%s" % (d, n), "w") for n in ["hyp.txt"] + ["ref%d.txt" % i for i in range(5)]]
for _ in range(100000):
    for f in files:
        f.write(sent() + "\n")
PY
fi
refs=("$d"/ref0.txt "$d"/ref1.txt "$d"/ref2.txt "$d"/ref3.txt "$d"/ref4.txt)
args=()
for r in "${refs[@]}"; do args+=(-r "$r"); done

now() { date +%s.%N; }
t0=$(now); ours=$("$VITCAP_BIN/bleu" "${args[@]}" "$d/hyp.txt"); t1=$(now)
theirs=$("$PY" -m sacrebleu "${refs[@]}" -i "$d/hyp.txt" -f text); t2=$(now)
[ "$ours" = "$theirs" ] || { echo "bleu: outputs differ:"; echo "$ours"; echo "$theirs"; exit 1; }
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
	printf "bleu       100000 lines x 5 refs: %7.2f s\n", b - a
	printf "sacrebleu  100000 lines x 5 refs: %7.2f s\n", c - b
	printf "bleu is %.1f times faster than sacrebleu (same output)\n", (c - b) / (b - a) }'
