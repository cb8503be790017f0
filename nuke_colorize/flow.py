"""Dense optical flow (OpenCV DIS) on luminance, warping, forward-backward consistency.

Flow convention: ``flow[y, x] = (dx, dy)`` maps a pixel of image A to its position in
image B, i.e. ``A(x) ~ B(x + flow(x))``. :func:`warp` samples an image of B at
``x + flow(x)`` and so brings B's content onto A's grid.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Tuple

import cv2
import numpy as np

_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def L_to_u8(L: np.ndarray) -> np.ndarray:
    """(H, W) CIE L* in [0, 100] -> uint8 image for flow (perceptually uniform steps)."""
    return np.clip(np.asarray(L, np.float32) * 2.55 + 0.5, 0, 255).astype(np.uint8)


def dis_flow(a_u8: np.ndarray, b_u8: np.ndarray, preset: str = "medium") -> np.ndarray:
    """DIS flow from A to B: (H, W) uint8 each -> (H, W, 2) float32 with A(x) ~ B(x + flow).

    Deterministic for identical inputs (single-threaded inside OpenCV's DIS).
    """
    dis = cv2.DISOpticalFlow_create(_PRESETS[preset])
    return dis.calc(np.ascontiguousarray(a_u8), np.ascontiguousarray(b_u8), None)


def warp(image: np.ndarray, flow: np.ndarray, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """Sample ``image`` (H, W[, C]) at ``x + flow(x)`` (bilinear). Returns the same shape."""
    gx, gy = pixel_grid(*flow.shape[:2])
    mx = gx + flow[..., 0]
    my = gy + flow[..., 1]
    img = np.ascontiguousarray(image, dtype=np.float32)
    out = cv2.remap(img, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=border)
    return out.reshape(img.shape)


def fb_error(flow_ab: np.ndarray, flow_ba: np.ndarray) -> np.ndarray:
    """Forward-backward error |f_ab(x) + f_ba(x + f_ab(x))| in pixels, (H, W) float32."""
    back = warp(flow_ba, flow_ab)
    return np.linalg.norm(flow_ab + back, axis=-1).astype(np.float32)


def fb_consistent(flow_ab: np.ndarray, flow_ba: np.ndarray, alpha: float = 0.01,
                  beta: float = 0.5) -> np.ndarray:
    """Occlusion test of Sundaram et al.: True where the round trip A->B->A closes.

    |f + f'|^2 < alpha (|f|^2 + |f'|^2) + beta, with f' = f_ba(x + f_ab(x)). (H, W) bool.
    """
    back = warp(flow_ba, flow_ab)
    fx, fy, bx, by = flow_ab[..., 0], flow_ab[..., 1], back[..., 0], back[..., 1]
    lhs = (fx + bx) ** 2 + (fy + by) ** 2
    rhs = alpha * (fx * fx + fy * fy + bx * bx + by * by) + beta
    inside = _inside(flow_ab)
    return (lhs < rhs) & inside


def _inside(flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    gx, gy = pixel_grid(h, w)
    x = gx + flow[..., 0]
    y = gy + flow[..., 1]
    return (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)


@lru_cache(maxsize=8)
def pixel_grid(h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
    """(x, y) pixel coordinates of an (h, w) image, two (h, w) float32 arrays (read-only,
    shared between calls)."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx.flags.writeable = False
    gy.flags.writeable = False
    return gx, gy
