"""Pictures for an evaluation: a contact sheet and a per-frame PSNR plot, drawn with OpenCV.

Both functions are pure: they take (H, W, 3) uint8 RGB images / numbers and return an
(H', W', 3) uint8 **BGR** image ready for ``cv2.imencode(".png", ...)``. No matplotlib.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import cv2
import numpy as np

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BG = (32, 32, 32)
_FG = (235, 235, 235)


def _text(img: np.ndarray, s: str, org, scale: float = 0.45, color=_FG, thick: int = 1) -> None:
    cv2.putText(img, s, (int(org[0]), int(org[1])), _FONT, scale, color, thick, cv2.LINE_AA)


def _text_width(s: str, scale: float = 0.45, thick: int = 1) -> int:
    return cv2.getTextSize(s, _FONT, scale, thick)[0][0]


def _fmt_db(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return "inf" if math.isinf(v) else f"{v:.2f} dB"


def contact_sheet(columns: Sequence[dict], tile_width: int = 256, title: str = "") -> np.ndarray:
    """Grid with rows grey / prediction / ground truth and one column per sampled frame.

    Args:
        columns: one dict per frame with keys ``frame`` (int), ``psnr`` (float, dB),
            ``grey``, ``pred``, ``gt`` ((H, W, 3) uint8 RGB, same size), and optionally
            ``keyframe`` (bool: the frame is a colour reference).
        tile_width: width of each tile in pixels (height keeps the aspect ratio).
        title: one line drawn above the grid.

    Returns:
        (H', W', 3) uint8 BGR image.
    """
    if not columns:
        raise ValueError("contact_sheet needs at least one frame")
    h0, w0 = columns[0]["gt"].shape[:2]
    tw = int(tile_width)
    th = max(1, int(round(tw * h0 / float(w0))))
    pad, label_w, head_h = 6, 104, 38
    title_h = 26 if title else 0
    n = len(columns)
    W = label_w + n * (tw + pad) + pad
    H = title_h + head_h + 3 * (th + pad) + pad
    sheet = np.full((H, W, 3), _BG, np.uint8)
    if title:
        _text(sheet, title, (pad, 18), 0.55)
    rows = (("grey", "grey"), ("prediction", "pred"), ("ground truth", "gt"))
    for r, (name, _) in enumerate(rows):
        y = title_h + head_h + r * (th + pad) + th // 2 + 5
        _text(sheet, name, (pad, y), 0.5)
    for c, col in enumerate(columns):
        x = label_w + c * (tw + pad)
        ref = " (ref)" if col.get("keyframe") else ""
        _text(sheet, f"frame {col['frame']}{ref}", (x, title_h + 15))
        # a reference frame's output is its painted colour: its PSNR is float rounding, not a score
        score = "painted (not scored)" if col.get("keyframe") else f"PSNR {_fmt_db(col.get('psnr'))}"
        _text(sheet, score, (x, title_h + 32))
        for r, (_, key) in enumerate(rows):
            img = np.asarray(col[key], np.uint8)
            tile = cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA)
            y = title_h + head_h + r * (th + pad)
            sheet[y:y + th, x:x + tw] = tile[..., ::-1]
    return sheet


def _nice_step(span: float, target: int) -> float:
    """A 1/2/5 x 10^k step giving about ``target`` intervals over ``span``."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(1, target)
    k = math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * 10 ** k >= raw:
            return float(m * 10 ** k)
    return float(10 ** (k + 1))


def psnr_plot(frames: Sequence[int], values: Sequence[float], keyframes: Sequence[int] = (),
              title: str = "", size=(900, 360), mean: Optional[float] = None) -> np.ndarray:
    """Line plot of per-frame PSNR with axes, ticks and keyframe markers.

    Args:
        frames: x values (frame indices), ascending.
        values: PSNR in dB per frame; ``inf`` (identical frame) is drawn as a triangle at
            the top edge, NaN is skipped.
        keyframes: frames that are colour references (vertical orange lines).
        title: drawn at the top left.
        size: (width, height) of the image.
        mean: if given, a dashed horizontal line and its value.

    Returns:
        (height, width, 3) uint8 BGR image (white background).
    """
    W, H = int(size[0]), int(size[1])
    img = np.full((H, W, 3), 255, np.uint8)
    left, right, top, bottom = 64, 20, 34, 46
    x0, x1, y0, y1 = left, W - right, top, H - bottom  # plot box (y0 top)
    fr = np.asarray(list(frames), np.float64)
    v = np.asarray(list(values), np.float64)
    fin = v[np.isfinite(v)]
    lo = float(fin.min()) if fin.size else 0.0
    hi = float(fin.max()) if fin.size else 1.0
    if mean is not None and math.isfinite(mean):
        lo, hi = min(lo, mean), max(hi, mean)
    ystep = _nice_step(max(hi - lo, 1.0), 6)
    ylo = math.floor(lo / ystep) * ystep
    yhi = math.ceil(hi / ystep) * ystep
    if yhi <= ylo:
        yhi = ylo + ystep
    fmin = float(fr.min()) if fr.size else 0.0
    fmax = float(fr.max()) if fr.size else 1.0
    if fmax <= fmin:
        fmax = fmin + 1.0

    def px(f: float) -> int:
        return int(round(x0 + (f - fmin) / (fmax - fmin) * (x1 - x0)))

    def py(p: float) -> int:
        return int(round(y1 - (p - ylo) / (yhi - ylo) * (y1 - y0)))

    grid, axis, ink = (225, 225, 225), (60, 60, 60), (40, 40, 40)
    # y ticks and grid
    t = ylo
    while t <= yhi + 1e-9:
        y = py(t)
        cv2.line(img, (x0, y), (x1, y), grid, 1)
        cv2.line(img, (x0 - 5, y), (x0, y), axis, 1)
        lab = f"{t:g}"
        _text(img, lab, (x0 - 8 - _text_width(lab, 0.4), y + 4), 0.4, ink)
        t += ystep
    # x ticks
    xstep = max(1.0, _nice_step(fmax - fmin, 10))
    t = math.ceil(fmin / xstep) * xstep
    while t <= fmax + 1e-9:
        x = px(t)
        cv2.line(img, (x, y1), (x, y1 + 5), axis, 1)
        lab = f"{int(t)}"
        _text(img, lab, (x - _text_width(lab, 0.4) // 2, y1 + 20), 0.4, ink)
        t += xstep
    # keyframes
    for k in keyframes:
        x = px(float(k))
        cv2.line(img, (x, y0), (x, y1), (0, 140, 255), 1, cv2.LINE_AA)
        _text(img, "ref", (x + 3, y0 + 12), 0.38, (0, 110, 220))
    # mean
    if mean is not None and math.isfinite(mean):
        y = py(mean)
        for xs in range(x0, x1, 12):
            cv2.line(img, (xs, y), (min(xs + 6, x1), y), (0, 160, 0), 1)
        _text(img, f"mean {mean:.2f}", (x1 - 90, y - 5), 0.4, (0, 130, 0))
    # axes
    cv2.line(img, (x0, y0), (x0, y1), axis, 1)
    cv2.line(img, (x0, y1), (x1, y1), axis, 1)
    # the line (broken at NaN), inf as triangles on the top edge
    pts = []
    col = (200, 80, 20)
    for f, p in zip(fr, v):
        if math.isnan(p):
            if len(pts) > 1:
                cv2.polylines(img, [np.array(pts, np.int32)], False, col, 2, cv2.LINE_AA)
            pts = []
            continue
        if math.isinf(p):
            x = px(f)
            tri = np.array([[x, y0], [x - 4, y0 + 7], [x + 4, y0 + 7]], np.int32)
            cv2.fillConvexPoly(img, tri, col, cv2.LINE_AA)
            pts.append((x, y0))
            continue
        pts.append((px(f), py(p)))
    if len(pts) > 1:
        cv2.polylines(img, [np.array(pts, np.int32)], False, col, 2, cv2.LINE_AA)
    for p in pts:
        cv2.circle(img, p, 2, col, -1, cv2.LINE_AA)
    _text(img, title or "per-frame PSNR", (x0, 20), 0.5, ink)
    _text(img, "frame", ((x0 + x1) // 2 - 20, H - 8), 0.45, ink)
    _text(img, "dB", (8, y0 + 4), 0.45, ink)
    return img


def evenly_spaced(n: int, k: int = 6) -> list:
    """``k`` indices evenly spread over ``range(n)`` (first and last included), unique."""
    if n <= 0:
        return []
    if n <= k:
        return list(range(n))
    return sorted(set(int(round(i * (n - 1) / (k - 1))) for i in range(k)))
