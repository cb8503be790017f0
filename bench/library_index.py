"""Benchmark of ``library index`` on 1920x1080 stills: seconds per image, projected for 1,000.

Usage: python bench/library_index.py [--n 100] [--threads 2] [--ext jpg|png|exr] [--size 1920x1080]

The stills are DAVIS frames (from ../shared when present, else smooth random colour images)
upscaled to the size and written to a temporary folder (deleted afterwards). Times the whole
indexing (scan, decode, resize, luminance, MobileNetV2 descriptors, atomic write of the index),
model load included, then a second, incremental run (nothing changed: no decoding).
Target: 1,000 stills at 1920x1080 in <= 5 minutes on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import sys
import tempfile
import time

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from nuke_colorize.library.index import update_index  # noqa: E402

DAVIS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "davis2016-val", "JPEGImages", "480p")


def sources(n: int):
    files = sorted(glob.glob(os.path.join(DAVIS, "*", "*.jpg")))
    if files:
        step = max(1, len(files) // n)
        return [cv2.imread(f) for f in files[::step][:n]], "DAVIS frames"
    rng = np.random.default_rng(0)
    return [cv2.resize(rng.integers(0, 256, (9, 16, 3)).astype(np.uint8), (854, 480), interpolation=cv2.INTER_CUBIC)
            for _ in range(n)], "synthetic"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ext", default="jpg", choices=["jpg", "png", "exr", "tif"])
    ap.add_argument("--size", default="1920x1080")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    w, h = (int(v) for v in args.size.split("x"))
    imgs, origin = sources(args.n)
    tmp = tempfile.mkdtemp(prefix="nc_bench_lib_")
    try:
        lib = os.path.join(tmp, "stills")
        for i, img in enumerate(imgs):
            folder = os.path.join(lib, f"set{i % 10}")
            os.makedirs(folder, exist_ok=True)
            big = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
            path = os.path.join(folder, f"still_{i:05d}.{args.ext}")
            if args.ext == "exr":
                big = (big.astype(np.float32) / 255.0) ** 2.2
            assert cv2.imwrite(path, big) if args.ext != "exr" else _write_exr(path, big[..., ::-1])
        mb = sum(os.path.getsize(p) for p in glob.glob(os.path.join(lib, "*", "*"))) / 1e6
        print(f"{len(imgs)} {origin} as {w}x{h} {args.ext} ({mb:.0f} MB); {args.threads} thread(s)")
        index_path = os.path.join(tmp, "library.npz")
        load0 = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        index, rep = update_index(lib, index_path, progress=False, workers=args.threads)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        t1 = time.perf_counter()
        _, rep2 = update_index(lib, index_path, progress=False, workers=args.threads)
        dt2 = time.perf_counter() - t1
        per = dt / max(1, rep.computed)
        print(f"first index: {dt:.1f} s for {rep.computed} stills = {per:.3f} s/image "
              f"(model load included); index file {os.path.getsize(index_path) / 1e6:.1f} MB")
        print(f"  CPU time {cpu:.1f} s = {cpu / max(1, rep.computed):.3f} CPU-s/image (all threads); "
              f"load average {load0:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
              f"(other processes slow the wall time)")
        print(f"projected for 1,000 stills: {per * 1000 / 60:.1f} min wall at this load, "
              f"{cpu / max(1, rep.computed) * 1000 / 60 / max(1, min(args.threads, os.cpu_count() or 1)):.1f} "
              f"min if the {args.threads} threads had their cores (target <= 5 min)")
        print(f"incremental re-index, nothing changed: {dt2:.2f} s ({rep2.reused} reused, {rep2.computed} computed)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_exr(path: str, rgb: np.ndarray) -> bool:
    from nuke_colorize.io import write_image
    write_image(path, np.ascontiguousarray(rgb, np.float32), ["R", "G", "B"])
    return True


if __name__ == "__main__":
    main()
