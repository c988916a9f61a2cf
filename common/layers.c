/* layers.c: the CPU kernels but attention (attention.c): patch and token
 * embeddings, LayerNorm, linear maps, GELU, residual, the tied classifier with
 * its cross-entropy, and the reductions. Shapes are in layers.h. */
#include "backend.h"
#include "layers.h"
#include "vecmath.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* Column block for the reductions over rows (bias and LayerNorm gradients): each
 * thread owns whole columns, so every sum runs over the rows in order. */
#define COLBLOCK 32

/* dsum[c] += sum over rows r of x[r*ld + c], for c in [0, C). */
VEC_CLONES
static void
colsum_accumulate(float *dsum, const float *x, int M, int C, int ld)
{
	int nb = (C + COLBLOCK - 1) / COLBLOCK, blk;

#pragma omp parallel for schedule(static)
	for (blk = 0; blk < nb; blk++) {
		int c0 = blk * COLBLOCK, c1 = c0 + COLBLOCK < C ? c0 + COLBLOCK : C;
		float acc[COLBLOCK] = {0};
		int r, c;

		for (r = 0; r < M; r++) {
			const float *row = x + (size_t)r * ld;

#pragma omp simd
			for (c = c0; c < c1; c++)
				acc[c - c0] += row[c];
		}
		for (c = c0; c < c1; c++)
			dsum[c] += acc[c - c0];
	}
}

void
im2col_forward(float *cols, const uint8_t *img, const float mean[3], const float std[3],
    int B, int H, int W, int P)
{
	const int gw = W / P, np = (H / P) * gw, F = 3 * P * P;
	float lut[3][256];
	int c, u, i;

	/* a table per channel: the same float arithmetic for every pixel */
	for (c = 0; c < 3; c++)
		for (u = 0; u < 256; u++)
			lut[c][u] = ((float)u / 255.0f - mean[c]) / std[c];
#pragma omp parallel for schedule(static)
	for (i = 0; i < B * np; i++) {
		int b = i / np, p = i % np, py = p / gw, px = p % gw, ch, y, x;
		float *out = cols + (size_t)i * F;

		for (ch = 0; ch < 3; ch++) {
			for (y = 0; y < P; y++) {
				const uint8_t *src = img +
				    (((size_t)b * H + py * P + y) * W + px * P) * 3 + ch;

				for (x = 0; x < P; x++)
					out[ch * P * P + y * P + x] = lut[ch][src[3 * x]];
			}
		}
	}
}

void
vit_embed_forward(float *out, const float *patches, const float *cls, const float *pos,
    int B, int Np, int C)
{
	const int off = cls != NULL, N = Np + off;
	int i;

#pragma omp parallel for schedule(static)
	for (i = 0; i < B * N; i++) {
		int b = i / N, n = i % N, c;
		const float *src = n < off ? cls : patches + ((size_t)b * Np + n - off) * C;
		const float *p = pos + (size_t)n * C;
		float *o = out + (size_t)i * C;

#pragma omp simd
		for (c = 0; c < C; c++)
			o[c] = src[c] + p[c];
	}
}

void
vit_embed_backward(float *dpatches, float *dcls, float *dpos, const float *dout,
    int B, int Np, int C)
{
	const int off = dcls != NULL, N = Np + off;
	int i, n;

#pragma omp parallel for schedule(static)
	for (i = 0; i < B * Np; i++) {
		int b = i / Np, p = i % Np;

		memcpy(dpatches + (size_t)i * C, dout + ((size_t)b * N + p + off) * C,
		    C * sizeof(float));
	}
#pragma omp parallel for schedule(static)
	for (n = 0; n < N; n++) {
		float *dp = dpos + (size_t)n * C;
		int b, c;

		for (b = 0; b < B; b++) {
			const float *d = dout + ((size_t)b * N + n) * C;

#pragma omp simd
			for (c = 0; c < C; c++)
				dp[c] += d[c];
		}
		if (n < off)
			for (b = 0; b < B; b++)
#pragma omp simd
				for (c = 0; c < C; c++)
					dcls[c] += dout[(size_t)b * N * C + c];
	}
}

void
embed_forward(float *out, const int32_t *ids, const float *wte, const float *wpe,
    int B, int T, int C)
{
	int i;

#pragma omp parallel for schedule(static) if ((size_t)B * T * C >= PAR_MIN)
	for (i = 0; i < B * T; i++) {
		const float *e = wte + (size_t)ids[i] * C, *p = wpe + (size_t)(i % T) * C;
		float *o = out + (size_t)i * C;
		int c;

#pragma omp simd
		for (c = 0; c < C; c++)
			o[c] = e[c] + p[c];
	}
}

void
embed_backward(float *dwte, float *dwpe, const float *dout, const int32_t *ids,
    int B, int T, int C)
{
	int nb = (C + COLBLOCK - 1) / COLBLOCK, blk, t;

	/* rows of dwte repeat (a token occurs many times), so threads split columns */
#pragma omp parallel for schedule(static)
	for (blk = 0; blk < nb; blk++) {
		int c0 = blk * COLBLOCK, c1 = c0 + COLBLOCK < C ? c0 + COLBLOCK : C, i, c;

		for (i = 0; i < B * T; i++) {
			float *dw = dwte + (size_t)ids[i] * C;
			const float *d = dout + (size_t)i * C;

#pragma omp simd
			for (c = c0; c < c1; c++)
				dw[c] += d[c];
		}
	}
#pragma omp parallel for schedule(static)
	for (t = 0; t < T; t++) {
		float *dp = dwpe + (size_t)t * C;
		int b, c;

		for (b = 0; b < B; b++) {
			const float *d = dout + ((size_t)b * T + t) * C;

#pragma omp simd
			for (c = 0; c < C; c++)
				dp[c] += d[c];
		}
	}
}

VEC_CLONES
void
layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
    const float *w, const float *b, int M, int C, float eps)
{
	int r;

#pragma omp parallel for schedule(static) if ((size_t)M * C >= PAR_MIN)
	for (r = 0; r < M; r++) {
		const float *x = inp + (size_t)r * C;
		float *o = out + (size_t)r * C;
		double sum = 0, ss = 0;
		float m, s;
		int c;

		/* sums in double: a row far from zero keeps its variance */
#pragma omp simd reduction(+:sum)
		for (c = 0; c < C; c++)
			sum += x[c];
		m = (float)(sum / C);
#pragma omp simd reduction(+:ss)
		for (c = 0; c < C; c++)
			ss += (double)(x[c] - m) * (x[c] - m);
		s = (float)(1.0 / sqrt(ss / C + eps));
#pragma omp simd
		for (c = 0; c < C; c++)
			o[c] = (x[c] - m) * s * w[c] + b[c];
		mean[r] = m;
		rstd[r] = s;
	}
}

VEC_CLONES
void
layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
    const float *inp, const float *w, const float *mean, const float *rstd, int M, int C)
{
	int nb = (C + COLBLOCK - 1) / COLBLOCK, r, blk;

#pragma omp parallel for schedule(static)
	for (r = 0; r < M; r++) {
		const float *x = inp + (size_t)r * C, *d = dout + (size_t)r * C;
		float *di = dinp + (size_t)r * C;
		float m = mean[r], s = rstd[r], dmean = 0, dnorm = 0;
		int c;

#pragma omp simd reduction(+:dmean, dnorm)
		for (c = 0; c < C; c++) {
			float dn = d[c] * w[c];

			dmean += dn;
			dnorm += dn * (x[c] - m) * s;
		}
		dmean /= C;
		dnorm /= C;
#pragma omp simd
		for (c = 0; c < C; c++) {
			float n = (x[c] - m) * s;

			di[c] += (d[c] * w[c] - dmean - n * dnorm) * s;
		}
	}
#pragma omp parallel for schedule(static)
	for (blk = 0; blk < nb; blk++) {
		int c0 = blk * COLBLOCK, c1 = c0 + COLBLOCK < C ? c0 + COLBLOCK : C, rr, c;
		float aw[COLBLOCK] = {0}, ab[COLBLOCK] = {0};

		for (rr = 0; rr < M; rr++) {
			const float *x = inp + (size_t)rr * C, *d = dout + (size_t)rr * C;
			float m = mean[rr], s = rstd[rr];

#pragma omp simd
			for (c = c0; c < c1; c++) {
				aw[c - c0] += d[c] * (x[c] - m) * s;
				ab[c - c0] += d[c];
			}
		}
		for (c = c0; c < c1; c++) {
			dw[c] += aw[c - c0];
			db[c] += ab[c - c0];
		}
	}
}

void
matmul_forward(float *out, const float *inp, const float *w, const float *bias,
    int M, int C, int OC)
{
	int r;

	/* the bias first, then sgemm adds onto it (beta 1): one pass over out
	 * instead of sgemm clearing it and another adding the bias */
	if (bias) {
#pragma omp parallel for schedule(static) if ((size_t)M * OC >= PAR_MIN)
		for (r = 0; r < M; r++)
			memcpy(out + (size_t)r * OC, bias, OC * sizeof(float));
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, OC, C, 1.0f, inp, C, w, C,
	    bias ? 1.0f : 0.0f, out, OC);
}

void
matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
    const float *inp, const float *w, int M, int C, int OC, int accumulate)
{
	if (dinp)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, C, OC, 1.0f, dout, OC,
		    w, C, accumulate ? 1.0f : 0.0f, dinp, C);
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, M, 1.0f, dout, OC, inp, C,
	    1.0f, dw, C);
	if (dbias)
		colsum_accumulate(dbias, dout, M, OC, OC);
}

#define GELU_K 0.7978845608028654f      /* sqrt(2/pi) */
#define INV_SQRT2 0.7071067811865476f
#define INV_SQRT2PI 0.3989422804014327f

/* The tanh form, 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), with
 * tanh(u) = sign(u) (1 - a) / (1 + a), a = e^-2|u| in (0, 1]: vectorised, and
 * 1 - tanh^2 = 4a / (1 + a)^2 without cancellation. */
VEC_CLONES
void
gelu_forward(float *out, const float *inp, size_t n, int exact)
{
	long i;

	if (exact) {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
		for (i = 0; i < (long)n; i++)
			out[i] = 0.5f * inp[i] * (1.0f + erff(inp[i] * INV_SQRT2));
	} else {
#pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
		for (i = 0; i < (long)n; i++) {
			float x = inp[i], u = GELU_K * (x + 0.044715f * x * x * x);
			float a = exp_neg(2.0f * fabsf(u)), t = copysignf((1.0f - a) / (1.0f + a), u);

			out[i] = 0.5f * x * (1.0f + t);
		}
	}
}

VEC_CLONES
void
gelu_backward(float *dinp, const float *inp, const float *dout, size_t n, int exact)
{
	long i;

	if (exact) {
#pragma omp parallel for simd schedule(static)
		for (i = 0; i < (long)n; i++) {
			float x = inp[i];
			float g = 0.5f * (1.0f + erff(x * INV_SQRT2)) +
			    x * INV_SQRT2PI * exp_neg(0.5f * x * x);

			dinp[i] = dout[i] * g;
		}
	} else {
#pragma omp parallel for simd schedule(static)
		for (i = 0; i < (long)n; i++) {
			float x = inp[i], u = GELU_K * (x + 0.044715f * x * x * x);
			float a = exp_neg(2.0f * fabsf(u)), t = copysignf((1.0f - a) / (1.0f + a), u);
			float sech2 = 4.0f * a / ((1.0f + a) * (1.0f + a));
			float g = 0.5f * (1.0f + t) +
			    0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);

			dinp[i] = dout[i] * g;
		}
	}
}

VEC_CLONES
void
residual_forward(float *out, const float *a, const float *b, size_t n)
{
	long i;

#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
	for (i = 0; i < (long)n; i++)
		out[i] = a[i] + b[i];
}

VEC_CLONES
void
classifier_forward(float *logits, float *losses, const float *inp, const float *wte,
    const int32_t *targets, int M, int C, int V)
{
	int r;

	matmul_forward(logits, inp, wte, NULL, M, C, V);
	if (!targets)
		return;
#pragma omp parallel for schedule(static)
	for (r = 0; r < M; r++) {
		float *z = logits + (size_t)r * V, mx = -INFINITY, sum = 0, inv;
		int v;

		if (targets[r] == 0) {
			losses[r] = 0;
			continue;
		}
		for (v = 0; v < V; v++)
			mx = z[v] > mx ? z[v] : mx;
		/* the loss from the logit, not log(p): exact for tiny probabilities */
		losses[r] = mx - z[targets[r]];
#pragma omp simd reduction(+:sum)
		for (v = 0; v < V; v++) {
			z[v] = exp_neg(mx - z[v]);
			sum += z[v];
		}
		losses[r] += logf(sum);
		inv = 1.0f / sum;
		for (v = 0; v < V; v++)
			z[v] *= inv;
	}
}

VEC_CLONES
void
classifier_backward(float *dinp, float *dwte, float *probs, const float *inp,
    const float *wte, const int32_t *targets, float scale, int M, int C, int V)
{
	int r;

#pragma omp parallel for schedule(static)
	for (r = 0; r < M; r++) {
		float *d = probs + (size_t)r * V;
		int v;

		if (targets[r] == 0) {
			memset(d, 0, V * sizeof(float));
			continue;
		}
#pragma omp simd
		for (v = 0; v < V; v++)
			d[v] *= scale;
		d[targets[r]] -= scale;
	}
	matmul_backward(dinp, dwte, NULL, probs, inp, wte, M, C, V, 0);
}

void
gather_position(float *out, const float *inp, int B, int T, int C, int t)
{
	int b;

	for (b = 0; b < B; b++)
		memcpy(out + (size_t)b * C, inp + ((size_t)b * T + t) * C, C * sizeof(float));
}

void
gather_rows(float *out, const float *inp, const int32_t *idx, int K, int B, int C)
{
	int i;

#pragma omp parallel for schedule(static) if ((size_t)K * B * C >= PAR_MIN)
	for (i = 0; i < K * B; i++)
		memcpy(out + (size_t)i * C, inp + ((size_t)(i / B) * B + idx[i % B]) * C,
		    C * sizeof(float));
}

VEC_CLONES
double
logsumexp(const float *z, int V)
{
	float mx = -INFINITY, sum = 0;
	int v;

	for (v = 0; v < V; v++)
		mx = z[v] > mx ? z[v] : mx;
#pragma omp simd reduction(+:sum)
	for (v = 0; v < V; v++)
		sum += exp_neg(mx - z[v]);
	return mx + log((double)sum);
}

int32_t
greedy_token(const float *z, int V)
{
	int32_t best = -1, v;

	/* the ids below <eos> are <pad> and <bos> (backend.h) */
	for (v = TOK_EOS; v < V; v++)
		if (best < 0 || z[v] > z[best])
			best = v;
	return best;
}

/* Chunks fixed by n alone; partial sums added in chunk order. */
#define MAXCHUNK 256
#define MINCHUNK 4096

VEC_CLONES
static double
vec_reduce(const float *x, size_t n, int squares)
{
	double part[MAXCHUNK], total = 0;
	size_t nchunk = (n + MINCHUNK - 1) / MINCHUNK, len;
	long k;

	if (nchunk > MAXCHUNK)
		nchunk = MAXCHUNK;
	if (nchunk == 0)
		return 0;
	len = (n + nchunk - 1) / nchunk;
#pragma omp parallel for schedule(static)
	for (k = 0; k < (long)nchunk; k++) {
		size_t i = k * len, end = i + len < n ? i + len : n;
		double s = 0;

		for (; i < end; i++)
			s += squares ? (double)x[i] * x[i] : x[i];
		part[k] = s;
	}
	for (k = 0; k < (long)nchunk; k++)
		total += part[k];
	return total;
}

double
vec_sum(const float *x, size_t n)
{
	return vec_reduce(x, n, 0);
}

double
vec_sumsq(const float *x, size_t n)
{
	return vec_reduce(x, n, 1);
}

VEC_CLONES
void
vec_scale(float *x, size_t n, float s)
{
	long i;

#pragma omp parallel for schedule(static)
	for (i = 0; i < (long)n; i++)
		x[i] *= s;
}
