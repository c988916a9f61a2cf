#!/usr/bin/env bats
# capdecode(1): greedy and beam-search captions the same, token for token, as the
# plain full-recompute searches of tests/ref/decode_ref.py over the PyTorch model,
# on random models and on models trained by captrain; cached and uncached decoding
# agree, greedy is beam 1, batches and threads do not change captions; the output
# formats, the references, the fingerprint and shape checks, sampling, errors.
load helper

REF="$BATS_TEST_DIRNAME/ref/decode_ref.py"
MAN="$BATS_TEST_DIRNAME/data/man/capdecode"
TRAINED="$MAN/model.safetensors"

setup_file() {
	export D="$BATS_FILE_TMPDIR"
	for c in plain cls-exact odd; do
		"$PY" "$REF" model "$BATS_TEST_DIRNAME/data/model/$c.json" 7 "$D/$c.safetensors"
	done
	"$PY" "$REF" images 48 16 3 "$D/noise16.tsr"
	"$PY" "$REF" images 48 12 4 "$D/noise12.tsr"
	# images the trained models have not seen
	capsynth -n 60 --seed 5 -o "$D/syn" > /dev/null
	imgshard -c "$D/syn/captions.txt" "$D/syn/images" --size 16 -o "$D/syn16.tsr"
	vit-embed -m "$TRAINED" "$D/syn16.tsr" > "$D/trained.tsr"
	for c in plain cls-exact; do vit-embed -m "$D/$c.safetensors" "$D/noise16.tsr" > "$D/$c.tsr"; done
	vit-embed -m "$D/odd.safetensors" "$D/noise12.tsr" > "$D/odd.tsr"
}

setup() {
	T="$BATS_TEST_TMPDIR"
}

# check MODEL STREAM [capdecode options]: capdecode's captions and log-probabilities
# against the reference's (the same options), all captions the same
check() {
	local model=$1 stream=$2
	shift 2
	capdecode -m "$model" --format jsonl "$@" "$stream" > "$T/out.jsonl"
	"$PY" "$REF" check "$model" "$stream" "$T/out.jsonl" "$@"
}

@test "capdecode: greedy and beam search = the PyTorch reference, token for token (random models)" {
	for case in "plain" "plain --beam 3" "cls-exact --beam 4 --length-penalty 0.6" "odd" \
	    "odd --beam 2 --length-penalty 0 --max-len 3"; do
		set -- $case
		c=$1
		shift
		run -0 check "$D/$c.safetensors" "$D/$c.tsr" "$@"
		echo "$case: $output"
	done
}

@test "capdecode: greedy and beam search = the PyTorch reference, token for token (a trained model)" {
	for opts in "" "--beam 3" "--beam 5 --length-penalty 0" "--beam 8 --length-penalty 2 --max-len 6"; do
		run -0 check "$TRAINED" "$D/trained.tsr" $opts
		echo "$output"
	done
	run -0 check "$TRAINED" "$D/syn16.tsr" --images --beam 3
	echo "--images: $output"
}

@test "capdecode: = the PyTorch reference on a model that captrain trains here (smoke test)" {
	command -v captrain > /dev/null || skip "captrain is not built"
	tokenize build -o "$T/vocab.txt" "$D/syn16.tsr"
	tokenize encode -v "$T/vocab.txt" --max-len 15 "$D/syn16.tsr" > "$T/tok.tsr"
	captrain -c "$BATS_TEST_DIRNAME/data/captrain/mini.json" -v "$T/vocab.txt" --train "$T/tok.tsr" \
		--steps 80 --batch 16 --lr 3e-3 --threads 2 -o "$T/m.safetensors"
	vit-embed -m "$T/m.safetensors" "$D/syn16.tsr" > "$T/e.tsr"
	for opts in "" "--beam 3"; do
		run -0 check "$T/m.safetensors" "$T/e.tsr" $opts
		echo "$output"
	done
}

@test "capdecode: with and without the key/value cache, the same captions (greedy, beam, sampling)" {
	for m in plain odd trained; do
		model="$D/$m.safetensors"
		[ "$m" = trained ] && model="$TRAINED"
		for opts in "" "--beam 1" "--beam 3" "--beam 6 --length-penalty 0.3" "--top-k 5 --seed 9"; do
			capdecode -m "$model" $opts "$D/$m.tsr" > "$T/a"
			capdecode -m "$model" $opts --no-cache "$D/$m.tsr" > "$T/b"
			cmp "$T/a" "$T/b" || { echo "$m $opts: cached and uncached differ"; return 1; }
		done
	done
	capdecode -m "$TRAINED" --images --beam 2 "$D/syn16.tsr" > "$T/a"
	capdecode -m "$TRAINED" --images --beam 2 --no-cache "$D/syn16.tsr" > "$T/b"
	cmp "$T/a" "$T/b"
}

@test "capdecode: greedy decoding and beam search with one beam give the same captions" {
	for m in plain cls-exact odd trained; do
		model="$D/$m.safetensors"
		[ "$m" = trained ] && model="$TRAINED"
		capdecode -m "$model" "$D/$m.tsr" > "$T/g"
		capdecode -m "$model" --beam 1 "$D/$m.tsr" > "$T/b"
		cmp "$T/g" "$T/b"
		n=$(wc -l < "$T/g")
		echo "$m: $n/$n the same"
	done
}

@test "capdecode: the captions do not depend on the batch or the number of threads" {
	for opts in "" "--beam 3" "--temperature 0.8 --seed 4"; do
		capdecode -m "$TRAINED" $opts "$D/trained.tsr" > "$T/a"
		capdecode -m "$TRAINED" $opts -b 1 --threads 1 "$D/trained.tsr" > "$T/b"
		capdecode -m "$TRAINED" $opts -b 7 --threads 2 "$D/trained.tsr" > "$T/c"
		cmp "$T/a" "$T/b"
		cmp "$T/a" "$T/c"
	done
	# --images is vit-embed | capdecode
	capdecode -m "$TRAINED" --images --beam 3 "$D/syn16.tsr" > "$T/d"
	capdecode -m "$TRAINED" --beam 3 "$D/trained.tsr" > "$T/e"
	cmp "$T/d" "$T/e"
}

@test "capdecode: F16 and BF16 embeddings are read" {
	vit-embed -m "$TRAINED" --dtype f16 "$D/syn16.tsr" > "$T/h.tsr"
	vit-embed -m "$TRAINED" --dtype bf16 "$D/syn16.tsr" > "$T/b.tsr"
	run -0 check "$TRAINED" "$T/h.tsr"
	echo "f16: $output"
	run -0 check "$TRAINED" "$T/b.tsr" --beam 2
	echo "bf16: $output"
}

@test "capdecode: output formats tsv, jsonl and coco; --refs; keys of every kind" {
	capdecode -m "$TRAINED" --refs "$T/refs.tsv" "$D/trained.tsr" > "$T/hyps.tsv"
	[ "$(wc -l < "$T/hyps.tsv")" = 60 ]
	[ "$(cut -f1 "$T/hyps.tsv" | head -2 | tr '\n' ' ')" = "00000001.jpg 00000002.jpg " ]
	[ "$(wc -l < "$T/refs.tsv")" = 300 ]
	diff <(sed 's/#[0-9]*	/	/' "$D/syn/captions.txt") "$T/refs.tsv"
	run -0 bleu --tsv -r "$T/refs.tsv" "$T/hyps.tsv"
	[[ "$output" == "BLEU|nrefs:5|"* ]]
	capdecode -m "$TRAINED" --format jsonl "$D/trained.tsr" > "$T/j"
	run -0 "$PY" - "$T/j" "$T/hyps.tsv" "$D/syn/captions.txt" <<-'PYEOF'
		import json, sys
		rows = [json.loads(l) for l in open(sys.argv[1])]
		tsv = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])]
		refs = {}
		for l in open(sys.argv[3]):
		    k, c = l.rstrip("\n").split("\t")
		    refs.setdefault(k.split("#")[0], []).append(c)
		assert [[r["key"], r["caption"]] for r in rows] == tsv
		assert all(list(r) == ["key", "caption", "logprob", "references"] for r in rows)
		assert all(r["references"] == refs[r["key"]] for r in rows)
		assert all(r["logprob"] < 0 for r in rows)
		print(len(rows))
	PYEOF
	[ "$output" = 60 ]
	# coco: numeric ids from numeric and COCO keys, strings otherwise; valid JSON
	"$PY" - "$D/trained.tsr" "$T/keys.tsr" <<-'PYEOF'
		import json, struct, sys
		keys = ["COCO_val2014_000000397133.jpg", "1000092795.jpg", "42", "cat.jpg", "007.png", None,
		        'a "quoted"\tkey']
		src, out = open(sys.argv[1], "rb"), open(sys.argv[2], "wb")
		from safetensors.numpy import load, save
		for k in keys:
		    p = src.read(8)
		    h = src.read(struct.unpack("<Q", p)[0])
		    e = json.loads(h)
		    meta = e.pop("__metadata__")
		    t = load(p + h + src.read(max(x["data_offsets"][1] for x in e.values())))
		    meta.pop("__key__")
		    meta.pop("captions")
		    if k is not None:
		        meta["__key__"] = k
		    out.write(save(t, metadata=meta))
	PYEOF
	capdecode -m "$TRAINED" --format coco "$T/keys.tsr" > "$T/coco.json"
	run -0 "$PY" -c 'import json, sys; print(json.dumps([r["image_id"] for r in json.load(open(sys.argv[1]))]))' "$T/coco.json"
	[ "$output" = '[397133, 1000092795, 42, "cat.jpg", 7, 5, "a \"quoted\"\tkey"]' ]
	run -0 capdecode -m "$TRAINED" "$T/keys.tsr"
	[ "$(printf '%s\n' "$output" | cut -f1 | tr '\n' '|')" = 'COCO_val2014_000000397133.jpg|1000092795.jpg|42|cat.jpg|007.png|5|a "quoted" key|' ]
	[ "$(capdecode -m "$TRAINED" --format coco < /dev/null)" = "[]" ]
	[ -z "$(capdecode -m "$TRAINED" < /dev/null)" ]
}

@test "capdecode: --max-len caps the words; more than the decoder positions is a usage error" {
	capdecode -m "$TRAINED" --max-len 3 --beam 3 "$D/trained.tsr" > "$T/c"
	[ "$(cut -f2 "$T/c" | awk '{ if (NF > m) m = NF } END { print m }')" = 3 ]
	run -2 capdecode -m "$TRAINED" --max-len 16 "$D/trained.tsr"
	[ "$output" = "capdecode: --max-len: the model has 16 decoder positions, so 15 words at most" ]
	capdecode -m "$TRAINED" --max-len 0 "$D/trained.tsr" > "$T/z"
	[ "$(cut -f2 "$T/z" | sort -u)" = "" ]
}

@test "capdecode: embeddings from another encoder, without a fingerprint, or of the wrong shape" {
	run -1 capdecode -m "$D/plain.safetensors" "$D/trained.tsr"
	one_line_error capdecode
	[[ "$output" == "capdecode: $D/trained.tsr:record 0: embed is from another encoder (fingerprint "*", the model's is "*"): run vit-embed with this model, or --force" ]]
	# --force: embeddings of the same shape from another encoder
	run -0 capdecode -m "$TRAINED" --force "$D/plain.tsr"
	[ "${#lines[@]}" = 48 ]
	run -1 capdecode -m "$D/odd.safetensors" --force "$D/plain.tsr"
	[ "$output" = "capdecode: $D/plain.tsr:record 0: embed is F32[16,32], the model wants F32, F16 or BF16 [17,24]" ]
	"$PY" - "$D/plain.tsr" "$T/nofp.tsr" <<-'PYEOF'
		import json, struct, sys
		d = open(sys.argv[1], "rb").read()
		n = struct.unpack("<Q", d[:8])[0]
		h = json.loads(d[8:8 + n])
		del h["__metadata__"]["encoder"]
		hb = json.dumps(h).encode()
		open(sys.argv[2], "wb").write(struct.pack("<Q", len(hb)) + hb +
		                              d[8 + n:8 + n + h["embed"]["data_offsets"][1]])
	PYEOF
	run -1 capdecode -m "$D/plain.safetensors" < "$T/nofp.tsr"
	[ "$output" = "capdecode: stdin:record 0: embed has no encoder fingerprint (__metadata__.encoder); --force uses it anyway" ]
	run -0 capdecode -m "$D/plain.safetensors" --force < "$T/nofp.tsr"
}

@test "capdecode: records without embed say what to run; images of the wrong size; bad streams" {
	run -1 capdecode -m "$TRAINED" "$D/syn16.tsr"
	[ "$output" = "capdecode: $D/syn16.tsr:record 0: no embed tensor: run vit-embed first, or capdecode --images" ]
	run -1 capdecode -m "$TRAINED" --images "$D/trained.tsr"
	[ "$output" = "capdecode: $D/trained.tsr:record 0: no image tensor: make the records with imgshard first" ]
	run -1 capdecode -m "$D/odd.safetensors" --images "$D/noise16.tsr"
	[ "$output" = "capdecode: $D/noise16.tsr:record 0: the image is 16x16, the model wants 12x12: make the records with imgshard --size 12" ]
	head -c 1000 "$D/trained.tsr" > "$T/cut.tsr"
	run -1 capdecode -m "$TRAINED" "$T/cut.tsr"
	one_line_error capdecode
	[[ "$output" == "capdecode: $T/cut.tsr:record 0: byte "* ]]
	run -1 capdecode -m "$MAN/images.tsr" "$D/trained.tsr"
	one_line_error capdecode
}

@test "capdecode: usage errors" {
	run -2 capdecode "$D/trained.tsr"
	[ "$output" = "capdecode: no model: give the checkpoint with -m" ]
	run -2 capdecode -m "$TRAINED" --beam 3 --temperature 0.5 "$D/trained.tsr"
	[ "$output" = "capdecode: --beam and sampling (--temperature, --top-k) do not go together" ]
	run -2 capdecode -m "$TRAINED" --beam 33 "$D/trained.tsr"
	run -2 capdecode -m "$TRAINED" --temperature 0 "$D/trained.tsr"
	run -2 capdecode -m "$TRAINED" --format xml "$D/trained.tsr"
	[ "$output" = "capdecode: --format: unknown value xml (tsv, jsonl or coco)" ]
}

@test "capdecode: --device and --precision: cpu and fp32 are the default; cuda without a CUDA build or GPU is one line, exit 1" {
	capdecode -m "$TRAINED" --beam 2 "$D/trained.tsr" > "$T/a.tsv"
	capdecode -m "$TRAINED" --beam 2 --device cpu --precision fp32 "$D/trained.tsr" > "$T/b.tsv"
	cmp "$T/a.tsv" "$T/b.tsv"
	# CUDA_VISIBLE_DEVICES='' hides a GPU from a CUDA build too: the error either way
	run -1 env CUDA_VISIBLE_DEVICES='' capdecode -m "$TRAINED" --device cuda "$D/trained.tsr"
	no_cuda_error capdecode
	run -2 capdecode -m "$TRAINED" --device tpu "$D/trained.tsr"
	[ "$output" = "capdecode: --device: unknown value tpu (cpu or cuda)" ]
	run -2 capdecode -m "$TRAINED" --precision bf16 "$D/trained.tsr"
	[ "$output" = "capdecode: --precision bf16 needs --device cuda" ]
}

@test "capdecode: sampling is repeatable by seed; --top-k 1 is greedy" {
	capdecode -m "$TRAINED" --temperature 1.5 --seed 3 "$D/trained.tsr" > "$T/a"
	capdecode -m "$TRAINED" --temperature 1.5 --seed 3 "$D/trained.tsr" > "$T/b"
	capdecode -m "$TRAINED" --temperature 1.5 --seed 4 "$D/trained.tsr" > "$T/c"
	cmp "$T/a" "$T/b"
	! cmp -s "$T/a" "$T/c"
	capdecode -m "$TRAINED" "$D/trained.tsr" > "$T/g"
	capdecode -m "$TRAINED" --top-k 1 --seed 8 "$D/trained.tsr" > "$T/k"
	cmp "$T/g" "$T/k"
	# one image's draws do not depend on the others
	capdecode -m "$TRAINED" --temperature 1.5 --seed 3 -b 5 "$D/trained.tsr" > "$T/d"
	cmp "$T/a" "$T/d"
}

@test "capdecode: a reader that stops early (| head -1) ends it quietly with status 0" {
	for i in 1 2 3 4 5 6 7 8; do cat "$D/trained.tsr"; done > "$T/many.tsr"
	run -0 bash -c "capdecode -m '$TRAINED' -b 4 '$T/many.tsr' 2> '$T/err' | head -1; echo \${PIPESTATUS[0]}"
	[ "${lines[1]}" = 0 ]
	[ ! -s "$T/err" ]
}

@test "capdecode: memory bounded by the batch: 16 times the records, the same peak" {
	# AddressSanitizer's quarantine would hold on to what is freed
	export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
	for i in $(seq 16); do cat "$D/trained.tsr"; done > "$T/big.tsr"
	small=$( { /usr/bin/time -f %M capdecode -m "$TRAINED" -b 8 "$D/trained.tsr" > /dev/null; } 2>&1 )
	big=$( { /usr/bin/time -f %M capdecode -m "$TRAINED" -b 8 "$T/big.tsr" > /dev/null; } 2>&1 )
	echo "peak RSS: 60 records $small KiB, 960 records $big KiB"
	[ "$big" -lt $(( small + 2048 )) ]
}
