/* emu_kernels.cpp: every kernel of the .cu files of common/ on the CPU, through emu.h,
 * against the CPU backend: the kernel lab's cases (tests/gpu/test_kernels.c)
 * at shapes small enough for an emulator, the tiny preset's and odd ones.
 *
 *	emu_kernels [-l] [group ...]
 *
 * One line per operation (group, name, shape, error, tolerance, ok or FAIL),
 * any problem the emulator saw on its own line ("emu: ..."), then with no
 * group named, the kernels that the .cu files define and no case launched, and
 * the summary line:
 *	emu_kernels: N passed, N failed, N emulator problems, N of N kernels run
 * -l lists the groups. Errors are the lab's: max |gpu - cpu| / max(max |cpu|,
 * 1e-6), 1e-5 in fp32 and 2e-2 for bf16 products.
 *
 * Exit status: 0 all passed and (without groups) every kernel ran, 1 not, 2
 * usage. */
#include "emu.h"

extern "C" {
#include "backend.h"
#include "util.h"
}

#include <string>
#include <utility>
#include <vector>

/* Kernels no case here launches, each with the reason; the run fails on a
 * kernel neither launched nor listed, and on a listed one that is launched or
 * no longer defined, so that the list cannot go stale. */
static const std::vector<std::pair<const char *, const char *>> unchecked = {
};

#define TOL32 1e-5
#define TOL16 2e-2
#define FLOOR 1e-6

static const struct backend *cpu = &backend_cpu, *gpu;
static const char *group, *prec;
static double tol;
static uint64_t rng = 42;
static int npass, nfail;

/* the backend under test; the precision and tolerance follow from it */
static void
use(const struct backend *be)
{
	gpu = be;
	prec = be == &backend_cuda_bf16 ? "bf16" : "fp32";
	tol = be == &backend_cuda_bf16 ? TOL16 : TOL32;
}

/* ---- buffers on both sides ----------------------------------------------------------- */

/* the same values on the host (the CPU backend's device) and the device */
template <typename T>
struct pair {
	T *h, *d;
	size_t n;
};
typedef pair<float> fpair;

static float
uniform(void)
{
	return (float)((splitmix64(&rng) >> 40) * (1.0 / (1 << 24)));
}

static float
normal(void)
{
	float u = uniform(), v = uniform();

	return sqrtf(-2.0f * logf(1.0f - u)) * cosf(6.2831853f * v);
}

template <typename T>
static void
push(pair<T> *p)
{
	gpu->upload(p->d, p->h, p->n * sizeof(T));
}

template <typename T>
static pair<T>
both(size_t n)
{
	pair<T> p = {(T *)emalloc(n * sizeof(T) + 1), (T *)gpu->alloc(n * sizeof(T)), n};

	return p;
}

/* n floats of mean + scale * N(0, 1) */
static fpair
rnd(size_t n, float mean, float scale)
{
	fpair p = both<float>(n);

	for (size_t i = 0; i < n; i++)
		p.h[i] = mean + scale * normal();
	push(&p);
	return p;
}

/* n ids in [lo, hi) */
static pair<int32_t>
irnd(size_t n, int lo, int hi)
{
	pair<int32_t> p = both<int32_t>(n);

	for (size_t i = 0; i < n; i++)
		p.h[i] = lo + (int)(splitmix64(&rng) % (uint64_t)(hi - lo));
	push(&p);
	return p;
}

template <typename T>
static void
drop(pair<T> *p)
{
	free(p->h);
	gpu->free(p->d);
}

static const fpair none = {NULL, NULL, 0};

/* max |gpu - cpu| / max(max |cpu|, FLOOR); a NaN on one side only is infinite */
static double
error_of(const fpair *p)
{
	std::vector<float> got(p->n);
	double maxdiff = 0, maxref = 0;

	gpu->download(got.data(), p->d, p->n * sizeof(float));
	for (size_t i = 0; i < p->n; i++) {
		const double a = got[i], b = p->h[i];

		if (!std::isfinite(a) || !std::isfinite(b)) {
			if (!(std::isnan(a) && std::isnan(b)) && a != b)
				return INFINITY;
			continue;
		}
		maxdiff = std::max(maxdiff, fabs(a - b));
		maxref = std::max(maxref, fabs(b));
	}
	return maxdiff / (maxref > FLOOR ? maxref : FLOOR);
}

/* counts a check passed when ok, failed when not */
static void
count(bool ok)
{
	ok ? npass++ : nfail++;
}

/* one line: the error err of the output worst, within the tolerance or not */
static void
verdict(const char *name, const char *shape, double err, const char *worst)
{
	printf("%-10s %-20s %-44s %-4s err %.2e (%s) tol %.0e %s\n", group, name, shape, prec,
	    err, worst, tol, err <= tol ? "ok" : "FAIL");
	count(err <= tol);
}

/* one line: the worst error over the named outputs */
static void
report(const char *name, const char *shape, std::initializer_list<std::pair<const char *,
    const fpair *>> outs)
{
	const char *worst = outs.begin()->first;
	double err = 0;

	for (const auto &o : outs) {
		const double e = error_of(o.second);

		if (!(e <= err)) {
			err = e;
			worst = o.first;
		}
	}
	verdict(name, shape, err, worst);
}

/* a call written once for both sides: S is H or D */
#define H(p) ((p).h)
#define D(p) ((p).d)
#define BOTH(CALL) do { CALL(cpu, H); CALL(gpu, D); } while (0)

static char shape[128];
#define SHAPE(...) snprintf(shape, sizeof shape, __VA_ARGS__)

/* ---- the cases ----------------------------------------------------------------------- */

static void
memory(void)
{
	const size_t n = 1000;
	fpair z = both<float>(n), x = rnd(n, 0, 1);

	/* alloc's zeroes, upload and download (rnd), zero */
	memset(z.h, 0, n * sizeof(float));
	SHAPE("n=%zu", n);
	report("alloc", shape, {{"zeroed", &z}});
	report("upload", shape, {{"x", &x}});
	memset(x.h, 0, n * sizeof(float));
	gpu->zero(x.d, n * sizeof(float));
	report("zero", shape, {{"x", &x}});
	drop(&z);
	drop(&x);
}

static void
im2col(int B, int HW, int P)
{
	const size_t n = (size_t)B * HW * HW * 3;
	pair<uint8_t> img = both<uint8_t>(n);
	const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
	fpair cols = rnd((size_t)B * (HW / P) * (HW / P) * 3 * P * P, 0, 1);

	for (size_t i = 0; i < n; i++)
		img.h[i] = (uint8_t)splitmix64(&rng);
	push(&img);
	SHAPE("B=%d %dx%d P=%d", B, HW, HW, P);
#define CALL(be, S) (be)->im2col_forward(S(cols), S(img), mean, sd, B, HW, HW, P)
	BOTH(CALL);
#undef CALL
	report("im2col_forward", shape, {{"cols", &cols}});
	drop(&img);
	drop(&cols);
}

static void
vit_embed(int B, int Np, int C, int cls)
{
	const int N = Np + cls;
	fpair patches = rnd((size_t)B * Np * C, 0, 1), pos = rnd((size_t)N * C, 0, 0.02f);
	fpair cl = cls ? rnd(C, 0, 0.02f) : none, out = rnd((size_t)B * N * C, 0, 1);
	fpair dout = rnd((size_t)B * N * C, 0, 1), dpatches = rnd((size_t)B * Np * C, 0, 1);
	fpair dcls = cls ? rnd(C, 0, 1) : none, dpos = rnd((size_t)N * C, 0, 1);

	SHAPE("B=%d Np=%d C=%d cls=%d", B, Np, C, cls);
#define CALL(be, S) (be)->vit_embed_forward(S(out), S(patches), S(cl), S(pos), B, Np, C)
	BOTH(CALL);
#undef CALL
	report("vit_embed_forward", shape, {{"out", &out}});
#define CALL(be, S) (be)->vit_embed_backward(S(dpatches), S(dcls), S(dpos), S(dout), B, Np, C)
	BOTH(CALL);
#undef CALL
	report("vit_embed_backward", shape, {{"dpatches", &dpatches}, {"dpos", &dpos},
	    {"dcls", &dcls}});
	for (fpair *p : {&patches, &pos, &cl, &out, &dout, &dpatches, &dcls, &dpos})
		if (p->d)
			drop(p);
}

static void
embed(int B, int T, int C, int V)
{
	/* a few distinct tokens, so that rows of dwte repeat; V-1 and ids a
	 * bucket apart (64) in the mix */
	pair<int32_t> ids = irnd((size_t)B * T, 0, 40);
	fpair wte = rnd((size_t)V * C, 0, 0.02f), wpe = rnd((size_t)T * C, 0, 0.02f);
	fpair out = rnd((size_t)B * T * C, 0, 1), dout = rnd((size_t)B * T * C, 0, 1);
	fpair dwte = rnd((size_t)V * C, 0, 1), dwpe = rnd((size_t)T * C, 0, 1);

	ids.h[0] = V - 1;
	ids.h[1] = 64 % V;
	ids.h[2] = 128 % V;
	push(&ids);
	SHAPE("B=%d T=%d C=%d V=%d", B, T, C, V);
#define CALL(be, S) (be)->embed_forward(S(out), S(ids), S(wte), S(wpe), B, T, C)
	BOTH(CALL);
#undef CALL
	report("embed_forward", shape, {{"out", &out}});
#define CALL(be, S) (be)->embed_backward(S(dwte), S(dwpe), S(dout), S(ids), B, T, C)
	BOTH(CALL);
#undef CALL
	report("embed_backward", shape, {{"dwte", &dwte}, {"dwpe", &dwpe}});
	drop(&ids);
	for (fpair *p : {&wte, &wpe, &out, &dout, &dwte, &dwpe})
		drop(p);
}

static void
layernorm(int M, int C)
{
	fpair x = rnd((size_t)M * C, 3, 2), w = rnd(C, 1, 0.1f), b = rnd(C, 0, 0.1f);
	fpair out = rnd((size_t)M * C, 0, 1), mean = rnd(M, 0, 1), rstd = rnd(M, 0, 1);
	fpair dout = rnd((size_t)M * C, 0, 1), dinp = rnd((size_t)M * C, 0, 1);
	fpair dw = rnd(C, 0, 1), db = rnd(C, 0, 1);

	SHAPE("M=%d C=%d", M, C);
#define CALL(be, S) (be)->layernorm_forward(S(out), S(mean), S(rstd), S(x), S(w), S(b), M, C, \
	    1e-5f)
	BOTH(CALL);
#undef CALL
	report("layernorm_forward", shape, {{"out", &out}, {"mean", &mean}, {"rstd", &rstd}});
	/* both from the CPU's statistics */
	push(&mean);
	push(&rstd);
#define CALL(be, S) (be)->layernorm_backward(S(dinp), S(dw), S(db), S(dout), S(x), S(w), \
	    S(mean), S(rstd), M, C)
	BOTH(CALL);
#undef CALL
	report("layernorm_backward", shape, {{"dinp", &dinp}, {"dw", &dw}, {"db", &db}});
	for (fpair *p : {&x, &w, &b, &out, &mean, &rstd, &dout, &dinp, &dw, &db})
		drop(p);
}

/* bias_off 1: the bias one float into its buffer, not 16-byte aligned (the
 * path without cuBLASLt's epilogue) */
static void
matmul(int M, int C, int OC, int with_bias, int bias_off, int accumulate, int with_dinp)
{
	fpair inp = rnd((size_t)M * C, 0, 1), w = rnd((size_t)OC * C, 0, 0.02f);
	fpair bias = with_bias ? rnd(OC + 1, 0, 0.1f) : none, out = rnd((size_t)M * OC, 0, 1);
	fpair dout = rnd((size_t)M * OC, 0, 1), dinp = with_dinp ? rnd((size_t)M * C, 0, 1) : none;
	fpair dw = rnd((size_t)OC * C, 0, 1), dbias = with_bias ? rnd(OC, 0, 1) : none;
	float *bh = with_bias ? bias.h + bias_off : NULL, *bd = with_bias ? bias.d + bias_off : NULL;

	SHAPE("M=%d C=%d OC=%d bias=%s", M, C, OC, !with_bias ? "none" : bias_off ? "unaligned" :
	    "yes");
	cpu->matmul_forward(out.h, inp.h, w.h, bh, M, C, OC);
	gpu->matmul_forward(out.d, inp.d, w.d, bd, M, C, OC);
	report("matmul_forward", shape, {{"out", &out}});
	SHAPE("M=%d C=%d OC=%d dinp=%s dbias=%d", M, C, OC, !with_dinp ? "none" : accumulate ?
	    "+=" : "=", with_bias);
#define CALL(be, S) (be)->matmul_backward(S(dinp), S(dw), S(dbias), S(dout), S(inp), S(w), M, \
	    C, OC, accumulate)
	BOTH(CALL);
#undef CALL
	report("matmul_backward", shape, {{"dinp", &dinp}, {"dw", &dw}, {"dbias", &dbias}});
	for (fpair *p : {&inp, &w, &bias, &out, &dout, &dinp, &dw, &dbias})
		if (p->d)
			drop(p);
}

/* The bf16 copy of a weight follows the weight: after an upload, an AdamW
 * step, a zero, and a write the backend is told of (written, as after NCCL),
 * the product uses the new values; then a view into the middle of it. */
static void
weight_cache(int M, int C, int OC)
{
	const char *how[] = {"first use", "after upload", "after adamw", "after zero",
	    "after written", "a view at row 1"};
	fpair inp = rnd((size_t)M * C, 0, 1), w = rnd((size_t)OC * C, 0, 0.02f);
	fpair out = rnd((size_t)M * OC, 0, 1), g = rnd((size_t)OC * C, 0, 1);
	fpair m = rnd((size_t)OC * C, 0, 0), v = rnd((size_t)OC * C, 0, 0);

	for (int k = 0; k < 6; k++) {
		const size_t wo = k == 5 ? C : 0;
		const int oc = k == 5 ? OC - 1 : OC;

		if (k == 1) {
			for (size_t i = 0; i < w.n; i++)
				w.h[i] = 0.02f * normal();
			push(&w);
		} else if (k == 2) {
			cpu->adamw(w.h, g.h, m.h, v.h, w.n, 0.01, 0.9, 0.999, 1e-8, 0.1, 1);
			gpu->adamw(w.d, g.d, m.d, v.d, w.n, 0.01, 0.9, 0.999, 1e-8, 0.1, 1);
		} else if (k == 3) {
			cpu->zero(w.h, w.n * sizeof(float));
			gpu->zero(w.d, w.n * sizeof(float));
		} else if (k == 4) {
			/* the emulated device is host memory: a write behind the
			 * backend's back, as NCCL's */
			for (size_t i = 0; i < w.n; i++)
				w.h[i] = w.d[i] = 0.02f * normal();
			gpu->written(w.d);
		}
		SHAPE("M=%d C=%d OC=%d %s", M, C, oc, how[k]);
		cpu->matmul_forward(out.h, inp.h, w.h + wo, NULL, M, C, oc);
		gpu->matmul_forward(out.d, inp.d, w.d + wo, NULL, M, C, oc);
		out.n = (size_t)M * oc;
		report("bf16 weight copy", shape, {{"out", &out}});
	}
	for (fpair *p : {&inp, &w, &out, &g, &m, &v})
		drop(p);
}

/* Attention over model.c's views: q rows of ldq floats, k and v rows of ldkv,
 * head h at columns h*hs (self-attention: one qkv buffer, offsets 0, C, 2C). */
static void
attention(const char *what, int B, int Tq, int Tk, int C, int NH, int causal, int self)
{
	const int ldq = self ? 3 * C : C, ldkv = self ? 3 * C : 2 * C;
	const size_t koff = self ? C : 0, voff = self ? 2 * C : C;
	fpair qb = rnd((size_t)B * Tq * ldq, 0, 1);
	fpair kvb = self ? qb : rnd((size_t)B * Tk * ldkv, 0, 1);
	fpair out = rnd((size_t)B * Tq * C, 0, 1), att = rnd((size_t)B * NH * Tq * Tk, 0, 1);
	fpair dout = rnd((size_t)B * Tq * C, 0, 1), datt = rnd((size_t)B * NH * Tq * Tk, 0, 1);
	fpair dqb = rnd(qb.n, 0, 1), dkvb = self ? dqb : rnd(kvb.n, 0, 1);

	SHAPE("%s B=%d Tq=%d Tk=%d C=%d NH=%d%s", what, B, Tq, Tk, C, NH, causal ? " causal" : "");
	cpu->attention_forward(out.h, att.h, qb.h, kvb.h + koff, kvb.h + voff, ldq, ldkv, B, Tq,
	    Tk, C, NH, causal);
	gpu->attention_forward(out.d, att.d, qb.d, kvb.d + koff, kvb.d + voff, ldq, ldkv, B, Tq,
	    Tk, C, NH, causal);
	report("attention_forward", shape, {{"out", &out}, {"att", &att}});
	/* both from the CPU's probabilities */
	push(&att);
	cpu->attention_backward(dqb.h, dkvb.h + koff, dkvb.h + voff, datt.h, dout.h, qb.h,
	    kvb.h + koff, kvb.h + voff, att.h, ldq, ldkv, B, Tq, Tk, C, NH);
	gpu->attention_backward(dqb.d, dkvb.d + koff, dkvb.d + voff, datt.d, dout.d, qb.d,
	    kvb.d + koff, kvb.d + voff, att.d, ldq, ldkv, B, Tq, Tk, C, NH);
	report("attention_backward", shape, {{"dq", &dqb}, {"dkv", &dkvb}, {"datt", &datt}});
	for (fpair *p : {&qb, &out, &att, &dout, &datt, &dqb})
		drop(p);
	if (!self) {
		drop(&kvb);
		drop(&dkvb);
	}
}

/* decoding's self-attention: rows of a (Bd, D) query over position caches
 * (t+1, Bd, D), one batch of Bd*H heads of one query each (model.c) */
static void
attention_decode(int Bd, int D, int H, int t)
{
	const int C = Bd * D, Tk = t + 1;
	fpair q = rnd(C, 0, 1), kc = rnd((size_t)Tk * C, 0, 1), vc = rnd((size_t)Tk * C, 0, 1);
	fpair out = rnd(C, 0, 1), att = rnd((size_t)Bd * H * Tk, 0, 1);

	SHAPE("decode rows=%d D=%d H=%d Tk=%d", Bd, D, H, Tk);
#define CALL(be, S) (be)->attention_forward(S(out), S(att), S(q), S(kc), S(vc), C, C, 1, 1, Tk, \
	    C, Bd * H, 0)
	BOTH(CALL);
#undef CALL
	report("attention_forward", shape, {{"out", &out}, {"att", &att}});
	for (fpair *p : {&q, &kc, &vc, &out, &att})
		drop(p);
}

static void
elementwise(size_t n)
{
	fpair x = rnd(n, 0, 2), y = rnd(n, 0, 1), out = rnd(n, 0, 1), dout = rnd(n, 0, 1);
	fpair dinp = rnd(n, 0, 1);

	for (int exact = 0; exact < 2; exact++) {
		SHAPE("n=%zu %s", n, exact ? "erf" : "tanh");
#define CALL(be, S) (be)->gelu_forward(S(out), S(x), n, exact)
		BOTH(CALL);
#undef CALL
		report("gelu_forward", shape, {{"out", &out}});
#define CALL(be, S) (be)->gelu_backward(S(dinp), S(x), S(dout), n, exact)
		BOTH(CALL);
#undef CALL
		report("gelu_backward", shape, {{"dinp", &dinp}});
		/* in place, as model.c calls it */
		SHAPE("n=%zu %s in place", n, exact ? "erf" : "tanh");
#define CALL(be, S) (be)->gelu_backward(S(dout), S(x), S(dout), n, exact)
		BOTH(CALL);
#undef CALL
		report("gelu_backward", shape, {{"dinp", &dout}});
	}
	SHAPE("n=%zu", n);
#define CALL(be, S) (be)->residual_forward(S(out), S(x), S(y), n)
	BOTH(CALL);
#undef CALL
	report("residual_forward", shape, {{"out", &out}});
#define CALL(be, S) (be)->residual_forward(S(y), S(y), S(x), n)
	BOTH(CALL);
#undef CALL
	report("residual_forward", "in place", {{"out", &y}});
	SHAPE("n=%zu s=0.37", n);
#define CALL(be, S) (be)->scale(S(x), n, 0.37f)
	BOTH(CALL);
#undef CALL
	report("scale", shape, {{"x", &x}});
	for (fpair *p : {&x, &y, &out, &dout, &dinp})
		drop(p);
}

static void
adamw(size_t n)
{
	fpair p = rnd(n, 0, 0.02f), g = rnd(n, 0, 0.01f), m = rnd(n, 0, 0.001f), v = rnd(n, 0, 0);

	/* second moments are squares */
	for (size_t i = 0; i < n; i++)
		v.h[i] = 1e-5f * fabsf(normal() * normal());
	push(&v);
	for (int k = 0; k < 2; k++) {
		const long step = k ? 7 : 1;
		const double wd = k ? 0 : 0.1;

		SHAPE("n=%zu step=%ld wd=%g", n, step, wd);
#define CALL(be, S) (be)->adamw(S(p), S(g), S(m), S(v), n, 3e-4, 0.9, 0.999, 1e-8, wd, step)
		BOTH(CALL);
#undef CALL
		report("adamw", shape, {{"p", &p}, {"m", &m}, {"v", &v}});
	}
	for (fpair *q : {&p, &g, &m, &v})
		drop(q);
}

/* with_targets 0: the logits alone (decoding) */
static void
classifier(int M, int C, int V, int with_targets)
{
	fpair inp = rnd((size_t)M * C, 0, 1), wte = rnd((size_t)V * C, 0, 0.05f);
	fpair logits = rnd((size_t)M * V, 0, 1), losses = rnd(M, 0, 1);
	fpair dinp = rnd((size_t)M * C, 0, 1), dwte = rnd((size_t)V * C, 0, 1e-2f);
	/* every fifth row <pad> (0), which keeps its logits and has no loss */
	pair<int32_t> t = irnd(M, 1, V);

	for (int r = 2; r < M; r += 5)
		t.h[r] = 0;
	push(&t);
	SHAPE("M=%d C=%d V=%d%s", M, C, V, with_targets ? "" : " no targets");
	cpu->classifier_forward(logits.h, losses.h, inp.h, wte.h, with_targets ? t.h : NULL, M,
	    C, V);
	gpu->classifier_forward(logits.d, losses.d, inp.d, wte.d, with_targets ? t.d : NULL, M,
	    C, V);
	if (with_targets)
		report("classifier_forward", shape, {{"probs", &logits}, {"losses", &losses}});
	else
		report("classifier_forward", shape, {{"logits", &logits}});
	if (with_targets) {
		/* both from the CPU's probabilities */
		push(&logits);
#define CALL(be, S) (be)->classifier_backward(S(dinp), S(dwte), S(logits), S(inp), S(wte), \
	    S(t), 0.1f, M, C, V)
		BOTH(CALL);
#undef CALL
		report("classifier_backward", shape, {{"dlogits", &logits}, {"dinp", &dinp},
		    {"dwte", &dwte}});
	}
	drop(&t);
	for (fpair *p : {&inp, &wte, &logits, &losses, &dinp, &dwte})
		drop(p);
}

static void
gathers(int B, int T, int C)
{
	fpair inp = rnd((size_t)B * T * C, 0, 1), out = rnd((size_t)B * C, 0, 1);
	fpair rows = rnd((size_t)T * B * C, 0, 1), got = rnd((size_t)T * B * C, 0, 1);
	pair<int32_t> idx = irnd(B, 0, B);

	SHAPE("B=%d T=%d C=%d t=%d", B, T, C, T - 1);
#define CALL(be, S) (be)->gather_position(S(out), S(inp), B, T, C, T - 1)
	BOTH(CALL);
#undef CALL
	report("gather_position", shape, {{"out", &out}});
	SHAPE("K=%d B=%d C=%d", T, B, C);
#define CALL(be, S) (be)->gather_rows(S(got), S(rows), S(idx), T, B, C)
	BOTH(CALL);
#undef CALL
	report("gather_rows", shape, {{"out", &got}});
	drop(&idx);
	for (fpair *p : {&inp, &out, &rows, &got})
		drop(p);
}

/* sum and sumsq come back to the host: the error of the one number */
static void
sums(size_t n)
{
	fpair x = rnd(n, 0.5f, 1);

	for (int k = 0; k < 2; k++) {
		const double want = k ? cpu->sumsq(x.h, n) : cpu->sum(x.h, n);
		const double got = k ? gpu->sumsq(x.d, n) : gpu->sum(x.d, n);
		double err = fabs(got - want) / (fabs(want) > FLOOR ? fabs(want) : FLOOR);

		if (std::isnan(got))
			err = INFINITY;
		SHAPE("n=%zu", n);
		verdict(k ? "sumsq" : "sum", shape, err, "value");
	}
	drop(&x);
}

/* greedy_step, step t of at most L words: the tokens, words, lengths and ends
 * must be the CPU's exactly, the log-probabilities within the tolerance; rows
 * 0 to 6 are the edge cases, the rest random */
static void
greedy(int B, int V, int t, int L)
{
	fpair z = rnd((size_t)B * V, 0, 2);
	pair<int32_t> ids = both<int32_t>(B), seq = both<int32_t>((size_t)B * (L + 1));
	pair<int32_t> len = both<int32_t>(B), done = both<int32_t>(B);
	pair<double> lp = both<double>(B);
	std::vector<int32_t> got;
	std::vector<double> lpgot(B);
	const char *worst = "logprob";
	double err = 0;
	float *r;

	for (pair<int32_t> *p : {&ids, &seq})
		for (size_t i = 0; i < p->n; i++)
			p->h[i] = 2 + (int)(splitmix64(&rng) % (uint64_t)(V - 2));
	for (int b = 0; b < B; b++) {
		len.h[b] = t;                   /* t words so far */
		done.h[b] = 0;
		lp.h[b] = -0.7 * b;
	}
	r = z.h;
	r[7] = r[V / 2] = r[V - 1] = 50;                        /* row 0: 7, a tie */
	for (int v = 0; v < V; v++)
		r[V + v] = -INFINITY;                           /* row 1: <eos>, NaN */
	r = z.h + 2 * V;
	r[TOK_PAD] = r[TOK_BOS] = 100;                          /* row 2: 3 */
	r[3] = r[V - 2] = 60;
	r = z.h + 3 * V;
	for (int v = 0; v < V; v += 3)
		r[v] = NAN;                                     /* row 3: 10 */
	r[10] = 40;
	z.h[4 * V + TOK_EOS] = NAN;                             /* row 4: <eos>, NaN */
	z.h[4 * V + 8] = 40;
	done.h[5] = 1;                                          /* row 5: ended */
	ids.h[5] = TOK_EOS;
	z.h[6 * V + TOK_EOS] = z.h[6 * V + 6] = 60;             /* row 6: <eos> */
	push(&z);
	for (pair<int32_t> *p : {&ids, &seq, &len, &done})
		push(p);
	push(&lp);
	SHAPE("B=%d V=%d t=%d L=%d", B, V, t, L);
	cpu->greedy_step(ids.h, seq.h, len.h, done.h, lp.h, z.h, B, V, t, L);
	gpu->greedy_step(ids.d, seq.d, len.d, done.d, lp.d, z.d, B, V, t, L);
	for (pair<int32_t> *p : {&ids, &seq, &len, &done}) {
		got.resize(p->n);
		gpu->download(got.data(), p->d, p->n * sizeof(int32_t));
		if (memcmp(got.data(), p->h, p->n * sizeof(int32_t)) != 0) {
			err = INFINITY;
			worst = p == &ids ? "ids" : p == &seq ? "seq" : p == &len ? "len" : "done";
		}
	}
	gpu->download(lpgot.data(), lp.d, B * sizeof(double));
	for (int b = 0; b < B && std::isfinite(err); b++) {
		double e = fabs(lpgot[b] - lp.h[b]) / std::max(fabs(lp.h[b]), FLOOR);

		if (std::isnan(lp.h[b]) || std::isnan(lpgot[b]))
			e = std::isnan(lp.h[b]) && std::isnan(lpgot[b]) ? 0 : INFINITY;
		err = std::max(err, e);
	}
	verdict("greedy_step", shape, err, worst);
	for (pair<int32_t> *p : {&ids, &seq, &len, &done})
		drop(p);
	drop(&lp);
	drop(&z);
}

/* ---- the groups ------------------------------------------------------------------------ */

static void
run_memory(void)
{
	memory();
}

static void
run_embeddings(void)
{
	im2col(2, 32, 8);
	im2col(1, 24, 16);              /* a row of patches and a margin cut off */
	vit_embed(3, 16, 40, 0);
	vit_embed(3, 16, 40, 1);
	embed(3, 7, 200, 150);
	embed(2, 24, 192, 1000);        /* tiny */
}

static void
run_layernorm(void)
{
	layernorm(37, 45);
	layernorm(70, 192);             /* more than one chunk of rows, C past a warp */
	layernorm(1, 5);
}

static void
run_matmul(void)
{
	matmul(37, 45, 29, 1, 0, 0, 1);
	matmul(37, 45, 29, 1, 1, 0, 1);         /* unaligned bias */
	matmul(37, 45, 29, 0, 0, 1, 1);         /* no bias, dinp += */
	matmul(1, 5, 3, 1, 0, 1, 1);
	matmul(48, 192, 576, 1, 0, 0, 0);       /* tiny's qkv, no dinp */
	/* the heuristic's answers are kept: the same products again ask nothing */
	const long asked = emu_lt_heuristics;
	matmul(37, 45, 29, 1, 0, 0, 1);
	SHAPE("M=37 C=45 OC=29 bias=yes, as before");
	printf("%-10s %-20s %-44s %-4s heuristic asked %ld times %s\n", group, "matmul again",
	    shape, prec, emu_lt_heuristics - asked, emu_lt_heuristics == asked ? "ok" : "FAIL");
	count(emu_lt_heuristics == asked);
	/* a cuBLASLt without a bias epilogue for a shape (one not asked before,
	 * or the kept answer would do): the other way */
	emu_lt_no_bias_epilogue = 1;
	matmul(39, 45, 29, 1, 0, 0, 1);
	emu_lt_no_bias_epilogue = 0;
	use(&backend_cuda_bf16);
	matmul(37, 45, 29, 1, 0, 0, 1);
	matmul(37, 45, 29, 1, 1, 1, 1);
	matmul(48, 192, 768, 1, 0, 1, 1);       /* tiny's fc1 */
	weight_cache(20, 64, 48);
}

static void
run_attention(void)
{
	attention("odd heads", 3, 37, 37, 45, 3, 0, 1);         /* hs = 15 */
	attention("odd causal", 3, 37, 37, 45, 3, 1, 1);
	attention("cross end", 2, 5, 9, 64, 2, 1, 0);           /* causal, Tq < Tk */
	attention("cross empty", 2, 7, 4, 64, 2, 1, 0);         /* rows that see no key */
	attention("cross head128", 1, 33, 70, 256, 2, 0, 0);    /* the largest head */
	attention("cross beams", 2, 3, 20, 64, 2, 0, 0);
	attention("tiny decoder", 1, 24, 24, 192, 6, 1, 1);
	attention("tiny cross", 1, 24, 64, 192, 6, 0, 0);
	attention_decode(3, 192, 6, 5);
	attention_decode(5, 24, 3, 0);
	/* bf16: batched bf16 products from ATT_GEMM_MIN_Q query rows on, for
	 * heads of whole 16-byte rows (backend_cuda.cu); else the kernels */
	use(&backend_cuda_bf16);
	attention("tiny encoder", 2, 64, 64, 192, 6, 0, 1);
	attention("base encoder", 1, 197, 197, 768, 12, 0, 1);  /* 196 patches + class */
	attention("tiny decoder", 1, 24, 24, 192, 6, 1, 1);
	attention("tiny cross", 2, 24, 64, 192, 6, 0, 0);
	attention("cross end", 2, 17, 21, 64, 2, 1, 0);         /* causal, Tq < Tk, odd Tk */
	attention("cross empty", 2, 20, 4, 64, 2, 1, 0);        /* rows that see no key */
	attention("odd heads", 3, 37, 37, 45, 3, 0, 1);         /* hs = 15: the kernels */
	attention_decode(3, 192, 6, 5);                         /* one row: the kernels */
}

static void
run_elementwise(void)
{
	elementwise(10007);
	elementwise(5);
	adamw(9001);
}

static void
run_classifier(void)
{
	classifier(7, 45, 37, 1);
	classifier(6, 64, 1000, 1);     /* V past the block's 512 threads */
	classifier(6, 64, 1000, 0);
	use(&backend_cuda_bf16);
	classifier(7, 45, 37, 1);
	classifier(6, 64, 1000, 1);
}

static void
run_gathers(void)
{
	gathers(5, 3, 7);
	gathers(2, 24, 192);
}

static void
run_sums(void)
{
	sums(5);
	sums(100003);                   /* past RED_BLOCKS blocks of threads */
}

static void
run_greedy(void)
{
	greedy(7, 37, 2, 5);
	greedy(9, 37, 5, 5);            /* t = L: <eos> */
	greedy(40, 1000, 0, 23);        /* rows past a block's stride */
}

static const struct {
	const char *name;
	void (*run)(void);
} groups[] = {
	{"memory", run_memory},
	{"embeddings", run_embeddings},
	{"layernorm", run_layernorm},
	{"matmul", run_matmul},
	{"attention", run_attention},
	{"elementwise", run_elementwise},
	{"classifier", run_classifier},
	{"gathers", run_gathers},
	{"sums", run_sums},
	{"greedy", run_greedy},
};
#define NGROUPS (int)(sizeof groups / sizeof groups[0])

static void
run_group(int i)
{
	long problems = emu_problems();
	int failed = nfail;

	group = groups[i].name;
	use(&backend_cuda);
	printf("-- %s\n", group);
	groups[i].run();
	printf("-- %s: %s\n", group, nfail == failed && emu_problems() == problems ? "ok" :
	    "FAIL");
	fflush(stdout);
}

/* the kernels launched; with check, every kernel defined must be either
 * launched or listed in unchecked, and the list true */
static int
coverage(int check, int *bad)
{
	int ran = 0;

	for (int i = 0; i < emu_nkernels(); i++)
		ran += emu_launched(emu_kernel(i, NULL));
	if (!check)
		return ran;
	for (int i = 0; i < emu_nkernels(); i++) {
		const char *file, *k = emu_kernel(i, &file), *why = NULL;

		for (const auto &u : unchecked)
			if (strcmp(u.first, k) == 0)
				why = u.second;
		if (emu_launched(k)) {
			if (why) {
				printf("kernel %s (%s) runs: take it off the unchecked list\n", k,
				    file);
				(*bad)++;
			}
		} else if (why) {
			printf("kernel %s (%s) not checked: %s\n", k, file, why);
		} else {
			printf("kernel %s (%s) defined but never launched: FAIL\n", k, file);
			(*bad)++;
		}
	}
	for (const auto &u : unchecked) {
		int found = 0;

		for (int i = 0; i < emu_nkernels(); i++)
			found |= strcmp(emu_kernel(i, NULL), u.first) == 0;
		if (!found) {
			printf("kernel %s on the unchecked list is not defined\n", u.first);
			(*bad)++;
		}
	}
	return ran;
}

int
main(int argc, char *argv[])
{
	int i, j, ran = 0, bad = 0;

	setprogname(argv[0]);
	if (argc == 2 && strcmp(argv[1], "-l") == 0) {
		for (i = 0; i < NGROUPS; i++)
			printf("%s\n", groups[i].name);
		return 0;
	}
	for (j = 1; j < argc; j++) {
		for (i = 0; i < NGROUPS && strcmp(argv[j], groups[i].name) != 0; i++)
			;
		if (i == NGROUPS)
			uprintf("usage: emu_kernels [-l] [group ...]");
	}
	if (argc == 1)
		for (i = 0; i < NGROUPS; i++)
			run_group(i);
	for (j = 1; j < argc; j++)
		for (i = 0; i < NGROUPS; i++)
			if (strcmp(argv[j], groups[i].name) == 0)
				run_group(i);
	/* an emulator that found no kernel would pass vacuously */
	if (emu_nkernels() == 0) {
		printf("no kernels: the .cu files were not compiled in\n");
		bad++;
	}
	ran = coverage(argc == 1, &bad);
	printf("emu_kernels: %d passed, %d failed, %ld emulator problems, %d of %d kernels run\n",
	    npass, nfail, emu_problems(), ran, emu_nkernels());
	fshut(stdout, "<stdout>");
	return nfail || bad || emu_problems() ? 1 : 0;
}
