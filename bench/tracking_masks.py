"""Cost of the spatiotemporal restriction at 854x480: extra seconds/frame and cache size.

Usage: python bench/tracking_masks.py [--clip DIR] [--frames 100] [--threads 2] [--matte-dir DIR]

Runs the default backend over the same frames with ``restrict=none`` and with
``restrict=dense`` (and ``instance`` and ``both`` when a matte folder is given, e.g. the DAVIS
annotations), reference = first frame, and prints seconds per frame of each, the difference, and the
size of the dense-tracking masks as the shot cache stores them (compressed bit sets),
per frame and per 100 frames. Targets (issue 3): <= 0.3 s/frame extra, <= 50 MB / 100 frames.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import time

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from nuke_colorize import color  # noqa: E402
from nuke_colorize.pipeline import Colorizer, ReferenceInput  # noqa: E402

HERE = os.path.dirname(__file__)
DEFAULT_CLIP = os.path.join(HERE, "..", "..", "shared", "data", "davis2016-val", "JPEGImages", "480p", "car-roundabout")


def run(frames, ys, size, restrict, matte):
    col = Colorizer(lambda i: ys[i], size, [ReferenceInput(frames[0], frame=0)], "exemplar",
                    settings={"restrict": restrict}, matte=matte)
    mask_bytes, inst_bytes = [], []
    t0 = time.perf_counter()
    for f, res in col.results(list(range(len(frames)))):
        if "tmask" in res.state:
            mask_bytes.append(res.state["tmask"].nbytes)
        if "inst" in res.state:
            inst_bytes.append(res.state["inst"].nbytes)
    dt = (time.perf_counter() - t0) / len(frames)
    return dt, mask_bytes, inst_bytes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", default=DEFAULT_CLIP)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--matte-dir", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    files = sorted(glob.glob(os.path.join(args.clip, "*.jpg")))[: args.frames]
    if not files:
        sys.exit(f"no frames in {args.clip}")
    frames = [color.srgb_to_linear(cv2.imread(f)[..., ::-1].astype(np.float32) / 255) for f in files]
    size = (frames[0].shape[1], frames[0].shape[0])
    ys = [color.luminance(f) for f in frames]
    matte = None
    if args.matte_dir:
        mfiles = sorted(glob.glob(os.path.join(args.matte_dir, "*.png")))
        matte = lambda i: (cv2.imread(mfiles[i], cv2.IMREAD_GRAYSCALE) > 127).astype(np.int32)  # noqa: E731
    print(f"clip {args.clip} ({len(frames)} frames at {size[0]}x{size[1]}), {args.threads} threads")
    base, _, _ = run(frames, ys, size, "none", None)
    print(f"restrict=none    : {base:.3f} s/frame")
    for mode in (["dense", "instance", "both"] if matte else ["dense"]):
        dt, mb, ib = run(frames, ys, size, mode, matte if mode != "dense" else None)
        per = float(np.mean(mb)) if mb else 0.0
        print(f"restrict={mode:8s}: {dt:.3f} s/frame ({dt - base:+.3f})"
              + (f"; tracking masks {per / 1024:.1f} kB/frame = {per * 100 / 2 ** 20:.2f} MB per 100 frames"
                 if mb else "")
              + (f"; instance maps {np.mean(ib) / 1024:.1f} kB/frame" if ib else ""))


if __name__ == "__main__":
    main()
