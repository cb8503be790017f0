"""How good is ``suggest-keyframe``'s pick? Against simple choices and the best of several.

For each true-colour clip (e.g. DAVIS-2016 val) with frame 0 as the only keyframe, the
clip is colourised once to get the per-frame confidence, and :func:`nuke_colorize.suggest.suggest`
proposes one more keyframe. The clip is then colourised with keyframes {0, k} for k in
the suggestion, the frames at 1/4, 1/2 and 3/4 of the clip and the last frame (the P2
protocol), and the mean PSNR over the same frames for each: those that are a keyframe in
none of the runs (a keyframe's own PSNR, ~140 dB, measures float32 rounding, and each
candidate paints another frame). "best" is the best of those candidates, known only with
the truth.

Usage::

    .venv/bin/python bench/suggest_keyframe.py --clips-root DAVIS/JPEGImages/480p \\
        --clips blackswan,dog,soapbox,breakdance,kite-surf,libby --size 384x216

Slow: one colourisation per candidate (five or six per clip).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from nuke_colorize.evaluate import (evaluate_clip, grey_plate, list_frames, load_ground_truth,  # noqa: E402
                                    parse_size, u8_to_linear)
from nuke_colorize.pipeline import ReferenceInput, colorize_clip  # noqa: E402
from nuke_colorize.suggest import suggest  # noqa: E402

FRACTIONS = (0.25, 0.5, 0.75, 1.0)


def confidence_per_frame(clip: str, size) -> dict:
    """Mean confidence of every frame, colourised from frame 0 alone: {frame: float}."""
    paths = list_frames(clip)
    gt = load_ground_truth(paths, size)
    ref = ReferenceInput(rgb=u8_to_linear(gt[0]), frame=0, path=paths[0])
    return {int(o.frame): float(np.mean(o.confidence))
            for o in colorize_clip(lambda f: grey_plate(gt[f]), list(range(len(gt))), [ref])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips-root", required=True)
    ap.add_argument("--clips", required=True, help="comma-separated clip folder names")
    ap.add_argument("--size", default="384x216")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args()
    size = parse_size(args.size)
    table = {}
    for name in args.clips.split(","):
        clip = os.path.join(args.clips_root, name)
        T = len(list_frames(clip))
        picks = suggest(confidence_per_frame(clip, size), [0], count=1)
        k_s = picks[0]["frame"] if picks else None
        cands = {"suggested": k_s} if k_s is not None else {}
        cands.update({f"{f:g} of the clip": int(round((T - 1) * f)) for f in FRACTIONS})
        runs = {k: evaluate_clip(clip, f"0,{k}", size=size)["per_frame"] for k in sorted(set(cands.values()))}
        scored = [f for f in range(1, T) if f not in runs]      # a keyframe in none of the runs
        psnr = {k: float(np.mean([pf[f]["psnr"] for f in scored])) for k, pf in runs.items()}
        best = max(psnr, key=psnr.get)
        row = {label: {"frame": k, "psnr": round(psnr[k], 3)} for label, k in cands.items()}
        row["best"] = {"frame": best, "psnr": round(psnr[best], 3)}
        table[name] = row
        print(f"{name}: " + "; ".join(f"{label} {v['frame']} {v['psnr']:.2f}" for label, v in row.items()),
              flush=True)
    labels = list(next(iter(table.values())))
    print("mean over clips: " + "; ".join(
        f"{label} {np.mean([row[label]['psnr'] for row in table.values() if label in row]):.3f}"
        for label in labels))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(table, fh, indent=1)


if __name__ == "__main__":
    main()
