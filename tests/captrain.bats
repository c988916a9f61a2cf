#!/usr/bin/env bats
# captrain(1): training lowers the loss and logs what the man page says; the
# PyTorch reference (tests/ref/model.py) loads the checkpoint and finds the logged
# validation loss; resuming is bit-identical; a signal leaves a checkpoint to
# resume; two MPI processes make the updates of one with their batches joined;
# the frozen encoder stays as it was, from images or from embeddings; bad input
# is one line naming the file and record, before any training.
load helper

CHECK="$BATS_TEST_DIRNAME/ref/captrain_check.py"
CFG="$BATS_TEST_DIRNAME/data/captrain"

setup_file() {
	# Waiting OpenMP threads sleep instead of spinning: a little slower on an
	# idle machine, and not many times slower on one shared with other work.
	export LC_ALL=C D="$BATS_FILE_TMPDIR" OMP_WAIT_POLICY=passive
	capsynth -n 200 --seed 1 -o "$D/syn"
	capsynth -n 40 --seed 2 -o "$D/synval"
	# 64x64 in two shards of 100 images, for the smoke test
	imgshard -c "$D/syn/captions.txt" "$D/syn/images" --size 64 --shard-size 100 \
		-o "$D/raw64/train-%02d.tsr"
	tokenize build -o "$D/vocab.txt" "$D"/raw64/*.tsr
	mkdir -p "$D/s64"
	for f in "$D"/raw64/*.tsr; do
		tokenize encode -v "$D/vocab.txt" --max-len 16 "$f" > "$D/s64/${f##*/}"
	done
	imgshard -c "$D/synval/captions.txt" "$D/synval/images" --size 64 |
		tokenize encode -v "$D/vocab.txt" --max-len 16 > "$D/val64.tsr"
	# 16x16 in chunks of 4 images: a = chunks 0-4, b = chunks 5-9, and u, the
	# same 40 images interleaved a0 b0 a1 b1 ..., so that one process's batches
	# of 40 pairs (8 images) are the two processes' batches of 20 joined
	imgshard -c "$D/syn/captions.txt" "$D/syn/images" --size 16 --shard-size 4 \
		-o "$D/raw16/c-%02d.tsr"
	mkdir -p "$D/s16"
	for i in 0 1 2 3 4 5 6 7 8 9; do
		tokenize encode -v "$D/vocab.txt" --max-len 16 "$D/raw16/c-0$i.tsr" > "$D/s16/c$i.tsr"
	done
	(cd "$D/s16" && cat c0.tsr c1.tsr c2.tsr c3.tsr c4.tsr > a.tsr &&
		cat c5.tsr c6.tsr c7.tsr c8.tsr c9.tsr > b.tsr &&
		cat c0.tsr c5.tsr c1.tsr c6.tsr c2.tsr c7.tsr c3.tsr c8.tsr c4.tsr c9.tsr > u.tsr)
	tokenize encode -v "$D/vocab.txt" --max-len 16 "$D/raw16/c-10.tsr" > "$D/val16.tsr"
	# a model to start from
	captrain -c "$CFG/mini.json" -v "$D/vocab.txt" --train "$D/s16/u.tsr" --steps 10 \
		--threads 2 -o "$D/init.safetensors"
}

setup() {
	T="$BATS_TEST_TMPDIR"
}

teardown() {
	# a run left in the background by a failed test
	if [ -n "${pid:-}" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
}

mini() {
	captrain -c "$CFG/mini.json" -v "$D/vocab.txt" --threads 2 "$@"
}

@test "captrain: a few hundred steps lower the loss; the log, the reference model agree" {
	run -0 captrain -c "$CFG/micro.json" -v "$D/vocab.txt" --train "$D/s64/train-*.tsr" \
		--val "$D/val64.tsr" --steps 300 --batch 16 --lr 1e-3 --threads 2 \
		--log "$T/log" -o "$T/model.safetensors"
	[ -z "$output" ]
	# 1000 pairs in 63 steps an epoch: validation after steps 63 126 189 252 and 300
	run -0 "$PY" "$CHECK" log "$T/log" 300 5
	read -r first last <<< "$output"
	echo "loss: first step $first, last ten $last"
	awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < 0.5 * a) }'
	[ "$(grep -c '"val_loss"' "$T/log")" = 5 ]
	grep -q '^{"step":300,"epoch":5,"val_loss":' "$T/log"
	ours=$(grep '^{"step":300,"epoch":5,"val_loss"' "$T/log" | sed 's/.*"val_loss":\([^,]*\),.*/\1/')
	theirs=$("$PY" "$CHECK" valloss "$T/model.safetensors" "$D/val64.tsr")
	echo "validation loss: captrain $ours, PyTorch reference $theirs"
	awk -v a="$ours" -v b="$theirs" 'BEGIN { d = a - b; exit !(d < 1e-4 * b && -d < 1e-4 * b) }'
	run -0 "$PY" "$CHECK" steps "$T/model.safetensors"
	[ "$output" = "300 300" ]
}

@test "captrain: 2N steps straight and N + --resume + N are bit-identical" {
	mini --train "$D/s16/u.tsr" --val "$D/val16.tsr" --steps 30 --batch 16 --lr 1e-3 \
		--save-every 7 --log "$T/a.log" -o "$T/a.safetensors"
	run -0 mini --train "$D/s16/u.tsr" --val "$D/val16.tsr" --steps 30 --batch 16 \
		--lr 1e-3 --save-every 7 --stop-at 15 --log "$T/b.log" -o "$T/b.safetensors"
	run -0 "$PY" "$CHECK" steps "$T/b.safetensors"
	[ "$output" = "15 15" ]
	# what the state file holds need not be repeated
	run -0 captrain --threads 2 --train "$D/s16/u.tsr" --val "$D/val16.tsr" --resume \
		--log "$T/b.log" -o "$T/b.safetensors"
	"$PY" "$CHECK" fields "$T/a.log" > "$T/a.fields"
	"$PY" "$CHECK" fields "$T/b.log" > "$T/b.fields"
	[ "$(wc -l < "$T/a.fields")" = 33 ]     # 30 steps, 13 a epoch: 3 validations
	cmp "$T/a.fields" "$T/b.fields"
	cmp "$T/a.safetensors" "$T/b.safetensors"
	cmp "$T/a.state.safetensors" "$T/b.state.safetensors"
	# a finished run has nothing left to do
	run -0 captrain --threads 2 --train "$D/s16/u.tsr" --resume -o "$T/b.safetensors"
	[ "$output" = "captrain: $T/b.safetensors: trained for 30 steps already" ]
	cmp "$T/a.safetensors" "$T/b.safetensors"
}

@test "captrain: SIGTERM mid-run writes a checkpoint and its state, which --resume continues" {
	captrain -c "$CFG/mini.json" -v "$D/vocab.txt" --threads 2 --train "$D/s16/u.tsr" \
		--steps 1000000 --batch 8 --log "$T/log" -o "$T/m.safetensors" 3>&- &
	pid=$!
	for i in $(seq 600); do
		[ -f "$T/log" ] && [ "$(wc -l < "$T/log")" -ge 5 ] && break
		sleep 0.1
	done
	kill -TERM "$pid"
	st=0
	wait "$pid" || st=$?
	[ "$st" = 143 ]
	n=$(wc -l < "$T/log")
	run -0 "$PY" "$CHECK" steps "$T/m.safetensors"
	[ "$output" = "$n $n" ]
	"$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import model; model.load(sys.argv[2])' \
		"$TESTS/ref" "$T/m.safetensors"
	run -0 captrain --threads 2 --train "$D/s16/u.tsr" --resume --stop-at $((n + 3)) \
		--log "$T/log" -o "$T/m.safetensors"
	[ "$(wc -l < "$T/log")" = $((n + 3)) ]
	run -0 "$PY" "$CHECK" log "$T/log" $((n + 3))
}

@test "captrain: --resume refuses another config, another vocabulary, a state of another step" {
	mini --train "$D/s16/u.tsr" --steps 10 --stop-at 5 -o "$T/m.safetensors"
	cp "$T/m.state.safetensors" "$T/old.state"
	run -1 captrain -c "$CFG/mini-wide.json" --train "$D/s16/u.tsr" --resume -o "$T/m.safetensors"
	one_line_error captrain
	[ "$output" = "captrain: $T/m.safetensors: a checkpoint of another config: dim 32, but --config $CFG/mini-wide.json has 48" ]
	head -n 30 "$D/vocab.txt" > "$T/v30.txt"
	run -1 captrain -v "$T/v30.txt" --train "$D/s16/u.tsr" --resume -o "$T/m.safetensors"
	[ "$output" = "captrain: $T/m.safetensors: trained with another vocabulary than $T/v30.txt" ]
	run -1 captrain --train "$D/s16/u.tsr" --resume --batch 4 -o "$T/m.safetensors"
	[ "$output" = "captrain: $T/m.state.safetensors: a run of --batch 32, not 4" ]
	run -1 captrain --train "$D/s16/a.tsr" --resume -o "$T/m.safetensors"
	[ "$output" = "captrain: $T/m.state.safetensors: the training data changed: 200 pairs in 7 steps per epoch, now 100 in 4" ]
	# the checkpoint of step 10 with the state of step 5: a save cut short
	mini --train "$D/s16/u.tsr" --resume -o "$T/m.safetensors"
	cp "$T/old.state" "$T/m.state.safetensors"
	run -1 captrain --train "$D/s16/u.tsr" --resume -o "$T/m.safetensors"
	[ "$output" = "captrain: $T/m.state.safetensors: from step 5, but $T/m.safetensors is from step 10: the last save was cut short (start again from the checkpoint with --init)" ]
	rm "$T/m.state.safetensors"
	run -1 captrain --train "$D/s16/u.tsr" --resume -o "$T/m.safetensors"
	[ "$output" = "captrain: $T/m.state.safetensors: No such file or directory (--resume needs the state file written beside the checkpoint)" ]
	run -1 captrain --train "$D/s16/u.tsr" --resume -o "$T/none.safetensors"
	one_line_error captrain
}

@test "captrain: mpirun -np 2 with batch B makes the updates of one process with batch 2B" {
	use_mpirun
	common=(-c "$CFG/mini.json" -v "$D/vocab.txt" --no-shuffle --threads 1 --steps 8
		--lr 1e-3 --warmup 2)
	captrain "${common[@]}" --train "$D/s16/u.tsr" --batch 40 --log "$T/one.log" \
		-o "$T/one.safetensors"
	run -0 mpirun -np 2 captrain "${common[@]}" --train "$D/s16/a.tsr" --train "$D/s16/b.tsr" \
		--batch 20 --log "$T/two.log" -o "$T/two.safetensors" < /dev/null
	"$PY" - "$T/one.log" "$T/two.log" <<-'PY'
	import json, sys
	a = [json.loads(l) for l in open(sys.argv[1])]
	b = [json.loads(l) for l in open(sys.argv[2])]
	assert len(a) == len(b) == 8, (len(a), len(b))
	for x, y in zip(a, b):
	    assert x["step"] == y["step"] and x["epoch"] == y["epoch"] and x["lr"] == y["lr"]
	    for k in "loss", "grad_norm":
	        assert abs(x[k] - y[k]) <= 1e-5 * abs(x[k]), (k, x, y)
	    print("step %d: loss %.9g vs %.9g" % (x["step"], x["loss"], y["loss"]))
	PY
	run -0 "$PY" "$CHECK" same "$T/one.safetensors" "$T/two.safetensors" 2e-5 "$D/init.safetensors"
	echo "$output"
	# resuming two processes is as exact as one
	run -0 mpirun -np 2 captrain "${common[@]}" --train "$D/s16/a.tsr" --train "$D/s16/b.tsr" \
		--batch 20 --stop-at 5 -o "$T/three.safetensors" < /dev/null
	run -0 mpirun -np 2 captrain --threads 1 --train "$D/s16/a.tsr" --train "$D/s16/b.tsr" \
		--resume -o "$T/three.safetensors" < /dev/null
	cmp "$T/two.safetensors" "$T/three.safetensors"
	cmp "$T/two.state.safetensors" "$T/three.state.safetensors"
	# each process needs a shard of its own
	run -1 mpirun -np 2 captrain "${common[@]}" --train "$D/s16/u.tsr" --batch 20 \
		-o "$T/four.safetensors" < /dev/null
	[[ "$output" == *"captrain: 1 training shard for 2 processes: each process reads whole shards, at least one"* ]]
}

@test "captrain: --frozen-encoder --init from images keeps the encoder bit for bit" {
	run -0 captrain --frozen-encoder --init "$D/init.safetensors" --train "$D/s16/u.tsr" \
		--threads 2 --steps 8 --batch 16 --lr 1e-3 -o "$T/f.safetensors"
	run -0 "$PY" "$CHECK" frozen "$D/init.safetensors" "$T/f.safetensors"
	# a new decoder, for another vocabulary, over the same encoder
	head -n 40 "$D/vocab.txt" > "$T/v40.txt"
	tokenize encode -v "$T/v40.txt" --max-len 16 "$D/s16/u.tsr" > "$T/u40.tsr"
	run -0 captrain --frozen-encoder --init "$D/init.safetensors" -v "$T/v40.txt" \
		--train "$T/u40.tsr" --threads 2 --steps 4 -o "$T/g.safetensors"
	"$PY" - "$D/init.safetensors" "$T/g.safetensors" <<-'PY'
	import sys
	import numpy as np
	from safetensors.numpy import load_file
	a, b = load_file(sys.argv[1]), load_file(sys.argv[2])
	assert b["decoder.tok_embed.weight"].shape[0] == 39
	assert all(np.array_equal(a[k], b[k]) for k in a if k.startswith("encoder."))
	PY
}

@test "captrain: the decoder trains from embeddings as from images through the frozen encoder" {
	"$PY" "$TESTS/ref/captrain_embed.py" "$D/init.safetensors" "$D/s16/u.tsr" "$T/emb.tsr"
	common=(--frozen-encoder --init "$D/init.safetensors" --no-shuffle --threads 2 --steps 6
		--batch 20 --lr 1e-3 --warmup 0)
	captrain "${common[@]}" --train "$D/s16/u.tsr" --log "$T/img.log" -o "$T/img.safetensors"
	captrain "${common[@]}" --train "$T/emb.tsr" --log "$T/emb.log" -o "$T/emb.safetensors"
	"$PY" - "$T/img.log" "$T/emb.log" <<-'PY'
	import json, sys
	a = [json.loads(l) for l in open(sys.argv[1])]
	b = [json.loads(l) for l in open(sys.argv[2])]
	assert len(a) == len(b) == 6
	for x, y in zip(a, b):
	    assert abs(x["loss"] - y["loss"]) <= 1e-5 * x["loss"], (x, y)
	PY
	run -0 "$PY" "$CHECK" frozen "$D/init.safetensors" "$T/emb.safetensors"
	# embeddings need the frozen encoder they came from
	run -1 mini --train "$T/emb.tsr" --steps 1 -o "$T/x.safetensors"
	[ "$output" = "captrain: $T/emb.tsr:record 0: no image (records with embed train with --frozen-encoder --init MODEL)" ]
	mini --train "$D/s16/c0.tsr" --seed 2 --steps 1 -o "$T/other.safetensors"
	run -1 captrain --frozen-encoder --init "$T/other.safetensors" --train "$T/emb.tsr" \
		--steps 1 -o "$T/x.safetensors"
	[[ "$output" == "captrain: $T/emb.tsr:record 0: embeddings of encoder "*", the model's is "*" (make them with vit-embed -m from the --init model)" ]]
	run -1 captrain --frozen-encoder --init "$D/init.safetensors" --train "$T/emb.tsr" \
		--train "$D/s16/c0.tsr" --steps 1 -o "$T/x.safetensors"
	# (the shards in name order: $D/s16/c0.tsr first)
	[ "$output" = "captrain: $T/emb.tsr:record 0: no image, an embed (a training set is all images or all embeddings)" ]
}

@test "captrain: --pairs one visits one caption per image an epoch" {
	run -0 mini --train "$D/s16/u.tsr" --pairs one --epochs 2 --batch 16 --log "$T/log" \
		-o "$T/m.safetensors"
	# 40 images, 16 a step: 3 steps an epoch
	[ "$(cut -d, -f2 "$T/log" | tr '\n' ' ')" = '"epoch":1 "epoch":1 "epoch":1 "epoch":2 "epoch":2 "epoch":2 ' ]
	run -0 mini --train "$D/s16/u.tsr" --epochs 1 --batch 16 --log "$T/log" -o "$T/m.safetensors"
	[ "$(wc -l < "$T/log")" = 13 ]
}

@test "captrain: bad input is one line naming the file and record, exit 1, before training" {
	run -1 mini --train "$D/raw16/c-00.tsr" -o "$T/m.safetensors"
	[ "$output" = "captrain: $D/raw16/c-00.tsr:record 0: no tokens (add them with tokenize encode -v VOCAB --max-len 16)" ]
	head -n 20 "$D/vocab.txt" > "$T/v20.txt"
	run -1 captrain -c "$CFG/mini.json" -v "$T/v20.txt" --train "$D/s16/u.tsr" -o "$T/m.safetensors"
	[[ "$output" =~ ^"captrain: $D/s16/u.tsr:record "[0-9]+": token id "[0-9]+" (caption "[0-9]+", position "[0-9]+") is not in the vocabulary of 19 tokens (encode with the same vocabulary)"$ ]]
	run -1 mini --train "$D/s64/train-00.tsr" -o "$T/m.safetensors"
	[ "$output" = "captrain: $D/s64/train-00.tsr:record 0: image is 64x64, the model takes 16x16 (make the shards with imgshard --size 16)" ]
	tokenize encode -v "$D/vocab.txt" --max-len 20 "$D/raw16/c-00.tsr" > "$T/long.tsr"
	run -1 mini --train "$T/long.tsr" -o "$T/m.safetensors"
	[ "$output" = "captrain: $T/long.tsr:record 0: tokens rows of 21 ids, the model reads rows of 2 to 17 (encode with tokenize encode --max-len 16)" ]
	run -1 mini --train "$D/s16/none-*.tsr" -o "$T/m.safetensors"
	[ "$output" = "captrain: $D/s16/none-*.tsr: no files match" ]
	run -1 mini --train "$D/s16/none.tsr" -o "$T/m.safetensors"
	[ "$output" = "captrain: $D/s16/none.tsr: No such file or directory" ]
	head -c 1000 "$D/s16/c0.tsr" > "$T/cut.tsr"
	run -1 mini --train "$T/cut.tsr" -o "$T/m.safetensors"
	one_line_error captrain
	[[ "$output" == "captrain: $T/cut.tsr:record 0: "* ]]
	: > "$T/empty.tsr"
	run -1 mini --train "$T/empty.tsr" -o "$T/m.safetensors"
	[ "$output" = "captrain: no pairs: no captions in the training shards" ]
	echo '{"image": 16}' > "$T/bad.json"
	run -1 captrain -c "$T/bad.json" -v "$D/vocab.txt" --train "$D/s16/u.tsr" -o "$T/m.safetensors"
	one_line_error captrain
	echo 'not a vocabulary' > "$T/bad.txt"
	run -1 captrain -c "$CFG/mini.json" -v "$T/bad.txt" --train "$D/s16/u.tsr" -o "$T/m.safetensors"
	one_line_error captrain
	[[ "$output" == "captrain: $T/bad.txt:"* ]]
	# nothing was written
	[ ! -e "$T/m.safetensors" ] && [ ! -e "$T/m.state.safetensors" ]
}

@test "captrain: a loss that is not finite stops training and keeps the last checkpoint" {
	run -1 mini --train "$D/s16/u.tsr" --lr 1e30 --steps 20 --save-every 1 --log "$T/log" \
		-o "$T/m.safetensors"
	[[ "$output" =~ ^"captrain: step "([0-9]+)": "(loss|gradient norm)" is "(nan|inf|-nan)": stopping ($T/m.safetensors holds the last good checkpoint)"$ ]]
	bad=${BASH_REMATCH[1]}
	[ "$(wc -l < "$T/log")" = $((bad - 1)) ]
	run -0 "$PY" "$CHECK" steps "$T/m.safetensors"
	[ "$output" = "$((bad - 1)) $((bad - 1))" ]
}

@test "captrain: usage errors exit 2" {
	run -2 mini --train "$D/s16/u.tsr" --epochs 2 --steps 3 -o "$T/m.safetensors"
	[ "$output" = "captrain: --epochs and --steps: give one of them" ]
	run -2 captrain --frozen-encoder -v "$D/vocab.txt" --train "$D/s16/u.tsr" -o "$T/m.safetensors"
	[ "$output" = "captrain: --frozen-encoder needs the encoder from --init model" ]
	run -2 mini --train "$D/s16/u.tsr" --pairs some -o "$T/m.safetensors"
	[ "$output" = "captrain: --pairs: expected all or one: some" ]
	run -2 mini --train "$D/s16/u.tsr"
	[ "$output" = "captrain: no output: give -o model" ]
	run -2 mini -o "$T/m.safetensors"
	[ "$output" = "captrain: no training shards: give --train pattern" ]
	run -2 captrain -c huge -v "$D/vocab.txt" --train "$D/s16/u.tsr" -o "$T/m.safetensors"
	one_line_error captrain
	run -2 captrain -v "$D/vocab.txt" --train "$D/s16/u.tsr" -o "$T/m.safetensors"
	[ "$output" = "captrain: no model: give --config (or --init, or --resume)" ]
	run -2 mini --train "$D/s16/u.tsr" --lr 1e-4 --min-lr 1e-3 -o "$T/m.safetensors"
	run -2 mini --train "$D/s16/u.tsr" --batch 0 -o "$T/m.safetensors"
	[ "$output" = "captrain: --batch: out of range [1, 65536]: 0" ]
}

@test "captrain: --device and --precision; --device cuda without CUDA or a GPU is one line, exit 1" {
	run -1 mini --device cuda --train "$D/s16/u.tsr" -o "$T/m.safetensors"
	# a build without CUDA, or a CUDA build on a machine without a GPU
	# (tests/gpu/host_captrain.bats)
	no_cuda_error captrain
	[ ! -e "$T/m.safetensors" ]
	run -2 mini --device gpu --train "$D/s16/u.tsr" -o "$T/m.safetensors"
	[ "$output" = "captrain: --device: unknown value gpu (cpu or cuda)" ]
	run -2 mini --precision fp16 --train "$D/s16/u.tsr" -o "$T/m.safetensors"
	[ "$output" = "captrain: --precision: unknown value fp16 (fp32 or bf16)" ]
	run -2 mini --precision bf16 --train "$D/s16/u.tsr" -o "$T/m.safetensors"
	[ "$output" = "captrain: --precision bf16 needs --device cuda" ]
	# the CPU in fp32 is the default, bit for bit
	mini --train "$D/s16/u.tsr" --steps 3 --batch 8 -o "$T/a.safetensors"
	mini --device cpu --precision fp32 --train "$D/s16/u.tsr" --steps 3 --batch 8 \
		-o "$T/b.safetensors"
	cmp "$T/a.safetensors" "$T/b.safetensors"
}
