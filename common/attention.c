/* attention.c: multi-head scaled dot-product attention, self (plain and causal)
 * and cross, forward and backward. Shapes and views are in layers.h.
 *
 * Each (batch, head) pair is four small sgemm calls on strided views, so no head
 * is ever copied out or transposed; the pairs run in parallel, and OpenBLAS runs
 * single-threaded inside an OpenMP parallel region. */
#include "layers.h"
#include "mask.h"
#include "vecmath.h"

#include <cblas.h>
#include <math.h>
#include <string.h>


/* Incremental decoding asks one query per row (K per image in beam search):
 * sgemm would spend more on packing k and v than on the products, so a few
 * queries are matrix-vector products, which OpenBLAS does without packing.
 * Same results up to rounding. */
#define FEW_QUERIES 4

static void
few_queries(float *ob, float *a, const float *qb, const float *kb, const float *vb,
    int ldq, int ldkv, int Tq, int Tk, int C, int hs, float scale, int causal)
{
	int i, j;

	for (i = 0; i < Tq; i++) {
		float *row = a + (size_t)i * Tk, mx = -INFINITY, sum = 0;
		int n = att_visible(i, Tq, Tk, causal);

		if (n)
			cblas_sgemv(CblasRowMajor, CblasNoTrans, n, hs, scale, kb, ldkv,
			    qb + (size_t)i * ldq, 1, 0.0f, row, 1);
		for (j = 0; j < n; j++)
			mx = row[j] > mx ? row[j] : mx;
#pragma omp simd reduction(+:sum)
		for (j = 0; j < n; j++) {
			row[j] = exp_neg(mx - row[j]);
			sum += row[j];
		}
		for (j = 0; j < n; j++)
			row[j] /= sum;
		for (; j < Tk; j++)
			row[j] = 0;
		if (n)
			cblas_sgemv(CblasRowMajor, CblasTrans, n, hs, 1.0f, vb, ldkv, row, 1, 0.0f,
			    ob + (size_t)i * C, 1);
		else
			memset(ob + (size_t)i * C, 0, hs * sizeof *ob);
	}
}

VEC_CLONES
void
attention_forward(float *out, float *att, const float *q, const float *k,
    const float *v, int ldq, int ldkv, int B, int Tq, int Tk, int C, int NH, int causal)
{
	const int hs = C / NH;
	const float scale = 1.0f / sqrtf((float)hs);
	int bh;

#pragma omp parallel for schedule(static) if ((size_t)B * NH * Tq * Tk * (C / NH) >= PAR_MIN)
	for (bh = 0; bh < B * NH; bh++) {
		const int b = bh / NH, h = bh % NH;
		const float *qb = q + (size_t)b * Tq * ldq + h * hs;
		const float *kb = k + (size_t)b * Tk * ldkv + h * hs;
		const float *vb = v + (size_t)b * Tk * ldkv + h * hs;
		float *a = att + (size_t)bh * Tq * Tk, *ob = out + (size_t)b * Tq * C + h * hs;
		int i, j;

		if (Tq <= FEW_QUERIES) {
			few_queries(ob, a, qb, kb, vb, ldq, ldkv, Tq, Tk, C, hs, scale, causal);
			continue;
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, hs, scale, qb, ldq,
		    kb, ldkv, 0.0f, a, Tk);
		for (i = 0; i < Tq; i++) {
			float *row = a + (size_t)i * Tk, mx = -INFINITY, sum = 0, inv;
			int n = att_visible(i, Tq, Tk, causal);

			for (j = 0; j < n; j++)
				mx = row[j] > mx ? row[j] : mx;
#pragma omp simd reduction(+:sum)
			for (j = 0; j < n; j++) {
				row[j] = exp_neg(mx - row[j]);
				sum += row[j];
			}
			inv = n ? 1.0f / sum : 0;
			for (j = 0; j < n; j++)
				row[j] *= inv;
			for (; j < Tk; j++)
				row[j] = 0;
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, hs, Tk, 1.0f, a, Tk,
		    vb, ldkv, 0.0f, ob, C);
	}
}

VEC_CLONES
void
attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout,
    const float *q, const float *k, const float *v, const float *att,
    int ldq, int ldkv, int B, int Tq, int Tk, int C, int NH)
{
	const int hs = C / NH;
	const float scale = 1.0f / sqrtf((float)hs);
	int bh;

#pragma omp parallel for schedule(static)
	for (bh = 0; bh < B * NH; bh++) {
		const int b = bh / NH, h = bh % NH;
		const size_t qo = (size_t)b * Tq * ldq + h * hs, ko = (size_t)b * Tk * ldkv + h * hs;
		const float *a = att + (size_t)bh * Tq * Tk;
		const float *db = dout + (size_t)b * Tq * C + h * hs;
		float *da = datt + (size_t)bh * Tq * Tk;
		int i, j;

		/* dP = dO V^T, dV = P^T dO */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, hs, 1.0f, db, C,
		    v + ko, ldkv, 0.0f, da, Tk);
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, hs, Tq, 1.0f, a, Tk, db, C,
		    0.0f, dv + ko, ldkv);
		/* softmax backward, with the score scale folded in: dS = P (dP - sum P dP) / sqrt(hs);
		 * masked entries have P = 0 and so get 0 */
		for (i = 0; i < Tq; i++) {
			const float *p = a + (size_t)i * Tk;
			float *d = da + (size_t)i * Tk, s = 0;

			for (j = 0; j < Tk; j++)
				s += p[j] * d[j];
			for (j = 0; j < Tk; j++)
				d[j] = p[j] * (d[j] - s) * scale;
		}
		/* dQ = dS K, dK = dS^T Q */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, hs, Tk, 1.0f, da, Tk,
		    k + ko, ldkv, 0.0f, dq + qo, ldq);
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, hs, Tq, 1.0f, da, Tk,
		    q + qo, ldq, 0.0f, dk + ko, ldkv);
	}
}
