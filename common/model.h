/* model.h: the captioning model (DESIGN.md, "The model"): a ViT encoder turns
 * images into patch embeddings, a pre-LN transformer decoder with cross-
 * attention over them predicts the caption's next tokens. Forward, backward and
 * AdamW, composed of backend operations on device buffers.
 *
 * Memory, as in llm.c: parameters, gradients and the two AdamW moments are four
 * buffers laid out by the parameter table (params.h); the activations of a batch
 * are one more, laid out by a table of sizes when model_reserve is called and
 * reused by every step.
 *
 * A training step:
 *
 *	model_reserve(m, B, MODEL_ENCODER | MODEL_DECODER | MODEL_TRAIN);
 *	model_forward(m, images, NULL, ids, targets, B, T, &loss);
 *	model_zero_grad(m);
 *	model_backward(m, 0);
 *	model_clip_grad(m, 1.0);
 *	model_adamw(m, lr, 0.9, 0.999, 1e-8, 0.1);
 *
 * The decoder reads <bos> w1 .. wn and predicts w1 .. wn <eos>: with a tokens row
 * of T+1 ids, ids = tokens[:, 0:T] and targets = tokens[:, 1:T+1], 0 (<pad>)
 * marking targets that do not count. */
#ifndef VITCAP_MODEL_H
#define VITCAP_MODEL_H

#include "backend.h"
#include "config.h"
#include "params.h"
#include "stream.h"

#include <stddef.h>
#include <stdint.h>

/* The token ids TOK_PAD, TOK_BOS, TOK_EOS and TOK_UNK: backend.h. */

/* What model_reserve prepares for. */
enum {
	MODEL_ENCODER = 1,              /* run the encoder on images */
	MODEL_DECODER = 2,              /* run the decoder */
	MODEL_TRAIN = 4,                /* backward and AdamW: gradients, moments, scratch */
	MODEL_FROZEN_ENCODER = 8,       /* with MODEL_TRAIN: train the decoder alone; the
	                                   backward stops at the encoder output and the
	                                   encoder's parameters stay as they are */
};

struct acts;                            /* the activation buffers, in model.c */

struct model {
	struct config cfg;
	const struct backend *be;
	struct param_table tab;
	float *params;                  /* device, tab.total floats */
	float *grads, *m, *v;           /* device, allocated by the first MODEL_TRAIN reserve */
	struct weights w, g;            /* named pointers into params and grads */
	long step;                      /* AdamW steps taken */

	/* model_reserve */
	unsigned flags;
	int maxB;
	float *actbuf;                  /* device, nacts floats */
	size_t nacts;
	struct acts *a;
	uint8_t *img;                   /* device, maxB images */
	int32_t *ids, *targets;         /* device, maxB * dec_len */
	int32_t *parents;               /* device, maxB: beam search's reordering */
	int32_t *gseq, *glen, *gdone;   /* device, maxB * dec_len, maxB, maxB: greedy decoding's
	                                   words, their numbers, the rows ended */
	double *glogprob;               /* device, maxB: its log-probabilities */

	/* the last forward, for the backward */
	int B, T;
	int from_images;                /* the encoder ran (else embeddings were given) */
	long ntargets;                  /* targets that count (not <pad>) */

	/* model_backward's gradient-ready hook, or NULL: see model_backward */
	void (*grad_ready)(void *arg, float *g, size_t n);
	void *grad_ready_arg;

	/* incremental decoding */
	int dec_B, dec_pos;             /* rows, and positions fed so far */
	int dec_K;                      /* rows per image (model_decode_start_beams) */
	int dec_sel;                    /* which copy of the caches is current */

	char err[256];                  /* after a -1 return */
};

/* A model of config c (checked, vocab > 0) with zeroed parameters. */
struct model *model_new(const struct config *c, const struct backend *be);

/* Seeded initial parameters (params_init); the same seed gives the same model. */
void model_init(struct model *m, uint64_t seed);

/* Loads a checkpoint (checkpoint.h): the model, and its vocabulary text in *vocab
 * (caller frees; may be NULL to ignore it). NULL with err on failure. */
struct model *model_load(const char *path, const struct backend *be, char **vocab,
    char *err, size_t errsz);

/* Saves the parameters as a checkpoint with vocab (may be NULL), atomically.
 * Returns 0, or -1 with err. */
int model_save(struct model *m, const char *path, const char *vocab, char *err,
    size_t errsz);

void model_free(struct model *m);

/* Allocates the activations for batches of up to B samples and what flags ask for
 * (MODEL_*), replacing earlier ones. A stack that is not trained (no MODEL_TRAIN,
 * or a frozen encoder) keeps one block's activations for all its layers; a
 * decoder reserved without MODEL_TRAIN also gets the key/value caches of
 * incremental decoding. Gradients and moments, once allocated, stay. */
void model_reserve(struct model *m, int B, unsigned flags);

/* Encoder forward: images (host U8 [B, image, image, 3], RGB) -> the encoder
 * output (device, kept for the decoder) and, unless embed is NULL, a copy in
 * embed (host F32 [B, N, D], N = patches + cls). Returns 0 or -1 with m->err. */
int model_encode(struct model *m, const uint8_t *images, int B, float *embed);

/* The encoder output from precomputed embeddings (host F32 [B, N, D]). */
int model_set_embed(struct model *m, const float *embed, int B);

/* The forward of a training step: the encoder output from images (model_encode)
 * or from embed (model_set_embed; training from embeddings needs a frozen
 * encoder), or from neither (the one already there); then the decoder over ids
 * (host [B, T], T <= dec_len). With targets (host [B, T], 0 ignored), *loss is
 * the mean cross-entropy over the targets that count (0 when none do) and the
 * backward may follow; without, the logits stay for model_logits. Returns 0, or
 * -1 with m->err for ids out of range or sizes over the reserve. */
int model_forward(struct model *m, const uint8_t *images, const float *embed,
    const int32_t *ids, const int32_t *targets, int B, int T, float *loss);

/* The logits of the last model_forward without targets: host F32 [B, T, V]. */
void model_logits(struct model *m, float *logits);

/* Inference: the decoder over ids (host [B, T]) on the encoder output already
 * there, and the logits of position T-1 only, into host F32 [B, V]. */
int model_next_logits(struct model *m, const int32_t *ids, int B, int T, float *logits);

/* Incremental decoding with a key/value cache (greedy and beam search), after
 * a reserve without MODEL_TRAIN. model_decode_start begins B sequences on the
 * encoder output already there (model_encode, model_set_embed), computing each
 * layer's cross-attention keys and values once. Each model_decode_step feeds
 * one token per row (host ids [B], <bos> first) at the next position and
 * writes the logits for the token after it (host [B, V]); at most dec_len
 * steps. model_decode_reorder makes row b continue the sequence of row
 * parent[b] (host [B]), as beam search keeps the best beams; a row keeps its
 * own encoder output, so parents come from the same image. Each returns 0, or
 * -1 with m->err.
 *
 * model_decode_start_beams is beam search's start: the encoder output of
 * `images` images (rows 0 .. images-1 of model_encode or model_set_embed), and
 * images * K decoding rows, rows i*K .. i*K+K-1 reading image i, whose cross-
 * attention keys and values are computed once and shared; a parent must then be
 * a row of the same image. model_decode_start(m, B) is
 * model_decode_start_beams(m, B, 1). */
int model_decode_start(struct model *m, int B);
int model_decode_start_beams(struct model *m, int images, int K);
int model_decode_step(struct model *m, const int32_t *ids, float *logits);
int model_decode_reorder(struct model *m, const int32_t *parent);

/* Greedy decoding on the device, after model_decode_start(m, B): the search of
 * search.h (at most max_len words, max_len < dec_len, then <eos>; <pad> and
 * <bos> never chosen; the lowest id among equal logits) with each step's
 * choice (backend greedy_step) fed straight to the next step, no token
 * crossing to the host until the end. Then row b's words are in ids[b *
 * (max_len + 1) ..] (host [B, max_len + 1]), their number in len[b] and the
 * log-probability of words and <eos> in logprob[b], the same as the host's
 * greedy search. It stops once every row has ended, which it reads (B flags)
 * after each step on a backend without a queue (the CPU), every
 * MODEL_GREEDY_CHECK steps on one with a queue, where a read waits for the
 * queue to drain. Returns 0, or -1 with m->err. */
#define MODEL_GREEDY_CHECK 4
int model_decode_greedy(struct model *m, int max_len, int32_t *ids, int32_t *len,
    double *logprob);

/* Zeroes the gradients (those being trained). */
void model_zero_grad(struct model *m);

/* Backward of the last model_forward with targets: adds into the gradients the
 * gradient of (sum of the token losses) / ntargets. ntargets 0 means this batch's
 * own count (the mean loss); a data-parallel trainer passes the count over all
 * ranks, so that the sum of the ranks' gradients is that of one large batch.
 * Stops at the encoder output when the encoder is frozen or was not run.
 *
 * With m->grad_ready set, each contiguous range of the gradients that is
 * final is handed to it as soon as the operations that finish it are issued
 * (on the backend's stream, maybe not yet done): a layer's block when its
 * backward is issued, the embeddings last. The ranges come in that order, each
 * just below the one before, and together cover model_trained_grads once, so
 * that a data-parallel trainer can start summing a layer's gradients over its
 * ranks while the layers below it still go back. */
void model_backward(struct model *m, double ntargets);

/* The gradients being trained as one device vector of *n floats: all of them,
 * or the decoder's with a frozen encoder. What a data-parallel trainer sums over
 * its ranks between model_backward and model_clip_grad. */
float *model_trained_grads(struct model *m, size_t *n);

/* The L2 norm of the gradients being trained. */
double model_grad_norm(struct model *m);

/* Scales the gradients by max_norm / (norm + 1e-6) when that is below 1, as
 * torch.nn.utils.clip_grad_norm_ does; returns the norm before clipping. */
double model_clip_grad(struct model *m, double max_norm);

/* One AdamW step (PyTorch's AdamW) on the parameters being trained; weight decay
 * only on the matrices of linear maps (PARAM_DECAY). Increments m->step. */
void model_adamw(struct model *m, double lr, double beta1, double beta2, double eps,
    double weight_decay);

/* Optimizer state for resuming: adds to rec the moments as F32 tensors named
 * "adamw.m.NAME" and "adamw.v.NAME" and the metadata "adamw_step". */
void model_optimizer_put(struct model *m, struct record *rec);
/* Restores it (after a MODEL_TRAIN reserve). Returns 0, or -1 with err naming a
 * missing or misshaped tensor. */
int model_optimizer_get(struct model *m, const struct record *rec, char *err, size_t errsz);

/* 16 hex digits identifying the encoder's weights (and config), for embeddings
 * to be matched with the model that made them. */
void model_encoder_fingerprint(struct model *m, char out[17]);

/* Forward plus backward floating-point operations per sample, counting what
 * the kernels compute (matrix products and attention; full T x T scores even
 * when causal), for a reserve of these flags and T decoder positions. */
double model_flops(const struct config *c, unsigned flags, int T);

#endif
