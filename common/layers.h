/* layers.h: the CPU kernels, each layer a forward/backward pair in the style of
 * llm.c's train_gpt2.c, with the shapes in a comment above each.
 *
 * Conventions: tensors are row-major float arrays; B is the batch, T (or N for
 * the encoder) positions, C channels, M = B*T rows when a layer does not care
 * about positions. A linear weight is [out, in] as in PyTorch (y = x W^T + b).
 * Backward functions accumulate (+=) into parameter gradients; what they do to
 * input gradients each comment says ("dinp =" overwrites, "dinp +=" adds). Every
 * reduction runs in an order fixed by the shapes, not by the thread count, so
 * runs are bit-identical given the same OpenBLAS thread count. Matrix products
 * go through cblas_sgemm; everything else is plain C with OpenMP. */
#ifndef VITCAP_LAYERS_H
#define VITCAP_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* The forward kernels that incremental decoding runs on a few rows at a time
 * split their work among the threads only from this many elements (or
 * multiply-adds) on: below, waking the team costs more than it saves, and on a
 * machine shared with other work a descheduled thread would stall every one
 * of the decoder's many short steps. Each element is computed the same way
 * either way. */
#define PAR_MIN 32768

/* img (B,H,W,3) U8 RGB -> cols (B, (H/P)*(W/P), 3*P*P): patch p = py*(W/P) + px,
 * feature c*P*P + y*P + x (a Conv2d weight [D,3,P,P] reshaped matches it), value
 * (img/255 - mean[c]) / std[c]. No backward: pixels take no gradient. */
void im2col_forward(float *cols, const uint8_t *img, const float mean[3], const float std[3],
    int B, int H, int W, int P);

/* out (B,N,C) = [cls; patches] + pos, patches (B,Np,C), cls (C) or NULL, pos (N,C),
 * N = Np + (cls != NULL). */
void vit_embed_forward(float *out, const float *patches, const float *cls, const float *pos,
    int B, int Np, int C);
/* dpatches (B,Np,C) =, dcls (C) += (NULL without a class token), dpos (N,C) +=. */
void vit_embed_backward(float *dpatches, float *dcls, float *dpos, const float *dout,
    int B, int Np, int C);

/* out (B,T,C) = wte[ids] + wpe[0..T): ids (B,T) in [0,V), wte (V,C), wpe (>=T,C). */
void embed_forward(float *out, const int32_t *ids, const float *wte, const float *wpe,
    int B, int T, int C);
/* dwte (V,C) +=, dwpe (T,C) +=. */
void embed_backward(float *dwte, float *dwpe, const float *dout, const int32_t *ids,
    int B, int T, int C);

/* out, inp (M,C); w, b (C); mean, rstd (M) kept for the backward. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
    const float *w, const float *b, int M, int C, float eps);
/* dinp (M,C) += (it feeds the residual stream), dw, db (C) +=. */
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
    const float *inp, const float *w, const float *mean, const float *rstd, int M, int C);

/* out (M,OC) = inp (M,C) w^T + bias: w (OC,C), bias (OC) or NULL. */
void matmul_forward(float *out, const float *inp, const float *w, const float *bias,
    int M, int C, int OC);
/* dinp (M,C) = dout w, or += when accumulate, skipped when NULL; dw (OC,C) +=,
 * dbias (OC) += (skipped when NULL). */
void matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
    const float *inp, const float *w, int M, int C, int OC, int accumulate);

/* Multi-head scaled dot-product attention, heads of hs = C/NH channels:
 * q rows (B,Tq,ldq), k and v rows (B,Tk,ldkv): head h reads columns h*hs ..
 * (h+1)*hs of each row, so q, k and v may be views into one qkv buffer (self-
 * attention: ldq = ldkv = 3C, k = q + C, v = q + 2C). out (B,Tq,C) = softmax(q k^T
 * / sqrt(hs)) v, with causal set query i sees keys j <= i + Tk - Tq. att
 * (B,NH,Tq,Tk) keeps the probabilities (0 where masked) for the backward. */
void attention_forward(float *out, float *att, const float *q, const float *k,
    const float *v, int ldq, int ldkv, int B, int Tq, int Tk, int C, int NH, int causal);
/* dq, dk, dv (views like q, k, v) =; datt (B,NH,Tq,Tk) is scratch. */
void attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout,
    const float *q, const float *k, const float *v, const float *att,
    int ldq, int ldkv, int B, int Tq, int Tk, int C, int NH);

/* out = gelu(inp), n elements: tanh approximation, or erf when exact. */
void gelu_forward(float *out, const float *inp, size_t n, int exact);
/* dinp = dout * gelu'(inp); dinp may be dout. */
void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n, int exact);

/* out = a + b, n elements; out may be a or b. The backward is the identity: in a
 * pre-LN block the residual stream's gradient flows on and each branch adds into
 * it (layernorm_backward's dinp +=). */
void residual_forward(float *out, const float *a, const float *b, size_t n);

/* The tied classifier and the softmax cross-entropy in one: logits (M,V) = inp
 * (M,C) wte^T, wte (V,C). Without targets, logits is left as it is. With targets
 * (M), 0 = ignored, logits becomes the probabilities in place and losses (M) gets
 * -log p[target] (0 for ignored rows). */
void classifier_forward(float *logits, float *losses, const float *inp, const float *wte,
    const int32_t *targets, int M, int C, int V);
/* For the loss sum(losses) * scale: probs (M,V) from the forward becomes dlogits
 * in place; dinp (M,C) =, dwte (V,C) +=. */
void classifier_backward(float *dinp, float *dwte, float *probs, const float *inp,
    const float *wte, const int32_t *targets, float scale, int M, int C, int V);

/* out (B,C) = inp[:, t, :] for inp (B,T,C). */
void gather_position(float *out, const float *inp, int B, int T, int C, int t);

/* out (K,B,C): out[k, b] = inp[k, idx[b]] for inp (K,B,C), idx (B) in [0,B);
 * out and inp apart. */
void gather_rows(float *out, const float *inp, const int32_t *idx, int K, int B, int C);

/* log sum_v e^z[v] over a row of V logits, the softmax's denominator as the
 * searches and greedy_step take it: the max, plus the log (in double) of the
 * float sum of e^(z - max) (exp_neg, so that a NaN logit counts 0). */
double logsumexp(const float *z, int V);

/* The token greedy decoding takes from a row of V logits: the largest not
 * <pad> or <bos>, the lowest id among equals; -1 when V leaves none. One rule
 * for the searches and greedy_step, so that their captions agree. */
int32_t greedy_token(const float *z, int V);

/* Sums in double, in an order fixed by n alone (the same for any thread count). */
double vec_sum(const float *x, size_t n);
double vec_sumsq(const float *x, size_t n);

/* x *= s, n elements. */
void vec_scale(float *x, size_t n, float s);

#endif
