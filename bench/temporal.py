"""Benchmark of the temporal smoothing stage alone: seconds per frame at working resolution.

Usage: python bench/temporal.py [--size 1024x576] [--frames 9] [--strength 1] [--passes N]

Feeds a synthetic moving texture (results with "ab" and state "L") through
:class:`nuke_colorize.temporal.TemporalStage` in order and times it; the cost per frame is
two DIS frame pairs (four flows), and per pass four warps with forward-backward
checks (the checks once) and the TV solve.
The backend's own time is not included. Single-threaded unless OMP_NUM_THREADS says otherwise.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from nuke_colorize.backends.base import Result  # noqa: E402
from nuke_colorize.temporal import PASSES, TemporalStage  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1024x576")
    ap.add_argument("--frames", type=int, default=9)
    ap.add_argument("--strength", type=float, default=1.0)
    ap.add_argument("--passes", type=int, default=PASSES)
    args = ap.parse_args()
    cv2.setNumThreads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    w, h = (int(v) for v in args.size.lower().split("x"))
    rng = np.random.default_rng(0)
    big = cv2.resize(rng.random((h // 8, (w + 4 * args.frames) // 8 + 1)).astype(np.float32),
                     None, fx=8, fy=8, interpolation=cv2.INTER_CUBIC)
    stage = TemporalStage(range(args.frames), None, args.strength, passes=args.passes)
    done, t0 = 0, time.perf_counter()
    for f in range(args.frames):
        L = np.ascontiguousarray(big[:h, 2 * f: 2 * f + w]) * 80 + 10
        ab = np.stack([L * 0.3, -0.2 * L], -1) + rng.standard_normal((h, w, 2)).astype(np.float32)
        done += len(stage.add(f, Result(ab=ab.astype(np.float32), confidence=np.ones((h, w), np.float32),
                                        state={"L": L.astype(np.float32)})))
    dt = time.perf_counter() - t0
    print(f"temporal smoothing {w}x{h}, strength {args.strength:g}, {args.passes} passes: {dt / max(1, done):.3f} s/frame "
          f"({done} frames)")


if __name__ == "__main__":
    main()
