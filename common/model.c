/* model.c: the encoder and decoder, forward and backward, composed of backend
 * operations; AdamW, gradient norm and checkpoints over the one-buffer layout.
 * Nothing here reads or writes a device buffer but through m->be. */
#include "model.h"
#include "checkpoint.h"
#include "util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct enc_acts {
	float *ln1, *ln1_mean, *ln1_rstd;       /* (B,N,D), (B,N), (B,N) */
	float *qkv;                             /* (B,N,3D) */
	float *att;                             /* (B,H,N,N) */
	float *atty;                            /* (B,N,D) attention output, before proj */
	float *res1;                            /* (B,N,D) input + attention branch */
	float *ln2, *ln2_mean, *ln2_rstd;
	float *fc1, *gelu;                      /* (B,N,F) */
	float *out;                             /* (B,N,D) res1 + MLP branch */
};

struct dec_acts {
	float *ln1, *ln1_mean, *ln1_rstd;       /* (B,T,D), (B,T), (B,T) */
	float *qkv;                             /* (B,T,3D) */
	float *att;                             /* (B,H,T,T) */
	float *atty, *res1;                     /* (B,T,D) */
	float *ln2, *ln2_mean, *ln2_rstd;
	float *xq;                              /* (B,T,D) cross-attention queries */
	float *xkv;                             /* (B,N,2D) keys, values of the encoder output */
	float *xatt;                            /* (B,H,T,N) */
	float *xatty, *res2;                    /* (B,T,D) */
	float *ln3, *ln3_mean, *ln3_rstd;
	float *fc1, *gelu;                      /* (B,T,F) */
	float *out;                             /* (B,T,D) */
	/* incremental decoding (reserves without MODEL_TRAIN): the self-attention
	 * keys and values of the positions so far, (T,B,D) each so that position t
	 * of every row is one block; two copies, for beam search's reordering */
	float *kcache[2], *vcache[2];
};

struct acts {
	float *cols;                            /* (B,Np,3PP) im2col of the images */
	float *patches;                         /* (B,Np,D) */
	float *enc_in;                          /* (B,N,D) with class token and positions */
	struct enc_acts *enc;                   /* [enc_layers] (all one block without backward) */
	float *enc_out, *enc_mean, *enc_rstd;   /* (B,N,D) after encoder.ln_f: the embeddings */
	float *dec_in;                          /* (B,T,D) token + position */
	struct dec_acts *dec;                   /* [dec_layers] */
	float *dec_out, *dec_mean, *dec_rstd;   /* (B,T,D) after decoder.ln_f */
	float *last;                            /* (B,D) the last position, for inference */
	float *logits;                          /* (B,T,V) logits, then probabilities, then dlogits */
	float *losses;                          /* (B,T) */
	/* backward scratch, shared by all layers */
	float *dres;                            /* (B,max(N,T),D) the residual stream's gradient */
	float *dsmall;                          /* (B,max(N,T),D) */
	float *dbig;                            /* (B,max(N,T),max(F,3D)), or dq and dkv of cross */
	float *datt;                            /* (B,H,max of the attention maps) */
	float *denc;                            /* (B,N,D) gradient of the encoder output */
};

static int
fail(struct model *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->err, sizeof m->err, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- layout ------------------------------------------------------------------ */

struct layout {
	float *base;                            /* NULL while sizing */
	size_t n;
};

static float *
take(struct layout *l, size_t n)
{
	float *p = l->base ? l->base + l->n : NULL;

	/* 16-float alignment keeps every buffer on a cache line */
	l->n += (n + 15) & ~(size_t)15;
	return p;
}

static int
trains_encoder(unsigned flags)
{
	return (flags & MODEL_TRAIN) && !(flags & MODEL_FROZEN_ENCODER);
}

/* Sizes (base NULL) or points (base set) the activations of a batch of B; a
 * stack without backward keeps a single block, all layers pointing at it. */
static size_t
acts_layout(struct acts *a, const struct config *c, int B, unsigned flags, float *base)
{
	const size_t D = c->dim, F = config_hidden(c), H = c->heads, V = c->vocab;
	const size_t N = config_enc_len(c), Np = config_patches(c), T = c->dec_len;
	const size_t P = c->patch, maxNT = N > T ? N : T;
	struct layout l = {base, 0};
	int i;

	if (flags & MODEL_ENCODER) {
		a->cols = take(&l, B * Np * 3 * P * P);
		a->patches = take(&l, B * Np * D);
		a->enc_in = take(&l, B * N * D);
		for (i = 0; i < c->enc_layers; i++) {
			struct enc_acts *e = &a->enc[i];

			if (i > 0 && !trains_encoder(flags)) {
				*e = a->enc[0];
				continue;
			}
			e->ln1 = take(&l, B * N * D);
			e->ln1_mean = take(&l, B * N);
			e->ln1_rstd = take(&l, B * N);
			e->qkv = take(&l, B * N * 3 * D);
			e->att = take(&l, B * H * N * N);
			e->atty = take(&l, B * N * D);
			e->res1 = take(&l, B * N * D);
			e->ln2 = take(&l, B * N * D);
			e->ln2_mean = take(&l, B * N);
			e->ln2_rstd = take(&l, B * N);
			e->fc1 = take(&l, B * N * F);
			e->gelu = take(&l, B * N * F);
			e->out = take(&l, B * N * D);
		}
		a->enc_mean = take(&l, B * N);
		a->enc_rstd = take(&l, B * N);
	}
	a->enc_out = take(&l, B * N * D);
	if (flags & MODEL_DECODER) {
		a->dec_in = take(&l, B * T * D);
		for (i = 0; i < c->dec_layers; i++) {
			struct dec_acts *d = &a->dec[i];

			if (!(flags & MODEL_TRAIN)) {
				/* one block for all layers, but the encoder's keys and values
				 * and the caches, which incremental decoding keeps per layer */
				if (i > 0)
					*d = a->dec[0];
				d->xkv = take(&l, B * N * 2 * D);
				d->kcache[0] = take(&l, T * B * D);
				d->kcache[1] = take(&l, T * B * D);
				d->vcache[0] = take(&l, T * B * D);
				d->vcache[1] = take(&l, T * B * D);
				if (i > 0)
					continue;
			}
			d->ln1 = take(&l, B * T * D);
			d->ln1_mean = take(&l, B * T);
			d->ln1_rstd = take(&l, B * T);
			d->qkv = take(&l, B * T * 3 * D);
			d->att = take(&l, B * H * T * T);
			d->atty = take(&l, B * T * D);
			d->res1 = take(&l, B * T * D);
			d->ln2 = take(&l, B * T * D);
			d->ln2_mean = take(&l, B * T);
			d->ln2_rstd = take(&l, B * T);
			d->xq = take(&l, B * T * D);
			if (flags & MODEL_TRAIN)
				d->xkv = take(&l, B * N * 2 * D);
			d->xatt = take(&l, B * H * T * N);
			d->xatty = take(&l, B * T * D);
			d->res2 = take(&l, B * T * D);
			d->ln3 = take(&l, B * T * D);
			d->ln3_mean = take(&l, B * T);
			d->ln3_rstd = take(&l, B * T);
			d->fc1 = take(&l, B * T * F);
			d->gelu = take(&l, B * T * F);
			d->out = take(&l, B * T * D);
		}
		a->dec_out = take(&l, B * T * D);
		a->dec_mean = take(&l, B * T);
		a->dec_rstd = take(&l, B * T);
		a->last = take(&l, B * D);
		a->logits = take(&l, B * T * V);
		a->losses = take(&l, B * T);
	}
	if ((flags & MODEL_TRAIN) && (flags & MODEL_DECODER)) {
		size_t rows = B * (trains_encoder(flags) ? maxNT : T);
		size_t wide = F > 3 * D ? F : 3 * D, big = rows * wide;
		size_t att = T * T > T * N ? T * T : T * N;

		if (big < B * T * D + B * N * 2 * D)
			big = B * T * D + B * N * 2 * D;
		if (trains_encoder(flags) && N * N > att)
			att = N * N;
		a->dres = take(&l, rows * D);
		a->dsmall = take(&l, rows * D);
		a->dbig = take(&l, big);
		a->datt = take(&l, B * H * att);
		a->denc = trains_encoder(flags) ? take(&l, B * N * D) : NULL;
	}
	return l.n;
}

/* ---- creation, checkpoints --------------------------------------------------- */

struct model *
model_new(const struct config *c, const struct backend *be)
{
	struct model *m = ecalloc(1, sizeof *m);
	char err[256];

	if (config_check(c, err, sizeof err) != 0 || c->vocab == 0)
		eprintf("model_new: bad config: %s", c->vocab ? err : "vocab is 0");
	m->cfg = *c;
	m->be = be;
	param_table_build(&m->tab, c);
	m->params = be->alloc(m->tab.total * sizeof(float));
	weights_point(&m->w, c, m->params);
	return m;
}

void
model_init(struct model *m, uint64_t seed)
{
	float *host = emalloc(m->tab.total * sizeof(float));

	params_init(host, &m->tab, seed);
	m->be->upload(m->params, host, m->tab.total * sizeof(float));
	free(host);
}

struct model *
model_load(const char *path, const struct backend *be, char **vocab, char *err,
    size_t errsz)
{
	struct record rec = {0};
	struct param_table t;
	struct config c;
	struct model *m;
	int i;

	if (checkpoint_read(path, &rec, &c, &t, err, errsz) != 0) {
		record_free(&rec);
		return NULL;
	}
	m = model_new(&c, be);
	for (i = 0; i < t.n; i++)
		be->upload(m->params + t.v[i].offset, rec.t[i].data, rec.t[i].nbytes);
	if (vocab)
		*vocab = estrdup(record_meta(&rec, "vocab") ? record_meta(&rec, "vocab") : "");
	param_table_free(&t);
	record_free(&rec);
	return m;
}

int
model_save(struct model *m, const char *path, const char *vocab, char *err, size_t errsz)
{
	struct record rec = {0};
	int i, rc;

	checkpoint_record(&rec, &m->cfg, &m->tab, vocab);
	for (i = 0; i < m->tab.n; i++)
		m->be->download(rec.t[i].data, m->params + m->tab.v[i].offset, rec.t[i].nbytes);
	rc = record_save(path, &rec, err, errsz);
	record_free(&rec);
	return rc;
}

static void
free_acts(struct model *m)
{
	const struct backend *be = m->be;

	if (m->a) {
		free(m->a->enc);
		free(m->a->dec);
		free(m->a);
	}
	be->free(m->actbuf);
	be->free(m->img);
	be->free(m->ids);
	be->free(m->targets);
	be->free(m->parents);
	be->free(m->gseq);
	be->free(m->glen);
	be->free(m->gdone);
	be->free(m->glogprob);
	m->a = NULL;
	m->actbuf = NULL;
	m->img = NULL;
	m->ids = m->targets = m->parents = NULL;
	m->gseq = m->glen = m->gdone = NULL;
	m->glogprob = NULL;
}

void
model_free(struct model *m)
{
	if (!m)
		return;
	free_acts(m);
	m->be->free(m->params);
	m->be->free(m->grads);
	m->be->free(m->m);
	m->be->free(m->v);
	weights_free(&m->w);
	weights_free(&m->g);
	param_table_free(&m->tab);
	free(m);
}

void
model_reserve(struct model *m, int B, unsigned flags)
{
	const struct backend *be = m->be;
	const struct config *c = &m->cfg;
	const size_t T = c->dec_len;

	if (B < 1)
		eprintf("model_reserve: batch size %d", B);
	free_acts(m);
	m->flags = flags;
	m->maxB = B;
	m->a = ecalloc(1, sizeof *m->a);
	m->a->enc = ecalloc(c->enc_layers ? c->enc_layers : 1, sizeof *m->a->enc);
	m->a->dec = ecalloc(c->dec_layers ? c->dec_layers : 1, sizeof *m->a->dec);
	m->nacts = acts_layout(m->a, c, B, flags, NULL);
	m->actbuf = be->alloc(m->nacts * sizeof(float));
	acts_layout(m->a, c, B, flags, m->actbuf);
	if (flags & MODEL_ENCODER)
		m->img = be->alloc((size_t)B * c->image * c->image * 3);
	if (flags & MODEL_DECODER) {
		m->ids = be->alloc(B * T * sizeof(int32_t));
		m->targets = be->alloc(B * T * sizeof(int32_t));
		m->parents = be->alloc(B * sizeof(int32_t));
	}
	if ((flags & MODEL_DECODER) && !(flags & MODEL_TRAIN)) {
		m->gseq = be->alloc(B * T * sizeof(int32_t));
		m->glen = be->alloc(B * sizeof(int32_t));
		m->gdone = be->alloc(B * sizeof(int32_t));
		m->glogprob = be->alloc(B * sizeof(double));
	}
	if ((flags & MODEL_TRAIN) && !m->grads) {
		m->grads = be->alloc(m->tab.total * sizeof(float));
		m->m = be->alloc(m->tab.total * sizeof(float));
		m->v = be->alloc(m->tab.total * sizeof(float));
		weights_point(&m->g, c, m->grads);
	}
	m->B = m->T = 0;
	m->dec_B = 0;
}

/* ---- forward ------------------------------------------------------------------ */

static int
check_batch(struct model *m, int B, unsigned need)
{
	if ((m->flags & need) != need || !m->a)
		return fail(m, "the model was not reserved for %s",
		    need & MODEL_ENCODER ? "the encoder" : "the decoder");
	if (B < 1 || B > m->maxB)
		return fail(m, "batch of %d, reserved for 1 to %d", B, m->maxB);
	return 0;
}

static void
encoder_forward(struct model *m, int B)
{
	const struct backend *be = m->be;
	const struct config *c = &m->cfg;
	const struct weights *w = &m->w;
	struct acts *a = m->a;
	const int D = c->dim, F = config_hidden(c), H = c->heads;
	const int N = config_enc_len(c), Np = config_patches(c), P = c->patch;
	const int M = B * N;
	const float eps = (float)c->ln_eps;
	float mean[3], std[3];
	const float *x;
	int i, l;

	for (i = 0; i < 3; i++) {
		mean[i] = (float)c->mean[i];
		std[i] = (float)c->std[i];
	}
	be->im2col_forward(a->cols, m->img, mean, std, B, c->image, c->image, P);
	be->matmul_forward(a->patches, a->cols, w->patch_w, w->patch_b, B * Np, 3 * P * P, D);
	be->vit_embed_forward(a->enc_in, a->patches, w->cls, w->enc_pos, B, Np, D);
	x = a->enc_in;
	for (l = 0; l < c->enc_layers; l++) {
		const struct enc_block *p = &w->enc[l];
		struct enc_acts *e = &a->enc[l];

		be->layernorm_forward(e->ln1, e->ln1_mean, e->ln1_rstd, x, p->ln1_w, p->ln1_b,
		    M, D, eps);
		be->matmul_forward(e->qkv, e->ln1, p->qkv_w, p->qkv_b, M, D, 3 * D);
		be->attention_forward(e->atty, e->att, e->qkv, e->qkv + D, e->qkv + 2 * D,
		    3 * D, 3 * D, B, N, N, D, H, 0);
		be->matmul_forward(e->res1, e->atty, p->proj_w, p->proj_b, M, D, D);
		be->residual_forward(e->res1, e->res1, x, (size_t)M * D);
		be->layernorm_forward(e->ln2, e->ln2_mean, e->ln2_rstd, e->res1, p->ln2_w,
		    p->ln2_b, M, D, eps);
		be->matmul_forward(e->fc1, e->ln2, p->fc1_w, p->fc1_b, M, D, F);
		be->gelu_forward(e->gelu, e->fc1, (size_t)M * F, c->gelu == GELU_EXACT);
		/* without backward every layer shares one block, so out may be x: x is
		 * not read after res1 */
		be->matmul_forward(e->out, e->gelu, p->fc2_w, p->fc2_b, M, F, D);
		be->residual_forward(e->out, e->out, e->res1, (size_t)M * D);
		x = e->out;
	}
	be->layernorm_forward(a->enc_out, a->enc_mean, a->enc_rstd, x, w->enc_lnf_w,
	    w->enc_lnf_b, M, D, eps);
}

int
model_encode(struct model *m, const uint8_t *images, int B, float *embed)
{
	const struct config *c = &m->cfg;

	if (check_batch(m, B, MODEL_ENCODER) != 0)
		return -1;
	m->be->upload(m->img, images, (size_t)B * c->image * c->image * 3);
	encoder_forward(m, B);
	m->from_images = 1;
	if (embed)
		m->be->download(embed, m->a->enc_out,
		    (size_t)B * config_enc_len(c) * c->dim * sizeof(float));
	return 0;
}

int
model_set_embed(struct model *m, const float *embed, int B)
{
	const struct config *c = &m->cfg;

	if (!m->a || B < 1 || B > m->maxB)
		return fail(m, "batch of %d, reserved for 1 to %d", B, m->maxB);
	m->be->upload(m->a->enc_out, embed, (size_t)B * config_enc_len(c) * c->dim * sizeof(float));
	m->from_images = 0;
	return 0;
}

/* The decoder blocks over the ids on the device, (B,T) -> the stream before ln_f. */
static const float *
decoder_blocks(struct model *m, int B, int T)
{
	const struct backend *be = m->be;
	const struct config *c = &m->cfg;
	const struct weights *w = &m->w;
	struct acts *a = m->a;
	const int D = c->dim, F = config_hidden(c), H = c->heads, N = config_enc_len(c);
	const int M = B * T;
	const float eps = (float)c->ln_eps;
	const float *x;
	int l;

	be->embed_forward(a->dec_in, m->ids, w->tok, w->dec_pos, B, T, D);
	x = a->dec_in;
	for (l = 0; l < c->dec_layers; l++) {
		const struct dec_block *p = &w->dec[l];
		struct dec_acts *d = &a->dec[l];

		be->layernorm_forward(d->ln1, d->ln1_mean, d->ln1_rstd, x, p->ln1_w, p->ln1_b,
		    M, D, eps);
		be->matmul_forward(d->qkv, d->ln1, p->qkv_w, p->qkv_b, M, D, 3 * D);
		be->attention_forward(d->atty, d->att, d->qkv, d->qkv + D, d->qkv + 2 * D,
		    3 * D, 3 * D, B, T, T, D, H, 1);
		be->matmul_forward(d->res1, d->atty, p->proj_w, p->proj_b, M, D, D);
		be->residual_forward(d->res1, d->res1, x, (size_t)M * D);

		be->layernorm_forward(d->ln2, d->ln2_mean, d->ln2_rstd, d->res1, p->ln2_w,
		    p->ln2_b, M, D, eps);
		be->matmul_forward(d->xq, d->ln2, p->xq_w, p->xq_b, M, D, D);
		be->matmul_forward(d->xkv, a->enc_out, p->xkv_w, p->xkv_b, B * N, D, 2 * D);
		be->attention_forward(d->xatty, d->xatt, d->xq, d->xkv, d->xkv + D, D, 2 * D,
		    B, T, N, D, H, 0);
		be->matmul_forward(d->res2, d->xatty, p->xproj_w, p->xproj_b, M, D, D);
		be->residual_forward(d->res2, d->res2, d->res1, (size_t)M * D);

		be->layernorm_forward(d->ln3, d->ln3_mean, d->ln3_rstd, d->res2, p->ln3_w,
		    p->ln3_b, M, D, eps);
		be->matmul_forward(d->fc1, d->ln3, p->fc1_w, p->fc1_b, M, D, F);
		be->gelu_forward(d->gelu, d->fc1, (size_t)M * F, c->gelu == GELU_EXACT);
		be->matmul_forward(d->out, d->gelu, p->fc2_w, p->fc2_b, M, F, D);
		be->residual_forward(d->out, d->out, d->res2, (size_t)M * D);
		x = d->out;
	}
	return x;
}

/* Checks the ids (and targets) of a decoder batch and uploads them. */
static int
upload_tokens(struct model *m, const int32_t *ids, const int32_t *targets, int B, int T,
    long *ntargets)
{
	const int V = m->cfg.vocab;
	long i, n = 0;

	if (T < 1 || T > m->cfg.dec_len)
		return fail(m, "%d decoder positions, the model has 1 to %d", T,
		    m->cfg.dec_len);
	for (i = 0; i < (long)B * T; i++) {
		if (ids[i] < 0 || ids[i] >= V)
			return fail(m, "token id %d at [%ld, %ld] is out of range for a "
			    "vocabulary of %d", ids[i], i / T, i % T, V);
		if (targets && (targets[i] < 0 || targets[i] >= V))
			return fail(m, "target id %d at [%ld, %ld] is out of range for a "
			    "vocabulary of %d", targets[i], i / T, i % T, V);
		n += targets && targets[i] != TOK_PAD;
	}
	m->be->upload(m->ids, ids, (size_t)B * T * sizeof(int32_t));
	if (targets)
		m->be->upload(m->targets, targets, (size_t)B * T * sizeof(int32_t));
	if (ntargets)
		*ntargets = n;
	return 0;
}

int
model_forward(struct model *m, const uint8_t *images, const float *embed,
    const int32_t *ids, const int32_t *targets, int B, int T, float *loss)
{
	const struct backend *be = m->be;
	const struct config *c = &m->cfg;
	struct acts *a;
	const float *x;
	long ntargets;

	m->B = m->T = 0;
	if (check_batch(m, B, MODEL_DECODER) != 0)
		return -1;
	a = m->a;
	if (embed && trains_encoder(m->flags))
		return fail(m, "training from embeddings needs a frozen encoder");
	if (upload_tokens(m, ids, targets, B, T, &ntargets) != 0)
		return -1;
	if (images && model_encode(m, images, B, NULL) != 0)
		return -1;
	if (embed && model_set_embed(m, embed, B) != 0)
		return -1;
	x = decoder_blocks(m, B, T);
	be->layernorm_forward(a->dec_out, a->dec_mean, a->dec_rstd, x, m->w.dec_lnf_w,
	    m->w.dec_lnf_b, B * T, c->dim, (float)c->ln_eps);
	be->classifier_forward(a->logits, a->losses, a->dec_out, m->w.tok,
	    targets ? m->targets : NULL, B * T, c->dim, c->vocab);
	if (loss)
		*loss = targets && ntargets ?
		    (float)(be->sum(a->losses, (size_t)B * T) / ntargets) : 0;
	m->B = B;
	m->T = T;
	m->ntargets = targets ? ntargets : -1;  /* -1: logits kept, no backward */
	return 0;
}

void
model_logits(struct model *m, float *logits)
{
	if (m->ntargets != -1 || m->B == 0)
		eprintf("model_logits: no forward without targets to read");
	m->be->download(logits, m->a->logits,
	    (size_t)m->B * m->T * m->cfg.vocab * sizeof(float));
}

int
model_next_logits(struct model *m, const int32_t *ids, int B, int T, float *logits)
{
	const struct backend *be = m->be;
	const struct config *c = &m->cfg;
	struct acts *a;
	const float *x;

	m->B = m->T = 0;
	if (check_batch(m, B, MODEL_DECODER) != 0 || upload_tokens(m, ids, NULL, B, T, NULL) != 0)
		return -1;
	a = m->a;
	x = decoder_blocks(m, B, T);
	/* LayerNorm and classifier are per position: only the last one is needed */
	be->gather_position(a->last, x, B, T, c->dim, T - 1);
	be->layernorm_forward(a->dec_out, a->dec_mean, a->dec_rstd, a->last, m->w.dec_lnf_w,
	    m->w.dec_lnf_b, B, c->dim, (float)c->ln_eps);
	be->classifier_forward(a->logits, NULL, a->dec_out, m->w.tok, NULL, B, c->dim, c->vocab);
	be->download(logits, a->logits, (size_t)B * c->vocab * sizeof(float));
	return 0;
}

/* ---- incremental decoding --------------------------------------------------------- */

int
model_decode_start(struct model *m, int B)
{
	return model_decode_start_beams(m, B, 1);
}

int
model_decode_start_beams(struct model *m, int images, int K)
{
	const struct config *c = &m->cfg;
	const int D = c->dim, N = config_enc_len(c);
	int l;

	m->dec_B = 0;
	if (K < 1 || images > m->maxB / K)
		return fail(m, "%d images of %d rows each, reserved for %d rows", images, K,
		    m->maxB);
	if (check_batch(m, images * K, MODEL_DECODER) != 0)
		return -1;
	if (m->flags & MODEL_TRAIN)
		return fail(m, "incremental decoding needs a reserve without MODEL_TRAIN");
	for (l = 0; l < c->dec_layers; l++)
		m->be->matmul_forward(m->a->dec[l].xkv, m->a->enc_out, m->w.dec[l].xkv_w,
		    m->w.dec[l].xkv_b, images * N, D, 2 * D);
	m->dec_B = images * K;
	m->dec_K = K;
	m->dec_pos = 0;
	m->dec_sel = 0;
	return 0;
}

/* One step of incremental decoding on the ids already in m->ids (B of them):
 * the logits of the next token into a->logits (device [B, V]). */
static void
decode_forward(struct model *m)
{
	const struct backend *be = m->be;
	const struct config *c = &m->cfg;
	const struct weights *w = &m->w;
	struct acts *a = m->a;
	const int B = m->dec_B, t = m->dec_pos, D = c->dim, F = config_hidden(c);
	const int H = c->heads, N = config_enc_len(c), sel = m->dec_sel, K = m->dec_K;
	const float eps = (float)c->ln_eps;
	const float *x;
	int l;

	/* one position: row t of pos_embed, B rows throughout */
	be->embed_forward(a->dec_in, m->ids, w->tok, w->dec_pos + (size_t)t * D, B, 1, D);
	x = a->dec_in;
	for (l = 0; l < c->dec_layers; l++) {
		const struct dec_block *p = &w->dec[l];
		struct dec_acts *d = &a->dec[l];
		float *kc = d->kcache[sel], *vc = d->vcache[sel];

		be->layernorm_forward(d->ln1, d->ln1_mean, d->ln1_rstd, x, p->ln1_w, p->ln1_b,
		    B, D, eps);
		/* q into qkv; k and v straight into the caches' block t, the weight's
		 * rows split as q, k, v */
		be->matmul_forward(d->qkv, d->ln1, p->qkv_w, p->qkv_b, B, D, D);
		be->matmul_forward(kc + (size_t)t * B * D, d->ln1, p->qkv_w + (size_t)D * D,
		    p->qkv_b + D, B, D, D);
		be->matmul_forward(vc + (size_t)t * B * D, d->ln1, p->qkv_w + (size_t)2 * D * D,
		    p->qkv_b + 2 * D, B, D, D);
		/* the caches' rows are (B*D) wide, so the B rows' H heads are one
		 * "batch" of B*H heads of one query over t+1 keys */
		be->attention_forward(d->atty, d->att, d->qkv, kc, vc, B * D, B * D, 1, 1, t + 1,
		    B * D, B * H, 0);
		be->matmul_forward(d->res1, d->atty, p->proj_w, p->proj_b, B, D, D);
		be->residual_forward(d->res1, d->res1, x, (size_t)B * D);

		be->layernorm_forward(d->ln2, d->ln2_mean, d->ln2_rstd, d->res1, p->ln2_w,
		    p->ln2_b, B, D, eps);
		be->matmul_forward(d->xq, d->ln2, p->xq_w, p->xq_b, B, D, D);
		/* the K rows of an image are K queries over its one set of keys */
		be->attention_forward(d->xatty, d->xatt, d->xq, d->xkv, d->xkv + D, D, 2 * D,
		    B / K, K, N, D, H, 0);
		be->matmul_forward(d->res2, d->xatty, p->xproj_w, p->xproj_b, B, D, D);
		be->residual_forward(d->res2, d->res2, d->res1, (size_t)B * D);

		be->layernorm_forward(d->ln3, d->ln3_mean, d->ln3_rstd, d->res2, p->ln3_w,
		    p->ln3_b, B, D, eps);
		be->matmul_forward(d->fc1, d->ln3, p->fc1_w, p->fc1_b, B, D, F);
		be->gelu_forward(d->gelu, d->fc1, (size_t)B * F, c->gelu == GELU_EXACT);
		be->matmul_forward(d->out, d->gelu, p->fc2_w, p->fc2_b, B, F, D);
		be->residual_forward(d->out, d->out, d->res2, (size_t)B * D);
		x = d->out;
	}
	be->layernorm_forward(a->dec_out, a->dec_mean, a->dec_rstd, x, w->dec_lnf_w,
	    w->dec_lnf_b, B, D, eps);
	be->classifier_forward(a->logits, NULL, a->dec_out, w->tok, NULL, B, D, c->vocab);
	m->dec_pos++;
}

int
model_decode_step(struct model *m, const int32_t *ids, float *logits)
{
	const struct config *c = &m->cfg;
	const int B = m->dec_B;
	int b;

	if (B == 0)
		return fail(m, "no model_decode_start");
	if (m->dec_pos >= c->dec_len)
		return fail(m, "step %d: the model has %d decoder positions", m->dec_pos + 1,
		    c->dec_len);
	for (b = 0; b < B; b++)
		if (ids[b] < 0 || ids[b] >= c->vocab)
			return fail(m, "token id %d of row %d is out of range for a vocabulary "
			    "of %d", ids[b], b, c->vocab);
	m->be->upload(m->ids, ids, B * sizeof(int32_t));
	decode_forward(m);
	m->be->download(logits, m->a->logits, (size_t)B * c->vocab * sizeof(float));
	return 0;
}

int
model_decode_greedy(struct model *m, int max_len, int32_t *ids, int32_t *len,
    double *logprob)
{
	const struct backend *be = m->be;
	const int B = m->dec_B, L = max_len;
	const int every = be->stream() ? MODEL_GREEDY_CHECK : 1;
	int t, b, ndone = 0;

	if (B == 0)
		return fail(m, "no model_decode_start");
	if (m->dec_pos != 0)
		return fail(m, "greedy decoding after %d steps: it starts at <bos>", m->dec_pos);
	if (L < 0 || L >= m->cfg.dec_len)
		return fail(m, "%d words: the model has %d decoder positions, so 0 to %d", L,
		    m->cfg.dec_len, m->cfg.dec_len - 1);
	/* ids doubles as the host's copy of the first step's <bos> and of the flags */
	for (b = 0; b < B; b++)
		ids[b] = TOK_BOS;
	be->upload(m->ids, ids, B * sizeof(int32_t));
	be->zero(m->glen, B * sizeof(int32_t));
	be->zero(m->gdone, B * sizeof(int32_t));
	be->zero(m->glogprob, B * sizeof(double));
	for (t = 0; t <= L && ndone < B; t++) {
		decode_forward(m);
		be->greedy_step(m->ids, m->gseq, m->glen, m->gdone, m->glogprob, m->a->logits, B,
		    m->cfg.vocab, t, L);
		if ((t + 1) % every == 0 && t < L) {
			be->download(ids, m->gdone, B * sizeof(int32_t));
			for (ndone = 0, b = 0; b < B; b++)
				ndone += ids[b] != 0;
		}
	}
	be->download(ids, m->gseq, (size_t)B * (L + 1) * sizeof(int32_t));
	be->download(len, m->glen, B * sizeof(int32_t));
	be->download(logprob, m->glogprob, B * sizeof(double));
	return 0;
}

int
model_decode_reorder(struct model *m, const int32_t *parent)
{
	const int B = m->dec_B, D = m->cfg.dim, sel = m->dec_sel;
	int l, b;

	if (B == 0)
		return fail(m, "no model_decode_start");
	for (b = 0; b < B; b++) {
		if (parent[b] < 0 || parent[b] >= B)
			return fail(m, "parent %d of row %d: not a row of %d", parent[b], b, B);
		if (m->dec_K > 1 && parent[b] / m->dec_K != b / m->dec_K)
			return fail(m, "parent %d of row %d: a row of another image", parent[b], b);
	}
	if (m->dec_pos == 0)
		return 0;
	m->be->upload(m->parents, parent, B * sizeof(int32_t));
	for (l = 0; l < m->cfg.dec_layers; l++) {
		struct dec_acts *d = &m->a->dec[l];

		m->be->gather_rows(d->kcache[!sel], d->kcache[sel], m->parents, m->dec_pos, B, D);
		m->be->gather_rows(d->vcache[!sel], d->vcache[sel], m->parents, m->dec_pos, B, D);
	}
	m->dec_sel = !sel;
	return 0;
}

/* ---- backward ----------------------------------------------------------------- */

/* Hands the gradients [from, to) to m->grad_ready: they are final. */
static void
ready(struct model *m, const float *from, const float *to)
{
	if (m->grad_ready && to > from)
		m->grad_ready(m->grad_ready_arg, (float *)from, (size_t)(to - from));
}

static void
decoder_backward(struct model *m, float scale)
{
	const struct backend *be = m->be;
	const struct config *c = &m->cfg;
	const struct weights *w = &m->w, *g = &m->g;
	struct acts *a = m->a;
	const int B = m->B, T = m->T, D = c->dim, F = config_hidden(c), H = c->heads;
	const int N = config_enc_len(c), V = c->vocab, M = B * T;
	const int exact = c->gelu == GELU_EXACT;
	float *dres = a->dres, *dsmall = a->dsmall, *dbig = a->dbig;
	float *denc = m->from_images && trains_encoder(m->flags) ? a->denc : NULL;
	int l;

	/* classifier and ln_f: dres, the gradient of the residual stream, starts here */
	be->classifier_backward(dsmall, g->tok, a->logits, a->dec_out, w->tok, m->targets,
	    scale, M, D, V);
	be->zero(dres, (size_t)M * D * sizeof(float));
	be->layernorm_backward(dres, g->dec_lnf_w, g->dec_lnf_b, dsmall,
	    c->dec_layers ? a->dec[c->dec_layers - 1].out : a->dec_in, w->dec_lnf_w,
	    a->dec_mean, a->dec_rstd, M, D);
	ready(m, g->dec_lnf_w, m->grads + m->tab.total);
	if (denc)
		be->zero(denc, (size_t)B * N * D * sizeof(float));
	for (l = c->dec_layers - 1; l >= 0; l--) {
		const struct dec_block *p = &w->dec[l], *gp = &g->dec[l];
		struct dec_acts *d = &a->dec[l];
		const float *x = l > 0 ? a->dec[l - 1].out : a->dec_in;
		float *dq = dbig, *dkv = dbig + (size_t)M * D;

		/* MLP */
		be->matmul_backward(dbig, gp->fc2_w, gp->fc2_b, dres, d->gelu, p->fc2_w, M, F, D, 0);
		be->gelu_backward(dbig, d->fc1, dbig, (size_t)M * F, exact);
		be->matmul_backward(dsmall, gp->fc1_w, gp->fc1_b, dbig, d->ln3, p->fc1_w, M, D, F, 0);
		be->layernorm_backward(dres, gp->ln3_w, gp->ln3_b, dsmall, d->res2, p->ln3_w,
		    d->ln3_mean, d->ln3_rstd, M, D);
		/* cross-attention; its keys and values add into the encoder's gradient */
		be->matmul_backward(dsmall, gp->xproj_w, gp->xproj_b, dres, d->xatty, p->xproj_w,
		    M, D, D, 0);
		be->attention_backward(dq, dkv, dkv + D, a->datt, dsmall, d->xq, d->xkv, d->xkv + D,
		    d->xatt, D, 2 * D, B, T, N, D, H);
		be->matmul_backward(denc, gp->xkv_w, gp->xkv_b, dkv, a->enc_out, p->xkv_w, B * N,
		    D, 2 * D, 1);
		be->matmul_backward(dsmall, gp->xq_w, gp->xq_b, dq, d->ln2, p->xq_w, M, D, D, 0);
		be->layernorm_backward(dres, gp->ln2_w, gp->ln2_b, dsmall, d->res1, p->ln2_w,
		    d->ln2_mean, d->ln2_rstd, M, D);
		/* causal self-attention */
		be->matmul_backward(dsmall, gp->proj_w, gp->proj_b, dres, d->atty, p->proj_w,
		    M, D, D, 0);
		be->attention_backward(dbig, dbig + D, dbig + 2 * D, a->datt, dsmall, d->qkv,
		    d->qkv + D, d->qkv + 2 * D, d->att, 3 * D, 3 * D, B, T, T, D, H);
		be->matmul_backward(dsmall, gp->qkv_w, gp->qkv_b, dbig, d->ln1, p->qkv_w,
		    M, D, 3 * D, 0);
		be->layernorm_backward(dres, gp->ln1_w, gp->ln1_b, dsmall, x, p->ln1_w,
		    d->ln1_mean, d->ln1_rstd, M, D);
		ready(m, gp->ln1_w, l + 1 < c->dec_layers ? g->dec[l + 1].ln1_w : g->dec_lnf_w);
	}
	be->embed_backward(g->tok, g->dec_pos, dres, m->ids, B, T, D);
	ready(m, g->tok, c->dec_layers ? g->dec[0].ln1_w : g->dec_lnf_w);
}

static void
encoder_backward(struct model *m)
{
	const struct backend *be = m->be;
	const struct config *c = &m->cfg;
	const struct weights *w = &m->w, *g = &m->g;
	struct acts *a = m->a;
	const int B = m->B, D = c->dim, F = config_hidden(c), H = c->heads;
	const int N = config_enc_len(c), Np = config_patches(c), P = c->patch, M = B * N;
	const int exact = c->gelu == GELU_EXACT;
	float *dres = a->dres, *dsmall = a->dsmall, *dbig = a->dbig;
	int l;

	be->zero(dres, (size_t)M * D * sizeof(float));
	be->layernorm_backward(dres, g->enc_lnf_w, g->enc_lnf_b, a->denc,
	    c->enc_layers ? a->enc[c->enc_layers - 1].out : a->enc_in, w->enc_lnf_w,
	    a->enc_mean, a->enc_rstd, M, D);
	ready(m, g->enc_lnf_w, m->grads + m->tab.enc_total);
	for (l = c->enc_layers - 1; l >= 0; l--) {
		const struct enc_block *p = &w->enc[l], *gp = &g->enc[l];
		struct enc_acts *e = &a->enc[l];
		const float *x = l > 0 ? a->enc[l - 1].out : a->enc_in;

		be->matmul_backward(dbig, gp->fc2_w, gp->fc2_b, dres, e->gelu, p->fc2_w, M, F, D, 0);
		be->gelu_backward(dbig, e->fc1, dbig, (size_t)M * F, exact);
		be->matmul_backward(dsmall, gp->fc1_w, gp->fc1_b, dbig, e->ln2, p->fc1_w, M, D, F, 0);
		be->layernorm_backward(dres, gp->ln2_w, gp->ln2_b, dsmall, e->res1, p->ln2_w,
		    e->ln2_mean, e->ln2_rstd, M, D);
		be->matmul_backward(dsmall, gp->proj_w, gp->proj_b, dres, e->atty, p->proj_w,
		    M, D, D, 0);
		be->attention_backward(dbig, dbig + D, dbig + 2 * D, a->datt, dsmall, e->qkv,
		    e->qkv + D, e->qkv + 2 * D, e->att, 3 * D, 3 * D, B, N, N, D, H);
		be->matmul_backward(dsmall, gp->qkv_w, gp->qkv_b, dbig, e->ln1, p->qkv_w,
		    M, D, 3 * D, 0);
		be->layernorm_backward(dres, gp->ln1_w, gp->ln1_b, dsmall, x, p->ln1_w,
		    e->ln1_mean, e->ln1_rstd, M, D);
		ready(m, gp->ln1_w, l + 1 < c->enc_layers ? g->enc[l + 1].ln1_w : g->enc_lnf_w);
	}
	be->vit_embed_backward(dbig, g->cls, g->enc_pos, dres, B, Np, D);
	be->matmul_backward(NULL, g->patch_w, g->patch_b, dbig, a->cols, w->patch_w, B * Np,
	    3 * P * P, D, 0);
	ready(m, g->patch_w, c->enc_layers ? g->enc[0].ln1_w : g->enc_lnf_w);
}

void
model_backward(struct model *m, double ntargets)
{
	if (!(m->flags & MODEL_TRAIN) || m->B == 0 || m->ntargets < 0)
		eprintf("model_backward: no training forward to go back through");
	if (ntargets <= 0)
		ntargets = m->ntargets;
	decoder_backward(m, ntargets > 0 ? (float)(1.0 / ntargets) : 0.0f);
	if (m->from_images && trains_encoder(m->flags))
		encoder_backward(m);
	else if (trains_encoder(m->flags))
		ready(m, m->grads, m->grads + m->tab.enc_total);      /* as they were */
}

/* ---- optimizer ---------------------------------------------------------------- */

/* The trained part of the buffers: all, or the decoder's suffix. */
static size_t
trained_offset(const struct model *m)
{
	return trains_encoder(m->flags) ? 0 : m->tab.enc_total;
}

void
model_zero_grad(struct model *m)
{
	size_t off = trained_offset(m);

	if (!m->grads)
		eprintf("model_zero_grad: the model was not reserved for training");
	m->be->zero(m->grads + off, (m->tab.total - off) * sizeof(float));
}

float *
model_trained_grads(struct model *m, size_t *n)
{
	size_t off = trained_offset(m);

	if (!m->grads)
		eprintf("model_trained_grads: the model was not reserved for training");
	*n = m->tab.total - off;
	return m->grads + off;
}

double
model_grad_norm(struct model *m)
{
	size_t off = trained_offset(m);

	return sqrt(m->be->sumsq(m->grads + off, m->tab.total - off));
}

double
model_clip_grad(struct model *m, double max_norm)
{
	size_t off = trained_offset(m);
	double norm = model_grad_norm(m);
	float coef = (float)(max_norm / (norm + 1e-6));

	if (coef < 1.0f)
		m->be->scale(m->grads + off, m->tab.total - off, coef);
	return norm;
}

void
model_adamw(struct model *m, double lr, double beta1, double beta2, double eps,
    double weight_decay)
{
	const struct param_table *t = &m->tab;
	size_t off = trained_offset(m);
	int i, j;

	m->step++;
	/* one call per run of neighbouring tensors that share the decay setting */
	for (i = 0; i < t->n; i = j) {
		int decay = t->v[i].flags & PARAM_DECAY;
		size_t start = t->v[i].offset, end;

		for (j = i + 1; j < t->n && (t->v[j].flags & PARAM_DECAY) == decay; j++)
			;
		end = t->v[j - 1].offset + t->v[j - 1].size;
		if (end <= off)
			continue;
		if (start < off)
			start = off;
		m->be->adamw(m->params + start, m->grads + start, m->m + start, m->v + start,
		    end - start, lr, beta1, beta2, eps, decay ? weight_decay : 0, m->step);
	}
}

void
model_optimizer_put(struct model *m, struct record *rec)
{
	const struct param_table *t = &m->tab;
	char name[PARAM_NAME_MAX + 16], step[32];
	int i, k;

	if (!m->grads)
		eprintf("model_optimizer_put: the model was not reserved for training");
	for (k = 0; k < 2; k++) {
		for (i = 0; i < t->n; i++) {
			const struct param *e = &t->v[i];
			int64_t shape[2] = {e->shape[0], e->shape[1]};
			struct tensor *x;

			snprintf(name, sizeof name, "adamw.%c.%s", k ? 'v' : 'm', e->name);
			x = record_put(rec, name, DT_F32, e->ndim, shape, NULL);
			m->be->download(x->data, (k ? m->v : m->m) + e->offset, x->nbytes);
		}
	}
	snprintf(step, sizeof step, "%ld", m->step);
	record_set_meta(rec, "adamw_step", step);
}

int
model_optimizer_get(struct model *m, const struct record *rec, char *err, size_t errsz)
{
	const struct param_table *t = &m->tab;
	char name[PARAM_NAME_MAX + 16], *end;
	const char *step = record_meta(rec, "adamw_step");
	int i, k;

	if (!m->grads)
		eprintf("model_optimizer_get: the model was not reserved for training");
	if (!step || (m->step = strtol(step, &end, 10), *end != 0 || m->step < 0)) {
		snprintf(err, errsz, "adamw_step: missing or not a count");
		return -1;
	}
	for (k = 0; k < 2; k++) {
		for (i = 0; i < t->n; i++) {
			const struct param *e = &t->v[i];
			const struct tensor *x;

			snprintf(name, sizeof name, "adamw.%c.%s", k ? 'v' : 'm', e->name);
			x = record_tensor(rec, name);
			if (!x || x->dtype != DT_F32 || x->nbytes != e->size * sizeof(float)) {
				snprintf(err, errsz, "tensor %s: %s", name, x ? "not F32 of the "
				    "parameter's size" : "missing");
				return -1;
			}
			m->be->upload((k ? m->v : m->m) + e->offset, x->data, x->nbytes);
		}
	}
	return 0;
}

/* ---- the rest ----------------------------------------------------------------- */

void
model_encoder_fingerprint(struct model *m, char out[17])
{
	size_t n = m->tab.enc_total * sizeof(float), i;
	unsigned char *host = emalloc(n ? n : 1);
	uint64_t h = 14695981039346656037ULL;           /* FNV-1a */
	const struct config *c = &m->cfg;
	char enc[512];
	const char *s;

	m->be->download(host, m->params, n);
	for (i = 0; i < n; i++)
		h = (h ^ host[i]) * 1099511628211ULL;
	/* The encoder's part of the config decides the normalisation, which the
	 * weights do not show. Only that part: a decoder trained on a frozen
	 * encoder's embeddings must accept them. */
	snprintf(enc, sizeof enc, "%d %d %d %d %d %d %d %d %.17g %.17g %.17g %.17g %.17g %.17g %.17g",
	    c->image, c->patch, c->dim, c->heads, c->enc_layers, c->mlp_ratio,
	    c->cls_token, c->gelu, c->ln_eps, c->mean[0], c->mean[1], c->mean[2],
	    c->std[0], c->std[1], c->std[2]);
	for (s = enc; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	snprintf(out, 17, "%016llx", (unsigned long long)h);
	free(host);
}

double
model_flops(const struct config *c, unsigned flags, int T)
{
	const double D = c->dim, F = config_hidden(c), V = c->vocab, P = c->patch;
	const double N = config_enc_len(c), Np = config_patches(c);
	const int train = (flags & MODEL_TRAIN) != 0, enc_train = trains_encoder(flags);
	double enc = 0, dec = 0, kv = 0, total = 0;

	/* forward flops; a trained matrix product costs 3x (dinp and dweight), a
	 * trained one whose input needs no gradient 2x */
	if (flags & MODEL_ENCODER) {
		double blocks = c->enc_layers * (2 * N * D * (3 * D + D + 2 * F) + 4 * N * N * D);
		double patch = 2 * Np * 3 * P * P * D;

		enc = enc_train ? 3 * blocks + 2 * patch : blocks + patch;
	}
	if (flags & MODEL_DECODER) {
		double blocks = c->dec_layers * (2 * T * D * (3 * D + D + D + D + 2 * F) +
		    4 * T * T * D + 4 * T * N * D);
		double cls = 2 * T * D * V;

		kv = c->dec_layers * 2 * N * D * 2 * D;
		dec = train ? 3 * (blocks + cls) + (enc_train ? 3 : 2) * kv : blocks + cls + kv;
	}
	total = enc + dec;
	return total;
}
