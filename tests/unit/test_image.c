/* test_image: JPEG and PNG decoding (common/jpeg.c, png.c, image_decode.c).
 *
 *   test_image                        run the tests; exit 1 on any failure
 *   test_image run [opts] IN OUT.ppm  decode IN (and resize) into a binary PPM
 *   test_image bench [opts] FILE...   decode (and resize) every file, print the time
 *
 * opts: -S size to resize to (none: decode only), -m squash|crop|pad, -s min_short,
 * -l min_long, -p max_pixels, -r repeats (bench). The two modes let
 * tests/image.bats compare with Pillow and tests/bench/image.sh time us. */
#include "image.h"
#include "util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jpeglib.h>
#include <png.h>

#include "check.h"

static uint64_t rng = 2463534242ULL;

static unsigned
rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng >> 11) % n;
}

/* ---- encoders for the test images --------------------------------------------- */

struct blob {
	unsigned char *p;
	size_t len;
};

/* A JPEG of w x h pixels of `comps` channels in `in` colour space, stored as
 * `store` (JCS_YCbCr, JCS_RGB, JCS_GRAYSCALE, JCS_CMYK or JCS_YCCK). */
static struct blob
jpeg_make(const unsigned char *px, int w, int h, int comps, J_COLOR_SPACE in,
    J_COLOR_SPACE store, int progressive, int quality)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr jerr;
	unsigned long n = 0;
	unsigned char *out = NULL;
	JSAMPROW row;
	struct blob b;

	c.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, &out, &n);
	c.image_width = w;
	c.image_height = h;
	c.input_components = comps;
	c.in_color_space = in;
	jpeg_set_defaults(&c);
	jpeg_set_colorspace(&c, store);
	jpeg_set_quality(&c, quality, TRUE);
	if (progressive)
		jpeg_simple_progression(&c);
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < c.image_height) {
		row = (JSAMPROW)px + (size_t)c.next_scanline * w * comps;
		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	b.p = out;
	b.len = n;
	return b;
}

static void
png_put(png_structp png, png_bytep data, size_t n)
{
	struct blob *b = png_get_io_ptr(png);

	b->p = erealloc(b->p, b->len + n);
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void
png_flush_none(png_structp png)
{
	(void)png;
}

/* A PNG from rows of packed samples as libpng wants them (16-bit big-endian). */
static struct blob
png_make(const unsigned char *px, int w, int h, int type, int depth, int interlace,
    const png_color *pal, int npal, const png_byte *trns, int ntrns)
{
	struct blob b = {0};
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	size_t rowbytes;
	int y, pass, passes;

	if (setjmp(png_jmpbuf(png)))
		eprintf("png_make failed");
	png_set_write_fn(png, &b, png_put, png_flush_none);
	png_set_IHDR(png, info, w, h, depth, type,
	    interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
	    PNG_FILTER_TYPE_DEFAULT);
	if (pal)
		png_set_PLTE(png, info, pal, npal);
	if (trns)
		png_set_tRNS(png, info, trns, ntrns, NULL);
	png_write_info(png, info);
	passes = png_set_interlace_handling(png);
	rowbytes = png_get_rowbytes(png, info);
	for (pass = 0; pass < passes; pass++)
		for (y = 0; y < h; y++)
			png_write_row(png, px + (size_t)y * rowbytes);
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	return b;
}

/* ---- helpers ------------------------------------------------------------------ */

static struct image
pattern(int w, int h)
{
	struct image img;
	int x, y;

	image_alloc(&img, w, h);
	for (y = 0; y < h; y++)
		for (x = 0; x < w; x++) {
			unsigned char *p = img.px + ((size_t)y * w + x) * 3;
			p[0] = x * 255 / (w > 1 ? w - 1 : 1);
			p[1] = y * 255 / (h > 1 ? h - 1 : 1);
			p[2] = 255 - (x + y) * 255 / (w + h > 2 ? w + h - 2 : 1);
		}
	return img;
}

/* Mean absolute difference per channel value, and the maximum. */
static double
mean_diff(const struct image *a, const struct image *b, int *max)
{
	size_t i, n = (size_t)a->w * a->h * 3;
	double s = 0;
	int d;

	*max = 0;
	for (i = 0; i < n; i++) {
		d = abs(a->px[i] - b->px[i]);
		s += d;
		if (d > *max)
			*max = d;
	}
	return n ? s / n : 0;
}

static int
decode(const struct blob *b, int min_short, int min_long, uint64_t max_pixels,
    struct image *out, char *err)
{
	return image_decode(b->p, b->len, min_short, min_long, max_pixels, out, err, 256);
}

/* Decoding must fail with a message starting with want (NULL: any message), and
 * leave out empty. */
static void
expect_error(const void *p, size_t len, uint64_t max_pixels, const char *want, const char *what)
{
	struct image out = {1, 1, (unsigned char *)"x"};
	char err[256] = "", m[400];
	int r = image_decode(p, len, 0, 0, max_pixels, &out, err, sizeof(err));
	int ok = r == -1 && err[0] && strchr(err, '\n') == NULL && out.px == NULL &&
	    (!want || strncmp(err, want, strlen(want)) == 0);

	snprintf(m, sizeof(m), "%s: got %d \"%s\", want -1 \"%s...\"", what, r, err,
	    want ? want : "");
	check(ok, m, __FILE__, __LINE__);
	if (r == 0)
		image_free(&out);
}

/* ---- tests ------------------------------------------------------------------ */

static void
test_jpeg_round_trip(void)
{
	struct image src = pattern(97, 61), out;
	struct blob b;
	char err[256];
	int max, prog;

	for (prog = 0; prog < 2; prog++) {
		b = jpeg_make(src.px, src.w, src.h, 3, JCS_RGB, JCS_YCbCr, prog, 95);
		CHECK(decode(&b, 0, 0, 0, &out, err) == 0);
		CHECK(out.w == 97 && out.h == 61);
		CHECK(mean_diff(&src, &out, &max) < 1 && max <= 8);
		image_free(&out);
		free(b.p);
	}
	/* Stored as RGB (Adobe transform 0): no chroma loss. */
	b = jpeg_make(src.px, src.w, src.h, 3, JCS_RGB, JCS_RGB, 0, 95);
	CHECK(decode(&b, 0, 0, 0, &out, err) == 0);
	CHECK(mean_diff(&src, &out, &max) < 0.2 && max <= 2);
	image_free(&out);
	free(b.p);
	image_free(&src);
}

static void
test_jpeg_gray_cmyk(void)
{
	unsigned char gray[40 * 30], cmyk[40 * 30 * 4];
	static const unsigned char colours[][4] = {
		/* true C, M, Y, K and the RGB they make under Pillow's cmyk2rgb */
		{0, 255, 255, 0}, {0, 0, 0, 0}, {0, 0, 0, 255}, {255, 0, 255, 0},
	};
	static const unsigned char rgb[][3] = {{255, 0, 0}, {255, 255, 255}, {0, 0, 0}, {0, 255, 0}};
	struct image out;
	struct blob b;
	char err[256];
	int i, j, ok, store, prog;

	for (i = 0; i < 40 * 30; i++)
		gray[i] = (unsigned char)(i % 40 * 6);
	b = jpeg_make(gray, 40, 30, 1, JCS_GRAYSCALE, JCS_GRAYSCALE, 0, 100);
	CHECK(decode(&b, 0, 0, 0, &out, err) == 0);
	ok = out.w == 40 && out.h == 30;
	for (i = 0; ok && i < 40 * 30; i++)
		ok = out.px[i * 3] == out.px[i * 3 + 1] && out.px[i * 3] == out.px[i * 3 + 2] &&
		    abs(out.px[i * 3] - gray[i]) <= 3;
	CHECK(ok);
	image_free(&out);
	free(b.p);

	/* Four flat quarters, stored inverted as Photoshop stores CMYK, in CMYK
	 * and in YCCK, baseline and progressive. */
	for (store = 0; store < 2; store++)
		for (prog = 0; prog < 2; prog++) {
			for (i = 0; i < 40 * 30; i++)
				for (j = 0; j < 4; j++)
					cmyk[i * 4 + j] = 255 - colours[(i % 40 >= 20) + 2 * (i / 40 >= 15)][j];
			b = jpeg_make(cmyk, 40, 30, 4, JCS_CMYK, store ? JCS_YCCK : JCS_CMYK, prog, 100);
			CHECK(decode(&b, 0, 0, 0, &out, err) == 0);
			ok = out.w == 40 && out.h == 30;
			for (i = 0; ok && i < 4; i++) {
				/* the centre pixel of each quarter */
				const unsigned char *p = out.px +
				    ((size_t)(7 + 15 * (i / 2)) * 40 + 10 + 20 * (i % 2)) * 3;
				for (j = 0; j < 3; j++)
					ok = ok && abs(p[j] - rgb[i][j]) <= 4;
			}
			CHECK(ok);
			image_free(&out);
			free(b.p);
		}
}

/* The DCT scale: the largest of 8, 4, 2 whose unrounded sides reach the minimum. */
static void
test_jpeg_scale(void)
{
	static const int cases[][6] = {
		/* w, h, min_short, min_long, expected w, h */
		{640, 480, 0, 0, 640, 480},
		{640, 480, 60, 0, 80, 60},
		{640, 480, 61, 0, 160, 120},
		{640, 480, 120, 0, 160, 120},
		{640, 480, 240, 0, 320, 240},
		{640, 480, 241, 0, 640, 480},
		{640, 480, 0, 160, 160, 120},
		{640, 480, 0, 161, 320, 240},
		{480, 640, 224, 224, 240, 320},
		{447, 640, 224, 224, 447, 640},
		{500, 375, 224, 224, 500, 375},
		{1001, 750, 224, 224, 501, 375},
		{1001, 750, 187, 0, 251, 188}, /* 750/4 = 187.5 >= 187, rounded up */
		{13, 9, 1, 1, 2, 2},
	};
	struct image src, out;
	struct blob b;
	char err[256], m[200];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		src = pattern(cases[i][0], cases[i][1]);
		b = jpeg_make(src.px, src.w, src.h, 3, JCS_RGB, JCS_YCbCr, i % 2, 90);
		CHECK(decode(&b, cases[i][2], cases[i][3], 0, &out, err) == 0);
		snprintf(m, sizeof(m), "%dx%d at %d, %d decodes to %dx%d, got %dx%d", cases[i][0],
		    cases[i][1], cases[i][2], cases[i][3], cases[i][4], cases[i][5], out.w, out.h);
		check(out.w == cases[i][4] && out.h == cases[i][5], m, __FILE__, __LINE__);
		image_free(&out);
		free(b.p);
		image_free(&src);
	}
}

static void
test_png_layouts(void)
{
	unsigned char px[16 * 9 * 8], *q;
	static const png_color pal[4] = {{10, 20, 30}, {200, 0, 0}, {0, 255, 0}, {1, 2, 3}};
	static const png_byte trns[4] = {0, 128, 255, 255};
	struct image out;
	struct blob b;
	char err[256], m[200];
	int w = 16, h = 9, x, y, il, i, ok, v;
	/* type, depth */
	static const int layouts[][2] = {
		{PNG_COLOR_TYPE_RGB, 8}, {PNG_COLOR_TYPE_RGB, 16}, {PNG_COLOR_TYPE_RGBA, 8},
		{PNG_COLOR_TYPE_RGBA, 16}, {PNG_COLOR_TYPE_GRAY, 1}, {PNG_COLOR_TYPE_GRAY, 2},
		{PNG_COLOR_TYPE_GRAY, 4}, {PNG_COLOR_TYPE_GRAY, 8}, {PNG_COLOR_TYPE_GRAY, 16},
		{PNG_COLOR_TYPE_GA, 8}, {PNG_COLOR_TYPE_GA, 16}, {PNG_COLOR_TYPE_PALETTE, 2},
		{PNG_COLOR_TYPE_PALETTE, 8},
	};
	size_t li;

	for (li = 0; li < sizeof(layouts) / sizeof(layouts[0]); li++)
		for (il = 0; il < 2; il++) {
			int type = layouts[li][0], depth = layouts[li][1];
			int ch = type == PNG_COLOR_TYPE_RGB ? 3 : type == PNG_COLOR_TYPE_RGBA ? 4 :
			    type == PNG_COLOR_TYPE_GA ? 2 : 1;
			int maxv = (1 << depth) - 1;
			size_t rowbytes = ((size_t)w * ch * depth + 7) / 8;

			/* sample s of pixel (x, y): v = (x * 37 + y * 11 + s * 101) % (maxv + 1) */
			memset(px, 0, sizeof(px));
			for (y = 0; y < h; y++)
				for (x = 0; x < w; x++)
					for (i = 0; i < ch; i++) {
						v = (x * 37 + y * 11 + i * 101) % (maxv + 1);
						if (type == PNG_COLOR_TYPE_PALETTE)
							v %= 4;
						q = px + y * rowbytes;
						if (depth == 16) {
							q[(x * ch + i) * 2] = v >> 8;
							q[(x * ch + i) * 2 + 1] = v & 255;
						} else if (depth == 8)
							q[x * ch + i] = v;
						else
							q[x * depth / 8] |= v << (8 - depth - x * depth % 8);
					}
			b = png_make(px, w, h, type, depth, il, type == PNG_COLOR_TYPE_PALETTE ? pal : NULL,
			    4, type == PNG_COLOR_TYPE_PALETTE ? trns : NULL, 4);
			ok = decode(&b, 0, 0, 0, &out, err) == 0 && out.w == w && out.h == h;
			for (y = 0; ok && y < h; y++)
				for (x = 0; ok && x < w; x++)
					for (i = 0; ok && i < 3; i++) {
						int s = ch >= 3 ? i : 0, want;

						v = (x * 37 + y * 11 + s * 101) % (maxv + 1);
						if (type == PNG_COLOR_TYPE_PALETTE) {
							v %= 4;
							want = i == 0 ? pal[v].red : i == 1 ? pal[v].green : pal[v].blue;
						} else if (depth == 16)
							want = v >> 8;
						else
							want = v * 255 / maxv;
						ok = out.px[((size_t)y * w + x) * 3 + i] == want;
					}
			snprintf(m, sizeof(m), "PNG colour type %d depth %d%s decodes exactly", type, depth,
			    il ? " interlaced" : "");
			check(ok, m, __FILE__, __LINE__);
			image_free(&out);
			free(b.p);
		}
}

static uint32_t
crc(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffff;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= p[i];
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0xedb88320 : c >> 1;
	}
	return ~c;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* The offset of the byte after JPEG marker 0xFF m (its length field), or 0. */
static size_t
jpeg_find(const struct blob *b, int m)
{
	size_t i;

	for (i = 2; i + 1 < b->len; i++)
		if (b->p[i] == 0xff && b->p[i + 1] == m)
			return i + 2;
	return 0;
}

static void
test_errors(void)
{
	struct image src = pattern(64, 48), out;
	struct blob j, p, t;
	unsigned char *buf;
	char err[256], what[100];
	size_t sos, i, cuts[] = {3, 4, 20, 100, 300, 0, 0, 0};
	int prog;
	clock_t t0;

	expect_error("", 0, 0, "not a JPEG or PNG image", "empty buffer");
	expect_error("\xff", 1, 0, "not a JPEG or PNG image", "one byte");
	expect_error("GIF89a......", 12, 0, "not a JPEG or PNG image", "GIF");
	expect_error("\x89PNG\r\n\x1a", 7, 0, "not a JPEG or PNG image", "7 bytes of PNG signature");
	expect_error("\xff\xd8\xff", 3, 0, "truncated JPEG", "JPEG magic only");
	expect_error("\x89PNG\r\n\x1a\n", 8, 0, "truncated PNG", "PNG signature only");
	expect_error(NULL, 0, 0, "not a JPEG or PNG image", "NULL, 0");

	for (prog = 0; prog < 2; prog++) {
		j = jpeg_make(src.px, src.w, src.h, 3, JCS_RGB, JCS_YCbCr, prog, 90);
		cuts[5] = j.len / 2;
		cuts[6] = j.len * 9 / 10;
		cuts[7] = j.len - 3;
		for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
			snprintf(what, sizeof(what), "JPEG (progressive %d) cut to %zu of %zu", prog,
			    cuts[i], j.len);
			expect_error(j.p, cuts[i], 0, i < 3 ? NULL : "truncated JPEG", what);
		}
		/* Only the EOI marker missing: Pillow refuses that too. */
		expect_error(j.p, j.len - 2, 0, "truncated JPEG", "JPEG without EOI");

		/* Scan data overwritten with a marker and with garbage. */
		sos = jpeg_find(&j, 0xda);
		CHECK(sos > 0);
		buf = emalloc(j.len);
		memcpy(buf, j.p, j.len);
		memcpy(buf + sos + 30, "\xff\xd0\xff\xd9", 4);
		expect_error(buf, j.len, 0, prog ? NULL : "corrupt JPEG data", "scan data cut by markers");
		memcpy(buf, j.p, j.len);
		for (i = sos + 20; i < j.len - 2; i++)
			buf[i] = rnd(255);
		expect_error(buf, j.len, 0, prog ? NULL : "corrupt JPEG data", "scan data garbage");
		for (i = sos + 20; i < j.len - 2; i++)
			buf[i] = rnd(256);
		expect_error(buf, j.len, 0, prog ? NULL : "corrupt JPEG data", "garbage with 0xff");
		free(buf);

		/* A header claiming 65000 x 65000 pixels: refused by the limit before
		 * anything is allocated, so at once. */
		buf = emalloc(j.len);
		memcpy(buf, j.p, j.len);
		i = jpeg_find(&j, prog ? 0xc2 : 0xc0);
		CHECK(i > 0);
		buf[i + 3] = buf[i + 5] = 65000 >> 8;
		buf[i + 4] = buf[i + 6] = 65000 & 255;
		t0 = clock();
		expect_error(buf, j.len, (uint64_t)1 << 28, "image too large: 65000x65000 pixels",
		    "JPEG header of 65000 x 65000");
		CHECK(clock() - t0 < CLOCKS_PER_SEC / 20);
		/* Without a limit the data runs out instead. */
		free(buf);
		free(j.p);
	}

	p = png_make(src.px, src.w, src.h, PNG_COLOR_TYPE_RGB, 8, 0, NULL, 0, NULL, 0);
	for (i = 8; i < p.len - 12; i += 1 + i / 3) {
		snprintf(what, sizeof(what), "PNG cut to %zu of %zu", i, p.len);
		expect_error(p.p, i, 0, NULL, what);
	}
	/* Only IEND missing: the pixels are all there, and Pillow accepts it too. */
	CHECK(image_decode(p.p, p.len - 12, 0, 0, 0, &out, err, sizeof(err)) == 0 && out.w == 64);
	CHECK(memcmp(out.px, src.px, (size_t)64 * 48 * 3) == 0);
	image_free(&out);
	/* IHDR's CRC, then a byte of IDAT data, broken. */
	buf = emalloc(p.len);
	memcpy(buf, p.p, p.len);
	buf[29] ^= 1;
	expect_error(buf, p.len, 0, "invalid PNG: IHDR: CRC error", "PNG with a bad IHDR CRC");
	memcpy(buf, p.p, p.len);
	buf[33 + 8 + 10] ^= 0x40;
	expect_error(buf, p.len, 0, "invalid PNG", "PNG with a bad IDAT CRC");
	/* 65000 x 65000 in a well-formed IHDR. */
	memcpy(buf, p.p, p.len);
	put32(buf + 16, 65000);
	put32(buf + 20, 65000);
	put32(buf + 29, crc(buf + 12, 17));
	t0 = clock();
	expect_error(buf, p.len, (uint64_t)1 << 28, "image too large: 65000x65000 pixels",
	    "PNG header of 65000 x 65000");
	CHECK(clock() - t0 < CLOCKS_PER_SEC / 20);
	free(buf);

	/* Random garbage behind each magic. */
	t.len = 2000;
	t.p = emalloc(t.len);
	for (i = 0; i < 200; i++) {
		size_t k;

		for (k = 0; k < t.len; k++)
			t.p[k] = rnd(256);
		if (i % 2)
			memcpy(t.p, "\xff\xd8\xff", 3);
		else
			memcpy(t.p, "\x89PNG\r\n\x1a\n", 8);
		expect_error(t.p, rnd(t.len), 0, NULL, "random bytes");
	}
	free(t.p);
	free(p.p);
	image_free(&src);
}

/* Random byte changes to valid files: any result but a crash or a leak, and on
 * success an image of the header's size. */
static void
test_mutations(void)
{
	struct image src = pattern(40, 33), out;
	struct blob files[4];
	unsigned char *buf;
	char err[256];
	int f, i, k, r, ok = 1;

	files[0] = jpeg_make(src.px, src.w, src.h, 3, JCS_RGB, JCS_YCbCr, 0, 80);
	files[1] = jpeg_make(src.px, src.w, src.h, 3, JCS_RGB, JCS_YCbCr, 1, 80);
	files[2] = png_make(src.px, src.w, src.h, PNG_COLOR_TYPE_RGB, 8, 0, NULL, 0, NULL, 0);
	files[3] = png_make(src.px, src.w, src.h, PNG_COLOR_TYPE_RGB, 8, 1, NULL, 0, NULL, 0);
	for (f = 0; f < 4; f++) {
		buf = emalloc(files[f].len);
		for (i = 0; i < 1500; i++) {
			memcpy(buf, files[f].p, files[f].len);
			for (k = 0; k < 1 + i % 4; k++)
				buf[3 + rnd(files[f].len - 3)] = rnd(256);
			err[0] = 0;
			r = image_decode(buf, files[f].len, i % 50, 0, 1 << 20, &out, err, sizeof(err));
			if (r == 0) {
				ok = ok && out.px && out.w > 0 && out.h > 0;
				image_free(&out);
			} else
				ok = ok && r == -1 && err[0] && !out.px;
		}
		free(buf);
		free(files[f].p);
	}
	CHECK(ok);
	image_free(&src);
}

/* ---- the driver ------------------------------------------------------------- */

static int
write_ppm(const char *path, const struct image *img)
{
	FILE *fp = fopen(path, "wb");

	if (!fp)
		eprintf("open %s:", path);
	fprintf(fp, "P6\n%d %d\n255\n", img->w, img->h);
	fwrite(img->px, 3, (size_t)img->w * img->h, fp);
	fshut(fp, path);
	return 0;
}

struct opts {
	int size, mode, min_short, min_long, repeats;
	uint64_t max_pixels;
};

static int
parse_opts(int argc, char *argv[], struct opts *o)
{
	int ch;

	o->size = o->min_short = o->min_long = 0;
	o->mode = RESIZE_SQUASH;
	o->repeats = 1;
	o->max_pixels = 0;
	optind = 2;
	while ((ch = getopt(argc, argv, "S:m:s:l:p:r:")) != -1) {
		switch (ch) {
		case 'S':
			o->size = estrtonum(optarg, 1, 100000, "-S");
			break;
		case 'm':
			if (strcmp(optarg, "squash") == 0)
				o->mode = RESIZE_SQUASH;
			else if (strcmp(optarg, "crop") == 0)
				o->mode = RESIZE_CENTER_CROP;
			else if (strcmp(optarg, "pad") == 0)
				o->mode = RESIZE_PAD;
			else
				uprintf("-m: squash, crop or pad, not %s", optarg);
			break;
		case 's':
			o->min_short = estrtonum(optarg, 0, 100000, "-s");
			break;
		case 'l':
			o->min_long = estrtonum(optarg, 0, 100000, "-l");
			break;
		case 'p':
			o->max_pixels = estrtonum(optarg, 0, 1LL << 40, "-p");
			break;
		case 'r':
			o->repeats = estrtonum(optarg, 1, 100000, "-r");
			break;
		default:
			uprintf("bad option");
		}
	}
	return optind;
}

static int
run(const struct opts *o, const char *in, const char *outpath)
{
	struct image img, r;
	char err[256];
	size_t len;
	char *data = readfile(in, &len);

	if (image_decode(data, len, o->min_short, o->min_long, o->max_pixels, &img, err,
	    sizeof(err)) < 0) {
		free(data);
		eprintf("%s: %s", in, err);
	}
	free(data);
	if (o->size) {
		image_resize(&img, o->size, o->mode, &r);
		image_free(&img);
		img = r;
	}
	write_ppm(outpath, &img);
	image_free(&img);
	return 0;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Reads every file first, so that the time is decoding and resizing alone. */
static int
bench(const struct opts *o, int n, char *files[])
{
	struct image img, r;
	char **data = ecalloc(n, sizeof(*data)), err[256];
	size_t *len = ecalloc(n, sizeof(*len));
	double t0, dec = 0, res = 0, t1;
	int i, k, done = 0;

	for (i = 0; i < n; i++)
		data[i] = readfile(files[i], &len[i]);
	for (k = 0; k < o->repeats; k++)
		for (i = 0; i < n; i++) {
			t0 = now();
			if (image_decode(data[i], len[i], o->min_short, o->min_long, o->max_pixels, &img,
			    err, sizeof(err)) < 0)
				eprintf("%s: %s", files[i], err);
			t1 = now();
			dec += t1 - t0;
			if (o->size) {
				image_resize(&img, o->size, o->mode, &r);
				res += now() - t1;
				image_free(&r);
			}
			image_free(&img);
			done++;
		}
	printf("%d images: decode %.4f s, resize %.4f s, %.1f images/s\n", done, dec, res,
	    done / (dec + res));
	for (i = 0; i < n; i++)
		free(data[i]);
	free(data);
	free(len);
	return 0;
}

int
main(int argc, char *argv[])
{
	struct opts o;
	int i;

	setprogname(argv[0]);
	if (argc >= 2 && strcmp(argv[1], "run") == 0) {
		i = parse_opts(argc, argv, &o);
		if (argc - i != 2)
			uprintf("usage: test_image run [opts] in out.ppm");
		return run(&o, argv[i], argv[i + 1]);
	}
	if (argc >= 2 && strcmp(argv[1], "bench") == 0) {
		i = parse_opts(argc, argv, &o);
		return bench(&o, argc - i, argv + i);
	}
	if (argc != 1)
		uprintf("usage: test_image [run [opts] in out.ppm | bench [opts] file...]");
	test_jpeg_round_trip();
	test_jpeg_gray_cmyk();
	test_jpeg_scale();
	test_png_layouts();
	test_errors();
	test_mutations();
	if (failures)
		fprintf(stderr, "test_image: %d checks failed\n", failures);
	else
		printf("test_image: all passed\n");
	return failures != 0;
}
