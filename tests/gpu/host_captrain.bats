#!/usr/bin/env bats
# captrain of a CUDA build (make CUDA=1) on a machine where no GPU is visible
# (run here, or with CUDA_VISIBLE_DEVICES='' on a GPU machine, as tests/gpu/run.sh
# does): --device cuda is one line and exit 1 before anything is read; the CPU
# trains as before. Skipped for a build without CUDA (tests/captrain.bats).
load ../helper

setup() {
	T="$BATS_TEST_TMPDIR"
	cuda_build captrain --train x -o y || skip "a build without CUDA"
}

@test "captrain (CUDA build, no GPU): --device cuda is one line, exit 1; mpirun too" {
	run -1 env CUDA_VISIBLE_DEVICES='' captrain --device cuda -c tiny -v /dev/null --train "$T/none.tsr" \
		-o "$T/m.safetensors"
	one_line_error captrain
	[[ "$output" == "captrain: --device cuda: no CUDA GPU is visible"* ]]
	[ ! -e "$T/m.safetensors" ]
	use_mpirun
	run -1 env CUDA_VISIBLE_DEVICES='' mpirun -np 2 captrain --device cuda -c tiny -v /dev/null \
		--train "$T/none.tsr" -o "$T/m.safetensors" < /dev/null
	[[ "$output" == *"captrain: --device cuda: no CUDA GPU is visible"* ]]
}

@test "captrain (CUDA build): the CPU still trains, and --precision bf16 needs --device cuda" {
	capsynth -n 8 --seed 1 -o "$T/syn"
	imgshard -c "$T/syn/captions.txt" "$T/syn/images" --size 64 > "$T/raw.tsr"
	tokenize build -o "$T/vocab.txt" "$T/raw.tsr"
	tokenize encode -v "$T/vocab.txt" --max-len 16 "$T/raw.tsr" > "$T/s.tsr"
	run -0 captrain --device cpu -c tiny -v "$T/vocab.txt" --train "$T/s.tsr" --steps 2 --batch 4 \
		--threads 2 -o "$T/m.safetensors"
	run -2 captrain --precision bf16 -c tiny -v "$T/vocab.txt" --train "$T/s.tsr" -o "$T/m.safetensors"
	[ "$output" = "captrain: --precision bf16 needs --device cuda" ]
}
