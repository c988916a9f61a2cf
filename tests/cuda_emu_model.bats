#!/usr/bin/env bats
# The CUDA backend with the model code, on the CPU: tests/gpu/model_check.c
# built over the emulated backend (tests/gpu/emu; make test builds it as
# build/*/tests/emu_model_check). One forward and backward against the CPU
# backend with the same weights and batch, 3 AdamW steps on both (the loss after
# each and the parameters after), greedy decoding of the batch's images on both
# (the same words). The tiny preset's width, heads and MLP, at two layers
# each side, 32x32 images, 12 decoder positions and a batch of 2, so that the
# emulator takes seconds rather than minutes (the whole tiny preset, batch 2:
# 100 s in fp32, 120 s in bf16).
load helper

setup_file() {
	local d=$BATS_FILE_TMPDIR p
	printf '%s\n' '{"image": 32, "patch": 8, "dim": 192, "heads": 6, "enc_layers": 2,' \
		'"dec_layers": 2, "dec_len": 12}' > "$d/model.json"
	# the two at once: about 15 s and 20 s one after the other; bf16's with
	# VITCAP_CUDA_PROFILE, which only waits, so its numbers stay as they are
	for p in fp32 bf16; do
		{
			VITCAP_CUDA_PROFILE=$([ "$p" = bf16 ] && echo 1 || echo 0) \
				"$VITCAP_UNIT/emu_model_check" -g -s 3 "$d/model.json" "$p" 2 > "$d/$p.json" \
				2> "$d/$p.err"
			echo $? > "$d/$p.status"
		} &
	done
	wait
}

# check PRECISION: exit 0, every line of the report ok, no emulator problem,
# and one JSON object on stdout that says so, with the steps and the decoding
check() {
	local d=$BATS_FILE_TMPDIR
	if [ "$(cat "$d/$1.status")" != 0 ] || grep -q 'FAIL\|^emu: ' "$d/$1.err" "$d/$1.json" ||
		[ "$(wc -l < "$d/$1.json")" != 1 ] ||
		! grep -q '"steps":3,.*"greedy_rows_differ":[0-9]*,.*"ok":true}$' "$d/$1.json"; then
		cat "$d/$1.err" "$d/$1.json"
		return 1
	fi
	# the report: 4 overall lines, 3 steps, the parameters, the 2 of decoding
	[ "$(grep -c ' ok$' "$d/$1.err")" -ge 9 ] || { cat "$d/$1.err"; return 1; }
}

@test "cuda_emu_model: fp32 forward, backward, AdamW steps, greedy decoding" {
	check fp32
	grep -q '"greedy_rows_differ":0,' "$BATS_FILE_TMPDIR/fp32.json"
}

# bf16 words may differ on a GPU at near ties (model_check counts them); the
# emulator's arithmetic is fixed, and gives the CPU's words here
@test "cuda_emu_model: bf16 forward, backward, AdamW steps, greedy decoding" {
	check bf16
	grep -q '"greedy_rows_differ":0,' "$BATS_FILE_TMPDIR/bf16.json"
}

@test "cuda_emu_model: VITCAP_CUDA_PROFILE: each operation's time at exit, most first; not with 0" {
	local e=$BATS_FILE_TMPDIR/bf16.err op
	run grep -c VITCAP_CUDA_PROFILE "$BATS_FILE_TMPDIR/fp32.err"
	[ "$output" = 0 ]
	grep -q "^model_check: VITCAP_CUDA_PROFILE: [0-9.]* ms in model_check's operations, each waited for:\$" "$e"
	for op in matmul_forward matmul_backward 'cuBLASLt product' 'to bf16' 'to bf16 heads' \
		attention_forward attention_backward layernorm_forward gelu_backward adamw download; do
		grep -qE "^model_check:   $op +[0-9]+ calls +[0-9.]+ ms +[0-9.]+%\$" "$e" || { cat "$e"; return 1; }
	done
	# most first, and the shares add up to the whole
	awk '/ calls / { if (n++ && $(NF-2) > prev) exit 1; prev = $(NF-2); s += $NF }
		END { exit !(n > 10 && s > 99.5 && s < 100.5) }' "$e"
}

@test "cuda_emu_model: a bad option is a usage error" {
	run "$VITCAP_UNIT/emu_model_check" -s 11 tiny fp32 2
	[ "$status" -eq 2 ]
	run "$VITCAP_UNIT/emu_model_check" tiny fp32
	[ "$status" -eq 2 ]
	[[ "$output" == *"usage: model_check [-g] [-s steps] CONFIG fp32|bf16 B"* ]]
}
