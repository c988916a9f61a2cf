#!/usr/bin/env bats
# make demo (pipelines/demo.mk) on a miniature: every stage runs, writes what the
# README says, scores as sacrebleu does, redoes nothing on a rerun and resumes an
# interrupted training. The full-size demo's BLEU and time are checked by hand
# (README, "Quick start"), not here: a test must not take ten minutes.
load helper

# make demo at a miniature size, in this file's directory; arguments override.
mini_demo() {
	make --no-print-directory -C "$TESTS/.." DEMO="$D" BIN="$VITCAP_BIN" DEMO_TRAIN=48 \
		DEMO_TEST=6 DEMO_STEPS=4 DEMO_BATCH=8 DEMO_BEAM=2 "$@" demo
}

setup() {
	D="$BATS_FILE_TMPDIR/demo"
	export OMP_WAIT_POLICY=passive
}

setup_file() {
	setup
	mini_demo > "$BATS_FILE_TMPDIR/out" 2>&1
}

@test "demo: prints the scores, the baseline, some captions and where the outputs are" {
	out="$BATS_FILE_TMPDIR/out"
	grep -q '^model, sacreBLEU against the normalised references:$' "$out"
	grep -q '^BLEU|nrefs:5|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0 = ' "$out"
	grep -q '^Bleu_4: ' "$out"
	grep -q '^CIDEr-D: ' "$out"
	grep -q '^baseline (the most frequent training caption for every image):$' "$out"
	grep -q '^some held-out images: key, predicted caption, then the references$' "$out"
	grep -q "^outputs: $D/hyps.tsv" "$out"
	# five images, each with five indented references
	[ "$(grep -c '^00000[0-9]*\.jpg	' "$out")" -eq 5 ]
	[ "$(grep -c '^		' "$out")" -eq 25 ]
}

@test "demo: one caption per held-out image, keyed by its file, and the references that came with it" {
	run -0 cut -f1 "$D/hyps.tsv"
	[ "$output" = "$(ls "$D/test/images")" ]
	[ "$(wc -l < "$D/refs.tsv")" -eq 30 ]
	[ "$(cut -f1 "$D/refs.tsv" | sort -u)" = "$(ls "$D/test/images")" ]
	[ "$(wc -l < "$D/baseline.tsv")" -eq 6 ]
	[ "$(cut -f2 "$D/baseline.tsv" | sort -u | wc -l)" -eq 1 ]
}

@test "demo: the sacreBLEU lines are sacrebleu's own for the model and the baseline" {
	for hyps in hyps baseline; do
		run -0 "$PY" -c '
import collections, sys, sacrebleu
refs = collections.defaultdict(list)
for line in open(sys.argv[1], encoding="utf-8"):
    k, c = line.rstrip("\n").split("\t", 1)
    refs[k].append(c)
keys, hyps = zip(*(l.rstrip("\n").split("\t", 1) for l in open(sys.argv[2], encoding="utf-8")))
streams = [[refs[k][i] for k in keys] for i in range(5)]
b = sacrebleu.metrics.BLEU()
print(b.corpus_score(list(hyps), streams).format(width=1, signature=str(b.get_signature())))
' "$D/refs-norm.tsv" "$D/$hyps.tsv"
		grep -qxF "$output" "$D/scores.txt"
	done
}

@test "demo: the loss curve is a PNG, and the page shows every held-out image with its captions" {
	run -0 "$PY" -c 'from PIL import Image; import sys; im = Image.open(sys.argv[1]); print(im.format, im.size)' "$D/loss.png"
	[ "$output" = "PNG (800, 480)" ]
	[ "$(grep -c '^<tr><td>' "$D/index.html")" -eq 6 ]
	grep -o 'src="test/images/[^"]*"' "$D/index.html" | sed 's/^src="//; s/"$//' | while read -r f; do
		[ -s "$D/$f" ] || { echo "missing $f"; return 1; }
	done
	first=$(head -1 "$D/hyps.tsv" | cut -f2)
	grep -qF "<td class=p>$first<td>" "$D/index.html"
}

@test "demo: a rerun redoes nothing; a deleted output is remade with what depends on it" {
	before=$(stat -c %Y "$D/model.safetensors" "$D/train.tsr" "$D/test.tsr" "$D/loss.png")
	run -0 mini_demo
	[[ "$output" != *"captrain"* && "$output" != *"imgshard"* && "$output" != *"capdecode"* ]]
	rm "$D/hyps.tsv"
	run -0 mini_demo
	[[ "$output" == *"capdecode"* && "$output" == *"bleu"* ]]
	[[ "$output" != *"captrain"* && "$output" != *"imgshard"* && "$output" != *"gnuplot"* ]]
	[ "$(wc -l < "$D/hyps.tsv")" -eq 6 ]
	[ "$(stat -c %Y "$D/model.safetensors" "$D/train.tsr" "$D/test.tsr" "$D/loss.png")" = "$before" ]
}

@test "demo: an interrupted training resumes from its last checkpoint" {
	# A run that stopped after its checkpoint: the model is there, its stamp is not.
	# A rerun with more steps must keep the first run's log lines (their times
	# too) and add the new steps: a fresh run would rewrite the log.
	rm "$D/model.done"
	first=$(cat "$D/train.jsonl")
	run -0 mini_demo DEMO_STEPS=7
	[ "$(head -4 "$D/train.jsonl")" = "$first" ]
	run -0 "$PY" -c 'import json, sys; print(" ".join(str(json.loads(l)["step"]) for l in open(sys.argv[1])))' "$D/train.jsonl"
	[ "$output" = "1 2 3 4 5 6 7" ]
}
