"""Decode + resize against Pillow: image_decode and image_resize (through the
test_image driver) and Pillow's Image.open, draft, convert('RGB') and
resize(BICUBIC) on the same files, for a range of contents, sizes and encodings.

    image_pillow.py DRIVER WORKDIR [--tol N]

Prints one line per file and target (the largest and the mean absolute difference
per channel value) and exits 1 when any difference exceeds --tol (default 0: the
two are expected to agree bit for bit, decoding with the same libjpeg-turbo).

What we do, and so what Pillow is asked to do here:
  - JPEGs decode at 1/s, s the largest of 8, 4, 2 with short/s >= min_short and
    long/s >= min_long; for squash and crop (min_short = N) that is exactly
    draft('RGB', (N, N)); for pad (min_long = N) draft() cannot ask for it, and
    draft_scale() sets the scale as draft() would.
  - squash: resize((N, N)); crop: resize((N, N), box=(x0, y0, x0+s, y0+s)), the
    central square on whole pixels, x0 = (w - s) // 2; pad: resize to the long
    side N and the short side round-half-up(N * short / long), pasted on black at
    ((N - w') // 2, (N - h') // 2).
"""
import io
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
from PIL import Image

rng = np.random.RandomState(20240601)


def photo(w, h):
    """Something like a photograph: smooth shading at several scales, a few
    sharp-edged shapes, and fine grain."""
    acc = np.zeros((h, w, 3))
    for octave, amp in ((2, 90), (6, 50), (24, 25), (96, 12)):
        sw, sh = max(1, w * octave // max(w, h)), max(1, h * octave // max(w, h))
        small = (rng.rand(sh + 1, sw + 1, 3) * 255).astype(np.uint8)
        big = Image.fromarray(small).resize((w, h), Image.BICUBIC)
        acc += (np.asarray(big, dtype=np.float64) - 127.5) * amp / 127.5
    acc += 128
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(6):
        cx, cy, r = rng.rand() * w, rng.rand() * h, (0.05 + rng.rand() * 0.2) * max(w, h)
        colour = rng.rand(3) * 255
        if rng.rand() < 0.5:
            m = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        else:
            m = (abs(xx - cx) < r) & (abs(yy - cy) < r * 0.6)
        acc[m] = acc[m] * 0.3 + colour * 0.7
    acc += rng.randn(h, w, 3) * 4
    return np.clip(acc, 0, 255).astype(np.uint8)


def contents():
    yield "photo500x375", photo(500, 375)
    yield "photo375x500", photo(375, 500)
    yield "photo4000x3000", photo(4000, 3000)
    yield "photo1001x750", photo(1001, 750)
    yield "noise500x375", (rng.rand(375, 500, 3) * 255).astype(np.uint8)
    g = np.zeros((300, 451, 3), np.uint8)
    g[..., 0] = np.linspace(0, 255, 451)[None, :]
    g[..., 1] = np.linspace(255, 0, 300)[:, None]
    g[..., 2] = 128
    yield "gradient451x300", g
    yield "photo3x1000", photo(3, 1000)
    yield "photo1000x3", photo(1000, 3)
    yield "photo1x1", photo(1, 1)
    yield "photo17x9", photo(17, 9)
    yield "photo224x224", photo(224, 224)


def png16(a):
    """A 16-bit RGB or RGBA PNG, which Pillow cannot write."""
    h, w, c = a.shape
    raw = b"".join(b"\0" + a[y].astype(">u2").tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2 if c == 3 else 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def encodings(name, a):
    """(file name, bytes) for each way of storing the array."""
    im = Image.fromarray(a)

    def save(img, fmt, **kw):
        b = io.BytesIO()
        img.save(b, fmt, **kw)
        return b.getvalue()

    yield name + "-q90.jpg", save(im, "JPEG", quality=90)
    if a.shape[0] * a.shape[1] > 100000:
        return  # the big ones: baseline only, to keep the test quick
    base = save(im, "JPEG", quality=80)
    for args in (["-progressive"], ["-restart", "1"], ["-arithmetic"]):
        # libjpeg-turbo's own progressive script, restart markers, arithmetic coding
        r = subprocess.run(["jpegtran"] + args, input=base, stdout=subprocess.PIPE, check=True)
        yield "%s-jpegtran%s.jpg" % (name, args[0]), r.stdout
    yield name + "-q75-444.jpg", save(im, "JPEG", quality=75, subsampling=0)
    yield name + "-progressive.jpg", save(im, "JPEG", quality=85, progressive=True)
    yield name + "-gray.jpg", save(im.convert("L"), "JPEG", quality=90)
    yield name + "-cmyk.jpg", save(im.convert("CMYK"), "JPEG", quality=90)
    yield name + ".png", save(im, "PNG")
    yield name + "-rgba.png", save(Image.fromarray(np.dstack([a, a[..., :1]])), "PNG")
    yield name + "-gray.png", save(im.convert("L"), "PNG")
    yield name + "-la.png", save(im.convert("LA"), "PNG")
    yield name + "-palette.png", save(im.convert("P", palette=Image.ADAPTIVE, colors=200), "PNG")
    # 16-bit samples: Pillow keeps the high byte, as we do. (16-bit gray is left
    # out: Pillow 9.4 opens it as mode I and clips it to 255 in convert('RGB').)
    a16 = a.astype(np.uint32) * 256 + rng.randint(0, 256, a.shape)
    yield name + "-rgb16.png", png16(a16)
    yield name + "-rgba16.png", png16(np.dstack([a16, a16[..., :1]]))


def jpeg_scale(w, h, min_short, min_long):
    s, l = min(w, h), max(w, h)
    if min_short <= 0 and min_long <= 0:
        return 1
    for d in (8, 4, 2):
        if s >= d * min_short and l >= d * min_long:
            return d
    return 1


def draft_scale(im, s):
    """What draft() does once it has picked the scale s (Pillow 9.4's
    JpegImageFile.draft): draft() itself limits both sides by the size asked for,
    so it cannot ask for a scale that only the long side limits."""
    d, e, o, a = im.tile[0]
    e = (e[0], e[1], (e[2] - e[0] + s - 1) // s + e[0], (e[3] - e[1] + s - 1) // s + e[1])
    im._size = ((im.size[0] + s - 1) // s, (im.size[1] + s - 1) // s)
    im.tile = [(d, e, o, a)]
    im.decoderconfig = (s, 0)


def pillow(path, n, mode):
    im = Image.open(path)
    w, h = im.size
    if im.format == "JPEG":
        ms, ml = (0, n) if mode == "pad" else (n, 0)
        s = jpeg_scale(w, h, ms, ml)
        if mode != "pad":
            im.draft("RGB", (n, n))
        else:
            draft_scale(im, s)
        want = ((w + s - 1) // s, (h + s - 1) // s)
        assert im.size == want, (path, im.size, want)
    im = im.convert("RGB")
    w, h = im.size
    if mode == "squash":
        return np.asarray(im.resize((n, n), Image.BICUBIC))
    if mode == "crop":
        s = min(w, h)
        x0, y0 = (w - s) // 2, (h - s) // 2
        return np.asarray(im.resize((n, n), Image.BICUBIC, box=(x0, y0, x0 + s, y0 + s)))
    l = max(w, h)
    rw, rh = max(1, (2 * w * n + l) // (2 * l)), max(1, (2 * h * n + l) // (2 * l))
    out = Image.new("RGB", (n, n))
    out.paste(im.resize((rw, rh), Image.BICUBIC), ((n - rw) // 2, (n - rh) // 2))
    return np.asarray(out)


def ours(driver, path, out, args):
    subprocess.run([driver, "run"] + args + [path, out], check=True)
    with open(out, "rb") as f:
        data = f.read()
    # "P6\n<w> <h>\n255\n" then the pixels
    magic, dims, maxv, rest = data.split(b"\n", 3)
    w, h = map(int, dims.split())
    return np.frombuffer(rest, np.uint8).reshape(h, w, 3)


def main():
    driver, work = sys.argv[1], sys.argv[2]
    tol = int(sys.argv[sys.argv.index("--tol") + 1]) if "--tol" in sys.argv else 0
    os.makedirs(work, exist_ok=True)
    worst, bad, cases = 0, 0, 0
    out = os.path.join(work, "out.ppm")
    for name, a in contents():
        for fname, data in encodings(name, a):
            path = os.path.join(work, fname)
            with open(path, "wb") as f:
                f.write(data)
            # full-size decode alone
            theirs = np.asarray(Image.open(path).convert("RGB"))
            mine = ours(driver, path, out, [])
            results = [("decode", mine, theirs)]
            for n in (224, 64, 32):
                for mode in ("squash", "crop", "pad"):
                    flag = ["-l", str(n)] if mode == "pad" else ["-s", str(n)]
                    mine = ours(driver, path, out, ["-S", str(n), "-m", mode] + flag)
                    results.append(("%d %s" % (n, mode), mine, pillow(path, n, mode)))
            for what, m, t in results:
                cases += 1
                if m.shape != t.shape:
                    print("%-32s %-12s shape %s, Pillow %s" % (fname, what, m.shape, t.shape))
                    bad += 1
                    continue
                d = np.abs(m.astype(int) - t.astype(int))
                mx, mean = int(d.max()), float(d.mean())
                worst = max(worst, mx)
                flagged = mx > tol
                bad += flagged
                print("%-32s %-12s max %3d mean %.5f%s" % (fname, what, mx, mean,
                                                            "  OVER" if flagged else ""))
    print("%d cases, largest difference %d, %d over the tolerance %d" % (cases, worst, bad, tol))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
