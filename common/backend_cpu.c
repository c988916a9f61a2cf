/* backend_cpu.c: the backend whose device is host memory and whose operations
 * are the kernels of layers.h and adamw.h. */
#include "adamw.h"
#include "backend.h"
#include "layers.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static void *
cpu_alloc(size_t bytes)
{
	return ecalloc(1, bytes);
}

static void
cpu_free(void *p)
{
	free(p);
}

static void
cpu_copy(void *dst, const void *src, size_t bytes)
{
	if (bytes)
		memcpy(dst, src, bytes);
}

static void
cpu_zero(void *p, size_t bytes)
{
	if (bytes)
		memset(p, 0, bytes);
}

static void
cpu_greedy_step(int32_t *ids, int32_t *seq, int32_t *len, int32_t *done, double *logprob,
    const float *logits, int B, int V, int t, int L)
{
	int b;

#pragma omp parallel for schedule(static)
	for (b = 0; b < B; b++) {
		const float *z = logits + (size_t)b * V;
		int32_t c;

		if (done[b])
			continue;
		c = t == L ? TOK_EOS : greedy_token(z, V);
		logprob[b] = logprob[b] + ((double)z[c] - logsumexp(z, V));
		if (c == TOK_EOS)
			done[b] = 1;
		else
			seq[(size_t)b * (L + 1) + len[b]++] = c;
		ids[b] = c;
	}
}

/* the CPU's operations are done when they return */
static void
cpu_sync(void)
{
}

static void *
cpu_stream(void)
{
	return NULL;
}

static void
cpu_written(const void *p)
{
	(void)p;
}

const struct backend backend_cpu = {
	.name = "cpu",
	.alloc = cpu_alloc,
	.free = cpu_free,
	.upload = cpu_copy,
	.download = cpu_copy,
	.zero = cpu_zero,
	.im2col_forward = im2col_forward,
	.vit_embed_forward = vit_embed_forward,
	.vit_embed_backward = vit_embed_backward,
	.embed_forward = embed_forward,
	.embed_backward = embed_backward,
	.layernorm_forward = layernorm_forward,
	.layernorm_backward = layernorm_backward,
	.matmul_forward = matmul_forward,
	.matmul_backward = matmul_backward,
	.attention_forward = attention_forward,
	.attention_backward = attention_backward,
	.gelu_forward = gelu_forward,
	.gelu_backward = gelu_backward,
	.residual_forward = residual_forward,
	.classifier_forward = classifier_forward,
	.classifier_backward = classifier_backward,
	.gather_position = gather_position,
	.gather_rows = gather_rows,
	.greedy_step = cpu_greedy_step,
	.sum = vec_sum,
	.sumsq = vec_sumsq,
	.scale = vec_scale,
	.adamw = adamw_update,
	.sync = cpu_sync,
	.stream = cpu_stream,
	.written = cpu_written,
};
