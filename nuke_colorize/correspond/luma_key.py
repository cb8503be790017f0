"""Luminance-keyed matched colour: a bilateral grid of the reference's colour, carried by
the match.

Matching works on grid cells (stride 8 of the feature image, 6-7 plate pixels at 854x480):
each reference cell carries one colour, the mean a*b* of its pixels, so a cell that
straddles a dark coat and a white collar carries their average, and the edge-aware
upsampling of the matched colour can only redistribute that average. Within one shot a
keyframe's colours go with its luminance, so each reference cell can instead carry its
colour *as a function of L**: per L* bin (tent-weighted bins ``spacing`` apart), the
fraction of the cell's pixels in the bin and their summed a*b*, normalised by the cell's
pixel count. These tables are linear in the pixels, so the same softmax weights that
average the cell colours average the tables (the match just carries more values), and
every target pixel then reads, from its cell's matched table (bilinear between cells), the
colour of matched reference pixels of *its own* luminance:

    ab(x) = (sum_b t_b(L(x)) S_b(x) + prior * ab_cell(x)) / (sum_b t_b(L(x)) n_b(x) + prior)

with ``t_b`` the tent weights of the pixel's L* on the bins, ``n_b`` / ``S_b`` the matched
fractions / summed a*b*, and ``ab_cell`` the plain matched colour (upsampled as before),
which takes over where no matched reference pixel has the target's luminance.

Conventions: ``L`` (H, W) float32 CIE L* in [0, 100]; ``ab`` (H, W, 2) float32 CIE a*b*;
``grid`` = (gh, gw) row-major cells covering the image uniformly (as ``cv2.resize`` to
(gw, gh) with ``INTER_AREA`` does); tables (gh * gw, 3 * B) float32, laid out
``[n_0..n_{B-1} | a_0..a_{B-1} | b_0..b_{B-1}]``.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Optional, Tuple

import cv2
import numpy as np
import torch

L_RANGE = (0.0, 100.0)


def bin_centres(spacing: float) -> np.ndarray:
    """(B,) L* bin centres evenly over [0, 100], both ends included, at most ``spacing``
    apart."""
    lo, hi = L_RANGE
    n = max(1, int(math.ceil((hi - lo) / float(spacing) - 1e-9)))
    return (lo + (hi - lo) / n * np.arange(n + 1)).astype(np.float32)


def tent_weights(L: np.ndarray, centres: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear interpolation weights of each L* on the bins (L clipped to [0, 100]).

    Returns (lower bin index (...,) int, weight of the lower bin (...,), weight of the upper
    bin (...,)); the two weights sum to 1 and the upper bin is ``lower + 1``.
    """
    lo, hi = L_RANGE
    step = (hi - lo) / (len(centres) - 1)
    pos = (np.clip(np.asarray(L, np.float32), lo, hi) - lo) / np.float32(step)
    i0 = np.minimum(np.floor(pos).astype(np.int64), len(centres) - 2)
    w1 = (pos - i0).astype(np.float32)
    return i0, (1.0 - w1).astype(np.float32), w1


def cell_tables(L: np.ndarray, ab: np.ndarray, grid: Tuple[int, int], centres: np.ndarray,
                coverage: Optional[np.ndarray] = None) -> np.ndarray:
    """A reference's per-cell luminance tables, (gh * gw, 3 * B) float32.

    For every cell and bin b: ``n_b`` = mean over the cell's pixels of the tent weight t_b(L)
    (the fraction of the cell in the bin; sum_b n_b = 1) and ``S_b`` = mean of t_b(L) * ab,
    so sum_b S_b is the cell's mean a*b* (the plain matched value). With ``coverage``
    ((H, W) bool, :mod:`nuke_colorize.coverage`) the means are over the cell's covered pixels
    only (a cell with none: zeros).
    """
    gh, gw = grid
    h, w = L.shape
    B = len(centres)
    i0, w0, w1 = tent_weights(L, centres)
    planes = np.zeros((h, w, 3 * B), np.float32)
    rows, cols = np.indices((h, w), sparse=True)
    ab = np.asarray(ab, np.float32)
    for idx, wt in ((i0, w0), (i0 + 1, w1)):
        planes[rows, cols, idx] += wt
        planes[rows, cols, B + idx] += wt * ab[..., 0]
        planes[rows, cols, 2 * B + idx] += wt * ab[..., 1]
    if coverage is None:
        return _resize(planes, (gw, gh), cv2.INTER_AREA).reshape(gh * gw, 3 * B)
    c = np.asarray(coverage, np.float32)
    cells = _resize(planes * c[..., None], (gw, gh), cv2.INTER_AREA)
    frac = cv2.resize(c, (gw, gh), interpolation=cv2.INTER_AREA)
    cells = np.where(frac[..., None] > 0, cells / np.maximum(frac, 1e-6)[..., None], 0.0)
    return cells.astype(np.float32).reshape(gh * gw, 3 * B)


def slice_tables(tables: np.ndarray, grid: Tuple[int, int], L: np.ndarray, centres: np.ndarray,
                 fallback: np.ndarray, prior: float) -> np.ndarray:
    """Each target pixel's colour read from its matched tables at its own luminance.

    Args:
        tables: (gh * gw, 3 * B) matched tables of the target's cells (softmax averages of
            :func:`cell_tables` rows).
        grid: (gh, gw).
        L: (H, W) target L*.
        centres: (B,) the bins the tables were made with.
        fallback: (H, W, 2) the plain matched colour at pixel resolution.
        prior: weight of ``fallback``, in cell fractions (> 0).

    Returns:
        (H, W, 2) float32 a*b*. The tables are interpolated bilinearly between cell centres
        (half-pixel convention, clamped at the borders, as ``cv2.resize``) and linearly
        between the pixel's two bins: 8 reads of (n, a, b) per pixel.
    """
    gh, gw = grid
    h, w = L.shape
    B = len(centres)
    # rows (cell, bin) -> (n, S_a, S_b)
    t = torch.from_numpy(np.ascontiguousarray(tables, np.float32)).reshape(gh * gw, 3, B)
    t = t.transpose(1, 2).reshape(gh * gw * B, 3).contiguous()
    i0, w0, w1 = tent_weights(L, centres)
    i0 = torch.from_numpy(i0.reshape(-1))
    w0 = torch.from_numpy(w0.reshape(-1, 1))
    w1 = torch.from_numpy(w1.reshape(-1, 1))
    acc = torch.zeros((h * w, 3), dtype=torch.float32)
    for cell, wc in _corners(h, w, gh, gw):
        row = cell * B + i0
        acc.addcmul_(wc * w0, t.index_select(0, row))
        acc.addcmul_(wc * w1, t.index_select(0, row + 1))
    p = float(prior)
    fb = torch.from_numpy(np.ascontiguousarray(fallback, np.float32)).reshape(-1, 2)
    out = (acc[:, 1:] + p * fb) / (acc[:, :1] + p)
    return out.reshape(h, w, 2).numpy()


@lru_cache(maxsize=4)
def _corners(h: int, w: int, gh: int, gw: int) -> Tuple[Tuple[torch.Tensor, torch.Tensor], ...]:
    """Bilinear interpolation of a (gh, gw) grid at every pixel of an (h, w) image: four
    (cell index (h * w,) int64, weight (h * w, 1) float32) pairs."""
    def axis(n_out: int, n_in: int):
        x = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0, n_in - 1)
        lo = np.floor(x).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        f = (x - lo).astype(np.float32)
        return ((lo, 1.0 - f), (hi, f))

    out = []
    for ys, wy in axis(h, gh):
        for xs, wx in axis(w, gw):
            cell = (ys[:, None] * gw + xs[None, :]).reshape(-1)
            wt = (wy[:, None] * wx[None, :]).reshape(-1, 1).astype(np.float32)
            out.append((torch.from_numpy(cell), torch.from_numpy(wt)))
    return tuple(out)


def _resize(img: np.ndarray, size: Tuple[int, int], interpolation: int) -> np.ndarray:
    """``cv2.resize`` of a many-channel (H, W, C) image, in slices of <= 4 channels (what
    every interpolation of OpenCV's resize accepts)."""
    c = img.shape[2]
    parts = [cv2.resize(np.ascontiguousarray(img[..., s:s + 4]), size, interpolation=interpolation)
             for s in range(0, c, 4)]
    parts = [q[..., None] if q.ndim == 2 else q for q in parts]
    return np.concatenate(parts, axis=2) if len(parts) > 1 else parts[0]
