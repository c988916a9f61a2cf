/* image_decode.c: picks the decoder by the file's first bytes, not its name. */
#include <stdio.h>
#include <string.h>

#include "image.h"

int
image_decode(const void *data, size_t len, int min_short, int min_long,
    uint64_t max_pixels, struct image *out, char *err, size_t errsz)
{
	static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	const unsigned char *p = data;

	if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
		return jpeg_decode(data, len, min_short, min_long, max_pixels, out, err, errsz);
	if (len >= 8 && memcmp(p, png_sig, 8) == 0)
		return png_decode(data, len, max_pixels, out, err, errsz);
	memset(out, 0, sizeof(*out));
	snprintf(err, errsz, "not a JPEG or PNG image");
	return -1;
}
