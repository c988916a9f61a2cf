#!/usr/bin/env bats
# vit-embed, capdecode and the kernel lab of a CUDA build (make CUDA=1) where no GPU
# is visible (CI's machine, or CUDA_VISIBLE_DEVICES='' on a GPU machine): --device
# cuda is one line and exit 1, the CPU gives the same bytes as the plain build's,
# and the kernel lab says it skipped. VITCAP_BIN is the CUDA build's programs,
# PLAIN_BIN the plain build's (default bin/), VITCAP_GPU the CUDA build's kernel
# lab folder (default build/cuda/gpu). Skipped for a build without CUDA.
load ../helper

: "${PLAIN_BIN:=$BATS_TEST_DIRNAME/../../bin}"
: "${VITCAP_GPU:=$BATS_TEST_DIRNAME/../../build/cuda/gpu}"
MODEL="$BATS_TEST_DIRNAME/../data/man/capdecode/model.safetensors"

setup_file() {
	export D="$BATS_FILE_TMPDIR"
	capsynth -n 12 --seed 5 -o "$D/syn" > /dev/null
	imgshard -c "$D/syn/captions.txt" "$D/syn/images" --size 16 -o "$D/syn16.tsr"
}

setup() {
	T="$BATS_TEST_TMPDIR"
	cuda_build vit-embed -m x || skip "a build without CUDA"
}

# plain_bin: skips unless PLAIN_BIN holds programs of a build without CUDA
plain_bin() {
	[ -x "$PLAIN_BIN/vit-embed" ] || skip "no plain build in $PLAIN_BIN"
	! cuda_build "$PLAIN_BIN/vit-embed" -m x || skip "$PLAIN_BIN holds a CUDA build"
}

@test "CUDA build, no GPU: vit-embed and capdecode --device cuda are one line, exit 1" {
	for prec in "" "--precision fp32" "--precision bf16"; do
		run -1 env CUDA_VISIBLE_DEVICES='' vit-embed -m "$MODEL" --device cuda $prec "$D/syn16.tsr"
		one_line_error vit-embed
		[[ "$output" == "vit-embed: --device cuda: no CUDA GPU is visible"* ]]
		run -1 env CUDA_VISIBLE_DEVICES='' capdecode -m "$MODEL" --images --device cuda $prec "$D/syn16.tsr"
		one_line_error capdecode
		[[ "$output" == "capdecode: --device cuda: no CUDA GPU is visible"* ]]
	done
	run -2 env CUDA_VISIBLE_DEVICES='' vit-embed -m "$MODEL" --precision bf16 "$D/syn16.tsr"
	[ "$output" = "vit-embed: --precision bf16 needs --device cuda" ]
}

@test "CUDA build on the CPU: the same bytes as the plain build (vit-embed, capdecode greedy and beam)" {
	plain_bin
	vit-embed -m "$MODEL" "$D/syn16.tsr" > "$T/cuda.tsr"
	"$PLAIN_BIN/vit-embed" -m "$MODEL" "$D/syn16.tsr" > "$T/plain.tsr"
	cmp "$T/cuda.tsr" "$T/plain.tsr"
	for beam in 1 3; do
		capdecode -m "$MODEL" --beam $beam "$T/cuda.tsr" > "$T/cuda.tsv"
		"$PLAIN_BIN/capdecode" -m "$MODEL" --beam $beam "$T/plain.tsr" > "$T/plain.tsv"
		cmp "$T/cuda.tsv" "$T/plain.tsv"
		[ "$(wc -l < "$T/cuda.tsv")" = 12 ]
	done
}

@test "CUDA build, no GPU: the kernel lab exits 77 with its skip message" {
	[ -x "$VITCAP_GPU/test_kernels" ] || { echo "no kernel lab in $VITCAP_GPU: make CUDA=1"; return 1; }
	run -77 env CUDA_VISIBLE_DEVICES='' "$VITCAP_GPU/test_kernels" "$T/k.json"
	[[ "$output" == "no CUDA GPU visible: skipped"* ]]
	[ ! -e "$T/k.json" ]
}
