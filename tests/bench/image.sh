#!/usr/bin/env bash
# Decode + resize of 300 photo-like 500x375 JPEGs to 224x224 (centre crop), one
# thread each: our image_decode + image_resize (through the test_image driver),
# Pillow doing the same (open, draft, convert, resize BICUBIC), and libjpeg-turbo's
# plain full-size decode (our decoder asked for full size: libjpeg-turbo alone plus
# one malloc), all from files already in memory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${VITCAP_UNIT:=$here/../../build/rel/tests}"
if [ ! -x "$VITCAP_UNIT/test_image" ]; then
	echo "image: skipped, no $VITCAP_UNIT/test_image (make build/rel/tests/test_image)"
	exit 0
fi
d="$BENCH_DIR/image"
mkdir -p "$d"
if [ ! -f "$d/done" ]; then
	"$PY" -c "
import sys; sys.path.insert(0, '$here/../ref')
import image_pillow as ip
from PIL import Image
for i in range(300):
    Image.fromarray(ip.photo(500, 375)).save('$d/%03d.jpg' % i, quality=90)
"
	touch "$d/done"
fi
files=("$d"/[0-9]*.jpg)
reps=3

ours=$("$VITCAP_UNIT/test_image" bench -r $reps -S 224 -m crop -s 224 "${files[@]}")
bare=$("$VITCAP_UNIT/test_image" bench -r $reps "${files[@]}")
pil=$("$PY" - $reps "${files[@]}" <<'PY'
import io, sys, time
from PIL import Image
reps, files = int(sys.argv[1]), sys.argv[2:]
data = [open(f, "rb").read() for f in files]
t0 = time.perf_counter()
for _ in range(reps):
    for b in data:
        im = Image.open(io.BytesIO(b))
        im.draft("RGB", (224, 224))
        im = im.convert("RGB")
        w, h = im.size
        s = min(w, h)
        x0, y0 = (w - s) // 2, (h - s) // 2
        im.resize((224, 224), Image.BICUBIC, box=(x0, y0, x0 + s, y0 + s))
t = time.perf_counter() - t0
print("%d images: %.4f s, %.1f images/s" % (reps * len(data), t, reps * len(data) / t))
PY
)
rate() { sed 's/.* \([0-9.]*\) images\/s.*/\1/' <<<"$1"; }
echo "image: ${#files[@]} JPEGs 500x375 -> 224x224 centre crop, $reps passes, one thread"
echo "  vitcap decode+resize:       $ours"
echo "  Pillow decode+resize:       $pil"
echo "  libjpeg-turbo full decode:  $bare"
awk -v o="$(rate "$ours")" -v p="$(rate "$pil")" -v b="$(rate "$bare")" 'BEGIN {
	printf "  vitcap is %.2f times as fast as Pillow; takes %.2f times the bare decode time\n", o / p, b / o }'
