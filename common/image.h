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
 * PNG held in memory into RGB. JPEGs are decoded at the smallest DCT scale of 1/8,
 * 1/4, 1/2 or 1/1 (the ones Pillow's draft() uses, and the fast ones) at which
 * short side / scale >= min_short and long side / scale >= min_long, before
 * rounding up (0 and 0: full size); for min_short = min_long = N that is the
 * scale of Pillow's draft('RGB', (N, N)). An image over max_pixels (0: no limit)
 * by its header is refused before any pixel is decoded. Returns 0 with a new
 * allocation in out, or -1 with a one-line reason in err and out zeroed. */
int image_decode(const void *data, size_t len, int min_short, int min_long,
    uint64_t max_pixels, struct image *out, char *err, size_t errsz);

/* The two decoders image_decode picks between by the first bytes; same contract. */
int jpeg_decode(const void *data, size_t len, int min_short, int min_long,
    uint64_t max_pixels, struct image *out, char *err, size_t errsz);
int png_decode(const void *data, size_t len, uint64_t max_pixels, struct image *out,
    char *err, size_t errsz);

/* JPEG-encodes img at quality 1..100 into a new malloc'd buffer. */
void jpeg_encode(const struct image *img, int quality, unsigned char **out, size_t *len);

enum resize_mode {
	RESIZE_SQUASH,          /* both sides to size, aspect ratio not kept */
	RESIZE_CENTER_CROP,     /* short side to size, the long side cropped centrally */
	RESIZE_PAD,             /* long side to size, the short side padded with black */
};

/* Resizes src to size x size into a new allocation in dst, with the filter of
 * Pillow's resize(..., BICUBIC) (see resize.c); pad fills with black. */
void image_resize(const struct image *src, int size, enum resize_mode mode, struct image *dst);

#endif
