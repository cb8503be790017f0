"""Fixed cost of a farm render task that only reads the shot cache.

Usage: python bench/cached_render.py [--clip DIR] [--frames 30] [--size 854x480] [--work DIR]

Writes a grey linear EXR plate from a colour clip (default: DAVIS cows, or a synthetic
gradient when the data is absent) with its first frame as the keyframe, builds the shot
cache once (`render --cache`), then renders every frame again from the cache in a fresh
process and prints its wall and CPU seconds, peak RSS and whether torch was imported.
A render read entirely from the cache should not load torch (see the README's shot cache
section).
"""
from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from nuke_colorize import color  # noqa: E402
from nuke_colorize.io import write_image  # noqa: E402

DEFAULT_CLIP = os.path.join(HERE, "..", "..", "shared", "data", "davis2016-val", "JPEGImages", "480p", "cows")
PROBE = ("import sys, time\n"
         "from nuke_colorize.cli import main\n"
         "t = time.process_time(); code = main(sys.argv[1:])\n"
         "print('torch', 'torch' in sys.modules, 'cpu', round(time.process_time() - t, 2), file=sys.stderr)\n"
         "sys.exit(code)\n")


def colour_frames(clip: str, n: int, size):
    files = sorted(glob.glob(os.path.join(clip, "*.jpg")))[:n]
    if files:
        return [cv2.resize(cv2.imread(f)[..., ::-1], size, interpolation=cv2.INTER_AREA) for f in files]
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    return [np.stack([(xx + 3 * i) % 256, yy % 256, (xx + yy) % 256], -1).astype(np.uint8) for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", default=DEFAULT_CLIP)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--size", default="854x480")
    ap.add_argument("--work", default=None, help="folder for the plate and cache (default: a temp folder)")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    work = args.work or tempfile.mkdtemp(prefix="nkc_cached_")
    frames = colour_frames(args.clip, args.frames, size)
    for i, rgb in enumerate(frames, 1):
        lin = color.srgb_to_linear(rgb.astype(np.float32) / 255.0)
        y = color.luminance(lin)
        write_image(os.path.join(work, "plate", f"p.{i:04d}.exr"), np.repeat(y[..., None], 3, -1), ["R", "G", "B"])
    cv2.imwrite(os.path.join(work, "ref.png"), frames[0][..., ::-1])
    argv = ["render", "--plate", os.path.join(work, "plate", "p.####.exr"), "--frames", f"1-{len(frames)}",
            "--ref", "1=" + os.path.join(work, "ref.png"), "--out", os.path.join(work, "out", "c.####.exr"),
            "--cache", os.path.join(work, "cache"), "--quiet"]
    t = time.time()
    subprocess.run([sys.executable, "-m", "nuke_colorize"] + argv, check=True)
    print(f"cache built: {len(frames)} frames {size[0]}x{size[1]} in {time.time() - t:.1f} s ({work})")
    t = time.time()
    proc = subprocess.Popen([sys.executable, "-c", PROBE] + argv, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)      # this child's own rusage (peak RSS, CPU)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.time() - t
    if proc.returncode != 0:
        sys.exit(f"cached render failed ({proc.returncode}): {err[-2000:]}")
    probe = err.strip().splitlines()[-1]
    print(f"cached render: {wall:.2f} s wall, {usage.ru_utime + usage.ru_stime:.2f} CPU-s, peak RSS "
          f"{usage.ru_maxrss / 1024:.0f} MB; {probe}")

if __name__ == "__main__":
    main()
