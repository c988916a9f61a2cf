/* params.h: the parameter table and the pointer structs laid over one buffer.
 *
 * Every named checkpoint tensor is one table entry, in a fixed order (the
 * encoder's first, then the decoder's), at an offset in one contiguous float
 * buffer. Parameters, gradients and the two AdamW moments are four buffers of
 * the same layout, so the optimizer, the gradient norm and a future all-reduce
 * are each one loop over one vector; struct weights gives the layers named
 * pointers into any of them. */
#ifndef VITCAP_PARAMS_H
#define VITCAP_PARAMS_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>

#define PARAM_NAME_MAX 64

enum {
	PARAM_DECAY = 1,        /* AdamW weight decay applies: matrices of linear maps only */
	PARAM_ENCODER = 2,      /* an encoder tensor, left alone with a frozen encoder */
};

enum { INIT_NORMAL, INIT_ZERO, INIT_ONE };

struct param {
	char name[PARAM_NAME_MAX];      /* the checkpoint name, e.g. "decoder.ln_f.bias" */
	int ndim;
	int shape[2];
	size_t size, offset;            /* in floats */
	int flags;                      /* PARAM_* */
	int init;                       /* INIT_* */
	float std;                      /* INIT_NORMAL's standard deviation */
};

struct param_table {
	struct param *v;
	int n;
	size_t total;                   /* floats in the buffer */
	size_t enc_total;               /* the encoder's tensors fill [0, enc_total) */
};

struct enc_block {
	float *ln1_w, *ln1_b;           /* [D] */
	float *qkv_w, *qkv_b;           /* [3D, D], [3D] */
	float *proj_w, *proj_b;         /* [D, D], [D] */
	float *ln2_w, *ln2_b;
	float *fc1_w, *fc1_b;           /* [F, D], [F] with F = mlp_ratio * D */
	float *fc2_w, *fc2_b;           /* [D, F], [D] */
};

struct dec_block {
	float *ln1_w, *ln1_b;
	float *qkv_w, *qkv_b;           /* self-attention, causal */
	float *proj_w, *proj_b;
	float *ln2_w, *ln2_b;
	float *xq_w, *xq_b;             /* cross-attention: q [D, D] on the decoder stream */
	float *xkv_w, *xkv_b;           /* [2D, D] on the encoder output */
	float *xproj_w, *xproj_b;       /* [D, D] */
	float *ln3_w, *ln3_b;
	float *fc1_w, *fc1_b;
	float *fc2_w, *fc2_b;
};

struct weights {
	float *patch_w, *patch_b;       /* [D, 3 P P], [D] */
	float *cls;                     /* [D], NULL without a class token */
	float *enc_pos;                 /* [N, D] */
	struct enc_block *enc;          /* [enc_layers] */
	float *enc_lnf_w, *enc_lnf_b;
	float *tok;                     /* [V, D], also the output projection */
	float *dec_pos;                 /* [T, D] */
	struct dec_block *dec;          /* [dec_layers] */
	float *dec_lnf_w, *dec_lnf_b;
};

/* The table for a checked config with vocab > 0. */
void param_table_build(struct param_table *t, const struct config *c);
void param_table_free(struct param_table *t);

/* The entry's index, or -1. */
int param_find(const struct param_table *t, const char *name);

/* Points w's members into base, a buffer of param_table's total floats (device
 * memory is fine: nothing is read). weights_free releases the block arrays. */
void weights_point(struct weights *w, const struct config *c, float *base);
void weights_free(struct weights *w);

/* Fills a host buffer laid out as t with the seeded initial values: N(0, 0.02)
 * for matrices and embeddings, with the projections that feed the residual
 * stream scaled by 1/sqrt(residual branches) as in GPT-2 (2 per encoder block,
 * 3 per decoder block); biases 0, LayerNorm weight 1 and bias 0. Each tensor
 * draws from its own stream, seeded by seed and its name, so one tensor's values
 * do not depend on which others the config has. Not torch's initialisation. */
void params_init(float *p, const struct param_table *t, uint64_t seed);

#endif
