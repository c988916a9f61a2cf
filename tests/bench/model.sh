#!/usr/bin/env bash
# The model's training step (forward + backward, and whole AdamW steps) against PyTorch
# on the same architecture (tests/ref/model.py), `tiny` at batch 32, 2 threads each.
# Per-iteration times: the best and the median of 10, since neighbours on a shared
# machine come and go. Until captrain exists the C side is test_model's bench mode.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
unit=${VITCAP_UNIT:-$here/../../build/rel/tests}
if [ ! -x "$unit/test_model" ]; then
	echo "model: skipped, $unit/test_model is not built (make build/rel/tests/test_model)"
	exit 0
fi
threads=${MODEL_BENCH_THREADS:-2}
for mode in full embed; do
	ours=$(OMP_NUM_THREADS=$threads "$unit/test_model" bench tiny 1000 32 10 $mode)
	theirs=$(OMP_NUM_THREADS=$threads "$PY" "$here/../ref/model_bench.py" tiny 1000 32 10 $mode $threads)
	echo "$ours"
	echo "$theirs"
	awk -v a="$ours" -v b="$theirs" 'BEGIN {
		match(a, /median [0-9.]+/); x = substr(a, RSTART + 7, RLENGTH - 7)
		match(b, /median [0-9.]+/); y = substr(b, RSTART + 7, RLENGTH - 7)
		printf "model (%s): forward+backward %.2f times PyTorch'\''s images/s (medians)\n",
		    "'"$mode"'", x / y }'
done
