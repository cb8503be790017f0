"""Anamorphic plates: colour quality with and without the plate's pixel aspect.

Each true-colour clip (e.g. DAVIS-2016 val) is squeezed horizontally by ``--squeeze`` (area
resampling: 854x480 -> 427x480 for 2), as a 2x anamorphic scan stores it. Its grey plate is
colourised twice: told the pixel aspect (the backend sees the picture desqueezed) and
treating the pixels as square (as before 2026-12-06). The reference is either the squeezed
frame 0 as a keyframe (``--mode keyframe``) or the *unsqueezed* frame 0 as an external
square-pixel still (``--mode still``: a set photograph of the scene). The PSNR (sRGB,
0-255) of every frame but 0 against the squeezed truth is printed per clip and as a mean.

Usage::

    .venv/bin/python bench/anamorphic.py --clips-root ../shared/data/davis2016-val/JPEGImages/480p \\
        --clips blackswan,dog,soapbox,breakdance,kite-surf,libby --frames 30 --mode still

About 0.4 s a frame per run on this machine's two cores.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from nuke_colorize import metrics  # noqa: E402
from nuke_colorize.evaluate import (grey_plate, linear_to_u8, list_frames, load_ground_truth,  # noqa: E402
                                    u8_to_linear)
from nuke_colorize.pipeline import ReferenceInput, colorize_clip  # noqa: E402


def clip_psnr(clip: str, n: int, squeeze: float, mode: str, aware: bool) -> float:
    """Mean PSNR of frames 1..n-1 of the squeezed clip, colourised from frame 0."""
    paths = list_frames(clip)[:n]
    gt = load_ground_truth(paths)
    h, w = gt[0].shape[:2]
    sq = [cv2.resize(g, (int(round(w / squeeze)), h), interpolation=cv2.INTER_AREA) for g in gt]
    if mode == "keyframe":
        ref = ReferenceInput(rgb=u8_to_linear(sq[0]), frame=0, path=paths[0], pixel_aspect=squeeze)
    else:
        ref = ReferenceInput(rgb=u8_to_linear(gt[0]), frame=None, path=paths[0], pixel_aspect=1.0)
    scores = [metrics.psnr(linear_to_u8(o.rgb), sq[o.frame])
              for o in colorize_clip(lambda f: grey_plate(sq[f]), list(range(len(sq))), [ref],
                                     pixel_aspect=squeeze if aware else 1.0)
              if o.frame != 0]
    return float(np.mean(scores))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips-root", required=True)
    ap.add_argument("--clips", required=True, help="comma-separated clip folder names")
    ap.add_argument("--frames", type=int, default=30, help="first N frames of each clip")
    ap.add_argument("--squeeze", type=float, default=2.0, help="pixel aspect of the squeezed plate")
    ap.add_argument("--mode", choices=("keyframe", "still"), default="still")
    args = ap.parse_args()
    if not os.path.isdir(args.clips_root):
        sys.exit(f"bench/anamorphic.py: {args.clips_root}: no such folder (DAVIS frames expected)")
    rows = []
    for name in args.clips.split(","):
        t0 = time.time()
        aware = clip_psnr(os.path.join(args.clips_root, name), args.frames, args.squeeze, args.mode, True)
        square = clip_psnr(os.path.join(args.clips_root, name), args.frames, args.squeeze, args.mode, False)
        rows.append((aware, square))
        print(f"{name:20s} pixel aspect {args.squeeze:g}: {aware:.3f} dB   as square pixels: {square:.3f} dB"
              f"   ({time.time() - t0:.0f} s)", flush=True)
    a, s = np.mean(rows, axis=0)
    print(f"mean over {len(rows)} clips ({args.mode}): {a:.3f} dB against {s:.3f} dB ({a - s:+.3f})")


if __name__ == "__main__":
    main()
