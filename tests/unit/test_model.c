/* test_model: the model (common/model.c) as a whole, and the driver of its
 * comparison with the PyTorch reference (tests/ref/model_check.py).
 *
 *   test_model                              the self-checks; exit 1 on any failure
 *   test_model dump CONFIG SEED DIR MODE    a random model and batch, and our
 *                                           results: DIR/model.safetensors,
 *                                           DIR/batch.safetensors, DIR/out.safetensors
 *                                           (embed, logits, loss, grad.NAME)
 *   test_model train CONFIG SEED N DIR MODE the same model and batch, then N AdamW
 *                                           steps (lr 1e-3, wd 0.1, clip 1.0): one
 *                                           "step loss grad_norm" line per step, and
 *                                           the weights after in DIR/final.safetensors
 *   test_model resave IN OUT                loads checkpoint IN and saves it as OUT
 *   test_model bench CONFIG VOCAB B STEPS MODE
 *                                           images/s of forward+backward and of
 *                                           whole steps
 *
 * MODE: full (encoder trained, from images), frozen (from images, encoder
 * frozen) or embed (frozen, from random embeddings). CONFIG: a preset or a JSON
 * file. */
#include "checkpoint.h"
#include "layers.h"
#include "model.h"
#include "params.h"
#include "util.h"

#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int failures;

static void
expect(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
expect(int ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" %s\n", ok ? "ok" : "FAILED");
	if (!ok)
		failures++;
}

/* ---- batches -------------------------------------------------------------------- */

enum { MODE_FULL, MODE_FROZEN, MODE_EMBED };

struct batch {
	int B, T, N, D;
	uint8_t *images;                /* [B, H, W, 3] */
	float *embed;                   /* [B, N, D], MODE_EMBED */
	int32_t *ids, *targets;         /* [B, T] */
};

/* Captions of random lengths: tokens <bos> w1 .. wn <eos> <pad>.., ids the first
 * T, targets the last T; row 0 fills all T targets, the others stop early. */
static void
make_batch(struct batch *b, const struct config *c, int B, int T, uint64_t seed, int embed)
{
	size_t npix = (size_t)B * c->image * c->image * 3, i;
	int32_t *tok = ecalloc((size_t)T + 1, sizeof *tok);
	int r, t;

	memset(b, 0, sizeof *b);
	b->B = B;
	b->T = T;
	b->N = config_enc_len(c);
	b->D = c->dim;
	b->images = emalloc(npix);
	for (i = 0; i < npix; i++)
		b->images[i] = (uint8_t)splitmix64(&seed);
	if (embed) {
		b->embed = emalloc((size_t)B * b->N * b->D * sizeof(float));
		for (i = 0; i < (size_t)B * b->N * b->D; i++)
			b->embed[i] = (float)((splitmix64(&seed) >> 11) * (2.0 / 9007199254740992.0) - 1);
	}
	b->ids = emalloc((size_t)B * T * sizeof(int32_t));
	b->targets = emalloc((size_t)B * T * sizeof(int32_t));
	for (r = 0; r < B; r++) {
		int n = r == 0 ? T - 1 : (int)(splitmix64(&seed) % T);

		memset(tok, 0, ((size_t)T + 1) * sizeof *tok);
		tok[0] = TOK_BOS;
		for (t = 1; t <= n; t++)
			tok[t] = 4 + (int32_t)(splitmix64(&seed) % (c->vocab - 4));
		tok[n + 1] = TOK_EOS;
		memcpy(b->ids + (size_t)r * T, tok, T * sizeof *tok);
		memcpy(b->targets + (size_t)r * T, tok + 1, T * sizeof *tok);
	}
	free(tok);
}

static void
free_batch(struct batch *b)
{
	free(b->images);
	free(b->embed);
	free(b->ids);
	free(b->targets);
}

static unsigned
mode_flags(int mode)
{
	return MODEL_ENCODER | MODEL_DECODER | MODEL_TRAIN |
	    (mode == MODE_FULL ? 0 : MODEL_FROZEN_ENCODER);
}

static float
forward(struct model *m, const struct batch *b, int mode, const int32_t *targets)
{
	float loss;

	if (model_forward(m, mode == MODE_EMBED ? NULL : b->images,
	    mode == MODE_EMBED ? b->embed : NULL, b->ids, targets, b->B, b->T, &loss) != 0)
		eprintf("model_forward: %s", m->err);
	return loss;
}

/* One training step as captrain will take it; returns the loss. */
static float
train_step(struct model *m, const struct batch *b, int mode, double *norm)
{
	float loss = forward(m, b, mode, b->targets);
	double n;

	model_zero_grad(m);
	model_backward(m, 0);
	n = model_clip_grad(m, 1.0);
	if (norm)
		*norm = n;
	model_adamw(m, 1e-3, 0.9, 0.999, 1e-8, 0.1);
	return loss;
}

/* ---- driver modes ------------------------------------------------------------------ */

static int
parse_mode(const char *s)
{
	if (strcmp(s, "full") == 0)
		return MODE_FULL;
	if (strcmp(s, "frozen") == 0)
		return MODE_FROZEN;
	if (strcmp(s, "embed") == 0)
		return MODE_EMBED;
	uprintf("mode %s: expected full, frozen or embed", s);
}

static struct model *
setup(const char *cfgarg, uint64_t seed, const char *dir, int mode, struct batch *b)
{
	char err[512], path[4096];
	struct config c;
	struct model *m;
	struct record rec = {0};
	int64_t shape[4];

	if (config_load(&c, cfgarg, err, sizeof err) != 0)
		uprintf("%s", err);
	if (c.vocab == 0)
		uprintf("%s: the config needs a vocab size", cfgarg);
	m = model_new(&c, &backend_cpu);
	model_init(m, seed);
	model_reserve(m, 3, mode_flags(mode));
	/* one position short of dec_len: the last pos_embed row must get no gradient */
	make_batch(b, &c, 3, c.dec_len > 1 ? c.dec_len - 1 : 1, seed + 1, mode == MODE_EMBED);
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	if (model_save(m, path, "<pad>\n<bos>\n<eos>\n<unk>\n", err, sizeof err) != 0)
		eprintf("%s", err);
	shape[0] = b->B;
	shape[1] = shape[2] = c.image;
	shape[3] = 3;
	record_put(&rec, "images", DT_U8, 4, shape, b->images);
	shape[1] = b->T;
	record_put(&rec, "ids", DT_I32, 2, shape, b->ids);
	record_put(&rec, "targets", DT_I32, 2, shape, b->targets);
	if (b->embed) {
		shape[1] = b->N;
		shape[2] = b->D;
		record_put(&rec, "embed", DT_F32, 3, shape, b->embed);
	}
	snprintf(path, sizeof path, "%s/batch.safetensors", dir);
	if (record_save(path, &rec, err, sizeof err) != 0)
		eprintf("%s", err);
	record_free(&rec);
	return m;
}

static int
dump(const char *cfgarg, uint64_t seed, const char *dir, int mode)
{
	struct record rec = {0};
	struct batch b;
	struct model *m = setup(cfgarg, seed, dir, mode, &b);
	const struct config *c = &m->cfg;
	char err[512], path[4096], name[PARAM_NAME_MAX + 8];
	int64_t shape[3] = {b.B, b.N, b.D};
	struct tensor *x;
	float loss;
	int i;

	if (mode != MODE_EMBED) {
		x = record_put(&rec, "embed", DT_F32, 3, shape, NULL);
		if (model_encode(m, b.images, b.B, x->data) != 0)
			eprintf("model_encode: %s", m->err);
	}
	forward(m, &b, mode, NULL);
	shape[1] = b.T;
	shape[2] = c->vocab;
	x = record_put(&rec, "logits", DT_F32, 3, shape, NULL);
	model_logits(m, x->data);
	loss = forward(m, &b, mode, b.targets);
	shape[0] = 1;
	record_put(&rec, "loss", DT_F32, 1, shape, &loss);
	model_zero_grad(m);
	model_backward(m, 0);
	for (i = 0; i < m->tab.n; i++) {
		const struct param *e = &m->tab.v[i];
		int64_t s2[2] = {e->shape[0], e->shape[1]};

		if (mode != MODE_FULL && (e->flags & PARAM_ENCODER))
			continue;
		snprintf(name, sizeof name, "grad.%s", e->name);
		x = record_put(&rec, name, DT_F32, e->ndim, s2, NULL);
		backend_cpu.download(x->data, m->grads + e->offset, x->nbytes);
	}
	snprintf(path, sizeof path, "%s/out.safetensors", dir);
	if (record_save(path, &rec, err, sizeof err) != 0)
		eprintf("%s", err);
	record_free(&rec);
	free_batch(&b);
	model_free(m);
	return 0;
}

static int
train(const char *cfgarg, uint64_t seed, int n, const char *dir, int mode)
{
	struct batch b;
	struct model *m = setup(cfgarg, seed, dir, mode, &b);
	char err[512], path[4096];
	int i;

	for (i = 1; i <= n; i++) {
		double norm;
		float loss = train_step(m, &b, mode, &norm);

		printf("%d %.9g %.9g\n", i, loss, norm);
	}
	snprintf(path, sizeof path, "%s/final.safetensors", dir);
	if (model_save(m, path, NULL, err, sizeof err) != 0)
		eprintf("%s", err);
	free_batch(&b);
	model_free(m);
	return 0;
}

static int
resave(const char *in, const char *out)
{
	char err[512], *vocab;
	struct model *m = model_load(in, &backend_cpu, &vocab, err, sizeof err);

	if (!m || model_save(m, out, vocab, err, sizeof err) != 0)
		eprintf("%s", err);
	free(vocab);
	model_free(m);
	return 0;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Per-iteration times, best and median: this machine's neighbours come and go. */
static int
bench(const char *cfgarg, int vocab, int B, int steps, int mode)
{
	char err[512];
	struct config c;
	struct model *m;
	struct batch b;
	double *fb = emalloc(steps * sizeof *fb), *full = emalloc(steps * sizeof *full), t0;
	struct rusage ru;
	double flops;
	int i;

	if (config_load(&c, cfgarg, err, sizeof err) != 0)
		uprintf("%s", err);
	c.vocab = vocab;
	m = model_new(&c, &backend_cpu);
	model_init(m, 1);
	model_reserve(m, B, mode_flags(mode));
	make_batch(&b, &c, B, c.dec_len, 2, mode == MODE_EMBED);
	train_step(m, &b, mode, NULL);                          /* warm up */
	for (i = 0; i < steps; i++) {
		t0 = now();
		forward(m, &b, mode, b.targets);
		model_zero_grad(m);
		model_backward(m, 0);
		fb[i] = now() - t0;
		t0 = now();
		train_step(m, &b, mode, NULL);
		full[i] = now() - t0;
	}
	qsort(fb, steps, sizeof *fb, cmpd);
	qsort(full, steps, sizeof *full, cmpd);
	flops = model_flops(&c, mode_flags(mode) & ~(mode == MODE_EMBED ? MODEL_ENCODER : 0),
	    c.dec_len);
	getrusage(RUSAGE_SELF, &ru);
	printf("vitcap %s B=%d V=%d threads=%d mode=%s: forward+backward %.1f images/s "
	    "(median %.1f), step %.1f images/s (median %.1f), %.1f GFLOP/s; activations "
	    "%.1f MiB, %zu parameters, peak RSS %.0f MiB\n", cfgarg, B, vocab,
	    omp_get_max_threads(), mode == MODE_FULL ? "full" : mode == MODE_FROZEN ? "frozen" :
	    "embed", B / fb[0], B / fb[steps / 2], B / full[0], B / full[steps / 2],
	    flops * B / fb[0] * 1e-9, m->nacts * 4.0 / (1 << 20), m->tab.total,
	    ru.ru_maxrss / 1024.0);
	free(fb);
	free(full);
	free_batch(&b);
	model_free(m);
	return 0;
}

/* ---- self-checks ------------------------------------------------------------------- */

static const char *small_json =
    "{\"image\": 16, \"patch\": 4, \"dim\": 32, \"heads\": 4, \"enc_layers\": 2, "
    "\"dec_layers\": 2, \"dec_len\": 8, \"vocab\": 50, \"cls_token\": true}";

static void
check_config(void)
{
	static const struct {
		const char *json, *err;
	} bad[] = {
		{"{\"image\": 16, \"patch\": 4, \"dim\": 32, \"heads\": 4, \"enc_layers\": 2, "
		    "\"dec_layers\": 2, \"dec_len\": 8, \"vocabulary\": 5}", "vocabulary: unknown key"},
		{"{\"image\": 16, \"patch\": 4, \"dim\": 32, \"heads\": 4, \"enc_layers\": 2, "
		    "\"dec_layers\": 2}", "dec_len: missing"},
		{"{\"image\": 16, \"patch\": 5, \"dim\": 32, \"heads\": 4, \"enc_layers\": 2, "
		    "\"dec_layers\": 2, \"dec_len\": 8}", "patch: 5 does not divide image 16"},
		{"{\"image\": 16, \"patch\": 4, \"dim\": 30, \"heads\": 4, \"enc_layers\": 2, "
		    "\"dec_layers\": 2, \"dec_len\": 8}", "heads: 4 does not divide dim 30"},
		{"{\"image\": 16, \"patch\": 4, \"dim\": 32, \"heads\": 4, \"enc_layers\": 2, "
		    "\"dec_layers\": 2, \"dec_len\": 8, \"gelu\": \"relu\"}", "gelu: expected"},
		{"{\"image\": 16, \"patch\": 4, \"dim\": 32, \"heads\": 4, \"enc_layers\": 2, "
		    "\"dec_layers\": 2, \"dec_len\": 8, \"cls_token\": 1}", "cls_token: expected"},
		{"{\"image\": 16, \"patch\": 4, \"dim\": 32.5, \"heads\": 4, \"enc_layers\": 2, "
		    "\"dec_layers\": 2, \"dec_len\": 8}", "dim: expected an integer"},
		{"{\"image\": 16, \"patch\": 4, \"dim\": 32, \"heads\": 4, \"enc_layers\": 2, "
		    "\"dec_layers\": 2, \"dec_len\": 8, \"std\": [0.5, 0, 0.5]}", "std: the green"},
		{"{\"image\": 16, \"patch\": 4, \"dim\": 32, \"heads\": 4, \"enc_layers\": 2, "
		    "\"dec_layers\": 2, \"dec_len\": 8, \"mean\": [0.5, 0.5]}", "mean: expected an array"},
		{"{\"image\": 16, \"patch\": 4, \"dim\": 32, \"heads\": 4, \"enc_layers\": 2, "
		    "\"dec_layers\": 2, \"dec_len\": 0}", "dec_len: 0 is out of range"},
		{"{\"image\": 16, \"patch\": 4, \"dim\": 32, \"heads\": 4, \"enc_layers\": 2, "
		    "\"dec_layers\": 2, \"dec_len\": 8, \"vocab\": 3}", "vocab: 3 is out of range"},
		{"{\"image\": 16, \"image\": 16}", "line 1"},
		{"[1]", "expected a JSON object"},
	};
	struct config c, d;
	char err[256], *json;
	size_t i;

	expect(config_preset(&c, "tiny") == 0 && c.image == 64 && c.patch == 8 && c.dim == 192 &&
	    c.heads == 6 && c.enc_layers == 4 && c.dec_layers == 4 && c.dec_len == 24 &&
	    c.mlp_ratio == 4 && !c.cls_token && c.gelu == GELU_TANH && c.ln_eps == 1e-5,
	    "config: the tiny preset");
	expect(config_preset(&c, "small") == 0 && c.image == 224 && c.dim == 384 &&
	    c.enc_layers == 6 && c.dec_len == 32, "config: the small preset");
	expect(config_preset(&c, "base") == 0 && c.dim == 768 && c.heads == 12 &&
	    c.enc_layers == 12 && c.dec_layers == 6 && c.dec_len == 40, "config: the base preset");
	expect(config_preset(&c, "huge") == -1, "config: an unknown preset");
	c.vocab = 1234;
	c.cls_token = 1;
	c.gelu = GELU_EXACT;
	c.mean[0] = 0.485;
	c.std[2] = 0.225;
	json = config_json(&c);
	expect(config_parse(&d, json, err, sizeof err) == 0 && memcmp(&c, &d, sizeof c) == 0,
	    "config: JSON round trip: %s", json);
	expect(strstr(json, "\"ln_eps\":1e-5") != NULL, "config: ln_eps written as 1e-5");
	free(json);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = config_parse(&c, bad[i].json, err, sizeof err);

		expect(rc == -1 && strstr(err, bad[i].err) == err, "config: rejects, naming the key: %s",
		    rc == -1 ? err : "(accepted)");
	}
	expect(config_load(&c, "nonsense", err, sizeof err) == -1 &&
	    strstr(err, "not a preset") != NULL, "config: %s", err);
}

static void
check_table(void)
{
	struct param_table t;
	struct config c;
	char err[256];
	size_t off = 0;
	int i, j, dup = 0, order = 1, decay = 1, enc = 1;

	config_parse(&c, small_json, err, sizeof err);
	param_table_build(&t, &c);
	for (i = 0; i < t.n; i++) {
		const struct param *e = &t.v[i];
		int is_linear_weight = e->ndim == 2 && strstr(e->name, ".weight") &&
		    !strstr(e->name, "tok_embed");

		order &= e->offset == off;
		off += e->size;
		for (j = 0; j < i; j++)
			dup |= strcmp(t.v[j].name, e->name) == 0;
		decay &= !!(e->flags & PARAM_DECAY) == is_linear_weight;
		enc &= !!(e->flags & PARAM_ENCODER) == (strncmp(e->name, "encoder.", 8) == 0);
		enc &= (e->flags & PARAM_ENCODER) ? e->offset < t.enc_total : e->offset >= t.enc_total;
	}
	expect(order && off == t.total, "params: %d tensors packed in order, %zu floats", t.n,
	    t.total);
	expect(!dup, "params: names unique");
	expect(decay, "params: weight decay on the linear maps' weights only");
	expect(enc, "params: encoder tensors first, flagged");
	expect(param_find(&t, "encoder.cls_token") == 2 &&
	    t.v[2].ndim == 2 && t.v[2].shape[0] == 1 && t.v[2].shape[1] == 32,
	    "params: encoder.cls_token [1, D]");
	i = param_find(&t, "decoder.blocks.1.cross_attn.kv.weight");
	expect(i >= 0 && t.v[i].shape[0] == 64 && t.v[i].shape[1] == 32,
	    "params: decoder.blocks.1.cross_attn.kv.weight [2D, D]");
	i = param_find(&t, "encoder.pos_embed");
	expect(i >= 0 && t.v[i].shape[0] == 17, "params: encoder.pos_embed has patches + 1 rows");
	param_table_free(&t);
}

static struct model *
new_small(int cls, uint64_t seed)
{
	struct config c;
	char err[256];
	struct model *m;

	config_parse(&c, small_json, err, sizeof err);
	c.cls_token = cls;
	m = model_new(&c, &backend_cpu);
	model_init(m, seed);
	return m;
}

static int
same_params(struct model *a, struct model *b)
{
	return a->tab.total == b->tab.total &&
	    memcmp(a->params, b->params, a->tab.total * sizeof(float)) == 0;
}

/* Writes a checkpoint with one change made by edit, then loads it. */
static int
load_edited(struct model *m, const char *path, int edit, char *err, size_t errsz)
{
	struct record rec = {0};
	struct model *l;
	int64_t shape[2] = {3, 3};
	int i;

	checkpoint_record(&rec, &m->cfg, &m->tab, "v");
	for (i = 0; i < m->tab.n; i++)
		memcpy(rec.t[i].data, m->params + m->tab.v[i].offset, rec.t[i].nbytes);
	if (edit == 1)
		record_drop(&rec, "decoder.blocks.1.mlp.fc2.bias");
	else if (edit == 2)
		record_put(&rec, "encoder.blocks.0.attn.qkv.weight", DT_F32, 2, shape, NULL);
	else if (edit == 3)
		record_put(&rec, "decoder.ln_f.weight", DT_F16, 1, shape, NULL);
	else if (edit == 4)
		record_put(&rec, "decoder.head.weight", DT_F32, 2, shape, NULL);
	else if (edit == 5)
		record_set_meta(&rec, "config", "{\"image\": 16}");
	if (record_save(path, &rec, err, errsz) != 0)
		eprintf("%s", err);
	record_free(&rec);
	l = model_load(path, &backend_cpu, NULL, err, errsz);
	model_free(l);
	return l ? 0 : -1;
}

static void
check_checkpoint(const char *dir)
{
	static const char *want[] = {
		NULL,
		"tensor decoder.blocks.1.mlp.fc2.bias: missing",
		"tensor encoder.blocks.0.attn.qkv.weight: shape [3, 3], expected [96, 32] for the config",
		"tensor decoder.ln_f.weight: dtype F16, expected F32",
		"tensor decoder.head.weight: not part of a model of this config",
		"__metadata__.config: patch: missing",
	};
	struct model *m = new_small(1, 7), *l;
	char path[4096], err[512], *vocab = NULL;
	int i;

	snprintf(path, sizeof path, "%s/ck.safetensors", dir);
	expect(model_save(m, path, "a\nb\n", err, sizeof err) == 0, "checkpoint: save");
	l = model_load(path, &backend_cpu, &vocab, err, sizeof err);
	expect(l && same_params(m, l) && strcmp(vocab, "a\nb\n") == 0 &&
	    memcmp(&l->cfg, &m->cfg, sizeof m->cfg) == 0,
	    "checkpoint: loads back the same bits, config and vocab");
	{
		char f1[17], f2[17], f3[17];

		model_encoder_fingerprint(m, f1);
		model_encoder_fingerprint(l, f2);
		l->params[l->tab.enc_total] += 1;       /* the first decoder tensor */
		model_encoder_fingerprint(l, f3);
		i = strcmp(f1, f2) == 0 && strcmp(f1, f3) == 0;
		l->params[0] += 1;
		model_encoder_fingerprint(l, f3);
		expect(i && strcmp(f1, f3) != 0 && strlen(f1) == 16,
		    "encoder fingerprint %s: kept by save and load, blind to the decoder, "
		    "changed by an encoder weight", f1);
	}
	free(vocab);
	model_free(l);
	for (i = 1; i < 6; i++) {
		int rc = load_edited(m, path, i, err, sizeof err);
		const char *msg = strchr(err, ':') ? strchr(err, ':') + 2 : err;

		expect(rc == -1 && strcmp(msg, want[i]) == 0, "checkpoint: %s",
		    rc == -1 ? err : "(loaded)");
	}
	if (truncate(path, 100) != 0)
		eprintf("truncate %s:", path);
	l = model_load(path, &backend_cpu, NULL, err, sizeof err);
	expect(!l && strstr(err, "truncated") != NULL, "checkpoint: %s", err);
	snprintf(path, sizeof path, "%s/no/such/dir/x.safetensors", dir);
	expect(model_save(m, path, NULL, err, sizeof err) == -1, "checkpoint: %s", err);
	model_free(m);
}

/* Same seed, same inputs, same thread count: the same bits, step after step. */
static void
check_determinism(void)
{
	struct model *a = new_small(1, 3), *b = new_small(1, 3);
	struct batch x;
	int i, same = 1;

	make_batch(&x, &a->cfg, 4, 8, 5, 0);
	model_reserve(a, 4, mode_flags(MODE_FULL));
	model_reserve(b, 4, mode_flags(MODE_FULL));
	for (i = 0; i < 3; i++) {
		float la = train_step(a, &x, MODE_FULL, NULL), lb = train_step(b, &x, MODE_FULL, NULL);

		same &= memcmp(&la, &lb, sizeof la) == 0;
	}
	expect(same && same_params(a, b), "determinism: 3 steps, bit-identical losses and weights");
	free_batch(&x);
	model_free(a);
	model_free(b);
}

/* The loss at initialisation is near log(V): the logits start small. */
static void
check_initial_loss(void)
{
	struct model *m = new_small(0, 11);
	struct batch x;
	float loss;

	make_batch(&x, &m->cfg, 4, 8, 12, 0);
	model_reserve(m, 4, MODEL_ENCODER | MODEL_DECODER);
	loss = forward(m, &x, MODE_FROZEN, x.targets);
	expect(fabsf(loss - logf(50)) < 0.1f, "initial loss %.4f near log(50) = %.4f", loss,
	    logf(50));
	free_batch(&x);
	model_free(m);
}

/* The directional derivative of the loss along a random direction, by centred
 * differences in fp32, against the gradient's dot product with it. */
static void
check_directional(int cls, int mode)
{
	struct model *m = new_small(cls, 21);
	size_t n = m->tab.total, i, off = mode == MODE_FULL ? 0 : m->tab.enc_total;
	float *dir = emalloc(n * sizeof *dir), *keep = emalloc(n * sizeof *keep);
	const float h = 1e-3f;
	uint64_t s = 99;
	double dot = 0, fd, lp, lm;
	struct batch x;

	make_batch(&x, &m->cfg, 3, 8, 22, mode == MODE_EMBED);
	model_reserve(m, 3, mode_flags(mode));
	forward(m, &x, mode, x.targets);
	model_zero_grad(m);
	model_backward(m, 0);
	memcpy(keep, m->params, n * sizeof *keep);
	for (i = 0; i < n; i++) {
		dir[i] = i < off ? 0 : (float)((splitmix64(&s) >> 11) * (2.0 / 9007199254740992.0) - 1);
		dot += (double)dir[i] * m->grads[i];
	}
	for (i = 0; i < n; i++)
		m->params[i] = keep[i] + h * dir[i];
	lp = forward(m, &x, mode, x.targets);
	for (i = 0; i < n; i++)
		m->params[i] = keep[i] - h * dir[i];
	lm = forward(m, &x, mode, x.targets);
	fd = (lp - lm) / (2 * h);
	expect(fabs(fd - dot) < 1e-2 * fabs(dot), "gradient along a random direction (%s%s): "
	    "%.6f by differences, %.6f by backward", mode == MODE_FULL ? "full" :
	    mode == MODE_FROZEN ? "frozen" : "embed", cls ? ", class token" : "", fd, dot);
	free(dir);
	free(keep);
	free_batch(&x);
	model_free(m);
}

/* A frozen encoder stays as it was; the decoder moves. Training from images
 * and from the embeddings model_encode gives are the same. */
static void
check_frozen(void)
{
	struct model *a = new_small(1, 31), *b = new_small(1, 31);
	size_t enc = a->tab.enc_total, n = a->tab.total;
	float *before = emalloc(n * sizeof *before);
	struct batch x;
	float la = 0, lb = 0;
	int i;

	memcpy(before, a->params, n * sizeof *before);
	make_batch(&x, &a->cfg, 3, 8, 32, 1);
	model_reserve(a, 3, mode_flags(MODE_FROZEN));
	model_reserve(b, 3, mode_flags(MODE_EMBED));
	if (model_encode(b, x.images, 3, x.embed) != 0)
		eprintf("%s", b->err);
	for (i = 0; i < 3; i++) {
		la = train_step(a, &x, MODE_FROZEN, NULL);
		lb = train_step(b, &x, MODE_EMBED, NULL);
	}
	expect(memcmp(before, a->params, enc * sizeof *before) == 0 &&
	    memcmp(before + enc, a->params + enc, (n - enc) * sizeof *before) != 0,
	    "frozen encoder: encoder unchanged after 3 steps, decoder changed");
	expect(la == lb && same_params(a, b),
	    "frozen encoder: from images and from their embeddings, the same steps");
	free(before);
	free_batch(&x);
	model_free(a);
	model_free(b);
}

/* Inference's last-position logits are the full forward's at T-1, and a
 * model reserved for inference only computes the same. */
static void
check_next_logits(void)
{
	struct model *m = new_small(0, 41), *inf = new_small(0, 41);
	const int B = 3, T = 5, V = 50;
	float *all = emalloc((size_t)B * T * V * sizeof *all), *last = emalloc(B * V * sizeof *last);
	float *last2 = emalloc(B * V * sizeof *last2);
	double err = 0;
	struct batch x;
	int b, v;

	make_batch(&x, &m->cfg, B, T, 42, 0);
	model_reserve(m, B, mode_flags(MODE_FULL));
	forward(m, &x, MODE_FULL, NULL);
	model_logits(m, all);
	if (model_next_logits(m, x.ids, B, T, last) != 0)
		eprintf("%s", m->err);
	for (b = 0; b < B; b++)
		for (v = 0; v < V; v++)
			err = fmax(err, fabs(last[b * V + v] - all[((size_t)b * T + T - 1) * V + v]));
	expect(err < 1e-5, "next logits = the full forward's last position (max diff %.2g)", err);
	model_reserve(inf, B, MODEL_ENCODER | MODEL_DECODER);
	if (model_encode(inf, x.images, B, NULL) != 0 ||
	    model_next_logits(inf, x.ids, B, T, last2) != 0)
		eprintf("%s", inf->err);
	expect(memcmp(last, last2, B * V * sizeof *last) == 0,
	    "inference reserve (one block per stack): the same logits");
	x.ids[4] = 50;
	expect(model_next_logits(inf, x.ids, B, T, last2) == -1 &&
	    strcmp(inf->err, "token id 50 at [0, 4] is out of range for a vocabulary of 50") == 0,
	    "bad token id: %s", inf->err);
	expect(model_next_logits(inf, x.ids, B + 1, T, last2) == -1,
	    "batch over the reserve: %s", inf->err);
	free(all);
	free(last);
	free(last2);
	free_batch(&x);
	model_free(m);
	model_free(inf);
}

/* Incremental decoding gives the logits of the full forward over each prefix,
 * also after beam search's reordering; the rows share one image, so any row
 * may continue any other. */
static void
check_decode(void)
{
	struct model *inc = new_small(1, 61), *full = new_small(1, 61);
	const int B = 3, T = 8, V = 50;
	const int32_t parent[3] = {2, 0, 0};
	int32_t seq[3][8], prefix[3 * 8], step_ids[3];
	float *got = emalloc(B * V * sizeof *got), *want = emalloc(B * V * sizeof *want);
	double err = 0;
	struct batch x;
	size_t img = (size_t)16 * 16 * 3;
	int t, b, v, bad;

	make_batch(&x, &inc->cfg, B, T, 62, 0);
	for (b = 1; b < B; b++)
		memcpy(x.images + b * img, x.images, img);
	for (b = 0; b < B; b++)
		for (t = 0; t < T; t++)
			seq[b][t] = 4 + (b * 7 + t * 5) % (V - 4);
	model_reserve(inc, B, MODEL_ENCODER | MODEL_DECODER);
	model_reserve(full, B, MODEL_ENCODER | MODEL_DECODER);
	if (model_encode(inc, x.images, B, NULL) != 0 || model_decode_start(inc, B) != 0 ||
	    model_encode(full, x.images, B, NULL) != 0)
		eprintf("%s", inc->err);
	for (t = 0; t < T; t++) {
		if (t == 5) {
			int32_t old[3][8];

			if (model_decode_reorder(inc, parent) != 0)
				eprintf("%s", inc->err);
			memcpy(old, seq, sizeof old);
			for (b = 0; b < B; b++)
				memcpy(seq[b], old[parent[b]], 5 * sizeof(int32_t));
		}
		for (b = 0; b < B; b++) {
			step_ids[b] = seq[b][t];
			memcpy(prefix + b * (t + 1), seq[b], (t + 1) * sizeof(int32_t));
		}
		if (model_decode_step(inc, step_ids, got) != 0 ||
		    model_next_logits(full, prefix, B, t + 1, want) != 0)
			eprintf("%s%s", inc->err, full->err);
		for (v = 0; v < B * V; v++)
			err = fmax(err, fabs(got[v] - want[v]));
	}
	expect(err < 1e-5, "incremental decoding = full forward of each prefix, with a beam "
	    "reorder after step 5 (max diff %.2g)", err);
	bad = model_decode_step(inc, step_ids, got) == -1 &&
	    strcmp(inc->err, "step 9: the model has 8 decoder positions") == 0;
	expect(bad, "decoding past dec_len: %s", inc->err);
	expect(model_decode_reorder(inc, (int32_t[]){0, 3, 1}) == -1,
	    "bad parent: %s", inc->err);
	model_reserve(full, B, mode_flags(MODE_FULL));
	expect(model_decode_start(full, B) == -1, "decoding in a training reserve: %s", full->err);
	free(got);
	free(want);
	free_batch(&x);
	model_free(inc);
	model_free(full);
}

/* A queue that is not there: the CPU backend posing as one with a queue, for
 * model_decode_greedy's reading of the ended rows every MODEL_GREEDY_CHECK
 * steps. */
static void *
fake_queue(void)
{
	static int q;

	return &q;
}

/* Greedy decoding on the device (model_decode_greedy) = the host's loop over
 * model_decode_step (search.c's rule, written out here): the same words,
 * lengths and log-probabilities, bit for bit on the CPU, whether the ended
 * rows are read after every step or every MODEL_GREEDY_CHECK steps; the
 * number of steps taken; misuse. <eos>'s embedding is scaled up so that the
 * rows end after different numbers of steps. */
static void
check_decode_greedy(void)
{
	struct model *m = new_small(1, 71);
	struct backend queued = backend_cpu;
	const int B = 5, V = 50, L = 7, D = m->cfg.dim;
	int32_t tok[5], seq[5][8], len[5], ids[5 * 8], glen[5];
	double lp[5], glp[5];
	float *logits = emalloc(B * V * sizeof *logits);
	int t, b, v, k, steps, ndone = 0, lens = 0, same;
	struct batch x;

	queued.stream = fake_queue;
	for (v = 0; v < D; v++)
		m->w.tok[TOK_EOS * D + v] *= 2.8f;
	make_batch(&x, &m->cfg, B, 8, 72, 0);
	model_reserve(m, B, MODEL_ENCODER | MODEL_DECODER);
	if (model_encode(m, x.images, B, NULL) != 0 || model_decode_start(m, B) != 0)
		eprintf("%s", m->err);
	for (b = 0; b < B; b++) {
		tok[b] = TOK_BOS;
		len[b] = 0;
		lp[b] = 0;
	}
	for (t = 0; t <= L && ndone < B; t++) {
		if (model_decode_step(m, tok, logits) != 0)
			eprintf("%s", m->err);
		for (b = 0; b < B; b++) {
			const float *z = logits + b * V;
			int32_t c = TOK_EOS;

			if (tok[b] == TOK_EOS)
				continue;
			for (v = TOK_EOS + 1; v < V && t < L; v++)
				c = z[v] > z[c] ? v : c;
			lp[b] += (double)z[c] - logsumexp(z, V);
			if (c != TOK_EOS)
				seq[b][len[b]++] = c;
			ndone += c == TOK_EOS;
			tok[b] = c;
		}
	}
	steps = t;
	for (b = 0; b < B; b++)
		lens |= 1 << len[b];
	expect(__builtin_popcount(lens) >= 2 && steps > 1 && steps <= L, "greedy reference: "
	    "%d steps, caption lengths %d %d %d %d %d", steps, len[0], len[1], len[2], len[3],
	    len[4]);
	for (k = 0; k < 2; k++) {
		const int want = k ? (steps + MODEL_GREEDY_CHECK - 1) / MODEL_GREEDY_CHECK *
		    MODEL_GREEDY_CHECK : steps;

		m->be = k ? &queued : &backend_cpu;
		if (model_decode_start(m, B) != 0 || model_decode_greedy(m, L, ids, glen, glp) != 0)
			eprintf("%s", m->err);
		same = 1;
		for (b = 0; b < B; b++)
			same &= glen[b] == len[b] && memcmp(glp + b, lp + b, sizeof *lp) == 0 &&
			    memcmp(ids + b * (L + 1), seq[b], len[b] * sizeof *ids) == 0;
		expect(same, "model_decode_greedy = model_decode_step and the host's choice, "
		    "read every %d steps", k ? MODEL_GREEDY_CHECK : 1);
		expect(m->dec_pos == (want < L + 1 ? want : L + 1), "%d steps taken, %d wanted",
		    m->dec_pos, want < L + 1 ? want : L + 1);
	}
	m->be = &backend_cpu;
	expect(model_decode_greedy(m, L, ids, glen, glp) == -1 &&
	    strcmp(m->err, "greedy decoding after 4 steps: it starts at <bos>") == 0,
	    "greedy decoding not at the start: %s", m->err);
	model_decode_start(m, B);
	expect(model_decode_greedy(m, 8, ids, glen, glp) == -1,
	    "more words than positions: %s", m->err);
	model_reserve(m, B, MODEL_ENCODER | MODEL_DECODER);
	expect(model_decode_greedy(m, L, ids, glen, glp) == -1 &&
	    strcmp(m->err, "no model_decode_start") == 0, "greedy decoding without a start: %s",
	    m->err);
	free(logits);
	free_batch(&x);
	model_free(m);
}

/* Saving parameters and optimizer state, then resuming, repeats the same losses. */
static void
check_resume(const char *dir)
{
	struct model *a = new_small(0, 51), *b;
	struct record rec = {0}, in = {0};
	char path[4096], err[512];
	float la[2], lb[2];
	struct batch x;
	struct reader r;
	FILE *fp;
	int i;

	make_batch(&x, &a->cfg, 3, 8, 52, 0);
	model_reserve(a, 3, mode_flags(MODE_FULL));
	for (i = 0; i < 2; i++)
		train_step(a, &x, MODE_FULL, NULL);
	snprintf(path, sizeof path, "%s/resume.safetensors", dir);
	if (model_save(a, path, "", err, sizeof err) != 0)
		eprintf("%s", err);
	b = model_load(path, &backend_cpu, NULL, err, sizeof err);
	snprintf(path, sizeof path, "%s/optim.safetensors", dir);
	model_optimizer_put(a, &rec);
	if (record_save(path, &rec, err, sizeof err) != 0)
		eprintf("%s", err);
	for (i = 0; i < 2; i++)
		la[i] = train_step(a, &x, MODE_FULL, NULL);
	model_reserve(b, 3, mode_flags(MODE_FULL));
	fp = fopen(path, "rb");
	reader_init(&r, fp, path);
	if (record_read(&r, &in) != 1 || model_optimizer_get(b, &in, err, sizeof err) != 0)
		eprintf("%s", err);
	fclose(fp);
	for (i = 0; i < 2; i++)
		lb[i] = train_step(b, &x, MODE_FULL, NULL);
	expect(memcmp(la, lb, sizeof la) == 0 && b->step == 4 && same_params(a, b),
	    "resume: saved weights and optimizer state repeat the same 2 steps");
	record_drop(&in, "adamw.v.decoder.ln_f.bias");
	expect(model_optimizer_get(b, &in, err, sizeof err) == -1 &&
	    strcmp(err, "tensor adamw.v.decoder.ln_f.bias: missing") == 0, "resume: %s", err);
	record_free(&rec);
	record_free(&in);
	free_batch(&x);
	model_free(a);
	model_free(b);
}

/* The count against the rule of thumb: 2 flops per weight of a matrix product per
 * token it sees (attention's scores are the few percent on top), and a training
 * step 3 times the forward (no input gradient for the patch embedding). */
static void
check_flops(void)
{
	struct config c;
	double D, N, T, V, rule, fwd, step;

	config_preset(&c, "tiny");
	c.vocab = 1000;
	D = c.dim, N = config_enc_len(&c), T = c.dec_len, V = c.vocab;
	rule = 2 * (c.enc_layers * 12 * D * D * N + 3 * 64 * D * N +
	    c.dec_layers * (14 * D * D * T + 2 * D * D * N) + V * D * T);
	fwd = model_flops(&c, MODEL_ENCODER | MODEL_DECODER, c.dec_len);
	step = model_flops(&c, MODEL_ENCODER | MODEL_DECODER | MODEL_TRAIN, c.dec_len);
	expect(fwd > rule && fwd < 1.1 * rule && step > 2.95 * fwd && step < 3 * fwd,
	    "flops: tiny forward %.4g (2 x weights x tokens: %.4g), step %.4g", fwd, rule, step);
}

/* model_backward's grad_ready hook: ranges in order, each just below the one
 * before, covering the trained gradients once, each final when handed over. */
struct ranges {
	struct model *m;
	float *lo;              /* the last range's start */
	size_t n, calls;
	int final;              /* every range equal to the gradients at the end */
	float *copy;
};

static void
on_ready(void *arg, float *g, size_t n)
{
	struct ranges *r = arg;

	if (r->lo && g + n != r->lo)
		r->final = -1;
	r->lo = g;
	r->n += n;
	r->calls++;
	memcpy(r->copy + (g - r->m->grads), g, n * sizeof *g);
}

static void
check_grad_ready(int mode)
{
	struct model *m = new_small(1, 41);
	struct ranges r = {m, NULL, 0, 0, 1, NULL};
	size_t n;
	float *g;
	struct batch x;

	make_batch(&x, &m->cfg, 3, 8, 42, mode == MODE_EMBED);
	model_reserve(m, 3, mode_flags(mode));
	r.copy = ecalloc(m->tab.total, sizeof *r.copy);
	m->grad_ready = on_ready;
	m->grad_ready_arg = &r;
	forward(m, &x, mode, x.targets);
	model_zero_grad(m);
	model_backward(m, 0);
	g = model_trained_grads(m, &n);
	expect(r.final == 1 && r.lo == g && r.n == n && r.calls > 2 &&
	    memcmp(r.copy + (g - m->grads), g, n * sizeof *g) == 0,
	    "grad_ready (%s): %zu calls, %zu of %zu floats, in order %d, down to %td",
	    mode == MODE_FULL ? "full" : "embed", r.calls, r.n, n, r.final, r.lo - g);
	free(r.copy);
	free_batch(&x);
	model_free(m);
}

static int
selfcheck(void)
{
	char dir[] = "/tmp/test_model.XXXXXX", cmd[64];

	if (!mkdtemp(dir))
		eprintf("mkdtemp:");
	check_config();
	check_table();
	check_checkpoint(dir);
	check_determinism();
	check_initial_loss();
	check_directional(0, MODE_FULL);
	check_directional(1, MODE_FULL);
	check_directional(1, MODE_FROZEN);
	check_directional(0, MODE_EMBED);
	check_frozen();
	check_grad_ready(MODE_FULL);
	check_grad_ready(MODE_EMBED);
	check_next_logits();
	check_decode();
	check_decode_greedy();
	check_resume(dir);
	check_flops();
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		weprintf("could not remove %s", dir);
	if (failures)
		printf("%d FAILED\n", failures);
	return failures != 0;
}

int
main(int argc, char *argv[])
{
	setprogname("test_model");
	setvbuf(stdout, NULL, _IOLBF, 0);   /* lines interleave with errors */
	if (argc == 1)
		return selfcheck();
	if (argc == 6 && strcmp(argv[1], "dump") == 0)
		return dump(argv[2], estrtonum(argv[3], 0, 1LL << 62, "seed"), argv[4],
		    parse_mode(argv[5]));
	if (argc == 7 && strcmp(argv[1], "train") == 0)
		return train(argv[2], estrtonum(argv[3], 0, 1LL << 62, "seed"),
		    estrtonum(argv[4], 1, 100000, "steps"), argv[5], parse_mode(argv[6]));
	if (argc == 4 && strcmp(argv[1], "resave") == 0)
		return resave(argv[2], argv[3]);
	if (argc == 7 && strcmp(argv[1], "bench") == 0)
		return bench(argv[2], estrtonum(argv[3], 4, 1 << 24, "vocab"),
		    estrtonum(argv[4], 1, 65536, "batch"), estrtonum(argv[5], 1, 100000, "steps"),
		    parse_mode(argv[6]));
	uprintf("usage: test_model [dump CONFIG SEED DIR MODE | train CONFIG SEED N DIR MODE | "
	    "resave IN OUT | bench CONFIG VOCAB B STEPS MODE]");
}
