"""Edge-aware upsampling of chroma guided by the plate's full-resolution luminance.

The guided filter of He, Sun and Tang (ECCV 2010 / TPAMI 2013), written on
``cv2.boxFilter`` so it needs no contrib build of OpenCV: for a guide ``I`` and input ``p``
the output is locally ``q = a I + b`` with ``a = cov(I, p) / (var(I) + eps)``, so chroma
edges snap to luminance edges. The fast variant computes ``a`` and ``b`` at a lower
resolution and upsamples them (the coefficients are smooth).
"""
from __future__ import annotations

import cv2
import numpy as np


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True,
                         borderType=cv2.BORDER_REFLECT)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Guided filter with a grey guide.

    Args:
        guide: (H, W) float32 guide, e.g. L*/100 in [0, 1].
        src: (H, W) or (H, W, C) float32 input to filter.
        radius: box radius in pixels.
        eps: regularisation in guide units squared (edges weaker than sqrt(eps) are smoothed).

    Returns:
        Same shape as ``src``, float32.
    """
    I = np.ascontiguousarray(guide, dtype=np.float32)
    p = np.ascontiguousarray(src, dtype=np.float32)
    squeeze = p.ndim == 2
    if squeeze:
        p = p[..., None]
    mI = _box(I, radius)
    vI = _box(I * I, radius) - mI * mI
    mp = _box(p, radius).reshape(p.shape)
    mIp = _box(I[..., None] * p, radius).reshape(p.shape)
    a = (mIp - mI[..., None] * mp) / (vI[..., None] + eps)
    b = mp - a * mI[..., None]
    q = _box(a, radius).reshape(p.shape) * I[..., None] + _box(b, radius).reshape(p.shape)
    return q[..., 0] if squeeze else q


def upsample_guided(src: np.ndarray, guide: np.ndarray, radius: int = 8,
                    eps: float = 1e-3) -> np.ndarray:
    """Upsample ``src`` (h, w, C) to the guide's size (H, W) with edge-aware refinement.

    The coefficients of the guided filter are computed at the source resolution
    (guide downsampled by area) and bilinearly upsampled, then applied to the full
    guide: the cost is O(h w) plus one multiply-add at full resolution.

    Args:
        src: (h, w, C) float32, e.g. ab at working resolution.
        guide: (H, W) float32 full-resolution guide in [0, 1] (L*/100 of the plate).
        radius: radius at the source resolution.
        eps: regularisation (guide units squared).

    Returns:
        (H, W, C) float32.
    """
    H, W = guide.shape
    h, w = src.shape[:2]
    src = np.ascontiguousarray(src, dtype=np.float32)
    if (h, w) == (H, W):
        return guided_filter(guide, src, radius, eps)
    g_lo = cv2.resize(np.ascontiguousarray(guide, np.float32), (w, h), interpolation=cv2.INTER_AREA)
    p = src if src.ndim == 3 else src[..., None]
    mI = _box(g_lo, radius)
    vI = _box(g_lo * g_lo, radius) - mI * mI
    mp = _box(p, radius).reshape(p.shape)
    mIp = _box(g_lo[..., None] * p, radius).reshape(p.shape)
    a = (mIp - mI[..., None] * mp) / (vI[..., None] + eps)
    b = mp - a * mI[..., None]
    a = _box(a, radius).reshape(p.shape)
    b = _box(b, radius).reshape(p.shape)
    A = cv2.resize(a, (W, H), interpolation=cv2.INTER_LINEAR).reshape(H, W, p.shape[2])
    B = cv2.resize(b, (W, H), interpolation=cv2.INTER_LINEAR).reshape(H, W, p.shape[2])
    out = A * guide.astype(np.float32)[..., None] + B
    return out if src.ndim == 3 else out[..., 0]
