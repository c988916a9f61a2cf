/* jpeg.c: JPEG encoding and decoding with libjpeg-turbo. */
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>

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
