#!/usr/bin/env bash
# captrain against PyTorch training the reference model (tests/ref/model.py, driven by
# tests/ref/captrain_bench.py) on the same shards, the same batches and 2 threads each:
# `tiny` at batch 32 and `small` at batch 8. Prints the median images/s of each
# (steps after the first), their ratio, captrain's achieved GFLOP/s (its log's
# model_flops count) against this machine's sgemm peak through the same OpenBLAS,
# measured here, and each side's peak resident memory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
threads=${CAPTRAIN_BENCH_THREADS:-2}
d="$BENCH_DIR/captrain"
mkdir -p "$d"
B="$VITCAP_BIN"
export OMP_NUM_THREADS=$threads

# sgemm peak: a 2048^3 product through the OpenBLAS captrain links, best of 5
blas=/usr/lib/x86_64-linux-gnu/openblas-openmp
if [ ! -x "$d/sgemm" ]; then
	cat > "$d/sgemm.c" <<'C'
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
int
main(int argc, char **argv)
{
	int n = 2048, i, t = atoi(argv[1]);
	float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n);
	float *c = malloc(sizeof(float) * n * n);
	double best = 1e9;
	struct timespec t0, t1;

	openblas_set_num_threads(t);
	for (i = 0; i < n * n; i++)
		a[i] = b[i] = (float)(i % 7) * 0.1f;
	for (i = 0; i < 6; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, a, n, b, n, 0, c, n);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (i > 0 && t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) * 1e-9 < best)
			best = t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
	}
	printf("%.1f\n", 2.0 * n * n * n / best * 1e-9);
	return 0;
}
C
	cc -O2 -fopenmp -I/usr/include/x86_64-linux-gnu/openblas-openmp -o "$d/sgemm" "$d/sgemm.c" \
		-L"$blas" -Wl,-rpath,"$blas" -lopenblas
fi
peak=$("$d/sgemm" "$threads")
echo "captrain: sgemm peak through OpenBLAS on $threads threads: $peak GFLOP/s"

# data: 64x64 images for tiny, 224x224 for small, captions encoded to the
# decoder's positions
if [ ! -f "$d/small.tsr" ]; then
	"$B/capsynth" -n 320 --seed 3 -o "$d/syn"
	"$B/imgshard" -c "$d/syn/captions.txt" "$d/syn/images" --size 64 > "$d/raw64.tsr"
	"$B/tokenize" build -o "$d/vocab.txt" "$d/raw64.tsr"
	"$B/tokenize" encode -v "$d/vocab.txt" --max-len 24 "$d/raw64.tsr" > "$d/tiny.tsr"
	"$B/capsynth" -n 24 --seed 4 --size 224 -o "$d/syn224"
	"$B/imgshard" -c "$d/syn224/captions.txt" "$d/syn224/images" --size 224 |
		"$B/tokenize" encode -v "$d/vocab.txt" --max-len 32 > "$d/small.tsr"
fi

bench() {       # config batch steps shard
	local cfg=$1 b=$2 n=$3 shard=$4 ours rss theirs
	/usr/bin/time -f '%M' -o "$d/$cfg.rss" "$B/captrain" -c "$cfg" -v "$d/vocab.txt" \
		--train "$shard" --batch "$b" --steps "$n" --no-shuffle --threads "$threads" \
		--log "$d/$cfg.log" -o "$d/$cfg.safetensors"
	# medians over the steps after the first: images/s and GFLOP/s
	ours=$("$PY" - "$d/$cfg.log" <<'PY'
import json, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l][1:]
med = lambda k: sorted(s[k] for s in steps)[len(steps) // 2]
print("%.2f %.1f" % (med("images_per_s"), med("gflops")))
PY
)
	rss=$(($(cat "$d/$cfg.rss") / 1024))
	theirs=$("$PY" "$here/../ref/captrain_bench.py" "$d/$cfg.safetensors" "$shard" "$b" "$n" "$threads")
	awk -v cfg="$cfg" -v b="$b" -v o="$ours" -v t="$theirs" -v rss="$rss" -v peak="$peak" 'BEGIN {
		split(o, x, " "); split(t, y, " ")
		printf "captrain %-5s batch %2d: %8.2f images/s, %6.1f GFLOP/s (%.0f%% of sgemm peak), peak RSS %5d MiB\n", cfg, b, x[1], x[2], 100 * x[2] / peak, rss
		printf "pytorch  %-5s batch %2d: %8.2f images/s,                              peak RSS %5d MiB\n", cfg, b, y[1], y[2]
		printf "captrain %s trains %.2f times as fast as PyTorch\n", cfg, x[1] / y[1] }'
}
bench tiny 32 12 "$d/tiny.tsr"
bench small 8 6 "$d/small.tsr"
