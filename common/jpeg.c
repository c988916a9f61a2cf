/* jpeg.c: JPEG encoding and decoding with libjpeg-turbo. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "image.h"
#include "util.h"

void
image_alloc(struct image *img, int w, int h)
{
	img->w = w;
	img->h = h;
	img->px = ereallocarray(NULL, (size_t)w * h, 3);
}

void
image_free(struct image *img)
{
	free(img->px);
	img->px = NULL;
	img->w = img->h = 0;
}

void
jpeg_encode(const struct image *img, int quality, unsigned char **out, size_t *len)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr jerr;
	unsigned long n = 0;
	JSAMPROW row;

	*out = NULL;
	c.err = jpeg_std_error(&jerr); /* in-memory encoding of a valid image cannot fail */
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, out, &n);
	c.image_width = img->w;
	c.image_height = img->h;
	c.input_components = 3;
	c.in_color_space = JCS_RGB;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, quality, TRUE);
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < c.image_height) {
		row = img->px + (size_t)c.next_scanline * img->w * 3;
		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	*len = n;
}

/* ---- decoding ---------------------------------------------------------------- */

/* A progressive JPEG may hold any number of scans, each a full pass over the
 * coefficients: thousands of tiny scans make a small file slow to decode.
 * Photographs have about ten. (djpeg's -maxscans is the same guard.) */
#define MAX_SCANS 500

struct jdec {
	struct jpeg_error_mgr pub; /* first: libjpeg hands back a pointer to it */
	struct jpeg_progress_mgr progress;
	jmp_buf jb;
	char msg[JMSG_LENGTH_MAX + 64];
	unsigned char *row;        /* a CMYK scanline */
};

static void
jdec_fail(j_common_ptr c)
{
	struct jdec *d = (struct jdec *)c->err;
	char m[JMSG_LENGTH_MAX];

	c->err->format_message(c, m);
	snprintf(d->msg, sizeof(d->msg), "invalid JPEG: %s", m);
	longjmp(d->jb, 1);
}

/* Warnings that mean scan data was lost or is wrong abort the decode: libjpeg
 * would fill the rest with grey or garbage and carry on. A missing EOI marker is
 * truncation too (Pillow refuses such files as well). Junk between a scan and the
 * next marker is tolerated up to MAX_JUNK bytes: a few bytes of it come from
 * encoder quirks and leave every pixel intact (Pillow and TensorFlow accept those
 * files), more means the scan was misread. The other warnings (an unknown JFIF
 * version, a bad ICC profile) do not touch pixels and are ignored. */
#define MAX_JUNK 16

static void
jdec_message(j_common_ptr c, int level)
{
	struct jdec *d = (struct jdec *)c->err;
	char m[JMSG_LENGTH_MAX];
	const char *p;

	if (level != -1)
		return;
	switch (c->err->msg_code) {
	case JWRN_JPEG_EOF:
		snprintf(d->msg, sizeof(d->msg), "truncated JPEG");
		longjmp(d->jb, 1);
	case JWRN_EXTRANEOUS_DATA:
		if (c->err->msg_parm.i[0] <= MAX_JUNK)
			break;
		/* fall through */
	case JWRN_HIT_MARKER:
	case JWRN_HUFF_BAD_CODE:
	case JWRN_ARITH_BAD_CODE:
	case JWRN_MUST_RESYNC:
	case JWRN_NOT_SEQUENTIAL:
	case JWRN_BOGUS_PROGRESSION:
		c->err->format_message(c, m);
		p = strncmp(m, "Corrupt JPEG data: ", 19) == 0 ? m + 19 : m;
		snprintf(d->msg, sizeof(d->msg), "corrupt JPEG data: %s", p);
		longjmp(d->jb, 1);
	}
	c->err->num_warnings++;
}

static void
jdec_progress(j_common_ptr c)
{
	struct jdec *d = (struct jdec *)c->err;
	j_decompress_ptr dc = (j_decompress_ptr)c;

	if (dc->input_scan_number > MAX_SCANS) {
		snprintf(d->msg, sizeof(d->msg), "invalid JPEG: more than %d scans", MAX_SCANS);
		longjmp(d->jb, 1);
	}
}

/* Pillow's cmyk2rgb, R = (255 - K) - round((255 - K) * C / 255), on CMYK stored
 * inverted, as Photoshop stores it with its Adobe marker (and libjpeg passes it
 * through as stored, YCCK included). Pillow reads every 4-component JPEG as
 * inverted ("CMYK;I"), whatever the marker says, and so do we: then the stored
 * bytes are 255 - C, 255 - M, 255 - Y, 255 - K, and 255 - K is the stored k. */
static void
cmyk_to_rgb(unsigned char *out, const unsigned char *in, int w)
{
	int x, c, nk, t;

	for (x = 0; x < w; x++, in += 4, out += 3) {
		nk = in[3];
		for (c = 0; c < 3; c++) {
			t = (255 - in[c]) * nk + 128;
			out[c] = nk - (((t >> 8) + t) >> 8);
		}
	}
}

/* The largest of Pillow's draft() reductions 8, 4, 2, 1 at which side / scale
 * (unrounded) still reaches the minimum: w >= s * min for both sides. */
static int
jpeg_scale(int w, int h, int min_short, int min_long)
{
	int64_t s = w < h ? w : h, l = w < h ? h : w;
	int d;

	for (d = 8; d > 1; d /= 2)
		if (s >= d * (int64_t)min_short && l >= d * (int64_t)min_long)
			break;
	return d;
}

/* The part that runs under setjmp: everything it changes lives in *d and *out,
 * which the caller frees, so a longjmp back leaves nothing to undo here. */
static int
jdec_run(struct jdec *d, struct jpeg_decompress_struct *c, const void *data, size_t len,
    int min_short, int min_long, uint64_t max_pixels, struct image *out)
{
	JSAMPROW row;
	int cmyk;

	if (setjmp(d->jb))
		return -1;
	jpeg_create_decompress(c);
	c->progress = &d->progress;
	jpeg_mem_src(c, data, len);
	jpeg_read_header(c, TRUE);
	if (max_pixels && (uint64_t)c->image_width * c->image_height > max_pixels) {
		snprintf(d->msg, sizeof(d->msg), "image too large: %ux%u pixels (limit %llu)",
		    c->image_width, c->image_height, (unsigned long long)max_pixels);
		return -1;
	}
	switch (c->jpeg_color_space) {
	case JCS_GRAYSCALE:
	case JCS_RGB:
	case JCS_YCbCr:
		c->out_color_space = JCS_RGB;
		cmyk = 0;
		break;
	case JCS_CMYK:
	case JCS_YCCK:
		c->out_color_space = JCS_CMYK;
		cmyk = 1;
		break;
	default:
		snprintf(d->msg, sizeof(d->msg), "unsupported JPEG: %d components of unknown colour space",
		    c->num_components);
		return -1;
	}
	c->scale_num = 1;
	if (min_short > 0 || min_long > 0)
		c->scale_denom = jpeg_scale(c->image_width, c->image_height, min_short, min_long);
	c->dct_method = JDCT_ISLOW; /* libjpeg's default, which Pillow decodes with */
	jpeg_start_decompress(c);
	/* No image_alloc, which exits when memory runs out: with no limit set, a
	 * header may ask for more than there is, and that is the file's fault. */
	out->w = c->output_width;
	out->h = c->output_height;
	out->px = malloc((size_t)out->w * out->h * 3);
	if (cmyk)
		d->row = malloc((size_t)out->w * 4);
	if (!out->px || (cmyk && !d->row)) {
		snprintf(d->msg, sizeof(d->msg), "out of memory for %dx%d pixels", out->w, out->h);
		return -1;
	}
	while (c->output_scanline < c->output_height) {
		row = out->px + (size_t)c->output_scanline * out->w * 3;
		if (cmyk) {
			jpeg_read_scanlines(c, &d->row, 1);
			cmyk_to_rgb(row, d->row, out->w);
		} else
			jpeg_read_scanlines(c, &row, 1);
	}
	jpeg_finish_decompress(c);
	return 0;
}

int
jpeg_decode(const void *data, size_t len, int min_short, int min_long,
    uint64_t max_pixels, struct image *out, char *err, size_t errsz)
{
	struct jpeg_decompress_struct c;
	struct jdec d;
	int r;

	memset(&c, 0, sizeof(c)); /* jpeg_destroy_decompress looks at it, whatever fails */
	memset(&d, 0, sizeof(d));
	memset(out, 0, sizeof(*out));
	c.err = jpeg_std_error(&d.pub);
	d.pub.error_exit = jdec_fail;
	d.pub.emit_message = jdec_message;
	d.progress.progress_monitor = jdec_progress;
	r = jdec_run(&d, &c, data, len, min_short, min_long, max_pixels, out);
	jpeg_destroy_decompress(&c);
	free(d.row);
	if (r < 0) {
		image_free(out);
		snprintf(err, errsz, "%s", d.msg);
	}
	return r;
}
