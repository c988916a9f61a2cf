/* mask.h: the causal mask of attention, one definition for the CPU
 * (attention.c) and the GPU (backend_cuda.cu). */
#ifndef VITCAP_MASK_H
#define VITCAP_MASK_H

#ifdef __CUDACC__
#define HOST_DEVICE __host__ __device__
#else
#define HOST_DEVICE
#endif

/* Keys visible to query i: all, or the first i + 1 + Tk - Tq with the causal mask
 * (so a query block at the end of a longer key sequence works the same). */
static inline HOST_DEVICE int
att_visible(int i, int Tq, int Tk, int causal)
{
	int n = i + 1 + Tk - Tq;

	if (!causal)
		return Tk;
	return n < 0 ? 0 : n > Tk ? Tk : n;
}

#endif
