#!/usr/bin/env bash
# make bench-gpu: vitcap on the GPU against PyTorch on the same GPU in the same run
# (tests/ref/gpu_bench.py over the reference model, bf16 autocast, eager and
# torch.compile). First the GPU's bf16 matrix-product peak (torch.matmul 8192^3);
# then training images/s and MFU (model_flops x images/s / peak) of the small and
# base presets, batch 64 of 224x224 images with captions of up to 16 words, the
# first 5 steps left out; vit-embed images/s and greedy capdecode captions/s of the
# small preset (vocabulary 1000, random weights whose captions run to every
# position), each the difference of a run over 4096 items and one over 512, so
# that starting up is left out. Prints a table with the ratios and writes its
# numbers to BENCH_JSON (default $BENCH_DIR/gpu-bench.json), one object a line.
# Before the torch.compile rows, a short profiled training of the largest preset
# shows where its time goes, one JSON object per operation.
#
# Everything eager comes first and torch.compile last: compiling takes tens of
# seconds a model, and a run short of time (BENCH_DEADLINE, in seconds since the
# epoch, as tests/gpu/run.sh sets it) should lose those rows, not the others. A
# row that fails or does not fit is recorded ("error" or "skipped") and the rest
# goes on. GPU_BENCH_DEVICE=cpu with small sizes (GPU_BENCH_CONFIGS=tiny,
# GPU_BENCH_BATCH, GPU_BENCH_STEPS, GPU_BENCH_INFER="16 32", GPU_BENCH_PEAK_N)
# tries the script where no GPU is; its numbers mean nothing. Exits 1 when one
# of vitcap's own programs failed (a PyTorch row's error is only recorded).
# shellcheck disable=SC1003
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${VITCAP_BIN:-$here/../../bin}
PY=${PY:-python3}
ref="$here/../ref"
d=${BENCH_DIR:-/tmp/vitcap-gpu-bench}
json=${BENCH_JSON:-$d/gpu-bench.json}
steps=${GPU_BENCH_STEPS:-30}
B=${GPU_BENCH_BATCH:-64}
dev=${GPU_BENCH_DEVICE:-cuda}
read -r n1 n2 <<< "${GPU_BENCH_INFER:-512 4096}"
deadline=${BENCH_DEADLINE:-$(($(date +%s) + 100000))}
export GPU_BENCH_DEVICE=$dev
mkdir -p "$d"
: > "$d/table"
: > "$json"
status=0
emit() { echo "$1" >> "$json"; }
row() { printf '%-34s %10s %8s %s\n' "$@" | tee -a "$d/table"; }
left() { echo $((deadline - $(date +%s))); }
# num KEY JSON: the number KEY of the one-line JSON object, or nothing
num() { sed -n "s/.*\"$1\": \([0-9.e+-]*\).*/\1/p" <<< "$2"; }
# ref_py LABEL ARGS...: gpu_bench.py ARGS within the time left; its JSON on
# stdout, or nothing, with the reason in the results
ref_py() {
	local label=$1 out t
	shift
	t=$(left)
	if [ "$t" -lt 20 ]; then
		emit "{\"bench\":\"$label\",\"skipped\":\"no time left\"}"
		row "$label" "skipped" "" "" >&2
		return 1
	fi
	if ! out=$(timeout -k 5 "$t" "$PY" "$ref/gpu_bench.py" "$@" 2> "$d/py.err"); then
		tail -5 "$d/py.err" >&2
		emit "{\"bench\":\"$label\",\"error\":\"$(tail -1 "$d/py.err" | tr -d '"\\' | tr -d '[:cntrl:]' | cut -c1-200)\"}"
		row "$label" "error" "" "" >&2
		return 1
	fi
	echo "$out"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else printf "0" }'; }
mfu() { awk -v r="$1" -v f="$2" -v p="$3" 'BEGIN { if (p > 0) printf "%.1f", 100 * r * f / (p * 1e12); else printf "0" }'; }

# without it the MFUs are 0, but captrain's own rates still count
peak=0
out=$(ref_py peak peak) && peak=$(num peak_tflops "$out")
[ -n "$peak" ] || peak=0
emit "{\"bench\":\"peak\",\"peak_tflops\":$peak}"
echo "matmul peak (torch.matmul, $dev): $peak TFLOP/s"

# data: 256 images of 224x224 with captions, and the inference model
if [ ! -f "$d/img$n2.tsr" ]; then
	{ "$bin/capsynth" -n 256 --seed 3 --size 224 -o "$d/syn" &&
		"$bin/imgshard" -c "$d/syn/captions.txt" "$d/syn/images" --size 224 > "$d/raw.tsr" &&
		"$bin/tokenize" build -o "$d/vocab.txt" "$d/raw.tsr" &&
		"$bin/tokenize" encode -v "$d/vocab.txt" --max-len 16 "$d/raw.tsr" > "$d/train.tsr" &&
		echo '{"image": 224, "patch": 16, "dim": 384, "heads": 6, "enc_layers": 6, "dec_layers": 6,
		 "dec_len": 32, "vocab": 1000}' > "$d/small.json" &&
		"$PY" "$ref/decode_ref.py" model "$d/small.json" 1 "$d/model.safetensors" --eos-scale 0.5 &&
		"$PY" "$ref/decode_ref.py" images "$n1" 224 1 "$d/img$n1.tsr" &&
		for _ in $(seq $((n2 / n1))); do cat "$d/img$n1.tsr"; done > "$d/img$n2.tsr"
	} || { rm -f "$d/img$n2.tsr"; echo "bench: making the data failed" >&2; exit 1; }
fi
V=$(wc -l < "$d/vocab.txt")
configs=${GPU_BENCH_CONFIGS:-small base}

row "" "items/s" "ratio" "MFU"
declare -A ours_train fpi_train
for cfg in $configs; do
	if ! "$bin/captrain" --device "$dev" -c "$cfg" -v "$d/vocab.txt" --train "$d/train.tsr" --batch "$B" \
		--steps "$steps" --warmup 0 --log "$d/$cfg.log" -o "$d/$cfg.safetensors" 2> "$d/$cfg.err"; then
		tail -5 "$d/$cfg.err"
		emit "{\"bench\":\"train\",\"config\":\"$cfg\",\"side\":\"captrain\",\"error\":\"captrain failed\"}"
		row "captrain $cfg" "error" "" ""
		status=1
		continue
	fi
	# medians over the steps after the fifth: images/s, the flops of an image
	# (model_flops at the batches' own caption length) and that length
	read -r ours fpi <<< "$("$PY" - "$d/$cfg.log" <<'PY'
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l][5:]
med = lambda k: sorted(x[k] for x in s)[len(s) // 2]
print("%.1f %.6g" % (med("images_per_s"), med("gflops") * 1e9 / med("images_per_s")))
PY
)"
	ours_train[$cfg]=$ours
	fpi_train[$cfg]=$fpi
	m=$(mfu "$ours" "$fpi" "$peak")
	emit "{\"bench\":\"train\",\"config\":\"$cfg\",\"batch\":$B,\"side\":\"captrain\",\"images_per_s\":$ours,\"flops_per_image\":$fpi,\"mfu_percent\":$m}"
	row "captrain $cfg" "$ours" "" "$m%"
done

# train_ref CFG HOW: PyTorch's training steps of CFG beside captrain's, the same
# FLOP count an image for both MFUs; captions of 16 positions, as captrain's
# batches of this data (--max-len 16: the longest caption of a batch of 64 is
# cut at 16 words)
train_ref() {
	local cfg=$1 how=$2 out theirs r m
	[ -n "${ours_train[$cfg]:-}" ] || return 0
	out=$(ref_py "train $cfg $how" train "$cfg" "$V" "$B" "$steps" "$how" 16) || return 0
	theirs=$(num images_per_s "$out")
	r=$(ratio "${ours_train[$cfg]}" "$theirs")
	m=$(mfu "$theirs" "${fpi_train[$cfg]}" "$peak")
	emit "{\"bench\":\"train\",\"config\":\"$cfg\",\"batch\":$B,\"side\":\"pytorch_$how\",\"images_per_s\":$theirs,\"mfu_percent\":$m,\"captrain_ratio\":$r,\"pytorch\":$out}"
	row "PyTorch $cfg $how" "$theirs" "${r}x" "$m%"
}
for cfg in $configs; do
	train_ref "$cfg" eager
done

# inference: rate of the n2-item run beyond the n1-item one
rate() {        # CMD-FOR-N1 CMD-FOR-N2 (strings)
	local t1 t2 s
	s=$(date +%s%N); eval "$1" > /dev/null || return 1; t1=$(($(date +%s%N) - s))
	s=$(date +%s%N); eval "$2" > /dev/null || return 1; t2=$(($(date +%s%N) - s))
	awk -v a="$n1" -v b="$n2" -v x="$t1" -v y="$t2" 'BEGIN { printf "%.1f", (b - a) / ((y - x) * 1e-9) }'
}
m="$d/model.safetensors"
declare -A ours_inf
if "$bin/vit-embed" --device "$dev" -m "$m" "$d/img$n1.tsr" > "$d/emb$n1.tsr" &&
	"$bin/vit-embed" --device "$dev" -m "$m" "$d/img$n2.tsr" > "$d/emb$n2.tsr" &&
	ours=$(rate "'$bin/vit-embed' --device $dev -b $B -m '$m' '$d/img$n1.tsr'" \
		"'$bin/vit-embed' --device $dev -b $B -m '$m' '$d/img$n2.tsr'"); then
	ours_inf[encode]=$ours
	emit "{\"bench\":\"vit-embed\",\"config\":\"small\",\"side\":\"vit-embed\",\"images_per_s\":$ours}"
	row "vit-embed small" "$ours" "" ""
else
	emit "{\"bench\":\"vit-embed\",\"error\":\"vit-embed failed\"}"
	row "vit-embed small" "error" "" ""
	status=1
fi
if [ -n "${ours_inf[encode]:-}" ] &&
	ours=$(rate "'$bin/capdecode' --device $dev -b $B -m '$m' '$d/emb$n1.tsr'" \
		"'$bin/capdecode' --device $dev -b $B -m '$m' '$d/emb$n2.tsr'"); then
	ours_inf[greedy]=$ours
	emit "{\"bench\":\"capdecode\",\"config\":\"small\",\"side\":\"capdecode\",\"captions_per_s\":$ours}"
	row "capdecode greedy small" "$ours" "" ""
else
	emit "{\"bench\":\"capdecode\",\"error\":\"capdecode failed or had no embeddings\"}"
	row "capdecode greedy small" "error" "" ""
	status=1
fi
# infer_ref WHAT UNIT N HOW: PyTorch beside ours_inf[WHAT]
infer_ref() {
	local out theirs r
	[ -n "${ours_inf[$1]:-}" ] || return 0
	out=$(ref_py "$1 small $4" "$1" small 1000 "$B" "$3" "$4") || return 0
	theirs=$(num "$2" "$out")
	r=$(ratio "${ours_inf[$1]}" "$theirs")
	emit "{\"bench\":\"$1\",\"config\":\"small\",\"side\":\"pytorch_$4\",\"$2\":$theirs,\"ours_ratio\":$r}"
	row "PyTorch $1 small $4" "$theirs" "${r}x" ""
}
infer_ref encode images_per_s "$n2" eager
infer_ref greedy captions_per_s $((n2 / 4)) eager

# where the largest preset's training time goes: a few steps with
# VITCAP_CUDA_PROFILE (every operation waited for), its table to the log and
# its rows to the JSON
prof_cfg=${configs##* }
if [ -n "${ours_train[$prof_cfg]:-}" ] && [ "$(left)" -gt 60 ] &&
	VITCAP_CUDA_PROFILE=1 "$bin/captrain" --device "$dev" -c "$prof_cfg" -v "$d/vocab.txt" \
		--train "$d/train.tsr" --batch "$B" --steps 8 --warmup 0 -o "$d/profile.safetensors" \
		> /dev/null 2> "$d/profile.err" && grep -q ' calls ' "$d/profile.err"; then
	echo "where captrain $prof_cfg's time goes, 8 steps of batch $B (VITCAP_CUDA_PROFILE):"
	grep ' calls ' "$d/profile.err" | sed 's/^captrain: *//'
	awk -v cfg="$prof_cfg" '/ calls / {
		name = $2; for (i = 3; i <= NF - 5; i++) name = name " " $i
		printf "{\"bench\":\"profile\",\"config\":\"%s\",\"op\":\"%s\",\"calls\":%d,\"ms\":%s,\"percent\":%s}\n",
			cfg, name, $(NF - 4), $(NF - 2), $NF + 0 }' "$d/profile.err" >> "$json"
fi

# torch.compile last, the cheapest first
for cfg in $configs; do
	[ "$cfg" = base ] || train_ref "$cfg" compile
done
infer_ref encode images_per_s "$n2" compile
infer_ref greedy captions_per_s $((n2 / 4)) compile
for cfg in $configs; do
	[ "$cfg" != base ] || train_ref "$cfg" compile
done
echo
echo "the bar: every ratio at least 1 against eager; base training MFU at least 35%"
exit "$status"
