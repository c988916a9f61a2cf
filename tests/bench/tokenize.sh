#!/usr/bin/env bash
# tokenize against the Hugging Face tokenizers library on 1,000,000 synthetic
# captions (TOKENIZE_BENCH_N to change): word-level and BPE encode of the same file
# with the same vocabulary and the same framing (--max-len 24), whose ids must be
# identical, and learning 4000 BPE merges. tokenize runs on one thread and is timed
# end to end (reading, encoding, writing the ids); tokenizers is timed inside
# Python around encode_batch (or train) alone, once on one thread
# (RAYON_NUM_THREADS=1, the fair comparison) and once on all cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ref="$here/../ref"
n=${TOKENIZE_BENCH_N:-1000000}
d="$BENCH_DIR/tokenize"
mkdir -p "$d"
caps="$d/captions-$n.txt"
[ -f "$caps" ] || "$PY" "$ref/tokenize_corpus.py" plain "$n" 7 > "$caps"
T="$VITCAP_BIN/tokenize"

now() { date +%s.%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b / a }'; }
rate() { awk -v n="$n" -v t="$1" 'BEGIN { printf "%9.0f captions/s", n / t }'; }

echo "tokenize: $n captions, $(wc -c < "$caps") bytes, $(nproc) cores"
t0=$(now); "$T" build -o "$d/word.txt" "$caps"; t1=$(now)
"$T" build --bpe 4000 -o "$d/bpe.txt" "$caps"; t2=$(now)
build_word=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
build_bpe=$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')
hf_train1=$(RAYON_NUM_THREADS=1 "$PY" "$ref/tokenize_hf.py" train "$caps" 4000)
hf_trainn=$("$PY" "$ref/tokenize_hf.py" train "$caps" 4000)
printf 'build word-level, %6d tokens:     %6.2f s\n' "$(($(wc -l < "$d/word.txt") - 1))" \
	"$build_word"
printf 'build --bpe 4000:                    %6.2f s\n' "$build_bpe"
printf 'tokenizers BpeTrainer, 4000 merges:  %6.2f s on 1 thread, %.2f s on %d\n' \
	"$hf_train1" "$hf_trainn" "$(nproc)"
echo "tokenize learns BPE $(ratio "$build_bpe" "$hf_train1") times faster than tokenizers on 1 thread"

for kind in word bpe; do
	v="$d/$kind.txt"
	t0=$(now); "$T" encode -v "$v" "$caps" > "$d/ours.ids"; t1=$(now)
	ours=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
	one=$(RAYON_NUM_THREADS=1 "$PY" "$ref/tokenize_hf.py" bench "$v" "$caps" 24 "$d/hf1.ids")
	all=$("$PY" "$ref/tokenize_hf.py" bench "$v" "$caps" 24 "$d/hfn.ids")
	cmp -s "$d/ours.ids" "$d/hf1.ids" && cmp -s "$d/hf1.ids" "$d/hfn.ids" ||
		{ echo "tokenize: $kind ids differ from tokenizers'"; exit 1; }
	echo
	printf 'encode %-4s tokenize,   1 thread:  %6.2f s %s\n' "$kind" "$ours" "$(rate "$ours")"
	printf 'encode %-4s tokenizers, 1 thread:  %6.2f s %s\n' "$kind" "$one" "$(rate "$one")"
	printf 'encode %-4s tokenizers, %d threads: %6.2f s %s\n' "$kind" "$(nproc)" "$all" "$(rate "$all")"
	echo "tokenize is $(ratio "$ours" "$one") times faster than tokenizers on 1 thread," \
		"$(ratio "$ours" "$all") times on $(nproc) (same ids)"
done
rm -f "$d/ours.ids" "$d/hf1.ids" "$d/hfn.ids"
