#!/usr/bin/env bash
# imgshard --size 224 on 300 photo-sized JPEGs (500x375, like Flickr's) against Pillow
# doing the same decode + resize on one thread, and against bare libjpeg-turbo
# decoding at full size as the floor (a plain loop over the same files, and tjbench).
set -euo pipefail
d="$BENCH_DIR/imgshard"
mkdir -p "$d"
if [ ! -f "$d/photos/299.jpg" ]; then
	"$PY" - "$d/photos" <<'PY'
import os, sys
import numpy as np
from PIL import Image, ImageDraw, ImageFilter
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
rng = np.random.default_rng(3)
w, h = 500, 375
y, x = np.mgrid[0:h, 0:w] / max(w, h)
for i in range(300):
    # Smooth light and colour, shapes with soft edges, then sensor-like noise.
    c0, c1, c2 = rng.uniform(0, 255, (3, 3))
    t = rng.uniform(0, 1) * x + rng.uniform(0, 1) * y
    a = c0 + np.multiply.outer(t, c1 - c0) + np.multiply.outer(np.sin(6 * x * rng.uniform(0.5, 2)), c2 - 128) * 0.3
    im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(rng.integers(3, 9)):
        x0, y0 = rng.integers(-50, w), rng.integers(-50, h)
        box = (x0, y0, x0 + rng.integers(20, 250), y0 + rng.integers(20, 250))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        [draw.ellipse, draw.rectangle][rng.integers(0, 2)](box, fill=fill)
    im = im.filter(ImageFilter.GaussianBlur(1.2))
    a = np.asarray(im).astype(float) + rng.normal(0, 4, (h, w, 3))
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(f"{d}/{i}.jpg", quality=90)
PY
fi
n=$(ls "$d/photos" | wc -l)

now() { date +%s.%N; }
rate() { awk -v n="$n" -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", n / (b - a) }'; }
"$VITCAP_BIN/imgshard" -j 1 -s 224 "$d/photos" > /dev/null     # warm the page cache
best1=0 best2=0
for _ in 1 2 3; do
	t0=$(now); "$VITCAP_BIN/imgshard" -j 1 -s 224 "$d/photos" > "$d/out.tsr"; t1=$(now)
	best1=$(awk -v a="$best1" -v b="$(rate "$t0" "$t1")" 'BEGIN { print (b > a ? b : a) }')
	t0=$(now); "$VITCAP_BIN/imgshard" -j 2 -s 224 "$d/photos" > /dev/null; t1=$(now)
	best2=$(awk -v a="$best2" -v b="$(rate "$t0" "$t1")" 'BEGIN { print (b > a ? b : a) }')
done
pil=$("$PY" - "$d/photos" <<'PY'
import os, sys, time
import numpy as np
from PIL import Image
d = sys.argv[1]
paths = [os.path.join(d, f) for f in sorted(os.listdir(d))]
best = 0
for _ in range(3):
    t = time.perf_counter()
    for p in paths:
        im = Image.open(p)
        im.draft("RGB", (224, 224))
        a = np.asarray(im.convert("RGB").resize((224, 224), Image.BICUBIC))
    best = max(best, len(paths) / (time.perf_counter() - t))
print(f"{best:.1f}")
PY
)
# The floor: libjpeg-turbo decoding the same files at full size, nothing else.
cat > "$d/decode_loop.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <jpeglib.h>

int
main(int argc, char **argv)
{
	unsigned char **buf = calloc(argc, sizeof *buf), *px = NULL;
	unsigned long *len = calloc(argc, sizeof *len);
	double best = 0, t;
	struct timespec a, b;
	int i, rep;

	for (i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		fseek(f, 0, SEEK_END);
		len[i] = ftell(f);
		rewind(f);
		buf[i] = malloc(len[i]);
		if (fread(buf[i], 1, len[i], f) != len[i])
			return 1;
		fclose(f);
	}
	for (rep = 0; rep < 3; rep++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (i = 1; i < argc; i++) {
			struct jpeg_decompress_struct c;
			struct jpeg_error_mgr e;

			c.err = jpeg_std_error(&e);
			jpeg_create_decompress(&c);
			jpeg_mem_src(&c, buf[i], len[i]);
			jpeg_read_header(&c, TRUE);
			c.out_color_space = JCS_RGB;
			jpeg_start_decompress(&c);
			px = realloc(px, (size_t)c.output_width * c.output_height * 3);
			while (c.output_scanline < c.output_height) {
				JSAMPROW r = px + (size_t)c.output_scanline * c.output_width * 3;
				jpeg_read_scanlines(&c, &r, 1);
			}
			jpeg_finish_decompress(&c);
			jpeg_destroy_decompress(&c);
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		t = (argc - 1) / (b.tv_sec - a.tv_sec + (b.tv_nsec - a.tv_nsec) * 1e-9);
		best = t > best ? t : best;
	}
	printf("%.1f\n", best);
	return 0;
}
C
cc -O2 -o "$d/decode_loop" "$d/decode_loop.c" -ljpeg
floor=$("$d/decode_loop" "$d"/photos/*.jpg)
# tjbench reports megapixels per second; averaged over a few of the photos.
tj=$(for i in 0 1 2 3 4; do
	tjbench "$d/photos/$i.jpg" -rgb -nowrite -quiet -benchtime 0.5 -warmup 0.1 |
		awk '$1 == "RGB" { print $NF }'
done | awk '{ s += $1 } END { printf "%.1f", s / NR * 1e6 / (500 * 375) }')

echo "imgshard: $n JPEGs 500x375 q90 -> 224x224 (squash, bicubic), images/s (best of 3)"
printf 'imgshard --jobs 1          %8.1f\n' "$best1"
printf 'imgshard --jobs 2          %8.1f\n' "$best2"
printf 'Pillow, one thread         %8.1f\n' "$pil"
printf 'libjpeg-turbo decode only  %8.1f  (the same files, full size, no resize: the floor)\n' "$floor"
printf 'tjbench                    %8.1f  (one file decoded over and over: the best case)\n' "$tj"
awk -v a="$best1" -v p="$pil" -v f="$floor" 'BEGIN {
	printf "imgshard --jobs 1 is %.2f times as fast as Pillow and takes %.2f times as long as bare decoding\n", a / p, f / a }'
"$VITCAP_BIN/tsrinfo" -c "$d/out.tsr" | awk -v n="$n" '$1 != n { print "imgshard: wrote " $1 " records, not " n; exit 1 }'
