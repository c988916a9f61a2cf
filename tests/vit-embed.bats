#!/usr/bin/env bats
# vit-embed(1): the encoder output of the PyTorch reference (tests/ref/decode_ref.py
# over tests/ref/model.py) on random models of three configurations and a trained
# one; fields pass through, order and batch do not matter, F16/BF16 are numpy's
# casts; bad input is one line naming the record; a closed pipe ends it quietly;
# memory does not grow with the stream.
load helper

REF="$BATS_TEST_DIRNAME/ref/decode_ref.py"
MAN="$BATS_TEST_DIRNAME/data/man/capdecode"

setup_file() {
	export D="$BATS_FILE_TMPDIR"
	for c in plain cls-exact odd; do
		"$PY" "$REF" model "$BATS_TEST_DIRNAME/data/model/$c.json" 5 "$D/$c.safetensors"
	done
	"$PY" "$REF" images 40 16 1 "$D/noise16.tsr"
	"$PY" "$REF" images 40 12 2 "$D/noise12.tsr"
	capsynth -n 30 --seed 3 -o "$D/syn" > /dev/null
	imgshard -c "$D/syn/captions.txt" "$D/syn/images" --size 16 -o "$D/syn16.tsr"
}

setup() {
	T="$BATS_TEST_TMPDIR"
}

@test "vit-embed: the PyTorch encoder's output within 1e-5 (random models: plain, class token + erf GELU + ImageNet mean/std, odd sizes)" {
	for c in plain cls-exact odd; do
		in="$D/noise16.tsr"
		[ "$c" = odd ] && in="$D/noise12.tsr"
		vit-embed -m "$D/$c.safetensors" "$in" > "$T/$c.tsr"
		run -0 "$PY" "$REF" encoder "$D/$c.safetensors" "$in" "$T/$c.tsr"
		echo "$c: $output"
	done
}

@test "vit-embed: the PyTorch encoder's output within 1e-5 (a model trained by captrain)" {
	vit-embed -m "$MAN/model.safetensors" "$D/syn16.tsr" > "$T/e.tsr"
	run -0 "$PY" "$REF" encoder "$MAN/model.safetensors" "$D/syn16.tsr" "$T/e.tsr"
	echo "$output"
}

@test "vit-embed: keys, captions, other tensors and metadata pass through in order; image dropped or kept" {
	tokenize build -o "$T/vocab.txt" "$D/syn16.tsr"
	tokenize encode -v "$T/vocab.txt" "$D/syn16.tsr" > "$T/tok.tsr"
	fp=$(vit-embed -m "$MAN/model.safetensors" "$T/tok.tsr" | tsrinfo | head -1 | grep -o 'encoder=[0-9a-f]*')
	[[ "$fp" =~ ^encoder=[0-9a-f]{16}$ ]]
	vit-embed -m "$MAN/model.safetensors" "$T/tok.tsr" | tsrinfo > "$T/got"
	tsrinfo "$T/tok.tsr" |
		sed "s/	image U8\[16,16,3\]\(	tokens [^	]*\)/\1	embed F32[16,32]/; s/\$/	$fp/" > "$T/want"
	run cat "$T/got"
	expect_output "$T/want"
	run -0 bash -c "vit-embed -m '$MAN/model.safetensors' --keep-image '$T/tok.tsr' | tsrinfo | head -1 | cut -f2-4"
	[ "$output" = "key=00000001.jpg	image U8[16,16,3]	tokens I32[5,25]" ]
}

@test "vit-embed: the same bytes from one file or several, stdin or a file; batches differ by rounding only" {
	vit-embed -m "$D/plain.safetensors" -b 7 "$D/noise16.tsr" > "$T/a.tsr"
	vit-embed -m "$D/plain.safetensors" -b 1 < "$D/noise16.tsr" > "$T/b.tsr"
	"$PY" - "$D/noise16.tsr" "$T/part" <<-'PYEOF'
		import json, struct, sys
		data = open(sys.argv[1], "rb").read()
		offs, o = [], 0
		while o < len(data):
		    n = struct.unpack("<Q", data[o:o + 8])[0]
		    h = json.loads(data[o + 8:o + 8 + n])
		    h.pop("__metadata__", None)
		    o += 8 + n + max(e["data_offsets"][1] for e in h.values())
		    offs.append(o)
		cut = offs[12]
		open(sys.argv[2] + "1", "wb").write(data[:cut])
		open(sys.argv[2] + "2", "wb").write(data[cut:])
	PYEOF
	vit-embed -m "$D/plain.safetensors" -b 7 "$T/part1" - < "$T/part2" > "$T/c.tsr"
	cmp "$T/a.tsr" "$T/c.tsr"
	[ "$(tsrinfo -c "$T/a.tsr")" = 40 ]
	run -0 "$PY" "$REF" encoder "$D/plain.safetensors" "$D/noise16.tsr" "$T/b.tsr"
}

@test "vit-embed: --dtype f16 and bf16 are the F32 output rounded as PyTorch rounds" {
	vit-embed -m "$D/cls-exact.safetensors" "$D/noise16.tsr" > "$T/f32.tsr"
	vit-embed -m "$D/cls-exact.safetensors" --dtype f16 "$D/noise16.tsr" > "$T/f16.tsr"
	vit-embed -m "$D/cls-exact.safetensors" --dtype bf16 "$D/noise16.tsr" > "$T/bf16.tsr"
	run -0 "$PY" - "$T" <<-'PYEOF'
		import json, struct, sys, torch
		from safetensors.torch import load
		def recs(path):
		    with open(path, "rb") as f:
		        while p := f.read(8):
		            h = f.read(struct.unpack("<Q", p)[0])
		            e = json.loads(h); e.pop("__metadata__", None)
		            yield load(p + h + f.read(max(x["data_offsets"][1] for x in e.values())))
		d = sys.argv[1]
		n = 0
		for a, b, c in zip(recs(d + "/f32.tsr"), recs(d + "/f16.tsr"), recs(d + "/bf16.tsr")):
		    assert b["embed"].dtype == torch.float16 and c["embed"].dtype == torch.bfloat16
		    assert torch.equal(a["embed"].half(), b["embed"]), "f16"
		    assert torch.equal(a["embed"].bfloat16(), c["embed"]), "bf16"
		    n += 1
		print(n)
	PYEOF
	[ "$output" = 40 ]
}

@test "vit-embed: an image of another size says which size the model wants and how to make it" {
	run -1 vit-embed -m "$D/odd.safetensors" "$D/noise16.tsr"
	one_line_error vit-embed
	[ "$output" = "vit-embed: $D/noise16.tsr:record 0: the image is 16x16, the model wants 12x12: make the records with imgshard --size 12" ]
}

@test "vit-embed: a record without an image says to run imgshard first; other bad images" {
	vit-embed -m "$D/plain.safetensors" "$D/noise16.tsr" > "$T/e.tsr"
	run -1 vit-embed -m "$D/plain.safetensors" "$T/e.tsr"
	[ "$output" = "vit-embed: $T/e.tsr:record 0: no image tensor: make the records with imgshard first" ]
	"$PY" - "$T/f.tsr" <<-'PYEOF'
		import sys, torch
		from safetensors.torch import save
		open(sys.argv[1], "wb").write(save({"image": torch.zeros(16, 16, 3)}))
	PYEOF
	run -1 vit-embed -m "$D/plain.safetensors" < "$T/f.tsr"
	[ "$output" = "vit-embed: stdin:record 0: image is F32[16,16,3], expected U8[16,16,3]" ]
	head -c 100 "$D/noise16.tsr" > "$T/cut.tsr"
	run -1 vit-embed -m "$D/plain.safetensors" "$T/cut.tsr"
	one_line_error vit-embed
	[[ "$output" == "vit-embed: $T/cut.tsr:record 0: byte "*truncated* ]]
}

@test "vit-embed: usage and model errors" {
	run -2 vit-embed "$D/noise16.tsr"
	[ "$output" = "vit-embed: no model: give the checkpoint with -m" ]
	run -2 vit-embed -m "$D/plain.safetensors" --dtype f64 "$D/noise16.tsr"
	[ "$output" = "vit-embed: --dtype: unknown value f64 (f32, f16 or bf16)" ]
	run -2 vit-embed -m "$D/plain.safetensors" -b 0 "$D/noise16.tsr"
	run -1 vit-embed -m "$T/none.safetensors" "$D/noise16.tsr"
	one_line_error vit-embed
	run -1 vit-embed -m "$D/plain.safetensors" "$T/none.tsr"
	[ "$output" = "vit-embed: open $T/none.tsr: No such file or directory" ]
}

@test "vit-embed: --device and --precision: cpu and fp32 are the default; cuda without a CUDA build or GPU is one line, exit 1" {
	vit-embed -m "$D/plain.safetensors" "$D/noise16.tsr" > "$T/a.tsr"
	vit-embed -m "$D/plain.safetensors" --device cpu --precision fp32 "$D/noise16.tsr" > "$T/b.tsr"
	cmp "$T/a.tsr" "$T/b.tsr"
	# CUDA_VISIBLE_DEVICES='' hides a GPU from a CUDA build too: the error either way
	run -1 env CUDA_VISIBLE_DEVICES='' vit-embed -m "$D/plain.safetensors" --device cuda "$D/noise16.tsr"
	no_cuda_error vit-embed
	run -2 vit-embed -m "$D/plain.safetensors" --device gpu "$D/noise16.tsr"
	[ "$output" = "vit-embed: --device: unknown value gpu (cpu or cuda)" ]
	run -2 vit-embed -m "$D/plain.safetensors" --precision fp16 "$D/noise16.tsr"
	[ "$output" = "vit-embed: --precision: unknown value fp16 (fp32 or bf16)" ]
	run -2 vit-embed -m "$D/plain.safetensors" --precision bf16 "$D/noise16.tsr"
	[ "$output" = "vit-embed: --precision bf16 needs --device cuda" ]
}

@test "vit-embed: a reader that stops early (| head -c 100) ends it quietly with status 0" {
	for i in 1 2 3 4 5 6 7 8; do cat "$D/noise16.tsr"; done > "$T/many.tsr"
	run -0 bash -c "vit-embed -m '$D/plain.safetensors' -b 4 '$T/many.tsr' 2> '$T/err' | head -c 100 > /dev/null; echo \${PIPESTATUS[0]}"
	[ "$output" = 0 ]
	[ ! -s "$T/err" ]
}

@test "vit-embed: memory bounded by the batch: 16 times the records, the same peak" {
	# AddressSanitizer's quarantine would hold on to what is freed
	export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
	for i in $(seq 16); do cat "$D/syn16.tsr"; done > "$T/big.tsr"
	small=$( { /usr/bin/time -f %M vit-embed -m "$D/plain.safetensors" -b 8 "$D/syn16.tsr" > /dev/null; } 2>&1 )
	big=$( { /usr/bin/time -f %M vit-embed -m "$D/plain.safetensors" -b 8 "$T/big.tsr" > /dev/null; } 2>&1 )
	echo "peak RSS: 30 records $small KiB, 480 records $big KiB"
	[ "$big" -lt $(( small + 2048 )) ]
}
