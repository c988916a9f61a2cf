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
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${VITCAP_BIN:-$here/../../bin}
PY=${PY:-python3}
ref="$here/../ref"
d=${BENCH_DIR:-/tmp/vitcap-gpu-bench}
json=${BENCH_JSON:-$d/gpu-bench.json}
steps=${GPU_BENCH_STEPS:-30}
mkdir -p "$d"
: > "$d/table"
emit() { echo "$1" >> "$json"; }
row() { printf '%-34s %10s %8s %s\n' "$@" | tee -a "$d/table"; }

peak=$("$PY" "$ref/gpu_bench.py" peak | sed 's/.*"peak_tflops": \([0-9.]*\).*/\1/')
emit "{\"bench\":\"peak\",\"peak_tflops\":$peak}"
echo "bf16 matmul peak (torch.matmul 8192^3): $peak TFLOP/s"

# data: 256 images of 224x224 with captions, and the inference model
if [ ! -f "$d/train.tsr" ]; then
	"$bin/capsynth" -n 256 --seed 3 --size 224 -o "$d/syn"
	"$bin/imgshard" -c "$d/syn/captions.txt" "$d/syn/images" --size 224 > "$d/raw.tsr"
	"$bin/tokenize" build -o "$d/vocab.txt" "$d/raw.tsr"
	"$bin/tokenize" encode -v "$d/vocab.txt" --max-len 16 "$d/raw.tsr" > "$d/train.tsr"
	echo '{"image": 224, "patch": 16, "dim": 384, "heads": 6, "enc_layers": 6, "dec_layers": 6,
	 "dec_len": 32, "vocab": 1000}' > "$d/small.json"
	"$PY" "$ref/decode_ref.py" model "$d/small.json" 1 "$d/model.safetensors" --eos-scale 0.5
	"$PY" "$ref/decode_ref.py" images 512 224 1 "$d/img512.tsr"
	for _ in 1 2 3 4 5 6 7 8; do cat "$d/img512.tsr"; done > "$d/img4096.tsr"
fi

row "" "items/s" "ratio" "MFU"
for cfg in small base; do
	B=64
	"$bin/captrain" --device cuda -c "$cfg" -v "$d/vocab.txt" --train "$d/train.tsr" --batch $B \
		--steps "$steps" --warmup 0 --log "$d/$cfg.log" -o "$d/$cfg.safetensors" 2> "$d/$cfg.err" ||
		{ cat "$d/$cfg.err"; echo "captrain $cfg failed"; exit 1; }
	# medians over the steps after the fifth: images/s and the flops of an image
	read -r ours fpi <<< "$("$PY" - "$d/$cfg.log" <<'PY'
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l][5:]
med = lambda k: sorted(x[k] for x in s)[len(s) // 2]
print("%.1f %.6g" % (med("images_per_s"), med("gflops") * 1e9 / med("images_per_s")))
PY
)"
	mfu=$(awk -v r="$ours" -v f="$fpi" -v p="$peak" 'BEGIN { printf "%.1f", 100 * r * f / (p * 1e12) }')
	emit "{\"bench\":\"train\",\"config\":\"$cfg\",\"batch\":$B,\"side\":\"captrain\",\"images_per_s\":$ours,\"flops_per_image\":$fpi,\"mfu_percent\":$mfu}"
	row "captrain $cfg (bf16)" "$ours" "" "$mfu%"
	for how in eager compile; do
		theirs=$("$PY" "$ref/gpu_bench.py" train "$cfg" "$(wc -l < "$d/vocab.txt")" $B "$steps" $how 16 |
			sed 's/.*"images_per_s": \([0-9.]*\).*/\1/')
		tm=$(awk -v r="$theirs" -v f="$fpi" -v p="$peak" 'BEGIN { printf "%.1f", 100 * r * f / (p * 1e12) }')
		ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.2f", a / b }')
		emit "{\"bench\":\"train\",\"config\":\"$cfg\",\"batch\":$B,\"side\":\"pytorch_$how\",\"images_per_s\":$theirs,\"mfu_percent\":$tm,\"captrain_ratio\":$ratio}"
		row "PyTorch $cfg $how" "$theirs" "${ratio}x" "$tm%"
	done
done

# inference: rate of the 4096-item run beyond the 512-item one
rate() {        # N1 N2 CMD-FOR-N1 CMD-FOR-N2 (strings)
	local t1 t2 s
	s=$(date +%s%N); eval "$3" > /dev/null; t1=$(($(date +%s%N) - s))
	s=$(date +%s%N); eval "$4" > /dev/null; t2=$(($(date +%s%N) - s))
	awk -v a="$1" -v b="$2" -v x="$t1" -v y="$t2" 'BEGIN { printf "%.1f", (b - a) / ((y - x) * 1e-9) }'
}
m="$d/model.safetensors"
"$bin/vit-embed" --device cuda -m "$m" "$d/img512.tsr" > "$d/emb512.tsr"
"$bin/vit-embed" --device cuda -m "$m" "$d/img4096.tsr" > "$d/emb4096.tsr"
ours=$(rate 512 4096 "'$bin/vit-embed' --device cuda -b 64 -m '$m' '$d/img512.tsr'" \
	"'$bin/vit-embed' --device cuda -b 64 -m '$m' '$d/img4096.tsr'")
emit "{\"bench\":\"vit-embed\",\"config\":\"small\",\"side\":\"vit-embed\",\"images_per_s\":$ours}"
row "vit-embed small (bf16)" "$ours" "" ""
# pytorch WHAT UNIT N LABEL: PyTorch eager and compiled beside $ours
pytorch() {
	local how theirs ratio
	for how in eager compile; do
		theirs=$("$PY" "$ref/gpu_bench.py" "$1" small 1000 64 "$3" $how | sed "s/.*\"$2\": \([0-9.]*\).*/\1/")
		ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.2f", a / b }')
		emit "{\"bench\":\"$1\",\"config\":\"small\",\"side\":\"pytorch_$how\",\"$2\":$theirs,\"ours_ratio\":$ratio}"
		row "PyTorch $4 $how" "$theirs" "${ratio}x" ""
	done
}
pytorch encode images_per_s 4096 encoder
ours=$(rate 512 4096 "'$bin/capdecode' --device cuda -b 64 -m '$m' '$d/emb512.tsr'" \
	"'$bin/capdecode' --device cuda -b 64 -m '$m' '$d/emb4096.tsr'")
emit "{\"bench\":\"capdecode\",\"config\":\"small\",\"side\":\"capdecode\",\"captions_per_s\":$ours}"
row "capdecode greedy small (bf16)" "$ours" "" ""
pytorch greedy captions_per_s 1024 greedy
echo
echo "the bar: every ratio at least 1 against eager; base training MFU at least 35%"
