/* emu.h: the part of CUDA that the .cu files of common/ use, for g++ on a
 * machine without a GPU or the toolkit, so that every kernel runs on the CPU in every make test
 * and not only on the rare GPU run (emu_kernels.cpp checks them).
 *
 * cu2cpp.awk turns a .cu file into C++ that includes this header instead of the
 * CUDA ones. Each CUDA thread of a block is a coroutine (ucontext) that runs
 * until it reaches __syncthreads, a warp shuffle or its end; the blocks of a
 * grid run one after another. What a GPU would leave undefined is reported, so
 * that a kernel that happens to work here cannot pass by luck:
 *	- __syncthreads that not every thread of the block reaches (some exited,
 *	  or a warp's lanes wait at a shuffle meanwhile);
 *	- a shuffle that not all the lanes of its mask reach, at different call
 *	  kinds, or with a mask other than the whole warp;
 *	- shared memory (static and dynamic) over the 48 KiB a launch may use
 *	  without opting in, block shapes a GPU refuses;
 *	- a pointer argument of a kernel, a copy or a product that is not device
 *	  memory (cudaMalloc), or a product's operand that runs past its
 *	  allocation.
 * Shared and new device memory start as all ones bits (float NaN, int -1),
 * so a value read before it is written shows; threads between two barriers
 * run in increasing order in even blocks and decreasing in odd ones, so a race
 * through shared memory changes the result of one of them.
 *
 * Not modelled: the GPU's arithmetic (no fused multiply-add, the host's libm
 * for expf and erff: the checks' 1e-5 covers the difference), concurrency
 * between blocks (they cannot race here), and the memory model. */
#ifndef VITCAP_EMU_H
#define VITCAP_EMU_H

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

extern "C" {
#include "half.h"
}

/* device code's min and max take the operands' common type */
using std::max;
using std::min;

/* ---- threads and blocks ---------------------------------------------------------- */

struct dim3 {
	unsigned x, y, z;
	dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

enum emu_state { EMU_READY, EMU_AT_BARRIER, EMU_AT_SHUFFLE, EMU_DONE };

struct emu_thread;
extern emu_thread *emu_cur;
extern dim3 blockIdx, blockDim, gridDim;
const dim3 &emu_thread_idx(void);
#define threadIdx (emu_thread_idx())

#define __global__
#define __device__
#define __host__
/* static __shared__ variables live in one section, which the launcher fills
 * with ones bits before every block (g++ gives no address-sanitizer redzones
 * to variables placed in a section, so the whole of it can be written) */
#define __shared__ static __attribute__((section("emu_shared")))
/* extern __shared__ T name[] (dynamic shared memory), as cu2cpp.awk rewrites it */
extern char *emu_dynamic_shared;

/* a switch back to the block's scheduler, which resumes the thread when all
 * of the block, or all of the warp, have come to the same point */
void emu_yield(emu_state why);

static inline void
__syncthreads(void)
{
	emu_yield(EMU_AT_BARRIER);
}

enum emu_shuffle_kind { EMU_SHFL_IDX, EMU_SHFL_XOR };
uint64_t emu_shuffle(unsigned mask, uint64_t bits, emu_shuffle_kind kind, int arg, int width);

template <typename T>
static inline T
emu_shfl(unsigned mask, T v, emu_shuffle_kind kind, int arg, int width)
{
	static_assert(sizeof(T) <= sizeof(uint64_t) && std::is_trivially_copyable_v<T>);
	uint64_t bits = 0;

	memcpy(&bits, &v, sizeof v);
	bits = emu_shuffle(mask, bits, kind, arg, width);
	memcpy(&v, &bits, sizeof v);
	return v;
}

template <typename T>
static inline T
__shfl_sync(unsigned mask, T v, int src, int width = 32)
{
	return emu_shfl(mask, v, EMU_SHFL_IDX, src, width);
}

template <typename T>
static inline T
__shfl_xor_sync(unsigned mask, T v, int lanemask, int width = 32)
{
	return emu_shfl(mask, v, EMU_SHFL_XOR, lanemask, width);
}

/* ---- the runtime -------------------------------------------------------------------- */

enum cudaError_t {
	cudaSuccess = 0,
	cudaErrorInvalidValue = 1,
	cudaErrorMemoryAllocation = 2,
	cudaErrorInvalidConfiguration = 9,
	cudaErrorNoDevice = 100,
};
enum cudaMemcpyKind {
	cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost,
	cudaMemcpyDeviceToDevice, cudaMemcpyDefault
};
typedef struct emu_stream *cudaStream_t;

const char *cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetLastError(void);
cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaGetDevice(int *dev);
cudaError_t cudaSetDevice(int dev);
cudaError_t cudaStreamCreate(cudaStream_t *s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaMalloc(void **p, size_t bytes);
cudaError_t cudaFree(void *p);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
    cudaStream_t s = 0);
cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t s = 0);

template <typename T>
static inline cudaError_t
cudaMalloc(T **p, size_t bytes)
{
	return cudaMalloc((void **)p, bytes);
}

/* ---- device memory ---------------------------------------------------------------- */

/* 1 when [p, p + bytes) lies in one cudaMalloc allocation; else reports it as
 * what (a kernel's argument, a copy's source...) and returns 0 */
int emu_check_device(const void *p, size_t bytes, const char *what);
/* the bytes from p to the end of its allocation, 0 outside device memory */
size_t emu_device_extent(const void *p);

/* ---- launches --------------------------------------------------------------------- */

/* one launch: run body for every thread of every block, after the checks of
 * the configuration; name is the kernel's, for the reports */
void emu_run(const char *name, dim3 grid, dim3 block, size_t shared,
    const std::function<void()> &body);
/* the kernels a .cu file defines, as cu2cpp.awk lists them */
struct emu_kernels_of {
	emu_kernels_of(const char *file, std::initializer_list<const char *> names);
};

/* Kernel arguments are passed by value as on a GPU; a pointer among them must
 * point into device memory (or be NULL). */
template <typename T>
static inline void
emu_check_arg(const char *kernel, int i, const T &a)
{
	if constexpr (std::is_pointer_v<T>) {
		if (a && !emu_device_extent((const void *)a)) {
			char what[160];

			snprintf(what, sizeof what, "argument %d of %s", i + 1, kernel);
			emu_check_device((const void *)a, 1, what);
		}
	} else {
		(void)kernel;
		(void)i;
		(void)a;
	}
}

template <typename... P>
struct emu_launcher {
	void (*kernel)(P...);
	const char *name;
	dim3 grid, block;
	size_t shared;

	/* kernel<<<grid, block, shared, stream>>>(a...): the arguments converted
	 * to the parameters' types once, as the launch copies them */
	template <typename... A>
	void
	operator()(A &&...a) const
	{
		std::tuple<std::decay_t<P>...> args(std::forward<A>(a)...);

		std::apply([&](const auto &...x) {
			int i = 0;

			(emu_check_arg(name, i++, x), ...);
		}, args);
		emu_run(name, grid, block, shared, [&] { std::apply(kernel, args); });
	}
};

template <typename... P>
static inline emu_launcher<P...>
emu_launch(void (*kernel)(P...), const char *name, dim3 grid, dim3 block, size_t shared = 0,
    cudaStream_t stream = 0)
{
	(void)stream;           /* one stream, and everything runs at once */
	return emu_launcher<P...>{kernel, name, grid, block, shared};
}

/* ---- bf16 ---------------------------------------------------------------------------- */

struct __nv_bfloat16 {
	uint16_t x;
};

/* common/half.c's conversions: round to nearest even, NaN kept a (quiet) NaN */
static inline __nv_bfloat16
__float2bfloat16(float f)
{
	return __nv_bfloat16{float_to_bf16(f)};
}

static inline float
__bfloat162float(__nv_bfloat16 h)
{
	return bf16_to_float(h.x);
}

/* ---- cuBLASLt ---------------------------------------------------------------------- */

/* cublasLtMatmul on the CPU, in double, by the documented meaning of its
 * arguments: D = alpha op(A) op(B) + beta C (+ bias, a column of m, on every
 * column), column-major, C read only when beta is not 0. Every layout is
 * checked against the product's shape and against the allocation it points
 * into, so that the row-major callers' transposes and leading dimensions are
 * tested, not just the kernels. */
enum cublasStatus_t {
	CUBLAS_STATUS_SUCCESS = 0,
	CUBLAS_STATUS_NOT_INITIALIZED = 1,
	CUBLAS_STATUS_INVALID_VALUE = 7,
	CUBLAS_STATUS_NOT_SUPPORTED = 15,
};
enum cublasOperation_t { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
enum cublasComputeType_t { CUBLAS_COMPUTE_32F = 68 };
enum cudaDataType_t { CUDA_R_32F = 0, CUDA_R_16BF = 14 };
enum cublasLtEpilogue_t { CUBLASLT_EPILOGUE_DEFAULT = 1, CUBLASLT_EPILOGUE_BIAS = 4 };
enum cublasLtMatmulDescAttributes_t {
	CUBLASLT_MATMUL_DESC_TRANSA = 3,
	CUBLASLT_MATMUL_DESC_TRANSB = 4,
	CUBLASLT_MATMUL_DESC_EPILOGUE = 7,
	CUBLASLT_MATMUL_DESC_BIAS_POINTER = 8,
	CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE = 26,
};
enum cublasLtMatrixLayoutAttribute_t {
	CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT = 5,
	CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET = 6,
};
enum cublasLtMatmulPreferenceAttributes_t {
	CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1,
	CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5,
	CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES = 6,
	CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES = 7,
	CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES = 8,
};

typedef struct emu_lt *cublasLtHandle_t;
typedef struct emu_lt_desc *cublasLtMatmulDesc_t;
typedef struct emu_lt_layout *cublasLtMatrixLayout_t;
typedef struct emu_lt_pref *cublasLtMatmulPreference_t;
struct cublasLtMatmulAlgo_t {
	uint64_t data[8];
};
struct cublasLtMatmulHeuristicResult_t {
	cublasLtMatmulAlgo_t algo;
	size_t workspaceSize;
	cublasStatus_t state;
	float wavesCount;
	int reserved[4];
};

const char *cublasLtGetStatusString(cublasStatus_t s);
cublasStatus_t cublasLtCreate(cublasLtHandle_t *h);
cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *d, cublasComputeType_t compute,
    cudaDataType_t scale);
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d,
    cublasLtMatmulDescAttributes_t a, const void *buf, size_t size);
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t d);
cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *l, cudaDataType_t type,
    uint64_t rows, uint64_t cols, int64_t ld);
cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t l,
    cublasLtMatrixLayoutAttribute_t a, const void *buf, size_t size);
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t l);
cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *p);
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t p,
    cublasLtMatmulPreferenceAttributes_t a, const void *buf, size_t size);
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t p);
cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t h, cublasLtMatmulDesc_t op,
    cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c,
    cublasLtMatrixLayout_t d, cublasLtMatmulPreference_t pref, int requested,
    cublasLtMatmulHeuristicResult_t *results, int *nresults);
cublasStatus_t cublasLtMatmul(cublasLtHandle_t h, cublasLtMatmulDesc_t op, const void *alpha,
    const void *A, cublasLtMatrixLayout_t la, const void *B, cublasLtMatrixLayout_t lb,
    const void *beta, const void *C, cublasLtMatrixLayout_t lc, void *D,
    cublasLtMatrixLayout_t ld, const cublasLtMatmulAlgo_t *algo, void *ws, size_t wsbytes,
    cudaStream_t s);

/* ---- what the driver reads back ---------------------------------------------------- */

/* problems reported so far (each also printed, one line, "emu: ...") */
long emu_problems(void);
/* whether a kernel of that name was launched; the number of kernels the .cu
 * files define, and the i-th (file, if not NULL, set to its .cu file) */
int emu_launched(const char *kernel);
int emu_nkernels(void);
const char *emu_kernel(int i, const char **file);
/* 1 to make the emulated cublasLtMatmulAlgoGetHeuristic find no kernel with a
 * bias epilogue, as cuBLASLt may, to take the backend's other way */
extern int emu_lt_no_bias_epilogue;
/* how many times cublasLtMatmulAlgoGetHeuristic was called */
extern long emu_lt_heuristics;

#endif
