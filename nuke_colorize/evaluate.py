"""Evaluate colorization on a clip of true-colour frames (the logic behind ``nuke-colorize eval``).

Protocol (one clip = one folder of 8-bit sRGB JPEG/PNG frames, sorted by file name; frame
numbers are the indices 0..T-1 in that order):

1. Ground truth: each frame decoded to 8-bit sRGB. With ``size=(W, H)`` it is converted to
   linear light, resized with ``cv2.INTER_AREA`` there, encoded back to sRGB and rounded to
   8 bits, so the ground truth is always an 8-bit image like any real deliverable.
2. Grey plate: Rec.709 luminance of the linear ground truth (what a scanned black-and-white
   plate of this scene would hold). References: the linear ground truth at the ``refs``
   indices, given to the pipeline as keyframes of their own frame.
3. Colourise through :func:`nuke_colorize.pipeline.colorize_clip` with ``max_value`` 1.0, as
   ``render`` writes an 8-bit sRGB plate (chroma reduced where a channel would pass 1.0, so
   the output keeps the truth's luminance: only colour is scored); each output is converted
   linear -> sRGB, clipped to [0, 1] and scaled to 0-255 **without rounding** for PSNR /
   SSIM / colourfulness; CDC uses the 8-bit rounding (its histograms are of 8-bit frames).
4. Per frame: PSNR (float64, no wraparound) and SSIM (mean over R, G, B). Per clip: the
   mean of the per-frame PSNR, SSIM and colourfulness (the output's and the truth's) and
   of the grey plate's own PSNR over the frames that are **not** references
   (``keyframes_in_mean`` False): a reference frame's output is its painted colour on its
   own luminance, the truth to float32 rounding, so its PSNR (~140 dB) measures that
   rounding, not the colourisation (the mean with them is kept as ``psnr_with_keyframes``).
   Over the whole clip: flicker of prediction and ground truth along the same DIS flow of
   the true luminance, CDC, and seconds per frame of the colourisation alone (metrics
   excluded). With instance mattes: "inner" and "outer" PSNR (Akimoto et al.), over the
   pixels inside (ID > 0) and outside every instance, each the mean over the non-keyframes
   of the per-frame PSNR of that region (NaN without mattes; frames where a region is
   empty are skipped).
"""
from __future__ import annotations

import json
import math
import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from . import metrics, report
from .color import chroma_of, linear_to_srgb, luminance, srgb_to_linear, y_to_L
from .errors import InputError

IMAGE_EXTS = (".jpg", ".jpeg", ".png")
CONTACT_FRAMES = 6
_LUT = srgb_to_linear(np.arange(256, dtype=np.float32) / 255.0).astype(np.float32)


# ---------------------------------------------------------------- inputs
def list_frames(clip_dir: str) -> List[str]:
    """Sorted paths of the JPEG/PNG images in ``clip_dir`` (hidden files ignored)."""
    if not os.path.isdir(clip_dir):
        raise InputError("clip folder not found", file=clip_dir)
    names = sorted(n for n in os.listdir(clip_dir)
                   if n.lower().endswith(IMAGE_EXTS) and not n.startswith("."))
    if not names:
        raise InputError("no JPEG/PNG frames in the clip folder", file=clip_dir)
    return [os.path.join(clip_dir, n) for n in names]


def is_clip_dir(path: str) -> bool:
    """True when ``path`` is a folder holding at least one JPEG/PNG frame."""
    try:
        return os.path.isdir(path) and any(
            n.lower().endswith(IMAGE_EXTS) and not n.startswith(".") for n in os.listdir(path))
    except OSError:
        return False


def parse_size(spec: Optional[str]) -> Optional[Tuple[int, int]]:
    """``"384x216"`` -> (384, 216) as (width, height); None/"" -> None."""
    if not spec:
        return None
    try:
        w, h = (int(v) for v in spec.lower().split("x"))
    except ValueError:
        raise InputError(f"bad --size '{spec}'", hint="use WIDTHxHEIGHT, e.g. 384x216") from None
    if w < 16 or h < 16:
        raise InputError(f"--size {spec} is too small", hint="at least 16x16")
    return w, h


def parse_refs(spec: str, n_frames: int, clip: Optional[str] = None,
               hint: Optional[str] = None) -> List[int]:
    """Reference indices from ``"0"``, ``"0,last"``, ``"9"``, ``"first"``, ``"-1"``.

    Indices count from 0 in the clip's sorted frame order; ``last`` (or -1) is the final
    frame. Returns sorted unique indices; out of range -> :class:`InputError` naming ``clip``
    (the clip folder) when given.
    """
    out = []
    for tok in str(spec).split(","):
        tok = tok.strip().lower()
        if not tok:
            continue
        if tok == "last":
            i = n_frames - 1
        elif tok == "first":
            i = 0
        else:
            try:
                i = int(tok)
            except ValueError:
                raise InputError(f"bad --refs entry '{tok}'",
                                 hint="comma-separated frame indices or 'last', e.g. 0,last") from None
            if i < 0:
                i += n_frames
        if not 0 <= i < n_frames:
            raise InputError(f"--refs {tok}: reference index outside the clip's {n_frames} frame"
                             f"{'s' if n_frames != 1 else ''} (0-{n_frames - 1})", file=clip, hint=hint)
        out.append(i)
    if not out:
        raise InputError("no reference frame given", hint="e.g. --refs 0")
    return sorted(set(out))


def _read_rgb_u8(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise InputError("cannot read the image (missing, truncated or not a JPEG/PNG)", file=path)
    return np.ascontiguousarray(img[..., ::-1])


def u8_to_linear(img_u8: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 sRGB -> (H, W, 3) float32 linear (exact table lookup)."""
    return _LUT[img_u8]


def grey_plate(img_u8: np.ndarray) -> np.ndarray:
    """The grey plate of a true-colour frame: (H, W, 3) uint8 sRGB -> (H, W) float32 linear
    Rec.709 luminance (what a black-and-white scan of the scene records)."""
    return luminance(u8_to_linear(img_u8))


def linear_to_u8(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) linear -> (H, W, 3) uint8 sRGB, clipped and rounded."""
    return np.clip(np.rint(np.clip(linear_to_srgb(rgb), 0.0, 1.0) * 255.0), 0, 255).astype(np.uint8)


def load_ground_truth(paths: Sequence[str], size: Optional[Tuple[int, int]] = None) -> List[np.ndarray]:
    """Read the clip as 8-bit sRGB RGB frames, resized in linear light when ``size`` is given.

    Returns T arrays (H, W, 3) uint8. All frames must have one size.
    """
    frames = []
    shape = None
    for p in paths:
        img = _read_rgb_u8(p)
        if shape is None:
            shape = img.shape
        elif img.shape != shape:
            raise InputError(f"frame is {img.shape[1]}x{img.shape[0]}, the clip is "
                             f"{shape[1]}x{shape[0]}", file=p)
        if size is not None and (img.shape[1], img.shape[0]) != tuple(size):
            lin = cv2.resize(u8_to_linear(img), tuple(size), interpolation=cv2.INTER_AREA)
            img = linear_to_u8(lin)
        frames.append(img)
    return frames


def _read_matte(path: str, size: Tuple[int, int]):
    """One matte file at ``size`` = (w, h): a :class:`~nuke_colorize.io.matte.Matte`, its
    (H, W) int32 instance IDs and the kind of matte (rules: :mod:`nuke_colorize.io.matte`)."""
    from .io.matte import Matte, decode, read_matte_image, resize_ids
    ids, kind = decode(read_matte_image(path))
    return Matte(resize_ids(ids, size), kind)


def matte_paths(matte_dir: str, frame_paths: Sequence[str]) -> List[str]:
    """Matte file for each frame: same file stem in ``matte_dir`` (any image extension)."""
    if not os.path.isdir(matte_dir):
        raise InputError("matte folder not found", file=matte_dir)
    by_stem = {}
    for n in os.listdir(matte_dir):
        stem, ext = os.path.splitext(n)
        if ext.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr") and not n.startswith("."):
            by_stem.setdefault(stem, os.path.join(matte_dir, n))
    out = []
    for i, p in enumerate(frame_paths):
        stem = os.path.splitext(os.path.basename(p))[0]
        if stem not in by_stem:
            raise InputError(f"no matte for {os.path.basename(p)}", file=matte_dir, frame=i)
        out.append(by_stem[stem])
    return out


# ---------------------------------------------------------------- streaming flicker
class _FlickerAccumulator:
    """Flicker of prediction and ground truth, fed frame by frame in any order.

    A pair (t, t+1) is measured as soon as both predictions are in; the DIS flow of the true
    luminance is computed once per pair and used for both. Chroma is dropped when both pairs
    of a frame are done, so memory stays bounded for in-order processing.
    """

    def __init__(self, gt_u8: Sequence[np.ndarray]):
        self.gt = gt_u8
        self.T = len(gt_u8)
        self.pred_ab: Dict[int, np.ndarray] = {}
        self.gt_ab: Dict[int, np.ndarray] = {}
        self.gt_L: Dict[int, np.ndarray] = {}
        self.done = set()
        self.sum_pred = self.sum_gt = 0.0
        self.count = 0

    def _gt(self, t: int):
        if t not in self.gt_ab:
            lin = u8_to_linear(self.gt[t])
            self.gt_ab[t] = chroma_of(lin)
            self.gt_L[t] = y_to_L(np.clip(luminance(lin), 0.0, None))
        return self.gt_ab[t], self.gt_L[t]

    def add(self, t: int, ab: np.ndarray) -> None:
        self.pred_ab[t] = ab
        for a in (t - 1, t):
            if 0 <= a and a + 1 < self.T and a not in self.done \
                    and a in self.pred_ab and a + 1 in self.pred_ab:
                ga, La = self._gt(a)
                gb, Lb = self._gt(a + 1)
                flow, mask = metrics.flicker_flow(La, Lb)
                sp, n = metrics.flicker_pair(self.pred_ab[a], self.pred_ab[a + 1], flow, mask)
                sg, _ = metrics.flicker_pair(ga, gb, flow, mask)
                self.sum_pred += sp
                self.sum_gt += sg
                self.count += n
                self.done.add(a)
        for f in (t - 1, t, t + 1):
            if f in self.pred_ab and (f == 0 or f - 1 in self.done) and (f == self.T - 1 or f in self.done):
                for d in (self.pred_ab, self.gt_ab, self.gt_L):
                    d.pop(f, None)

    def result(self) -> Tuple[float, float]:
        if not self.count:
            return math.nan, math.nan
        return self.sum_pred / self.count, self.sum_gt / self.count


# ---------------------------------------------------------------- evaluation
def _mean(values: Sequence[float]) -> float:
    v = [x for x in values if not math.isnan(x)]
    return float(np.mean(v)) if v else math.nan


def evaluate_clip(clip_dir: str, refs: str = "0", size: Optional[Tuple[int, int]] = None,
                  backend: str = "exemplar", settings: Optional[Dict[str, Any]] = None,
                  out_dir: Optional[str] = None, matte_dir: Optional[str] = None, *,
                  device: str = "cpu", limit_frames: Optional[int] = None,
                  on_frame: Optional[Callable[[int, int], None]] = None,
                  temporal_smoothing: float = 0.0,
                  stills: Optional[Any] = None,
                  degrade: Optional[Any] = None) -> Dict[str, Any]:
    """Colourise the grey version of a true-colour clip and score it against the truth.

    Args:
        clip_dir: folder of sRGB JPEG/PNG frames (sorted by name = frame order 0..T-1).
        refs: reference frame indices, e.g. ``"0"``, ``"0,last"``, ``"9"`` (see :func:`parse_refs`).
        size: (width, height) to evaluate at (resized in linear light), None = native.
        backend, settings, device: passed to the pipeline.
        out_dir: if given, writes ``contact_sheet.png``, ``psnr.png`` and ``metrics.json``
            there (atomically).
        matte_dir: optional folder of instance mattes named like the frames.
        limit_frames: evaluate only the first N frames.
        degrade: optional :class:`nuke_colorize.degradation.Degradation` applied to the
            true-colour frames (in linear light, then encoded to 8-bit sRGB again) before
            anything else: the truth, the grey plate and the reference frames all carry it.
        on_frame: called as ``on_frame(done, total)`` after each colourised frame.
        temporal_smoothing: strength of the pipeline's temporal smoothing stage (0 = off).
        stills: automatic mode (``refs`` is then ignored): colour stills (sRGB JPEG/PNG
            paths) used as the only references, external stills without a frame; or a
            callable ``stills(luma, frames)`` returning scenes ``[{"frames": [first, last],
            "references": [{"image": path, ...}]}]`` (see :mod:`nuke_colorize.library.auto`),
            each scene colourised with its own stills. ``luma(f)`` is the grey plate.

    Returns:
        A JSON-serialisable dict (non-finite numbers stay floats here; :func:`to_json`
        writes them as null) with per-clip means and ``per_frame`` entries.
    """
    from .pipeline import ReferenceInput, colorize_clip

    clip_dir = os.path.abspath(clip_dir)
    paths = list_frames(clip_dir)
    if limit_frames:
        paths = paths[:int(limit_frames)]
    gt = load_ground_truth(paths, size)
    if degrade:
        gt = [linear_to_u8(degrade.apply(u8_to_linear(g), t)) for t, g in enumerate(gt)]
    T = len(gt)
    H, W = gt[0].shape[:2]
    if min(H, W) < metrics.SSIM_WINDOW:
        raise InputError(f"frames of {W}x{H} are too small to evaluate", file=clip_dir,
                         hint="at least 11 pixels on each side")
    def luma(f: int) -> np.ndarray:
        return grey_plate(gt[f])

    scenes = None
    if stills:
        ref_idx = []
        scenes = stills(luma, list(range(T))) if callable(stills) else \
            [{"frames": [0, T - 1], "references": [{"image": p} for p in stills]}]
        references = []
    else:
        ref_idx = parse_refs(refs, T, clip_dir)
        references = [ReferenceInput(rgb=u8_to_linear(gt[i]), frame=i, path=paths[i]) for i in ref_idx]

    matte = None
    if matte_dir:
        mpaths = matte_paths(matte_dir, paths)

        def matte(f: int):
            return _read_matte(mpaths[f], (W, H))

    contact_idx = set(report.evenly_spaced(T, CONTACT_FRAMES))
    contact_pred: Dict[int, np.ndarray] = {}
    psnrs = [math.nan] * T
    ssims = [math.nan] * T
    colour_pred = [math.nan] * T
    colour_gt = [metrics.colourfulness(g) for g in gt]
    hists: List[Optional[np.ndarray]] = [None] * T
    inner = [math.nan] * T   # PSNR inside / outside the instance mattes (with matte_dir)
    outer = [math.nan] * T
    flick = _FlickerAccumulator(gt)
    seen = set()

    def colorize(frames, refs_in):
        # max_value 1.0 as render's 8-bit sRGB output: colour is kept under 1.0 by reducing its
        # chroma, so the truth's luminance survives the display clip below
        return colorize_clip(luma, frames, refs_in, backend=backend, settings=settings,
                             device=device, matte=matte, temporal_smoothing=temporal_smoothing,
                             max_value=1.0)

    if scenes is None:
        gen = colorize(list(range(T)), references)
    else:  # automatic mode: each scene with its own stills, one after the other
        gen = (out for sc in scenes for out in colorize(
            list(range(sc["frames"][0], sc["frames"][1] + 1)),
            [ReferenceInput(rgb=u8_to_linear(_read_rgb_u8(r["image"])), frame=None, path=r["image"])
             for r in sc["references"]]))
    t_colour = 0.0
    t0 = time.perf_counter()
    while True:
        try:
            out = next(gen)
        except StopIteration:
            t_colour += time.perf_counter() - t0
            break
        t_colour += time.perf_counter() - t0
        f = int(out.frame)
        if not 0 <= f < T or f in seen:
            raise InputError(f"pipeline returned unexpected frame {f}", file=clip_dir)
        seen.add(f)
        rgb = np.asarray(out.rgb, np.float32)
        if rgb.shape[:2] != (H, W):
            raise InputError(f"pipeline output is {rgb.shape[1]}x{rgb.shape[0]}, expected {W}x{H}",
                             file=clip_dir, frame=f)
        srgb = np.clip(linear_to_srgb(rgb).astype(np.float64), 0.0, 1.0)
        pred255 = srgb * 255.0
        pred_u8 = np.rint(pred255).astype(np.uint8)
        psnrs[f] = metrics.psnr(pred255, gt[f])
        ssims[f] = metrics.ssim(pred255, gt[f])
        if matte is not None:
            objects = matte(f).ids > 0
            inner[f] = metrics.psnr_masked(pred255, gt[f], objects)
            outer[f] = metrics.psnr_masked(pred255, gt[f], ~objects)
        colour_pred[f] = metrics.colourfulness(pred255)
        hists[f] = metrics.channel_histograms(pred_u8)
        # chroma of what is delivered (after gamut handling and display clipping)
        flick.add(f, chroma_of(srgb_to_linear(srgb.astype(np.float32))))
        if f in contact_idx:
            contact_pred[f] = pred_u8
        if on_frame:
            on_frame(len(seen), T)
        t0 = time.perf_counter()
    missing = [f for f in range(T) if f not in seen]
    if missing:
        raise InputError(f"pipeline produced no output for {len(missing)} frame(s)",
                         file=clip_dir, frame=missing[0])

    fl_pred, fl_gt = flick.result()
    grey_truth = all(is_grey(g) for g in gt)
    scored = [f for f in range(T) if f not in ref_idx]   # the references are the truth: not scored
    result: Dict[str, Any] = {
        "clip": os.path.basename(clip_dir.rstrip(os.sep)),
        "path": clip_dir,
        "frames": T,
        "width": W,
        "height": H,
        "refs": ref_idx,
        "backend": backend,
        "settings": dict(settings or {}),
        "temporal_smoothing": float(temporal_smoothing),
        "degrade": degrade.describe() if degrade else None,
        "keyframes_in_mean": False,
        "psnr": _mean([psnrs[f] for f in scored]),
        "ssim": _mean([ssims[f] for f in scored]),
        "psnr_non_keyframes": _mean([psnrs[f] for f in scored]),
        "psnr_with_keyframes": _mean(psnrs),
        "psnr_inner": _mean([inner[f] for f in scored]),
        "psnr_outer": _mean([outer[f] for f in scored]),
        "psnr_grey": _mean([metrics.psnr(_grey255(gt[f]), gt[f]) for f in scored]),
        "auto_scenes": scenes,
        "flicker": fl_pred,
        "flicker_gt": fl_gt,
        "flicker_ratio": flicker_ratio(fl_pred, fl_gt),
        "grey_truth": grey_truth,
        "colourfulness": _mean([colour_pred[f] for f in scored]),
        "colourfulness_gt": _mean([colour_gt[f] for f in scored]),
        "cdc": metrics.cdc_from_histograms(hists),
        "cdc_gt": metrics.cdc(gt),
        "seconds_per_frame": t_colour / T,
        "seconds": t_colour,
        "notes": ("PSNR/SSIM on float sRGB*255 clipped to [0,255] vs the 8-bit ground truth, float64; "
                  "SSIM = mean over R,G,B (Gaussian 11x11, sigma 1.5); PSNR, SSIM, colourfulness and grey PSNR are "
                  "means over the frames that are not references (psnr_with_keyframes: over all); "
                  "flicker in CIE a*b* units along DIS flow of the true luminance over "
                  "forward-backward-consistent pixels; CDC over frame gaps 1,2,4 (Liu et al.)"),
        "per_frame": [{"frame": f, "file": os.path.basename(paths[f]), "keyframe": f in ref_idx,
                       "psnr": psnrs[f], "ssim": ssims[f], "psnr_inner": inner[f], "psnr_outer": outer[f], "colourfulness": colour_pred[f],
                       "colourfulness_gt": colour_gt[f]} for f in range(T)],
    }
    if out_dir:
        result["outputs"] = write_outputs(result, gt, contact_pred, out_dir)
    return result


# flicker of the truth below this (CIE a*b* units; the table shows 3 decimals) is no flicker:
# a grey truth measures ~5e-15, float noise of its chroma, and a ratio over it is meaningless
FLICKER_GT_FLOOR = 1e-3
# a truth whose every pixel has its R, G and B codes within this of each other holds no colour
GREY_SPREAD = 2


def flicker_ratio(fl_pred: float, fl_gt: float) -> Optional[float]:
    """Flicker of the prediction / flicker of the truth: NaN when either was not measured,
    None (undefined, shown as '-') when the truth does not flicker (below :data:`FLICKER_GT_FLOOR`)."""
    if math.isnan(fl_pred) or math.isnan(fl_gt):
        return math.nan
    if fl_gt < FLICKER_GT_FLOOR:
        return None
    return fl_pred / fl_gt


def is_grey(img_u8: np.ndarray) -> bool:
    """True when an (H, W, 3) uint8 frame holds no colour: every pixel's R, G and B within
    :data:`GREY_SPREAD` codes (PSNR against such a truth only measures how grey the output stays)."""
    px = np.asarray(img_u8)
    spread = px.max(axis=-1).astype(np.int16) - px.min(axis=-1).astype(np.int16)
    return bool(spread.max(initial=0) <= GREY_SPREAD)


def _grey255(gt_u8: np.ndarray) -> np.ndarray:
    """The grey plate of a ground-truth frame as delivered: (H, W, 3) float sRGB*255."""
    y = grey_plate(gt_u8)
    return np.clip(linear_to_srgb(np.repeat(y[..., None], 3, axis=-1)).astype(np.float64), 0.0, 1.0) * 255.0


# ---------------------------------------------------------------- outputs
def _finite_or_none(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite_or_none(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite_or_none(v) for v in x]
    if isinstance(x, np.generic):
        return _finite_or_none(x.item())
    return x


def to_json(obj: Any) -> str:
    """Strict JSON (non-finite numbers -> null: PSNR null means identical images or n/a)."""
    return json.dumps(_finite_or_none(obj), indent=2, allow_nan=False) + "\n"


def _write_png(path: str, bgr: np.ndarray) -> None:
    from .io.atomic import atomic_write_bytes

    ok, buf = cv2.imencode(".png", bgr)
    if not ok:
        raise InputError("cannot encode PNG", file=path)
    atomic_write_bytes(path, buf.tobytes())


def write_outputs(result: Dict[str, Any], gt: Sequence[np.ndarray],
                  contact_pred: Dict[int, np.ndarray], out_dir: str) -> Dict[str, str]:
    """Write contact sheet, PSNR plot and metrics JSON into ``out_dir``; returns their paths."""
    from .io.atomic import atomic_write_text

    os.makedirs(out_dir, exist_ok=True)
    refs = set(result["refs"])
    cols = []
    for f in sorted(contact_pred):
        g = gt[f]
        grey = linear_to_u8(np.repeat(grey_plate(g)[..., None], 3, axis=-1))
        cols.append({"frame": f, "psnr": result["per_frame"][f]["psnr"], "grey": grey,
                     "pred": contact_pred[f], "gt": g, "keyframe": f in refs})
    title = (f"{result['clip']}  refs {','.join(map(str, result['refs']))}  "
             f"{result['width']}x{result['height']}  mean PSNR {result['psnr']:.2f} dB  "
             f"SSIM {result['ssim']:.4f}  backend {result['backend']}")
    paths = {"contact_sheet": os.path.join(out_dir, "contact_sheet.png"),
             "psnr_plot": os.path.join(out_dir, "psnr.png"),
             "json": os.path.join(out_dir, "metrics.json")}
    tile = 256 if len(cols) <= 6 else 200
    _write_png(paths["contact_sheet"], report.contact_sheet(cols, tile_width=tile, title=title))
    pf = result["per_frame"]
    # a reference frame's PSNR (~140 dB, float rounding) is not drawn: it would set the scale
    # and flatten the scored frames' curve; its orange line marks it
    _write_png(paths["psnr_plot"], report.psnr_plot(
        [p["frame"] for p in pf], [math.nan if p["keyframe"] else p["psnr"] for p in pf], keyframes=sorted(refs),
        title=f"{result['clip']}: per-frame PSNR (dB), refs {sorted(refs)}", mean=result["psnr"]))
    atomic_write_text(paths["json"], to_json(dict(result, outputs=paths)))
    return paths


# ---------------------------------------------------------------- summary over clips
SUMMARY_KEYS = ("psnr", "ssim", "psnr_non_keyframes", "psnr_with_keyframes", "psnr_inner", "psnr_outer", "psnr_grey", "flicker", "flicker_gt", "flicker_ratio",
                "colourfulness", "colourfulness_gt", "cdc", "cdc_gt", "seconds_per_frame")


def summarise(results: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Mean over clips of each per-clip number (each clip weighs the same), plus frame total.

    ``flicker_ratio`` of the summary is mean flicker / mean GT flicker over the clips whose
    ratio is defined (a clip whose truth does not flicker, e.g. a grey one, is left out; None
    when no clip has a ratio). Values that are None are left out of every mean.
    """
    out: Dict[str, Any] = {"clips": len(results), "frames": int(sum(r["frames"] for r in results))}
    for k in SUMMARY_KEYS:
        out[k] = _mean([float(r[k]) for r in results if r.get(k) is not None])
    rated = [r for r in results if r.get("flicker_ratio") is not None and not math.isnan(r["flicker_ratio"])]
    if rated:
        out["flicker_ratio"] = flicker_ratio(_mean([float(r["flicker"]) for r in rated]),
                                             _mean([float(r["flicker_gt"]) for r in rated]))
    elif any(r.get("flicker_ratio", math.nan) is None for r in results):
        out["flicker_ratio"] = None
    out["grey_truth_clips"] = [r["clip"] for r in results if r.get("grey_truth")]
    return out
