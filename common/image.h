/* image.h: 8-bit RGB images in memory; JPEG and PNG decoding and JPEG encoding
 * (jpeg.c, png.c), and resizing to the square a model wants (resize.c). */
#ifndef VITCAP_IMAGE_H
#define VITCAP_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* Row-major RGB, w * h * 3 bytes, the layout of a record's image U8[h, w, 3]. */
struct image {
	int w, h;
	unsigned char *px;
};

void image_alloc(struct image *img, int w, int h);
void image_free(struct image *img);

/* Decodes a JPEG (baseline or progressive; grayscale, RGB, YCbCr, CMYK or YCCK) or
 * PNG held in memory into RGB. JPEGs are decoded at the smallest DCT scale (1/8,
 * 2/8, ... 8/8) whose short side is at least min_short and long side at least
 * min_long (0 for full size). An image over max_pixels (by its header, before any
 * pixel is decoded) is refused. Returns 0, or -1 with a one-line reason in err. */
int image_decode(const void *data, size_t len, int min_short, int min_long,
    uint64_t max_pixels, struct image *out, char *err, size_t errsz);

/* JPEG-encodes img at quality 1..100 into a new malloc'd buffer. */
void jpeg_encode(const struct image *img, int quality, unsigned char **out, size_t *len);

enum resize_mode {
	RESIZE_SQUASH,          /* both sides to size, aspect ratio not kept */
	RESIZE_CENTER_CROP,     /* short side to size, the long side cropped centrally */
	RESIZE_PAD,             /* long side to size, the short side padded with black */
};

/* Resizes src to size x size with an antialiased filter (see resize.c). */
void image_resize(const struct image *src, int size, enum resize_mode mode, struct image *dst);

#endif
