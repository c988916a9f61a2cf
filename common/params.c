/* params.c: the parameter table, the pointer structs and the initial values.
 *
 * One walk (walk() below) states the tensors' order, names, shapes and kinds;
 * building the table and pointing a struct weights into a buffer both run it, so
 * the two cannot disagree. */
#include "params.h"
#include "util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct walker {
	struct param_table *t;          /* entries appended here, when not NULL */
	float *base;                    /* pointers handed out into this, when not NULL */
	size_t off;
	int flags;                      /* PARAM_ENCODER while walking the encoder */
};

enum { MATRIX, VECTOR_ZERO, VECTOR_ONE, EMBED };

static float *
add(struct walker *k, int kind, float std, int d0, int d1, const char *fmt, ...)
{
	size_t size = (size_t)d0 * (d1 ? (size_t)d1 : 1);
	float *p = k->base ? k->base + k->off : NULL;

	if (k->t) {
		struct param *e;
		va_list ap;

		k->t->v = ereallocarray(k->t->v, k->t->n + 1, sizeof *k->t->v);
		e = &k->t->v[k->t->n++];
		memset(e, 0, sizeof *e);
		va_start(ap, fmt);
		vsnprintf(e->name, sizeof e->name, fmt, ap);
		va_end(ap);
		e->ndim = d1 ? 2 : 1;
		e->shape[0] = d0;
		e->shape[1] = d1;
		e->size = size;
		e->offset = k->off;
		e->flags = k->flags | (kind == MATRIX ? PARAM_DECAY : 0);
		e->init = kind == VECTOR_ZERO ? INIT_ZERO : kind == VECTOR_ONE ? INIT_ONE :
		    INIT_NORMAL;
		e->std = std;
	}
	k->off += size;
	return p;
}

/* A linear map's weight [out, in] and bias [out]. */
static void
linear(struct walker *k, float **w, float **b, int out, int in, float std, const char *prefix,
    int i, const char *name)
{
	*w = add(k, MATRIX, std, out, in, "%s.blocks.%d.%s.weight", prefix, i, name);
	*b = add(k, VECTOR_ZERO, 0, out, 0, "%s.blocks.%d.%s.bias", prefix, i, name);
}

static void
layernorm(struct walker *k, float **w, float **b, int D, const char *prefix, int i,
    const char *name)
{
	if (i < 0) {
		*w = add(k, VECTOR_ONE, 0, D, 0, "%s.%s.weight", prefix, name);
		*b = add(k, VECTOR_ZERO, 0, D, 0, "%s.%s.bias", prefix, name);
	} else {
		*w = add(k, VECTOR_ONE, 0, D, 0, "%s.blocks.%d.%s.weight", prefix, i, name);
		*b = add(k, VECTOR_ZERO, 0, D, 0, "%s.blocks.%d.%s.bias", prefix, i, name);
	}
}

static void
walk(const struct config *c, struct walker *k, struct weights *w)
{
	const int D = c->dim, F = config_hidden(c), P = c->patch;
	const float std = 0.02f;
	const float enc_res = std / sqrtf(2.0f * (c->enc_layers ? c->enc_layers : 1));
	const float dec_res = std / sqrtf(3.0f * (c->dec_layers ? c->dec_layers : 1));
	int i;

	k->flags = PARAM_ENCODER;
	w->patch_w = add(k, MATRIX, std, D, 3 * P * P, "encoder.patch_embed.weight");
	w->patch_b = add(k, VECTOR_ZERO, 0, D, 0, "encoder.patch_embed.bias");
	w->cls = c->cls_token ? add(k, EMBED, std, 1, D, "encoder.cls_token") : NULL;
	w->enc_pos = add(k, EMBED, std, config_enc_len(c), D, "encoder.pos_embed");
	for (i = 0; i < c->enc_layers; i++) {
		struct enc_block *b = &w->enc[i];

		layernorm(k, &b->ln1_w, &b->ln1_b, D, "encoder", i, "ln1");
		linear(k, &b->qkv_w, &b->qkv_b, 3 * D, D, std, "encoder", i, "attn.qkv");
		linear(k, &b->proj_w, &b->proj_b, D, D, enc_res, "encoder", i, "attn.proj");
		layernorm(k, &b->ln2_w, &b->ln2_b, D, "encoder", i, "ln2");
		linear(k, &b->fc1_w, &b->fc1_b, F, D, std, "encoder", i, "mlp.fc1");
		linear(k, &b->fc2_w, &b->fc2_b, D, F, enc_res, "encoder", i, "mlp.fc2");
	}
	layernorm(k, &w->enc_lnf_w, &w->enc_lnf_b, D, "encoder", -1, "ln_f");
	if (k->t)
		k->t->enc_total = k->off;

	k->flags = 0;
	w->tok = add(k, EMBED, std, c->vocab, D, "decoder.tok_embed.weight");
	w->dec_pos = add(k, EMBED, std, c->dec_len, D, "decoder.pos_embed");
	for (i = 0; i < c->dec_layers; i++) {
		struct dec_block *b = &w->dec[i];

		layernorm(k, &b->ln1_w, &b->ln1_b, D, "decoder", i, "ln1");
		linear(k, &b->qkv_w, &b->qkv_b, 3 * D, D, std, "decoder", i, "self_attn.qkv");
		linear(k, &b->proj_w, &b->proj_b, D, D, dec_res, "decoder", i, "self_attn.proj");
		layernorm(k, &b->ln2_w, &b->ln2_b, D, "decoder", i, "ln2");
		linear(k, &b->xq_w, &b->xq_b, D, D, std, "decoder", i, "cross_attn.q");
		linear(k, &b->xkv_w, &b->xkv_b, 2 * D, D, std, "decoder", i, "cross_attn.kv");
		linear(k, &b->xproj_w, &b->xproj_b, D, D, dec_res, "decoder", i, "cross_attn.proj");
		layernorm(k, &b->ln3_w, &b->ln3_b, D, "decoder", i, "ln3");
		linear(k, &b->fc1_w, &b->fc1_b, F, D, std, "decoder", i, "mlp.fc1");
		linear(k, &b->fc2_w, &b->fc2_b, D, F, dec_res, "decoder", i, "mlp.fc2");
	}
	layernorm(k, &w->dec_lnf_w, &w->dec_lnf_b, D, "decoder", -1, "ln_f");
	if (k->t)
		k->t->total = k->off;
}

static void
weights_alloc(struct weights *w, const struct config *c)
{
	memset(w, 0, sizeof *w);
	w->enc = ecalloc(c->enc_layers ? c->enc_layers : 1, sizeof *w->enc);
	w->dec = ecalloc(c->dec_layers ? c->dec_layers : 1, sizeof *w->dec);
}

void
weights_free(struct weights *w)
{
	free(w->enc);
	free(w->dec);
	memset(w, 0, sizeof *w);
}

void
param_table_build(struct param_table *t, const struct config *c)
{
	struct walker k = {0};
	struct weights w;

	memset(t, 0, sizeof *t);
	k.t = t;
	weights_alloc(&w, c);
	walk(c, &k, &w);
	weights_free(&w);
}

void
param_table_free(struct param_table *t)
{
	free(t->v);
	memset(t, 0, sizeof *t);
}

int
param_find(const struct param_table *t, const char *name)
{
	int i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, name) == 0)
			return i;
	return -1;
}

void
weights_point(struct weights *w, const struct config *c, float *base)
{
	struct walker k = {0};

	k.base = base;
	weights_alloc(w, c);
	walk(c, &k, w);
}

/* A uniform double in (0, 1]: 53 random bits, never 0 (Box-Muller takes its log). */
static double
uniform(uint64_t *s)
{
	return ((splitmix64(s) >> 11) + 1) * (1.0 / 9007199254740992.0);
}

void
params_init(float *p, const struct param_table *t, uint64_t seed)
{
	int i;

	for (i = 0; i < t->n; i++) {
		const struct param *e = &t->v[i];
		float *x = p + e->offset;
		uint64_t s = seed, h = 14695981039346656037ULL;   /* FNV-1a of the name */
		const char *c;
		size_t j;

		for (c = e->name; *c; c++)
			h = (h ^ (unsigned char)*c) * 1099511628211ULL;
		s ^= h;
		for (j = 0; j < e->size; j++) {
			if (e->init == INIT_ZERO) {
				x[j] = 0;
			} else if (e->init == INIT_ONE) {
				x[j] = 1;
			} else if (j % 2 == 0) {
				/* Box-Muller: two normals from two uniforms */
				double r = sqrt(-2 * log(uniform(&s))), a = 2 * M_PI * uniform(&s);

				x[j] = (float)(e->std * r * cos(a));
				if (j + 1 < e->size)
					x[j + 1] = (float)(e->std * r * sin(a));
			}
		}
	}
}
