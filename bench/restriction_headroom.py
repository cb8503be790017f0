"""Where the colour error sits relative to the objects, and what instance-level colour could fix.

Instance restriction (Akimoto et al., sec. 3.3) can only help where colour leaks between
objects and background: on the objects and along their outlines. For each clip of a folder
of true-colour clips with instance mattes (e.g. DAVIS-2016 val and its annotations), this
colourises the grey plate (reference = first frame, mattes as the matte input, the backend
settings given) and reports, over the frames that are not references:

* the share of pixels and of squared RGB error in four regions: object core, object band
  (within ``--band`` pixels of an outline, inside), background band, background core;
* two oracles, each knowing the truth: every frame's object colour shifted so its mean
  a*b* is the true one (what any per-instance colour correction, such as matching the
  objects' colour statistics to the keyframe's, could at most add), and the same for the
  background too.

Usage::

    .venv/bin/python bench/restriction_headroom.py \\
        --clips-root ../shared/data/davis2016-val/JPEGImages/480p \\
        --matte-root ../shared/data/davis2016-val/Annotations/480p \\
        --clips breakdance,soapbox,motocross-jump,libby,dance-twirl,kite-surf --frames 40
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from nuke_colorize.commands.render import parse_settings  # noqa: E402
from nuke_colorize import color, metrics  # noqa: E402
from nuke_colorize.color import linear_to_srgb  # noqa: E402
from nuke_colorize.evaluate import (_read_matte, grey_plate, list_frames, load_ground_truth,  # noqa: E402
                                    matte_paths, parse_size, u8_to_linear)
from nuke_colorize.pipeline import ReferenceInput, colorize_clip  # noqa: E402

REGIONS = ("object core", "object band", "background band", "background core")


def regions(objects: np.ndarray, band: int) -> Dict[str, np.ndarray]:
    """The four (H, W) bool regions of a frame's object mask ``objects`` (H, W) bool."""
    k = np.ones((2 * band + 1, 2 * band + 1), np.uint8)
    m = objects.astype(np.uint8)
    edge = cv2.dilate(m, k) != cv2.erode(m, k)
    return {"object core": objects & ~edge, "object band": objects & edge,
            "background band": ~objects & edge, "background core": ~objects & ~edge}


def shifted(ab: np.ndarray, true_ab: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``ab`` (H, W, 2) with its mean over ``mask`` moved to ``true_ab``'s mean there."""
    out = ab.copy()
    if mask.any():
        out[mask] += true_ab[mask].mean(axis=0) - ab[mask].mean(axis=0)
    return out


def score(y: np.ndarray, ab: np.ndarray, gt_u8: np.ndarray) -> float:
    """PSNR of chroma ``ab`` on luminance ``y`` against the 8-bit truth, as ``eval`` scores."""
    rgb = color.recombine(y, ab, max_value=1.0)
    return metrics.psnr(np.clip(linear_to_srgb(rgb).astype(np.float64), 0.0, 1.0) * 255.0, gt_u8)


def run_clip(clip_dir: str, matte_dir: str, frames: int, size, settings, band: int) -> Dict[str, object]:
    paths = list_frames(clip_dir)[:frames] if frames else list_frames(clip_dir)
    gt = load_ground_truth(paths, size)
    h, w = gt[0].shape[:2]
    mpaths = matte_paths(matte_dir, paths)

    def matte(f: int) -> np.ndarray:
        return _read_matte(mpaths[f], (w, h))

    refs = [ReferenceInput(rgb=u8_to_linear(gt[0]), frame=0, path=paths[0])]
    err = {r: 0.0 for r in REGIONS}
    px = {r: 0 for r in REGIONS}
    psnr: Dict[str, List[float]] = {"as rendered": [], "object mean oracle": [], "object + background mean oracle": []}
    for out in colorize_clip(lambda f: grey_plate(gt[f]), list(range(len(gt))), refs,
                             settings=settings, matte=matte, max_value=1.0):   # as eval and the oracles
        f = int(out.frame)
        if f == 0:
            continue
        y = grey_plate(gt[f])
        ab = np.asarray(out.ab, np.float32)
        true_ab = color.chroma_of(u8_to_linear(gt[f]))
        pred = np.clip(linear_to_srgb(np.asarray(out.rgb, np.float32)).astype(np.float64), 0.0, 1.0) * 255.0
        e = ((pred - gt[f].astype(np.float64)) ** 2).sum(axis=-1)
        objects = matte(f) > 0
        for name, r in regions(objects, band).items():
            err[name] += float(e[r].sum())
            px[name] += int(r.sum())
        psnr["as rendered"].append(metrics.psnr(pred, gt[f]))
        obj = shifted(ab, true_ab, objects)
        psnr["object mean oracle"].append(score(y, obj, gt[f]))
        psnr["object + background mean oracle"].append(score(y, shifted(obj, true_ab, ~objects), gt[f]))
    total_e, total_px = sum(err.values()), sum(px.values())
    return {"clip": os.path.basename(clip_dir.rstrip(os.sep)),
            "pixels": {r: px[r] / total_px for r in REGIONS},
            "error": {r: err[r] / total_e for r in REGIONS},
            "psnr": {k: float(np.mean(v)) for k, v in psnr.items()}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips-root", required=True)
    ap.add_argument("--matte-root", required=True)
    ap.add_argument("--clips", required=True, help="comma-separated clip folder names")
    ap.add_argument("--frames", type=int, default=0, help="first N frames (0 = all)")
    ap.add_argument("--size", default=None, help="WxH (default: native)")
    ap.add_argument("--band", type=int, default=4, help="half-width of the outline band, pixels")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="backend setting")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    settings = parse_settings(args.set)
    rows = []
    print(f"{'clip':18s} " + "  ".join(f"{r:>15s} px/err" for r in REGIONS) + "   PSNR  obj-oracle  both-oracle")
    for name in args.clips.split(","):
        r = run_clip(os.path.join(args.clips_root, name), os.path.join(args.matte_root, name),
                     args.frames, parse_size(args.size), settings, args.band)
        rows.append(r)
        cells = "  ".join(f"{100 * r['pixels'][g]:11.1f}% {100 * r['error'][g]:5.1f}%" for g in REGIONS)
        p = r["psnr"]
        print(f"{r['clip']:18s} {cells}  {p['as rendered']:6.2f}  {p['object mean oracle']:10.2f}  "
              f"{p['object + background mean oracle']:11.2f}", flush=True)
    mean = {k: float(np.mean([r["psnr"][k] for r in rows])) for k in rows[0]["psnr"]}
    err = {g: float(np.mean([r["error"][g] for r in rows])) for g in REGIONS}
    print("mean: " + ", ".join(f"{k} {v:.2f} dB" for k, v in mean.items()) + "; error share "
          + ", ".join(f"{g} {100 * v:.1f}%" for g, v in err.items()))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"clips": rows, "mean_psnr": mean, "mean_error_share": err}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
