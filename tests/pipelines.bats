#!/usr/bin/env bats
# The data set pipelines (pipelines/flickr8k.mk, flickr30k.mk, coco.mk over
# stages.mk) end to end on capsynth miniatures laid out as the downloads are:
# the test captions are those of the test split's images, the scores are BLEU's;
# a rerun does nothing, a changed setting redoes its stage, an interrupted
# training resumes; NP=2 trains under mpirun. And pipelines/caption.sh.
load helper
load datasets

ROOT="$BATS_TEST_DIRNAME/.."

setup_file() {
	export LC_ALL=C D="$BATS_FILE_TMPDIR" OMP_WAIT_POLICY=passive
	flickr8k_like "$D/Flickr8k" 36 24 6 1
	flickr30k_like "$D/flickr30k.zip" 30 3
	# COCO 2014: train2014/, val2014/, annotations/; and Karpathy's split of another set.
	capsynth -n 30 --size 32 -s 4 -f coco -o "$D/coco"
	capsynth -n 14 --size 32 -s 5 -f coco --split val -o "$D/coco"
	capsynth -n 40 --size 32 -s 6 -f karpathy --val 5 --test 6 --restval 4 -o "$D/karpathy"
}

setup() {
	T="$BATS_TEST_TMPDIR"
	# settings that make a run take seconds
	tiny=(PRESET=tiny STEPS=2 BATCH=8)
}

teardown() {
	if [ -n "${pid:-}" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
}

pipeline() {
	make --no-print-directory -C "$ROOT" -f "pipelines/$1" "${@:2}" < /dev/null
}

# keys FILE: the sorted keys of a key<TAB>... file.
keys() {
	cut -f1 "$1" | sort -u
}

# check_run OUT TESTKEYS: the outputs of a finished run are there and well formed,
# and the test captions are those of exactly the images listed in TESTKEYS.
check_run() {
	local o=$1
	for f in vocab.txt model.safetensors train.jsonl hyps.tsv refs.tsv scores.txt; do
		[ -s "$o/$f" ] || { echo "missing $o/$f"; return 1; }
	done
	[ -e "$o/model.done" ]
	[ "$(keys "$o/hyps.tsv")" = "$(sort "$2")" ]
	[ "$(wc -l < "$o/hyps.tsv")" = "$(wc -l < "$2")" ]
	[ "$(keys "$o/refs.tsv")" = "$(sort "$2")" ]
	# every hypothesis has a key and a caption of known words
	! grep -qvP '^[^\t]+\t[a-z<>]+( [a-z<>]+)*$' "$o/hyps.tsv"
	grep -qE '^BLEU\|nrefs:[0-9]+\|.* = [0-9.]+ ' "$o/scores.txt"
	grep -qE '^Bleu_4: [0-9.]+$' "$o/scores.txt"
	grep -qE '^CIDEr-D: [0-9.]+$' "$o/scores.txt"
	# the model's configuration is the preset's
	tsrinfo "$o/model.safetensors" | grep -q 'config={"image":64,"patch":8,"dim":192'
	# no temporary file left
	[ -z "$(find "$o" -name '*.tmp' -o -name '.*.tsr.*' -o -name '.model*')" ]
}

# records FILE...: the keys of the records, sorted.
records() {
	record_keys "$@" | sort
}

# mtimes DIR: every file under DIR with its modification time.
mtimes() {
	find "$1" -type f -printf '%p %T@\n' | sort
}

@test "pipelines: flickr8k with its split lists; a rerun does nothing; a setting redoes its stage" {
	run -0 pipeline flickr8k.mk FLICKR8K="$D/Flickr8k" OUT="$T/f8k" "${tiny[@]}"
	[[ "$output" == *"outputs: $T/f8k/hyps.tsv"* ]]
	check_run "$T/f8k" "$D/Flickr8k/Flickr_8k.testImages.txt"
	[ "$(records "$T/f8k/records/train-0000.tsr")" = "$(sort "$D/Flickr8k/Flickr_8k.trainImages.txt")" ]
	[ "$(records "$T/f8k/records/val.tsr")" = "$(sort "$D/Flickr8k/Flickr_8k.devImages.txt")" ]
	[ "$(grep -c '"loss"' "$T/f8k/train.jsonl")" = 2 ]
	# the references are the token file's captions of the test images
	[ "$(sort "$T/f8k/refs.tsv")" = "$(grep -F -f "$D/Flickr8k/Flickr_8k.testImages.txt" \
		"$D/Flickr8k/Flickr8k.token.txt" | sed 's/#[0-4]\t/\t/' | sort)" ]
	# a rerun: up to date, nothing rewritten
	before=$(mtimes "$T/f8k")
	run -0 pipeline flickr8k.mk FLICKR8K="$D/Flickr8k" OUT="$T/f8k" "${tiny[@]}" -q "$T/f8k/scores.txt"
	sleep 0.01
	run -0 pipeline flickr8k.mk FLICKR8K="$D/Flickr8k" OUT="$T/f8k" "${tiny[@]}"
	[[ "$output" != *captrain* && "$output" != *imgshard* ]]
	[ "$(mtimes "$T/f8k")" = "$before" ]
	# another BEAM redoes the decoding only; more STEPS resume the training
	run -0 pipeline flickr8k.mk FLICKR8K="$D/Flickr8k" OUT="$T/f8k" "${tiny[@]}" BEAM=2
	[[ "$output" == *"capdecode -m $T/f8k/model.safetensors --beam 2"* ]]
	[[ "$output" != *captrain* && "$output" != *imgshard* && "$output" != *"tokenize build"* ]]
	run -0 pipeline flickr8k.mk FLICKR8K="$D/Flickr8k" OUT="$T/f8k" PRESET=tiny STEPS=3 BATCH=8 BEAM=2
	printf '%s\n' "${lines[@]}" | grep -qx "resuming the training of $T/f8k/model.safetensors"
	[ "$(grep -o '"step":[0-9]*,"epoch":[0-9]*,"loss"' "$T/f8k/train.jsonl" | cut -d, -f1 | tr '\n' ' ')" = \
		'"step":1 "step":2 "step":3 ' ]
	# another BATCH starts the training over
	run -0 pipeline flickr8k.mk FLICKR8K="$D/Flickr8k" OUT="$T/f8k" PRESET=tiny STEPS=2 BATCH=4
	[[ "$output" == *"captrain -c tiny"* ]]
	! printf '%s\n' "${lines[@]}" | grep -q "^resuming"
	[ "$(grep -c '"loss"' "$T/f8k/train.jsonl")" = 2 ]
}

@test "pipelines: flickr30k from the Kaggle zip, split by count" {
	run -0 pipeline flickr30k.mk FLICKR30K="$D/flickr30k.zip" OUT="$T/f30k" VAL_N=5 TEST_N=7 "${tiny[@]}"
	# the images of results.csv in its order: 5 val, 7 test, the other 18 train
	tail -n +2 "$D/flickr30k/flickr30k_images/results.csv" | cut -d'|' -f1 | uniq > "$T/all.txt"
	[ "$(wc -l < "$T/all.txt")" = 30 ]
	sed -n '6,12p' "$T/all.txt" > "$T/test.txt"
	check_run "$T/f30k" "$T/test.txt"
	[ "$(records "$T/f30k/records/val.tsr")" = "$(sed -n '1,5p' "$T/all.txt")" ]
	[ "$(records "$T/f30k/records/train-0000.tsr")" = "$(sed -n '13,$p' "$T/all.txt")" ]
	# the same from the unpacked folder (whose images come in another order than the zip's)
	run -0 pipeline flickr30k.mk FLICKR30K="$D/flickr30k" OUT="$T/f30d" VAL_N=5 TEST_N=7 "${tiny[@]}"
	check_run "$T/f30d" "$T/test.txt"
	[ "$(sort "$T/f30k/refs.tsv")" = "$(sort "$T/f30d/refs.tsv")" ]
	# a zip without results.csv
	(cd "$D/flickr30k/flickr30k_images" && zip -qr "$T/bad.zip" flickr30k_images)
	run -2 pipeline flickr30k.mk FLICKR30K="$T/bad.zip" OUT="$T/bad" "${tiny[@]}"
	[[ "$output" == *"flickr30k.mk: $T/bad.zip: no results.csv in the zip"* ]]
	[ ! -e "$T/bad/results.csv" ]
}

@test "pipelines: coco 2014 without a split file: train2014 to train, val2014 to val and test" {
	run -0 pipeline coco.mk COCO="$D/coco" OUT="$T/coco" VAL_N=4 TEST_N=8 "${tiny[@]}"
	ls "$D/coco/val2014" > "$T/val-all.txt"
	sed -n '5,12p' "$T/val-all.txt" > "$T/test.txt"
	check_run "$T/coco" "$T/test.txt"
	[ "$(records "$T/coco/records/val.tsr")" = "$(sed -n '1,4p' "$T/val-all.txt")" ]
	[ "$(records "$T/coco/records/train-0000.tsr")" = "$(ls "$D/coco/train2014")" ]
	# references from captions_val2014.json, five an image
	[ "$(wc -l < "$T/coco/refs.tsv")" = 40 ]
	run -2 pipeline coco.mk COCO="$T/nothing" OUT="$T/c2" "${tiny[@]}"
	[[ "$output" == *"$T/nothing/annotations/captions_train2014.json"* ]]
}

@test "pipelines: coco with Karpathy's split file, NP=2 under mpirun: one shard per process" {
	use_mpirun
	run -0 pipeline coco.mk COCO="$D/karpathy" KARPATHY="$D/karpathy/dataset_coco.json" OUT="$T/kc" NP=2 "${tiny[@]}"
	[[ "$output" == *"mpirun -np 2 "*"captrain -c tiny"* ]]
	# the splits of the file, read here with Python's json
	"$PY" - "$D/karpathy/dataset_coco.json" "$T" <<-'PY'
		import json, sys
		images = json.load(open(sys.argv[1]))["images"]
		for s, names in (("train", ("train", "restval")), ("val", ("val",)), ("test", ("test",))):
		    with open(f"{sys.argv[2]}/{s}.txt", "w") as f:
		        f.writelines(i["filename"] + "\n" for i in images if i["split"] in names)
	PY
	[ "$(wc -l < "$T/test.txt") $(wc -l < "$T/val.txt") $(wc -l < "$T/train.txt")" = "6 5 29" ]
	check_run "$T/kc" "$T/test.txt"
	[ "$(records "$T/kc/records/val.tsr")" = "$(sort "$T/val.txt")" ]
	# two train shards of 14 and 15 images, one for each process
	[ "$(ls "$T/kc/records" | grep train | tr '\n' ' ')" = "train-0000.tsr train-0001.tsr " ]
	[ "$(tsrinfo -c "$T/kc/records/train-0000.tsr") $(tsrinfo -c "$T/kc/records/train-0001.tsr")" = "14 15" ]
	[ "$(records "$T"/kc/records/train-000[01].tsr)" = "$(sort "$T/train.txt")" ]
	# both processes' pairs count: BATCH 8 on each is 16 a step
	[ "$(grep -c '"loss"' "$T/kc/train.jsonl")" = 2 ]
}

# The captrain under process $1.
captrain_under() {
	local p
	for p in $(pgrep -P "$1"); do
		[ "$(ps -o comm= -p "$p")" = captrain ] && echo "$p"
		captrain_under "$p"
	done
}

@test "pipelines: an interrupted training resumes where it stopped" {
	args=(FLICKR8K="$D/Flickr8k" OUT="$T/f8k" PRESET=tiny STEPS=40 BATCH=8 SAVE_EVERY=1)
	pipeline flickr8k.mk "${args[@]}" > "$T/first.log" 2>&1 &
	pid=$!
	for _ in $(seq 600); do
		[ -f "$T/f8k/model.state.safetensors" ] && break
		sleep 0.05
	done
	[ -f "$T/f8k/model.state.safetensors" ]
	cpid=$(captrain_under "$pid")
	[ -n "$cpid" ]
	kill -TERM "$cpid"
	# captrain ends after the step under way, with a checkpoint; make fails
	status=0
	wait "$pid" || status=$?
	[ "$status" -ne 0 ]
	pid=
	[ ! -e "$T/f8k/model.done" ]
	[ ! -e "$T/f8k/hyps.tsv" ]
	done_steps=$(grep -c '"loss"' "$T/f8k/train.jsonl")
	[ "$done_steps" -ge 1 ]
	[ "$done_steps" -lt 40 ]
	[[ "$(cat "$T/first.log")" == *"model.done] Error 143"* ]]
	run -0 pipeline flickr8k.mk "${args[@]}"
	printf '%s\n' "${lines[@]}" | grep -qx "resuming the training of $T/f8k/model.safetensors"
	[[ "$output" != *"train-%04d.tsr"* && "$output" != *"tokenize build"* ]]
	# steps 1 to 40, each once: the second run went on from the first
	[ "$(grep -o '"step":[0-9]*,"epoch":[0-9]*,"loss"' "$T/f8k/train.jsonl" | cut -d, -f1 | cut -d: -f2 | tr '\n' ' ')" = \
		"$(seq -s ' ' 1 40) " ]
	check_run "$T/f8k" "$D/Flickr8k/Flickr_8k.testImages.txt"
}

@test "pipelines: caption.sh captions a folder and files, named as given" {
	pipeline flickr8k.mk FLICKR8K="$D/Flickr8k" OUT="$T/m" "${tiny[@]}" "$T/m/model.done"
	m="$T/m/model.safetensors"
	img="$D/Flickr8k/Flicker8k_Dataset"
	mkdir -p "$T/photos/sub" "$T/photos/.hidden"
	cp "$img/00000001.jpg" "$img/00000002.jpg" "$T/photos/"
	cp "$img/00000003.jpg" "$T/photos/sub/Third.JPG"
	cp "$img/00000004.jpg" "$T/photos/.hidden/"
	echo notes > "$T/photos/notes.txt"
	run -0 --separate-stderr "$ROOT/pipelines/caption.sh" "$m" "$T/photos" "$img/00000009.jpg"
	[ -z "$stderr" ]
	[ "$(printf '%s\n' "${lines[@]}" | cut -f1)" = "$(printf '%s\n' "$T/photos/00000001.jpg" \
		"$T/photos/00000002.jpg" "$T/photos/sub/Third.JPG" "$img/00000009.jpg")" ]
	# the captions are capdecode's for the same images
	imgshard -s 64 "$T/photos/00000001.jpg" "$T/photos/00000002.jpg" "$T/photos/sub/Third.JPG" \
		"$img/00000009.jpg" | vit-embed -m "$m" | capdecode -m "$m" > "$T/direct.tsv"
	[ "$(printf '%s\n' "${lines[@]}" | cut -f2)" = "$(cut -f2 "$T/direct.tsv")" ]
	# --beam goes to capdecode; a relative path stays relative
	run -0 bash -c "cd '$T' && '$ROOT/pipelines/caption.sh' --beam 3 '$m' photos/sub"
	[ "$output" = "photos/sub/Third.JPG	$(imgshard -s 64 "$T/photos/sub/Third.JPG" | vit-embed -m "$m" |
		capdecode -m "$m" --beam 3 | cut -f2)" ]
	run -0 "$ROOT/pipelines/caption.sh" --help
	[ "$output" = "usage: caption.sh [--beam k] MODEL DIR|FILE ..." ]
	run -2 "$ROOT/pipelines/caption.sh" "$m"
	run -1 "$ROOT/pipelines/caption.sh" "$T/none.safetensors" "$T/photos"
	[ "$output" = "caption.sh: $T/none.safetensors: no such model" ]
	run -1 "$ROOT/pipelines/caption.sh" "$T/photos/notes.txt" "$T/photos"
	[ "$output" = "caption.sh: $T/photos/notes.txt: not a vitcap checkpoint (no image size in its config)" ]
	mkdir "$T/empty"
	run -1 "$ROOT/pipelines/caption.sh" "$m" "$T/empty"
	[ "$output" = "caption.sh: no images (JPEG or PNG) in $T/empty" ]
	run -1 "$ROOT/pipelines/caption.sh" "$m" "$T/missing.jpg"
	[ "$output" = "caption.sh: $T/missing.jpg: no such file or folder" ]
}
