/* test_layers: every CPU kernel (common/layers.h, common/adamw.h) against a plain
 * double-precision reference written here from the textbook definitions, and
 * every backward against centred finite differences of that reference.
 *
 *   test_layers       run the tests; exit 1 on any failure
 *
 * A backward is checked through the scalar loss L = sum(out * R) for a random R:
 * the kernel's gradients (given dout = R) must match dL/dx by finite differences
 * in double, so the check is independent of the kernel's own arithmetic. Errors
 * are max |ours - reference| / max |reference| over a tensor. */
#include "adamw.h"
#include "layers.h"
#include "util.h"
#include "vecmath.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define FWD_TOL 2e-6    /* float kernels against double references */
#define BWD_TOL 2e-5    /* float gradients against double finite differences */

static void
expect(const char *what, double err, double tol)
{
	int ok = err <= tol;        /* NaN fails */

	printf("%-58s %.2e %s\n", what, err, ok ? "ok" : "FAILED");
	if (!ok)
		failures++;
}

/* ---- random data, comparisons ------------------------------------------------- */

static uint64_t rng = 88172645463325252ULL;

static double
urand(void)             /* uniform [0, 1) */
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (rng >> 11) * (1.0 / 9007199254740992.0);
}

static double
nrand(void)
{
	double u = urand() + 1e-12, v = urand();

	return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* n floats ~ N(0, s^2), and their double copy */
static float *
frand(size_t n, double s)
{
	float *x = emalloc(n * sizeof *x);
	size_t i;

	for (i = 0; i < n; i++)
		x[i] = (float)(s * nrand());
	return x;
}

static double *
dcopy(const float *x, size_t n)
{
	double *d = emalloc(n * sizeof *d);
	size_t i;

	for (i = 0; i < n; i++)
		d[i] = x[i];
	return d;
}

static float *
fconst(size_t n, float v)
{
	float *x = emalloc(n * sizeof *x);
	size_t i;

	for (i = 0; i < n; i++)
		x[i] = v;
	return x;
}

/* max |a - (b + base)| / max |b|: base is what an accumulated gradient started at */
static double
relerr(const float *a, const double *b, const float *base, size_t n)
{
	double num = 0, den = 1e-30;
	size_t i;

	for (i = 0; i < n; i++) {
		double want = b[i] + (base ? base[i] : 0);

		num = fmax(num, fabs(a[i] - want));
		den = fmax(den, fabs(b[i]));
	}
	return num / den;
}

/* ---- finite differences ---------------------------------------------------------- */

/* The reference loss sum(out * R) of the layer under test, from its double inputs. */
typedef double (*lossfn)(void *ctx);

static double *
fd_grad(double *x, size_t n, lossfn f, void *ctx)
{
	double *g = emalloc(n * sizeof *g);
	size_t i;

	for (i = 0; i < n; i++) {
		double keep = x[i], h = 1e-6 * fmax(1, fabs(keep)), lp, lm;

		x[i] = keep + h;
		lp = f(ctx);
		x[i] = keep - h;
		lm = f(ctx);
		x[i] = keep;
		g[i] = (lp - lm) / (2 * h);
	}
	return g;
}

static double
dot(const double *out, const float *R, size_t n)
{
	double s = 0;
	size_t i;

	for (i = 0; i < n; i++)
		s += out[i] * R[i];
	return s;
}

/* ---- im2col and the patch embedding ------------------------------------------------ */

static void
test_patch_embed(void)
{
	const int B = 2, H = 12, W = 8, P = 4, D = 5, gh = H / P, gw = W / P, np = gh * gw;
	const int F = 3 * P * P;
	const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
	uint8_t *img = emalloc((size_t)B * H * W * 3);
	float *cols = emalloc((size_t)B * np * F * sizeof(float));
	float *w = frand((size_t)D * F, 0.1), *bias = frand(D, 0.1);
	float *out = emalloc((size_t)B * np * D * sizeof(float));
	double *ref = ecalloc((size_t)B * np * D, sizeof(double)), colerr = 0;
	int b, py, px, c, y, x, d, i;

	for (i = 0; i < B * H * W * 3; i++)
		img[i] = (uint8_t)(urand() * 256);
	im2col_forward(cols, img, mean, std, B, H, W, P);
	matmul_forward(out, cols, w, bias, B * np, F, D);
	/* a strided convolution with the weight read as Conv2d's [D, 3, P, P] */
	for (b = 0; b < B; b++)
	for (py = 0; py < gh; py++)
	for (px = 0; px < gw; px++)
	for (d = 0; d < D; d++) {
		double s = bias[d];

		for (c = 0; c < 3; c++)
		for (y = 0; y < P; y++)
		for (x = 0; x < P; x++) {
			uint8_t u = img[(((size_t)b * H + py * P + y) * W + px * P + x) * 3 + c];
			double v = (u / 255.0 - mean[c]) / std[c];
			double got = cols[((size_t)b * np + py * gw + px) * F + c * P * P + y * P + x];

			s += w[(size_t)d * F + (c * P + y) * P + x] * v;
			colerr = fmax(colerr, fabs(got - v) / 3);
		}
		ref[((size_t)b * np + py * gw + px) * D + d] = s;
	}
	expect("im2col: normalised patch pixels", colerr, FWD_TOL);
	expect("patch embedding = strided convolution", relerr(out, ref, NULL, (size_t)B * np * D),
	    FWD_TOL);
	free(img);
	free(cols);
	free(w);
	free(bias);
	free(out);
	free(ref);
}

/* ---- vit_embed ------------------------------------------------------------------------ */

struct vit_ctx {
	int B, Np, C, cls;
	double *patches, *clsv, *pos;
	const float *R;
};

static void
ref_vit_embed(double *out, const struct vit_ctx *k)
{
	const int N = k->Np + k->cls;
	int b, n, c;

	for (b = 0; b < k->B; b++)
	for (n = 0; n < N; n++)
	for (c = 0; c < k->C; c++) {
		double v = k->cls && n == 0 ? k->clsv[c] :
		    k->patches[((size_t)b * k->Np + n - k->cls) * k->C + c];

		out[((size_t)b * N + n) * k->C + c] = v + k->pos[(size_t)n * k->C + c];
	}
}

static double
loss_vit_embed(void *ctx)
{
	struct vit_ctx *k = ctx;
	size_t n = (size_t)k->B * (k->Np + k->cls) * k->C;
	double *out = emalloc(n * sizeof *out), s;

	ref_vit_embed(out, k);
	s = dot(out, k->R, n);
	free(out);
	return s;
}

static void
test_vit_embed(int cls)
{
	const int B = 3, Np = 4, C = 5, N = Np + cls;
	const size_t no = (size_t)B * N * C;
	float *patches = frand((size_t)B * Np * C, 1), *clsv = frand(C, 1), *pos = frand(N * C, 1);
	float *out = emalloc(no * sizeof *out), *R = frand(no, 1);
	float *dp = fconst((size_t)B * Np * C, 7), *dcls = frand(C, 1), *dpos = frand(N * C, 1);
	float *dcls0 = emalloc(C * sizeof *dcls0), *dpos0 = emalloc(N * C * sizeof *dpos0);
	struct vit_ctx k = {B, Np, C, cls, dcopy(patches, B * Np * C), dcopy(clsv, C),
		dcopy(pos, N * C), R};
	double *ref = emalloc(no * sizeof *ref), *g;
	char what[80];

	memcpy(dcls0, dcls, C * sizeof *dcls);
	memcpy(dpos0, dpos, N * C * sizeof *dpos);
	vit_embed_forward(out, patches, cls ? clsv : NULL, pos, B, Np, C);
	ref_vit_embed(ref, &k);
	snprintf(what, sizeof what, "vit_embed_forward%s", cls ? " (class token)" : "");
	expect(what, relerr(out, ref, NULL, no), FWD_TOL);
	vit_embed_backward(dp, cls ? dcls : NULL, dpos, R, B, Np, C);
	g = fd_grad(k.patches, (size_t)B * Np * C, loss_vit_embed, &k);
	snprintf(what, sizeof what, "vit_embed_backward%s: dpatches", cls ? " (class token)" : "");
	expect(what, relerr(dp, g, NULL, (size_t)B * Np * C), BWD_TOL);
	free(g);
	g = fd_grad(k.pos, N * C, loss_vit_embed, &k);
	snprintf(what, sizeof what, "vit_embed_backward%s: dpos +=", cls ? " (class token)" : "");
	expect(what, relerr(dpos, g, dpos0, N * C), BWD_TOL);
	free(g);
	if (cls) {
		g = fd_grad(k.clsv, C, loss_vit_embed, &k);
		expect("vit_embed_backward (class token): dcls +=", relerr(dcls, g, dcls0, C),
		    BWD_TOL);
		free(g);
	}
	free(patches);
	free(clsv);
	free(pos);
	free(out);
	free(R);
	free(dp);
	free(dcls);
	free(dpos);
	free(dcls0);
	free(dpos0);
	free(k.patches);
	free(k.clsv);
	free(k.pos);
	free(ref);
}

/* ---- token embedding ------------------------------------------------------------------- */

struct embed_ctx {
	int B, T, C;
	const int32_t *ids;
	double *wte, *wpe;
	const float *R;
};

static double
loss_embed(void *ctx)
{
	struct embed_ctx *k = ctx;
	double s = 0;
	int i, c;

	for (i = 0; i < k->B * k->T; i++)
		for (c = 0; c < k->C; c++)
			s += (k->wte[(size_t)k->ids[i] * k->C + c] +
			    k->wpe[(size_t)(i % k->T) * k->C + c]) * k->R[(size_t)i * k->C + c];
	return s;
}

static void
test_embed(void)
{
	/* more columns than one COLBLOCK and repeated ids */
	const int B = 3, T = 4, C = 37, V = 6, Tmax = 6;
	int32_t ids[12];
	float *wte = frand(V * C, 1), *wpe = frand(Tmax * C, 1), *R = frand(B * T * C, 1);
	float *out = emalloc(B * T * C * sizeof *out);
	float *dwte = frand(V * C, 1), *dwpe = frand(Tmax * C, 1);
	float *dwte0 = emalloc(V * C * sizeof *dwte0), *dwpe0 = emalloc(Tmax * C * sizeof *dwpe0);
	struct embed_ctx k = {B, T, C, ids, dcopy(wte, V * C), dcopy(wpe, Tmax * C), R};
	double *ref = emalloc(B * T * C * sizeof *ref), *g;
	int i, c;

	for (i = 0; i < B * T; i++)
		ids[i] = (int32_t)(urand() * 4);        /* ids 4, 5 unused: zero gradient */
	for (i = 0; i < B * T; i++)
		for (c = 0; c < C; c++)
			ref[i * C + c] = (double)wte[ids[i] * C + c] + wpe[(i % T) * C + c];
	embed_forward(out, ids, wte, wpe, B, T, C);
	expect("embed_forward", relerr(out, ref, NULL, B * T * C), FWD_TOL);
	memcpy(dwte0, dwte, V * C * sizeof *dwte);
	memcpy(dwpe0, dwpe, Tmax * C * sizeof *dwpe);
	embed_backward(dwte, dwpe, R, ids, B, T, C);
	g = fd_grad(k.wte, V * C, loss_embed, &k);
	expect("embed_backward: dwte += (repeated ids)", relerr(dwte, g, dwte0, V * C), BWD_TOL);
	free(g);
	g = fd_grad(k.wpe, Tmax * C, loss_embed, &k);
	expect("embed_backward: dwpe += (rows past T untouched)", relerr(dwpe, g, dwpe0, Tmax * C),
	    BWD_TOL);
	free(g);
	free(wte);
	free(wpe);
	free(R);
	free(out);
	free(dwte);
	free(dwpe);
	free(dwte0);
	free(dwpe0);
	free(k.wte);
	free(k.wpe);
	free(ref);
}

/* ---- layernorm ---------------------------------------------------------------------- */

struct ln_ctx {
	int M, C;
	double eps, *inp, *w, *b;
	const float *R;
};

/* textbook: (x - mean) / sqrt(var + eps) * w + b, biased variance */
static void
ref_layernorm(double *out, const struct ln_ctx *k)
{
	int r, c;

	for (r = 0; r < k->M; r++) {
		const double *x = k->inp + (size_t)r * k->C;
		double mean = 0, var = 0;

		for (c = 0; c < k->C; c++)
			mean += x[c] / k->C;
		for (c = 0; c < k->C; c++)
			var += (x[c] - mean) * (x[c] - mean) / k->C;
		for (c = 0; c < k->C; c++)
			out[(size_t)r * k->C + c] = (x[c] - mean) / sqrt(var + k->eps) * k->w[c] + k->b[c];
	}
}

static double
loss_layernorm(void *ctx)
{
	struct ln_ctx *k = ctx;
	double *out = emalloc((size_t)k->M * k->C * sizeof *out), s;

	ref_layernorm(out, k);
	s = dot(out, k->R, (size_t)k->M * k->C);
	free(out);
	return s;
}

static void
test_layernorm(void)
{
	const int M = 7, C = 45;
	const size_t n = (size_t)M * C;
	float *inp = frand(n, 2), *w = frand(C, 1), *b = frand(C, 1), *R = frand(n, 1);
	float *out = emalloc(n * sizeof *out), mean[7], rstd[7];
	float *dinp = frand(n, 1), *dw = frand(C, 1), *db = frand(C, 1);
	float *dinp0 = emalloc(n * sizeof(float)), *dw0 = emalloc(C * sizeof(float));
	float *db0 = emalloc(C * sizeof(float));
	struct ln_ctx k = {M, C, 1e-5, dcopy(inp, n), dcopy(w, C), dcopy(b, C), R};
	double *ref = emalloc(n * sizeof *ref), *g;
	int i;

	for (i = 0; i < C; i++)         /* an offset row: the mean must not swamp the variance */
		inp[C + i] += 100, k.inp[C + i] = inp[C + i];
	layernorm_forward(out, mean, rstd, inp, w, b, M, C, 1e-5f);
	ref_layernorm(ref, &k);
	expect("layernorm_forward", relerr(out, ref, NULL, n), FWD_TOL);
	memcpy(dinp0, dinp, n * sizeof(float));
	memcpy(dw0, dw, C * sizeof(float));
	memcpy(db0, db, C * sizeof(float));
	layernorm_backward(dinp, dw, db, R, inp, w, mean, rstd, M, C);
	g = fd_grad(k.inp, n, loss_layernorm, &k);
	expect("layernorm_backward: dinp +=", relerr(dinp, g, dinp0, n), 1e-4);
	free(g);
	g = fd_grad(k.w, C, loss_layernorm, &k);
	expect("layernorm_backward: dw +=", relerr(dw, g, dw0, C), BWD_TOL);
	free(g);
	g = fd_grad(k.b, C, loss_layernorm, &k);
	expect("layernorm_backward: db +=", relerr(db, g, db0, C), BWD_TOL);
	free(g);
	free(inp);
	free(w);
	free(b);
	free(R);
	free(out);
	free(dinp);
	free(dw);
	free(db);
	free(dinp0);
	free(dw0);
	free(db0);
	free(k.inp);
	free(k.w);
	free(k.b);
	free(ref);
}

/* ---- matmul ------------------------------------------------------------------------- */

struct mm_ctx {
	int M, C, OC;
	double *inp, *w, *bias;
	const float *R;
};

static void
ref_matmul(double *out, const struct mm_ctx *k)
{
	int r, o, c;

	for (r = 0; r < k->M; r++)
		for (o = 0; o < k->OC; o++) {
			double s = k->bias[o];

			for (c = 0; c < k->C; c++)
				s += k->inp[(size_t)r * k->C + c] * k->w[(size_t)o * k->C + c];
			out[(size_t)r * k->OC + o] = s;
		}
}

static double
loss_matmul(void *ctx)
{
	struct mm_ctx *k = ctx;
	double *out = emalloc((size_t)k->M * k->OC * sizeof *out), s;

	ref_matmul(out, k);
	s = dot(out, k->R, (size_t)k->M * k->OC);
	free(out);
	return s;
}

static void
test_matmul(void)
{
	const int M = 9, C = 13, OC = 35;
	float *inp = frand(M * C, 1), *w = frand(OC * C, 1), *bias = frand(OC, 1);
	float *R = frand(M * OC, 1), *out = emalloc(M * OC * sizeof(float));
	float *dinp = fconst(M * C, 7), *dinp2 = frand(M * C, 1), *dinp20 = emalloc(M * C * 4);
	float *dw = frand(OC * C, 1), *db = frand(OC, 1);
	float *dw0 = emalloc(OC * C * 4), *db0 = emalloc(OC * 4), *dw2 = fconst(OC * C, 0);
	struct mm_ctx k = {M, C, OC, dcopy(inp, M * C), dcopy(w, OC * C), dcopy(bias, OC), R};
	double *ref = emalloc(M * OC * sizeof *ref), *g, *gw;
	double *zero = ecalloc(OC, sizeof *zero);

	matmul_forward(out, inp, w, bias, M, C, OC);
	ref_matmul(ref, &k);
	expect("matmul_forward", relerr(out, ref, NULL, M * OC), FWD_TOL);
	memcpy(k.bias, zero, OC * sizeof *zero);
	matmul_forward(out, inp, w, NULL, M, C, OC);
	ref_matmul(ref, &k);
	expect("matmul_forward without bias", relerr(out, ref, NULL, M * OC), FWD_TOL);

	memcpy(dw0, dw, OC * C * 4);
	memcpy(db0, db, OC * 4);
	memcpy(dinp20, dinp2, M * C * 4);
	matmul_backward(dinp, dw, db, R, inp, w, M, C, OC, 0);
	g = fd_grad(k.inp, M * C, loss_matmul, &k);
	expect("matmul_backward: dinp =", relerr(dinp, g, NULL, M * C), BWD_TOL);
	matmul_backward(dinp2, dw2, NULL, R, inp, w, M, C, OC, 1);
	expect("matmul_backward: dinp += (accumulate)", relerr(dinp2, g, dinp20, M * C), BWD_TOL);
	free(g);
	gw = fd_grad(k.w, OC * C, loss_matmul, &k);
	expect("matmul_backward: dw +=", relerr(dw, gw, dw0, OC * C), BWD_TOL);
	g = fd_grad(k.bias, OC, loss_matmul, &k);
	expect("matmul_backward: dbias +=", relerr(db, g, db0, OC), BWD_TOL);
	free(g);
	memset(dw2, 0, OC * C * 4);
	matmul_backward(NULL, dw2, NULL, R, inp, w, M, C, OC, 0);
	expect("matmul_backward: dinp NULL, dw still", relerr(dw2, gw, NULL, OC * C), BWD_TOL);
	free(gw);
	free(inp);
	free(w);
	free(bias);
	free(R);
	free(out);
	free(dinp);
	free(dinp2);
	free(dinp20);
	free(dw);
	free(db);
	free(dw0);
	free(db0);
	free(dw2);
	free(k.inp);
	free(k.w);
	free(k.bias);
	free(ref);
	free(zero);
}

/* ---- attention ------------------------------------------------------------------------ */

struct att_ctx {
	int B, Tq, Tk, C, NH, causal, ldq, ldkv;
	double *q, *kv;         /* q rows (B,Tq,ldq); k at kv, v at kv + C, rows (B,Tk,ldkv) */
	int koff, voff;         /* where k and v start in kv (self-attention: all in q) */
	const float *R;
};

/* The plain triple loop: for each (b, h, i), softmax over j of q.k / sqrt(hs),
 * then the weighted sum of v. */
static void
ref_attention(double *out, const struct att_ctx *k)
{
	const int hs = k->C / k->NH;
	double *p = emalloc(k->Tk * sizeof *p);
	int b, h, i, j, d;

	for (b = 0; b < k->B; b++)
	for (h = 0; h < k->NH; h++)
	for (i = 0; i < k->Tq; i++) {
		const double *qi = k->q + ((size_t)b * k->Tq + i) * k->ldq + h * hs;
		double mx = -INFINITY, sum = 0;

		for (j = 0; j < k->Tk; j++) {
			const double *kj = k->kv + ((size_t)b * k->Tk + j) * k->ldkv + k->koff + h * hs;
			double s = 0;

			for (d = 0; d < hs; d++)
				s += qi[d] * kj[d];
			p[j] = s / sqrt(hs);
			if (k->causal && j > i + k->Tk - k->Tq)
				p[j] = -INFINITY;
			mx = fmax(mx, p[j]);
		}
		for (j = 0; j < k->Tk; j++)
			sum += (p[j] = exp(p[j] - mx));
		for (d = 0; d < hs; d++) {
			double s = 0;

			for (j = 0; j < k->Tk; j++)
				s += p[j] / sum *
				    k->kv[((size_t)b * k->Tk + j) * k->ldkv + k->voff + h * hs + d];
			out[((size_t)b * k->Tq + i) * k->C + h * hs + d] = s;
		}
	}
	free(p);
}

static double
loss_attention(void *ctx)
{
	struct att_ctx *k = ctx;
	size_t n = (size_t)k->B * k->Tq * k->C;
	double *out = emalloc(n * sizeof *out), s;

	ref_attention(out, k);
	s = dot(out, k->R, n);
	free(out);
	return s;
}

/* cross: q (B,Tq,C) and kv (B,Tk,2C) apart; else one qkv buffer (B,T,3C). */
static void
test_attention(const char *name, int cross, int causal, int Tq, int Tk)
{
	const int B = 2, C = 12, NH = 3;
	const int ldq = cross ? C : 3 * C, ldkv = cross ? 2 * C : 3 * C;
	const size_t nq = (size_t)B * Tq * ldq, nkv = cross ? (size_t)B * Tk * ldkv : 0;
	const size_t no = (size_t)B * Tq * C;
	float *q = frand(nq, 1), *kv = cross ? frand(nkv, 1) : q;
	float *R = frand(no, 1), *out = emalloc(no * sizeof(float));
	float *att = emalloc((size_t)B * NH * Tq * Tk * sizeof(float));
	float *datt = emalloc((size_t)B * NH * Tq * Tk * sizeof(float));
	float *dq = fconst(nq, 7), *dkv = cross ? fconst(nkv, 7) : dq;
	struct att_ctx k = {B, Tq, Tk, C, NH, causal, ldq, ldkv, dcopy(q, nq), NULL,
		cross ? 0 : C, cross ? C : 2 * C, R};
	double *ref = emalloc(no * sizeof *ref), *g;
	char what[96];

	k.kv = cross ? dcopy(kv, nkv) : k.q;
	attention_forward(out, att, q, kv + (cross ? 0 : C), kv + (cross ? C : 2 * C), ldq, ldkv,
	    B, Tq, Tk, C, NH, causal);
	ref_attention(ref, &k);
	snprintf(what, sizeof what, "attention_forward: %s", name);
	expect(what, relerr(out, ref, NULL, no), FWD_TOL);
	attention_backward(dq, dkv + (cross ? 0 : C), dkv + (cross ? C : 2 * C), datt, R, q,
	    kv + (cross ? 0 : C), kv + (cross ? C : 2 * C), att, ldq, ldkv, B, Tq, Tk, C, NH);
	g = fd_grad(k.q, nq, loss_attention, &k);
	snprintf(what, sizeof what, "attention_backward: %s: %s", name, cross ? "dq =" : "dqkv =");
	expect(what, relerr(dq, g, NULL, nq), BWD_TOL);
	free(g);
	if (cross) {
		g = fd_grad(k.kv, nkv, loss_attention, &k);
		snprintf(what, sizeof what, "attention_backward: %s: dkv =", name);
		expect(what, relerr(dkv, g, NULL, nkv), BWD_TOL);
		free(g);
		free(kv);
		free(dkv);
		free(k.kv);
	}
	free(q);
	free(R);
	free(out);
	free(att);
	free(datt);
	free(dq);
	free(k.q);
	free(ref);
}

/* ---- gelu, residual ----------------------------------------------------------------- */

struct gelu_ctx {
	size_t n;
	int exact;
	double *x;
	const float *R;
};

static double
ref_gelu(double x, int exact)
{
	if (exact)
		return 0.5 * x * (1 + erf(x / sqrt(2)));
	return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

static double
loss_gelu(void *ctx)
{
	struct gelu_ctx *k = ctx;
	double s = 0;
	size_t i;

	for (i = 0; i < k->n; i++)
		s += ref_gelu(k->x[i], k->exact) * k->R[i];
	return s;
}

static void
test_gelu(int exact)
{
	const size_t n = 301;
	float *x = frand(n, 2.5), *R = frand(n, 1), *out = emalloc(n * 4), *dx = emalloc(n * 4);
	struct gelu_ctx k = {n, exact, dcopy(x, n), R};
	double *ref = emalloc(n * sizeof *ref), *g;
	size_t i;

	for (i = 0; i < n; i++)
		ref[i] = ref_gelu(k.x[i], exact);
	gelu_forward(out, x, n, exact);
	expect(exact ? "gelu_forward (exact, erf)" : "gelu_forward (tanh)", relerr(out, ref, NULL, n),
	    FWD_TOL);
	memcpy(dx, R, n * 4);
	gelu_backward(dx, x, dx, n, exact);     /* in place, as the model calls it */
	g = fd_grad(k.x, n, loss_gelu, &k);
	expect(exact ? "gelu_backward (exact, erf), in place" : "gelu_backward (tanh), in place",
	    relerr(dx, g, NULL, n), BWD_TOL);
	free(g);
	/* the tails, where the exponentials underflow and x^3 overflows (past 1e19
	 * x^2 does too, and the derivative is NaN, as PyTorch's) */
	{
		static const float tail[] = {-1e15f, -1e6f, -100, -20, -9.5f, -8.7f, 8.7f, 9.5f,
			20, 100, 1e6f, 1e15f, 0, -0.0f};
		const size_t nt = sizeof tail / sizeof tail[0];
		double err = 0;

		gelu_forward(out, tail, nt, exact);
		memcpy(dx, tail, nt * sizeof *dx);
		for (i = 0; i < nt; i++)
			dx[i] = 1;
		gelu_backward(dx, tail, dx, nt, exact);
		for (i = 0; i < nt; i++) {
			double want = tail[i] > 0 ? tail[i] : 0, dwant = tail[i] > 0 ? 1 : 0;

			if (tail[i] == 0)
				want = 0, dwant = 0.5;
			err = fmax(err, fabs(out[i] - want) / fmax(1, fabs(want)));
			err = fmax(err, fabs(dx[i] - dwant));
			if (!isfinite(out[i]) || !isfinite(dx[i]))
				err = INFINITY;
		}
		expect(exact ? "gelu (exact): tails finite and right" : "gelu (tanh): tails finite and right",
		    err, 1e-6);
	}
	free(x);
	free(R);
	free(out);
	free(dx);
	free(k.x);
	free(ref);
}

static void
test_exp_neg(void)
{
	double err = 0;
	int i;

	for (i = 0; i <= 870000; i++) {
		float m = i * 1e-4f;
		double want = exp(-(double)m);

		err = fmax(err, fabs(exp_neg(m) - want) / want);
	}
	expect("exp_neg: e^-m on [0, 87], relative", err, 3e-7);
	expect("exp_neg: 0 past 87, and for infinity", exp_neg(87.5f) + exp_neg(INFINITY), 0);
}

static void
test_residual(void)
{
	const size_t n = 1000;
	float *a = frand(n, 1), *b = frand(n, 1), *out = emalloc(n * 4);
	double *ref = emalloc(n * sizeof *ref);
	size_t i;

	for (i = 0; i < n; i++)
		ref[i] = (double)a[i] + b[i];
	residual_forward(out, a, b, n);
	expect("residual_forward", relerr(out, ref, NULL, n), FWD_TOL);
	residual_forward(a, a, b, n);
	expect("residual_forward in place", relerr(a, ref, NULL, n), FWD_TOL);
	free(a);
	free(b);
	free(out);
	free(ref);
}

/* ---- classifier + cross-entropy ------------------------------------------------------- */

struct cls_ctx {
	int M, C, V;
	double *inp, *wte;
	const int32_t *targets;
	double scale;
};

/* scale * sum over counted rows of -log softmax(inp wte^T)[target] */
static double
loss_classifier(void *ctx)
{
	struct cls_ctx *k = ctx;
	double *z = emalloc(k->V * sizeof *z), total = 0;
	int r, v, c;

	for (r = 0; r < k->M; r++) {
		double mx = -INFINITY, sum = 0;

		if (k->targets[r] == 0)
			continue;
		for (v = 0; v < k->V; v++) {
			z[v] = 0;
			for (c = 0; c < k->C; c++)
				z[v] += k->inp[(size_t)r * k->C + c] * k->wte[(size_t)v * k->C + c];
			mx = fmax(mx, z[v]);
		}
		for (v = 0; v < k->V; v++)
			sum += exp(z[v] - mx);
		total += -(z[k->targets[r]] - mx - log(sum));
	}
	free(z);
	return total * k->scale;
}

static void
test_classifier(void)
{
	const int M = 8, C = 9, V = 40;
	int32_t targets[8] = {5, 0, 39, 1, 0, 2, 17, 3};   /* two ignored rows */
	float *inp = frand(M * C, 1), *wte = frand(V * C, 1);
	float *logits = emalloc(M * V * 4), *losses = fconst(M, 7);
	float *dinp = fconst(M * C, 7), *dwte = frand(V * C, 1), *dwte0 = emalloc(V * C * 4);
	struct cls_ctx k = {M, C, V, dcopy(inp, M * C), dcopy(wte, V * C), targets, 1};
	double *ref = emalloc(M * V * sizeof *ref), *g, lossum = 0, loss_ref;
	float loss_err;
	int r, v, c;

	for (r = 0; r < M; r++)
		for (v = 0; v < V; v++) {
			ref[r * V + v] = 0;
			for (c = 0; c < C; c++)
				ref[r * V + v] += k.inp[r * C + c] * k.wte[v * C + c];
		}
	classifier_forward(logits, losses, inp, wte, NULL, M, C, V);
	expect("classifier_forward: logits", relerr(logits, ref, NULL, M * V), FWD_TOL);
	classifier_forward(logits, losses, inp, wte, targets, M, C, V);
	for (r = 0; r < M; r++)
		lossum += losses[r];
	loss_ref = loss_classifier(&k);
	loss_err = (float)(fabs(lossum - loss_ref) / fabs(loss_ref));
	expect("classifier_forward: losses (0 for ignored targets)", loss_err, FWD_TOL);
	expect("classifier_forward: ignored rows' losses are 0", losses[1] + losses[4], 0);
	k.scale = 1.0 / 6;
	memcpy(dwte0, dwte, V * C * 4);
	classifier_backward(dinp, dwte, logits, inp, wte, targets, 1.0f / 6, M, C, V);
	g = fd_grad(k.inp, M * C, loss_classifier, &k);
	expect("classifier_backward: dinp = (mean over 6 targets)", relerr(dinp, g, NULL, M * C),
	    BWD_TOL);
	free(g);
	g = fd_grad(k.wte, V * C, loss_classifier, &k);
	expect("classifier_backward: dwte +=", relerr(dwte, g, dwte0, V * C), BWD_TOL);
	free(g);
	free(inp);
	free(wte);
	free(logits);
	free(losses);
	free(dinp);
	free(dwte);
	free(dwte0);
	free(k.inp);
	free(k.wte);
	free(ref);
}

static void
test_gather(void)
{
	const int B = 3, T = 4, C = 5;
	float *inp = frand(B * T * C, 1), out[15];
	double ref[15];
	int b, c;

	for (b = 0; b < B; b++)
		for (c = 0; c < C; c++)
			ref[b * C + c] = inp[(b * T + 2) * C + c];
	gather_position(out, inp, B, T, C, 2);
	expect("gather_position", relerr(out, ref, NULL, B * C), 0);
	{
		const int32_t idx[3] = {2, 2, 0};
		float rows[60];
		double rref[60];
		int k;

		for (k = 0; k < 4; k++)
			for (b = 0; b < B; b++)
				for (c = 0; c < C; c++)
					rref[(k * B + b) * C + c] = inp[(k * B + idx[b]) * C + c];
		gather_rows(rows, inp, idx, 4, B, C);
		expect("gather_rows", relerr(rows, rref, NULL, 60), 0);
	}
	free(inp);
}

/* ---- adamw ---------------------------------------------------------------------------- */

static void
test_adamw(void)
{
	const size_t n = 500;
	const double lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
	float *p = frand(n, 1), *m = fconst(n, 0), *v = fconst(n, 0), *g;
	double *dp = dcopy(p, n), *dm = ecalloc(n, sizeof *dm), *dv = ecalloc(n, sizeof *dv);
	long step;
	size_t i;

	for (step = 1; step <= 5; step++) {
		g = frand(n, step == 3 ? 1e-6 : 1);     /* one step of tiny gradients */
		adamw_update(p, g, m, v, n, lr, b1, b2, eps, wd, step);
		/* Loshchilov & Hutter's decoupled decay, with Adam's bias correction */
		for (i = 0; i < n; i++) {
			double mh, vh;

			dm[i] = b1 * dm[i] + (1 - b1) * g[i];
			dv[i] = b2 * dv[i] + (1 - b2) * (double)g[i] * g[i];
			mh = dm[i] / (1 - pow(b1, step));
			vh = dv[i] / (1 - pow(b2, step));
			dp[i] = dp[i] * (1 - lr * wd) - lr * mh / (sqrt(vh) + eps);
		}
		free(g);
	}
	expect("adamw_update: 5 steps with weight decay", relerr(p, dp, NULL, n), 1e-6);
	free(p);
	free(m);
	free(v);
	free(dp);
	free(dm);
	free(dv);
}

/* ---- reductions, and the same bits on any thread count ------------------------------- */

static void
test_reductions(void)
{
	const size_t n = 100003;
	float *x = frand(n, 1), *y;
	double s = 0, s2 = 0, a1, a2, b1, b2;
	size_t i;

	for (i = 0; i < n; i++) {
		s += x[i];
		s2 += (double)x[i] * x[i];
	}
	omp_set_num_threads(1);
	a1 = vec_sum(x, n);
	a2 = vec_sumsq(x, n);
	omp_set_num_threads(3);
	b1 = vec_sum(x, n);
	b2 = vec_sumsq(x, n);
	expect("vec_sum", fabs(a1 - s) / fabs(s2), 1e-12);
	expect("vec_sumsq", fabs(a2 - s2) / s2, 1e-12);
	expect("vec_sum, vec_sumsq: 1 and 3 threads give the same bits",
	    (a1 != b1) + (a2 != b2), 0);
	y = emalloc(n * 4);
	memcpy(y, x, n * 4);
	vec_scale(y, n, 0.25f);
	for (i = 0, s = 0; i < n; i++)
		s = fmax(s, fabs(y[i] - 0.25 * x[i]));
	expect("vec_scale", s, 0);
	free(x);
	free(y);
}

/* The kernels' reductions run in an order fixed by the shapes: a layer's backward
 * gives the same bits on 1 and 3 threads (sgemm aside, whose order is OpenBLAS's). */
static void
test_thread_independence(void)
{
	const int M = 50, C = 70;
	float *inp = frand(M * C, 1), *w = frand(C, 1), *R = frand(M * C, 1), mean[50], rstd[50];
	float *out = emalloc(M * C * 4), *d1 = fconst(M * C, 0), *d3 = fconst(M * C, 0);
	float *dw1 = fconst(C, 0), *dw3 = fconst(C, 0), *db1 = fconst(C, 0), *db3 = fconst(C, 0);
	int diff;

	layernorm_forward(out, mean, rstd, inp, w, w, M, C, 1e-5f);
	omp_set_num_threads(1);
	layernorm_backward(d1, dw1, db1, R, inp, w, mean, rstd, M, C);
	omp_set_num_threads(3);
	layernorm_backward(d3, dw3, db3, R, inp, w, mean, rstd, M, C);
	diff = memcmp(d1, d3, M * C * 4) != 0 || memcmp(dw1, dw3, C * 4) != 0 ||
	    memcmp(db1, db3, C * 4) != 0;
	expect("layernorm_backward: 1 and 3 threads give the same bits", diff, 0);
	free(inp);
	free(w);
	free(R);
	free(out);
	free(d1);
	free(d3);
	free(dw1);
	free(dw3);
	free(db1);
	free(db3);
}

int
main(int argc, char *argv[])
{
	int threads = omp_get_max_threads();

	(void)argv;
	setprogname("test_layers");
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1)
		uprintf("usage: test_layers");
	test_patch_embed();
	test_vit_embed(0);
	test_vit_embed(1);
	test_embed();
	test_layernorm();
	test_matmul();
	test_attention("self", 0, 0, 5, 5);
	test_attention("causal self", 0, 1, 6, 6);
	test_attention("cross, Tq < Tk", 1, 0, 4, 7);
	test_attention("cross, Tq > Tk", 1, 0, 6, 3);
	test_attention("causal, queries at the end of the keys", 1, 1, 3, 7);
	test_exp_neg();
	test_gelu(0);
	test_gelu(1);
	test_residual();
	test_classifier();
	test_gather();
	test_adamw();
	test_reductions();
	test_thread_independence();
	omp_set_num_threads(threads);
	if (failures)
		printf("%d FAILED\n", failures);
	return failures ? 1 : 0;
}
