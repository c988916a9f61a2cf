#!/usr/bin/env bats
# tokenize(1): vocabulary files, normalisation, BPE learning (a hand-checked corpus
# and a plain reference implementation), agreement with the tokenizers library,
# round trips, record streams (from imgshard and from Python), bad input.
load helper

D="$BATS_TEST_DIRNAME/data/tokenize"
M="$BATS_TEST_DIRNAME/data/man/tokenize"
R="$BATS_TEST_DIRNAME/ref"

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
}

# Runs a command with its standard output thrown away (or sent to a full disk),
# for `run` to see only the messages.
quiet() {
	"$@" > /dev/null
}

to_full() {
	"$@" > /dev/full
}

# ---- ids and the vocabulary file -------------------------------------------------

@test "tokenize: the special tokens have ids 0 to 3 in both kinds of vocabulary" {
	printf 'a cat\n' > c.txt
	for opt in "" "--bpe 5"; do
		run -0 tokenize build $opt c.txt
		[ "${lines[1]}" = "<pad>	0" ]
		[ "${lines[2]}" = "<bos>	1" ]
		[ "${lines[3]}" = "<eos>	1" ]
		[[ "${lines[4]}" == "<unk>	"* ]]
		tokenize build $opt -o v.txt c.txt
		run -0 tokenize encode -v v.txt <<< ""
		[ "$output" = "1 2" ]
		run -0 tokenize decode -v v.txt <<< "1 3 0 2 3"
		[ "$output" = "<unk>" ]
	done
	run -0 tokenize build c.txt
	[ "${lines[0]}" = "#vitcap-vocab word 1" ]
	run -0 tokenize build --bpe 5 c.txt
	[ "${lines[0]}" = "#vitcap-vocab bpe 1" ]
	[ "${lines[5]}" = "$(printf '\304\200\t0')" ]      # byte 0 is U+0100
	[ "${lines[37]}" = "$(printf '\304\240\t1')" ]     # the space is U+0120
	[ "${lines[102]}" = "a	2" ]
	[ "${#lines[@]}" -eq 264 ]   # 3 merges: "Ġ c", "Ġc a", "Ġca t"
}

@test "tokenize: word-level vocabulary: most frequent first, ties in byte order, counts" {
	run -0 tokenize build "$D/words.txt"
	expect_output "$D/words-vocab.txt"
	run -0 tokenize build - < "$D/words.txt"
	expect_output "$D/words-vocab.txt"
	run -0 tokenize build "$D/words.txt" -o v.txt
	[ "$output" = "" ]
	cmp v.txt "$D/words-vocab.txt"
}

@test "tokenize: --min-count leaves rare words to <unk>, which counts them" {
	run -0 tokenize build --min-count 2 "$D/words.txt"
	[ "${#lines[@]}" -eq 10 ]
	[ "${lines[4]}" = "<unk>	6" ]
	[ "${lines[9]}" = "cat	2" ]
	tokenize build --min-count 2 -o v.txt "$D/words.txt"
	run -0 tokenize encode -v v.txt <<< "The zebra and the dog's cat"
	[ "$output" = "1 6 3 3 6 3 8 2" ]
	run -0 tokenize decode -v v.txt <<< "$output"
	[ "$output" = "the <unk> <unk> the <unk> cat" ]
}

@test "tokenize: --max-size counts the special tokens" {
	run -0 tokenize build --max-size 6 "$D/words.txt"
	[ "${#lines[@]}" -eq 7 ]
	[ "${lines[4]}" = "<unk>	13" ]
	[ "${lines[6]}" = "dog	3" ]
	run -0 tokenize build --max-size 4 --min-count 3 "$D/words.txt"
	[ "${#lines[@]}" -eq 5 ]
	[ "${lines[4]}" = "<unk>	21" ]
	run -0 tokenize build --max-size 100 --min-count 3 "$D/words.txt"
	[ "${#lines[@]}" -eq 8 ]
}

# ---- word-level normalisation -------------------------------------------------------

@test "tokenize: word-level normalisation: case, punctuation, apostrophes and hyphens" {
	tokenize build -o v.txt "$D/normalise.txt"
	run -0 bash -c 'tokenize encode --max-len 100 -v v.txt "$1" | tokenize decode -v v.txt' \
		_ "$D/normalise.txt"
	expect_output "$D/normalise-expect.txt"
}

@test "tokenize: word-level round trip equals the normalisation in plain Python" {
	for kind in ascii unicode; do
		"$PY" "$R/tokenize_corpus.py" $kind 3000 11 > c.txt
		tokenize build -o v.txt c.txt
		tokenize encode --max-len 1000 -v v.txt c.txt > ids.txt
		tokenize decode -v v.txt ids.txt > got.txt
		"$PY" "$R/tokenize_norm.py" < c.txt > want.txt
		cmp got.txt want.txt
	done
}

@test "tokenize: word-level ids equal tokenizers' WordLevel model with the same rules (ASCII)" {
	"$PY" "$R/tokenize_corpus.py" ascii 3000 12 > c.txt
	head -n 1500 c.txt > train.txt
	tokenize build --min-count 2 -o v.txt train.txt
	tokenize encode --max-len 12 -v v.txt c.txt > ours.txt
	"$PY" "$R/tokenize_hf.py" encode v.txt c.txt 12 > theirs.txt
	cmp ours.txt theirs.txt
	grep -q ' 3 ' ours.txt          # some words are unknown
}

# ---- BPE ---------------------------------------------------------------------------

# Sennrich et al.'s example, one word a line: low x5, lower x2, newest x6, widest x3.
# By hand: pairs e-s and s-t are seen 9 times; the tie goes to the smaller left id
# (e = 4 + 101 < s = 4 + 115): "e s", then "es t" (9). Then l-o and o-w (7): "l o",
# "lo w". Then n-e, e-w and w-est (6): e has the smallest id: "e w", then n-ew (left
# 114) before ew-est (left 264): "n ew", "new est". Then d-est, i-d, w-i (3): "d est",
# "i dest", "w idest". Last low-e and e-r (2): "e r", "low er". Nothing is left.
@test "tokenize: BPE merges on a hand-checked corpus" {
	run -0 tokenize build --bpe 100 "$D/sennrich.txt"
	[ "${#lines[@]}" -eq $((261 + 12)) ]
	[ "${lines[2]}" = "<bos>	16" ]
	[ "${lines[106]}" = "e	17" ]
	[ "${lines[124]}" = "w	16" ]
	printf '%s\n' "${lines[@]:261}" > merges.txt
	cmp merges.txt "$D/sennrich-merges.txt"
	run -0 tokenize build --bpe 3 "$D/sennrich.txt"
	[ "${#lines[@]}" -eq $((261 + 3)) ]
	[ "${lines[263]}" = "l o	7" ]
	run -0 tokenize build --bpe 100 --min-count 3 "$D/sennrich.txt"
	[ "${#lines[@]}" -eq $((261 + 10)) ]
	run -0 tokenize build --bpe 0 "$D/sennrich.txt"
	[ "${#lines[@]}" -eq 261 ]
}

# lowest: e-s (rank 0), es-t (1), l-o (2), lo-w (3) give low est = 263 261; newer: e-w
# (4), n-ew (5), e-r (10) give new er = 265 270; wider: only e-r, so w i d er; " low"
# is the space (4 + 32) and low.
@test "tokenize: BPE encoding applies merges by rank within each pre-token" {
	tokenize build --bpe 100 -o v.txt "$D/sennrich.txt"
	run -0 tokenize encode -v v.txt <<< $'lowest\nnewer\nwider\nlow low'
	[ "${lines[0]}" = "1 263 261 2" ]
	[ "${lines[1]}" = "1 265 270 2" ]
	[ "${lines[2]}" = "1 123 109 104 270 2" ]
	[ "${lines[3]}" = "1 263 36 263 2" ]
}

@test "tokenize: BPE learning equals a plain reference implementation of the same rule" {
	for kind in ascii unicode; do
		for mc in 1 3; do
			"$PY" "$R/tokenize_corpus.py" $kind 1000 $((20 + mc)) > c.txt
			"$PY" "$R/tokenize_bpe_learn.py" 400 $mc < c.txt > want.txt
			tokenize build --bpe 400 --min-count $mc c.txt > got.txt
			cmp got.txt want.txt
		done
	done
	# to exhaustion: every pre-token one token
	"$PY" "$R/tokenize_corpus.py" unicode 200 5 > c.txt
	"$PY" "$R/tokenize_bpe_learn.py" 100000 1 < c.txt > want.txt
	tokenize build --bpe 100000 c.txt > got.txt
	cmp got.txt want.txt
}

@test "tokenize: BPE ids equal tokenizers' BPE model with the same merges (ASCII)" {
	"$PY" "$R/tokenize_corpus.py" ascii 4000 13 > c.txt
	head -n 2000 c.txt > train.txt
	tokenize build --bpe 500 -o v.txt train.txt
	tokenize encode --max-len 1000 -v v.txt c.txt > ours.txt
	"$PY" "$R/tokenize_hf.py" encode v.txt c.txt 1000 > theirs.txt
	cmp ours.txt theirs.txt
	tokenize encode --max-len 10 -v v.txt c.txt > ours.txt
	"$PY" "$R/tokenize_hf.py" encode v.txt c.txt 10 > theirs.txt
	cmp ours.txt theirs.txt
}

@test "tokenize: BPE ids equal tokenizers' on Unicode text too" {
	"$PY" "$R/tokenize_corpus.py" unicode 3000 14 > c.txt
	tokenize build --bpe 600 -o v.txt c.txt
	tokenize encode --max-len 1000 -v v.txt c.txt > ours.txt
	"$PY" "$R/tokenize_hf.py" encode v.txt c.txt 1000 > theirs.txt
	cmp ours.txt theirs.txt
}

@test "tokenize: BPE round trip gives back every byte of any UTF-8" {
	"$PY" "$R/tokenize_corpus.py" unicode 2000 15 > c.txt
	printf 'tab\there\r\n\x01\x7f nul\0byte  \n\n   \n' >> c.txt
	tokenize build --bpe 300 -o v.txt c.txt
	tokenize encode --max-len 100000 -v v.txt c.txt > ids.txt
	tokenize decode -v v.txt ids.txt > back.txt
	cmp back.txt c.txt
	"$PY" "$R/tokenize_hf.py" decode v.txt ids.txt > theirs.txt
	head -n 2000 theirs.txt | cmp - <(head -n 2000 c.txt)
}

@test "tokenize: BPE decode of bytes that are not UTF-8 writes U+FFFD as Python does" {
	tokenize build --bpe 0 -o v.txt /dev/null
	# ids are 4 + byte: E2 82 'x' | FF | F0 90 80 | ED A0 80 | C3
	run -0 tokenize decode -v v.txt <<< "230 134 124 259 244 148 132 241 164 132 199"
	want=$("$PY" -c 'import sys; sys.stdout.write(bytes([0xE2,0x82,0x78,0xFF,0xF0,0x90,0x80,0xED,0xA0,0x80,0xC3]).decode("utf-8", "replace"))')
	[ "$output" = "$want" ]
}

# ---- --max-len and text output ----------------------------------------------------------

@test "tokenize: --max-len n: <bos>, at most n - 1 tokens, <eos>, then pads" {
	tokenize build -o v.txt "$M/captions.txt"
	run -0 tokenize encode -v v.txt --max-len 4 <<< "a dog runs on the grass"
	[ "$output" = "1 4 11 16 2" ]
	run -0 tokenize encode -v v.txt --max-len 6 <<< "a dog runs on the grass"
	[ "$output" = "1 4 11 16 8 5 2" ]
	run -0 tokenize encode -v v.txt --max-len 7 <<< "a dog runs on the grass"
	[ "$output" = "1 4 11 16 8 5 7 2" ]
	run -0 tokenize encode -v v.txt --max-len 1 <<< "a dog"
	[ "$output" = "1 2" ]
	run -0 tokenize encode -v v.txt <<< "$(printf 'a %.0s' {1..40})"
	[ "$(wc -w <<< "$output")" -eq 25 ]
	[[ "$output" == "1 4 "*" 4 2" ]]
}

@test "tokenize: text lines: a last line without a newline counts; CR is white space" {
	tokenize build -o v.txt "$M/captions.txt"
	run -0 tokenize encode -v v.txt < <(printf 'a dog\r\nthe cat')
	[ "${#lines[@]}" -eq 2 ]
	[ "${lines[0]}" = "1 4 11 2" ]
	[ "${lines[1]}" = "1 5 10 2" ]
	run -0 tokenize encode -v v.txt < /dev/null
	[ "$output" = "" ]
	run -0 tokenize decode -v v.txt < <(printf '1\t4  11 2 \n\n5')
	[ "$output" = $'a dog\n\nthe' ]
}

# ---- records ------------------------------------------------------------------------

@test "tokenize: encode adds tokens I32[captions, n + 1] to records and keeps the rest" {
	tokenize build -o v.txt "$M/shard.tsr"
	tokenize encode -v v.txt --max-len 8 "$M/shard.tsr" > out.tsr
	"$PY" "$R/tokenize_records.py" tokens "$M/shard.tsr" out.tsr > rows.txt
	"$PY" "$R/tokenize_records.py" captions "$M/shard.tsr" > caps.txt
	tokenize encode -v v.txt --max-len 8 caps.txt |
		awk '{ for (i = NF + 1; i <= 9; i++) $i = 0; print }' > want.txt
	cmp rows.txt want.txt
	# a second encode replaces tokens in place
	tokenize encode -v v.txt --max-len 3 out.tsr > again.tsr
	run -0 tsrinfo again.tsr
	[ "${lines[0]}" = "0	key=dog.jpg	image U8[2,2,3]	tokens I32[2,4]	captions=[\"A dog runs on the grass.\", \"The dog's ball is red.\"]" ]
	"$PY" "$R/tokenize_records.py" tokens out.tsr again.tsr > /dev/null
}

@test "tokenize: decode of records writes key<TAB>caption per row" {
	tokenize encode -v "$M/vocab.txt" "$M/shard.tsr" > out.tsr
	run -0 tokenize decode -v "$M/vocab.txt" out.tsr
	[ "${#lines[@]}" -eq 3 ]
	[ "${lines[0]}" = "dog.jpg	a dog runs on the grass" ]
	[ "${lines[1]}" = "dog.jpg	the dog's ball is red" ]
	[ "${lines[2]}" = "cat.jpg	a cat sits on the grass" ]
	# I64 and a single row are accepted too
	"$PY" -c '
import sys
import numpy as np
from safetensors.numpy import save
sys.stdout.buffer.write(save({"tokens": np.array([1, 4, 11, 2, 0], np.int64)}))' > i64.tsr
	run -0 tokenize decode -v "$M/vocab.txt" i64.tsr
	[ "$output" = "	a dog" ]
}

@test "tokenize: encode of a stream made by imgshard" {
	command -v imgshard || skip "imgshard not built"
	mkdir im
	"$PY" -c '
from PIL import Image
for n in ["a.jpg", "b.jpg", "c.jpg"]:
    Image.new("RGB", (20, 16), (200, 10, 10)).save("im/" + n)'
	printf 'a.jpg#0\tA red square, seen from above.\na.jpg#1\tThe red square'"'"'s edge!\nb.jpg#0\tTwo  dogs\n' > caps.txt
	imgshard -s 8 -c caps.txt im/a.jpg im/b.jpg > two.tsr 2> /dev/null
	imgshard -s 8 -c caps.txt im/c.jpg > none.tsr 2> /dev/null
	tokenize build -o v.txt two.tsr
	run -0 head -n 5 v.txt
	[ "${lines[2]}" = "<bos>	3" ]
	tokenize encode -v v.txt two.tsr > out.tsr
	"$PY" "$R/tokenize_records.py" tokens two.tsr out.tsr > /dev/null
	run -0 tokenize decode -v v.txt out.tsr
	[ "${lines[0]}" = "a.jpg	a red square seen from above" ]
	[ "${lines[1]}" = "a.jpg	the red square's edge" ]
	[ "${lines[2]}" = "b.jpg	two dogs" ]
	# an image without captions: an error, or passed through with --allow-missing
	cat two.tsr none.tsr > all.tsr
	run -1 quiet tokenize encode -v v.txt all.tsr
	one_line_error tokenize
	[ "$output" = "tokenize: all.tsr:record 2: no captions field" ]
	tokenize encode --allow-missing -v v.txt all.tsr > out.tsr
	"$PY" "$R/tokenize_records.py" tokens all.tsr out.tsr > /dev/null
	run -0 tsrinfo out.tsr
	[ "${lines[2]}" = "2	key=c.jpg	image U8[8,8,3]" ]
	run -0 tokenize build --allow-missing all.tsr
	[ "${lines[2]}" = "<bos>	3" ]
}

@test "tokenize: records without captions or tokens" {
	"$PY" -c '
import sys
import numpy as np
from safetensors.numpy import save
sys.stdout.buffer.write(save({"image": np.zeros((1, 1, 3), np.uint8)}, {"__key__": "x.jpg"}))' > bare.tsr
	cat "$M/shard.tsr" bare.tsr > mixed.tsr
	run -1 tokenize build mixed.tsr
	one_line_error tokenize
	[ "$output" = "tokenize: mixed.tsr:record 2: no captions field" ]
	run -1 quiet tokenize encode -v "$M/vocab.txt" < mixed.tsr
	[ "$output" = "tokenize: stdin:record 2: no captions field" ]
	run -1 tokenize decode -v "$M/vocab.txt" mixed.tsr
	[ "$output" = "tokenize: mixed.tsr:record 0: no tokens tensor" ]
	tokenize encode --allow-missing -v "$M/vocab.txt" mixed.tsr > out.tsr
	run -0 tokenize decode --allow-missing -v "$M/vocab.txt" out.tsr
	[ "${#lines[@]}" -eq 3 ]
}

@test "tokenize: the EXAMPLES fixtures are what the scripts and build write" {
	"$PY" "$R/tokenize_fixture.py" | cmp - "$M/shard.tsr"
	tokenize build "$M/captions.txt" | cmp - "$M/vocab.txt"
	tokenize build --bpe 40 "$M/captions.txt" | cmp - "$M/bpe.txt"
}

# ---- bad input -----------------------------------------------------------------------

@test "tokenize: a file that is not a vocabulary, or a malformed one, is one line and exit 1" {
	printf 'hello\n' > bad.txt
	run -1 tokenize encode -v bad.txt /dev/null
	one_line_error tokenize
	[ "$output" = 'tokenize: bad.txt:1: not a vocabulary file (the first line is not "#vitcap-vocab word 1" or "#vitcap-vocab bpe 1")' ]
	printf '#vitcap-vocab word 2\n' > bad.txt
	run -1 tokenize decode -v bad.txt /dev/null
	[ "$output" = 'tokenize: bad.txt:1: unsupported vocabulary format "#vitcap-vocab word 2" (this program reads "#vitcap-vocab word 1" and "#vitcap-vocab bpe 1")' ]
	while IFS='|' read -r file want; do
		run -1 tokenize encode -v "$D/$file" /dev/null
		one_line_error tokenize
		[ "$output" = "tokenize: $D/$file:$want" ] || { echo "$file: $output"; return 1; }
	done < "$D/bad-vocabs.txt"
	run -1 tokenize encode -v missing.txt /dev/null
	[ "$output" = "tokenize: open missing.txt: No such file or directory" ]
}

@test "tokenize: ids out of range or not numbers are one line and exit 1" {
	run -1 tokenize decode -v "$M/vocab.txt" <<< $'1 4 2\n1 20 2'
	one_line_error tokenize
	[ "$output" = "tokenize: stdin:2: id 20 out of range (the vocabulary has 20 tokens)" ]
	run -1 tokenize decode -v "$M/vocab.txt" <<< "1 -1 2"
	[ "$output" = "tokenize: stdin:1: id -1 out of range (the vocabulary has 20 tokens)" ]
	run -1 tokenize decode -v "$M/vocab.txt" <<< "1 99999999999999999999 2"
	[ "$output" = "tokenize: stdin:1: id 99999999999999999999 out of range (the vocabulary has 20 tokens)" ]
	run -1 tokenize decode -v "$M/vocab.txt" <<< "1 4x 2"
	[ "$output" = 'tokenize: stdin:1: not a token id: "4x"' ]
	run -1 tokenize decode -v "$M/vocab.txt" <<< "a dog"
	[ "$output" = 'tokenize: stdin:1: not a token id: "a"' ]
	"$PY" -c '
import sys
import numpy as np
from safetensors.numpy import save
sys.stdout.buffer.write(save({"tokens": np.array([[1, 4, 2], [1, 25, 2]], np.int32)}, {"__key__": "k"}))' > big.tsr
	run -1 tokenize decode -v "$M/vocab.txt" big.tsr
	one_line_error tokenize
	[ "$output" = "tokenize: big.tsr:record 0: tokens[1][1]: id 25 out of range (the vocabulary has 20 tokens)" ]
	"$PY" -c '
import sys
import numpy as np
from safetensors.numpy import save
sys.stdout.buffer.write(save({"tokens": np.array([[1.0]], np.float32)}))' > f32.tsr
	run -1 tokenize decode -v "$M/vocab.txt" f32.tsr
	[ "$output" = "tokenize: f32.tsr:record 0: tokens is F32 with 2 dimensions, not I32 or I64 [n, L] or [L]" ]
}

@test "tokenize: invalid UTF-8 and bad captions are one line naming the line or record" {
	printf 'a dog\nthe \xff cat\n' > bad.txt
	run -1 tokenize build bad.txt
	one_line_error tokenize
	[ "$output" = "tokenize: bad.txt:2: invalid UTF-8 (byte 0xFF at column 5)" ]
	run -1 tokenize encode -v "$M/vocab.txt" bad.txt
	[ "$output" = "tokenize: bad.txt:2: invalid UTF-8 (byte 0xFF at column 5)" ]
	run -1 tokenize build --bpe 10 < bad.txt
	[ "$output" = "tokenize: stdin:2: invalid UTF-8 (byte 0xFF at column 5)" ]
	for caps in '"a dog"' '["a", 3]' '{"a": "b"}' '[' '["\ud800"]'; do
		"$PY" -c '
import sys
import numpy as np
from safetensors.numpy import save
sys.stdout.buffer.write(save({"x": np.zeros(1, np.uint8)}, {"captions": sys.argv[1]}))' "$caps" > c.tsr
		run -1 tokenize encode -v "$M/vocab.txt" c.tsr
		one_line_error tokenize
		[[ "$output" == "tokenize: c.tsr:record 0: captions"* ]] || { echo "$caps: $output"; return 1; }
	done
	run -1 tokenize build "$M/captions.txt" <(head -c 20 "$M/shard.tsr")
	one_line_error tokenize
	[[ "$output" == "tokenize: /dev/fd/"*":record 0: byte "* ]]
}

@test "tokenize: streams and text in one encode or decode run are an error" {
	run -1 quiet tokenize encode -v "$M/vocab.txt" "$M/shard.tsr" "$M/captions.txt"
	one_line_error tokenize
	[ "${lines[0]}" = "tokenize: $M/captions.txt: text, but the input before it was records" ]
	run -1 quiet tokenize decode -v "$M/vocab.txt" - "$M/shard.tsr" <<< "1 2"
	[ "${lines[0]}" = "tokenize: $M/shard.tsr: a record stream, but the input before it was text" ]
	# build takes both
	run -0 tokenize build "$M/shard.tsr" "$M/captions.txt"
	[ "${lines[2]}" = "<bos>	7" ]
}

@test "tokenize: a failed write is exit 1" {
	run -1 to_full tokenize encode -v "$M/vocab.txt" "$M/captions.txt"
	[ "$output" = "tokenize: write stdout: No space left on device" ]
	run -1 to_full tokenize encode -v "$M/vocab.txt" "$M/shard.tsr"
	[ "$output" = "tokenize: write stdout: No space left on device" ]
	run -1 to_full tokenize build "$M/captions.txt"
	[ "$output" = "tokenize: write stdout: No space left on device" ]
	run -1 tokenize build -o /dev/full "$M/captions.txt"
	[[ "$output" == "tokenize: "*"/dev/full"*"No space left on device" ]]
	run -1 tokenize build -o nodir/v.txt "$M/captions.txt"
	[ "$output" = "tokenize: open nodir/v.txt: No such file or directory" ]
}

@test "tokenize: usage errors are exit 2 with the synopsis" {
	run -2 tokenize
	[[ "${lines[0]}" == "tokenize: no command: build, encode or decode" ]]
	[[ "$output" == *"usage: tokenize build"* ]]
	run -2 tokenize frobnicate
	[ "${lines[0]}" = "tokenize: unknown command frobnicate (build, encode or decode)" ]
	run -2 tokenize encode "$M/captions.txt"
	[ "${lines[0]}" = "tokenize: encode needs -v vocab" ]
	run -2 tokenize decode --max-len 5 -v "$M/vocab.txt"
	[ "$output" = "tokenize: --max-len is not an option of decode" ]
	run -2 tokenize build -v "$M/vocab.txt"
	[ "$output" = "tokenize: -v is not an option of build" ]
	run -2 tokenize build --bpe 10 --max-size 100
	[[ "$output" == "tokenize: --max-size is for word-level"* ]]
	run -2 tokenize encode --max-len 0 -v "$M/vocab.txt"
	[ "$output" = "tokenize: --max-len: out of range [1, 1048576]: 0" ]
	run -2 tokenize build --min-count x
	[ "$output" = "tokenize: --min-count: not an integer: x" ]
	run -2 tokenize build --max-size 3
	[ "$output" = "tokenize: --max-size: out of range [4, 2147483647]: 3" ]
	run -2 tokenize build --bpe
	[[ "${lines[0]}" == "tokenize: option --bpe needs a value" ]]
	run -0 tokenize encode --help
	[[ "${lines[0]}" == "usage: tokenize build"* ]]
}
