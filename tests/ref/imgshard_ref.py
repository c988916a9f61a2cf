"""Independent checks of imgshard's records (tests/imgshard.bats).

  imgshard_ref.py check STREAM --size N --images DIR... [--captions FILE --format F [--split S]]
      Every record loads with the safetensors library; the keys are the image files
      under DIRs (walked in sorted order, as imgshard walks them, and kept to the
      split's images with --split); the captions are what this script reads from
      FILE, written in its own way from the dataset's documentation.
  imgshard_ref.py pillow STREAM --size N --mode M --images DIR...
      Each record's image against Pillow's draft + convert('RGB') + resize(BICUBIC)
      of the file with that key; fails when the mean absolute difference is 1 or
      more or any pixel differs by 8 or more.
"""
import argparse
import json
import os
import re
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tsr import records  # noqa: E402

IMAGE = re.compile(r"\.(jpe?g|png)$", re.I)


def walk(dirs):
    """Image files under dirs, each folder's names sorted bytewise, depth first."""
    out = []

    def visit(d):
        for name in sorted(os.listdir(d), key=os.fsencode):
            p = os.path.join(d, name)
            if name.startswith("."):
                continue
            if os.path.isdir(p) and not os.path.islink(p):
                visit(p)
            elif IMAGE.search(name):
                out.append(p)

    for d in dirs:
        visit(d)
    return out


def read_captions(path, fmt, split):
    """{key: [captions in file order]} and the set of keys in the split."""
    caps = {}

    def add(key, text):
        caps.setdefault(os.path.basename(key.strip()), []).append(text.strip())

    if fmt == "flickr30k":
        with open(path, encoding="utf-8") as f:
            lines = [l.rstrip("\n") for l in f if l.strip()]
        for i, line in enumerate(lines):
            parts = line.split("|", 2)
            if len(parts) == 3:
                if i == 0 and not parts[1].strip().isdigit():
                    continue  # the header
                add(parts[0], parts[2])
            else:  # "name| 4   caption": the separator after the number is missing
                m = re.fullmatch(r"\s*(\d+)[ \t](.*)", parts[1])
                assert m, line
                add(parts[0], m.group(2))
    elif fmt == "flickr8k":
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    key, text = line.rstrip("\n").split("\t", 1)
                    add(re.sub(r"#\d+$", "", key.strip()), text)
    elif fmt == "coco":
        d = json.load(open(path, encoding="utf-8"))
        names = {im["id"]: im["file_name"] for im in d["images"]}
        for name in names.values():
            caps.setdefault(os.path.basename(name), [])
        for a in d["annotations"]:
            add(names[a["image_id"]], a["caption"])
    elif fmt == "karpathy":
        d = json.load(open(path, encoding="utf-8"))
        wanted = {"train": {"train", "restval"}, "val": {"val"}, "test": {"test"}}
        for im in d["images"]:
            if split and im["split"] not in wanted[split]:
                continue
            caps.setdefault(im["filename"], [])
            for s in im["sentences"]:
                add(im["filename"], s["raw"])
    return caps


def check(args):
    files = walk(args.images)
    caps = read_captions(args.captions, args.format, args.split) if args.captions else {}
    if args.split:
        files = [p for p in files if os.path.basename(p) in caps]
    keys = [os.path.basename(p) for p in files]
    n = 0
    for n, (meta, arrays) in enumerate(records(args.stream), 1):
        key = meta["__key__"]
        assert n <= len(keys), f"record {n - 1}: {key}: more records than images"
        assert key == keys[n - 1], f"record {n - 1}: key {key}, expected {keys[n - 1]}"
        assert set(arrays) == {"image"}, f"{key}: tensors {sorted(arrays)}"
        img = arrays["image"]
        assert img.dtype == np.uint8 and img.shape == (args.size, args.size, 3), \
            f"{key}: {img.dtype} {img.shape}"
        want = caps.get(key, [])
        if want:
            got = json.loads(meta["captions"])
            assert got == want, f"{key}: captions {got!r}, expected {want!r}"
        else:
            assert "captions" not in meta, f"{key}: captions {meta['captions']!r}, expected none"
        assert set(meta) <= {"__key__", "captions"}, f"{key}: metadata {sorted(meta)}"
    assert n == len(keys), f"{n} records, {len(keys)} images"
    print(f"ok {n} records")


def pillow_image(path, size, mode):
    im = Image.open(path)
    w, h = im.size
    if mode == "pad":
        l = max(w, h)
        tw, th = max(1, (w * size * 2 + l) // (2 * l)), max(1, (h * size * 2 + l) // (2 * l))
        im.draft("RGB", (tw, th))
        im = im.convert("RGB")
        out = Image.new("RGB", (size, size))
        out.paste(im.resize((tw, th), Image.BICUBIC), ((size - tw) // 2, (size - th) // 2))
        return np.asarray(out)
    im.draft("RGB", (size, size))
    im = im.convert("RGB")
    if mode == "squash":
        return np.asarray(im.resize((size, size), Image.BICUBIC))
    W, H = im.size  # center-crop: the central square of the decoded image
    s = min(W, H)
    x0, y0 = (W - s) // 2, (H - s) // 2
    return np.asarray(im.resize((size, size), Image.BICUBIC, box=(x0, y0, x0 + s, y0 + s)))


def pillow(args):
    byname = {os.path.basename(p): p for p in walk(args.images)}
    worst_mean = worst_max = 0
    n = 0
    for n, (meta, arrays) in enumerate(records(args.stream), 1):
        want = pillow_image(byname[meta["__key__"]], args.size, args.mode).astype(int)
        diff = np.abs(arrays["image"].astype(int) - want)
        worst_mean, worst_max = max(worst_mean, diff.mean()), max(worst_max, diff.max())
    print(f"{n} images, worst mean abs diff {worst_mean:.3f}, worst max {worst_max}")
    assert n > 0
    assert worst_mean < 1 and worst_max < 8, "too far from Pillow"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["check", "pillow"])
    p.add_argument("stream")
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--images", nargs="+", required=True)
    p.add_argument("--captions")
    p.add_argument("--format")
    p.add_argument("--split")
    p.add_argument("--mode", default="squash")
    args = p.parse_args()
    try:
        check(args) if args.cmd == "check" else pillow(args)
    except AssertionError as e:
        print("imgshard_ref:", e, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
