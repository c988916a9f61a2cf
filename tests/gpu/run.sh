#!/usr/bin/env bash
# Every GPU check of vitcap in one run (tests/gpu/README.md), for a machine with an
# NVIDIA GPU and python3 with CUDA torch; nothing is downloaded.
#
#	bash tests/gpu/run.sh            (OUT=folder for the log and the results)
#
# Prints what the machine has, builds with make CUDA=1 (with the libraries of
# .gpu/deps.tar.xz, made here by tests/gpu/pack.sh, where the machine lacks
# them), then runs each stage under its own time limit, going on past failures:
# the kernel lab, forward and backward against the CPU, 50 training steps against
# the CPU, greedy captions against the CPU, NCCL under mpirun, checkpoints from one
# device to the other, the benchmark. Writes $OUT/gpu-log.txt and
# $OUT/gpu-results.json (rewritten after every stage, so a run cut short still
# leaves one) and exits 1 when a stage failed. GPU_DEADLINE (seconds, default 470)
# bounds the whole run; the benchmark keeps GPU_BENCH_RESERVE (150) of it.
# The stages are functions that the timeout runs (bash -c stage_NAME):
# shellcheck disable=SC2317,SC1003,SC2012,SC2015
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
OUT=${OUT:-$root/build/gpu-out}
W=${GPU_WORK:-/tmp/vitcap-gpu}
DEADLINE=${GPU_DEADLINE:-470}
RESERVE=${GPU_BENCH_RESERVE:-150}
start=$(date +%s)
mkdir -p "$OUT"
rm -rf "$W"
mkdir -p "$W"
export W root start DEADLINE
exec > >(tee "$OUT/gpu-log.txt") 2>&1

# ---- results -------------------------------------------------------------------
entries=()
failed=0
device=unknown

write_json() {
	local IFS=,
	printf '{"device":"%s","seconds":%d,"deadline":%d,"ok":%s,"stages":[%s]}\n' \
		"$device" $(($(date +%s) - start)) "$DEADLINE" \
		"$([ "$failed" = 0 ] && echo true || echo false)" "${entries[*]}" \
		> "$OUT/gpu-results.json"
}

# numbers FILE: the JSON objects of FILE (one a line) joined by commas, each
# parsed and written again so that one bad line (a C program's "nan" or "inf", a
# shell variable left empty) cannot make the results unreadable: non-finite
# numbers become null, a line that still does not parse becomes a string
numbers() {
	python3 - "$1" <<'PY' 2> /dev/null || grep -E '^\{.*\}$' "$1" | paste -sd, -
import json, math, re, sys
def clean(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [clean(v) for v in x]
    return x
out = []
for line in open(sys.argv[1], errors="replace"):
    line = line.strip()
    if not line.startswith("{"):
        continue
    try:
        out.append(clean(json.loads(line)))
    except ValueError:
        try:
            fixed = re.sub(r"(?<=[:\[,])\s*-?(nan|inf|infinity)\s*(?=[,\]}])", "null", line, flags=re.I)
            fixed = re.sub(r":\s*(?=[,}])", ":null", fixed)
            out.append(clean(json.loads(fixed)))
        except ValueError:
            out.append({"unparsed": line[:300]})
print(",".join(json.dumps(x, allow_nan=False) for x in out))
PY
}

# record NAME STATUS SECONDS REASON: one stage's entry, its numbers the JSON
# objects (one a line) that the stage wrote to $W/NAME.json
record() {
	local nums="" why
	why=$(printf '%s' "$4" | tr -d '"' | tr -d '\\' | tr '\n\t\r' '   ' | cut -c1-300)
	[ -s "$W/$1.json" ] && nums=$(numbers "$W/$1.json")
	entries+=("{\"name\":\"$1\",\"status\":\"$2\",\"seconds\":$3,\"reason\":\"$why\",\"numbers\":[$nums]}")
	[ "$2" = fail ] && failed=1
	write_json
	printf '=== %s: %s (%ss)%s\n' "$1" "$2" "$3" "${4:+: $4}"
}

# stage NAME SECONDS: runs the function stage_NAME under a time limit of SECONDS,
# or less when the run's deadline (less the benchmark's reserve) is nearer. The
# function exits 0 (ok), 77 (skip, its reason in $W/NAME.why) or else (fail).
stage() {
	local name=$1 budget=$2 left t0 rc why=""
	left=$((DEADLINE - ($(date +%s) - start)))
	[ "$name" != bench ] && left=$((left - RESERVE))
	if [ "$left" -lt 5 ]; then
		record "$name" skip 0 "no time left of the run's $DEADLINE s"
		return
	fi
	[ "$budget" -gt "$left" ] && budget=$left
	echo
	echo "=== $name (at most ${budget}s)"
	t0=$(date +%s)
	: > "$W/$name.json"
	# bash -c does not inherit set -o pipefail: without it a stage's
	# "a | b || fail" would miss a failing a
	NUM="$W/$name.json" WHY="$W/$name.why" timeout -k 5 "$budget" bash -o pipefail -c "stage_$name"
	rc=$?
	[ -f "$W/$name.why" ] && why=$(cat "$W/$name.why")
	case $rc in
	0) record "$name" ok $(($(date +%s) - t0)) "$why" ;;
	77) record "$name" skip $(($(date +%s) - t0)) "$why" ;;
	124 | 137) record "$name" fail $(($(date +%s) - t0)) "timed out after ${budget}s" ;;
	*) record "$name" fail $(($(date +%s) - t0)) "${why:-exit $rc}" ;;
	esac
}

skip() { echo "$*" > "$WHY"; exit 77; }
fail() { echo "$*" > "$WHY"; exit 1; }
export -f skip fail

# ---- the machine ---------------------------------------------------------------
echo "vitcap GPU run, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores, git $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv 2>&1 | head -3
device=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr -d '"' | tr -d '\\')
: "${device:=none}"
nvcc --version 2>&1 | tail -2
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())' 2>&1 | tail -1
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
export CUDA_HOME
have_system_deps=1
[ "${GPU_USE_DEPS:-0}" = 1 ] && have_system_deps=0      # to try the carried libraries
for h in jansson.h jpeglib.h png.h archive.h x86_64-linux-gnu/openblas-openmp/cblas.h; do
	if [ -f "/usr/include/$h" ]; then echo "found /usr/include/$h"; else echo "missing /usr/include/$h"; have_system_deps=0; fi
done
if pkg-config --exists ompi-c 2>/dev/null && command -v mpirun > /dev/null; then
	echo "found OpenMPI: $(mpirun --version 2>&1 | head -1)"
else
	echo "missing OpenMPI (pkg-config ompi-c, mpirun)"
	have_system_deps=0
fi
# NCCL: the toolkit's, the system's, or the one torch's wheels bring
NCCL_HOME="" NCCL_INC=""
for d in "$CUDA_HOME" /usr; do
	lib=$(ls "$d"/lib/libnccl.so.2 "$d"/lib64/libnccl.so.2 "$d"/lib/x86_64-linux-gnu/libnccl.so.2 2>/dev/null | head -1)
	if [ -n "$lib" ]; then NCCL_HOME=$d; break; fi
done
# the wheel's layout (nvidia/nccl/lib, or under nvidia/cu13/) is not fixed:
# look for the library itself; without one, make CUDA=1 stops at once
if [ -z "$NCCL_HOME" ]; then
	lib=$(python3 -c 'import glob, nvidia; print(*sorted(p for d in nvidia.__path__
		for p in glob.glob(d + "/**/libnccl.so.2", recursive=True))[:1])' 2>/dev/null)
	[ -n "$lib" ] && NCCL_HOME=$(dirname "$(dirname "$lib")")
fi
if [ -n "$NCCL_HOME" ]; then
	if [ -f "$NCCL_HOME/include/nccl.h" ]; then NCCL_INC=$NCCL_HOME/include
	elif [ -f /usr/include/nccl.h ]; then NCCL_INC=/usr/include
	else NCCL_INC=$root/.gpu/nccl/include; fi
	echo "NCCL: library in $NCCL_HOME, header in $NCCL_INC"
else
	echo "NCCL: not found"
fi
command -v bats > /dev/null && echo "found bats" || echo "missing bats (the .bats files are left out)"
export NCCL_HOME NCCL_INC

# ---- the build -----------------------------------------------------------------
MAKEARGS=(CUDA=1 CUDA_HOME="$CUDA_HOME")
[ -n "$NCCL_HOME" ] && MAKEARGS+=(NCCL_HOME="$NCCL_HOME" NCCL_INC="$NCCL_INC")
MPIRUN=(mpirun)
MPIRUN_CARRIED=0
stage_deps() {
	[ "$have_system_deps" = 1 ] && skip "the system has the build's libraries"
	[ -f "$root/.gpu/deps.tar.xz" ] || fail "libraries missing and no .gpu/deps.tar.xz (run tests/gpu/pack.sh where packages can be downloaded, and carry .gpu)"
	rm -rf /tmp/vitcap-deps && mkdir -p /tmp/vitcap-deps
	tar -C /tmp/vitcap-deps -xJf "$root/.gpu/deps.tar.xz" 2> /dev/null ||
		python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
			"$root/.gpu/deps.tar.xz" /tmp/vitcap-deps || fail "cannot unpack .gpu/deps.tar.xz"
	echo "unpacked $(du -sh /tmp/vitcap-deps | cut -f1) into /tmp/vitcap-deps"
}
export have_system_deps
export -f stage_deps
stage deps 30
if [ "$have_system_deps" = 0 ] && [ -d /tmp/vitcap-deps/usr ]; then
	P=/tmp/vitcap-deps
	L=$P/usr/lib/x86_64-linux-gnu
	MAKEARGS+=(DEPS="$P")
	# the programs' rpath finds libmpi, but libmpi's own RUNPATH
	# (/usr/lib/x86_64-linux-gnu/openmpi/lib) then hides that rpath from its
	# dependencies (libopen-rte, libopen-pal, libhwloc): without this every
	# program linking MPI fails to start (exit 127). Exported after the build,
	# so that the system's ld and compilers keep the system's libraries.
	DEPS_LD_PATH="$L:$L/openmpi/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
	export OPAL_PREFIX=$P/usr PMIX_INSTALL_PREFIX=$L/pmix2
	MPIRUN=(env LD_LIBRARY_PATH="$DEPS_LD_PATH" "$P/usr/bin/mpirun")
	MPIRUN_CARRIED=1
fi
export MPIRUN_CARRIED
# one machine, root, no network between the processes but shared memory
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 \
	OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_btl_vader_single_copy_mechanism=none
printf '#!/bin/sh\nexec %s"$@"\n' "$(printf '%q ' "${MPIRUN[@]}")" > "$W/mpirun"
chmod +x "$W/mpirun"

stage_build() {
	eval "make -j${GPU_JOBS:-16} CI= $MAKEARGS_S all gpu-checks" > "$W/build.log" 2>&1 ||
		{ tail -40 "$W/build.log"; fail "make CUDA=1 failed"; }
	tail -3 "$W/build.log"
}
MAKEARGS_S=$(printf '%q ' "${MAKEARGS[@]}")
export MAKEARGS_S
export -f stage_build
stage build 200
[ -n "${DEPS_LD_PATH:-}" ] && export LD_LIBRARY_PATH=$DEPS_LD_PATH
BIN=$root/$(eval "make -s $MAKEARGS_S print-BIN" 2>/dev/null)
BUILD=$root/$(eval "make -s $MAKEARGS_S print-BUILD" 2>/dev/null)
export BIN BUILD PATH="$BIN:$PATH" OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
built() { [ -x "$BIN/captrain" ] || skip "not built"; }
have_gpu=0
nvidia-smi -L > /dev/null 2>&1 && have_gpu=1
gpu() { built; [ "$have_gpu" = 1 ] || skip "no GPU visible (nvidia-smi -L)"; }
export have_gpu
export -f built gpu

# ---- checks --------------------------------------------------------------------

# captrain --device cuda where no GPU is visible: one line, exit 1
stage_host() {
	built
	local out rc
	out=$(CUDA_VISIBLE_DEVICES='' "$BIN/captrain" --device cuda -c tiny -v /dev/null --train x -o "$W/x.safetensors" 2>&1)
	rc=$?
	echo "$out"
	[ "$rc" = 1 ] || fail "expected exit 1, got $rc: $out"
	[[ "$out" == "captrain: --device cuda: no CUDA GPU is visible" ||
		"$out" == "captrain: --device cuda: no CUDA GPU is visible ("*")" ]] ||
		fail "expected one line saying no GPU is visible: $out"
	if command -v bats > /dev/null; then
		# the carried OpenMPI's mpirun (the wrapper, which names it by its full
		# path) when the build uses the carried libraries; never the wrapper
		# around the system's "mpirun", which would find and run itself
		local path=$PATH
		[ "$MPIRUN_CARRIED" = 1 ] && path=$W:$PATH
		PATH=$path CUDA_VISIBLE_DEVICES='' VITCAP_BIN=$BIN PY=python3 bats tests/gpu/host_captrain.bats ||
			fail "tests/gpu/host_captrain.bats"
	else
		echo "no bats: tests/gpu/host_captrain.bats left out"
	fi
}

# helper's kernel lab: every kernel of the CUDA backend against the CPU's
stage_kernels() {
	built
	local lab=$BUILD/gpu/test_kernels rc
	[ -x "$lab" ] || fail "no kernel lab built (test_kernels): make gpu-checks builds it"
	"$lab" "$W/kernels-summary.json"
	rc=$?
	[ "$rc" = 77 ] && echo "the kernel lab sees no CUDA GPU" > "$WHY"
	# the lab's summary is one object over many lines; the results take one a line
	[ -s "$W/kernels-summary.json" ] &&
		python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))))' \
			"$W/kernels-summary.json" >> "$NUM"
	return "$rc"
}

# one forward and backward, CUDA against the CPU, same weights and batch
stage_model() {
	gpu
	local rc=0 c p
	for c in "tiny 8" "small 4"; do
		for p in fp32 bf16; do
			"$BUILD/gpu/model_check" "${c% *}" "$p" "${c#* }" >> "$NUM" || rc=1
		done
	done
	return "$rc"
}

# shards: 400 images of 64x64 with their captions (5 each) in two shards, and 40
# images interleaved in chunks of 4 as tests/captrain.bats makes them, so that one
# process's batch of 40 pairs is two processes' batches of 20
stage_data() {
	built
	local d=$W/data i
	mkdir -p "$d/s"
	capsynth -n 400 --seed 1 -o "$d/syn" &&
		imgshard -c "$d/syn/captions.txt" "$d/syn/images" --size 64 --shard-size 200 -o "$d/raw-%02d.tsr" &&
		tokenize build -o "$d/vocab.txt" "$d"/raw-*.tsr &&
		tokenize encode -v "$d/vocab.txt" --max-len 23 "$d/raw-00.tsr" > "$d/train-00.tsr" &&
		tokenize encode -v "$d/vocab.txt" --max-len 23 "$d/raw-01.tsr" > "$d/train-01.tsr" &&
		capsynth -n 40 --seed 2 -o "$d/synval" &&
		imgshard -c "$d/synval/captions.txt" "$d/synval/images" --size 64 |
		tokenize encode -v "$d/vocab.txt" --max-len 23 > "$d/val.tsr" &&
		imgshard -c "$d/syn/captions.txt" "$d/syn/images" --size 64 --shard-size 4 -o "$d/s/c-%02d.tsr" ||
		fail "making the shards"
	for i in 0 1 2 3 4 5 6 7 8 9; do
		tokenize encode -v "$d/vocab.txt" --max-len 23 "$d/s/c-0$i.tsr" > "$d/s/t$i.tsr" || fail "tokenize"
	done
	(cd "$d/s" && cat t0.tsr t1.tsr t2.tsr t3.tsr t4.tsr > a.tsr && cat t5.tsr t6.tsr t7.tsr t8.tsr t9.tsr > b.tsr &&
		cat t0.tsr t5.tsr t1.tsr t6.tsr t2.tsr t7.tsr t3.tsr t8.tsr t4.tsr t9.tsr > u.tsr)
}
data() { [ -f "$W/data/val.tsr" ] || skip "no data (stage data)"; }
export -f data

tc() {  # captrain on the tiny model over the data, quiet
	captrain -c tiny -v "$W/data/vocab.txt" --no-shuffle --lr 1e-3 --warmup 5 "$@" 2>&1
}
export -f tc

# 50 steps on the CPU, on CUDA in fp32 and in bf16: the losses step by step
# (fp32: relative 1e-3; bf16: 3e-2)
stage_train() {
	gpu
	data
	local d=$W/train rc=0
	mkdir -p "$d"
	tc --train "$W/data/train-*.tsr" --steps 50 --batch 32 --log "$d/cpu.log" -o "$d/cpu.safetensors" || fail "captrain on the CPU"
	tc --device cuda --precision fp32 --train "$W/data/train-*.tsr" --steps 50 --batch 32 --log "$d/fp32.log" -o "$d/fp32.safetensors" || fail "captrain --device cuda --precision fp32"
	tc --device cuda --precision bf16 --train "$W/data/train-*.tsr" --steps 50 --batch 32 --log "$d/bf16.log" -o "$d/bf16.safetensors" || fail "captrain --device cuda --precision bf16"
	python3 tests/gpu/check.py logs "$d/cpu.log" "$d/fp32.log" 1e-3 loss >> "$NUM" || rc=1
	python3 tests/gpu/check.py logs "$d/cpu.log" "$d/bf16.log" 3e-2 loss >> "$NUM" || rc=1
	return "$rc"
}

# a tiny model trained on the GPU; its greedy captions of the validation images
# through vit-embed | capdecode on the CPU and on CUDA, fp32 equal, bf16 counted
stage_captions() {
	gpu
	data
	local d=$W/captions rc=0 p
	mkdir -p "$d"
	tc --device cuda --precision fp32 --train "$W/data/train-*.tsr" --steps 400 --batch 32 -o "$d/m.safetensors" > /dev/null || fail "training"
	vit-embed -m "$d/m.safetensors" "$W/data/val.tsr" | capdecode -m "$d/m.safetensors" > "$d/cpu.tsv" || fail "decoding on the CPU"
	head -3 "$d/cpu.tsv"
	for p in fp32 bf16; do
		vit-embed --device cuda --precision "$p" -m "$d/m.safetensors" "$W/data/val.tsr" |
			capdecode --device cuda --precision "$p" -m "$d/m.safetensors" > "$d/$p.tsv" || fail "decoding on CUDA ($p)"
		if [ "$p" = fp32 ]; then
			python3 tests/gpu/check.py captions "$d/cpu.tsv" "$d/$p.tsv" >> "$NUM" || rc=1
		else
			python3 tests/gpu/check.py captions "$d/cpu.tsv" "$d/$p.tsv" >> "$NUM" || true
		fi
	done
	return "$rc"
}

# NCCL: mpirun -np 1 against one plain process (NCCL over one rank: the same
# losses); -np 2 sharing the GPU through NCCL (NCCL may refuse: recorded), and
# through host memory (VITCAP_ALLREDUCE=mpi) against one process with both batches
stage_nccl() {
	gpu
	data
	local d=$W/nccl rc=0 st common=(-c tiny -v "$W/data/vocab.txt" --no-shuffle --lr 1e-3 --warmup 5
		--steps 12 --precision fp32 --device cuda)
	mkdir -p "$d"
	captrain "${common[@]}" --train "$W/data/s/u.tsr" --batch 40 --log "$d/one.log" \
		-o "$d/one.safetensors" 2>&1 | tail -3 || fail "one process"
	# each mpirun under its own limit: two ranks on one GPU may hang in NCCL's
	# set-up rather than refuse, and must not take the host-memory run's time
	timeout -k 5 30 "$W/mpirun" -np 1 captrain "${common[@]}" --train "$W/data/s/u.tsr" --batch 40 \
		--log "$d/np1.log" -o "$d/np1.safetensors" > "$d/np1.out" 2>&1
	st=$?
	tail -5 "$d/np1.out"
	echo "{\"np1_nccl_exit\":$st}" >> "$NUM"
	if [ "$st" = 0 ]; then
		python3 tests/gpu/check.py logs "$d/one.log" "$d/np1.log" 1e-5 loss grad_norm >> "$NUM" || rc=1
	else
		echo "mpirun -np 1 captrain failed ($st)"
		rc=1
	fi
	timeout -k 5 30 "$W/mpirun" -np 2 captrain "${common[@]}" --train "$W/data/s/a.tsr" \
		--train "$W/data/s/b.tsr" --batch 20 --log "$d/np2.log" -o "$d/np2.safetensors" > "$d/np2.out" 2>&1
	st=$?
	# recorded either way: NCCL may refuse two ranks on one GPU
	echo "{\"np2_nccl_shared_gpu_exit\":$st,\"message\":\"$(grep -m1 -i 'nccl' "$d/np2.out" | tr -d '"\\' | tr -d '[:cntrl:]' | cut -c1-200)\"}" >> "$NUM"
	tail -3 "$d/np2.out"
	if [ "$st" = 0 ]; then
		python3 tests/gpu/check.py logs "$d/one.log" "$d/np2.log" 1e-4 loss grad_norm >> "$NUM" || rc=1
	fi
	timeout -k 5 30 "$W/mpirun" -x VITCAP_ALLREDUCE=mpi -np 2 captrain "${common[@]}" --train "$W/data/s/a.tsr" \
		--train "$W/data/s/b.tsr" --batch 20 --log "$d/host.log" -o "$d/host.safetensors" > "$d/host.out" 2>&1
	st=$?
	tail -5 "$d/host.out"
	echo "{\"np2_host_memory_exit\":$st}" >> "$NUM"
	if [ "$st" = 0 ]; then
		python3 tests/gpu/check.py logs "$d/one.log" "$d/host.log" 1e-4 loss grad_norm >> "$NUM" || rc=1
	else
		echo "mpirun -np 2 with VITCAP_ALLREDUCE=mpi failed ($st)"
		rc=1
	fi
	return "$rc"
}

# checkpoints across devices: 10 steps on one, --resume for 10 on the other,
# against 20 on the first; the PyTorch reference's validation loss of a
# GPU-trained checkpoint against the one captrain logged
stage_checkpoint() {
	gpu
	data
	local d=$W/ckpt rc=0 a b
	mkdir -p "$d"
	for a in cpu cuda; do
		b=cpu
		[ "$a" = cpu ] && b=cuda
		tc --device "$a" --precision fp32 --train "$W/data/train-*.tsr" --steps 20 --batch 16 --log "$d/$a.log" -o "$d/$a.safetensors" > /dev/null || fail "20 steps on $a"
		tc --device "$a" --precision fp32 --train "$W/data/train-*.tsr" --steps 20 --batch 16 --stop-at 10 --log "$d/$a-$b.log" -o "$d/$a-$b.safetensors" > /dev/null || fail "10 steps on $a"
		captrain --device "$b" --precision fp32 --train "$W/data/train-*.tsr" --resume --log "$d/$a-$b.log" -o "$d/$a-$b.safetensors" || fail "--resume on $b"
		python3 tests/gpu/check.py logs "$d/$a.log" "$d/$a-$b.log" 1e-3 loss >> "$NUM" || rc=1
	done
	tc --device cuda --precision fp32 --train "$W/data/train-*.tsr" --val "$W/data/val.tsr" --steps 30 --batch 16 --log "$d/val.log" -o "$d/val.safetensors" > /dev/null || fail "training with --val"
	ours=$(grep '"val_loss"' "$d/val.log" | tail -1 | sed 's/.*"val_loss":\([^,]*\),.*/\1/')
	[ -n "$ours" ] || fail "no val_loss in $d/val.log"
	theirs=$(python3 tests/ref/captrain_check.py valloss "$d/val.safetensors" "$W/data/val.tsr") || fail "the reference cannot read the checkpoint"
	echo "validation loss: captrain --device cuda $ours, PyTorch reference on the CPU $theirs"
	echo "{\"val_loss_gpu\":$ours,\"val_loss_reference\":$theirs}" >> "$NUM"
	awk -v a="$ours" -v b="$theirs" 'BEGIN { d = a - b; exit !(d < 1e-4 * b && -d < 1e-4 * b) }' || rc=1
	return "$rc"
}

# the benchmark makes its own data; its deadline is the run's, so that it can
# leave out the torch.compile rows that no longer fit rather than be killed
stage_bench() {
	gpu
	BENCH_JSON=$NUM BENCH_DEADLINE=$((start + DEADLINE - 5)) VITCAP_BIN=$BIN PY=python3 \
		bash tests/gpu/bench.sh
}

export -f stage_host stage_kernels stage_model stage_data stage_train stage_captions \
	stage_nccl stage_checkpoint stage_bench

stage host 30
stage kernels 60
stage model 45
stage data 30
stage train 60
stage captions 60
stage nccl 90
stage checkpoint 60
stage bench 300

echo
echo "=== summary ($(($(date +%s) - start))s on $device)"
grep -o '"name":"[a-z]*","status":"[a-z]*","seconds":[0-9]*' "$OUT/gpu-results.json" |
	sed 's/"name":"\([a-z]*\)","status":"\([a-z]*\)","seconds":\([0-9]*\)/\1 \2 \3s/' | column -t
write_json
exit $failed
