#!/usr/bin/env bats
# The CUDA kernels on the CPU (tests/gpu/emu): emu_kernels runs every kernel of
# common/*.cu under an emulator and compares it with the CPU backend. It runs
# once; each group's lines are one test, so a failure names its group.
load helper

setup_file() {
	"$VITCAP_UNIT/emu_kernels" > "$BATS_FILE_TMPDIR/out" 2>&1
	echo $? > "$BATS_FILE_TMPDIR/status"
}

# group NAME: its lines ("-- NAME" to "-- NAME: ok"), every check ok and no
# emulator problem among them
group() {
	local lines
	lines=$(sed -n "/^-- $1\$/,/^-- $1: /p" "$BATS_FILE_TMPDIR/out")
	if ! grep -qx -- "-- $1: ok" <<< "$lines" || grep -q 'FAIL\|^emu: ' <<< "$lines" ||
		! grep -q " ok\$" <<< "$(sed '1d;$d' <<< "$lines")"; then
		printf '%s\n' "$lines"
		return 1
	fi
}

@test "cuda_emu: every kernel launched, and the summary" {
	run cat "$BATS_FILE_TMPDIR/status"
	[ "$output" = 0 ] || { cat "$BATS_FILE_TMPDIR/out"; return 1; }
	run tail -n 1 "$BATS_FILE_TMPDIR/out"
	[[ "$output" =~ ^emu_kernels:\ [1-9][0-9]*\ passed,\ 0\ failed,\ 0\ emulator\ problems,\ ([0-9]+)\ of\ ([0-9]+)\ kernels\ run$ ]]
	[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]
	# as many kernels as the .cu files define (a __global__ per kernel)
	[ "${BASH_REMATCH[2]}" -eq "$(cat "$TESTS"/../common/*.cu | grep -cw __global__)" ]
}

@test "cuda_emu: the groups are the ones tested here" {
	run "$VITCAP_UNIT/emu_kernels" -l
	[ "$status" -eq 0 ]
	[ "$(echo $output)" = "memory embeddings layernorm matmul attention elementwise classifier gathers sums greedy" ]
}

@test "cuda_emu: memory" { group memory; }
@test "cuda_emu: embeddings" { group embeddings; }
@test "cuda_emu: layernorm" { group layernorm; }
@test "cuda_emu: matmul" { group matmul; }
@test "cuda_emu: attention" { group attention; }
@test "cuda_emu: elementwise" { group elementwise; }
@test "cuda_emu: classifier" { group classifier; }
@test "cuda_emu: gathers" { group gathers; }
@test "cuda_emu: sums" { group sums; }
@test "cuda_emu: greedy" { group greedy; }

@test "cuda_emu: an unknown group is a usage error" {
	run "$VITCAP_UNIT/emu_kernels" nosuch
	[ "$status" -eq 2 ]
	[[ "$output" == *"usage: emu_kernels [-l] [group ...]"* ]]
}
