#!/usr/bin/env bats
# Image decoding and resizing (common/jpeg.c, png.c, image_decode.c, resize.c),
# through the test_image driver: equal to Pillow 9.4 (Image.open, draft,
# convert('RGB'), resize BICUBIC) bit for bit on 810 files and targets
# (tests/ref/image_pillow.py), and every bad file an error of one line.
load helper

T="$VITCAP_UNIT/test_image"

@test "image: decode + resize equals Pillow's exactly (JPEG and PNG, 224/64/32, squash/crop/pad)" {
	run -0 "$PY" "$TESTS/ref/image_pillow.py" "$T" "$BATS_TEST_TMPDIR"
	[ "${lines[-1]}" = "810 cases, largest difference 0, 0 over the tolerance 0" ]
}

@test "image: the portable resize kernels equal the Pillow transcription too" {
	VITCAP_NO_AVX2=1 run -0 "$VITCAP_UNIT/test_resize"
	[ "$output" = "test_resize: all passed" ]
}

@test "image: a file that is neither JPEG nor PNG: exit 1, one line" {
	printf 'GIF89a\1\0\1\0' > "$BATS_TEST_TMPDIR/x.gif"
	run -1 "$T" run "$BATS_TEST_TMPDIR/x.gif" "$BATS_TEST_TMPDIR/out.ppm"
	[ "$output" = "test_image: $BATS_TEST_TMPDIR/x.gif: not a JPEG or PNG image" ]
	: > "$BATS_TEST_TMPDIR/empty"
	run -1 "$T" run "$BATS_TEST_TMPDIR/empty" "$BATS_TEST_TMPDIR/out.ppm"
	[ "$output" = "test_image: $BATS_TEST_TMPDIR/empty: not a JPEG or PNG image" ]
}

@test "image: truncated and corrupt JPEGs and PNGs are errors, not grey pixels" {
	cd "$BATS_TEST_TMPDIR"
	"$PY" -c '
import numpy as np
from PIL import Image
a = (np.random.RandomState(1).rand(120, 160, 3) * 255).astype(np.uint8)
Image.fromarray(a).save("a.jpg", quality=90)
Image.fromarray(a).save("p.jpg", quality=90, progressive=True)
Image.fromarray(a).save("a.png")
d = bytearray(open("a.jpg", "rb").read())
sos = d.index(b"\xff\xda")
d[sos + 200:sos + 204] = b"\xff\xd0\xff\xd9"
open("marker.jpg", "wb").write(d)
'
	head -c 5000 a.jpg > cut.jpg
	run -1 "$T" run cut.jpg out.ppm
	[ "$output" = "test_image: cut.jpg: truncated JPEG" ]
	head -c 5000 p.jpg > cutp.jpg
	run -1 "$T" run cutp.jpg out.ppm
	[ "$output" = "test_image: cutp.jpg: truncated JPEG" ]
	run -1 "$T" run marker.jpg out.ppm
	[ "$output" = "test_image: marker.jpg: corrupt JPEG data: premature end of data segment" ]
	head -c 20000 a.png > cut.png
	run -1 "$T" run cut.png out.ppm
	[ "$output" = "test_image: cut.png: truncated PNG" ]
	head -c 30 a.png > hdr.png
	run -1 "$T" run hdr.png out.ppm
	[ "$output" = "test_image: hdr.png: truncated PNG" ]
}

@test "image: a header claiming 65000 x 65000 pixels is refused before decoding" {
	cd "$BATS_TEST_TMPDIR"
	"$PY" -c '
import struct, zlib
from PIL import Image
Image.new("RGB", (16, 16)).save("s.jpg")
d = bytearray(open("s.jpg", "rb").read())
i = d.index(b"\xff\xc0") + 5
d[i:i + 4] = struct.pack(">HH", 65000, 65000)
open("big.jpg", "wb").write(d)
Image.new("RGB", (16, 16)).save("s.png")
d = bytearray(open("s.png", "rb").read())
d[16:24] = struct.pack(">II", 65000, 65000)
d[29:33] = struct.pack(">I", zlib.crc32(bytes(d[12:29])))
open("big.png", "wb").write(d)
'
	run -1 "$T" run -p 100000000 big.jpg out.ppm
	[ "$output" = "test_image: big.jpg: image too large: 65000x65000 pixels (limit 100000000)" ]
	run -1 "$T" run -p 100000000 big.png out.ppm
	[ "$output" = "test_image: big.png: image too large: 65000x65000 pixels (limit 100000000)" ]
}

@test "image: a PNG with a broken CRC is an error" {
	cd "$BATS_TEST_TMPDIR"
	"$PY" -c '
from PIL import Image
Image.new("RGB", (16, 16), (1, 2, 3)).save("s.png")
d = bytearray(open("s.png", "rb").read())
d[40] ^= 0x10
open("crc.png", "wb").write(d)
'
	run -1 "$T" run crc.png out.ppm
	[[ "$output" == "test_image: crc.png: invalid PNG: "* ]]
	[ "${#lines[@]}" -eq 1 ]
}

@test "image: JPEG DCT scaling picks Pillow's draft scale" {
	cd "$BATS_TEST_TMPDIR"
	"$PY" -c 'from PIL import Image; Image.new("RGB", (1001, 750), (9, 99, 199)).save("b.jpg")'
	# 750 / 2 >= 224 but 750 / 4 < 224; 750 / 4 = 187.5 >= 187; 1001 / 8 >= 125
	run -0 "$T" run -s 224 b.jpg out.ppm
	[ "$(head -c 15 out.ppm | sed -n 2p)" = "501 375" ]
	run -0 "$T" run -s 187 b.jpg out.ppm
	[ "$(head -c 15 out.ppm | sed -n 2p)" = "251 188" ]
	run -0 "$T" run -l 125 b.jpg out.ppm
	[ "$(head -c 15 out.ppm | sed -n 2p)" = "126 94" ]
	run -0 "$T" run b.jpg out.ppm
	[ "$(head -c 15 out.ppm | sed -n 2p)" = "1001 750" ]
}
