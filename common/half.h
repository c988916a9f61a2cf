/* half.h: the 16-bit floats of the stream (tsr(5)), F16 (IEEE binary16) and
 * BF16 (bfloat16), to and from F32. */
#ifndef VITCAP_HALF_H
#define VITCAP_HALF_H

#include <stddef.h>
#include <stdint.h>

/* Rounded to nearest, ties to even, as numpy's and PyTorch's casts do:
 * overflow becomes infinity, NaN stays NaN. */
uint16_t float_to_f16(float f);
uint16_t float_to_bf16(float f);
float f16_to_float(uint16_t h);
float bf16_to_float(uint16_t h);

/* n elements of tensor data of dtype DT_F32, DT_F16 or DT_BF16 (stream.h) to
 * F32, and F32 to any of the three; src may be unaligned. */
void half_to_f32(float *dst, const void *src, int dtype, size_t n);
void f32_to_half(void *dst, const float *src, int dtype, size_t n);

#endif
