/* vecmath.h: elementary functions as straight-line code, so that the loops of
 * the kernels that call them vectorise (glibc's expf is a call per element). */
#ifndef VITCAP_VECMATH_H
#define VITCAP_VECMATH_H

/* On x86-64 a kernel marked VEC_CLONES is compiled twice, for x86-64-v3 (AVX2:
 * eight floats a vector) and for the baseline every x86-64 has (SSE2: four),
 * and the loader picks the one this CPU runs (GCC's function multiversioning;
 * its OpenMP bodies are cloned with it). The build stays portable to any
 * x86-64, and training runs about 10% faster where AVX2 is. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VEC_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define VEC_CLONES
#endif

#include <stdint.h>

/* e^-m for m >= 0, to about 2 ulp; 0 past m = 87, where e^-m would turn
 * denormal, and for a NaN m (callers keep the NaN in another term). Cephes'
 * expf: -m = n ln2 + r with |r| <= ln2/2, a polynomial for e^r, and 2^n put in
 * the exponent bits. The clamp compares the bits as integers: a float
 * comparison would keep GCC from vectorising. */
static inline float
exp_neg(float m)
{
	union {
		float f;
		int32_t i;
	} b, scale;
	float x, n, r, p;
	int32_t under;

	b.f = m;
	/* |m|, so that a NaN of either sign is above 87 and its bits do not reach
	 * the shift below, which would be undefined; a signed compare and a
	 * select of the same value, which GCC vectorises as a minimum */
	b.i &= 0x7fffffff;
	under = b.i > 0x42ae0000;                       /* m > 87.0f, or NaN */
	b.i = under ? 0x42ae0000 : b.i;
	x = -b.f;
	n = (x * 1.44269504088896341f - 12582912.0f) + 12582912.0f;    /* round(x / ln2) */
	r = x - n * 0.693359375f;
	r = r + n * 2.12194440e-4f;
	p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.0f;
	scale.i = under ? 0 : ((int32_t)n + 127) << 23;
	return p * scale.f;
}

#endif
