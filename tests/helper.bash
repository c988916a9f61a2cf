# Loaded by every bats file: the programs under test come from VITCAP_BIN (bin/ or the
# sanitizer build), the reference Python from PY (the venv that `make deps` builds).
: "${VITCAP_BIN:=$BATS_TEST_DIRNAME/../bin}"
: "${VITCAP_UNIT:=$BATS_TEST_DIRNAME/../build/rel/tests}"
: "${PY:=$BATS_TEST_DIRNAME/../.venv/bin/python}"
PATH="$VITCAP_BIN:$PATH"
export PATH PY VITCAP_BIN
TESTS="$BATS_TEST_DIRNAME"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

bats_require_minimum_version 1.5.0

# expect_output FILE: $output must equal FILE's contents byte for byte; shows a diff if not.
expect_output() {
	if [ "$output" != "$(cat "$1")" ]; then
		diff -u "$1" <(printf '%s\n' "$output") || true
		return 1
	fi
}

# one_line_error PROG: stderr (captured in $output by run) is one line starting "PROG: ".
one_line_error() {
	[ "${#lines[@]}" -eq 1 ] || { printf 'expected one line, got:\n%s\n' "$output"; return 1; }
	[[ "${lines[0]}" == "$1: "* ]] || { printf 'expected "%s: ...", got: %s\n' "$1" "${lines[0]}"; return 1; }
}

# no_cuda_error PROG: $output (from run) is PROG's one-line --device cuda error of a
# build without CUDA or of a CUDA build that sees no GPU.
no_cuda_error() {
	one_line_error "$1" || return 1
	[[ "$output" == "$1: --device cuda: this build has no CUDA backend (rebuild with make CUDA=1)" ||
		"$output" == "$1: --device cuda: no CUDA GPU is visible"* ]] ||
		{ printf 'expected "%s: --device cuda:" no CUDA backend or no GPU, got: %s\n' "$1" "$output"; return 1; }
}

# cuda_build PROG ARGS...: whether PROG was built with CUDA: true unless
# `PROG --device cuda ARGS...`, with no GPU visible and no input, says to rebuild
# with make CUDA=1.
cuda_build() {
	[[ "$(CUDA_VISIBLE_DEVICES='' "$1" --device cuda "${@:2}" 2>&1 < /dev/null)" != *"rebuild with make CUDA=1"* ]]
}

# record_keys FILE...: the keys of the records of the streams, one a line, in order.
record_keys() {
	tsrinfo -j "$@" | "$PY" -c 'import json, sys; [print(json.loads(l)["key"]) for l in sys.stdin]'
}

# readme_sh HEADING...: the lines of README.md's ```sh blocks in the sections whose
# "## " headings begin with one of the HEADINGs.
readme_sh() {
	awk -v list="$(printf '%s\n' "$@")" '
		BEGIN { n = split(list, want, "\n") }
		/^## / { on = 0; for (i = 1; i <= n; i++) if (index($0, "## " want[i]) == 1) on = 1 }
		on && /^```sh$/ { b = 1; next }
		/^```$/ { b = 0; next }
		on && b' "${BASH_SOURCE[0]%/*}/../README.md"
}

# run_in DIR CMD: runs the shell command CMD in DIR with no input, as bats' run
# does ($status, $output), after printing it; shows its output when it fails.
run_in() {
	echo "$2"
	run bash -o pipefail -c "cd '$1' && $2" < /dev/null
	[ "$status" = 0 ] || echo "$output"
}

# use_mpirun: skips without mpirun; else lets it run as root (CI's containers), more
# processes than cores, and the sanitizer build ignore OpenMPI's own leaks. (Give
# mpirun < /dev/null: it forwards its input to rank 0.)
use_mpirun() {
	command -v mpirun > /dev/null || skip "no mpirun"
	export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
	export LSAN_OPTIONS="suppressions=${BASH_SOURCE[0]%/*}/lsan-mpi.supp:print_suppressions=0:fast_unwind_on_malloc=0"
}
