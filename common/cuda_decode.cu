/* cuda_decode.cu: the CUDA backend's operation of greedy decoding (backend.h
 * greedy_step), so that the decode loop (model_decode_greedy) keeps its tokens
 * on the GPU: each step's logits are reduced to the next ids where they are,
 * and those ids are the next step's embedding input.
 *
 * One block per row: each thread scans a stride of the row for the max (of
 * all tokens, for the log-softmax) and for the best token it may choose (a
 * value and an id, the lower id winning a tie, NaN passed over), the block
 * reduces both, then the sum of e^(z - max); thread 0 writes the row's
 * results. The choice is the CPU's exactly (backend_cpu.c); the
 * log-probability differs from it by the rounding of a sum taken in another
 * order. The operation is queued on the backend's stream like the others. */
#include <cuda_runtime.h>

#include <limits.h>
#include <math.h>
#include <stdint.h>

extern "C" {
#include "backend.h"
#include "util.h"
}

#define GREEDY_NT 256
#define GREEDY_FULL 0xffffffffu

/* (v, i) is better than (bv, bi): a larger value, or the lower id of equals;
 * never a NaN value */
__device__ static bool
better(float v, int i, float bv, int bi)
{
	return v > bv || (v == bv && i < bi);
}

/* The block's max of mx and its best (bv, bi), returned to every thread; the
 * block reaches it together. */
__device__ static void
block_best(float *mx, float *bv, int *bi)
{
	__shared__ float smx[GREEDY_NT / 32], sbv[GREEDY_NT / 32];
	__shared__ int sbi[GREEDY_NT / 32];
	const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
	int w;

	for (int o = 16; o > 0; o /= 2) {
		float ov = __shfl_xor_sync(GREEDY_FULL, *bv, o);
		int oi = __shfl_xor_sync(GREEDY_FULL, *bi, o);

		*mx = fmaxf(*mx, __shfl_xor_sync(GREEDY_FULL, *mx, o));
		if (better(ov, oi, *bv, *bi)) {
			*bv = ov;
			*bi = oi;
		}
	}
	if (lane == 0) {
		smx[warp] = *mx;
		sbv[warp] = *bv;
		sbi[warp] = *bi;
	}
	__syncthreads();
	*mx = smx[0];
	*bv = sbv[0];
	*bi = sbi[0];
	for (w = 1; w < nw; w++) {
		*mx = fmaxf(*mx, smx[w]);
		if (better(sbv[w], sbi[w], *bv, *bi)) {
			*bv = sbv[w];
			*bi = sbi[w];
		}
	}
}

/* The block's sum of x, returned to every thread (the same way). */
__device__ static float
block_total(float x)
{
	__shared__ float part[GREEDY_NT / 32];
	const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
	float s = 0;

	for (int o = 16; o > 0; o /= 2)
		x += __shfl_xor_sync(GREEDY_FULL, x, o);
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
	block_best(&mx, &bv, &bi);
	/* exp_neg's range: 0 past 87 and for a NaN difference */
	for (v = threadIdx.x; v < V; v += blockDim.x) {
		const float d = mx - z[v];

		sum += d <= 87.0f ? expf(-d) : 0.0f;
	}
	sum = block_total(sum);
	if (threadIdx.x != 0)
		return;
	/* the CPU's scan starts from TOK_EOS and nothing beats a NaN there */
	c = t == L || bi == INT_MAX || isnan(z[TOK_EOS]) ? TOK_EOS : bi;
	logprob[b] = logprob[b] + ((double)z[c] - (mx + log((double)sum)));
	if (c == TOK_EOS)
		done[b] = 1;
	else
		seq[(size_t)b * (L + 1) + len[b]++] = c;
	ids[b] = c;
}

void
cu_greedy_step(int32_t *ids, int32_t *seq, int32_t *len, int32_t *done, double *logprob,
    const float *logits, int B, int V, int t, int L)
{
	cudaStream_t stream = (cudaStream_t)backend_cuda.stream();
	cudaError_t e;

	if (B <= 0)
		return;
	greedy_step_kernel<<<B, GREEDY_NT, 0, stream>>>(ids, seq, len, done, logprob, logits,
	    V, t, L);
	if ((e = cudaGetLastError()) != cudaSuccess)
		eprintf("cuda: launch greedy_step (cuda_decode.cu): %s", cudaGetErrorString(e));
	/* the backend's record of writes, which only weights' bf16 copies read */
	backend_cuda.written(ids);
	backend_cuda.written(seq);
	backend_cuda.written(len);
	backend_cuda.written(done);
	backend_cuda.written(logprob);
}
