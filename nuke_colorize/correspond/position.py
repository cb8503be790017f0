"""A soft positional prior for matching against keyframes of the same shot.

A pixel of frame t usually comes from near where the dense track says it is in the
chain's keyframe, even where the track itself was lost (a turning head, motion blur): its
neighbours' displacements predict its position. Cosine matching alone cannot tell two
similar-looking regions apart (a red jacket and grey jeans in grey features); a bias
towards candidates near the predicted position can.

The prior is added to the cosine affinity without touching the search: every position gets
an encoding ``pe`` (P,) of Gaussian bumps on a fixed lattice of anchors, so that

    pe(a) . pe(b) ~= exp(-|a - b|^2 / (2 sigma^2))      (1 at a = b inside the frame,
                                                       falling to ~0 far outside it)

and appending ``sqrt(weight) * pe`` to both query and key features adds
``weight * kernel(predicted position, key position)`` to every similarity. Keys of external
stills get zeros (no prior). Positions are in units of the image's long side (x in [0, 1],
y in [0, h / w] for a landscape frame).
"""
from __future__ import annotations

import math
from typing import Tuple

import cv2
import numpy as np


def anchors(aspect: float, sigma: float) -> Tuple[np.ndarray, np.ndarray]:
    """The lattice of anchor positions as its two axes (xs (nx,), ys (ny,)): it covers
    [0, 1] x [0, aspect] plus one ring outside, spaced ``sigma / sqrt(2)`` (the bumps' own
    width, so their products sum to a smooth Gaussian of width ``sigma``). P = nx * ny."""
    step = sigma / math.sqrt(2.0)
    xs = np.arange(-step, 1.0 + step + 1e-9, step)
    ys = np.arange(-step, aspect + step + 1e-9, step)
    return xs, ys


def bumps(values: np.ndarray, axis: np.ndarray, sigma: float) -> Tuple[np.ndarray, float]:
    """Gaussian bumps of width ``sigma / sqrt(2)`` on the anchors ``axis`` (A,), for (N,)
    ``values``: (N, A) float64, and their self-product at the axis's centre, ``z``, so that
    ``bumps . bumps / z ~= exp(-(a - b)^2 / (2 sigma^2))`` for a, b within the axis. One axis
    of :func:`encode`; also the luminance prior's whole encoding."""
    s2 = 2.0 * (sigma / math.sqrt(2.0)) ** 2
    phi = np.exp(-(np.asarray(values, np.float64)[:, None] - axis[None]) ** 2 / s2)
    z = np.exp(-2 * (axis - axis.mean()) ** 2 / s2).sum()
    return phi, float(z)


def encode(pos: np.ndarray, lattice: Tuple[np.ndarray, np.ndarray], sigma: float) -> np.ndarray:
    """(N, 2) positions (x, y) -> (N, P) float32 encodings, anchor (iy, ix) at column
    ``iy * nx + ix``, with ``pe(a) . pe(a) ~= 1`` inside the frame (normalised at the
    lattice's centre). The bumps are separable, so this is an outer product per position."""
    xs, ys = lattice
    fx, zx = bumps(pos[:, 0], xs, sigma)
    fy, zy = bumps(pos[:, 1], ys, sigma)
    phi = (fy[:, :, None] * fx[:, None, :]).reshape(pos.shape[0], -1)
    return (phi / math.sqrt(zx * zy)).astype(np.float32)


def cell_centres(grid: Tuple[int, int], size: Tuple[int, int]) -> np.ndarray:
    """(gh * gw, 2) centres of a row-major (gh, gw) grid over an image of ``size`` = (h, w),
    in pixels (x, y)."""
    gh, gw = grid
    h, w = size
    x = (np.arange(gw) + 0.5) * (w / gw)
    y = (np.arange(gh) + 0.5) * (h / gh)
    gx, gy = np.meshgrid(x, y)
    return np.stack([gx.ravel(), gy.ravel()], 1)


def smooth_displacement(disp: np.ndarray, weight: np.ndarray, grid: Tuple[int, int],
                        sigma_cells: float) -> np.ndarray:
    """The track's displacement field, filled in and smoothed, on ``grid``.

    Args:
        disp: (H, W, 2) displacement to the keyframe in pixels; weight: (H, W) its
            confidence in [0, 1].
        grid: (gh, gw) of the result; sigma_cells: Gaussian width in cells.
    Returns:
        (gh * gw, 2) normalised-convolution average of ``disp`` (weights ``weight``) at each
        cell, blending into the global weighted mean where no tracked pixel is near; 0
        when nothing is tracked.
    """
    gh, gw = grid
    w = cv2.resize(weight.astype(np.float32), (gw, gh), interpolation=cv2.INTER_AREA).astype(np.float64)
    d = cv2.resize((disp * weight[..., None]).astype(np.float32), (gw, gh),
                   interpolation=cv2.INTER_AREA).astype(np.float64)
    total = w.sum()
    if total <= 1e-6:
        return np.zeros((gh * gw, 2))
    mean = d.reshape(-1, 2).sum(0) / total
    wb = cv2.GaussianBlur(w, (0, 0), sigma_cells)
    db = cv2.GaussianBlur(d, (0, 0), sigma_cells)
    eps = 1e-2 * wb.max()
    out = (db + eps * mean) / (wb + eps)[..., None]
    return out.reshape(-1, 2)
