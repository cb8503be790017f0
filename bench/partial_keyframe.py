"""A keyframe painted only on the object: what its alpha is worth.

For each clip of a folder of true-colour clips with object annotations (DAVIS-2016 val), the
grey plate (the clip's Rec.709 luminance, as ``nuke-colorize eval`` builds it) of the first
``--frames`` frames is colourised from one keyframe at frame 0, written as an 8-bit PNG in a
temporary folder and read as ``render`` reads a reference (:func:`nuke_colorize.render.load_reference`):

* ``full``: the true colour of frame 0 (what ``eval --refs 0`` uses);
* ``object alpha``: the same pixels with alpha = the annotation of frame 0 (only the object
  painted; the rest of the keyframe gives no colour and is coloured as the backend colours
  any frame without a keyframe there);
* ``object, no alpha``: the object painted, the rest the plate's grey, without alpha (what a
  keyframe painted on the object only gave before alpha was read: grey colour that propagates);
* ``grey``: the plate itself, no colour (the floor).

With ``--still-last`` the clip's last frame (beyond the scored ones) joins every rendered
variant as an external still: colour for what the object-only painting leaves out.

PSNR (sRGB, 0-255, as ``eval``) is the mean over frames 1.. of each frame's PSNR over the
whole frame and over the object (that frame's annotation), as in the restriction benches.

Usage::

    .venv/bin/python bench/partial_keyframe.py \\
        --clips-root ../shared/data/davis2016-val/JPEGImages/480p \\
        --matte-root ../shared/data/davis2016-val/Annotations/480p \\
        --clips blackswan,dog,soapbox,breakdance,kite-surf,libby --frames 30

Clips (or the data folder) that are absent are skipped with a note.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from typing import Dict, List, Optional

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from nuke_colorize.commands.render import parse_settings  # noqa: E402
from nuke_colorize import metrics  # noqa: E402
from nuke_colorize.evaluate import (_read_matte, grey_plate, linear_to_u8, list_frames,  # noqa: E402
                                    load_ground_truth, matte_paths, parse_size)
from nuke_colorize.pipeline import colorize_clip  # noqa: E402
from nuke_colorize.render import RefSpec, load_reference  # noqa: E402

VARIANTS = ("full", "object alpha", "object, no alpha", "grey")


def write_png(path: str, rgb_u8: np.ndarray, alpha: Optional[np.ndarray] = None) -> str:
    """(H, W, 3) uint8 sRGB (and (H, W) bool alpha) -> an 8-bit PNG with straight alpha."""
    import OpenImageIO as oiio
    px = rgb_u8 if alpha is None else np.dstack([rgb_u8, np.where(alpha, 255, 0).astype(np.uint8)])
    spec = oiio.ImageSpec(px.shape[1], px.shape[0], px.shape[2], "uint8")
    spec.attribute("oiio:UnassociatedAlpha", 1)      # store the colour as given, not divided by alpha
    out = oiio.ImageOutput.create(path)
    if out is None or not out.open(path, spec) or not out.write_image(np.ascontiguousarray(px)):
        raise RuntimeError(f"cannot write {path}")
    out.close()
    return path


def keyframes(gt0: np.ndarray, obj0: np.ndarray, folder: str) -> Dict[str, str]:
    """The keyframe PNG of each rendered variant, from frame 0's truth ``gt0`` (H, W, 3) uint8
    and its object mask ``obj0`` (H, W) bool."""
    grey = linear_to_u8(np.repeat(grey_plate(gt0)[..., None], 3, -1))
    return {"full": write_png(os.path.join(folder, "full.png"), gt0),
            "object alpha": write_png(os.path.join(folder, "object_alpha.png"), gt0, obj0),
            "object, no alpha": write_png(os.path.join(folder, "object_grey.png"),
                                          np.where(obj0[..., None], gt0, grey))}


def frame_scores(pred_u8: np.ndarray, gt_u8: np.ndarray, obj: np.ndarray) -> Dict[str, float]:
    return {"frame": metrics.psnr(pred_u8, gt_u8), "object": metrics.psnr_masked(pred_u8, gt_u8, obj)}


def run_clip(clip_dir: str, matte_dir: str, frames: int, size, settings,
             still_last: bool = False) -> Dict[str, object]:
    every = list_frames(clip_dir)
    paths = every[:frames]
    gt = load_ground_truth(paths, size)
    stills = []
    if still_last and len(every) > frames:
        from nuke_colorize.evaluate import u8_to_linear
        from nuke_colorize.pipeline import ReferenceInput
        stills = [ReferenceInput(rgb=u8_to_linear(load_ground_truth(every[-1:], size)[0]), path=every[-1])]
    h, w = gt[0].shape[:2]
    mpaths = matte_paths(matte_dir, paths)
    objs = [np.asarray(_read_matte(p, (w, h)).ids) > 0 for p in mpaths]
    scores: Dict[str, Dict[str, List[float]]] = {v: {"frame": [], "object": []} for v in VARIANTS}
    notes: List[str] = []
    with tempfile.TemporaryDirectory(prefix="partial_keyframe-") as tmp:
        for variant, png in keyframes(gt[0], objs[0], tmp).items():
            ref = load_reference(RefSpec(png, frame=0), warn=notes.append)
            for out in colorize_clip(lambda f: grey_plate(gt[f]), list(range(len(gt))), [ref] + stills,
                                     settings=settings, max_value=1.0):
                if out.frame == 0:
                    continue
                for k, v in frame_scores(linear_to_u8(out.rgb), gt[out.frame], objs[out.frame]).items():
                    scores[variant][k].append(v)
    for f in range(1, len(gt)):
        grey = linear_to_u8(np.repeat(grey_plate(gt[f])[..., None], 3, -1))
        for k, v in frame_scores(grey, gt[f], objs[f]).items():
            scores["grey"][k].append(v)
    return {"clip": os.path.basename(clip_dir.rstrip(os.sep)), "size": [w, h], "stills": len(stills),
            "object_share": float(objs[0].mean()), "notes": notes,
            "psnr": {v: {k: float(np.nanmean(s)) for k, s in d.items()} for v, d in scores.items()}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips-root", required=True)
    ap.add_argument("--matte-root", required=True)
    ap.add_argument("--clips", default="blackswan,dog,soapbox,breakdance,kite-surf,libby")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--size", default=None, help="WxH (default: the clips' own)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--still-last", action="store_true",
                    help="the clip's last frame as an external still beside each keyframe")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    settings = parse_settings(args.set)
    size = parse_size(args.size)
    results = []
    for name in [c for c in args.clips.split(",") if c]:
        clip, matte = os.path.join(args.clips_root, name), os.path.join(args.matte_root, name)
        if not (os.path.isdir(clip) and os.path.isdir(matte)):
            print(f"skipped {name}: {clip} or {matte} not found", file=sys.stderr)
            continue
        r = run_clip(clip, matte, args.frames, size, settings, args.still_last)
        results.append(r)
        if not args.json:
            p = r["psnr"]
            print(f"{r['clip']:<12} object {100 * r['object_share']:4.1f}%  " + "  ".join(
                f"{v}: {p[v]['object']:6.2f} / {p[v]['frame']:6.2f}" for v in VARIANTS), flush=True)
    if results:
        mean = {v: {k: float(np.mean([r["psnr"][v][k] for r in results])) for k in ("object", "frame")}
                for v in VARIANTS}
        if args.json:
            print(json.dumps({"clips": results, "mean": mean}, indent=1))
        else:
            print(f"{'mean':<12} {'':13} " + "  ".join(
                f"{v}: {mean[v]['object']:6.2f} / {mean[v]['frame']:6.2f}" for v in VARIANTS))
            print("(PSNR dB over the object / over the whole frame, frames 1.., mean over frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
