"""Comparisons for tests/gpu/run.sh, each printing one JSON object of numbers
on stdout (run.sh files it under the stage) and a line or two on stderr; exit 1
when the comparison fails.

    check.py logs A.jsonl B.jsonl RTOL [FIELD ...]
        two captrain logs step by step: the same steps, and each FIELD (default
        loss) within RTOL relative of A's at every step
    check.py captions A.tsv B.tsv
        two capdecode outputs: the same keys, the same captions
"""
import json
import math
import os
import sys


def logs(a, b, rtol, fields):
    ra = [json.loads(x) for x in open(a) if '"loss"' in x]
    rb = [json.loads(x) for x in open(b) if '"loss"' in x]
    out = {"steps": [len(ra), len(rb)], "rtol": rtol}
    ok = len(ra) == len(rb) and len(ra) > 0
    for f in fields:
        worst, at = 0.0, 0
        for x, y in zip(ra, rb):
            ok &= x["step"] == y["step"]
            d = abs(x[f] - y[f]) / max(abs(x[f]), 1e-12)
            if not d <= worst:
                worst, at = d, x["step"]
        ok &= worst <= rtol
        out["max_rel_" + f] = worst
        out["at_step_" + f] = at
        if ra and rb:
            out["first_" + f] = [ra[0][f], rb[0][f]]
            out["last_" + f] = [ra[-1][f], rb[-1][f]]
    for k in ("images_per_s",):
        if ra and rb and k in ra[0]:
            med = lambda r: sorted(s[k] for s in r[1:] or r)[len(r[1:] or r) // 2]
            out["median_" + k] = [med(ra), med(rb)]
    out["ok"] = bool(ok)
    print("logs %s vs %s: %d and %d steps, %s" % (a, b, len(ra), len(rb), ", ".join(
        "%s max rel %.3g at step %d" % (f, out["max_rel_" + f], out["at_step_" + f])
        for f in fields)), file=sys.stderr)
    return out


def captions(a, b):
    def read(p):
        return dict(line.rstrip("\n").split("\t", 1) for line in open(p) if "\t" in line)
    ca, cb = read(a), read(b)
    same = sum(1 for k in ca if cb.get(k) == ca[k])
    out = {"captions": [len(ca), len(cb)], "equal": same, "ok": len(ca) > 0 and ca == cb}
    for k in sorted(ca):
        if cb.get(k) != ca[k]:
            out["first_difference"] = [k, ca[k], cb.get(k)]
            break
    print("captions %s vs %s: %d of %d equal" % (a, b, same, len(ca)), file=sys.stderr)
    return out


def finite(x):
    """x with NaN and infinities as None: json.dumps would write NaN, which no
    JSON reader takes, and run.sh's results must stay readable."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [finite(v) for v in x]
    return x


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    for p in sys.argv[2:4] if what in ("logs", "captions") else []:
        if not os.path.isfile(p):
            # a run that failed before writing: a result, not a traceback
            print(json.dumps({"ok": False, "missing": p}))
            print("%s: no such file" % p, file=sys.stderr)
            return 1
    if what == "logs":
        out = logs(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5:] or ["loss"])
    elif what == "captions":
        out = captions(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
    print(json.dumps(finite(out), allow_nan=False))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
