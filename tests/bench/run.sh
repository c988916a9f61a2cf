#!/usr/bin/env bash
# make bench: every tests/bench/*.sh (but this one), each timing a vitcap program
# against the tool people would use instead, in the same run, and printing the ratio.
# Benchmarks are not tests: they print numbers and fail only when a run fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${VITCAP_BIN:=$here/../../bin}" "${PY:=$here/../../.venv/bin/python}"
export VITCAP_BIN PY BENCH_DIR="${BENCH_DIR:-$here/../../build/bench}"
mkdir -p "$BENCH_DIR"
echo "vitcap bench on $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} (the BLAS core, where one runs)"
for b in "$here"/*.sh; do
	[ "$(basename "$b")" = run.sh ] && continue
	echo
	bash "$b"
done
