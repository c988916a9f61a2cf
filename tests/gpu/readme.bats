#!/usr/bin/env bats
# The commands of README's "GPUs" section, run as shown against a CUDA build
# (VITCAP_BIN, e.g. build/cuda/bin, which `make CUDA=1 BIN=...` keeps up to date)
# on a miniature: where a GPU is visible they train and caption; where none is,
# each --device cuda command must be exactly the documented one-line error, exit 1
# (after its options parsed, so a wrong option in the README still fails here).
# Skipped for a build without CUDA.
load ../helper

setup() {
	cuda_build vit-embed -m x || skip "a build without CUDA"
}

@test "README: the GPU commands run, or say no GPU is visible" {
	use_mpirun
	export OMP_WAIT_POLICY=passive
	ROOT=$(cd "$TESTS/../.." && pwd)
	T="$BATS_TEST_TMPDIR"
	gpu=0
	nvidia-smi -L 2>/dev/null | grep -q '^GPU ' && gpu=1
	capsynth -n 24 --size 64 -s 7 -o "$T/syn" > /dev/null
	mkdir "$T/shards" "$T/photos"
	imgshard -c "$T/syn/captions.txt" --size 64 --shards 2 -o "$T/shards/raw-%04d.tsr" "$T/syn/images"
	tokenize build -o "$T/vocab.txt" "$T"/shards/raw-*.tsr
	for f in "$T"/shards/raw-*.tsr; do tokenize encode -v "$T/vocab.txt" "$f" > "${f/raw/train}"; done
	cp "$T/syn/images/0000000"[1-3].jpg "$T/photos/"
	readme_sh GPUs > "$T/commands"
	[ "$(wc -l < "$T/commands")" = 3 ]
	mapfile -t commands < "$T/commands"
	for cmd in "${commands[@]}"; do
		cmd=$(printf '%s\n' "$cmd" | sed -e "s|^make CUDA=1|make -C $ROOT CUDA=1 BIN=$VITCAP_BIN|" \
			-e "s|mpirun -np 8|mpirun -np 2|; s|--config base|--config tiny --steps 2 --batch 4|" \
			-e "s|photos/ |photos/ --size 64 |")
		run_in "$T" "$cmd > out.txt"
		case $cmd:$gpu in
		make*) [ "$status" = 0 ] ;;
		*:1) [ "$status" = 0 ] ;;
		mpirun*:0) [ "$status" = 1 ] || return 1; [[ "$output" == *"captrain: --device cuda: no CUDA GPU is visible"* ]] ;;
		*:0) [ "$status" = 1 ] || return 1; [[ "$output" == *"vit-embed: --device cuda: no CUDA GPU is visible"* ]] ;;
		esac
	done
	if [ "$gpu" = 1 ]; then
		[ -s "$T/model.safetensors" ]
		[ "$(cut -f1 "$T/out.txt")" = "$(printf '0000000%s.jpg\n' 1 2 3)" ]
	else
		[ ! -e "$T/model.safetensors" ]
		[ ! -s "$T/out.txt" ]
	fi
}
