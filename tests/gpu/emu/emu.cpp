/* emu.cpp: the scheduler of emu.h's threads, device memory, and cuBLASLt's
 * product on the CPU. */
#include "emu.h"

#include <sys/mman.h>
#include <ucontext.h>

#include <cstdarg>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

/* ---- problems ---------------------------------------------------------------------- */

static long nproblems;
static const char *cur_kernel;         /* the launch under way, NULL between launches */

static void
problem(const char *fmt, ...)
{
	va_list ap;

	printf("emu: ");
	if (cur_kernel)
		printf("%s block (%u,%u,%u): ", cur_kernel, blockIdx.x, blockIdx.y, blockIdx.z);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	nproblems++;
}

long
emu_problems(void)
{
	return nproblems;
}

/* ---- device memory ------------------------------------------------------------------ */

/* base -> bytes of every live cudaMalloc */
static std::map<uintptr_t, size_t> allocations;

size_t
emu_device_extent(const void *p)
{
	const uintptr_t a = (uintptr_t)p;
	auto it = allocations.upper_bound(a);

	if (it == allocations.begin())
		return 0;
	--it;
	return a < it->first + it->second ? it->first + it->second - a : 0;
}

int
emu_check_device(const void *p, size_t bytes, const char *what)
{
	const size_t have = emu_device_extent(p);

	if (!have) {
		problem("%s: %p is not device memory", what, p);
		return 0;
	}
	if (bytes > have) {
		problem("%s: %zu bytes from %p run %zu past the end of its allocation", what, bytes,
		    p, bytes - have);
		return 0;
	}
	return 1;
}

/* ---- the runtime -------------------------------------------------------------------- */

static cudaError_t last_error = cudaSuccess;
static struct emu_stream {
	int unused;
} the_stream;

const char *
cudaGetErrorString(cudaError_t e)
{
	switch (e) {
	case cudaSuccess: return "no error";
	case cudaErrorInvalidValue: return "invalid argument";
	case cudaErrorMemoryAllocation: return "out of memory";
	case cudaErrorInvalidConfiguration: return "invalid configuration argument";
	case cudaErrorNoDevice: return "no CUDA-capable device is detected";
	}
	return "unknown error";
}

cudaError_t
cudaGetLastError(void)
{
	cudaError_t e = last_error;

	last_error = cudaSuccess;
	return e;
}

cudaError_t
cudaGetDeviceCount(int *n)
{
	*n = 1;
	return cudaSuccess;
}

cudaError_t
cudaGetDevice(int *dev)
{
	*dev = 0;
	return cudaSuccess;
}

cudaError_t
cudaSetDevice(int dev)
{
	return dev == 0 ? cudaSuccess : cudaErrorInvalidValue;
}

cudaError_t
cudaStreamCreate(cudaStream_t *s)
{
	*s = &the_stream;
	return cudaSuccess;
}

cudaError_t
cudaStreamSynchronize(cudaStream_t)
{
	return cudaSuccess;
}

/* The exact size, so that the address sanitizer of make test SAN=1 sees a
 * kernel that reads past it; 256-byte aligned as cudaMalloc's. */
cudaError_t
cudaMalloc(void **p, size_t bytes)
{
	if (posix_memalign(p, 256, bytes ? bytes : 1) != 0)
		return cudaErrorMemoryAllocation;
	memset(*p, 0xff, bytes);
	allocations[(uintptr_t)*p] = bytes ? bytes : 1;
	return cudaSuccess;
}

cudaError_t
cudaFree(void *p)
{
	if (!p)
		return cudaSuccess;
	if (!allocations.erase((uintptr_t)p)) {
		problem("cudaFree of %p, which cudaMalloc did not return", p);
		return cudaErrorInvalidValue;
	}
	free(p);
	return cudaSuccess;
}

cudaError_t
cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t)
{
	const int to_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
	const int from_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;

	if (kind == cudaMemcpyDefault || kind == cudaMemcpyHostToHost) {
		problem("cudaMemcpy of kind %d: the backend names the direction", (int)kind);
		return cudaErrorInvalidValue;
	}
	if ((to_dev && !emu_check_device(dst, bytes, "cudaMemcpy's destination")) ||
	    (from_dev && !emu_check_device(src, bytes, "cudaMemcpy's source")))
		return cudaErrorInvalidValue;
	if ((!to_dev && emu_device_extent(dst)) || (!from_dev && emu_device_extent(src))) {
		problem("cudaMemcpy of kind %d between the wrong sides", (int)kind);
		return cudaErrorInvalidValue;
	}
	memmove(dst, src, bytes);
	return cudaSuccess;
}

cudaError_t
cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t)
{
	if (!emu_check_device(p, bytes, "cudaMemset"))
		return cudaErrorInvalidValue;
	memset(p, value, bytes);
	return cudaSuccess;
}

/* ---- kernels defined and launched --------------------------------------------------- */

struct defined_kernel {
	const char *file, *name;
};

static std::vector<defined_kernel> &
defined(void)
{
	static std::vector<defined_kernel> v;   /* filled by static constructors */

	return v;
}

static std::set<std::string> launched;

emu_kernels_of::emu_kernels_of(const char *file, std::initializer_list<const char *> names)
{
	for (const char *n : names)
		defined().push_back({file, n});
}

int
emu_nkernels(void)
{
	return (int)defined().size();
}

const char *
emu_kernel(int i, const char **file)
{
	if (file)
		*file = defined()[i].file;
	return defined()[i].name;
}

int
emu_launched(const char *kernel)
{
	return launched.count(kernel) != 0;
}

/* ---- threads ------------------------------------------------------------------------- */

/* Generous: a sanitizer build's frames are several times a plain one's. The
 * stacks are mapped, so touched only as deep as they are used, with a page
 * below that faults on an overflow rather than corrupt the next stack; being
 * no malloc's, they are not the leak sanitizer's concern either. */
#define STACK_BYTES (256 * 1024)
#define GUARD_BYTES 4096
#define SHARED_LIMIT (48 * 1024)

struct emu_thread {
	ucontext_t ctx;
	char *stack;
	emu_state state;
	dim3 idx;
	/* at a shuffle */
	unsigned mask;
	emu_shuffle_kind kind;
	int arg, width;
	uint64_t bits, result;
};

dim3 blockIdx, blockDim, gridDim;
emu_thread *emu_cur;
char *emu_dynamic_shared;
static ucontext_t scheduler;
static const std::function<void()> *cur_body;

/* the static __shared__ variables of every kernel, one section (emu.h); this
 * anchor makes it exist when no kernel has any */
__attribute__((section("emu_shared"), used)) static char shared_anchor[1];
extern "C" char __start_emu_shared[], __stop_emu_shared[];

const dim3 &
emu_thread_idx(void)
{
	return emu_cur->idx;
}

void
emu_yield(emu_state why)
{
	emu_cur->state = why;
	swapcontext(&emu_cur->ctx, &scheduler);
}

uint64_t
emu_shuffle(unsigned mask, uint64_t bits, emu_shuffle_kind kind, int arg, int width)
{
	emu_cur->mask = mask;
	emu_cur->bits = bits;
	emu_cur->kind = kind;
	emu_cur->arg = arg;
	emu_cur->width = width;
	emu_yield(EMU_AT_SHUFFLE);
	return emu_cur->result;
}

static void
thread_main(void)
{
	(*cur_body)();
	emu_yield(EMU_DONE);
}

/* The shuffles of the warp of lanes th[0 .. lanes): 1 when they were
 * exchanged, 0 when none waits at one, -1 when the warp cannot go on. */
static int
exchange(emu_thread *th, int lanes, int w)
{
	const unsigned all = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
	int waiting = 0;

	for (int l = 0; l < lanes; l++)
		waiting += th[l].state == EMU_AT_SHUFFLE;
	if (!waiting)
		return 0;
	/* the backend's warps always shuffle as a whole: anything less is
	 * divergence (or a mask naming lanes that never come) */
	if (waiting != lanes) {
		problem("warp %d: a shuffle reached by %d of its %d lanes", w, waiting, lanes);
		return -1;
	}
	for (int l = 0; l < lanes; l++) {
		if (th[l].mask != all) {
			problem("warp %d lane %d: shuffle mask %#x, not the warp's %#x", w, l,
			    th[l].mask, all);
			return -1;
		}
		if (th[l].kind != th[0].kind || th[l].width != th[0].width) {
			problem("warp %d: lanes 0 and %d at different kinds of shuffle", w, l);
			return -1;
		}
		if (th[l].width < 1 || th[l].width > 32 || (th[l].width & (th[l].width - 1))) {
			problem("warp %d: shuffle width %d", w, th[l].width);
			return -1;
		}
	}
	for (int l = 0; l < lanes; l++) {
		const int wd = th[l].width, seg = l / wd * wd, a = th[l].arg;
		int src = l;

		switch (th[l].kind) {
		case EMU_SHFL_IDX: src = seg + ((a % wd) + wd) % wd; break;
		case EMU_SHFL_XOR: src = (l ^ a) < seg + wd ? l ^ a : l; break;
		}
		if (src >= lanes) {
			problem("warp %d lane %d: shuffle from lane %d, which does not exist", w, l,
			    src);
			return -1;
		}
		th[l].result = th[src].bits;
	}
	for (int l = 0; l < lanes; l++)
		th[l].state = EMU_READY;
	return 1;
}

/* Runs one block to its end; 0 when it could not finish. */
static int
run_block(std::vector<emu_thread> &th, int nt, int reverse)
{
	for (;;) {
		int progress = 0, nbar = 0, ndone = 0;

		for (int i = 0; i < nt; i++) {
			emu_thread *t = &th[reverse ? nt - 1 - i : i];

			if (t->state == EMU_READY) {
				emu_cur = t;
				swapcontext(&scheduler, &t->ctx);
			}
		}
		emu_cur = NULL;
		for (int w = 0; w * 32 < nt; w++) {
			const int r = exchange(&th[w * 32], min(32, nt - w * 32), w);

			if (r < 0)
				return 0;
			progress |= r;
		}
		if (progress)
			continue;
		for (int i = 0; i < nt; i++) {
			nbar += th[i].state == EMU_AT_BARRIER;
			ndone += th[i].state == EMU_DONE;
		}
		if (ndone == nt)
			return 1;
		if (nbar + ndone != nt) {
			problem("threads neither at a barrier nor done (%d of %d)", nt - nbar - ndone,
			    nt);
			return 0;
		}
		/* on a GPU this may hang or go on; either way it is a bug */
		if (ndone) {
			problem("__syncthreads reached by %d threads, %d others had returned", nbar,
			    ndone);
			return 0;
		}
		for (int i = 0; i < nt; i++)
			th[i].state = EMU_READY;
	}
}

static int
bad_config(dim3 grid, dim3 block, size_t shared, size_t static_shared)
{
	const size_t nt = (size_t)block.x * block.y * block.z;

	if (!block.x || !block.y || !block.z || nt > 1024 || block.z > 64)
		problem("block (%u,%u,%u): a block has 1 to 1024 threads, z up to 64", block.x,
		    block.y, block.z);
	else if (!grid.x || !grid.y || !grid.z || grid.x > 0x7fffffffu || grid.y > 65535 ||
	    grid.z > 65535)
		problem("grid (%u,%u,%u): x 1 to 2^31-1, y and z 1 to 65535", grid.x, grid.y,
		    grid.z);
	/* static counts every kernel's static __shared__, a bound on this one's */
	else if (shared + static_shared > SHARED_LIMIT)
		problem("%zu bytes of shared memory (%zu dynamic): more than %d without "
		    "cudaFuncSetAttribute", shared + static_shared, shared, SHARED_LIMIT);
	else
		return 0;
	return 1;
}

void
emu_run(const char *name, dim3 grid, dim3 block, size_t shared,
    const std::function<void()> &body)
{
	static std::vector<emu_thread> th;
	static int launches;
	const size_t static_shared = (size_t)(__stop_emu_shared - __start_emu_shared);
	const int nt = (int)(block.x * block.y * block.z);

	(void)shared_anchor;
	cur_kernel = name;
	launched.insert(name);
	blockIdx = dim3(0, 0, 0);
	if (bad_config(grid, block, shared, static_shared)) {
		last_error = cudaErrorInvalidConfiguration;
		cur_kernel = NULL;
		return;
	}
	if (th.size() < (size_t)nt) {
		size_t had = th.size();

		th.resize(nt);
		for (size_t i = had; i < th.size(); i++) {
			void *m = mmap(NULL, GUARD_BYTES + STACK_BYTES, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

			if (m == MAP_FAILED || mprotect(m, GUARD_BYTES, PROT_NONE) != 0) {
				perror("emu: a thread's stack");
				exit(1);
			}
			th[i].stack = (char *)m + GUARD_BYTES;
		}
	}
	/* its exact size, for the sanitizer, and a fresh one per launch */
	emu_dynamic_shared = (char *)malloc(shared ? shared : 1);
	cur_body = &body;
	gridDim = grid;
	blockDim = block;
	launches++;
	for (unsigned bz = 0; bz < grid.z; bz++)
		for (unsigned by = 0; by < grid.y; by++)
			for (unsigned bx = 0; bx < grid.x; bx++) {
				blockIdx = dim3(bx, by, bz);
				memset(emu_dynamic_shared, 0xff, shared);
				memset(__start_emu_shared, 0xff, static_shared);
				for (int i = 0; i < nt; i++) {
					emu_thread *t = &th[i];

					t->idx = dim3(i % block.x, i / block.x % block.y,
					    i / (block.x * block.y));
					t->state = EMU_READY;
					getcontext(&t->ctx);
					t->ctx.uc_stack.ss_sp = t->stack;
					t->ctx.uc_stack.ss_size = STACK_BYTES;
					t->ctx.uc_link = NULL;
					makecontext(&t->ctx, thread_main, 0);
				}
				/* the launch count too, so a grid of one block also
				 * runs both ways over the test's launches */
				if (!run_block(th, nt, (int)((bx + by + bz + launches) & 1)))
					goto out;
			}
out:
	free(emu_dynamic_shared);
	emu_dynamic_shared = NULL;
	cur_kernel = NULL;
}

/* ---- cuBLASLt --------------------------------------------------------------------- */

int emu_lt_no_bias_epilogue;
long emu_lt_heuristics;

struct emu_lt {
	int unused;
};

struct emu_lt_desc {
	cublasComputeType_t compute;
	cudaDataType_t scale;
	int32_t ta, tb;
	uint32_t epilogue;
	const void *bias;
	int32_t bias_type;
};

struct emu_lt_layout {
	cudaDataType_t type;
	uint64_t rows, cols;
	int64_t ld;
	int32_t batch;          /* strided batches: count and offset in elements */
	int64_t stride;
};

struct emu_lt_pref {
	uint64_t workspace;
	uint32_t align[4];      /* A, B, C, D */
};

/* what an algorithm remembers of the preference it was found under */
#define ALGO_MAGIC 0x656d756c74616c67ull

const char *
cublasLtGetStatusString(cublasStatus_t s)
{
	switch (s) {
	case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
	case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
	case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
	case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
	}
	return "CUBLAS_STATUS_UNKNOWN";
}

cublasStatus_t
cublasLtCreate(cublasLtHandle_t *h)
{
	static emu_lt lt;

	*h = &lt;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *d, cublasComputeType_t compute,
    cudaDataType_t scale)
{
	*d = new emu_lt_desc{compute, scale, CUBLAS_OP_N, CUBLAS_OP_N, CUBLASLT_EPILOGUE_DEFAULT,
	    NULL, CUDA_R_32F};
	return CUBLAS_STATUS_SUCCESS;
}

/* an attribute of the size its type has in cublasLt.h, else INVALID_VALUE */
template <typename T>
static cublasStatus_t
set(T *field, const void *buf, size_t size, const char *what)
{
	if (size != sizeof(T)) {
		problem("%s of %zu bytes, not %zu", what, size, sizeof(T));
		return CUBLAS_STATUS_INVALID_VALUE;
	}
	memcpy(field, buf, size);
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t a,
    const void *buf, size_t size)
{
	switch (a) {
	case CUBLASLT_MATMUL_DESC_TRANSA: return set(&d->ta, buf, size, "TRANSA");
	case CUBLASLT_MATMUL_DESC_TRANSB: return set(&d->tb, buf, size, "TRANSB");
	case CUBLASLT_MATMUL_DESC_EPILOGUE: return set(&d->epilogue, buf, size, "EPILOGUE");
	case CUBLASLT_MATMUL_DESC_BIAS_POINTER: return set(&d->bias, buf, size, "BIAS_POINTER");
	case CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE:
		return set(&d->bias_type, buf, size, "BIAS_DATA_TYPE");
	}
	problem("cublasLtMatmulDescSetAttribute: attribute %d not emulated", (int)a);
	return CUBLAS_STATUS_NOT_SUPPORTED;
}

cublasStatus_t
cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t d)
{
	delete d;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *l, cudaDataType_t type, uint64_t rows,
    uint64_t cols, int64_t ld)
{
	*l = new emu_lt_layout{type, rows, cols, ld, 1, 0};
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t l, cublasLtMatrixLayoutAttribute_t a,
    const void *buf, size_t size)
{
	switch (a) {
	case CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT: return set(&l->batch, buf, size, "BATCH_COUNT");
	case CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET:
		return set(&l->stride, buf, size, "STRIDED_BATCH_OFFSET");
	}
	problem("cublasLtMatrixLayoutSetAttribute: attribute %d not emulated", (int)a);
	return CUBLAS_STATUS_NOT_SUPPORTED;
}

cublasStatus_t
cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t l)
{
	delete l;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *p)
{
	*p = new emu_lt_pref{0, {256, 256, 256, 256}};
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t p,
    cublasLtMatmulPreferenceAttributes_t a, const void *buf, size_t size)
{
	switch (a) {
	case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES:
		return set(&p->workspace, buf, size, "MAX_WORKSPACE_BYTES");
	case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES:
		return set(&p->align[0], buf, size, "MIN_ALIGNMENT_A_BYTES");
	case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES:
		return set(&p->align[1], buf, size, "MIN_ALIGNMENT_B_BYTES");
	case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES:
		return set(&p->align[2], buf, size, "MIN_ALIGNMENT_C_BYTES");
	case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES:
		return set(&p->align[3], buf, size, "MIN_ALIGNMENT_D_BYTES");
	}
	problem("cublasLtMatmulPreferenceSetAttribute: attribute %d not emulated", (int)a);
	return CUBLAS_STATUS_NOT_SUPPORTED;
}

cublasStatus_t
cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t p)
{
	delete p;
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t h, cublasLtMatmulDesc_t op,
    cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
    cublasLtMatrixLayout_t, cublasLtMatmulPreference_t pref, int requested,
    cublasLtMatmulHeuristicResult_t *results, int *nresults)
{
	emu_lt_heuristics++;
	*nresults = 0;
	if (!h || requested < 1)
		return CUBLAS_STATUS_INVALID_VALUE;
	if (op->epilogue == CUBLASLT_EPILOGUE_BIAS && emu_lt_no_bias_epilogue)
		return CUBLAS_STATUS_NOT_SUPPORTED;
	memset(&results[0], 0, sizeof results[0]);
	/* a kernel is chosen for the alignments the preference promised: the
	 * product checks that the pointers keep the promise */
	results[0].algo.data[0] = ALGO_MAGIC;
	for (int i = 0; i < 4; i++)
		results[0].algo.data[1 + i] = pref->align[i];
	results[0].algo.data[5] = op->epilogue;
	*nresults = 1;
	return CUBLAS_STATUS_SUCCESS;
}

static double
element(const void *base, cudaDataType_t type, size_t i)
{
	return type == CUDA_R_16BF ? __bfloat162float(((const __nv_bfloat16 *)base)[i]) :
	    ((const float *)base)[i];
}

static size_t
type_size(cudaDataType_t t)
{
	return t == CUDA_R_16BF ? 2 : 4;
}

/* the matrix of layout l at p lies in its allocation and has ld >= rows */
static int
check_matrix(const char *name, const void *p, const emu_lt_layout *l, uint32_t align)
{
	char what[64];

	snprintf(what, sizeof what, "cublasLtMatmul's %s (%llux%llu, ld %lld)", name,
	    (unsigned long long)l->rows, (unsigned long long)l->cols, (long long)l->ld);
	if (!l->rows || !l->cols)
		return 1;
	if (l->ld < (int64_t)l->rows) {
		problem("%s: the leading dimension is less than the rows", what);
		return 0;
	}
	if (l->batch < 1 || (l->batch > 1 && l->stride < 0)) {
		problem("%s: %d batches %lld apart", what, (int)l->batch, (long long)l->stride);
		return 0;
	}
	for (int32_t i = 0; i < l->batch; i++) {
		const char *q = (const char *)p + i * l->stride * type_size(l->type);

		if ((uintptr_t)q % align) {
			problem("%s: batch %d at %p, not aligned to the %u bytes promised", what,
			    (int)i, (const void *)q, align);
			return 0;
		}
		if (!emu_check_device(q, ((l->cols - 1) * l->ld + l->rows) * type_size(l->type),
		    what))
			return 0;
	}
	return 1;
}

cublasStatus_t
cublasLtMatmul(cublasLtHandle_t h, cublasLtMatmulDesc_t op, const void *alpha_p,
    const void *A, cublasLtMatrixLayout_t la, const void *B, cublasLtMatrixLayout_t lb,
    const void *beta_p, const void *C, cublasLtMatrixLayout_t lc, void *D,
    cublasLtMatrixLayout_t ld, const cublasLtMatmulAlgo_t *algo, void *ws, size_t wsbytes,
    cudaStream_t)
{
	const uint64_t m = ld->rows, n = ld->cols;
	const uint64_t k = op->ta ? la->rows : la->cols;
	const int bias = op->epilogue == CUBLASLT_EPILOGUE_BIAS;
	const float alpha = *(const float *)alpha_p, beta = *(const float *)beta_p;
	float *d = (float *)D;

	if (!h || !algo || algo->data[0] != ALGO_MAGIC || algo->data[5] != op->epilogue) {
		problem("cublasLtMatmul: the algorithm is not one the heuristic gave for this "
		    "description");
		return CUBLAS_STATUS_INVALID_VALUE;
	}
	if (op->compute != CUBLAS_COMPUTE_32F || op->scale != CUDA_R_32F ||
	    la->type != lb->type || (la->type != CUDA_R_32F && la->type != CUDA_R_16BF) ||
	    lc->type != CUDA_R_32F || ld->type != CUDA_R_32F) {
		problem("cublasLtMatmul: types not emulated (compute %d, scale %d, A %d, B %d, "
		    "C %d, D %d)", op->compute, op->scale, la->type, lb->type, lc->type, ld->type);
		return CUBLAS_STATUS_NOT_SUPPORTED;
	}
	if ((op->ta ? la->cols : la->rows) != m || (op->tb ? lb->cols : lb->rows) != k ||
	    (op->tb ? lb->rows : lb->cols) != n || lc->rows != m || lc->cols != n ||
	    lc->ld != ld->ld) {
		problem("cublasLtMatmul: op(A) %llux%llu times op(B) %llux%llu into C %llux%llu, "
		    "D %llux%llu", (unsigned long long)(op->ta ? la->cols : la->rows),
		    (unsigned long long)k, (unsigned long long)(op->tb ? lb->cols : lb->rows),
		    (unsigned long long)(op->tb ? lb->rows : lb->cols),
		    (unsigned long long)lc->rows, (unsigned long long)lc->cols,
		    (unsigned long long)m, (unsigned long long)n);
		return CUBLAS_STATUS_INVALID_VALUE;
	}
	if (la->batch != ld->batch || lb->batch != ld->batch || lc->batch != ld->batch ||
	    lc->stride != ld->stride || (bias && ld->batch > 1)) {
		problem("cublasLtMatmul: batches of A %d, B %d, C %d, D %d (C and D %lld and %lld "
		    "apart)%s", (int)la->batch, (int)lb->batch, (int)lc->batch, (int)ld->batch,
		    (long long)lc->stride, (long long)ld->stride, bias ? " with a bias" : "");
		return CUBLAS_STATUS_NOT_SUPPORTED;
	}
	if (C != D) {
		problem("cublasLtMatmul: C and D apart (the backend accumulates in place)");
		return CUBLAS_STATUS_NOT_SUPPORTED;
	}
	if (!check_matrix("A", A, la, (uint32_t)algo->data[1]) ||
	    !check_matrix("B", B, lb, (uint32_t)algo->data[2]) ||
	    !check_matrix("C", C, lc, (uint32_t)algo->data[3]) ||
	    !check_matrix("D", D, ld, (uint32_t)algo->data[4]))
		return CUBLAS_STATUS_INVALID_VALUE;
	if (wsbytes && !emu_check_device(ws, wsbytes, "cublasLtMatmul's workspace"))
		return CUBLAS_STATUS_INVALID_VALUE;
	if (bias && (op->bias_type != CUDA_R_32F || !op->bias ||
	    !emu_check_device(op->bias, m * sizeof(float), "cublasLtMatmul's bias"))) {
		problem("cublasLtMatmul: the bias epilogue without an fp32 bias of %llu",
		    (unsigned long long)m);
		return CUBLAS_STATUS_INVALID_VALUE;
	}
	for (int32_t t = 0; t < ld->batch; t++) {
		const size_t oa = t * la->stride, ob = t * lb->stride;
		float *dt = d + t * ld->stride;

		for (uint64_t j = 0; j < n; j++)
			for (uint64_t i = 0; i < m; i++) {
				double s = 0;

				for (uint64_t p = 0; p < k; p++)
					s += element(A, la->type,
					    oa + (op->ta ? p + i * la->ld : i + p * la->ld)) *
					    element(B, lb->type,
					    ob + (op->tb ? j + p * lb->ld : p + j * lb->ld));
				s *= alpha;
				if (beta != 0)
					s += (double)beta * dt[i + j * ld->ld];
				if (bias)
					s += ((const float *)op->bias)[i];
				dt[i + j * ld->ld] = (float)s;
			}
	}
	return CUBLAS_STATUS_SUCCESS;
}
