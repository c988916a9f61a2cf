/* search.h: captions from the decoder: greedy decoding, beam search and
 * sampling, batched over images, over the model's incremental decoding
 * (model_decode_start_beams, model_decode_step, model_decode_reorder; see
 * capdecode(1) for the definitions this code follows).
 *
 * A caption is at most max_len words, then <eos>: the decoder reads <bos> w1 ..
 * wn, one position each, and the step after max_len words may only choose
 * <eos>, so max_len + 1 decoder positions are needed. <pad> and <bos> are
 * never chosen. Log-probabilities are those of the model (log-softmax of the
 * logits over the whole vocabulary, at temperature 1), summed in double. */
#ifndef VITCAP_SEARCH_H
#define VITCAP_SEARCH_H

#include <stdint.h>

#include "model.h"

#define SEARCH_MAX_BEAM 32

struct search_opts {
	int beam;               /* 1 .. SEARCH_MAX_BEAM: beam search; 0: greedy or sampling */
	double alpha;           /* beam search: length penalty, score / (words + 1)^alpha */
	int max_len;            /* words at most, 0 .. dec_len - 1 */
	int sample;             /* draw each token instead of taking the best */
	double temperature;     /* sampling: logits / temperature, > 0 */
	int top_k;              /* sampling: from the top_k tokens only; 0: all */
	int no_cache;           /* recompute the whole prefix each step (testing) */
};

struct caption {
	int32_t *ids;           /* the words, without <eos> */
	int n;
	double logprob;         /* sum over the words and <eos> */
	double score;           /* beam search: logprob / (n + 1)^alpha, else logprob */
};

struct search;

/* Rows of the model's decoder batch that a batch of B images needs. */
int search_rows(const struct search_opts *o, int B);

/* Scratch for batches of up to maxB images; m must be reserved (without
 * MODEL_TRAIN) for search_rows(o, maxB) decoder rows. Exits on a bad option. */
struct search *search_new(struct model *m, int maxB, const struct search_opts *o);
void search_free(struct search *s);

/* Captions of B images: their encoder output from embed (host F32 [B, N, D]),
 * or, when embed is NULL, the one already in the model's first B rows
 * (model_encode; not with no_cache). seeds[b] seeds image b's draws when
 * sampling (else ignored, may be NULL), so a caption does not depend on the
 * batch it is in. out[b].ids stays valid until the next search_run. Returns 0,
 * or -1 with the model's m->err. */
int search_run(struct search *s, const float *embed, int B, const uint64_t *seeds,
    struct caption *out);

#endif
