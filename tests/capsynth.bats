#!/usr/bin/env bats
# capsynth(1): the four layouts as Python reads them, determinism and the prefix
# property, images Pillow decodes, captions that match the pixels
# (tests/ref/capsynth_check.py), and captions a model must read the picture to
# get right: the most frequent one scores low, a rule that knows the scene
# (tests/ref/capsynth_oracle.py) high.
load helper

REF="$BATS_TEST_DIRNAME/ref"

setup() {
	D="$BATS_TEST_TMPDIR"
}

@test "capsynth: Flickr8k layout: 5 captions per image, JPEGs of --size pixels" {
	run -0 capsynth -n 12 --size 48 -o "$D/s"
	[ -z "$output" ]
	$PY - "$D/s" <<-'PY'
	import os, re, sys
	from PIL import Image
	d = sys.argv[1]
	lines = open(d + "/captions.txt").read().split("\n")
	assert lines[-1] == "" and len(lines) == 61, len(lines)
	names = sorted(os.listdir(d + "/images"))
	assert names == ["%08d.jpg" % i for i in range(1, 13)], names
	for k, line in enumerate(lines[:-1]):
	    key, cap = line.split("\t")
	    assert key == "%08d.jpg#%d" % (k // 5 + 1, k % 5), key
	    assert re.fullmatch(r"[A-Z][a-z]*( ([a-z]+|,|:))* \.", cap), cap
	for n in names:
	    im = Image.open(os.path.join(d, "images", n))
	    assert im.format == "JPEG" and im.mode == "RGB" and im.size == (48, 48), (n, im)
	    im.load()
	PY
}

@test "capsynth: the same seed gives the same bytes, another seed other images" {
	capsynth -n 20 --seed 7 -o "$D/a" --scenes "$D/a.jsonl"
	capsynth -n 20 --seed 7 -o "$D/b" --scenes "$D/b.jsonl"
	capsynth -n 20 --seed 8 -o "$D/c"
	diff -r "$D/a" "$D/b"
	cmp "$D/a.jsonl" "$D/b.jsonl"
	! cmp -s "$D/a/captions.txt" "$D/c/captions.txt"
	for i in 01 02 03 04 05; do
		! cmp -s "$D/a/images/000000$i.jpg" "$D/c/images/000000$i.jpg"
	done
}

@test "capsynth: -n 10 is a prefix of -n 40, in every layout" {
	for f in flickr8k flickr30k; do
		capsynth -n 10 -f $f -o "$D/$f-10" --scenes "$D/$f-10.jsonl"
		capsynth -n 40 -f $f -o "$D/$f-40" --scenes "$D/$f-40.jsonl"
		file=captions.txt
		[ $f = flickr8k ] || file=results.csv
		[ "$(head -c "$(wc -c < "$D/$f-10/$file")" "$D/$f-40/$file")" = "$(cat "$D/$f-10/$file")" ]
		[ "$(head -n 10 "$D/$f-40.jsonl")" = "$(cat "$D/$f-10.jsonl")" ]
		for img in "$D/$f-10"/images/*; do
			cmp "$img" "$D/$f-40/images/${img##*/}"
		done
	done
	capsynth -n 10 -f coco -o "$D/c10"
	capsynth -n 40 -f coco -o "$D/c40"
	$PY - "$D/c10/annotations/captions_train2014.json" "$D/c40/annotations/captions_train2014.json" <<-'PY'
	import json, sys
	a, b = (json.load(open(p)) for p in sys.argv[1:])
	assert b["images"][:10] == a["images"] and b["annotations"][:50] == a["annotations"]
	PY
}

@test "capsynth: Flickr30k results.csv as on Kaggle, same captions as Flickr8k" {
	capsynth -n 7 -o "$D/f8"
	run -0 capsynth -n 7 -f flickr30k -o "$D/f30"
	[ "$(head -n 2 "$D/f30/results.csv")" = "image_name| comment_number| comment
00000001.jpg| 0| $(head -n 1 "$D/f8/captions.txt" | cut -f2)" ]
	diff -r "$D/f8/images" "$D/f30/images"
	$PY - "$D" <<-'PY'
	import csv, sys
	d = sys.argv[1]
	with open(d + "/f30/results.csv", newline="") as f:
	    rows = list(csv.reader(f, delimiter="|", skipinitialspace=True))
	assert rows[0] == ["image_name", "comment_number", "comment"], rows[0]
	f8 = [l.rstrip("\n").split("\t") for l in open(d + "/f8/captions.txt")]
	assert len(rows) == 36
	for (key, cap), (name, k, comment) in zip(f8, rows[1:]):
	    assert key == "%s#%s" % (name, k) and cap == comment, (key, name, k)
	PY
}

@test "capsynth: COCO annotations, train and val" {
	capsynth -n 6 -f coco -o "$D/coco"
	capsynth -n 4 -f coco --split val --seed 2 -o "$D/coco"
	$PY - "$D/coco" <<-'PY'
	import json, os, sys
	from PIL import Image
	d = sys.argv[1]
	for split, n in (("train", 6), ("val", 4)):
	    j = json.load(open("%s/annotations/captions_%s2014.json" % (d, split)))
	    assert list(j) == ["info", "images", "licenses", "annotations"], list(j)
	    assert [im["id"] for im in j["images"]] == list(range(1, n + 1))
	    for im in j["images"]:
	        assert im["file_name"] == "COCO_%s2014_%012d.jpg" % (split, im["id"])
	        assert (im["width"], im["height"]) == (64, 64)
	        path = "%s/%s2014/%s" % (d, split, im["file_name"])
	        assert Image.open(path).size == (64, 64)
	    ann = j["annotations"]
	    assert len(ann) == 5 * n and [a["id"] for a in ann] == list(range(1, 5 * n + 1))
	    assert [a["image_id"] for a in ann] == [i // 5 + 1 for i in range(5 * n)]
	    for a in ann:
	        c = a["caption"]
	        assert c[0].isupper() and c.endswith(".") and not c.endswith(" .") and " ," not in c, c
	    assert sorted(os.listdir("%s/%s2014" % (d, split))) == \
	        sorted(im["file_name"] for im in j["images"])
	PY
}

@test "capsynth: Karpathy's dataset_coco.json with val, test and restval splits" {
	capsynth -n 12 -f karpathy --val 2 --test 3 --restval 1 -o "$D/k"
	$PY - "$D/k" <<-'PY'
	import json, os, re, sys
	from PIL import Image
	d = sys.argv[1]
	j = json.load(open(d + "/dataset_coco.json"))
	assert list(j) == ["images", "dataset"] and j["dataset"] == "coco"
	ims = j["images"]
	assert [im["split"] for im in ims] == ["val"] * 2 + ["test"] * 3 + ["restval"] + ["train"] * 6
	for i, im in enumerate(ims):
	    assert set(im) == {"filepath", "sentids", "filename", "imgid", "split", "sentences", "cocoid"}
	    folder = "train2014" if im["split"] == "train" else "val2014"
	    assert im["filepath"] == folder and im["imgid"] == i and im["cocoid"] == i + 1
	    assert im["filename"] == "COCO_%s_%012d.jpg" % (folder, i + 1)
	    assert Image.open(os.path.join(d, im["filepath"], im["filename"])).size == (64, 64)
	    assert im["sentids"] == list(range(5 * i, 5 * i + 5))
	    assert [s["sentid"] for s in im["sentences"]] == im["sentids"]
	    for s in im["sentences"]:
	        assert s["imgid"] == i
	        assert s["tokens"] == re.findall(r"[a-z]+", s["raw"].lower()), s
	        assert s["raw"][0].isupper() and s["raw"].endswith(".") and " ." not in s["raw"]
	assert len(os.listdir(d + "/val2014")) == 6 and len(os.listdir(d + "/train2014")) == 6
	PY
}

@test "capsynth: --scenes lists each image's shapes and its captions" {
	capsynth -n 30 -o "$D/s" --scenes "$D/s.jsonl"
	run -0 capsynth -n 30 -o "$D/s2" --scenes -
	[ "$output" = "$(cat "$D/s.jsonl")" ]
	$PY - "$D" <<-'PY'
	import json, sys
	d = sys.argv[1]
	caps = [l.rstrip("\n").split("\t")[1] for l in open(d + "/s/captions.txt")]
	scenes = [json.loads(l) for l in open(d + "/s.jsonl")]
	n = {"one": 1, "pair": 2, "twin": 2, "trio": 3, "triplet": 3}
	assert len(scenes) == 30
	for i, s in enumerate(scenes):
	    assert s["image"] == "%08d.jpg" % (i + 1)
	    assert s["captions"] == caps[5 * i:5 * i + 5]
	    assert len(s["shapes"]) == n[s["layout"]] and s["background"] in ("white", "gray", "black")
	    for sh in s["shapes"]:
	        assert 0 < sh["x"] < 64 and 0 < sh["y"] < 64 and 4 < sh["r"] < 16, sh
	PY
}

@test "capsynth: the captions name the colours, kinds, counts and places in the pixels" {
	capsynth -n 400 --seed 3 -o "$D/s"
	run -0 $PY "$REF/capsynth_check.py" "$D/s"
	[ "$output" = "checked 400 images, 0 mismatched" ]
}

@test "capsynth: the pixel checker notices captions that lie" {
	capsynth -n 40 --seed 3 -o "$D/s"
	sed -i 's/red/blue/; s/two/three/; s/Two/Three/' "$D/s/captions.txt"
	run -1 $PY "$REF/capsynth_check.py" "$D/s"
	[[ "$output" == *"colours: captions"* ]]
	[[ "$output" == *"captions say 3 shapes, pixels show 2"* ]]
}

@test "capsynth: ignoring the picture scores low, reading it scores high" {
	capsynth -n 2000 --seed 1 -o "$D/train"
	capsynth -n 500 --seed 2 -o "$D/test" --scenes "$D/test.jsonl"
	sed 's/#[0-4]\t/\t/' "$D/test/captions.txt" > "$D/refs.tsv"
	frequent=$(cut -f2 "$D/train/captions.txt" | sort | uniq -c | sort -k1,1nr -k2 | head -n 1 |
		sed 's/^ *[0-9]* //')
	cut -f1 "$D/refs.tsv" | uniq | awk -v c="$frequent" '{print $0 "\t" c}' > "$D/frequent.tsv"
	$PY "$REF/capsynth_oracle.py" "$D/test.jsonl" > "$D/oracle.tsv"
	$PY "$REF/capsynth_oracle.py" --error 0.2 "$D/test.jsonl" > "$D/noisy.tsv"
	frequent_bleu=$(bleu -b --tsv -r "$D/refs.tsv" "$D/frequent.tsv")
	oracle_bleu=$(bleu -b --tsv -r "$D/refs.tsv" "$D/oracle.tsv")
	noisy_bleu=$(bleu -b --tsv -r "$D/refs.tsv" "$D/noisy.tsv")
	echo "most frequent \"$frequent\": $frequent_bleu; oracle: $oracle_bleu; oracle, 20% errors: $noisy_bleu"
	awk -v f="$frequent_bleu" -v o="$oracle_bleu" -v n="$noisy_bleu" \
		'BEGIN { exit !(f < 15 && o >= 60 && n >= 50) }'
}

@test "capsynth: --quality sets the JPEG quality" {
	capsynth -n 5 -q 30 -o "$D/lo"
	capsynth -n 5 -q 98 -o "$D/hi"
	[ "$(cat "$D"/lo/images/* | wc -c)" -lt "$(cat "$D"/hi/images/* | wc -c)" ]
	cmp "$D/lo/captions.txt" "$D/hi/captions.txt"
}

@test "capsynth: bad usage is exit 2 with one line" {
	for args in "-n x" "-n -1" "-n 100000000" "-q 0" "-q 101" "--size 8" "--seed -1" \
	    "-f tsv" "--split test -f coco" "--split val" "--val 1" "-f karpathy -n 3 --val 2 --test 2" \
	    "extra"; do
		run -2 capsynth $args -o "$D/x"
		one_line_error capsynth
	done
	run -2 capsynth -n 1
	one_line_error capsynth
	[ "$output" = "capsynth: no output folder: give -o dir" ]
	run -2 capsynth -n x -o "$D/x"
	[ "$output" = "capsynth: --count: not an integer: x" ]
	[ ! -e "$D/x" ]
}

@test "capsynth: an output folder that cannot be made is exit 1 with one line" {
	touch "$D/file"
	run -1 capsynth -n 2 -o "$D/file/sub"
	one_line_error capsynth
	[ "$output" = "capsynth: mkdir $D/file/sub: Not a directory" ]
	run -1 capsynth -n 2 -o "$D/file"
	one_line_error capsynth
	run -1 capsynth -n 2 -o "$D/out" --scenes "$D/none/scenes.jsonl"
	one_line_error capsynth
	[ -z "$(find "$D/out" -type f)" ]
}

@test "capsynth: a failed write is exit 1 and leaves no temporary files" {
	[ -w /dev/full ] || skip "no /dev/full"
	run -1 bash -c 'capsynth -n 3 -o "$1" --scenes - > /dev/full' sh "$D/out"
	[ "$output" = "capsynth: write stdout: No space left on device" ]
	[ -z "$(find "$D/out" -name '*.tmp*')" ]
}
