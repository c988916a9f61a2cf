/* backend_cuda.cu: the backend on one NVIDIA GPU (make CUDA=1).
 *
 * Every operation has the semantics of its CPU twin in layers.c, attention.c
 * and adamw.c ("=" or "+=", the att layout, probs becoming dlogits), and
 * tests/gpu/test_kernels.c checks each against it. Work is queued on one stream;
 * upload, download, sum, sumsq and sync wait for it.
 *
 * Matrix products go through cuBLASLt with fp32 accumulation: in fp32 with
 * CUBLAS_COMPUTE_32F (no TF32, so the CPU's results up to rounding), in bf16 on
 * bf16 copies of the operands, fp32 out, as PyTorch's autocast does. Weights
 * are converted once per change, not once per product: each allocation carries
 * a generation that every operation writing into it bumps, and the bf16 copy of
 * an allocation used as a weight is redone when its generation moved on.
 * Attention over many query rows is bf16 products in bf16 too (see "attention
 * on the tensor cores"). Everything else (LayerNorm, softmax, AdamW) is fp32.
 *
 * The kernels are the simple kind: a thread per element, a warp per row, and
 * for the column sums of the backward (bias, LayerNorm, embeddings) a fixed
 * order of summation, so that a run repeats bit for bit. */
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <utility>

extern "C" {
#include "backend.h"
#include "util.h"
}
#include "mask.h"

/* ---- errors -------------------------------------------------------------------- */

static void
cuda_check(cudaError_t e, const char *what, int line)
{
	if (e != cudaSuccess)
		eprintf("cuda: %s (backend_cuda.cu:%d): %s", what, line, cudaGetErrorString(e));
}

static void
lt_check(cublasStatus_t s, const char *what, int line)
{
	if (s != CUBLAS_STATUS_SUCCESS)
		eprintf("cublasLt: %s (backend_cuda.cu:%d): %s", what, line,
		    cublasLtGetStatusString(s));
}

#define CK(x) cuda_check((x), #x, __LINE__)
#define LT(x) lt_check((x), #x, __LINE__)
/* after every launch: a bad configuration shows here, a fault at the next sync */
#define LAUNCHED(name) cuda_check(cudaGetLastError(), "launch " name, __LINE__)

/* ---- state --------------------------------------------------------------------- */

/* An allocation, and the bf16 copy of it made when it served as a weight. */
struct region {
	char *base;
	size_t bytes;
	unsigned long gen;              /* bumped by every write through the backend */
	__nv_bfloat16 *half;            /* NULL until used as a weight */
	unsigned long half_gen;         /* the gen that half was made from */
};

/* Scratch that grows to the largest request and stays. */
enum { SCR_A, SCR_B, SCR_W, SCR_COL, SCR_RED, SCR_Q, SCR_K, SCR_V, SCR_DO, SCR_P, SCR_DS,
    SCR_O, NSCR };

static struct {
	int ready;
	int device;
	cudaStream_t stream;
	cublasLtHandle_t lt;
	void *ws;                       /* cuBLASLt workspace */
	size_t wsbytes;
	struct region *reg;
	int nreg, capreg;
	void *scr[NSCR];
	size_t scrbytes[NSCR];
} g;

static void
init(void)
{
	if (g.ready)
		return;
	CK(cudaGetDevice(&g.device));
	CK(cudaStreamCreate(&g.stream));
	LT(cublasLtCreate(&g.lt));
	/* 32 MiB: what NVIDIA recommends for Hopper's kernels */
	g.wsbytes = (size_t)32 << 20;
	CK(cudaMalloc(&g.ws, g.wsbytes));
	g.ready = 1;
}

/* ---- VITCAP_CUDA_PROFILE ----------------------------------------------------------
 *
 * Where a run's GPU time goes, for the work on its speed: with the variable set
 * (not to 0), every operation waits for the GPU before it starts and again
 * before it returns, and at the process's exit the time of each, less that of
 * the parts timed inside it (the bf16 copies, the cuBLASLt products), goes to
 * stderr, most first. The waits slow the run: its times are for comparing the
 * operations, not for its speed. */
#define PROF_NAMES 64
#define PROF_DEPTH 8

static struct {
	int on;                         /* -1 not yet read from the environment */
	int n, depth;
	struct {
		const char *name;
		long calls;
		double self;
	} op[PROF_NAMES];
	double child[PROF_DEPTH];
} prof = {-1, 0, 0, {}, {}};

static double
prof_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void
prof_report(void)
{
	double total = 0;
	int i, j;

	for (i = 0; i < prof.n; i++)
		total += prof.op[i].self;
	fprintf(stderr, "%s: VITCAP_CUDA_PROFILE: %.1f ms in %s's operations, each waited "
	    "for:\n", argv0, total * 1e3, argv0);
	for (i = 0; i < prof.n; i++) {
		int best = i;

		for (j = i + 1; j < prof.n; j++)
			if (prof.op[j].self > prof.op[best].self)
				best = j;
		std::swap(prof.op[i], prof.op[best]);
		fprintf(stderr, "%s:   %-26s %8ld calls %11.3f ms %5.1f%%\n", argv0,
		    prof.op[i].name, prof.op[i].calls, prof.op[i].self * 1e3,
		    total > 0 ? 100 * prof.op[i].self / total : 0.0);
	}
}

static int
profiling(void)
{
	if (prof.on < 0) {
		const char *e = getenv("VITCAP_CUDA_PROFILE");

		prof.on = e && *e && strcmp(e, "0") != 0;
		if (prof.on)
			atexit(prof_report);
	}
	return prof.on;
}

/* PROFILE(name) at the top of an operation times the rest of its block */
struct prof_scope {
	const char *name;
	double t0;
	int on;

	explicit prof_scope(const char *n) : name(n), t0(0), on(profiling() && prof.depth <
	    PROF_DEPTH)
	{
		if (!on)
			return;
		init();
		CK(cudaStreamSynchronize(g.stream));
		prof.child[prof.depth++] = 0;
		t0 = prof_now();
	}

	~prof_scope()
	{
		double dt;
		int i;

		if (!on)
			return;
		CK(cudaStreamSynchronize(g.stream));
		dt = prof_now() - t0;
		prof.depth--;
		for (i = 0; i < prof.n && strcmp(prof.op[i].name, name); i++)
			;
		if (i == prof.n && prof.n < PROF_NAMES)
			prof.op[prof.n++] = {name, 0, 0};
		if (i < prof.n) {
			prof.op[i].calls++;
			prof.op[i].self += dt - prof.child[prof.depth];
		}
		if (prof.depth > 0)
			prof.child[prof.depth - 1] += dt;
	}
};

#define PROFILE(name) prof_scope prof_scope_(name)

static void *
scratch(int slot, size_t bytes)
{
	if (bytes > g.scrbytes[slot]) {
		/* the old buffer may still be in use by queued work */
		CK(cudaStreamSynchronize(g.stream));
		CK(cudaFree(g.scr[slot]));
		if (cudaMalloc(&g.scr[slot], bytes) != cudaSuccess)
			eprintf("cuda: out of GPU memory for %zu bytes of scratch", bytes);
		g.scrbytes[slot] = bytes;
	}
	return g.scr[slot];
}

static struct region *
region_of(const void *p)
{
	const char *c = (const char *)p;
	int i;

	for (i = 0; i < g.nreg; i++)
		if (c >= g.reg[i].base && c < g.reg[i].base + g.reg[i].bytes)
			return &g.reg[i];
	return NULL;
}

static void
wrote_list(const void *const *p, int n)
{
	struct region *r;
	int i;

	for (i = 0; i < n; i++)
		if (p[i] && (r = region_of(p[i])))
			r->gen++;
}

/* the operation writes into these buffers: their bf16 copies are stale */
#define WROTE(...) do { \
		const void *const p_[] = {__VA_ARGS__}; \
		wrote_list(p_, (int)(sizeof p_ / sizeof p_[0])); \
	} while (0)

/* Threads per block of the element-wise kernels, and a grid that covers n with
 * grid-stride loops. */
#define NT 256

static unsigned
grid(size_t n)
{
	size_t b = (n + NT - 1) / NT;

	return b < 1 ? 1 : b > 65536 ? 65536 : (unsigned)b;
}

#define FOR_EACH(i, n) \
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); \
	    i += (size_t)gridDim.x * blockDim.x)

/* ---- reductions within a warp and a block ------------------------------------- */

#define FULL 0xffffffffu

template <typename T>
__device__ T
warp_sum(T x)
{
	for (int o = 16; o > 0; o /= 2)
		x += __shfl_xor_sync(FULL, x, o);
	return x;
}

__device__ float
warp_max(float x)
{
	for (int o = 16; o > 0; o /= 2)
		x = fmaxf(x, __shfl_xor_sync(FULL, x, o));
	return x;
}

/* The sum over a block of blockDim.x (a multiple of 32) threads, returned to
 * every thread; the block must reach it together. */
template <typename T>
__device__ T
block_sum(T x)
{
	__shared__ T part[32];
	const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;

	x = warp_sum(x);
	__syncthreads();                /* part may still be read by a previous call */
	if (lane == 0)
		part[warp] = x;
	__syncthreads();
	x = lane < nw ? part[lane] : (T)0;
	return warp_sum(x);
}

__device__ float
block_max(float x)
{
	__shared__ float part[32];
	const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;

	x = warp_max(x);
	__syncthreads();
	if (lane == 0)
		part[warp] = x;
	__syncthreads();
	x = lane < nw ? part[lane] : -INFINITY;
	return warp_max(x);
}

/* ---- memory -------------------------------------------------------------------- */

static void *
cu_alloc(size_t bytes)
{
	void *p;

	init();
	/* a little at least, so that every allocation is a distinct region */
	if (bytes < 256)
		bytes = 256;
	if (cudaMalloc(&p, bytes) != cudaSuccess)
		eprintf("cuda: out of GPU memory allocating %zu bytes", bytes);
	CK(cudaMemsetAsync(p, 0, bytes, g.stream));
	if (g.nreg == g.capreg) {
		g.capreg = g.capreg ? 2 * g.capreg : 16;
		g.reg = (struct region *)ereallocarray(g.reg, g.capreg, sizeof *g.reg);
	}
	g.reg[g.nreg].base = (char *)p;
	g.reg[g.nreg].bytes = bytes;
	g.reg[g.nreg].gen = 1;
	g.reg[g.nreg].half = NULL;
	g.reg[g.nreg].half_gen = 0;
	g.nreg++;
	return p;
}

static void
cu_free(void *p)
{
	struct region *r;

	if (!p)
		return;
	if (!(r = region_of(p)) || r->base != (char *)p)
		eprintf("cuda: free of %p, which is not an allocation", p);
	CK(cudaStreamSynchronize(g.stream));
	CK(cudaFree(r->half));
	CK(cudaFree(p));
	*r = g.reg[--g.nreg];
}

static void
cu_upload(void *dst, const void *host, size_t bytes)
{
	PROFILE("upload");

	if (!bytes)
		return;
	/* The caller may free or reuse host as soon as this returns (model.c
	 * uploads from buffers it fills again at once). From pageable memory the
	 * runtime documents the async copy only as "might be synchronous", so the
	 * copy is waited for: callers upload between downloads, when the queue is
	 * short, and a batch's copy is small beside its work. */
	CK(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, g.stream));
	CK(cudaStreamSynchronize(g.stream));
	WROTE(dst);
}

static void
cu_download(void *host, const void *src, size_t bytes)
{
	PROFILE("download");

	if (!bytes)
		return;
	CK(cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, g.stream));
	CK(cudaStreamSynchronize(g.stream));
}

static void
cu_zero(void *p, size_t bytes)
{
	PROFILE("zero");

	if (!bytes)
		return;
	CK(cudaMemsetAsync(p, 0, bytes, g.stream));
	WROTE(p);
}

static void
cu_sync(void)
{
	init();
	CK(cudaStreamSynchronize(g.stream));
}

static void *
cu_stream(void)
{
	init();
	return (void *)g.stream;
}

static void
cu_written(const void *p)
{
	init();
	WROTE(p);
}

/* ---- bf16 operands ------------------------------------------------------------ */

__global__ void
to_bf16_kernel(__nv_bfloat16 *out, const float *in, size_t n)
{
	FOR_EACH(i, n)
		out[i] = __float2bfloat16(in[i]);      /* round to nearest even, as torch */
}

static __nv_bfloat16 *
convert(__nv_bfloat16 *out, const float *in, size_t n)
{
	PROFILE("to bf16");

	to_bf16_kernel<<<grid(n), NT, 0, g.stream>>>(out, in, n);
	LAUNCHED("to_bf16");
	return out;
}

/* An activation of n floats as bf16, in scratch slot. */
static const __nv_bfloat16 *
act_bf16(int slot, const float *x, size_t n)
{
	return convert((__nv_bfloat16 *)scratch(slot, n * sizeof(__nv_bfloat16)), x, n);
}

/* A weight as bf16: its place in its allocation's bf16 copy, remade when the
 * allocation was written since. */
static const __nv_bfloat16 *
weight_bf16(const float *w, size_t n)
{
	struct region *r = region_of(w);
	size_t nf;

	if (!r)
		return act_bf16(SCR_W, w, n);
	nf = r->bytes / sizeof(float);
	if (!r->half) {
		if (cudaMalloc(&r->half, nf * sizeof(__nv_bfloat16)) != cudaSuccess)
			eprintf("cuda: out of GPU memory for the bf16 copy of %zu weights", nf);
		r->half_gen = 0;
	}
	if (r->half_gen != r->gen) {
		convert(r->half, (const float *)r->base, nf);
		r->half_gen = r->gen;
	}
	return r->half + ((const char *)w - r->base) / sizeof(float);
}

/* ---- matrix products ------------------------------------------------------------ */

/* The largest power of two up to 256 dividing the address: what cuBLASLt must
 * be told, or it may pick a kernel that needs 256-byte alignment. */
static uint32_t
alignment(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	uint32_t al = 256;

	while (al > 1 && a % al)
		al /= 2;
	return al;
}

/* D (m,n) = bias broadcast over columns, column-major with leading dimension ld */
__global__ void
fill_bias_kernel(float *D, const float *bias, int m, int n, int ld)
{
	FOR_EACH(e, (size_t)m * n)
		D[(e / m) * ld + e % m] = bias[e % m];
}

/* What cuBLASLt's heuristic is asked: a product's types, shape, leading
 * dimensions, batches, the alignments promised and the epilogue; without
 * padding, so that memcmp compares it. */
struct algo_key {
	long long sa, sb, sd;
	int ab, ta, tb, m, n, k, lda, ldb, ldd, count, epi;
	uint32_t al[3];
};
static_assert(sizeof(struct algo_key) == 3 * 8 + 14 * 4, "struct algo_key has padding");

/* The heuristic takes tens of microseconds a call, longer than a decoding
 * step's products take on the GPU, and a training step asks the same few
 * dozen questions every time: its answers (no algorithm included) are kept,
 * ALGO_CACHE of them, the oldest replaced first. */
#define ALGO_CACHE 256

static struct {
	struct algo_key key;
	int found;
	cublasLtMatmulAlgo_t algo;
} algos[ALGO_CACHE];
static int nalgos, nextalgo;

static int
heuristic(const struct algo_key *key, cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t la,
    cublasLtMatrixLayout_t lb, cublasLtMatrixLayout_t ld, cublasLtMatmulPreference_t pref,
    cublasLtMatmulAlgo_t *algo)
{
	cublasLtMatmulHeuristicResult_t h;
	int i, nres = 0, found;

	for (i = 0; i < nalgos; i++)
		if (!memcmp(&algos[i].key, key, sizeof *key)) {
			*algo = algos[i].algo;
			return algos[i].found;
		}
	found = cublasLtMatmulAlgoGetHeuristic(g.lt, op, la, lb, ld, ld, pref, 1, &h, &nres) ==
	    CUBLAS_STATUS_SUCCESS && nres > 0;
	i = nalgos < ALGO_CACHE ? nalgos++ : nextalgo++ % ALGO_CACHE;
	algos[i].key = *key;
	algos[i].found = found;
	if (found)
		algos[i].algo = *algo = h.algo;
	return found;
}

/* Strided batches of a product: count products, the i-th on A + i*sa, B + i*sb
 * and D + i*sd (strides in elements). */
struct batch {
	int count;
	long long sa, sb, sd;
};

/* The alignment cuBLASLt may assume of every batch's matrix: the pointer's,
 * and that of the stride's bytes. */
static uint32_t
batch_alignment(const void *p, long long stride, size_t elem)
{
	uint32_t a = alignment(p), s = alignment((const void *)(uintptr_t)(stride * elem));

	return a < s ? a : s;
}

static void
set_batch(cublasLtMatrixLayout_t l, const struct batch *bt, long long stride)
{
	int32_t count = bt->count;
	int64_t off = stride;

	LT(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
	    sizeof count));
	LT(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &off,
	    sizeof off));
}

/* D (m,n) = alpha op(A) op(B) + beta D [+ bias (m) on every column], column-major
 * as BLAS: A is (m,k), or (k,m) stored when ta; B is (k,n), or (n,k) when tb; ab
 * their type (fp32 or bf16); D fp32, accumulated in fp32; bt NULL, or strided
 * batches (then no bias). The row-major callers below read their products
 * transposed. Where cuBLASLt has no algorithm, exits, or with may_fail returns
 * 0 having done nothing. */
static int
gemm_ex(cudaDataType_t ab, int ta, int tb, int m, int n, int k, const void *A, int lda,
    const void *B, int ldb, float *D, int ldd, float alpha, float beta, const float *bias,
    const struct batch *bt, int may_fail)
{
	PROFILE("cuBLASLt product");

	cublasLtMatmulDesc_t op;
	cublasLtMatrixLayout_t la, lb, ld;
	cublasLtMatmulPreference_t pref;
	cublasLtMatmulAlgo_t algo;
	struct algo_key key;
	cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
	cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
	cudaDataType_t bt32 = CUDA_R_32F;
	const size_t es = ab == CUDA_R_16BF ? 2 : 4;
	uint64_t ws = g.wsbytes;
	int found = 0;

	if (m <= 0 || n <= 0 || (bt && bt->count <= 0))
		return 1;
	key = (struct algo_key){bt ? bt->sa : 0, bt ? bt->sb : 0, bt ? bt->sd : 0, (int)ab, ta,
	    tb, m, n, k, lda, ldb, ldd, bt ? bt->count : 0, CUBLASLT_EPILOGUE_DEFAULT,
	    {batch_alignment(A, bt ? bt->sa : 0, es), batch_alignment(B, bt ? bt->sb : 0, es),
	    batch_alignment(D, bt ? bt->sd : 0, sizeof(float))}};
	LT(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
	LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa));
	LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb));
	LT(cublasLtMatrixLayoutCreate(&la, ab, ta ? k : m, ta ? m : k, lda));
	LT(cublasLtMatrixLayoutCreate(&lb, ab, tb ? n : k, tb ? k : n, ldb));
	LT(cublasLtMatrixLayoutCreate(&ld, CUDA_R_32F, m, n, ldd));
	if (bt) {
		set_batch(la, bt, bt->sa);
		set_batch(lb, bt, bt->sb);
		set_batch(ld, bt, bt->sd);
	}
	LT(cublasLtMatmulPreferenceCreate(&pref));
	LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
	    &ws, sizeof ws));
	LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
	    &key.al[0], sizeof key.al[0]));
	LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
	    &key.al[1], sizeof key.al[1]));
	LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
	    &key.al[2], sizeof key.al[2]));
	LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
	    &key.al[2], sizeof key.al[2]));
	/* the bias in the epilogue, where cuBLASLt has a kernel for it (an
	 * unaligned bias has none); else the bias first and the product added, as
	 * the CPU does it */
	if (bias && beta == 0 && alignment(bias) >= 16) {
		LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi,
		    sizeof epi));
		LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
		    sizeof bias));
		LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt32,
		    sizeof bt32));
		key.epi = epi;
		found = heuristic(&key, op, la, lb, ld, pref, &algo);
		if (!found) {
			key.epi = epi = CUBLASLT_EPILOGUE_DEFAULT;
			LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi,
			    sizeof epi));
		}
	}
	if (!found) {
		found = heuristic(&key, op, la, lb, ld, pref, &algo);
		if (!found && !may_fail)
			eprintf("cublasLt: no algorithm for a %s product of %dx%d by %dx%d",
			    ab == CUDA_R_16BF ? "bf16" : "fp32", m, k, k, n);
		if (found && bias) {
			fill_bias_kernel<<<grid((size_t)m * n), NT, 0, g.stream>>>(D, bias, m, n, ldd);
			LAUNCHED("fill_bias");
			beta = 1;
		}
	}
	if (found)
		LT(cublasLtMatmul(g.lt, op, &alpha, A, la, B, lb, &beta, D, ld, D, ld, &algo,
		    g.ws, g.wsbytes, g.stream));
	LT(cublasLtMatmulPreferenceDestroy(pref));
	LT(cublasLtMatrixLayoutDestroy(ld));
	LT(cublasLtMatrixLayoutDestroy(lb));
	LT(cublasLtMatrixLayoutDestroy(la));
	LT(cublasLtMatmulDescDestroy(op));
	return found;
}

static void
gemm(cudaDataType_t ab, int ta, int tb, int m, int n, int k, const void *A, int lda,
    const void *B, int ldb, float *D, int ldd, float beta, const float *bias)
{
	gemm_ex(ab, ta, tb, m, n, k, A, lda, B, ldb, D, ldd, 1, beta, bias, NULL, 0);
}

/* dst[c] += sum over rows r of x[r*ld + c] in a fixed order: per chunk of rows,
 * then the chunks in order. For the bias gradient. */
#define CHUNK_MIN 64
#define MAXCHUNKS 1024

static int
chunk_rows(int M, int *nchunks)
{
	int n = (M + CHUNK_MIN - 1) / CHUNK_MIN, rows;

	if (n > MAXCHUNKS)
		n = MAXCHUNKS;
	if (n < 1)
		n = 1;
	rows = (M + n - 1) / n;
	if (rows < 1)
		rows = 1;
	*nchunks = (M + rows - 1) / rows;
	if (*nchunks < 1)
		*nchunks = 1;
	return rows;
}

/* block (32 columns, 8 row lanes), grid (column blocks, chunks) */
__global__ void
colsum_part_kernel(float *part, const float *x, int M, int C, int ld, int rows)
{
	__shared__ float acc[8][33];
	const int c = blockIdx.x * 32 + threadIdx.x, chunk = blockIdx.y;
	const int r0 = chunk * rows, r1 = min(r0 + rows, M);
	float s = 0;

	if (c < C)
		for (int r = r0 + threadIdx.y; r < r1; r += 8)
			s += x[(size_t)r * ld + c];
	acc[threadIdx.y][threadIdx.x] = s;
	__syncthreads();
	if (threadIdx.y == 0 && c < C) {
		for (int y = 1; y < 8; y++)
			s += acc[y][threadIdx.x];
		part[(size_t)chunk * C + c] = s;
	}
}

__global__ void
colsum_finish_kernel(float *dst, const float *part, int nchunks, int C)
{
	FOR_EACH(c, (size_t)C) {
		float s = 0;

		for (int k = 0; k < nchunks; k++)
			s += part[(size_t)k * C + c];
		dst[c] += s;
	}
}

static void
colsum_accumulate(float *dst, const float *x, int M, int C, int ld)
{
	int nchunks, rows = chunk_rows(M, &nchunks);
	float *part;

	if (M < 1 || C < 1)
		return;
	part = (float *)scratch(SCR_COL, (size_t)nchunks * C * sizeof(float));

	colsum_part_kernel<<<dim3((C + 31) / 32, nchunks), dim3(32, 8), 0, g.stream>>>(part, x,
	    M, C, ld, rows);
	LAUNCHED("colsum_part");
	colsum_finish_kernel<<<grid(C), NT, 0, g.stream>>>(dst, part, nchunks, C);
	LAUNCHED("colsum_finish");
}

/* out (M,OC) = inp (M,C) w^T + bias, w (OC,C): column-major that is out^T (OC,M)
 * = w (stored (C,OC), transposed) times inp^T (C,M). BF16: the operands in bf16;
 * the products and the classifier are templates on it, an instance per table. */
template <int BF16>
static void
matmul_fwd(float *out, const float *inp, const float *w, const float *bias, int M, int C,
    int OC)
{
	PROFILE("matmul_forward");

	if (BF16)
		gemm(CUDA_R_16BF, 1, 0, OC, M, C, weight_bf16(w, (size_t)OC * C), C,
		    act_bf16(SCR_A, inp, (size_t)M * C), C, out, OC, 0, bias);
	else
		gemm(CUDA_R_32F, 1, 0, OC, M, C, w, C, inp, C, out, OC, 0, bias);
	WROTE(out);
}

/* dinp (M,C) = dout (M,OC) w (OC,C): column-major dinp^T (C,M) = w (stored (C,OC))
 * times dout^T (OC,M). dw (OC,C) += dout^T inp: column-major dw^T (C,OC) = inp^T
 * (C,M) times dout (stored (OC,M), transposed). */
template <int BF16>
static void
matmul_bwd(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
    const float *w, int M, int C, int OC, int accumulate)
{
	PROFILE("matmul_backward");

	if (BF16) {
		const __nv_bfloat16 *d16 = act_bf16(SCR_B, dout, (size_t)M * OC);

		if (dinp)
			gemm(CUDA_R_16BF, 0, 0, C, M, OC, weight_bf16(w, (size_t)OC * C), C, d16,
			    OC, dinp, C, accumulate ? 1.0f : 0.0f, NULL);
		gemm(CUDA_R_16BF, 0, 1, C, OC, M, act_bf16(SCR_A, inp, (size_t)M * C), C, d16,
		    OC, dw, C, 1, NULL);
	} else {
		if (dinp)
			gemm(CUDA_R_32F, 0, 0, C, M, OC, w, C, dout, OC, dinp, C,
			    accumulate ? 1.0f : 0.0f, NULL);
		gemm(CUDA_R_32F, 0, 1, C, OC, M, inp, C, dout, OC, dw, C, 1, NULL);
	}
	if (dbias)
		colsum_accumulate(dbias, dout, M, OC, OC);
	WROTE(dinp, dw, dbias);
}

/* ---- patches and embeddings ----------------------------------------------------- */

struct norm {
	float mean[3], std[3];
};

/* cols (B,np,F) from img (B,H,W,3), F = 3*P*P, a thread per element of cols */
__global__ void
im2col_kernel(float *cols, const uint8_t *img, struct norm nm, int B, int H, int W, int P)
{
	const int gw = W / P, np = (H / P) * gw, F = 3 * P * P;

	FOR_EACH(e, (size_t)B * np * F) {
		const size_t i = e / F;
		const int f = (int)(e % F), b = (int)(i / np), p = (int)(i % np);
		const int ch = f / (P * P), y = f / P % P, x = f % P, py = p / gw, px = p % gw;
		const uint8_t u = img[(((size_t)b * H + py * P + y) * W + px * P + x) * 3 + ch];

		cols[e] = ((float)u / 255.0f - nm.mean[ch]) / nm.std[ch];
	}
}

static void
cu_im2col_forward(float *cols, const uint8_t *img, const float mean[3], const float std[3],
    int B, int H, int W, int P)
{
	PROFILE("im2col_forward");

	struct norm nm;
	size_t n = (size_t)B * (H / P) * (W / P) * 3 * P * P;

	memcpy(nm.mean, mean, sizeof nm.mean);
	memcpy(nm.std, std, sizeof nm.std);
	im2col_kernel<<<grid(n), NT, 0, g.stream>>>(cols, img, nm, B, H, W, P);
	LAUNCHED("im2col");
	WROTE(cols);
}

__global__ void
vit_embed_fwd_kernel(float *out, const float *patches, const float *cls, const float *pos,
    int B, int Np, int C)
{
	const int off = cls != NULL, N = Np + off;

	FOR_EACH(e, (size_t)B * N * C) {
		const size_t i = e / C;
		const int c = (int)(e % C), b = (int)(i / N), n = (int)(i % N);
		const float s = n < off ? cls[c] : patches[((size_t)b * Np + n - off) * C + c];

		out[e] = s + pos[(size_t)n * C + c];
	}
}

static void
cu_vit_embed_forward(float *out, const float *patches, const float *cls, const float *pos,
    int B, int Np, int C)
{
	PROFILE("vit_embed_forward");

	size_t n = (size_t)B * (Np + (cls != NULL)) * C;

	vit_embed_fwd_kernel<<<grid(n), NT, 0, g.stream>>>(out, patches, cls, pos, B, Np, C);
	LAUNCHED("vit_embed_forward");
	WROTE(out);
}

__global__ void
vit_embed_bwd_patches_kernel(float *dpatches, const float *dout, int B, int Np, int C, int off)
{
	const int N = Np + off;

	FOR_EACH(e, (size_t)B * Np * C) {
		const size_t i = e / C;
		const int c = (int)(e % C), b = (int)(i / Np), p = (int)(i % Np);

		dpatches[e] = dout[((size_t)b * N + p + off) * C + c];
	}
}

/* a thread per (n, c), summing over the batch in order as the CPU does; with
 * dcls NULL, embed_backward's dwpe too */
__global__ void
vit_embed_bwd_pos_kernel(float *dcls, float *dpos, const float *dout, int B, int N, int C)
{
	FOR_EACH(e, (size_t)N * C) {
		const int n = (int)(e / C), c = (int)(e % C);
		float s = dpos[e];

		for (int b = 0; b < B; b++)
			s += dout[((size_t)b * N + n) * C + c];
		dpos[e] = s;
		if (dcls && n == 0) {
			s = dcls[c];
			for (int b = 0; b < B; b++)
				s += dout[(size_t)b * N * C + c];
			dcls[c] = s;
		}
	}
}

static void
cu_vit_embed_backward(float *dpatches, float *dcls, float *dpos, const float *dout, int B,
    int Np, int C)
{
	PROFILE("vit_embed_backward");

	const int off = dcls != NULL, N = Np + off;

	vit_embed_bwd_patches_kernel<<<grid((size_t)B * Np * C), NT, 0, g.stream>>>(dpatches,
	    dout, B, Np, C, off);
	LAUNCHED("vit_embed_backward patches");
	vit_embed_bwd_pos_kernel<<<grid((size_t)N * C), NT, 0, g.stream>>>(dcls, dpos, dout, B,
	    N, C);
	LAUNCHED("vit_embed_backward pos");
	WROTE(dpatches, dcls, dpos);
}

__global__ void
embed_fwd_kernel(float *out, const int32_t *ids, const float *wte, const float *wpe, int B,
    int T, int C)
{
	FOR_EACH(e, (size_t)B * T * C) {
		const size_t i = e / C;
		const int c = (int)(e % C);

		out[e] = wte[(size_t)ids[i] * C + c] + wpe[(size_t)(i % T) * C + c];
	}
}

static void
cu_embed_forward(float *out, const int32_t *ids, const float *wte, const float *wpe, int B,
    int T, int C)
{
	PROFILE("embed_forward");

	size_t n = (size_t)B * T * C;

	embed_fwd_kernel<<<grid(n), NT, 0, g.stream>>>(out, ids, wte, wpe, B, T, C);
	LAUNCHED("embed_forward");
	WROTE(out);
}

/* dwte rows repeat (a token occurs many times): the tokens are split into
 * EMB_BUCKETS classes by id, and the thread of (class, column) adds the rows
 * of its tokens in row order, so no two threads touch one element and each
 * element gets its sums in the CPU's order. */
#define EMB_BUCKETS 64

__global__ void
embed_bwd_wte_kernel(float *dwte, const float *dout, const int32_t *ids, int M, int C)
{
	const int c = blockIdx.x * blockDim.x + threadIdx.x, k = blockIdx.y;

	if (c >= C)
		return;
	for (int i = 0; i < M; i++) {
		const int id = ids[i];

		if (id % EMB_BUCKETS == k)
			dwte[(size_t)id * C + c] += dout[(size_t)i * C + c];
	}
}

static void
cu_embed_backward(float *dwte, float *dwpe, const float *dout, const int32_t *ids, int B,
    int T, int C)
{
	PROFILE("embed_backward");

	embed_bwd_wte_kernel<<<dim3((C + 127) / 128, EMB_BUCKETS), 128, 0, g.stream>>>(dwte,
	    dout, ids, B * T, C);
	LAUNCHED("embed_backward wte");
	/* dwpe is dpos without a cls row */
	vit_embed_bwd_pos_kernel<<<grid((size_t)T * C), NT, 0, g.stream>>>((float *)NULL, dwpe,
	    dout, B, T, C);
	LAUNCHED("embed_backward wpe");
	WROTE(dwte, dwpe);
}

/* ---- LayerNorm ------------------------------------------------------------------- */

/* a warp per row; the sums in double, as on the CPU */
__global__ void
layernorm_fwd_kernel(float *out, float *mean, float *rstd, const float *inp, const float *w,
    const float *b, int M, int C, float eps)
{
	const int lane = threadIdx.x % 32;
	const int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
	const float *x;
	float *o, m, s;
	double sum = 0, ss = 0;

	if (r >= M)
		return;
	x = inp + (size_t)r * C;
	o = out + (size_t)r * C;
	for (int c = lane; c < C; c += 32)
		sum += x[c];
	m = (float)(warp_sum(sum) / C);
	for (int c = lane; c < C; c += 32)
		ss += (double)(x[c] - m) * (x[c] - m);
	s = (float)(1.0 / sqrt(warp_sum(ss) / C + eps));
	for (int c = lane; c < C; c += 32)
		o[c] = (x[c] - m) * s * w[c] + b[c];
	if (lane == 0) {
		mean[r] = m;
		rstd[r] = s;
	}
}

static void
cu_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
    const float *b, int M, int C, float eps)
{
	PROFILE("layernorm_forward");

	if (M < 1)
		return;
	layernorm_fwd_kernel<<<(M + 7) / 8, 256, 0, g.stream>>>(out, mean, rstd, inp, w, b, M,
	    C, eps);
	LAUNCHED("layernorm_forward");
	WROTE(out, mean, rstd);
}

/* dinp += per row, a warp per row */
__global__ void
layernorm_bwd_dinp_kernel(float *dinp, const float *dout, const float *inp, const float *w,
    const float *mean, const float *rstd, int M, int C)
{
	const int lane = threadIdx.x % 32;
	const int r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
	const float *x, *d;
	float *di, m, s, dmean = 0, dnorm = 0;

	if (r >= M)
		return;
	x = inp + (size_t)r * C;
	d = dout + (size_t)r * C;
	di = dinp + (size_t)r * C;
	m = mean[r];
	s = rstd[r];
	for (int c = lane; c < C; c += 32) {
		float dn = d[c] * w[c];

		dmean += dn;
		dnorm += dn * (x[c] - m) * s;
	}
	dmean = warp_sum(dmean) / C;
	dnorm = warp_sum(dnorm) / C;
	for (int c = lane; c < C; c += 32) {
		float n = (x[c] - m) * s;

		di[c] += (d[c] * w[c] - dmean - n * dnorm) * s;
	}
}

/* dw and db as colsum_part_kernel: partial sums over a chunk of rows */
__global__ void
layernorm_bwd_part_kernel(float *pw, float *pb, const float *dout, const float *inp,
    const float *mean, const float *rstd, int M, int C, int rows)
{
	__shared__ float aw[8][33], ab[8][33];
	const int c = blockIdx.x * 32 + threadIdx.x, chunk = blockIdx.y;
	const int r0 = chunk * rows, r1 = min(r0 + rows, M);
	float sw = 0, sb = 0;

	if (c < C) {
		for (int r = r0 + threadIdx.y; r < r1; r += 8) {
			const float d = dout[(size_t)r * C + c];

			sw += d * (inp[(size_t)r * C + c] - mean[r]) * rstd[r];
			sb += d;
		}
	}
	aw[threadIdx.y][threadIdx.x] = sw;
	ab[threadIdx.y][threadIdx.x] = sb;
	__syncthreads();
	if (threadIdx.y == 0 && c < C) {
		for (int y = 1; y < 8; y++) {
			sw += aw[y][threadIdx.x];
			sb += ab[y][threadIdx.x];
		}
		pw[(size_t)chunk * C + c] = sw;
		pb[(size_t)chunk * C + c] = sb;
	}
}

static void
cu_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
    const float *w, const float *mean, const float *rstd, int M, int C)
{
	PROFILE("layernorm_backward");

	int nchunks, rows = chunk_rows(M, &nchunks);
	float *pw, *pb;

	if (M < 1 || C < 1)
		return;
	pw = (float *)scratch(SCR_COL, 2 * (size_t)nchunks * C * sizeof(float));
	pb = pw + (size_t)nchunks * C;
	layernorm_bwd_dinp_kernel<<<(M + 7) / 8, 256, 0, g.stream>>>(dinp, dout, inp, w, mean,
	    rstd, M, C);
	LAUNCHED("layernorm_backward dinp");
	layernorm_bwd_part_kernel<<<dim3((C + 31) / 32, nchunks), dim3(32, 8), 0, g.stream>>>(
	    pw, pb, dout, inp, mean, rstd, M, C, rows);
	LAUNCHED("layernorm_backward part");
	colsum_finish_kernel<<<grid(C), NT, 0, g.stream>>>(dw, pw, nchunks, C);
	LAUNCHED("layernorm_backward dw");
	colsum_finish_kernel<<<grid(C), NT, 0, g.stream>>>(db, pb, nchunks, C);
	LAUNCHED("layernorm_backward db");
	WROTE(dinp, dw, db);
}

/* ---- attention --------------------------------------------------------------------- */

/* The sequences are short (up to a few hundred keys), so attention keeps the
 * CPU's plan, scores to att and then att times V, with each step fused into
 * one kernel: a warp per query row, the keys or values of the block's queries
 * streamed through shared memory ATT_KT rows at a time, one key per lane for
 * the scores and one channel per lane for the sums over keys. */
#define ATT_KT 32               /* rows per tile: one per lane */
#define ATT_WARPS 16            /* query (or key) rows per block */
#define ATT_MAXR 4              /* channels per lane: head size up to 128 */
#define ATT_MAXHS (32 * ATT_MAXR)

/* Loads rows j0 .. j0+ATT_KT-1 (those below rows) of a head, hs channels of row
 * stride ld from src, into tile (ATT_KT, hs + pad); the whole block calls it. */
__device__ void
load_tile(float *tile, int tld, const float *src, int ld, int j0, int rows, int hs)
{
	for (int e = threadIdx.x; e < ATT_KT * hs; e += blockDim.x) {
		const int jj = e / hs, d = e % hs, j = j0 + jj;

		tile[jj * tld + d] = j < rows ? src[(size_t)j * ld + d] : 0.0f;
	}
}

/* The rows of a (b, h) pair a block covers: blocks are numbered query-block
 * fastest, then h, then b, in one grid dimension (B*NH can pass 65535). */
struct rows {
	int b, h, r0;
};

__device__ struct rows
block_rows(int nrows, int NH)
{
	const int per = blockDim.x / 32, nblk = (nrows + per - 1) / per;
	const int blk = blockIdx.x % nblk, bh = blockIdx.x / nblk;
	struct rows r = {bh / NH, bh % NH, blk * per};

	return r;
}

/* out[i] = sum_j p[j] tile[j] over the tile's jn rows for this warp's hs channels,
 * with p[j0 + lane] in p: the second half of the forward and of the backward */
__device__ void
tile_axpy(float acc[ATT_MAXR], float p, int jn, const float *tile, int tld, int hs)
{
	const int lane = threadIdx.x % 32;

	for (int jj = 0; jj < jn; jj++) {
		const float pj = __shfl_sync(FULL, p, jj);

#pragma unroll
		for (int r = 0; r < ATT_MAXR; r++) {
			const int d = lane + 32 * r;

			if (d < hs)
				acc[r] += pj * tile[jj * tld + d];
		}
	}
}

/* acc += sum over rows j < n of p[j] src[j], for this warp's hs channels; the
 * rows (of stride ld, rows of them) stream through the tile ATT_KT at a time up
 * to jmax, the most any warp of the block needs; p[j0 + lane] is this lane's.
 * The whole block calls it. */
__device__ void
weighted_rows(float acc[ATT_MAXR], const float *p, int n, int jmax, const float *src, int ld,
    int rows, float *tile, int tld, int hs, int active)
{
	const int lane = threadIdx.x % 32;

	for (int j0 = 0; j0 < jmax; j0 += ATT_KT) {
		__syncthreads();
		load_tile(tile, tld, src, ld, j0, rows, hs);
		__syncthreads();
		if (active)
			tile_axpy(acc, j0 + lane < n ? p[j0 + lane] : 0.0f, min(ATT_KT, n - j0), tile,
			    tld, hs);
	}
}

/* dst[0 .. hs) = this warp's acc */
__device__ void
store_head(float *dst, const float acc[ATT_MAXR], int hs)
{
#pragma unroll
	for (int r = 0; r < ATT_MAXR; r++) {
		const int d = threadIdx.x % 32 + 32 * r;

		if (d < hs)
			dst[d] = acc[r];
	}
}

/* p[i] . tile[lane] over hs channels, vec (hs) in shared memory */
__device__ float
tile_dot(const float *vec, const float *tile, int tld, int hs)
{
	const float *row = tile + (threadIdx.x % 32) * tld;
	float s = 0;

	for (int d = 0; d < hs; d++)
		s += vec[d] * row[d];
	return s;
}

/* shared memory: the warps' query rows (ATT_WARPS, hs) and a tile (ATT_KT, hs+1) */
static size_t
att_smem(int hs)
{
	return ((size_t)ATT_WARPS * hs + (size_t)ATT_KT * (hs + 1)) * sizeof(float);
}

__global__ void
attention_fwd_kernel(float *out, float *att, const float *q, const float *k, const float *v,
    int ldq, int ldkv, int Tq, int Tk, int C, int NH, int hs, float scale, int causal)
{
	extern __shared__ float sm[];
	const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, tld = hs + 1;
	const struct rows br = block_rows(Tq, NH);
	const int i = br.r0 + warp, active = i < Tq;
	const int last = min(br.r0 + (int)blockDim.x / 32, Tq) - 1;
	/* att_visible() grows with i: the block's last query sees the most keys */
	const int nmax = att_visible(last, Tq, Tk, causal),
	    n = active ? att_visible(i, Tq, Tk, causal) : 0;
	const float *kb = k + (size_t)br.b * Tk * ldkv + br.h * hs;
	const float *vb = v + (size_t)br.b * Tk * ldkv + br.h * hs;
	float *sq = sm + warp * hs, *tile = sm + ATT_WARPS * hs;
	float *arow = att + (((size_t)br.b * NH + br.h) * Tq + (active ? i : 0)) * Tk;
	float mx = -INFINITY, sum = 0, inv, acc[ATT_MAXR] = {0};

	if (active)
		for (int d = lane; d < hs; d += 32)
			sq[d] = q[((size_t)br.b * Tq + i) * ldq + br.h * hs + d];
	/* scores: lane l of a tile scores key j0 + l, and owns arow[j0 + l] after */
	for (int j0 = 0; j0 < nmax; j0 += ATT_KT) {
		__syncthreads();
		load_tile(tile, tld, kb, ldkv, j0, Tk, hs);
		__syncthreads();
		if (active && j0 + lane < n) {
			const float s = tile_dot(sq, tile, tld, hs) * scale;

			arow[j0 + lane] = s;
			mx = fmaxf(mx, s);
		}
	}
	/* softmax over the visible keys; 0 where masked, as the backward reads it */
	mx = warp_max(mx);
	if (active)
		for (int j = lane; j < n; j += 32) {
			const float e = expf(arow[j] - mx);

			arow[j] = e;
			sum += e;
		}
	sum = warp_sum(sum);
	inv = n ? 1.0f / sum : 0.0f;
	if (active) {
		for (int j = lane; j < n; j += 32)
			arow[j] *= inv;
		for (int j = n + lane; j < Tk; j += 32)
			arow[j] = 0;
	}
	/* out = att v */
	weighted_rows(acc, arow, n, nmax, vb, ldkv, Tk, tile, tld, hs, active);
	if (active)
		store_head(out + ((size_t)br.b * Tq + i) * C + br.h * hs, acc, hs);
}

static void
check_heads(const char *op, int C, int NH)
{
	if (NH < 1 || C % NH != 0 || C / NH > ATT_MAXHS)
		eprintf("cuda: %s: %d channels in %d heads: the kernels take heads of up to %d "
		    "channels", op, C, NH, ATT_MAXHS);
}

/* blocks of min(ATT_WARPS, rows) warps, a block per ATT_WARPS rows of every (b, h) */
static void
att_grid(int rows, int B, int NH, unsigned *blocks, unsigned *threads)
{
	const int per = rows < ATT_WARPS ? rows : ATT_WARPS;
	const size_t nb = (size_t)(rows + per - 1) / per * B * NH;

	if (nb > 0x7fffffff)
		eprintf("cuda: attention of %zu blocks: too many", nb);
	*blocks = (unsigned)nb;
	*threads = 32 * per;
}

static void
cu_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
    int ldq, int ldkv, int B, int Tq, int Tk, int C, int NH, int causal)
{
	PROFILE("attention_forward");

	const int hs = C / NH;
	unsigned blocks, threads;

	check_heads("attention_forward", C, NH);
	if (B < 1 || Tq < 1)
		return;
	att_grid(Tq, B, NH, &blocks, &threads);
	attention_fwd_kernel<<<blocks, threads, att_smem(hs), g.stream>>>(out, att, q, k, v,
	    ldq, ldkv, Tq, Tk, C, NH, hs, 1.0f / sqrtf((float)hs), causal);
	LAUNCHED("attention_forward");
	WROTE(out, att);
}

/* Backward, first half, a warp per query row i: dP = dO V^T into datt, then
 * dS = P (dP - sum P dP) / sqrt(hs) in place, then dQ = dS K. */
__global__ void
attention_bwd_q_kernel(float *dq, float *datt, const float *dout, const float *k,
    const float *v, const float *att, int ldq, int ldkv, int Tq, int Tk, int C, int NH,
    int hs, float scale)
{
	extern __shared__ float sm[];
	const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, tld = hs + 1;
	const struct rows br = block_rows(Tq, NH);
	const int i = br.r0 + warp, active = i < Tq;
	const size_t rowoff = (((size_t)br.b * NH + br.h) * Tq + (active ? i : 0)) * Tk;
	const float *kb = k + (size_t)br.b * Tk * ldkv + br.h * hs;
	const float *vb = v + (size_t)br.b * Tk * ldkv + br.h * hs;
	const float *prow = att + rowoff;
	float *drow = datt + rowoff;
	float *sdo = sm + warp * hs, *tile = sm + ATT_WARPS * hs;
	float s = 0, acc[ATT_MAXR] = {0};

	if (active)
		for (int d = lane; d < hs; d += 32)
			sdo[d] = dout[((size_t)br.b * Tq + i) * C + br.h * hs + d];
	/* dP: lane l owns drow[j0 + l], as in the forward */
	for (int j0 = 0; j0 < Tk; j0 += ATT_KT) {
		__syncthreads();
		load_tile(tile, tld, vb, ldkv, j0, Tk, hs);
		__syncthreads();
		if (active && j0 + lane < Tk) {
			const float dp = tile_dot(sdo, tile, tld, hs);

			drow[j0 + lane] = dp;
			s += prow[j0 + lane] * dp;
		}
	}
	s = warp_sum(s);
	if (active)
		for (int j = lane; j < Tk; j += 32)
			drow[j] = prow[j] * (drow[j] - s) * scale;
	weighted_rows(acc, drow, Tk, Tk, kb, ldkv, Tk, tile, tld, hs, active);
	if (active)
		store_head(dq + ((size_t)br.b * Tq + i) * ldq + br.h * hs, acc, hs);
}

/* Second half, a warp per key row j: dV = P^T dO and dK = dS^T Q, the queries'
 * rows of dO and Q streamed through two tiles. */
__global__ void
attention_bwd_kv_kernel(float *dk, float *dv, const float *datt, const float *dout,
    const float *q, const float *att, int ldq, int ldkv, int Tq, int Tk, int C, int NH,
    int hs)
{
	extern __shared__ float sm[];
	const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
	const struct rows br = block_rows(Tk, NH);
	const int j = br.r0 + warp, active = j < Tk;
	const size_t base = ((size_t)br.b * NH + br.h) * Tq * Tk;
	const float *qb = q + (size_t)br.b * Tq * ldq + br.h * hs;
	const float *ob = dout + (size_t)br.b * Tq * C + br.h * hs;
	float *to = sm, *tq = sm + ATT_KT * hs;
	float av[ATT_MAXR] = {0}, ak[ATT_MAXR] = {0};

	for (int i0 = 0; i0 < Tq; i0 += ATT_KT) {
		const int i = i0 + lane, in = min(ATT_KT, Tq - i0);

		__syncthreads();
		load_tile(to, hs, ob, C, i0, Tq, hs);
		load_tile(tq, hs, qb, ldq, i0, Tq, hs);
		__syncthreads();
		if (active) {
			const float p = i < Tq ? att[base + (size_t)i * Tk + j] : 0.0f;
			const float ds = i < Tq ? datt[base + (size_t)i * Tk + j] : 0.0f;

			tile_axpy(av, p, in, to, hs, hs);
			tile_axpy(ak, ds, in, tq, hs, hs);
		}
	}
	if (active) {
		const size_t o = ((size_t)br.b * Tk + j) * ldkv + br.h * hs;

		store_head(dv + o, av, hs);
		store_head(dk + o, ak, hs);
	}
}

static void
cu_attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout,
    const float *q, const float *k, const float *v, const float *att, int ldq, int ldkv,
    int B, int Tq, int Tk, int C, int NH)
{
	PROFILE("attention_backward");

	const int hs = C / NH;
	unsigned blocks, threads;

	check_heads("attention_backward", C, NH);
	if (B < 1 || Tq < 1 || Tk < 1)
		return;
	att_grid(Tq, B, NH, &blocks, &threads);
	attention_bwd_q_kernel<<<blocks, threads, att_smem(hs), g.stream>>>(dq, datt, dout, k,
	    v, att, ldq, ldkv, Tq, Tk, C, NH, hs, 1.0f / sqrtf((float)hs));
	LAUNCHED("attention_backward q");
	att_grid(Tk, B, NH, &blocks, &threads);
	attention_bwd_kv_kernel<<<blocks, threads, 2 * ATT_KT * hs * sizeof(float), g.stream>>>(
	    dk, dv, datt, dout, q, att, ldq, ldkv, Tq, Tk, C, NH, hs);
	LAUNCHED("attention_backward kv");
	WROTE(dq, dk, dv, datt);
}

/* ---- attention on the tensor cores (bf16) -------------------------------------------
 *
 * The kernels above run on the fp32 cores, at a small fraction of what the
 * tensor cores do. With bf16, attention over more than a few query rows is
 * instead batched bf16 products over the (b, h) pairs with fp32 accumulation,
 * as autocast's math attention: the heads of q, k, v (and dout) are copied to
 * bf16 (B*NH, T, hs), one product each for the scores (into att), P V, and in
 * the backward dP, dQ, dK, dV, with the softmax and its backward a warp per row
 * between them. Decoding's single query rows keep the kernels. P and dS go to
 * the products as bf16 rows padded to ATT_LD(Tk) (a multiple of 8 elements:
 * 16-byte rows, the tensor cores' loads). Where cuBLASLt has no algorithm for
 * a shape, the kernels do it. */
#define ATT_GEMM_MIN_Q 16
#define ATT_LD(Tk) (((Tk) + 7) / 8 * 8)

/* out (B*NH, T, hs) = the heads of inp (B, T, ld), head h at columns h*hs, in bf16 */
__global__ void
heads_bf16_kernel(__nv_bfloat16 *out, const float *inp, int ld, int T, int NH, int hs,
    size_t n)
{
	FOR_EACH(e, n) {
		const size_t r = e / hs, bh = r / T;
		const int d = (int)(e % hs), t = (int)(r % T), h = (int)(bh % NH);

		out[e] = __float2bfloat16(inp[((bh / NH) * T + t) * ld + h * hs + d]);
	}
}

/* the heads of out (B, T, ld) = inp (B*NH, T, hs) */
__global__ void
unheads_kernel(float *out, const float *inp, int ld, int T, int NH, int hs, size_t n)
{
	FOR_EACH(e, n) {
		const size_t r = e / hs, bh = r / T;
		const int d = (int)(e % hs), t = (int)(r % T), h = (int)(bh % NH);

		out[((bh / NH) * T + t) * ld + h * hs + d] = inp[e];
	}
}

static __nv_bfloat16 *
heads_bf16(int slot, const float *inp, int ld, int B, int T, int NH, int hs)
{
	PROFILE("to bf16 heads");

	const size_t n = (size_t)B * NH * T * hs;
	__nv_bfloat16 *out = (__nv_bfloat16 *)scratch(slot, n * sizeof(__nv_bfloat16));

	heads_bf16_kernel<<<grid(n), NT, 0, g.stream>>>(out, inp, ld, T, NH, hs, n);
	LAUNCHED("heads_bf16");
	return out;
}

static void
unheads(float *out, const float *inp, int ld, int B, int T, int NH, int hs)
{
	const size_t n = (size_t)B * NH * T * hs;

	unheads_kernel<<<grid(n), NT, 0, g.stream>>>(out, inp, ld, T, NH, hs, n);
	LAUNCHED("unheads");
}

/* A warp per row of att (rows of Tk, query i = row % Tq): the scaled scores
 * become the probabilities of the keys query i sees, 0 elsewhere; p16 (rows of
 * ATT_LD(Tk)) gets them in bf16. */
__global__ void
att_softmax_kernel(float *att, __nv_bfloat16 *p16, int rows, int Tq, int Tk, int causal)
{
	const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;

	if (row >= rows)                        /* the whole warp */
		return;
	float *a = att + (size_t)row * Tk, mx = -INFINITY, sum = 0, inv;
	__nv_bfloat16 *p = p16 + (size_t)row * ATT_LD(Tk);
	const int n = att_visible(row % Tq, Tq, Tk, causal);

	for (int j = lane; j < n; j += 32)
		mx = fmaxf(mx, a[j]);
	mx = warp_max(mx);
	for (int j = lane; j < n; j += 32) {
		const float e = expf(a[j] - mx);

		a[j] = e;
		sum += e;
	}
	sum = warp_sum(sum);
	inv = n ? 1.0f / sum : 0.0f;
	for (int j = lane; j < Tk; j += 32) {
		const float v = j < n ? a[j] * inv : 0.0f;

		a[j] = v;
		p[j] = __float2bfloat16(v);
	}
}

/* A warp per row: datt, dP, becomes dS = P (dP - sum P dP) * scale; ds16 and
 * p16 (rows of ATT_LD(Tk)) get dS and P in bf16. */
__global__ void
att_softmax_bwd_kernel(float *datt, __nv_bfloat16 *ds16, __nv_bfloat16 *p16,
    const float *att, int rows, int Tk, float scale)
{
	const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;

	if (row >= rows)                        /* the whole warp */
		return;
	const float *a = att + (size_t)row * Tk;
	float *d = datt + (size_t)row * Tk, s = 0;
	const size_t o = (size_t)row * ATT_LD(Tk);

	for (int j = lane; j < Tk; j += 32)
		s += a[j] * d[j];
	s = warp_sum(s);
	for (int j = lane; j < Tk; j += 32) {
		const float ds = a[j] * (d[j] - s) * scale;

		d[j] = ds;
		ds16[o + j] = __float2bfloat16(ds);
		p16[o + j] = __float2bfloat16(a[j]);
	}
}

#define ROWS_PER_BLOCK 8

static unsigned
row_blocks(size_t rows)
{
	return (unsigned)((rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK);
}

/* whether the products take this attention: rows enough, and heads of whole
 * 16-byte rows */
static int
att_on_products(int B, int Tq, int Tk, int C, int NH)
{
	return B >= 1 && Tq >= ATT_GEMM_MIN_Q && Tk >= 1 && (C / NH) % 8 == 0 &&
	    (size_t)B * NH * Tq * ATT_LD(Tk) < ((size_t)1 << 31);
}

/* the forward on the products; 0 when cuBLASLt has no algorithm for it */
static int
att_products_forward(float *out, float *att, const float *q, const float *k, const float *v,
    int ldq, int ldkv, int B, int Tq, int Tk, int C, int NH, int causal)
{
	PROFILE("attention_forward");

	const int hs = C / NH, BH = B * NH, lp = ATT_LD(Tk);
	const size_t rows = (size_t)BH * Tq;
	const __nv_bfloat16 *qh = heads_bf16(SCR_Q, q, ldq, B, Tq, NH, hs);
	const __nv_bfloat16 *kh = heads_bf16(SCR_K, k, ldkv, B, Tk, NH, hs);
	const __nv_bfloat16 *vh = heads_bf16(SCR_V, v, ldkv, B, Tk, NH, hs);
	__nv_bfloat16 *p16 = (__nv_bfloat16 *)scratch(SCR_P, rows * lp * sizeof(__nv_bfloat16));
	float *oh = (float *)scratch(SCR_O, rows * hs * sizeof(float));
	const struct batch s = {BH, (long long)Tk * hs, (long long)Tq * hs, (long long)Tq * Tk};
	const struct batch o = {BH, (long long)Tk * hs, (long long)Tq * lp, (long long)Tq * hs};

	/* att^T (Tk,Tq) = K (stored (hs,Tk), transposed) Q^T (hs,Tq), scaled */
	if (!gemm_ex(CUDA_R_16BF, 1, 0, Tk, Tq, hs, kh, hs, qh, hs, att, Tk,
	    1.0f / sqrtf((float)hs), 0, NULL, &s, 1))
		return 0;
	att_softmax_kernel<<<row_blocks(rows), 32 * ROWS_PER_BLOCK, 0, g.stream>>>(att, p16,
	    (int)rows, Tq, Tk, causal);
	LAUNCHED("att_softmax");
	/* O^T (hs,Tq) = V^T (hs,Tk) P^T (Tk,Tq) */
	if (!gemm_ex(CUDA_R_16BF, 0, 0, hs, Tq, Tk, vh, hs, p16, lp, oh, hs, 1, 0, NULL, &o, 1))
		return 0;
	unheads(out, oh, C, B, Tq, NH, hs);
	return 1;
}

/* the backward on the products; 0 when cuBLASLt has no algorithm for it */
static int
att_products_backward(float *dq, float *dk, float *dv, float *datt, const float *dout,
    const float *q, const float *k, const float *v, const float *att, int ldq, int ldkv,
    int B, int Tq, int Tk, int C, int NH)
{
	PROFILE("attention_backward");

	const int hs = C / NH, BH = B * NH, lp = ATT_LD(Tk);
	const size_t rows = (size_t)BH * Tq, nq = rows * hs, nk = (size_t)BH * Tk * hs;
	const __nv_bfloat16 *qh = heads_bf16(SCR_Q, q, ldq, B, Tq, NH, hs);
	const __nv_bfloat16 *kh = heads_bf16(SCR_K, k, ldkv, B, Tk, NH, hs);
	const __nv_bfloat16 *vh = heads_bf16(SCR_V, v, ldkv, B, Tk, NH, hs);
	const __nv_bfloat16 *doh = heads_bf16(SCR_DO, dout, C, B, Tq, NH, hs);
	__nv_bfloat16 *p16 = (__nv_bfloat16 *)scratch(SCR_P, rows * lp * sizeof(__nv_bfloat16));
	__nv_bfloat16 *ds16 = (__nv_bfloat16 *)scratch(SCR_DS, rows * lp * sizeof(__nv_bfloat16));
	float *dqh = (float *)scratch(SCR_O, (nq + 2 * nk) * sizeof(float));
	float *dkh = dqh + nq, *dvh = dkh + nk;
	const long long sq = (long long)Tq * hs, sk = (long long)Tk * hs, sp = (long long)Tq * lp;
	const struct batch dp = {BH, sk, sq, (long long)Tq * Tk};
	const struct batch bq = {BH, sk, sp, sq}, bkv = {BH, sq, sp, sk};

	/* dP^T (Tk,Tq) = V (stored (hs,Tk), transposed) dO^T (hs,Tq) */
	if (!gemm_ex(CUDA_R_16BF, 1, 0, Tk, Tq, hs, vh, hs, doh, hs, datt, Tk, 1, 0, NULL, &dp, 1))
		return 0;
	att_softmax_bwd_kernel<<<row_blocks(rows), 32 * ROWS_PER_BLOCK, 0, g.stream>>>(datt,
	    ds16, p16, att, (int)rows, Tk, 1.0f / sqrtf((float)hs));
	LAUNCHED("att_softmax_bwd");
	/* dQ^T (hs,Tq) = K^T (hs,Tk) dS^T (Tk,Tq); dK^T (hs,Tk) = Q^T (hs,Tq) dS
	 * (Tq,Tk); dV^T (hs,Tk) = dO^T (hs,Tq) P (Tq,Tk) */
	if (!gemm_ex(CUDA_R_16BF, 0, 0, hs, Tq, Tk, kh, hs, ds16, lp, dqh, hs, 1, 0, NULL, &bq, 1) ||
	    !gemm_ex(CUDA_R_16BF, 0, 1, hs, Tk, Tq, qh, hs, ds16, lp, dkh, hs, 1, 0, NULL, &bkv, 1) ||
	    !gemm_ex(CUDA_R_16BF, 0, 1, hs, Tk, Tq, doh, hs, p16, lp, dvh, hs, 1, 0, NULL, &bkv, 1))
		return 0;
	unheads(dq, dqh, ldq, B, Tq, NH, hs);
	unheads(dk, dkh, ldkv, B, Tk, NH, hs);
	unheads(dv, dvh, ldkv, B, Tk, NH, hs);
	return 1;
}

static void
cu_attention_forward16(float *out, float *att, const float *q, const float *k, const float *v,
    int ldq, int ldkv, int B, int Tq, int Tk, int C, int NH, int causal)
{
	check_heads("attention_forward", C, NH);
	if (att_on_products(B, Tq, Tk, C, NH) &&
	    att_products_forward(out, att, q, k, v, ldq, ldkv, B, Tq, Tk, C, NH, causal))
		WROTE(out, att);
	else
		cu_attention_forward(out, att, q, k, v, ldq, ldkv, B, Tq, Tk, C, NH, causal);
}

static void
cu_attention_backward16(float *dq, float *dk, float *dv, float *datt, const float *dout,
    const float *q, const float *k, const float *v, const float *att, int ldq, int ldkv,
    int B, int Tq, int Tk, int C, int NH)
{
	check_heads("attention_backward", C, NH);
	if (att_on_products(B, Tq, Tk, C, NH) &&
	    att_products_backward(dq, dk, dv, datt, dout, q, k, v, att, ldq, ldkv, B, Tq, Tk, C,
	    NH))
		WROTE(dq, dk, dv, datt);
	else
		cu_attention_backward(dq, dk, dv, datt, dout, q, k, v, att, ldq, ldkv, B, Tq, Tk,
		    C, NH);
}

/* ---- element-wise ------------------------------------------------------------------ */

#define GELU_K 0.7978845608028654f      /* sqrt(2/pi) */
#define INV_SQRT2 0.7071067811865476f
#define INV_SQRT2PI 0.3989422804014327f

/* the CPU's formulas (layers.c), with expf for its exp_neg */
__global__ void
gelu_fwd_kernel(float *out, const float *inp, size_t n, int exact)
{
	FOR_EACH(i, n) {
		const float x = inp[i];

		if (exact) {
			out[i] = 0.5f * x * (1.0f + erff(x * INV_SQRT2));
		} else {
			const float u = GELU_K * (x + 0.044715f * x * x * x);
			const float a = expf(-2.0f * fabsf(u));

			out[i] = 0.5f * x * (1.0f + copysignf((1.0f - a) / (1.0f + a), u));
		}
	}
}

__global__ void
gelu_bwd_kernel(float *dinp, const float *inp, const float *dout, size_t n, int exact)
{
	FOR_EACH(i, n) {
		const float x = inp[i];
		float gd;

		if (exact) {
			gd = 0.5f * (1.0f + erff(x * INV_SQRT2)) +
			    x * INV_SQRT2PI * expf(-0.5f * x * x);
		} else {
			const float u = GELU_K * (x + 0.044715f * x * x * x);
			const float a = expf(-2.0f * fabsf(u));
			const float t = copysignf((1.0f - a) / (1.0f + a), u);
			const float sech2 = 4.0f * a / ((1.0f + a) * (1.0f + a));

			gd = 0.5f * (1.0f + t) +
			    0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
		}
		dinp[i] = dout[i] * gd;
	}
}

static void
cu_gelu_forward(float *out, const float *inp, size_t n, int exact)
{
	PROFILE("gelu_forward");

	gelu_fwd_kernel<<<grid(n), NT, 0, g.stream>>>(out, inp, n, exact);
	LAUNCHED("gelu_forward");
	WROTE(out);
}

static void
cu_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n, int exact)
{
	PROFILE("gelu_backward");

	gelu_bwd_kernel<<<grid(n), NT, 0, g.stream>>>(dinp, inp, dout, n, exact);
	LAUNCHED("gelu_backward");
	WROTE(dinp);
}

__global__ void
residual_kernel(float *out, const float *a, const float *b, size_t n)
{
	FOR_EACH(i, n)
		out[i] = a[i] + b[i];
}

static void
cu_residual_forward(float *out, const float *a, const float *b, size_t n)
{
	PROFILE("residual_forward");

	residual_kernel<<<grid(n), NT, 0, g.stream>>>(out, a, b, n);
	LAUNCHED("residual_forward");
	WROTE(out);
}

/* ---- classifier and cross-entropy --------------------------------------------- */

/* A block per row: softmax in place and the loss from the logit; a row whose
 * target is <pad> keeps its logits, as on the CPU. */
__global__ void
softmax_xent_kernel(float *logits, float *losses, const int32_t *targets, int V)
{
	const int r = blockIdx.x, t = targets[r];
	float *z = logits + (size_t)r * V;
	float mx = -INFINITY, sum = 0, zt;

	if (t == 0) {
		if (threadIdx.x == 0)
			losses[r] = 0;
		return;
	}
	/* z[t] is read before block_max's barrier, so before any thread writes z */
	zt = z[t];
	for (int v = threadIdx.x; v < V; v += blockDim.x)
		mx = fmaxf(mx, z[v]);
	mx = block_max(mx);
	for (int v = threadIdx.x; v < V; v += blockDim.x) {
		const float e = expf(z[v] - mx);

		z[v] = e;
		sum += e;
	}
	sum = block_sum(sum);
	for (int v = threadIdx.x; v < V; v += blockDim.x)
		z[v] *= 1.0f / sum;
	if (threadIdx.x == 0)
		losses[r] = mx - zt + logf(sum);
}

template <int BF16>
static void
classifier_fwd(float *logits, float *losses, const float *inp, const float *wte,
    const int32_t *targets, int M, int C, int V)
{
	PROFILE("classifier_forward");

	matmul_fwd<BF16>(logits, inp, wte, NULL, M, C, V);
	if (!targets || M < 1)
		return;
	softmax_xent_kernel<<<M, 512, 0, g.stream>>>(logits, losses, targets, V);
	LAUNCHED("classifier_forward softmax");
	WROTE(losses);
}

/* probs becomes dlogits of sum(losses) * scale */
__global__ void
dlogits_kernel(float *probs, const int32_t *targets, float scale, int M, int V)
{
	FOR_EACH(e, (size_t)M * V) {
		const int r = (int)(e / V), v = (int)(e % V), t = targets[r];
		float d = probs[e] * scale;

		if (v == t)
			d -= scale;
		probs[e] = t == 0 ? 0.0f : d;
	}
}

template <int BF16>
static void
classifier_bwd(float *dinp, float *dwte, float *probs, const float *inp, const float *wte,
    const int32_t *targets, float scale, int M, int C, int V)
{
	PROFILE("classifier_backward");

	dlogits_kernel<<<grid((size_t)M * V), NT, 0, g.stream>>>(probs, targets, scale, M, V);
	LAUNCHED("classifier_backward dlogits");
	WROTE(probs);
	matmul_bwd<BF16>(dinp, dwte, NULL, probs, inp, wte, M, C, V, 0);
}

/* ---- gathers ---------------------------------------------------------------------- */

__global__ void
gather_position_kernel(float *out, const float *inp, int B, int T, int C, int t)
{
	FOR_EACH(e, (size_t)B * C)
		out[e] = inp[((e / C) * T + t) * C + e % C];
}

static void
cu_gather_position(float *out, const float *inp, int B, int T, int C, int t)
{
	PROFILE("gather_position");

	gather_position_kernel<<<grid((size_t)B * C), NT, 0, g.stream>>>(out, inp, B, T, C, t);
	LAUNCHED("gather_position");
	WROTE(out);
}

/* out[k, b] = inp[k, idx[b]], rows of C */
__global__ void
gather_rows_kernel(float *out, const float *inp, const int32_t *idx, int K, int B, int C)
{
	FOR_EACH(e, (size_t)K * B * C) {
		const size_t i = e / C;
		const int c = (int)(e % C);

		out[e] = inp[((i / B) * B + idx[i % B]) * C + c];
	}
}

static void
cu_gather_rows(float *out, const float *inp, const int32_t *idx, int K, int B, int C)
{
	PROFILE("gather_rows");

	gather_rows_kernel<<<grid((size_t)K * B * C), NT, 0, g.stream>>>(out, inp, idx, K, B, C);
	LAUNCHED("gather_rows");
	WROTE(out);
}

/* ---- whole vectors ------------------------------------------------------------------ */

/* A fixed grid, so the order of the sums depends on n alone. */
#define RED_BLOCKS 256

__global__ void
reduce_kernel(double *part, const float *x, size_t n, int squares)
{
	double s = 0;

	FOR_EACH(i, n) {
		const double v = x[i];

		s += squares ? v * v : v;
	}
	s = block_sum(s);
	if (threadIdx.x == 0)
		part[blockIdx.x] = s;
}

static double
reduce(const float *x, size_t n, int squares)
{
	double *part = (double *)scratch(SCR_RED, RED_BLOCKS * sizeof(double));
	double host[RED_BLOCKS], total = 0;
	int i;

	if (n == 0)
		return 0;
	reduce_kernel<<<RED_BLOCKS, NT, 0, g.stream>>>(part, x, n, squares);
	LAUNCHED("sum");
	cu_download(host, part, sizeof host);
	for (i = 0; i < RED_BLOCKS; i++)
		total += host[i];
	return total;
}

static double
cu_sum(const float *x, size_t n)
{
	PROFILE("sum");

	return reduce(x, n, 0);
}

static double
cu_sumsq(const float *x, size_t n)
{
	PROFILE("sumsq");

	return reduce(x, n, 1);
}

__global__ void
scale_kernel(float *x, size_t n, float s)
{
	FOR_EACH(i, n)
		x[i] *= s;
}

static void
cu_scale(float *x, size_t n, float s)
{
	PROFILE("scale");

	if (n == 0)
		return;
	scale_kernel<<<grid(n), NT, 0, g.stream>>>(x, n, s);
	LAUNCHED("scale");
	WROTE(x);
}

struct adamw_k {
	float decay, b1, b2, a1, a2, bc2_sqrt, step_size, eps;
};

/* adamw.c's update, operation for operation */
__global__ void
adamw_kernel(float *p, const float *g, float *m, float *v, size_t n, struct adamw_k k)
{
	FOR_EACH(i, n) {
		const float gi = g[i];
		const float pi = p[i] * k.decay;
		const float mi = m[i] * k.b1 + gi * k.a1;
		const float vi = v[i] * k.b2 + k.a2 * gi * gi;
		const float denom = sqrtf(vi) / k.bc2_sqrt + k.eps;

		p[i] = pi + -k.step_size * (mi / denom);
		m[i] = mi;
		v[i] = vi;
	}
}

static void
cu_adamw(float *p, const float *gr, float *m, float *v, size_t n, double lr, double beta1,
    double beta2, double eps, double wd, long step)
{
	PROFILE("adamw");

	struct adamw_k k;

	if (n == 0)
		return;
	/* the scalars as adamw.c computes them, in double then cast */
	k.decay = (float)(1 - lr * wd);
	k.b1 = (float)beta1;
	k.b2 = (float)beta2;
	k.a1 = (float)(1 - beta1);
	k.a2 = (float)(1 - beta2);
	k.bc2_sqrt = (float)sqrt(1 - pow(beta2, (double)step));
	k.step_size = (float)(lr / (1 - pow(beta1, (double)step)));
	k.eps = (float)eps;
	adamw_kernel<<<grid(n), NT, 0, g.stream>>>(p, gr, m, v, n, k);
	LAUNCHED("adamw");
	WROTE(p, m, v);
}

/* ---- device selection, for backend_select.c ------------------------------------- */

extern "C" int
cuda_probe(char *err, size_t errsz)
{
	cudaError_t e;
	int n = 0;

	if ((e = cudaGetDeviceCount(&n)) != cudaSuccess || n < 1) {
		if (e == cudaSuccess || e == cudaErrorNoDevice)
			seterr(err, errsz, "no CUDA GPU is visible");
		else
			seterr(err, errsz, "no CUDA GPU is visible (%s)", cudaGetErrorString(e));
		return -1;
	}
	return 0;
}

extern "C" int
cuda_select(int ordinal)
{
	int n = 0, dev;

	if (cudaGetDeviceCount(&n) != cudaSuccess || n < 1 || ordinal < 0)
		return -1;
	dev = ordinal % n;
	/* the stream and handles belong to the device they were made on */
	if (g.ready)
		return dev == g.device ? dev : -1;
	if (cudaSetDevice(dev) != cudaSuccess)
		return -1;
	return dev;
}

/* ---- greedy decoding -------------------------------------------------------------
 *
 * backend.h's greedy_step, so that the decode loop (model_decode_greedy) keeps
 * its tokens on the GPU: each step's logits are reduced to the next ids where
 * they are, and those ids are the next step's embedding input.
 *
 * A block per row: each thread scans a stride of the row for the max (of all
 * tokens, for the log-softmax) and for the best token it may choose (a value
 * and an id, the lower id winning a tie, NaN passed over), the block reduces
 * both, then the sum of e^(z - max); thread 0 writes the row's results. The
 * choice is the CPU's exactly (backend_cpu.c); the log-probability differs
 * from it by the rounding of a sum taken in another order. */

/* (v, i) is better than (bv, bi): a larger value, or the lower id of equals;
 * never a NaN value */
__device__ static bool
better(float v, int i, float bv, int bi)
{
	return v > bv || (v == bv && i < bi);
}

/* The block's best (bv, bi), returned to every thread; the block reaches it
 * together. better() orders the pairs totally, so the result is the one of any
 * order of reduction. */
__device__ static void
block_best(float *bv, int *bi)
{
	__shared__ float sbv[32];
	__shared__ int sbi[32];
	const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;

	for (int o = 16; o > 0; o /= 2) {
		const float ov = __shfl_xor_sync(FULL, *bv, o);
		const int oi = __shfl_xor_sync(FULL, *bi, o);

		if (better(ov, oi, *bv, *bi)) {
			*bv = ov;
			*bi = oi;
		}
	}
	if (lane == 0) {
		sbv[warp] = *bv;
		sbi[warp] = *bi;
	}
	__syncthreads();
	*bv = sbv[0];
	*bi = sbi[0];
	for (int w = 1; w < nw; w++)
		if (better(sbv[w], sbi[w], *bv, *bi)) {
			*bv = sbv[w];
			*bi = sbi[w];
		}
}

/* The block's sum of x, returned to every thread (the same way): block_sum's
 * but for the warps' sums, added here in warp order, as greedy_step always has. */
__device__ static float
block_sum_in_order(float x)
{
	__shared__ float part[32];
	const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
	float s = 0;

	x = warp_sum(x);
	if (lane == 0)
		part[warp] = x;
	__syncthreads();
	for (int w = 0; w < nw; w++)
		s += part[w];
	return s;
}

__global__ void
greedy_step_kernel(int32_t *ids, int32_t *seq, int32_t *len, int32_t *done,
    double *logprob, const float *logits, int V, int t, int L)
{
	const int b = blockIdx.x;
	const float *z = logits + (size_t)b * V;
	float mx = -INFINITY, bv = -INFINITY, sum = 0;
	int bi = INT_MAX, v, c;

	if (done[b])                    /* the whole block returns */
		return;
	for (v = threadIdx.x; v < V; v += blockDim.x) {
		const float x = z[v];

		mx = x > mx ? x : mx;   /* NaN passed over, as the CPU's max */
		if (v >= TOK_EOS && better(x, v, bv, bi)) {
			bv = x;
			bi = v;
		}
	}
	/* a max is exact, whatever the order of reduction */
	mx = block_max(mx);
	block_best(&bv, &bi);
	/* exp_neg's range: 0 past 87 and for a NaN difference */
	for (v = threadIdx.x; v < V; v += blockDim.x) {
		const float d = mx - z[v];

		sum += d <= 87.0f ? expf(-d) : 0.0f;
	}
	sum = block_sum_in_order(sum);
	if (threadIdx.x != 0)
		return;
	/* The CPU's scan starts from TOK_EOS and nothing beats a NaN there. Any
	 * other value there beats the initial (-inf, INT_MAX), so bi is a token
	 * unless z[TOK_EOS] is NaN. */
	c = t == L || isnan(z[TOK_EOS]) ? TOK_EOS : bi;
	logprob[b] = logprob[b] + ((double)z[c] - (mx + log((double)sum)));
	if (c == TOK_EOS)
		done[b] = 1;
	else
		seq[(size_t)b * (L + 1) + len[b]++] = c;
	ids[b] = c;
}

static void
cu_greedy_step(int32_t *ids, int32_t *seq, int32_t *len, int32_t *done, double *logprob,
    const float *logits, int B, int V, int t, int L)
{
	PROFILE("greedy_step");

	if (B <= 0)
		return;
	greedy_step_kernel<<<B, NT, 0, g.stream>>>(ids, seq, len, done, logprob, logits, V, t,
	    L);
	LAUNCHED("greedy_step");
	WROTE(ids, seq, len, done, logprob);
}

/* ---- the tables -------------------------------------------------------------------- */

#define COMMON_OPS \
	.alloc = cu_alloc, \
	.free = cu_free, \
	.upload = cu_upload, \
	.download = cu_download, \
	.zero = cu_zero, \
	.im2col_forward = cu_im2col_forward, \
	.vit_embed_forward = cu_vit_embed_forward, \
	.vit_embed_backward = cu_vit_embed_backward, \
	.embed_forward = cu_embed_forward, \
	.embed_backward = cu_embed_backward, \
	.layernorm_forward = cu_layernorm_forward, \
	.layernorm_backward = cu_layernorm_backward

#define REST_OPS \
	.gelu_forward = cu_gelu_forward, \
	.gelu_backward = cu_gelu_backward, \
	.residual_forward = cu_residual_forward

#define TAIL_OPS \
	.gather_position = cu_gather_position, \
	.gather_rows = cu_gather_rows, \
	.greedy_step = cu_greedy_step, \
	.sum = cu_sum, \
	.sumsq = cu_sumsq, \
	.scale = cu_scale, \
	.adamw = cu_adamw, \
	.sync = cu_sync, \
	.stream = cu_stream, \
	.written = cu_written

/* C++ wants the members in order of declaration */
extern "C" const struct backend backend_cuda = {
	.name = "cuda",
	COMMON_OPS,
	.matmul_forward = matmul_fwd<0>,
	.matmul_backward = matmul_bwd<0>,
	.attention_forward = cu_attention_forward,
	.attention_backward = cu_attention_backward,
	REST_OPS,
	.classifier_forward = classifier_fwd<0>,
	.classifier_backward = classifier_bwd<0>,
	TAIL_OPS,
};

extern "C" const struct backend backend_cuda_bf16 = {
	.name = "cuda-bf16",
	COMMON_OPS,
	.matmul_forward = matmul_fwd<1>,
	.matmul_backward = matmul_bwd<1>,
	.attention_forward = cu_attention_forward16,
	.attention_backward = cu_attention_backward16,
	REST_OPS,
	.classifier_forward = classifier_fwd<1>,
	.classifier_backward = classifier_bwd<1>,
	TAIL_OPS,
};
