#!/usr/bin/env bats
# bleu(1): outputs compared with what sacrebleu 2.6.0 and coco-caption printed for the
# same files (tests/data/bleu/expect-*), bad input, and 720 random corpora scored
# live by sacrebleu and pycocoevalcap (tests/ref/bleu_corpora.py).
load helper

D="$BATS_TEST_DIRNAME/data/bleu"

@test "bleu: default output equals sacrebleu's text output" {
	run -0 bleu -r "$D/ref1.txt" -r "$D/ref2.txt" "$D/sys.txt"
	expect_output "$D/expect-13a.txt"
}

@test "bleu: --json equals sacrebleu's JSON" {
	run -0 bleu --json -r "$D/ref1.txt" -r "$D/ref2.txt" "$D/sys.txt"
	expect_output "$D/expect-13a.json"
}

@test "bleu: --lowercase --smooth floor -w 4 equals sacrebleu -lc -s floor -w 4" {
	run -0 bleu --lowercase --smooth floor -w 4 -r "$D/ref1.txt" -r "$D/ref2.txt" "$D/sys.txt"
	expect_output "$D/expect-lc-floor-w4.txt"
}

@test "bleu: --tokenize none --smooth add-k --smooth-value 0.5 equals sacrebleu" {
	run -0 bleu --tokenize none --smooth add-k --smooth-value 0.5 \
		-r "$D/ref1.txt" -r "$D/ref2.txt" "$D/sys.txt"
	expect_output "$D/expect-none-addk.txt"
}

@test "bleu: -b prints the score alone; the hypothesis comes from stdin" {
	run -0 bleu -b -r "$D/ref1.txt" < "$D/sys.txt"
	expect_output "$D/expect-b.txt"
	run -0 bleu -b -r "$D/ref1.txt" - < "$D/sys.txt"
	expect_output "$D/expect-b.txt"
}

@test "bleu: --coco equals pycocoevalcap's Bleu and Cider (keyed, 1 or 2 refs per key)" {
	run -0 bleu --coco --tsv -r "$D/refs.tsv" "$D/hyps.tsv"
	expect_output "$D/expect-coco.txt"
}

@test "bleu: --coco --json and -b" {
	run -0 bleu --coco --json --tsv -r "$D/refs.tsv" "$D/hyps.tsv"
	[ "$(printf '%s\n' "$output" | $PY -c 'import json,sys; d=json.load(sys.stdin); print(d["Bleu_4"], d["CIDEr-D"], d["images"])')" = "0.597322 3.758612 5" ]
	run -0 bleu --coco -b --tsv -r "$D/refs.tsv" "$D/hyps.tsv"
	[ "$output" = "0.864558 0.766421 0.675065 0.597322 3.758612" ]
}

@test "bleu: keyed hypotheses may come in any order; nrefs is var when counts differ" {
	sort -r "$D/hyps.tsv" > "$BATS_TEST_TMPDIR/h.tsv"
	run -0 bleu --tsv -r "$D/refs.tsv" "$BATS_TEST_TMPDIR/h.tsv"
	[[ "$output" == "BLEU|nrefs:var|case:mixed|"* ]]
	run -0 bleu --coco --tsv -r "$D/refs.tsv" "$BATS_TEST_TMPDIR/h.tsv"
	expect_output "$D/expect-coco.txt"
}

@test "bleu: keyed files: the same corpus as aligned files gives the same score" {
	awk '{print "k" NR "\t" $0}' "$D/ref1.txt" > "$BATS_TEST_TMPDIR/r1.tsv"
	awk '{print "k" NR "\t" $0}' "$D/ref2.txt" > "$BATS_TEST_TMPDIR/r2.tsv"
	awk '{print "k" NR "\t" $0}' "$D/sys.txt" > "$BATS_TEST_TMPDIR/h.tsv"
	run -0 bleu --tsv -r "$BATS_TEST_TMPDIR/r1.tsv" -r "$BATS_TEST_TMPDIR/r2.tsv" "$BATS_TEST_TMPDIR/h.tsv"
	expect_output "$D/expect-13a.txt"
}

@test "bleu: a missing file is one line and exit 1" {
	run -1 --separate-stderr bleu -r "$D/nope.txt" "$D/sys.txt"
	[ "$stderr" = "bleu: open $D/nope.txt: No such file or directory" ]
	[ -z "$output" ]
}

@test "bleu: line counts that differ: exit 1" {
	head -3 "$D/ref1.txt" > "$BATS_TEST_TMPDIR/short"
	run -1 bleu -r "$BATS_TEST_TMPDIR/short" "$D/sys.txt"
	[ "$output" = "bleu: $BATS_TEST_TMPDIR/short has 3 lines but $D/sys.txt has 5" ]
}

@test "bleu: invalid UTF-8 names the file, line and column: exit 1" {
	printf 'fine\nbad \xff byte\n' > "$BATS_TEST_TMPDIR/bad"
	run -1 bleu -r "$BATS_TEST_TMPDIR/bad" "$BATS_TEST_TMPDIR/bad"
	[ "$output" = "bleu: $BATS_TEST_TMPDIR/bad:2: invalid UTF-8 (byte 0xFF at column 5)" ]
	printf 'a surrogate \xed\xa0\x80\n' > "$BATS_TEST_TMPDIR/sur"
	run -1 bleu -r "$BATS_TEST_TMPDIR/sur" "$BATS_TEST_TMPDIR/sur"
	[ "$output" = "bleu: $BATS_TEST_TMPDIR/sur:1: invalid UTF-8 (byte 0xED at column 13)" ]
}

@test "bleu: an empty hypothesis file is an error" {
	: > "$BATS_TEST_TMPDIR/empty"
	run -1 bleu -r "$BATS_TEST_TMPDIR/empty" "$BATS_TEST_TMPDIR/empty"
	[ "$output" = "bleu: $BATS_TEST_TMPDIR/empty: no hypotheses" ]
}

@test "bleu: keyed errors name the key: no references, no hypothesis, duplicate, no tab" {
	cd "$BATS_TEST_TMPDIR"
	printf 'a\tx y\nb\tz\n' > h.tsv
	printf 'a\tx y\n' > r.tsv
	run -1 bleu --tsv -r r.tsv h.tsv
	[ "$output" = 'bleu: h.tsv:2: key "b" has no references' ]
	printf 'a\tx\nb\ty\nc\tz\n' > r.tsv
	run -1 bleu --tsv -r r.tsv h.tsv
	[ "$output" = 'bleu: r.tsv:3: key "c" has references but no hypothesis' ]
	printf 'a\tx\nb\ty\na\tw\n' > h2.tsv
	run -1 bleu --tsv -r r.tsv h2.tsv
	[ "$output" = 'bleu: h2.tsv:3: duplicate key "a" (first on line 1)' ]
	printf 'a\tx\nno tab here\n' > h3.tsv
	run -1 bleu --tsv -r r.tsv h3.tsv
	[ "$output" = 'bleu: h3.tsv:2: expected key<TAB>caption' ]
}

@test "bleu: usage errors exit 2 with one line saying what is wrong" {
	run -2 bleu "$D/sys.txt"
	[ "$output" = "bleu: no references: give at least one -r ref" ]
	run -2 bleu --smooth wobbly -r "$D/ref1.txt" "$D/sys.txt"
	[ "${lines[0]}" = "bleu: --smooth: unknown value wobbly (exp, floor, add-k or none)" ]
	run -2 bleu -w x -r "$D/ref1.txt" "$D/sys.txt"
	[ "${lines[0]}" = "bleu: --width: not an integer: x" ]
	run -2 bleu -w 99 -r "$D/ref1.txt" "$D/sys.txt"
	[ "${lines[0]}" = "bleu: --width: out of range [0, 17]: 99" ]
	run -2 bleu -r "$D/ref1.txt" "$D/sys.txt" "$D/sys.txt"
	[ "${lines[0]}" = "bleu: one hypothesis file at most, got $D/sys.txt and $D/sys.txt" ]
	run -2 bleu --coco --smooth floor -r "$D/ref1.txt" "$D/sys.txt"
	[ "${lines[0]}" = "bleu: --coco has its own tokenization: no --lowercase, --tokenize or --smooth" ]
}

@test "bleu: a failed write to stdout is exit 1" {
	[ -w /dev/full ] || skip "no /dev/full"
	run -1 bash -c 'bleu -r "$1" "$2" > /dev/full' _ "$D/ref1.txt" "$D/sys.txt"
	[ "$output" = "bleu: write stdout: No space left on device" ]
}

@test "bleu: matches sacrebleu on 240 random line-aligned corpora (12 via its CLI)" {
	run -0 "$PY" "$TESTS/ref/bleu_corpora.py" --bleu "$VITCAP_BIN/bleu" --count 240 aligned
	[ "${lines[-1]}" = "240 corpora, 0 mismatches" ]
}

@test "bleu: matches sacrebleu on 240 random keyed corpora with varying references" {
	run -0 "$PY" "$TESTS/ref/bleu_corpora.py" --bleu "$VITCAP_BIN/bleu" --count 240 tsv
	[ "${lines[-1]}" = "240 corpora, 0 mismatches" ]
}

@test "bleu: --coco matches pycocoevalcap Bleu and Cider on 240 random corpora" {
	run -0 "$PY" "$TESTS/ref/bleu_corpora.py" --bleu "$VITCAP_BIN/bleu" --count 240 coco
	[ "${lines[-1]}" = "240 corpora, 0 mismatches" ]
}
