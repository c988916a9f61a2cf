#!/usr/bin/env bats
# imgshard(1): a capsynth data set in every caption layout and container, checked
# with tsrinfo and with the safetensors library and Pillow (tests/ref/imgshard_ref.py);
# broken images; byte-identical output for any --jobs; shards and interruptions.
load helper

REF="$BATS_TEST_DIRNAME/ref/imgshard_ref.py"

setup_file() {
	export LC_ALL=C D="$BATS_FILE_TMPDIR"
	capsynth -n 12 -s 5 --size 80 -f flickr8k -o "$D/f8k"
	capsynth -n 12 -s 5 --size 80 -f flickr30k -o "$D/f30k"
	capsynth -n 12 -s 5 --size 80 -f coco -o "$D/coco"
	capsynth -n 12 -s 5 --size 80 -f karpathy --val 3 --test 3 --restval 2 -o "$D/karp"
	capsynth -n 12 -s 5 --size 80 -f karpathy --val 0 --test 0 --restval 0 -o "$D/karp0"
	# The same images in every container, members in sorted order like a folder walk.
	(cd "$D/f8k" && zip -qX ../f8k.zip images/*.jpg && tar -cf ../f8k.tar images/*.jpg &&
		tar -czf ../f8k.tar.gz images/*.jpg)
	# The flickr8k folder at 16 pixels in one stream, which the shards must add up to.
	imgshard -s 16 -c "$D/f8k/captions.txt" "$D/f8k/images" > "$D/all16.tsr"
	# Photo-like images of several shapes and kinds, for the comparison with Pillow.
	"$PY" - "$D/photos" <<-'PY'
		import os, sys
		import numpy as np
		from PIL import Image, ImageDraw
		d = sys.argv[1]; os.makedirs(d)
		rng = np.random.default_rng(1)
		for i, (w, h) in enumerate([(300, 200), (150, 260), (500, 375), (64, 64), (97, 31), (1200, 900)]):
		    y, x = np.mgrid[0:h, 0:w]
		    a = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], -1)
		    a = np.clip(a + rng.normal(0, 12, a.shape), 0, 255).astype(np.uint8)
		    im = Image.fromarray(a)
		    ImageDraw.Draw(im).ellipse((w // 4, h // 4, w // 2, h // 2), fill=(200, 30, 90))
		    im.save(f"{d}/p{i}.jpg", quality=90)
		im.convert("L").save(f"{d}/gray.jpg", quality=90)
		im.save(f"{d}/rgb.png")
		im.convert("P").save(f"{d}/palette.png")
	PY
}

@test "imgshard: flickr8k folder: keys, shapes and captions (tsrinfo, safetensors)" {
	imgshard -s 32 -c "$D/f8k/captions.txt" "$D/f8k/images" > "$D/out.tsr"
	run -0 tsrinfo -c "$D/out.tsr"
	[ "$output" = 12 ]
	run -0 bash -c "tsrinfo -j '$D/out.tsr' | head -1"
	[[ "$output" == '{"record":0,"key":"00000001.jpg","metadata":{"__key__":"00000001.jpg","captions":"[\"'* ]]
	[[ "$output" == *'"tensors":{"image":{"dtype":"U8","shape":[32,32,3]}}}' ]]
	run -0 "$PY" "$REF" check "$D/out.tsr" --size 32 --images "$D/f8k/images" \
		--captions "$D/f8k/captions.txt" --format flickr8k
	[ "$output" = "ok 12 records" ]
}

@test "imgshard: every caption layout gives the records the reference reads" {
	imgshard -s 16 -c "$D/f30k/results.csv" "$D/f30k/images" > "$D/a.tsr"
	"$PY" "$REF" check "$D/a.tsr" --size 16 --images "$D/f30k/images" \
		--captions "$D/f30k/results.csv" --format flickr30k
	imgshard -s 16 -c "$D/coco/annotations/captions_train2014.json" "$D/coco/train2014" > "$D/b.tsr"
	"$PY" "$REF" check "$D/b.tsr" --size 16 --images "$D/coco/train2014" \
		--captions "$D/coco/annotations/captions_train2014.json" --format coco
	imgshard -s 16 -c "$D/karp/dataset_coco.json" "$D/karp" > "$D/c.tsr"
	"$PY" "$REF" check "$D/c.tsr" --size 16 --images "$D/karp" \
		--captions "$D/karp/dataset_coco.json" --format karpathy
}

@test "imgshard: folder, zip, tar, tar.gz and a list on stdin give the same bytes" {
	imgshard -s 24 -c "$D/f8k/captions.txt" "$D/f8k/images" > "$D/folder.tsr"
	for c in f8k.zip f8k.tar f8k.tar.gz; do
		imgshard -s 24 -c "$D/f8k/captions.txt" "$D/$c" > "$D/c.tsr"
		cmp "$D/folder.tsr" "$D/c.tsr"
	done
	ls "$D"/f8k/images/*.jpg | imgshard -s 24 -c "$D/f8k/captions.txt" - > "$D/c.tsr"
	cmp "$D/folder.tsr" "$D/c.tsr"
	# Flickr30k's results.csv holds the same captions as Flickr8k's token file.
	imgshard -s 24 -c "$D/f30k/results.csv" "$D/f8k.zip" > "$D/c.tsr"
	cmp "$D/folder.tsr" "$D/c.tsr"
	# COCO and Karpathy's file for the same images.
	imgshard -s 24 -c "$D/coco/annotations/captions_train2014.json" "$D/coco/train2014" > "$D/a.tsr"
	imgshard -s 24 -c "$D/karp0/dataset_coco.json" "$D/coco/train2014" > "$D/b.tsr"
	cmp "$D/a.tsr" "$D/b.tsr"
}

@test "imgshard: the Kaggle Flickr30k row without its second separator is read" {
	sed 's/^00000002.jpg| 4| /00000002.jpg| 4   /' "$D/f30k/results.csv" > "$D/quirk.csv"
	grep -q '^00000002.jpg| 4   [A-Z]' "$D/quirk.csv"
	imgshard -s 16 -c "$D/quirk.csv" "$D/f30k/images" > "$D/a.tsr"
	imgshard -s 16 -c "$D/f30k/results.csv" "$D/f30k/images" > "$D/b.tsr"
	cmp "$D/a.tsr" "$D/b.tsr"
	"$PY" "$REF" check "$D/a.tsr" --size 16 --images "$D/f30k/images" \
		--captions "$D/quirk.csv" --format flickr30k
}

@test "imgshard: a bad caption line names the file and line: exit 1" {
	printf 'image_name| comment_number| comment\na.jpg| 0| fine\nno separator here\n' > "$D/bad.csv"
	run -1 imgshard -c "$D/bad.csv" "$D/f8k/images"
	[ "$output" = "imgshard: $D/bad.csv:3: expected image_name| comment_number| comment" ]
	printf 'what is this\n' > "$D/bad.txt"
	run -1 imgshard -c "$D/bad.txt" "$D/f8k/images"
	[ "$output" = "imgshard: $D/bad.txt: not a caption file in a known format (see --format)" ]
}

@test "imgshard: the format is recognised from the content; --format overrides" {
	for c in f8k/captions.txt f30k/results.csv coco/annotations/captions_train2014.json karp0/dataset_coco.json; do
		cp "$D/$c" "$D/renamed"
		imgshard -s 8 -c "$D/renamed" "$D/f8k/images" "$D/coco/train2014" > "$D/a.tsr"
		run -0 tsrinfo "$D/a.tsr"
		[ "$(grep -c 'captions=\["' <<< "$output")" = 12 ]
	done
	# A token file whose first name has a '|' looks like results.csv.
	{ printf 'odd|name.jpg#0\tA caption .\n'; cat "$D/f8k/captions.txt"; } > "$D/odd.txt"
	run -1 imgshard -c "$D/odd.txt" "$D/f8k/images"
	[[ "$output" == "imgshard: $D/odd.txt:1: expected image_name| comment_number| comment" ]]
	imgshard -s 8 --format flickr8k -c "$D/odd.txt" "$D/f8k/images" > "$D/a.tsr"
	imgshard -s 8 -c "$D/f8k/captions.txt" "$D/f8k/images" > "$D/b.tsr"
	cmp "$D/a.tsr" "$D/b.tsr"
	run -1 imgshard --format coco -c "$D/f8k/captions.txt" "$D/f8k/images"
	[[ "$output" == "imgshard: $D/f8k/captions.txt:1: "* ]]
	run -2 imgshard --format nope -c "$D/f8k/captions.txt" "$D/f8k/images"
	[[ "${lines[0]}" == "imgshard: --format: unknown value nope" ]]
}

@test "imgshard: Karpathy --split: train includes restval; only the split's images" {
	k="$D/karp/dataset_coco.json"
	for s in train val test; do
		imgshard -s 8 -c "$k" --split $s "$D/karp" > "$D/$s.tsr"
		"$PY" "$REF" check "$D/$s.tsr" --size 8 --images "$D/karp" --captions "$k" \
			--format karpathy --split $s
	done
	[ "$(tsrinfo -c "$D/train.tsr")" = 6 ]       # 4 train + 2 restval
	[ "$(tsrinfo -c "$D/val.tsr")" = 3 ]
	[ "$(tsrinfo -c "$D/test.tsr")" = 3 ]
	run -0 --separate-stderr imgshard -v -s 8 -c "$k" --split val "$D/karp"
	[ "$stderr" = "imgshard: 3 images, 0 skipped, 0 captions without an image, 0 images without captions" ]
	run -2 imgshard --split val --format coco -c "$k" "$D/karp"
	[[ "${lines[0]}" == "imgshard: --split needs --format karpathy" ]]
	run -1 imgshard --split val -c "$D/f8k/captions.txt" "$D/karp"
	[ "$output" = "imgshard: $D/f8k/captions.txt: --split needs Karpathy's dataset_*.json, not a flickr8k file" ]
	run -2 imgshard --split dev -c "$k" "$D/karp"
	run -2 imgshard --split val "$D/karp"
}

# Each broken image: made here, one warning naming it, counted, exit 0; --strict: exit 1.
make_broken() {
	"$PY" - "$1" "$D/photos" <<-'PY'
		import struct, sys, zlib
		d, photos = sys.argv[1:]
		jpg = bytearray(open(f"{photos}/p0.jpg", "rb").read())
		png = bytearray(open(f"{photos}/rgb.png", "rb").read())
		open(f"{d}/b1-empty.jpg", "wb").close()
		open(f"{d}/b2-truncated.jpg", "wb").write(jpg[: len(jpg) // 2])
		# A marker in the middle of the entropy-coded data: the scan is cut short
		# (random flips can decode silently into garbage, as in any decoder).
		bad = bytearray(jpg); sos = bad.find(b"\xff\xda"); mid = (sos + len(bad)) // 2
		bad[mid:mid + 2] = b"\xff\xd4"
		open(f"{d}/b3-corrupt.jpg", "wb").write(bad)
		open(f"{d}/b4-text.jpg", "w").write("this is not a picture\n")
		big = bytearray(jpg); sof = big.find(b"\xff\xc0")
		struct.pack_into(">HH", big, sof + 5, 65000, 65000)
		open(f"{d}/b5-huge.jpg", "wb").write(big)
		big = bytearray(png)
		struct.pack_into(">II", big, 16, 65000, 65000)
		struct.pack_into(">I", big, 29, zlib.crc32(bytes(big[12:29])))
		open(f"{d}/b6-huge.png", "wb").write(big)
	PY
}

@test "imgshard: broken images are skipped with one warning each and counted" {
	mkdir "$D/broken"
	make_broken "$D/broken"
	cp "$D/photos/p0.jpg" "$D/broken/good.jpg"
	run -0 --separate-stderr imgshard -s 16 "$D/broken" -o "$D/broken.tsr"
	b="imgshard: $D/broken"
	[ "${#stderr_lines[@]}" -eq 7 ]
	[ "${stderr_lines[0]}" = "$b/b1-empty.jpg: empty file" ]
	[ "${stderr_lines[1]}" = "$b/b2-truncated.jpg: truncated JPEG" ]
	[[ "${stderr_lines[2]}" == "$b/b3-corrupt.jpg: corrupt JPEG data: "* ]]
	[ "${stderr_lines[3]}" = "$b/b4-text.jpg: not a JPEG or PNG image" ]
	[[ "${stderr_lines[4]}" == "$b/b5-huge.jpg: image too large: 65000x65000 pixels"* ]]
	[[ "${stderr_lines[5]}" == "$b/b6-huge.png: image too large: 65000x65000 pixels"* ]]
	[ "${stderr_lines[6]}" = "imgshard: 1 images, 6 skipped" ]
	[ "$(tsrinfo "$D/broken.tsr")" = "$(printf '0\tkey=good.jpg\timage U8[16,16,3]')" ]
	# --strict stops at the first, before writing anything after it.
	for f in "$D"/broken/b*; do
		run -1 --separate-stderr imgshard --strict -s 16 "$D/photos/p1.jpg" "$f" "$D/photos/p2.jpg"
		[ "${#stderr_lines[@]}" -eq 1 ]
		[[ "$stderr" == "imgshard: $f: "* ]]
	done
	# In an archive the warning names the archive and the member.
	(cd "$D/broken" && zip -qX ../broken.zip b2-truncated.jpg good.jpg)
	run -0 --separate-stderr imgshard -s 16 "$D/broken.zip"
	[ "${stderr_lines[0]}" = "imgshard: $D/broken.zip:b2-truncated.jpg: truncated JPEG" ]
	run -0 --separate-stderr imgshard -s 16 --max-pixels 1000 "$D/broken/good.jpg"
	[[ "${stderr_lines[0]}" == "imgshard: $D/broken/good.jpg: image too large: 300x200 pixels"* ]]
}

@test "imgshard: --jobs 1 and --jobs 4 write the same bytes and the same messages" {
	mkdir -p "$D/mixed"
	make_broken "$D/mixed"
	cp "$D"/photos/* "$D"/f8k/images/* "$D/mixed/"
	imgshard -j 1 -s 40 -c "$D/f8k/captions.txt" "$D/mixed" > "$D/j1.tsr" 2> "$D/j1.err"
	for j in 2 4 7; do
		imgshard -j $j -s 40 -c "$D/f8k/captions.txt" "$D/mixed" > "$D/j.tsr" 2> "$D/j.err"
		cmp "$D/j1.tsr" "$D/j.tsr"
		cmp "$D/j1.err" "$D/j.err"
	done
	[ "$(tsrinfo -c "$D/j1.tsr")" = 21 ]
	[ "$(wc -l < "$D/j1.err")" = 7 ]
	[ "$(tail -1 "$D/j1.err")" = "imgshard: 21 images, 6 skipped, 0 captions without an image, 9 images without captions" ]
}

@test "imgshard: images match Pillow's decode and resize (squash, center-crop, pad)" {
	for m in squash center-crop pad; do
		imgshard -s 64 --resize $m "$D/photos" > "$D/$m.tsr"
		run -0 "$PY" "$REF" pillow "$D/$m.tsr" --size 64 --mode $m --images "$D/photos"
		echo "$m: $output"
	done
	imgshard -s 224 "$D/photos" > "$D/big.tsr"
	"$PY" "$REF" pillow "$D/big.tsr" --size 224 --mode squash --images "$D/photos"
	"$PY" "$REF" check "$D/big.tsr" --size 224 --images "$D/photos"
}

@test "imgshard: shards of K records named from the pattern, no temporary files left" {
	mkdir "$D/sh"
	imgshard -s 16 -c "$D/f8k/captions.txt" "$D/f8k/images" -o "$D/sh/train-%03d.tsr" --shard-size 5
	[ "$(cd "$D/sh" && ls -A)" = "$(printf 'train-000.tsr\ntrain-001.tsr\ntrain-002.tsr')" ]
	[ "$(tsrinfo -c "$D/sh/train-000.tsr")" = 5 ]
	[ "$(tsrinfo -c "$D/sh/train-001.tsr")" = 5 ]
	[ "$(tsrinfo -c "$D/sh/train-002.tsr")" = 2 ]
	cat "$D"/sh/train-*.tsr | cmp - "$D/all16.tsr"
	# Missing folders are made.
	imgshard -s 16 -c "$D/f8k/captions.txt" "$D/f8k/images" -o "$D/sh/new/er/t-%d.tsr" --shard-size 100
	cmp "$D/sh/new/er/t-0.tsr" "$D/all16.tsr"
	rm -r "$D/sh/new"
	# One file without a conversion; an empty input makes an empty stream.
	imgshard -s 16 -c "$D/f8k/captions.txt" "$D/f8k/images" -o "$D/sh/one.tsr"
	cmp "$D/sh/one.tsr" "$D/all16.tsr"
	mkdir "$D/none"
	imgshard "$D/none" -o "$D/sh/empty.tsr"
	[ -f "$D/sh/empty.tsr" ]
	[ ! -s "$D/sh/empty.tsr" ]
	imgshard "$D/none" -o "$D/sh/e-%d.tsr"
	[ -z "$(ls "$D/sh" | grep '^e-')" ]
	[ -z "$(ls -A "$D/sh" | grep '^\.')" ]
}

@test "imgshard: --shards n: n shards of sizes differing by one at most, in input order" {
	imgshard -s 16 -c "$D/f8k/captions.txt" "$D/f8k/images" --shards 5 -o "$D/n5/t-%02d.tsr"
	[ "$(cd "$D/n5" && ls -A)" = "$(printf 't-%02d.tsr\n' 0 1 2 3 4)" ]
	[ "$(for f in "$D"/n5/t-*.tsr; do tsrinfo -c "$f"; done | tr '\n' ' ')" = "2 2 3 2 3 " ]
	cat "$D"/n5/t-*.tsr | cmp - "$D/all16.tsr"
	# the same from a zip; more shards than images: the rest are empty, still files
	imgshard -s 16 "$D/f8k.zip" --shards 14 -o "$D/n14/t-%02d.tsr"
	[ "$(ls "$D/n14" | wc -l)" = 14 ]
	[ "$(for f in "$D"/n14/t-*.tsr; do tsrinfo -c "$f"; done | sort | uniq -c | tr -s ' ' | tr '\n' ,)" = " 2 0, 12 1," ]
	# with --split, only the split's images are counted
	imgshard -s 8 -c "$D/karp/dataset_coco.json" --split train "$D/karp" --shards 2 -o "$D/k2/t-%d.tsr"
	[ "$(tsrinfo -c "$D/k2/t-0.tsr") $(tsrinfo -c "$D/k2/t-1.tsr")" = "3 3" ]
	run -2 imgshard --shards 2 "$D/f8k/images"
	[ "$output" = "imgshard: --shards needs -o with a %d in the name, like train-%04d.tsr" ]
	run -2 imgshard --shards 2 --shard-size 3 -o "$D/x-%d" "$D/f8k/images"
	[ "$output" = "imgshard: --shard-size and --shards: give one" ]
	run -2 imgshard --shards 0 -o "$D/x-%d" "$D/f8k/images"
	run -2 imgshard --shards 2 -o "$D/x-%d" - <<< "$D/f8k/images"
	[[ "${lines[0]}" == "imgshard: --shards: cannot count the images of a list on stdin"* ]]
	[ -z "$(ls "$D" | grep '^x-')" ]
}

@test "imgshard: --keys writes only the images listed, as in Flickr8k's split files" {
	printf '00000003.jpg\r\nFlicker8k_Dataset/00000007.jpg\r\n\r\n00000011.jpg\r\nnot-there.jpg\r\n' > "$D/keys.txt"
	run -0 imgshard -v -s 8 -c "$D/f8k/captions.txt" --keys "$D/keys.txt" "$D/f8k.zip" -o "$D/keys.tsr"
	[ "$output" = "imgshard: 3 images, 0 skipped, 0 captions without an image, 0 images without captions" ]
	[ "$(record_keys "$D/keys.tsr" | paste -sd ' ')" = "00000003.jpg 00000007.jpg 00000011.jpg" ]
	# with --split, an image must be in both: val holds images 1-3
	[ "$(imgshard -s 8 -c "$D/karp/dataset_coco.json" --split val --keys <(echo COCO_val2014_000000000003.jpg) "$D/karp" | tsrinfo | cut -f2)" = "key=COCO_val2014_000000000003.jpg" ]
	run -1 imgshard --keys "$D/no-such-file" "$D/f8k/images"
	[ "$output" = "imgshard: open $D/no-such-file: No such file or directory" ]
}

@test "imgshard: bad output patterns are usage errors" {
	for p in 'x.tsr --shard-size 5' 'a-%d-%d.tsr' 'a-%s.tsr' 'a-%.tsr' 'a-%5.2d.tsr'; do
		run -2 imgshard -o $p "$D/f8k/images"
		[[ "${lines[0]}" == "imgshard: "* ]]
	done
	run -2 imgshard --shard-size 3 "$D/f8k/images"
	run -2 imgshard --shard-size 0 -o 'a-%d' "$D/f8k/images"
	run -2 imgshard -s 0 "$D/f8k/images"
	run -2 imgshard --resize stretch "$D/f8k/images"
	run -2 imgshard
	imgshard -s 8 -o "$D/pct-%%-%02d.tsr" --shard-size 100 "$D/f8k/images"
	[ -f "$D/pct-%-00.tsr" ]
}

@test "imgshard: a run killed midway leaves only complete shards" {
	mkdir "$D/many" "$D/killed"
	for i in $(seq 1 40); do
		for f in "$D"/photos/p*.jpg; do cp "$f" "$D/many/$i-$(basename "$f")"; done
	done
	imgshard -j 1 -s 224 "$D/many" -o "$D/killed/t-%04d.tsr" --shard-size 7 &
	pid=$!
	for _ in $(seq 1 500); do
		[ "$(ls "$D/killed" | wc -l)" -ge 3 ] && break
		sleep 0.01
	done
	kill -9 $pid
	wait $pid || true
	n=$(ls "$D/killed" | wc -l)
	[ "$n" -ge 3 ]
	[ "$n" -lt 35 ]          # 240 images make 35 shards: it was killed midway
	for f in "$D"/killed/*.tsr; do
		[ "$(tsrinfo -c "$f")" = 7 ]
	done
	# TERM removes the shard being written; only hidden names are temporary.
	rm -rf "$D/killed"/* "$D/killed"/.t-*
	imgshard -j 1 -s 224 "$D/many" -o "$D/killed/t-%04d.tsr" --shard-size 7 &
	pid=$!
	for _ in $(seq 1 500); do
		[ "$(ls -A "$D/killed" | wc -l)" -ge 2 ] && break
		sleep 0.01
	done
	kill -TERM $pid
	wait $pid || true
	[ -z "$(ls -A "$D/killed" | grep '^\.')" ]
}

@test "imgshard: images without captions are written without a captions entry" {
	printf '%s\n' "$D/photos/p0.jpg" "$D/f8k/images/00000003.jpg" |
		imgshard -s 8 -c "$D/f8k/captions.txt" - > "$D/a.tsr" 2> "$D/err"
	run -0 tsrinfo "$D/a.tsr"
	[ "${lines[0]}" = "$(printf '0\tkey=p0.jpg\timage U8[8,8,3]')" ]
	[[ "${lines[1]}" == "$(printf '1\tkey=00000003.jpg\timage U8[8,8,3]\tcaptions=["')"* ]]
	[ "$(cat "$D/err")" = "imgshard: 2 images, 0 skipped, 55 captions without an image, 1 images without captions" ]
	# Without -c there are no captions and no summary.
	imgshard -s 8 "$D/photos/p0.jpg" > "$D/a.tsr" 2> "$D/err"
	[ ! -s "$D/err" ]
	[ "$(tsrinfo "$D/a.tsr")" = "$(printf '0\tkey=p0.jpg\timage U8[8,8,3]')" ]
}

@test "imgshard: folders and archives: only images, hidden files and __MACOSX skipped" {
	mkdir -p "$D/tree/sub/__MACOSX" "$D/tree/.hidden"
	cp "$D/photos/p0.jpg" "$D/tree/B.JPEG"
	cp "$D/photos/p1.jpg" "$D/tree/sub/a.jpg"
	cp "$D/photos/rgb.png" "$D/tree/sub/c.Png"
	cp "$D/photos/p1.jpg" "$D/tree/.hidden/x.jpg"
	cp "$D/photos/p1.jpg" "$D/tree/sub/._a.jpg"
	cp "$D/photos/p1.jpg" "$D/tree/sub/__MACOSX/m.jpg"
	echo text > "$D/tree/notes.txt"
	ln -s "$D/photos" "$D/tree/link"
	run -0 bash -c "imgshard -s 8 '$D/tree' | tsrinfo -j | jq -r .key"
	[ "$output" = "$(printf 'B.JPEG\na.jpg\nc.Png')" ]
	rm "$D/tree/link"
	# Only names below the folder given count: a hidden folder may hold the data.
	mkdir "$D/.cache"
	cp -r "$D/tree" "$D/.cache/"
	run -0 bash -c "imgshard -s 8 '$D/.cache/tree' | tsrinfo -j | jq -r .key"
	[ "$output" = "$(printf 'B.JPEG\na.jpg\nc.Png')" ]
	(cd "$D/tree" && zip -qrX ../tree.zip .)
	run -0 bash -c "imgshard -s 8 '$D/tree.zip' | tsrinfo -j | jq -r .key | sort"
	[ "$output" = "$(printf 'B.JPEG\na.jpg\nc.Png')" ]
}

@test "imgshard: thousands of keys, captioned and not, with threads" {
	mkdir "$D/thousands"
	for i in $(seq 1000 2199); do ln -s "$D/f8k/images/00000001.jpg" "$D/thousands/x$i.jpg"; done
	cp "$D"/f8k/images/* "$D/thousands/"
	imgshard -j 4 -s 8 -c "$D/f8k/captions.txt" "$D/thousands" > "$D/a.tsr" 2> "$D/err"
	[ "$(cat "$D/err")" = "imgshard: 1212 images, 0 skipped, 0 captions without an image, 1200 images without captions" ]
	imgshard -j 1 -s 8 -c "$D/f8k/captions.txt" "$D/thousands" 2> /dev/null | cmp - "$D/a.tsr"
	"$PY" "$REF" check "$D/a.tsr" --size 8 --images "$D/thousands" \
		--captions "$D/f8k/captions.txt" --format flickr8k
}

@test "imgshard: a second image with the same key is skipped with a warning" {
	run -0 --separate-stderr imgshard -s 8 "$D/photos/p0.jpg" "$D/f8k.zip" "$D/f8k/images/00000001.jpg" -o "$D/a.tsr"
	[ "${stderr_lines[0]}" = "imgshard: $D/f8k/images/00000001.jpg: duplicate key 00000001.jpg" ]
	[ "${stderr_lines[1]}" = "imgshard: 13 images, 1 skipped" ]
	[ "$(tsrinfo -c "$D/a.tsr")" = 13 ]
}

@test "imgshard: a missing path or a damaged archive is an error: exit 1" {
	run -1 imgshard "$D/nope.jpg"
	[ "$output" = "imgshard: $D/nope.jpg: No such file or directory" ]
	head -c 3000 "$D/f8k.tar.gz" > "$D/cut.tar.gz"
	run -1 --separate-stderr imgshard -s 8 "$D/cut.tar.gz"
	[[ "${stderr_lines[-1]}" == "imgshard: $D/cut.tar.gz: "* ]]
	printf 'not a zip' > "$D/fake.zip"
	run -1 imgshard "$D/fake.zip"
	[[ "$output" == "imgshard: $D/fake.zip: "* ]]
}
