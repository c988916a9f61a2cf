/* test_resize: image_resize (common/resize.c) against a line-by-line
 * transcription of Pillow's ImagingResample (BICUBIC, 8 bits a channel), plus
 * the properties any resize must have. The whole-pipeline comparison with the
 * real Pillow is tests/image.bats. */
#include "image.h"
#include "util.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static uint64_t rng = 88172645463325252ULL;

static unsigned
rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng >> 11) % n;
}

/* ---- Pillow's Resample.c, transcribed with its variable-length loops --------- */

static double
ref_bicubic(double x)
{
	if (x < 0.0)
		x = -x;
	if (x < 1.0)
		return ((-0.5 + 2.0) * x - (-0.5 + 3.0)) * x * x + 1;
	if (x < 2.0)
		return (((x - 5) * x + 8) * x - 4) * -0.5;
	return 0.0;
}

static int
ref_coeffs(int in_size, float in0, float in1, int out_size, int **boundsp, int **kkp)
{
	double support, scale, filterscale, center, ww, ss, *k;
	int xx, x, ksize, xmin, xmax, *bounds, *kk;

	filterscale = scale = (double)(in1 - in0) / out_size;
	if (filterscale < 1.0)
		filterscale = 1.0;
	support = 2.0 * filterscale;
	ksize = (int)ceil(support) * 2 + 1;
	k = ecalloc((size_t)out_size * ksize, sizeof(double));
	kk = ecalloc((size_t)out_size * ksize, sizeof(int));
	bounds = ecalloc((size_t)out_size * 2, sizeof(int));
	for (xx = 0; xx < out_size; xx++) {
		center = in0 + (xx + 0.5) * scale;
		ww = 0.0;
		ss = 1.0 / filterscale;
		xmin = (int)(center - support + 0.5);
		if (xmin < 0)
			xmin = 0;
		xmax = (int)(center + support + 0.5);
		if (xmax > in_size)
			xmax = in_size;
		xmax -= xmin;
		for (x = 0; x < xmax; x++) {
			double w = ref_bicubic((x + xmin - center + 0.5) * ss);
			k[xx * ksize + x] = w;
			ww += w;
		}
		for (x = 0; x < xmax; x++)
			if (ww != 0.0)
				k[xx * ksize + x] /= ww;
		bounds[xx * 2 + 0] = xmin;
		bounds[xx * 2 + 1] = xmax;
	}
	for (x = 0; x < out_size * ksize; x++)
		kk[x] = k[x] < 0 ? (int)(-0.5 + k[x] * (1 << 22)) : (int)(0.5 + k[x] * (1 << 22));
	free(k);
	*boundsp = bounds;
	*kkp = kk;
	return ksize;
}

static unsigned char
ref_clip8(int in)
{
	in >>= 22;
	return in < 0 ? 0 : in > 255 ? 255 : in;
}

/* Pillow's ImagingResampleInner on an RGB image; returns a new out_w x out_h. */
static unsigned char *
ref_resample(const unsigned char *in, int w, int h, const float box[4], int out_w, int out_h)
{
	int need_h = out_w != w || box[0] || box[2] != out_w;
	int need_v = out_h != h || box[1] || box[3] != out_h;
	int *bv, *kv, *bh, *kh, ksv, ksh, yfirst, ylast, i, xx, yy, x, y, c, ss, tw, th;
	unsigned char *tmp = NULL, *out;
	const unsigned char *cur = in;

	ksv = ref_coeffs(h, box[1], box[3], out_h, &bv, &kv);
	yfirst = bv[0];
	ylast = bv[out_h * 2 - 2] + bv[out_h * 2 - 1];
	tw = w;
	th = h;
	if (need_h) {
		ksh = ref_coeffs(w, box[0], box[2], out_w, &bh, &kh);
		for (i = 0; i < out_h; i++)
			bv[i * 2] -= yfirst;
		th = ylast - yfirst;
		tw = out_w;
		tmp = emalloc((size_t)tw * th * 3 + 1);
		for (yy = 0; yy < th; yy++)
			for (xx = 0; xx < out_w; xx++)
				for (c = 0; c < 3; c++) {
					ss = 1 << 21;
					for (x = 0; x < bh[xx * 2 + 1]; x++)
						ss += in[((size_t)(yy + yfirst) * w + x + bh[xx * 2]) * 3 + c] *
						    kh[xx * ksh + x];
					tmp[((size_t)yy * tw + xx) * 3 + c] = ref_clip8(ss);
				}
		free(bh);
		free(kh);
		cur = tmp;
	}
	out = emalloc((size_t)out_w * out_h * 3 + 1);
	if (need_v) {
		for (yy = 0; yy < out_h; yy++)
			for (xx = 0; xx < tw; xx++)
				for (c = 0; c < 3; c++) {
					ss = 1 << 21;
					for (y = 0; y < bv[yy * 2 + 1]; y++)
						ss += cur[((size_t)(y + bv[yy * 2]) * tw + xx) * 3 + c] *
						    kv[yy * ksv + y];
					out[((size_t)yy * tw + xx) * 3 + c] = ref_clip8(ss);
				}
	} else
		memcpy(out, cur, (size_t)tw * th * 3);
	free(bv);
	free(kv);
	free(tmp);
	return out;
}

/* What image_resize should give, from the reference and the documented boxes. */
static void
ref_resize(const struct image *src, int size, enum resize_mode mode, struct image *dst)
{
	float box[4] = {0, 0, src->w, src->h};
	unsigned char *r;
	int s, l, w, h, x0, y0, y;

	image_alloc(dst, size, size);
	memset(dst->px, 0, (size_t)size * size * 3);
	w = h = size;
	x0 = y0 = 0;
	if (mode == RESIZE_CENTER_CROP) {
		s = src->w < src->h ? src->w : src->h;
		box[0] = (src->w - s) / 2;
		box[1] = (src->h - s) / 2;
		box[2] = box[0] + s;
		box[3] = box[1] + s;
	} else if (mode == RESIZE_PAD) {
		l = src->w > src->h ? src->w : src->h;
		w = (int)floor((double)src->w * size / l + 0.5);
		h = (int)floor((double)src->h * size / l + 0.5);
		w = w < 1 ? 1 : w;
		h = h < 1 ? 1 : h;
		x0 = (size - w) / 2;
		y0 = (size - h) / 2;
	}
	r = ref_resample(src->px, src->w, src->h, box, w, h);
	for (y = 0; y < h; y++)
		memcpy(dst->px + ((size_t)(y + y0) * size + x0) * 3, r + (size_t)y * w * 3,
		    (size_t)w * 3);
	free(r);
}

/* ---- tests -------------------------------------------------------------------- */

static void
fill(struct image *img, int kind)
{
	size_t i, n = (size_t)img->w * img->h * 3;
	int x, y;

	for (i = 0; i < n; i++) {
		x = (int)(i / 3 % img->w);
		y = (int)(i / 3 / img->w);
		switch (kind) {
		case 0: /* noise: every rounding and clipping case */
			img->px[i] = rnd(256);
			break;
		case 1: /* sharp edges: the negative lobes overshoot and clip */
			img->px[i] = ((x / 3 + y / 5) & 1) ? 255 : 0;
			break;
		default: /* smooth gradient */
			img->px[i] = (unsigned char)((x * 7 + y * 3 + (int)(i % 3) * 50) & 255);
		}
	}
}

static const char *const mode_name[] = {"squash", "center-crop", "pad"};

static void
test_against_reference(void)
{
	static const int sizes[][2] = {
		{500, 375}, {375, 500}, {1, 1}, {1, 7}, {7, 1}, {3, 1000}, {1000, 3}, {2, 2},
		{4, 4}, {5, 3}, {224, 224}, {225, 224}, {640, 480}, {31, 17}, {64, 64},
		{100, 1}, {17, 4}, {450, 299},
	};
	static const int outs[] = {224, 64, 32, 1, 2, 5, 300};
	struct image src, a, b;
	size_t si, oi, n;
	int mode, kind, bad;
	char what[200];

	for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++)
		for (kind = 0; kind < 3; kind++) {
			image_alloc(&src, sizes[si][0], sizes[si][1]);
			fill(&src, kind);
			for (oi = 0; oi < sizeof(outs) / sizeof(outs[0]); oi++)
				for (mode = 0; mode < 3; mode++) {
					image_resize(&src, outs[oi], mode, &a);
					ref_resize(&src, outs[oi], mode, &b);
					n = (size_t)outs[oi] * outs[oi] * 3;
					bad = a.w != b.w || a.h != b.h || memcmp(a.px, b.px, n) != 0;
					snprintf(what, sizeof(what), "%dx%d kind %d -> %d %s equals Pillow's",
					    src.w, src.h, kind, outs[oi], mode_name[mode]);
					check(!bad, what, __FILE__, __LINE__);
					image_free(&a);
					image_free(&b);
				}
			image_free(&src);
		}
}

/* A random image, size and mode, many times: the tap windows, band edges and
 * chunk tails land everywhere. */
static void
test_random_shapes(void)
{
	struct image src, a, b;
	int i, size, mode;
	char what[200];

	for (i = 0; i < 300; i++) {
		image_alloc(&src, 1 + rnd(i % 10 == 0 ? 900 : 120), 1 + rnd(i % 10 == 5 ? 900 : 120));
		fill(&src, rnd(3));
		size = 1 + rnd(i % 3 == 0 ? 260 : 70);
		mode = rnd(3);
		image_resize(&src, size, mode, &a);
		ref_resize(&src, size, mode, &b);
		snprintf(what, sizeof(what), "random %dx%d -> %d %s equals Pillow's", src.w, src.h,
		    size, mode_name[mode]);
		check(memcmp(a.px, b.px, (size_t)size * size * 3) == 0, what, __FILE__, __LINE__);
		image_free(&a);
		image_free(&b);
		image_free(&src);
	}
}

static void
test_constant(void)
{
	static const int sizes[][2] = {{500, 375}, {3, 1000}, {1, 1}, {17, 4}, {64, 64}};
	static const int outs[] = {224, 64, 7, 1};
	struct image src, dst;
	size_t si, oi, i;
	int mode, black, x, y, inside;
	int w, h, x0, y0, l;

	for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++)
		for (oi = 0; oi < sizeof(outs) / sizeof(outs[0]); oi++)
			for (mode = 0; mode < 3; mode++) {
				image_alloc(&src, sizes[si][0], sizes[si][1]);
				for (i = 0; i < (size_t)src.w * src.h * 3; i++)
					src.px[i] = i % 3 == 0 ? 200 : i % 3 == 1 ? 13 : 255;
				image_resize(&src, outs[oi], mode, &dst);
				l = src.w > src.h ? src.w : src.h;
				w = mode == RESIZE_PAD ? (int)floor((double)src.w * outs[oi] / l + 0.5) : outs[oi];
				h = mode == RESIZE_PAD ? (int)floor((double)src.h * outs[oi] / l + 0.5) : outs[oi];
				w = w < 1 ? 1 : w;
				h = h < 1 ? 1 : h;
				x0 = (outs[oi] - w) / 2;
				y0 = (outs[oi] - h) / 2;
				black = 0;
				for (y = 0; y < dst.h; y++)
					for (x = 0; x < dst.w; x++) {
						const unsigned char *p = dst.px + ((size_t)y * dst.w + x) * 3;
						inside = x >= x0 && x < x0 + w && y >= y0 && y < y0 + h;
						if (inside ? (p[0] != 200 || p[1] != 13 || p[2] != 255) :
						    (p[0] || p[1] || p[2]))
							black++;
					}
				CHECK(black == 0);
				image_free(&dst);
				image_free(&src);
			}
}

static void
test_identity(void)
{
	struct image src, dst;
	int mode;

	image_alloc(&src, 57, 57);
	fill(&src, 0);
	for (mode = 0; mode < 3; mode++) {
		image_resize(&src, 57, mode, &dst);
		CHECK(memcmp(src.px, dst.px, (size_t)57 * 57 * 3) == 0);
		image_free(&dst);
	}
	image_free(&src);
}

/* Worked by hand from the filter: 2 pixels to 1 weighs both 1/2 (Keys' cubic at
 * +-1/4, stretched by 2), and .5 rounds up; 1 pixel to 3 copies it. */
static void
test_known(void)
{
	struct image src, dst;

	image_alloc(&src, 2, 1);
	memcpy(src.px, "\x0a\x00\xff\x15\x01\xff", 6);
	image_resize(&src, 1, RESIZE_SQUASH, &dst);
	CHECK(dst.px[0] == 16 && dst.px[1] == 1 && dst.px[2] == 255);
	image_free(&dst);
	/* Pad: 2x1 into 4x4 is a 4x2 strip on rows 1 and 2. */
	image_resize(&src, 4, RESIZE_PAD, &dst);
	CHECK(dst.px[0] == 0 && dst.px[4 * 3 * 3 + 2] == 0 && dst.px[4 * 3 + 2] == 255);
	CHECK(dst.px[4 * 3] == 10 - 1 || dst.px[4 * 3] == 10 || dst.px[4 * 3] == 9);
	image_free(&dst);
	image_free(&src);
	image_alloc(&src, 1, 1);
	memcpy(src.px, "\x07\x80\xfe", 3);
	image_resize(&src, 3, RESIZE_SQUASH, &dst);
	CHECK(memcmp(dst.px, "\x07\x80\xfe\x07\x80\xfe\x07\x80\xfe", 9) == 0);
	CHECK(memcmp(dst.px + 8 * 3, "\x07\x80\xfe", 3) == 0);
	image_free(&dst);
	image_free(&src);
}

/* Threads resizing at once, each with its own kept tables and memory, which go
 * when the thread ends (the sanitizer build's leak check sees to that). */
struct job {
	const struct image *src;
	int size, mode;
	unsigned char *want;
	int ok;
};

static void *
thread_main(void *arg)
{
	struct job *j = arg;
	struct image dst;
	int i;

	j->ok = 1;
	for (i = 0; i < 20; i++) {
		image_resize(j->src, j->size + i % 3, j->mode, &dst);
		if (i % 3 == 0)
			j->ok &= memcmp(dst.px, j->want, (size_t)j->size * j->size * 3) == 0;
		image_free(&dst);
	}
	return NULL;
}

static void
test_threads(void)
{
	struct image src, want[4];
	struct job jobs[4];
	pthread_t th[4];
	int i;

	image_alloc(&src, 300, 200);
	fill(&src, 0);
	for (i = 0; i < 4; i++) {
		ref_resize(&src, 40 + i * 7, i % 3, &want[i]);
		jobs[i] = (struct job){&src, 40 + i * 7, i % 3, want[i].px, 0};
		CHECK(pthread_create(&th[i], NULL, thread_main, &jobs[i]) == 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK(jobs[i].ok);
		image_free(&want[i]);
	}
	image_free(&src);
}

int
main(int argc, char *argv[])
{
	setprogname(argv[0]);
	if (argc != 1) {
		fprintf(stderr, "usage: test_resize\n");
		return 2;
	}
	test_known();
	test_identity();
	test_constant();
	test_against_reference();
	test_random_shapes();
	test_threads();
	if (failures)
		fprintf(stderr, "test_resize: %d checks failed\n", failures);
	else
		printf("test_resize: all passed\n");
	return failures != 0;
}
