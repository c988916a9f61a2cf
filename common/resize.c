/* resize.c: resizing to the square a model wants, with the numbers of Pillow's
 * Image.resize(size, Image.BICUBIC, box) (src/libImaging/Resample.c).
 *
 * The filter is Keys' cubic (a = -0.5) stretched by the reduction factor, so a
 * reduction averages every source pixel (antialiasing). Each output pixel's
 * weights are computed in double exactly as Pillow computes them, normalised to
 * sum 1, then rounded to integers with 22 fraction bits; the image is resampled
 * horizontally into an 8-bit intermediate (rounded, clipped), then vertically.
 * The same weights and the same exact 32-bit integer sums make the output equal
 * Pillow's bit for bit (tests/unit/test_resize.c checks against a transcription
 * of Pillow's loops, tests/image.bats against Pillow itself).
 *
 * Speed comes from giving every output pixel of an axis the same number of taps
 * (the most any of them has; the window slides to stay inside the image and the
 * spare taps weigh 0, which adds exact zeros): the sums then run over fixed-size
 * blocks of contiguous channel values, 8 lanes at a time. The horizontal pass
 * transposes a band of 16 rows first, so that its sums too run down contiguous
 * memory; the weight tables are kept for the next image of the same size. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "util.h"

#define PRECISION_BITS (32 - 8 - 2)
#define BAND 16           /* rows per band of the horizontal pass */
#define VB (3 * BAND)     /* channel values per transposed source column */
#define CS (VB + 4)       /* bytes per transposed column: VB and a spare */
#define VCHUNK 32         /* channel values per step of the vertical pass */

/* Weights for resampling the source interval [b0, b1) of an axis of n_in
 * pixels to n_out pixels: output i reads taps k inputs from start[i]. */
struct coeffs {
	int n_in, n_out;
	float b0, b1;
	int k;
	int *start;
	int32_t *w;       /* n_out rows of k weights */
	int first, last;  /* the inputs read: [first, last) */
	int identity;     /* Pillow skips this axis: a plain copy */
};

static double
bicubic(double x)
{
	const double a = -0.5;

	if (x < 0.0)
		x = -x;
	if (x < 1.0)
		return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
	if (x < 2.0)
		return (((x - 5) * x + 8) * x - 4) * a;
	return 0.0;
}

/* Pillow's precompute_coeffs and normalize_coeffs_8bpc, down to the float box
 * edges and the double arithmetic; then each output's taps are placed in a
 * window of k, the most any output has, slid to stay inside the image. */
static void
coeffs_compute(struct coeffs *c, int n_in, float b0, float b1, int n_out)
{
	double scale, filterscale, support, center, ww, ss, *kd, *k;
	int ksize, i, x, s, *xmin, *xmax;
	int32_t *w;

	c->n_in = n_in;
	c->n_out = n_out;
	c->b0 = b0;
	c->b1 = b1;
	c->identity = n_out == n_in && b0 == 0 && b1 == n_out;
	filterscale = scale = (double)(b1 - b0) / n_out;
	if (filterscale < 1.0)
		filterscale = 1.0;
	support = 2.0 * filterscale;
	ksize = (int)ceil(support) * 2 + 1;
	kd = ereallocarray(NULL, (size_t)n_out * ksize, sizeof(*kd));
	xmin = ereallocarray(NULL, n_out, sizeof(*xmin));
	xmax = ereallocarray(NULL, n_out, sizeof(*xmax));
	ss = 1.0 / filterscale;
	c->k = 1;
	for (i = 0; i < n_out; i++) {
		center = b0 + (i + 0.5) * scale;
		xmin[i] = (int)(center - support + 0.5);
		if (xmin[i] < 0)
			xmin[i] = 0;
		xmax[i] = (int)(center + support + 0.5);
		if (xmax[i] > n_in)
			xmax[i] = n_in;
		xmax[i] -= xmin[i];
		k = kd + (size_t)i * ksize;
		ww = 0.0;
		for (x = 0; x < xmax[i]; x++) {
			k[x] = bicubic((x + xmin[i] - center + 0.5) * ss);
			ww += k[x];
		}
		for (x = 0; x < xmax[i]; x++)
			if (ww != 0.0)
				k[x] /= ww;
		if (xmax[i] > c->k)
			c->k = xmax[i];
	}
	c->start = ereallocarray(NULL, n_out, sizeof(*c->start));
	c->w = ecalloc((size_t)n_out * c->k, sizeof(*c->w));
	c->first = n_in;
	c->last = 0;
	for (i = 0; i < n_out; i++) {
		/* xmax <= k <= n_in, so the window [s, s + k) holds [xmin, xmin + xmax). */
		s = xmin[i] < n_in - c->k ? xmin[i] : n_in - c->k;
		c->start[i] = s;
		k = kd + (size_t)i * ksize;
		w = c->w + (size_t)i * c->k + (xmin[i] - s);
		for (x = 0; x < xmax[i]; x++)
			w[x] = k[x] < 0 ? (int)(-0.5 + k[x] * (1 << PRECISION_BITS)) :
			    (int)(0.5 + k[x] * (1 << PRECISION_BITS));
		if (s < c->first)
			c->first = s;
		if (s + c->k > c->last)
			c->last = s + c->k;
	}
	free(kd);
	free(xmin);
	free(xmax);
}

/* What a thread keeps between calls: the last few weight tables (datasets come
 * in a few sizes) and working memory (fresh memory for each image would cost a
 * page fault per 4 KiB, as much as the arithmetic). A thread's is freed when it
 * exits, through the key's destructor. */
#define NCACHE 8
struct kept {
	struct coeffs cache[NCACHE];
	unsigned next;
	unsigned char *scratch;
	size_t cap;
};

static pthread_key_t kept_key;
static pthread_once_t kept_once = PTHREAD_ONCE_INIT;

static void
kept_free(void *p)
{
	struct kept *k = p;
	int i;

	for (i = 0; i < NCACHE; i++) {
		free(k->cache[i].start);
		free(k->cache[i].w);
	}
	free(k->scratch);
	free(k);
}

static void
kept_init(void)
{
	if (pthread_key_create(&kept_key, kept_free) != 0)
		eprintf("pthread_key_create failed");
}

static struct kept *
kept(void)
{
	struct kept *k;

	pthread_once(&kept_once, kept_init);
	k = pthread_getspecific(kept_key);
	if (!k) {
		k = ecalloc(1, sizeof(*k));
		if (pthread_setspecific(kept_key, k) != 0)
			eprintf("pthread_setspecific failed");
	}
	return k;
}

/* keep: an entry in use that must not be evicted. */
static const struct coeffs *
coeffs_get(struct kept *k, int n_in, float b0, float b1, int n_out, const struct coeffs *keep)
{
	struct coeffs *c;
	int i;

	for (i = 0; i < NCACHE; i++) {
		c = &k->cache[i];
		if (c->start && c->n_in == n_in && c->n_out == n_out && c->b0 == b0 && c->b1 == b1)
			return c;
	}
	c = &k->cache[k->next++ % NCACHE];
	if (c == keep)
		c = &k->cache[k->next++ % NCACHE];
	free(c->start);
	free(c->w);
	coeffs_compute(c, n_in, b0, b1, n_out);
	return c;
}

/* n bytes of working memory. They are all written before they are read, but for
 * the row padding, which is read and never used, so it is zeroed when it grows. */
static unsigned char *
scratch(struct kept *k, size_t n)
{
	if (n > k->cap) {
		free(k->scratch);
		k->scratch = ecalloc(n, 1);
		k->cap = n;
	}
	return k->scratch;
}

/* Rows [0, nb) of src (stride sstride), columns [cx->first, cx->last), into t
 * column after column: column x holds row 0's RGB, row 1's, ... at t + x * CS.
 * Each pixel moves as one 4-byte word whose spare byte the next row's pixel (or
 * the column's pad byte) overwrites; the last one of a row, which may end the
 * image, moves as 3 bytes. */
static void
transpose_band(const unsigned char *src, size_t sstride, int nb, const struct coeffs *cx,
    unsigned char *t)
{
	const unsigned char *s;
	unsigned char *d;
	int r, x, n = cx->last - cx->first;

	for (r = 0; r < nb; r++) {
		s = src + (size_t)r * sstride + (size_t)cx->first * 3;
		d = t + r * 3;
		for (x = 0; x < n - 1; x++)
			memcpy(d + (size_t)x * CS, s + x * 3, 4);
		memcpy(d + (size_t)x * CS, s + x * 3, 3);
	}
}

static inline unsigned char
clip8(int32_t v)
{
	v >>= PRECISION_BITS;
	return v < 0 ? 0 : v > 255 ? 255 : v;
}

/* The horizontal sums of a transposed band: output pixel i of row r is the k
 * columns from start[i] weighted, for all VB values of the band at once. */
static void
horizontal_c(const unsigned char *t, int nb, const struct coeffs *cx, unsigned char *out,
    size_t ostride)
{
	const unsigned char *s;
	const int32_t *w;
	int32_t acc[VB];
	int r, i, j, tap;

	for (i = 0; i < cx->n_out; i++) {
		s = t + (size_t)(cx->start[i] - cx->first) * CS;
		w = cx->w + (size_t)i * cx->k;
		for (j = 0; j < VB; j++)
			acc[j] = 1 << (PRECISION_BITS - 1);
		for (tap = 0; tap < cx->k; tap++, s += CS)
			for (j = 0; j < VB; j++)
				acc[j] += s[j] * w[tap];
		for (r = 0; r < nb; r++)
			for (j = 0; j < 3; j++)
				out[(size_t)r * ostride + i * 3 + j] = clip8(acc[r * 3 + j]);
	}
}

/* One output row of n values from the k rows from in on (stride istride,
 * readable up to a whole number of VCHUNK values). */
static void
vertical_c(const unsigned char *in, size_t istride, int n, const int32_t *w, int k,
    unsigned char *out)
{
	const unsigned char *s;
	int32_t acc[VCHUNK];
	int j, u, tap, m;

	for (j = 0; j < n; j += VCHUNK) {
		for (u = 0; u < VCHUNK; u++)
			acc[u] = 1 << (PRECISION_BITS - 1);
		s = in + j;
		for (tap = 0; tap < k; tap++, s += istride)
			for (u = 0; u < VCHUNK; u++)
				acc[u] += s[u] * w[tap];
		m = n - j < VCHUNK ? n - j : VCHUNK;
		for (u = 0; u < m; u++)
			out[j + u] = clip8(acc[u]);
	}
}

/* The same two with AVX2 (8 lanes of 32-bit products a cycle), picked at run
 * time: compilers do not widen bytes to 32-bit lanes well by themselves. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2 1
#define AVX2 __attribute__((target("avx2")))

AVX2 static inline __m256i
madd8(__m256i acc, const unsigned char *p, __m256i w)
{
	__m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));

	return _mm256_add_epi32(acc, _mm256_mullo_epi32(v, w));
}

/* Pillow's clip8 on 32 sums, as 32 bytes in order: the packs saturate to
 * 0..255 and work within 128-bit halves, which the permute puts back. */
AVX2 static inline __m256i
clip32(__m256i a0, __m256i a1, __m256i a2, __m256i a3)
{
	__m256i p01 = _mm256_packs_epi32(_mm256_srai_epi32(a0, PRECISION_BITS),
	    _mm256_srai_epi32(a1, PRECISION_BITS));
	__m256i p23 = _mm256_packs_epi32(_mm256_srai_epi32(a2, PRECISION_BITS),
	    _mm256_srai_epi32(a3, PRECISION_BITS));

	return _mm256_permutevar8x32_epi32(_mm256_packus_epi16(p01, p23),
	    _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

AVX2 static void
horizontal_avx2(const unsigned char *t, int nb, const struct coeffs *cx, unsigned char *out,
    size_t ostride)
{
	const __m256i half = _mm256_set1_epi32(1 << (PRECISION_BITS - 1));
	const unsigned char *s;
	const int32_t *w;
	unsigned char px[64];
	__m256i a0, a1, a2, a3, a4, a5, wt;
	int r, i, tap;

	for (i = 0; i < cx->n_out; i++) {
		s = t + (size_t)(cx->start[i] - cx->first) * CS;
		w = cx->w + (size_t)i * cx->k;
		a0 = a1 = a2 = a3 = a4 = a5 = half;
		for (tap = 0; tap < cx->k; tap++, s += CS) {
			wt = _mm256_set1_epi32(w[tap]);
			a0 = madd8(a0, s, wt);
			a1 = madd8(a1, s + 8, wt);
			a2 = madd8(a2, s + 16, wt);
			a3 = madd8(a3, s + 24, wt);
			a4 = madd8(a4, s + 32, wt);
			a5 = madd8(a5, s + 40, wt);
		}
		_mm256_storeu_si256((__m256i *)px, clip32(a0, a1, a2, a3));
		_mm256_storeu_si256((__m256i *)(px + 32), clip32(a4, a5, a4, a5));
		for (r = 0; r < nb; r++)
			memcpy(out + (size_t)r * ostride + i * 3, px + r * 3, 3);
	}
}

AVX2 static void
vertical_avx2(const unsigned char *in, size_t istride, int n, const int32_t *w, int k,
    unsigned char *out)
{
	const __m256i half = _mm256_set1_epi32(1 << (PRECISION_BITS - 1));
	const unsigned char *s;
	unsigned char px[32];
	__m256i a0, a1, a2, a3, wt, v;
	int j, tap;

	for (j = 0; j < n; j += VCHUNK) {
		a0 = a1 = a2 = a3 = half;
		s = in + j;
		for (tap = 0; tap < k; tap++, s += istride) {
			wt = _mm256_set1_epi32(w[tap]);
			a0 = madd8(a0, s, wt);
			a1 = madd8(a1, s + 8, wt);
			a2 = madd8(a2, s + 16, wt);
			a3 = madd8(a3, s + 24, wt);
		}
		v = clip32(a0, a1, a2, a3);
		if (n - j >= VCHUNK)
			_mm256_storeu_si256((__m256i *)(out + j), v);
		else {
			_mm256_storeu_si256((__m256i *)px, v);
			memcpy(out + j, px, n - j);
		}
	}
}
#endif

/* Whether to use the AVX2 kernels: where the CPU has them and the environment
 * has no VITCAP_NO_AVX2, which lets the tests check the portable ones too. */
static int
use_avx2(void)
{
#ifdef HAVE_AVX2
	static _Thread_local int v = -1;

	if (v < 0)
		v = __builtin_cpu_supports("avx2") && !getenv("VITCAP_NO_AVX2");
	return v;
#else
	return 0;
#endif
}

static void
horizontal(const unsigned char *t, int nb, const struct coeffs *cx, unsigned char *out,
    size_t ostride)
{
#ifdef HAVE_AVX2
	if (use_avx2()) {
		horizontal_avx2(t, nb, cx, out, ostride);
		return;
	}
#endif
	horizontal_c(t, nb, cx, out, ostride);
}

static void
vertical(const unsigned char *in, size_t istride, int n, const int32_t *w, int k,
    unsigned char *out)
{
#ifdef HAVE_AVX2
	if (use_avx2()) {
		vertical_avx2(in, istride, n, w, k, out);
		return;
	}
#endif
	vertical_c(in, istride, n, w, k, out);
}

/* Resamples the box [bx0, bx1) x [by0, by1) of src to ow x oh pixels written at
 * out (stride ostride): Pillow's ImagingResampleInner. */
static void
resample(const struct image *src, float bx0, float by0, float bx1, float by1, int ow, int oh,
    unsigned char *out, size_t ostride)
{
	struct kept *k = kept();
	const struct coeffs *cx = coeffs_get(k, src->w, bx0, bx1, ow, NULL);
	const struct coeffs *cy = coeffs_get(k, src->h, by0, by1, oh, cx);
	unsigned char *tmp, *t;
	size_t sstride = (size_t)src->w * 3, mstride;
	int y0, y, nb, first;

	if (cx->identity && cy->identity) {
		for (y = 0; y < oh; y++)
			memcpy(out + y * ostride, src->px + y * sstride, sstride);
		return;
	}
	/* The vertical pass reads whole chunks of VCHUNK values: rows are padded. */
	mstride = ((size_t)ow * 3 + VCHUNK - 1) / VCHUNK * VCHUNK;
	first = cy->first;
	tmp = scratch(k, (size_t)(cy->last - first) * mstride + (size_t)(cx->last - cx->first) * CS);
	t = tmp + (size_t)(cy->last - first) * mstride;
	if (cx->identity) {
		/* Pillow skips the pass; the unpadded source rows need a padded copy. */
		for (y = first; y < cy->last; y++)
			memcpy(tmp + (size_t)(y - first) * mstride, src->px + y * sstride, sstride);
	} else {
		for (y0 = first; y0 < cy->last; y0 += BAND) {
			nb = cy->last - y0 < BAND ? cy->last - y0 : BAND;
			transpose_band(src->px + y0 * sstride, sstride, nb, cx, t);
			horizontal(t, nb, cx, tmp + (size_t)(y0 - first) * mstride, mstride);
		}
	}
	if (cy->identity) {
		for (y = 0; y < oh; y++)
			memcpy(out + y * ostride, tmp + (size_t)(y - first) * mstride, (size_t)ow * 3);
	} else {
		for (y = 0; y < oh; y++)
			vertical(tmp + (size_t)(cy->start[y] - first) * mstride, mstride, ow * 3,
			    cy->w + (size_t)y * cy->k, cy->k, out + y * ostride);
	}
}

void
image_resize(const struct image *src, int size, enum resize_mode mode, struct image *dst)
{
	int s, x0, y0, w, h, l;

	image_alloc(dst, size, size);
	switch (mode) {
	case RESIZE_SQUASH:
		resample(src, 0, 0, src->w, src->h, size, size, dst->px, (size_t)size * 3);
		break;
	case RESIZE_CENTER_CROP:
		/* The central square, on whole pixels (an odd margin leaves its extra
		 * pixel on the right or bottom): Pillow's resize(box=(x0, y0, x0 + s,
		 * y0 + s)) with the same integers. */
		s = src->w < src->h ? src->w : src->h;
		x0 = (src->w - s) / 2;
		y0 = (src->h - s) / 2;
		resample(src, x0, y0, x0 + s, y0 + s, size, size, dst->px, (size_t)size * 3);
		break;
	case RESIZE_PAD:
		/* The long side becomes size, the short side size * short / long rounded
		 * half up (at least 1), centred with the odd pixel of margin on the
		 * right or bottom: Pillow's resize((w, h)) pasted at (x0, y0). */
		memset(dst->px, 0, (size_t)size * size * 3);
		l = src->w > src->h ? src->w : src->h;
		w = ((int64_t)src->w * size * 2 + l) / (2 * l);
		h = ((int64_t)src->h * size * 2 + l) / (2 * l);
		w = w < 1 ? 1 : w;
		h = h < 1 ? 1 : h;
		x0 = (size - w) / 2;
		y0 = (size - h) / 2;
		resample(src, 0, 0, src->w, src->h, w, h, dst->px + ((size_t)y0 * size + x0) * 3,
		    (size_t)size * 3);
		break;
	}
}
