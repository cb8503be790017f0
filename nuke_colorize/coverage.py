"""A reference's coverage: which of its pixels carry colour (its alpha at 0.5 and above; a
premultiplied file's wherever its alpha is above 0).

A cut-out still (a PNG of a costume on a transparent background) or a keyframe painted only
in part holds colour where its alpha is, and black or unpainted grey elsewhere. Uncovered
pixels give no colour: the backends never match them, cells average only covered pixels,
and the dense track reads no keyframe colour there. A reference covered everywhere (or
without alpha) has no coverage (None) and is used exactly as before.

When no reference is whole (:func:`unpainted_is_grey`), nothing offers colour for what the
keyframes leave unpainted, and matching only their painted cells would spread the painted
colours over the rest of the frame (six DAVIS clips, frame 0 painted on the object only:
22.04 dB over the frame against the grey plate's 23.66). A keyframe's unpainted cells are
then candidates standing for grey (a*b* 0): its own scene's unpainted parts match them best,
so they stay grey, and the painted colour stays on what looks like the painted parts.
A still's uncovered cells (another scene's background) are never candidates.

Conventions: ``coverage`` (H, W) bool, True = carries colour; fractions (h, w) float32 in
[0, 1]; sizes (width, height) as OpenCV takes them.
"""
from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np

#: alpha from which a pixel carries colour; also the fraction of covered pixels a resampled
#: pixel or a matching cell needs to count as covered
THRESHOLD = 0.5


def from_alpha(alpha: Optional[np.ndarray], premultiplied: bool = False) -> Optional[np.ndarray]:
    """(H, W) alpha -> (H, W) bool coverage, or None when every pixel is covered (or there is
    no alpha): the reference is used whole.

    Straight (unassociated) alpha, a PNG's or a TIFF's: covered where alpha >= 0.5. A
    premultiplied file (EXR) holds each pixel's colour times its alpha, and the reference's
    colour is its unpremultiplied pixels (a keyframe painted over a keyed, premultiplied
    plate is right at every alpha of the plate): covered wherever alpha > 0; only its fully
    transparent pixels, which hold no colour, are not."""
    if alpha is None:
        return None
    a = np.asarray(alpha, np.float32)
    cov = a > 0 if premultiplied else a >= THRESHOLD
    return None if bool(cov.all()) else cov


def fraction(coverage: np.ndarray, size: Tuple[int, int], interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """(H, W) bool coverage -> (h, w) float32 covered fraction in [0, 1] at ``size`` = (w, h)."""
    c = np.ascontiguousarray(coverage, dtype=np.float32)
    if (c.shape[1], c.shape[0]) == tuple(size):
        return c
    return np.clip(cv2.resize(c, tuple(size), interpolation=interpolation), 0.0, 1.0)


def resample(coverage: np.ndarray, size: Tuple[int, int], interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """(H, W) bool coverage -> (h, w) bool at ``size``: covered where at least half of it is
    (:func:`fraction` >= 0.5); where that leaves nothing, wherever any of it is (a reference
    whose few covered pixels fall below half of every resampled pixel keeps them)."""
    f = fraction(coverage, size, interpolation)
    out = f >= THRESHOLD
    return out if out.any() else f > 0


def weighted_resize(img: np.ndarray, coverage: np.ndarray, size: Tuple[int, int],
                    interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """(H, W[, C]) float32 image -> (h, w[, C]) at ``size``, each output pixel from covered
    input pixels only (``resize(img * c) / resize(c)``); output pixels with no covered input
    take the plain resize."""
    img = np.ascontiguousarray(img, dtype=np.float32)
    c = np.ascontiguousarray(coverage, dtype=np.float32)
    c_img = c if img.ndim == 2 else c[..., None]
    plain = cv2.resize(img, tuple(size), interpolation=interpolation).reshape((size[1], size[0]) + img.shape[2:])
    num = cv2.resize(img * c_img, tuple(size), interpolation=interpolation).reshape(plain.shape)
    den = cv2.resize(c, tuple(size), interpolation=interpolation)
    den = den if img.ndim == 2 else den[..., None]
    out = np.where(den > 1e-3, num / np.maximum(den, 1e-3), plain)
    return out.astype(np.float32)


def weighted_blur(img: np.ndarray, coverage: np.ndarray, sigma: float) -> np.ndarray:
    """(H, W, C) float32 image blurred by a Gaussian of ``sigma`` pixels over covered pixels
    only (normalised convolution); pixels with no covered neighbour keep their value."""
    img = np.ascontiguousarray(img, dtype=np.float32)
    c = np.ascontiguousarray(coverage, dtype=np.float32)
    num = cv2.GaussianBlur(img * c[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(c, (0, 0), sigma)
    if num.ndim == 2:
        num = num[..., None]
    ok = den > 1e-3
    return np.where(ok[..., None], num / np.maximum(den, 1e-3)[..., None], img).astype(np.float32)


def fill_unpainted(rgb: np.ndarray, coverage: np.ndarray, luminance: np.ndarray) -> np.ndarray:
    """A keyframe painted in part, its unpainted pixels replaced by its plate frame's grey.

    ``rgb`` (H, W, 3) float32 linear, ``coverage`` (H, W) bool, ``luminance`` (h, w) float32
    linear: the plate frame the keyframe colours (resized to (H, W) when another size).
    Matching reads a keyframe's luminance: what a paint layer holds where it is not painted
    (black, or anything) would make the unpainted part of its own scene unrecognisable; the
    plate's grey is what the artist left there. Returns (H, W, 3) float32."""
    h, w = coverage.shape
    y = np.asarray(luminance, np.float32)
    if y.shape != (h, w):
        y = cv2.resize(y, (w, h), interpolation=cv2.INTER_AREA if y.shape[1] > w else cv2.INTER_LINEAR)
    return np.where(coverage[..., None], rgb, y[..., None]).astype(np.float32)


def unpainted_is_grey(references) -> bool:
    """True when every reference (objects with a ``coverage``: None = whole) is covered only
    in part: then a keyframe's unpainted cells stand for grey instead of being left out (see
    the module's docstring)."""
    refs = list(references)
    return bool(refs) and all(getattr(r, "coverage", None) is not None for r in refs)


def cells(coverage: Optional[np.ndarray], grid: Tuple[int, int]) -> Optional[np.ndarray]:
    """(H, W) bool coverage -> (gh * gw,) bool: the cells of the row-major ``grid`` = (gh, gw)
    that may be matched (mostly covered, see :func:`resample`), or None (no coverage: all)."""
    if coverage is None:
        return None
    gh, gw = grid
    return resample(coverage, (gw, gh)).reshape(-1)
