/* half.c: F16 and BF16 conversions. */
#include "half.h"
#include "stream.h"

#include <math.h>
#include <string.h>

static uint32_t
bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof u);
	return u;
}

uint16_t
float_to_bf16(float f)
{
	uint32_t u = bits(f);

	if ((u & 0x7fffffff) > 0x7f800000)
		return (uint16_t)(u >> 16 | 0x40);     /* a quiet NaN, sign kept */
	return (uint16_t)((u + 0x7fff + (u >> 16 & 1)) >> 16);
}

uint16_t
float_to_f16(float f)
{
	uint32_t u = bits(f), sign = u >> 16 & 0x8000, a = u & 0x7fffffff, m;
	int e;

	if (a > 0x7f800000)
		return (uint16_t)(sign | 0x7e00);
	if (a >= 0x477ff000)                    /* rounds to 65520 or more: infinity */
		return (uint16_t)(sign | 0x7c00);
	e = (int)(a >> 23) - 127;
	if (e < -14) {
		/* subnormal: units of 2^-24, rounded to nearest even */
		float r = nearbyintf(ldexpf(f < 0 ? -f : f, 24));

		return (uint16_t)(sign | (uint32_t)r);
	}
	m = a & 0x7fffff;
	/* 13 bits go; carrying into the exponent is right, even into infinity */
	m = ((uint32_t)(e + 15) << 23 | m) + 0xfff + (m >> 13 & 1);
	return (uint16_t)(sign | m >> 13);
}

float
f16_to_float(uint16_t h)
{
	int e = (h >> 10) & 31, f = h & 1023;
	float v;

	if (e == 0)
		v = ldexpf((float)f, -24);
	else if (e == 31)
		v = f ? NAN : INFINITY;
	else
		v = ldexpf((float)(f | 1024), e - 25);
	return h & 0x8000 ? -v : v;
}

float
bf16_to_float(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float v;

	memcpy(&v, &u, sizeof v);
	return v;
}

void
half_to_f32(float *dst, const void *src, int dtype, size_t n)
{
	const unsigned char *p = src;
	uint16_t h;
	size_t i;

	if (dtype == DT_F32) {
		memcpy(dst, src, n * sizeof *dst);
		return;
	}
	for (i = 0; i < n; i++) {
		memcpy(&h, p + 2 * i, 2);
		dst[i] = dtype == DT_F16 ? f16_to_float(h) : bf16_to_float(h);
	}
}

void
f32_to_half(void *dst, const float *src, int dtype, size_t n)
{
	unsigned char *p = dst;
	uint16_t h;
	size_t i;

	if (dtype == DT_F32) {
		memcpy(dst, src, n * sizeof *src);
		return;
	}
	for (i = 0; i < n; i++) {
		h = dtype == DT_F16 ? float_to_f16(src[i]) : float_to_bf16(src[i]);
		memcpy(p + 2 * i, &h, 2);
	}
}
