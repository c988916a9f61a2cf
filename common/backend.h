/* backend.h: the operations the model is composed of, on device buffers.
 *
 * model.c does all its work through one of these tables and never touches a
 * buffer's contents itself, so a CUDA backend is a second table. Every pointer
 * argument is device memory, except where a comment says host. The operations
 * have the shapes and semantics of the CPU kernels of the same name in layers.h
 * (dinp "=" or "+=", parameter gradients "+="); the CPU backend is those
 * kernels, with host memory as the device.
 *
 * The CUDA backend (make CUDA=1, backend_cuda.cu) queues every operation on one
 * stream; only upload (so that the host buffer is free on return), download,
 * sum, sumsq and sync wait for it. */
#ifndef VITCAP_BACKEND_H
#define VITCAP_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* The token ids of DESIGN.md; greedy_step chooses among them. */
enum { TOK_PAD = 0, TOK_BOS = 1, TOK_EOS = 2, TOK_UNK = 3 };

struct backend {
	const char *name;

	/* memory: alloc returns zeroed memory or exits with a message */
	void *(*alloc)(size_t bytes);
	void (*free)(void *p);
	void (*upload)(void *dst, const void *host, size_t bytes);
	void (*download)(void *host, const void *src, size_t bytes);
	void (*zero)(void *p, size_t bytes);

	/* layers (layers.h); mean and std of im2col are host arrays */
	void (*im2col_forward)(float *cols, const uint8_t *img, const float mean[3],
	    const float std[3], int B, int H, int W, int P);
	void (*vit_embed_forward)(float *out, const float *patches, const float *cls,
	    const float *pos, int B, int Np, int C);
	void (*vit_embed_backward)(float *dpatches, float *dcls, float *dpos,
	    const float *dout, int B, int Np, int C);
	void (*embed_forward)(float *out, const int32_t *ids, const float *wte,
	    const float *wpe, int B, int T, int C);
	void (*embed_backward)(float *dwte, float *dwpe, const float *dout,
	    const int32_t *ids, int B, int T, int C);
	void (*layernorm_forward)(float *out, float *mean, float *rstd, const float *inp,
	    const float *w, const float *b, int M, int C, float eps);
	void (*layernorm_backward)(float *dinp, float *dw, float *db, const float *dout,
	    const float *inp, const float *w, const float *mean, const float *rstd,
	    int M, int C);
	void (*matmul_forward)(float *out, const float *inp, const float *w,
	    const float *bias, int M, int C, int OC);
	void (*matmul_backward)(float *dinp, float *dw, float *dbias, const float *dout,
	    const float *inp, const float *w, int M, int C, int OC, int accumulate);
	void (*attention_forward)(float *out, float *att, const float *q, const float *k,
	    const float *v, int ldq, int ldkv, int B, int Tq, int Tk, int C, int NH,
	    int causal);
	void (*attention_backward)(float *dq, float *dk, float *dv, float *datt,
	    const float *dout, const float *q, const float *k, const float *v,
	    const float *att, int ldq, int ldkv, int B, int Tq, int Tk, int C, int NH);
	void (*gelu_forward)(float *out, const float *inp, size_t n, int exact);
	void (*gelu_backward)(float *dinp, const float *inp, const float *dout, size_t n,
	    int exact);
	void (*residual_forward)(float *out, const float *a, const float *b, size_t n);
	void (*classifier_forward)(float *logits, float *losses, const float *inp,
	    const float *wte, const int32_t *targets, int M, int C, int V);
	void (*classifier_backward)(float *dinp, float *dwte, float *probs,
	    const float *inp, const float *wte, const int32_t *targets, float scale,
	    int M, int C, int V);
	void (*gather_position)(float *out, const float *inp, int B, int T, int C, int t);
	void (*gather_rows)(float *out, const float *inp, const int32_t *idx, int K, int B,
	    int C);

	/* Greedy decoding's step t (search.h: at most L words, then <eos>) on the
	 * logits [B, V] of B rows, so that the next token never leaves the device.
	 * A row not yet ended (done[b] 0) takes the best token other than TOK_PAD
	 * and TOK_BOS, the lowest id among equal logits (a NaN logit is passed
	 * over, unless it is TOK_EOS's: then TOK_EOS), or TOK_EOS when t == L;
	 * adds its log-softmax to logprob[b] (double: the logit less the max plus
	 * the log of the float sum of e^(z - max), NaN logits counting 0); and
	 * appends it to row b of seq [B, L + 1] at len[b]++, or, for TOK_EOS, sets
	 * done[b]. ids[b] becomes the token, the next step's input; an ended row
	 * is left as it is, so it goes on feeding its TOK_EOS. */
	void (*greedy_step)(int32_t *ids, int32_t *seq, int32_t *len, int32_t *done,
	    double *logprob, const float *logits, int B, int V, int t, int L);

	/* whole-vector operations; the sums come back to the host */
	double (*sum)(const float *x, size_t n);
	double (*sumsq)(const float *x, size_t n);
	void (*scale)(float *x, size_t n, float s);
	void (*adamw)(float *p, const float *g, float *m, float *v, size_t n, double lr,
	    double beta1, double beta2, double eps, double wd, long step);

	/* the queue: sync waits for all the work queued so far; stream is the queue
	 * itself (a cudaStream_t, for NCCL to run on), NULL on the CPU */
	void (*sync)(void);
	void *(*stream)(void);
	/* Tells the backend that the buffer holding p was written by something
	 * other than these operations (NCCL, say): the CUDA backend drops the bf16
	 * copy of the weights it derived from that buffer. No-op on the CPU. */
	void (*written)(const void *p);
};

extern const struct backend backend_cpu;

/* make CUDA=1 only: fp32 (cuBLASLt sgemm, TF32 off: the CPU's results up to
 * rounding) and bf16 (as PyTorch autocast: matrix products on bf16 copies of
 * their operands with fp32 accumulation and output; everything else fp32). */
extern const struct backend backend_cuda, backend_cuda_bf16;

/* The backend for device "cpu" or "cuda" and precision "fp32", "bf16" or NULL
 * (the device's default: fp32 on the CPU, bf16 on CUDA). NULL with err, one
 * line, when it cannot be had: "this build has no CUDA backend (rebuild with
 * make CUDA=1)", "no CUDA GPU is visible", "unknown device x (cpu or cuda)"... */
const struct backend *backend_get(const char *device, const char *precision, char *err,
    size_t errsz);

/* backend_get for a program's --device and --precision (either may be NULL):
 * an unknown value, or bf16 on the CPU, is a usage error (exit 2); a device this
 * build or machine cannot give exits 1 with "prog: --device cuda: no CUDA GPU
 * is visible" or "prog: --device cuda: this build has no CUDA backend (...)". */
const struct backend *backend_for_options(const char *device, const char *precision);

/* A process of a multi-GPU run picks its GPU before the first CUDA operation:
 * device ordinal % the visible devices (pass the local rank). Returns the device
 * taken, or -1 without a CUDA backend or a visible GPU. */
int backend_cuda_select(int ordinal);

#endif
