"""Benchmark of the default backend at 854x480 (DAVIS size): seconds/frame and peak RSS.

Usage: python bench/exemplar.py [--clip DIR] [--frames N] [--threads 2] [--size WxH] [--set KEY=VALUE]

Uses a DAVIS clip from ../shared when present, else a synthetic moving texture. Times the
whole pipeline per frame (features, matching, flow, fusion, plate-resolution refinement
and recombination), excluding start-up (model load, reference features).
"""
from __future__ import annotations

import argparse
import glob
import os
import resource
import sys
import time

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from nuke_colorize import color  # noqa: E402
from nuke_colorize.commands.render import parse_settings  # noqa: E402
from nuke_colorize.pipeline import Colorizer, ReferenceInput  # noqa: E402

DEFAULT_CLIP = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "davis2016-val",
                            "JPEGImages", "480p", "breakdance")


def load_frames(clip: str, n: int, size):
    files = sorted(glob.glob(os.path.join(clip, "*.jpg")))[:n]
    if files:
        frames = [color.srgb_to_linear(cv2.imread(f)[..., ::-1].astype(np.float32) / 255) for f in files]
        return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames], clip
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.random((size[1] // 8, size[0] // 8 + n, 3)).astype(np.float32), None, fx=8, fy=8)
    return [np.ascontiguousarray(base[: size[1], 8 * i: 8 * i + size[0]]) for i in range(n)], "synthetic"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", default=DEFAULT_CLIP)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", default="854x480")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                    help="backend setting, as in render")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    size = tuple(int(v) for v in args.size.split("x"))
    frames, src = load_frames(args.clip, args.frames, size)
    ys = [color.luminance(f) for f in frames]
    t0 = time.perf_counter()
    col = Colorizer(lambda i: ys[i], size, [ReferenceInput(frames[0], frame=0)], "exemplar",
                    settings=parse_settings(args.settings))
    setup = time.perf_counter() - t0
    times = []
    t = time.perf_counter()
    for _ in col.run(list(range(len(frames)))):
        now = time.perf_counter()
        times.append(now - t)
        t = now
    steady = times[1:] or times
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"exemplar {size[0]}x{size[1]} ({src}, {len(frames)} frames, {args.threads} threads)"
          + (f" {' '.join(args.settings)}" if args.settings else ""))
    print(f"  setup (model + reference features): {setup:.2f} s")
    print(f"  seconds/frame: mean {np.mean(steady):.3f}  median {np.median(steady):.3f}  "
          f"max {np.max(steady):.3f}")
    print(f"  peak RSS: {rss:.0f} MB")


if __name__ == "__main__":
    main()
