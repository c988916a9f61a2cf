/* png.c: PNG decoding with libpng, from memory, to 8-bit RGB.
 *
 * Every layout ends as Pillow's convert('RGB') leaves it: palettes are looked
 * up, gray is replicated, 1/2/4-bit gray is scaled to 0..255, 16-bit samples keep
 * their high byte (Pillow's "RGB;16B"), and alpha or a tRNS colour key is dropped,
 * not composited. Gamma, colour profiles and the background chunk are ignored, as
 * Pillow ignores them. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "image.h"

struct pdec {
	const unsigned char *p;
	size_t len, pos;
	char msg[160];
	png_bytep *rows;
};

static void
pdec_error(png_structp png, png_const_charp m)
{
	struct pdec *d = png_get_error_ptr(png);

	if (!d->msg[0])
		snprintf(d->msg, sizeof(d->msg), "invalid PNG: %s", m);
	png_longjmp(png, 1);
}

/* Warnings (a bad ancillary chunk CRC, extra image data) leave the pixels
 * whole; libpng's default would print them on stderr. */
static void
pdec_warning(png_structp png, png_const_charp m)
{
	(void)png;
	(void)m;
}

static void
pdec_read(png_structp png, png_bytep out, size_t n)
{
	struct pdec *d = png_get_io_ptr(png);

	if (n > d->len - d->pos) {
		snprintf(d->msg, sizeof(d->msg), "truncated PNG");
		png_error(png, "truncated");
	}
	memcpy(out, d->p + d->pos, n);
	d->pos += n;
}

/* The part that runs under setjmp: everything it changes lives in *d and *out,
 * which the caller frees. */
static int
pdec_run(struct pdec *d, png_structp png, png_infop info, uint64_t max_pixels,
    struct image *out)
{
	png_uint_32 w, h, y;
	int depth, type;

	if (setjmp(png_jmpbuf(png)))
		return -1;
	png_set_read_fn(png, d, pdec_read);
	png_read_info(png, info);
	png_get_IHDR(png, info, &w, &h, &depth, &type, NULL, NULL, NULL);
	if ((max_pixels && (uint64_t)w * h > max_pixels) || w > INT32_MAX || h > INT32_MAX ||
	    (uint64_t)w * h > SIZE_MAX / 3) {
		snprintf(d->msg, sizeof(d->msg), "image too large: %lux%lu pixels (limit %llu)",
		    (unsigned long)w, (unsigned long)h, (unsigned long long)max_pixels);
		return -1;
	}
	if (type == PNG_COLOR_TYPE_PALETTE)
		png_set_palette_to_rgb(png);
	if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
		png_set_expand_gray_1_2_4_to_8(png);
	if (depth == 16)
		png_set_strip_16(png);
	if ((type & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
		png_set_strip_alpha(png);
	if (!(type & PNG_COLOR_MASK_COLOR))
		png_set_gray_to_rgb(png);
	png_set_interlace_handling(png);
	png_read_update_info(png, info);
	if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8 ||
	    png_get_rowbytes(png, info) != (size_t)w * 3) {
		snprintf(d->msg, sizeof(d->msg), "unsupported PNG: colour type %d, depth %d", type, depth);
		return -1;
	}
	/* No image_alloc, which exits when memory runs out: with no limit set, a
	 * header may ask for more than there is, and that is the file's fault. */
	out->w = w;
	out->h = h;
	out->px = malloc((size_t)w * h * 3);
	d->rows = malloc(h * sizeof(*d->rows));
	if (!out->px || !d->rows) {
		snprintf(d->msg, sizeof(d->msg), "out of memory for %lux%lu pixels", (unsigned long)w,
		    (unsigned long)h);
		return -1;
	}
	for (y = 0; y < h; y++)
		d->rows[y] = out->px + (size_t)y * w * 3;
	/* The chunks after the image data are not read: Pillow, too, accepts a file
	 * whose pixels are all there but whose IEND is cut off. */
	png_read_image(png, d->rows);
	return 0;
}

int
png_decode(const void *data, size_t len, uint64_t max_pixels, struct image *out,
    char *err, size_t errsz)
{
	struct pdec d;
	png_structp png;
	png_infop info = NULL;
	int r = -1;

	memset(&d, 0, sizeof(d));
	memset(out, 0, sizeof(*out));
	d.p = data;
	d.len = len;
	png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &d, pdec_error, pdec_warning);
	if (png)
		info = png_create_info_struct(png);
	if (!info)
		snprintf(d.msg, sizeof(d.msg), "out of memory");
	else
		r = pdec_run(&d, png, info, max_pixels, out);
	png_destroy_read_struct(&png, &info, NULL);
	free(d.rows);
	if (r < 0) {
		image_free(out);
		snprintf(err, errsz, "%s", d.msg);
	}
	return r;
}
