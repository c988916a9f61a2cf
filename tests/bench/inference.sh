#!/usr/bin/env bash
# vit-embed and capdecode against PyTorch doing the same work on the same threads
# (tests/ref/decode_bench.py over the reference model, tests/ref/model.py): the tiny
# preset (64x64 images, width 192, 4 + 4 blocks, 24 decoder positions) with a
# 1000-word vocabulary and random weights (tests/ref/decode_ref.py model) whose
# captions all run to the 23 words of --max-len, so that both sides take the same
# steps. Encoder images/s; greedy and beam-3 captions/s, PyTorch with its decoder
# over the whole prefix at each step and with a hand-written key/value cache; the
# ratios, and peak memory. Ours: the whole process; PyTorch: the work alone
# (loading excluded); each the best of 2 runs with each OpenMP wait policy
# (spinning and sleeping threads: which wins depends on what else the machine
# runs), PyTorch without a cache 1 each.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${VITCAP_BIN:-$here/../../bin}
: "${PY:=$here/../../.venv/bin/python}" "${BENCH_DIR:=$here/../../build/bench}"
ref="$here/../ref"
d="$BENCH_DIR/inference"
threads=${INFERENCE_BENCH_THREADS:-2}
mkdir -p "$d"
if [ ! -f "$d/model.safetensors" ]; then
	echo '{"image": 64, "patch": 8, "dim": 192, "heads": 6, "enc_layers": 4, "dec_layers": 4,
	 "dec_len": 24, "vocab": 1000}' > "$d/tiny.json"
	"$PY" "$ref/decode_ref.py" model "$d/tiny.json" 1 "$d/model.safetensors" --eos-scale 0.5
	"$PY" "$ref/decode_ref.py" images 512 64 1 "$d/images.tsr"
	"$bin/vit-embed" -m "$d/model.safetensors" "$d/images.tsr" > "$d/embed-all.tsr"
	"$PY" - "$d/embed-all.tsr" "$d/embed.tsr" 256 <<-'PYEOF'
		import json, struct, sys
		src, out = open(sys.argv[1], "rb"), open(sys.argv[2], "wb")
		for _ in range(int(sys.argv[3])):
		    p = src.read(8)
		    h = src.read(struct.unpack("<Q", p)[0])
		    e = json.loads(h); e.pop("__metadata__", None)
		    out.write(p + h + src.read(max(x["data_offsets"][1] for x in e.values())))
	PYEOF
fi
m="$d/model.safetensors"

# best SECONDS-AND-KIB-LINES: the fastest run's "seconds kib"
best() { sort -n | head -1; }
# ours N CMD...: "rate peak_MiB" of the best of 2 runs with sleeping OpenMP threads
# (our default) and 2 with spinning ones, as for PyTorch
ours() {
	local n=$1
	shift
	for _ in 1 2; do
		/usr/bin/time -f '%e %M' "$@" 2>&1 > /dev/null | tail -1
		OMP_WAIT_POLICY=active /usr/bin/time -f '%e %M' "$@" 2>&1 > /dev/null | tail -1
	done | best | awk -v n="$n" '{ printf "%.1f %.0f", n / $1, $2 / 1024 }'
}
# theirs RUNS ARGS...: "rate peak_MiB" of decode_bench.py, the best of RUNS with
# OpenMP's default spinning threads and of RUNS with sleeping ones (what ours use)
theirs() {
	local runs=$1
	shift
	for _ in $(seq "$runs"); do
		OMP_NUM_THREADS=$threads "$PY" "$ref/decode_bench.py" "$@"
		OMP_WAIT_POLICY=passive OMP_NUM_THREADS=$threads "$PY" "$ref/decode_bench.py" "$@"
	done | sort -rn | head -1 | awk '{ for (i = 1; i <= NF; i++) if ($i == "RSS") r = $(i + 1); printf "%s %s", $1, r + 0 }'
}
line() { printf '%-36s %8.1f %s/s   peak RSS %5.0f MiB\n' "$1" "$2" "$3" "$4"; }

echo "inference: tiny preset, vocabulary 1000, random weights, $threads threads"
read -r a am <<< "$(ours 512 "$bin/vit-embed" -m "$m" --threads "$threads" "$d/images.tsr")"
read -r b bm <<< "$(theirs 2 encoder "$m" "$d/images.tsr" 16 "$threads")"
line "vit-embed (512 images)" "$a" images "$am"
line "PyTorch encoder" "$b" images "$bm"
awk -v a="$a" -v b="$b" 'BEGIN { printf "vit-embed: %.2f times PyTorch'\''s images/s\n", a / b }'

read -r a am <<< "$(ours 256 "$bin/capdecode" -m "$m" --threads "$threads" "$d/embed.tsr")"
read -r b bm <<< "$(theirs 2 greedy "$m" "$d/embed.tsr" 64 "$threads" cache)"
read -r c cm <<< "$(theirs 1 greedy "$m" "$d/embed.tsr" 64 "$threads" nocache)"
line "capdecode greedy (256 captions)" "$a" captions "$am"
line "PyTorch greedy, KV cache" "$b" captions "$bm"
line "PyTorch greedy, no cache" "$c" captions "$cm"
awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN { printf "capdecode greedy: %.2f times PyTorch'\''s captions/s with a KV cache, %.1f without\n", a / b, a / c }'

read -r a am <<< "$(ours 256 "$bin/capdecode" -m "$m" --threads "$threads" --beam 3 "$d/embed.tsr")"
read -r b bm <<< "$(theirs 2 beam "$m" "$d/embed.tsr" 21 3 "$threads" cache)"
read -r c cm <<< "$(theirs 1 beam "$m" "$d/embed.tsr" 21 3 "$threads" nocache)"
line "capdecode --beam 3 (256 captions)" "$a" captions "$am"
line "PyTorch beam 3, KV cache" "$b" captions "$bm"
line "PyTorch beam 3, no cache" "$c" captions "$cm"
awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN { printf "capdecode --beam 3: %.2f times PyTorch'\''s captions/s with a KV cache, %.1f without\n", a / b, a / c }'
