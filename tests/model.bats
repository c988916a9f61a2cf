#!/usr/bin/env bats
# The model (common/model.c) against the PyTorch reference (tests/ref/model.py, written
# from DESIGN.md): test_model's driver dumps a random model, a batch and our results,
# tests/ref/model_check.py recomputes them in PyTorch. Configs in tests/data/model:
# plain (no class token, tanh GELU), cls-exact (class token, erf GELU, ImageNet
# normalisation, ln_eps 1e-6), odd (patch 3, 3 heads, mlp_ratio 2, 1 + 3 layers).
# Modes: full (encoder trained), frozen (encoder run, not trained), embed (decoder
# trained from given embeddings).
load helper

model() { "$VITCAP_UNIT/test_model" "$@"; }
cfg() { printf '%s/data/model/%s.json' "$TESTS" "$1"; }

# check_grads CONFIG MODE: encoder output, logits, loss and every gradient within 1e-4
check_grads() {
	local d="$BATS_TEST_TMPDIR/$1-$2"
	mkdir -p "$d"
	model dump "$(cfg "$1")" 7 "$d" "$2"
	"$PY" "$TESTS/ref/model_check.py" grads "$d" "$2"
}

# check_train CONFIG MODE: 10 AdamW steps, the same losses and gradient norms as PyTorch's
check_train() {
	local d="$BATS_TEST_TMPDIR/train-$1-$2"
	mkdir -p "$d"
	model train "$(cfg "$1")" 11 10 "$d" "$2" > "$d/losses"
	"$PY" "$TESTS/ref/model_check.py" train "$d" "$2" "$d/losses"
}

@test "model: forward and gradients match PyTorch: plain config, all three modes" {
	for mode in full frozen embed; do
		run -0 check_grads plain $mode
		echo "$output" | tail -1
	done
}

@test "model: forward and gradients match PyTorch: class token, erf GELU, ImageNet mean/std" {
	for mode in full frozen embed; do
		run -0 check_grads cls-exact $mode
		echo "$output" | tail -1
	done
}

@test "model: forward and gradients match PyTorch: odd sizes (patch 3, 3 heads, mlp_ratio 2)" {
	for mode in full frozen embed; do
		run -0 check_grads odd $mode
		echo "$output" | tail -1
	done
}

@test "model: 10 AdamW steps match torch.optim.AdamW: plain, encoder trained" {
	run -0 check_train plain full
}

@test "model: 10 AdamW steps match torch.optim.AdamW: class token, frozen encoder" {
	run -0 check_train cls-exact frozen
}

@test "model: 10 AdamW steps match torch.optim.AdamW: odd sizes, from embeddings" {
	run -0 check_train odd embed
}

@test "model: the checkpoint is a plain safetensors file with the metadata of the contract" {
	model dump "$(cfg cls-exact)" 7 "$BATS_TEST_TMPDIR" full
	run -0 "$PY" - "$BATS_TEST_TMPDIR/model.safetensors" <<-'PYEOF'
		import json, sys
		from safetensors import safe_open
		with safe_open(sys.argv[1], framework="pt") as f:
		    meta = f.metadata()
		    shapes = {k: list(f.get_tensor(k).shape) for k in f.keys()}
		c = json.loads(meta["config"])
		assert meta["format"] == "pt" and meta["vocab"].startswith("<pad>\n"), meta
		assert c["cls_token"] is True and c["gelu"] == "exact" and c["ln_eps"] == 1e-6, c
		assert shapes["encoder.cls_token"] == [1, 32], shapes["encoder.cls_token"]
		assert shapes["encoder.pos_embed"] == [17, 32]
		assert shapes["encoder.patch_embed.weight"] == [32, 48]
		assert shapes["decoder.blocks.1.cross_attn.kv.weight"] == [64, 32]
		assert len(shapes) == 74, len(shapes)
		print("ok")
	PYEOF
	[ "$output" = ok ]
}

@test "model: the same seed and inputs give bit-identical training runs (1 and 2 threads)" {
	for t in 1 2; do
		mkdir -p "$BATS_TEST_TMPDIR/a$t" "$BATS_TEST_TMPDIR/b$t"
		OMP_NUM_THREADS=$t model train "$(cfg plain)" 5 4 "$BATS_TEST_TMPDIR/a$t" full > "$BATS_TEST_TMPDIR/a$t.txt"
		OMP_NUM_THREADS=$t model train "$(cfg plain)" 5 4 "$BATS_TEST_TMPDIR/b$t" full > "$BATS_TEST_TMPDIR/b$t.txt"
		cmp "$BATS_TEST_TMPDIR/a$t.txt" "$BATS_TEST_TMPDIR/b$t.txt"
		cmp "$BATS_TEST_TMPDIR/a$t/final.safetensors" "$BATS_TEST_TMPDIR/b$t/final.safetensors"
	done
}

@test "model: a checkpoint that PyTorch saved (its own tensor order) loads, and saves back the same bytes" {
	model dump "$(cfg odd)" 7 "$BATS_TEST_TMPDIR" full
	"$PY" - "$TESTS/ref" "$BATS_TEST_TMPDIR/model.safetensors" "$BATS_TEST_TMPDIR/torch.safetensors" <<-'PYEOF'
		import sys
		sys.path.insert(0, sys.argv.pop(1))
		from safetensors import safe_open
		from safetensors.torch import save_file
		import model
		m, vocab = model.load(sys.argv[1])
		with safe_open(sys.argv[1], framework="pt") as f:
		    meta = f.metadata()
		save_file({k: v.contiguous() for k, v in m.state_dict().items()}, sys.argv[2], metadata=meta)
	PYEOF
	model resave "$BATS_TEST_TMPDIR/torch.safetensors" "$BATS_TEST_TMPDIR/again.safetensors"
	cmp "$BATS_TEST_TMPDIR/model.safetensors" "$BATS_TEST_TMPDIR/again.safetensors"
}

@test "model: loading names the tensor that does not fit" {
	model dump "$(cfg plain)" 7 "$BATS_TEST_TMPDIR" full
	"$PY" - "$BATS_TEST_TMPDIR/model.safetensors" "$BATS_TEST_TMPDIR/bad.safetensors" <<-'PYEOF'
		import sys
		from safetensors import safe_open
		from safetensors.torch import save_file
		with safe_open(sys.argv[1], framework="pt") as f:
		    meta = f.metadata()
		    t = {k: f.get_tensor(k) for k in f.keys()}
		t["decoder.pos_embed"] = t["decoder.pos_embed"][:4].contiguous()
		save_file(t, sys.argv[2], metadata=meta)
	PYEOF
	run -1 model resave "$BATS_TEST_TMPDIR/bad.safetensors" "$BATS_TEST_TMPDIR/x.safetensors"
	[ "$output" = "test_model: $BATS_TEST_TMPDIR/bad.safetensors: tensor decoder.pos_embed: shape [4, 32], expected [8, 32] for the config" ]
	[ ! -e "$BATS_TEST_TMPDIR/x.safetensors" ]
}
