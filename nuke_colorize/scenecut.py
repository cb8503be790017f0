"""Scene-cut detection on plate luminance.

Each frame is reduced to a small signature: its L* image area-resized to 32 pixels on the
long side and a 32-bin L* histogram. The change between consecutive frames is

    d_t = sqrt(hist_t * mad_t)                                   (in [0, 1])

with ``hist_t`` = half the L1 distance of the histograms (tonal change) and ``mad_t`` = the
mean absolute L* difference of the small images / 100, minimised over global shifts of up
to :data:`MAX_SHIFT` of the frame (a camera pan is not a cut). Both must change for a cut:
fast motion changes the pixels but keeps the tonal distribution; a lighting change moves
the histogram but not the layout.

A cut at t (frame t starts a new scene) is a spike: ``d_t >= ABS_MIN`` and, on each side
of t separately (up to :data:`WINDOW` frames), ``d_t`` exceeds :data:`RATIO` times the
median, the median plus :data:`SIGMAS` robust standard deviations (1.4826 MAD) and the
largest value; of two cuts closer than :data:`MIN_SCENE` frames the larger is kept.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, List, Sequence, Tuple

import cv2
import numpy as np

SMALL = 32          # long side of the signature image (pixels)
BINS = 32
MAX_SHIFT = 0.125   # largest global shift tried, as a fraction of each side
ABS_MIN = 0.08
RATIO = 2.0
SIGMAS = 3.0
WINDOW = 12
MIN_SCENE = 4


@dataclass
class Signature:
    """Small L* image (h, w) float32 and normalised L* histogram (BINS,) of one frame."""

    small: np.ndarray
    hist: np.ndarray


def signature(y: np.ndarray) -> Signature:
    """(H, W) linear luminance of a plate frame -> its :class:`Signature`."""
    from .color import y_to_L

    y = np.asarray(y, np.float32)
    h, w = y.shape
    s = SMALL / max(h, w)
    sw, sh = max(4, int(round(w * s))), max(4, int(round(h * s)))
    mid = cv2.resize(y, (sw * 4, sh * 4), interpolation=cv2.INTER_AREA) if max(h, w) > SMALL * 4 else y
    L = y_to_L(np.maximum(mid, 0.0))
    hist, _ = np.histogram(np.clip(L, 0, 100), bins=BINS, range=(0.0, 100.0))
    small = cv2.resize(L, (sw, sh), interpolation=cv2.INTER_AREA)
    return Signature(small=small.astype(np.float32), hist=(hist / max(1, hist.sum())).astype(np.float32))


def _shifted_mad(a: np.ndarray, b: np.ndarray) -> float:
    """Mean |a - b| over the overlap, minimised over integer global shifts."""
    h, w = a.shape
    if b.shape != a.shape:
        b = cv2.resize(b, (w, h), interpolation=cv2.INTER_AREA)
    mx, my = max(0, int(round(w * MAX_SHIFT))), max(0, int(round(h * MAX_SHIFT)))
    best = np.inf
    for dy in range(-my, my + 1):
        for dx in range(-mx, mx + 1):
            pa = a[max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)]
            pb = b[max(0, -dy):h + min(0, -dy), max(0, -dx):w + min(0, -dx)]
            best = min(best, float(np.mean(np.abs(pa - pb))))
    return best


def change(a: Signature, b: Signature) -> float:
    """Change ``d`` in [0, 1] between two consecutive frames (see module doc)."""
    hist = 0.5 * float(np.abs(a.hist - b.hist).sum())
    mad = min(1.0, _shifted_mad(a.small, b.small) / 100.0)
    return float(np.sqrt(hist * mad))


def changes(signatures: Sequence[Signature]) -> np.ndarray:
    """(T,) change from the previous frame for each frame (0 for the first)."""
    d = np.zeros(len(signatures), np.float64)
    for t in range(1, len(signatures)):
        d[t] = change(signatures[t - 1], signatures[t])
    return d


def _side_threshold(side: np.ndarray) -> float:
    """The change a cut must exceed, judged from one side's frames: RATIO x their median
    and SIGMAS robust standard deviations above it, and their maximum."""
    if not side.size:
        return 0.0
    med = float(np.median(side))
    mad = 1.4826 * float(np.median(np.abs(side - med)))
    return max(RATIO * med, med + SIGMAS * mad, float(side.max()))


def detect_cuts(d: np.ndarray) -> List[int]:
    """Indices t (into the frame list) where a new scene starts, from :func:`changes`.

    Each side of t (up to :data:`WINDOW` frames, t excluded) is judged on its own, so a cut
    from a fast-moving scene into a static one is measured against the fast one."""
    d = np.asarray(d, np.float64)
    cuts: List[int] = []
    for t in range(1, len(d)):
        if d[t] < ABS_MIN:
            continue
        before, after = d[max(1, t - WINDOW):t], d[t + 1:t + 1 + WINDOW]
        if d[t] <= max(_side_threshold(before), _side_threshold(after)):
            continue
        if cuts and t - cuts[-1] < MIN_SCENE:   # two spikes close together: keep the larger
            if d[t] > d[cuts[-1]]:
                cuts[-1] = t
            continue
        cuts.append(t)
    return cuts


def scenes(frames: Sequence[int], cuts: Iterable[int]) -> List[Tuple[int, int]]:
    """Split ``frames`` (sorted) at cut indices -> [(first frame, last frame)] per scene."""
    frames = list(frames)
    starts = [0] + sorted(c for c in set(cuts) if 0 < c < len(frames)) + [len(frames)]
    return [(frames[a], frames[b - 1]) for a, b in zip(starts[:-1], starts[1:]) if b > a]


def detect_scenes(luma: Callable[[int], np.ndarray], frames: Sequence[int],
                  progress: Callable[[int], None] = None) -> Tuple[List[Tuple[int, int]], np.ndarray]:
    """Read every frame's luminance through ``luma(frame)`` and split at cuts.

    Returns (scenes as [(first, last)], changes (T,))."""
    sigs = []
    for f in frames:
        sigs.append(signature(luma(f)))
        if progress is not None:
            progress(f)
    d = changes(sigs)
    return scenes(frames, detect_cuts(d)), d
