"""Checks that capsynth's captions describe its pictures, reading only the JPEGs
and the captions file (Flickr8k layout): for every image, the shapes found in
the pixels (colour, kind, count, size, place, order) and the background must be
what the five captions say.

usage: capsynth_check.py DIR   (DIR from `capsynth -f flickr8k -o DIR`)
Prints "checked N images" and exits 0, or lists the mismatches and exits 1.
"""
import collections
import re
import sys

import numpy as np
from PIL import Image

# capsynth's palette (common/scene.c); colours are told apart by the nearest one.
PALETTE = {
    "red": (240, 60, 60), "orange": (250, 130, 20), "yellow": (235, 205, 35),
    "green": (50, 180, 70), "blue": (70, 120, 250), "purple": (175, 80, 230),
}
KINDS = ["circle", "square", "triangle", "diamond", "star"]
# area of each kind in squared radii, to tell sizes apart whatever the kind
AREA = {"circle": 3.1416, "square": 1.64 ** 2, "diamond": 2 * 1.05 ** 2,
        "triangle": 1.299 * 1.15 ** 2, "star": 1.3225 * 1.1 ** 2}


def components(mask):
    """4-connected components of a boolean mask, as lists of (y, x)."""
    seen = np.zeros_like(mask)
    out = []
    h, w = mask.shape
    for y0, x0 in zip(*np.nonzero(mask)):
        if seen[y0, x0]:
            continue
        seen[y0, x0] = True
        stack, comp = [(y0, x0)], []
        while stack:
            y, x = stack.pop()
            comp.append((y, x))
            for yy, xx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= yy < h and 0 <= xx < w and mask[yy, xx] and not seen[yy, xx]:
                    seen[yy, xx] = True
                    stack.append((yy, xx))
        out.append(comp)
    return out


def coverage(px, ys, xs, rgb):
    """How much of each pixel in a box around a component the shape covers,
    0..1: where the pixel lies between the local background's colour and the
    shape's. (The colour mask alone is blurred: JPEG halves the chroma
    resolution.)"""
    y0, y1 = max(ys.min() - 2, 0), min(ys.max() + 3, px.shape[0])
    x0, x1 = max(xs.min() - 2, 0), min(xs.max() + 3, px.shape[1])
    box = px[y0:y1, x0:x1]
    ring = np.concatenate([box[0], box[-1], box[:, 0], box[:, -1]])
    bg = np.median(ring, axis=0)
    d = rgb - bg
    alpha = np.clip(((box - bg) @ d) / (d @ d), 0, 1)
    own = np.zeros(alpha.shape, bool)
    own[ys - y0, xs - x0] = True   # not a neighbour's pixels
    own[1:-1, 1:-1] |= own[:-2, 1:-1] | own[2:, 1:-1] | own[1:-1, :-2] | own[1:-1, 2:]
    return alpha * own


def inside(kind, x, y):
    """capsynth(1)'s shapes, x and y in radii from the centre (y down)."""
    if kind == "circle":
        return x * x + y * y <= 1
    if kind == "square":
        return (abs(x) <= 0.82) & (abs(y) <= 0.82)
    if kind == "diamond":
        return abs(x) + abs(y) <= 1.05
    if kind == "triangle":
        return (y <= 0.575) & (abs(x) <= (y + 1.15) * np.tan(np.pi / 6))
    # star: outer points at 1.1 (one straight up), inner corners at 0.45 * 1.1
    rho, ang = np.hypot(x, y) / 1.1, np.arctan2(x, -y) % (2 * np.pi / 5)
    ang = np.minimum(ang, 2 * np.pi / 5 - ang)          # 0 at a point, pi/5 between
    px, py = rho * np.sin(ang), rho * np.cos(ang)
    ix, iy = 0.45 * np.sin(np.pi / 5), 0.45 * np.cos(np.pi / 5)
    return ix * (py - 1) - (iy - 1) * px <= 0


def kind_of(alpha):
    """The kind whose drawing, of the same area at the same centre, best matches
    the coverage, and its radius in pixels."""
    h, w = alpha.shape
    area = alpha.sum()
    cy = (alpha.sum(axis=1) * (np.arange(h) + 0.5)).sum() / area
    cx = (alpha.sum(axis=0) * (np.arange(w) + 0.5)).sum() / area
    sub = (np.arange(4) + 0.5) / 4
    gy = (np.arange(h)[:, None] + sub[None, :]).reshape(-1)
    gx = (np.arange(w)[:, None] + sub[None, :]).reshape(-1)
    best = None
    for kind in KINDS:
        r = np.sqrt(area / AREA[kind])
        cover = inside(kind, (gx[None, :] - cx) / r, (gy[:, None] - cy) / r)
        err = ((cover.reshape(h, 4, w, 4).mean(axis=(1, 3)) - alpha) ** 2).sum()
        if best is None or err < best[0]:
            best = (err, kind, r)
    return best[1], best[2]


def analyse(path):
    px = np.asarray(Image.open(path).convert("RGB")).astype(int)
    size = px.shape[0]
    border = np.concatenate([px[0], px[-1], px[:, 0], px[:, -1]])
    lum = np.median(border)
    bg = "white" if lum > 150 else "black" if lum < 40 else "gray"
    chroma = px.max(axis=2) - px.min(axis=2)
    shapes = []
    for comp in components(chroma > 60):
        if len(comp) < 12:      # JPEG ringing, not a shape
            continue
        ys, xs = np.array(comp).T
        core = px[ys, xs][chroma[ys, xs] > 100]
        rgb = np.median(core if len(core) else px[ys, xs], axis=0)
        colour = min(PALETTE, key=lambda c: np.sum((rgb - PALETTE[c]) ** 2))
        kind, radius = kind_of(coverage(px, ys, xs, rgb))
        shapes.append({"colour": colour, "kind": kind, "x": xs.mean() / size,
                       "y": ys.mean() / size,
                       "size": "large" if radius / size > 0.148 else "small"})
    return bg, shapes


def place_of(s):
    col = 0 if s["x"] < 0.385 else 2 if s["x"] > 0.615 else 1
    row = 0 if s["y"] < 0.385 else 2 if s["y"] > 0.615 else 1
    phrase = [["in the top left corner", "at the top", "in the top right corner"],
              ["on the left", "in the middle", "on the right"],
              ["in the bottom left corner", "at the bottom", "in the bottom right corner"]]
    return phrase[row][col]


NOUN = r"(?:(small|large) )?(%s) (%s)" % ("|".join(PALETTE), "|".join(KINDS))


def check(name, caps, bg, shapes):
    """The mismatches between one image's captions and its pixels."""
    text = " ".join(caps).lower()
    words = set(re.findall(r"[a-z]+", text))
    bad = []
    n = 3 if "three" in words else 2 if "two" in words or "pair" in words else 1
    if n != len(shapes):
        bad.append("captions say %d shapes, pixels show %d" % (n, len(shapes)))
        return bad
    said = {w for w in words if w in PALETTE}
    seen = {s["colour"] for s in shapes}
    if said != seen:
        bad.append("colours: captions %s, pixels %s" % (sorted(said), sorted(seen)))
    said = {w.rstrip("s") for w in words if w.rstrip("s") in KINDS}
    seen = {s["kind"] for s in shapes}
    if said != seen:
        bad.append("kinds: captions %s, pixels %s" % (sorted(said), sorted(seen)))
    for b in ("white", "gray", "black"):
        if b in words and b != bg:
            bad.append("background: captions %s, pixels %s" % (b, bg))
    sizes = set(re.findall(r"\b(small|large)\b", text))
    if n == 1:
        s = shapes[0]
        if sizes != {s["size"]}:
            bad.append("size: captions %s, pixels %s" % (sorted(sizes), s["size"]))
        if place_of(s) not in text:
            bad.append("place: pixels %s, captions %s" % (place_of(s), caps))
    by_x = sorted(shapes, key=lambda s: s["x"])
    by_y = sorted(shapes, key=lambda s: s["y"])
    for cap in caps:
        c = cap.lower()
        m = re.match(r"(?:a|an) %s (to the left of|above|to the right of|below) (?:a|an|another) %s"
                     % (NOUN, NOUN), c)
        if m and n == 2:
            first, second = (m.group(2), m.group(3)), (m.group(6), m.group(7))
            rel = m.group(4)
            order = by_x if "left" in rel or "right" in rel else by_y
            got = [(s["colour"], s["kind"]) for s in order]
            want = [first, second] if rel in ("to the left of", "above") else [second, first]
            if got != want:
                bad.append("relation: %r, pixels in that order: %s" % (cap, got))
            for sz, col, kind in (m.group(1, 2, 3), m.group(5, 6, 7)):
                if sz and not any(t["size"] == sz and t["colour"] == col and t["kind"] == kind
                                  for t in shapes):
                    bad.append("size: %r, pixels %s" % (cap, shapes))
        m = re.match(r"from left to right: (?:a|an) %s, (?:a|an) %s and (?:a|an) %s"
                     % (NOUN, NOUN, NOUN), c)
        if m:
            want = [(m.group(i + 1), m.group(i + 2)) for i in (1, 4, 7)]
            got = [(s["colour"], s["kind"]) for s in by_x]
            if got != want:
                bad.append("order: %r, pixels left to right: %s" % (cap, got))
        if "side by side" in c and abs(by_x[1]["x"] - by_x[0]["x"]) < abs(by_x[1]["y"] - by_x[0]["y"]):
            bad.append("side by side: pixels %s" % shapes)
        if "one above the other" in c and abs(by_y[1]["y"] - by_y[0]["y"]) < abs(by_y[1]["x"] - by_y[0]["x"]):
            bad.append("one above the other: pixels %s" % shapes)
    return bad


def main():
    d = sys.argv[1]
    caps = collections.defaultdict(list)
    with open(d + "/captions.txt") as f:
        for line in f:
            key, cap = line.rstrip("\n").split("\t")
            caps[key.split("#")[0]].append(cap)
    failures = 0
    for name, cs in caps.items():
        assert len(cs) == 5, name
        bg, shapes = analyse("%s/images/%s" % (d, name))
        bad = check(name, cs, bg, shapes)
        if bad:
            failures += 1
            for b in bad:
                print("%s: %s" % (name, b))
    print("checked %d images, %d mismatched" % (len(caps), failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
