"""A captioner that knows each scene: reads capsynth's --scenes JSONL and writes
one caption a line, "image<TAB>caption", by a fixed rule per layout. Scored
against the references it shows what a model that reads the picture correctly
can reach; with --error P each colour, kind, size and place is replaced by a
random one with probability P, a model that reads the picture imperfectly.

usage: capsynth_oracle.py [--error P] scenes.jsonl > hyps.tsv
"""
import argparse
import json
import random

COLOURS = ["red", "orange", "yellow", "green", "blue", "purple"]
KINDS = ["circle", "square", "triangle", "diamond", "star"]
PLACES = ["top left", "top", "top right", "left", "middle", "right",
          "bottom left", "bottom", "bottom right"]


def art(word):
    return "an" if word[0] in "aeiou" else "a"


def where(place):
    if place == "middle":
        return "in the middle"
    if place in ("left", "right"):
        return "on the " + place
    if place in ("top", "bottom"):
        return "at the " + place
    return "in the %s corner" % place


def caption(scene, err, rnd):
    shapes = [dict(s) for s in scene["shapes"]]
    for s in shapes:
        if rnd.random() < err:
            s["colour"] = rnd.choice(COLOURS)
        if rnd.random() < err:
            s["kind"] = rnd.choice(KINDS)
        if rnd.random() < err:
            s["size"] = rnd.choice(["small", "large"])
    place = scene.get("place")
    if place and rnd.random() < err:
        place = rnd.choice(PLACES)
    noun = ["%s %s %s" % (art(s["colour"]), s["colour"], s["kind"]) for s in shapes]
    big = ["%s %s %s %s" % (art(s["size"]), s["size"], s["colour"], s["kind"]) for s in shapes]
    layout, a = scene["layout"], shapes[0]
    if layout == "one":
        text = "%s %s" % (big[0], where(place))
    elif layout == "pair":
        rel = "to the left of" if scene["relation"] == "left of" else "above"
        text = "%s %s %s" % (big[0], rel, big[1])
    elif layout == "twin":
        text = "two %s %ss" % (a["colour"], a["kind"])
    elif layout == "trio":
        text = "three shapes : %s , %s and %s" % tuple(noun)
    else:
        text = "three %s %ss" % (a["colour"], a["kind"])
    return text[0].upper() + text[1:] + " ."


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--error", type=float, default=0.0)
    ap.add_argument("scenes")
    args = ap.parse_args()
    rnd = random.Random(1)
    with open(args.scenes) as f:
        for line in f:
            scene = json.loads(line)
            print("%s\t%s" % (scene["image"], caption(scene, args.error, rnd)))


if __name__ == "__main__":
    main()
