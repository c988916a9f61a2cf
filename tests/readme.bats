#!/usr/bin/env bats
# The README's code runs as shown.
load helper
load datasets

@test "README: the Python stream reader lists a stream as tsrinfo does (numpy dtypes)" {
	awk '/^```python$/{on=1; next} /^```$/{on=0} on' "$TESTS/../README.md" > "$BATS_TEST_TMPDIR/reader.py"
	[ -s "$BATS_TEST_TMPDIR/reader.py" ]
	cat "$TESTS"/data/man/tsrinfo/shards/train-0000.tsr "$TESTS"/data/man/tsrinfo/shards/train-0000.tsr > "$BATS_TEST_TMPDIR/all.tsr"
	run -0 "$PY" "$BATS_TEST_TMPDIR/reader.py" < "$BATS_TEST_TMPDIR/all.tsr"
	n=$(tsrinfo -c "$BATS_TEST_TMPDIR/all.tsr")
	[ "${#lines[@]}" -eq "$n" ]
	keys=$(record_keys "$BATS_TEST_TMPDIR/all.tsr")
	[ "$(printf '%s\n' "${lines[@]}" | cut -d' ' -f2)" = "$keys" ]
}

@test "README: the quick start is the two commands make deps demo and make test" {
	run -0 awk '/^## Quick start/{on=1} on && /^```sh$/{getline; print; getline; print; exit}' "$TESTS/../README.md"
	[[ "${lines[0]}" == "make deps demo "* ]]
	[[ "${lines[1]}" == "make test "* ]]
}

# The commands of the sections from "From a download to a BLEU score" to "Manual
# pages" but "GPUs" (tests/gpu/readme.bats), run as shown on capsynth miniatures of the data sets, with the data
# paths, the hosts and the install prefix pointed here and a tiny model trained
# for two steps: the real data sets and a cluster are not at hand.
@test "README: the data set, mpirun, caption.sh and manual commands run" {
	use_mpirun
	export LC_ALL=C OMP_WAIT_POLICY=passive MANPAGER=cat
	ROOT=$(cd "$TESTS/.." && pwd)
	D="$BATS_TEST_TMPDIR/data" T="$BATS_TEST_TMPDIR/work"
	mkdir -p "$D/photos" "$T"
	flickr8k_like "$D/Flickr8k" 24 14 4 1
	flickr30k_like "$D/flickr30k.zip" 24 2
	capsynth -n 24 --size 32 -s 3 -f karpathy --val 4 --test 5 -o "$D/coco"
	capsynth -n 16 --size 32 -s 4 -f coco -o "$D/shared/coco"
	capsynth -n 12 --size 32 -s 5 -f coco --split val -o "$D/shared/coco"
	cp "$D/Flickr8k/Flicker8k_Dataset/0000000"[1-3].jpg "$D/photos/"
	readme_sh "From a download" "Training on several" "Captioning your photos" "Manual pages" > "$T/commands"
	[ "$(grep -c '^make -f pipelines/' "$T/commands")" = 4 ]
	mapfile -t commands < "$T/commands"
	for cmd in "${commands[@]}"; do
		cmd=$(printf '%s\n' "$cmd" | sed -e "s|~/data/Flickr8k|$D/Flickr8k|; s|~/data/flickr30k.zip|$D/flickr30k.zip|" \
			-e "s|~/data/coco|$D/coco|g; s|/shared/|$D/shared/|g" \
			-e "s|NP=16 MPIFLAGS='-H host1:8,host2:8'|NP=2 MPIFLAGS='-H localhost:2'|" \
			-e "s|~/Pictures/holiday|$D/photos|; s|PREFIX=/usr/local|PREFIX=$T/usr/local|" \
			-e "s|^make install|make -C $ROOT -o all install|" \
			-e "s|^make -f pipelines/\(.*\)|make -f $ROOT/pipelines/\1 PRESET=tiny STEPS=2 BATCH=4 VAL_N=4 TEST_N=5|" \
			-e "s|^pipelines/|$ROOT/pipelines/|; s| man/man1/| $ROOT/man/man1/|")
		run_in "$T" "$cmd"
		[ "$status" = 0 ]
		printf '%s\n' "$output" > "$T/last.out"
		case $cmd in
		cat*) grep -qE '^BLEU\|nrefs:5\|' "$T/last.out" || return 1; grep -q '^CIDEr-D: ' "$T/last.out" ;;
		man*) grep -q '^IMGSHARD(1)' "$T/last.out" ;;
		esac
	done
	for o in "$T"/runs/f8k "$T"/runs/f30k "$T"/runs/coco "$D"/shared/runs/coco; do
		[ -s "$o/scores.txt" ]
		[ -s "$o/hyps.tsv" ]
	done
	# four processes: four shards; the run on two "hosts", two
	[ "$(ls "$T/runs/f8k/records" | grep -c '^train-')" = 4 ]
	[ "$(ls "$D/shared/runs/coco/records" | grep -c '^train-')" = 2 ]
	[ "$(cut -f1 "$T/captions.tsv")" = "$(printf '%s\n' "$D/photos/0000000"[1-3].jpg)" ]
	[ -x "$T/usr/local/bin/imgshard" ] && [ -f "$T/usr/local/share/man/man1/imgshard.1" ]
}

# The pipeline under "The programs", on a miniature of the Kaggle Flickr30k zip at
# the tiny preset's image size, training two steps on two processes.
@test "README: the pipeline of the programs runs" {
	use_mpirun
	export OMP_WAIT_POLICY=passive
	T="$BATS_TEST_TMPDIR"
	flickr30k_like "$T/flickr30k.zip" 24 6
	cp "$T/flickr30k/flickr30k_images/results.csv" "$T/"
	mkdir "$T/photos"
	cp "$T/flickr30k/flickr30k_images/flickr30k_images/0000000"[1-4].jpg "$T/photos/"
	readme_sh "The programs" > "$T/commands"
	[ "$(wc -l < "$T/commands")" = 5 ]
	mapfile -t commands < "$T/commands"
	for cmd in "${commands[@]}"; do
		cmd=$(printf '%s\n' "$cmd" | sed -e "s|--shard-size 2000|--shard-size 12 --size 64|" \
			-e "s|mpirun -np 8|mpirun -np 2|; s|--config small|--config tiny --steps 2 --batch 4|" \
			-e "s|--max-len 32|--max-len 24|" \
			-e "s|photos/ |photos/ --size 64 |")
		run_in "$T" "$cmd"
		[ "$status" = 0 ]
	done
	[ "$(ls "$T"/shards/train-*.tsr | wc -l)" = 2 ]
	[ "$(cut -f1 "$T/captions.tsv")" = "$(printf '0000000%s.jpg\n' 1 2 3 4)" ]
}

# The three bleu commands under "Scoring captions with bleu", on the corpus of
# tests/data/bleu; their numbers are checked against sacrebleu in bleu.bats.
@test "README: the bleu commands run" {
	T="$BATS_TEST_TMPDIR"
	printf '%s\n' 'a dog runs on the grass' 'two cats sleep' > "$T/system.txt"
	printf '%s\n' 'a dog is running on grass' 'two cats are sleeping' > "$T/refs.1"
	printf '%s\n' 'the dog runs across the grass' 'a pair of cats sleep' > "$T/refs.2"
	paste <(printf '%s\n' k1 k2) "$T/system.txt" > "$T/hyps.tsv"
	paste <(printf '%s\n' k1 k2 k1 k2) <(cat "$T/refs.1" "$T/refs.2") > "$T/refs.tsv"
	readme_sh "Scoring captions" | sed 's/ *#.*//' > "$T/commands"
	[ "$(wc -l < "$T/commands")" = 3 ]
	mapfile -t cmds < "$T/commands"
	run -0 bash -c "cd '$T' && ${cmds[0]}"
	[[ "$output" == "BLEU|nrefs:2|"* ]]
	run -0 bash -c "cd '$T' && ${cmds[1]}"
	[ "$output" = "$(cd "$T" && bleu -r refs.1 -r refs.2 system.txt)" ]
	run -0 bash -c "cd '$T' && ${cmds[2]}"
	[[ "${lines[3]}" == "Bleu_4: "* && "${lines[4]}" == "CIDEr-D: "* ]]
}
