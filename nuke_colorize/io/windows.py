"""Data and display windows: lining up an image with the plate as a compositor does.

A window is ``(x, y, width, height)`` in image space (pixels, y down, as OpenEXR and
OpenImageIO count them). The *display window* is the format (Nuke's format); the *data
window* holds the stored pixels (Nuke's bounding box): inside the format when cropped,
beyond it with overscan. PNG/JPEG/DPX files without windows have both equal, at 0, 0.

Two images with the same display window are lined up by their data windows (each pixel
at its display coordinates), whatever their data windows hold: this is how a keyframe
painted at the plate's format or a matte rendered with its own bounding box is placed on a
cropped or overscan plate (see :func:`place`). Images of another display window are not
placed by their windows (their callers resample them by shape).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

Window = Tuple[int, int, int, int]   # (x, y, width, height)


@dataclass(frozen=True)
class Windows:
    """An image's data window (its stored pixels) and display window (its format)."""

    data: Window
    display: Window

    @classmethod
    def of_size(cls, width: int, height: int) -> "Windows":
        """Windows of an image without any: both (0, 0, width, height)."""
        w = (0, 0, int(width), int(height))
        return cls(w, w)


def spec_windows(spec) -> Windows:
    """Windows of an OpenImageIO ImageSpec (``x, y, width, height`` and ``full_*``)."""
    return Windows((int(spec.x), int(spec.y), int(spec.width), int(spec.height)),
                   (int(spec.full_x), int(spec.full_y), int(spec.full_width), int(spec.full_height)))


def same_format(image: Optional[Windows], plate: Windows) -> bool:
    """True when ``image`` lines up with ``plate`` through its windows: the same display window
    (origin and size). None (an array with no file behind it) never does."""
    return image is not None and image.display == plate.display


def overlap(a: Window, b: Window) -> int:
    """Number of pixels two windows share (0 when disjoint)."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0, w) * max(0, h)


def describe(window: Window) -> str:
    """``64x36 at (16, 9)``: a window for messages."""
    x, y, w, h = window
    return f"{w}x{h} at ({x}, {y})"


def place(pixels: np.ndarray, src: Window, dst: Window, fill=None) -> np.ndarray:
    """Pixels of the data window ``src`` taken over the window ``dst`` (same display coordinates).

    Args:
        pixels: (H, W) or (H, W, C) of any dtype, H, W = ``src``'s height, width.
        src: where ``pixels`` sit. dst: the window wanted.
        fill: value of ``dst`` pixels outside ``src``; None repeats the nearest edge pixel of
            ``src`` (a compositor's edge mode).

    Returns:
        (h, w[, C]) of ``pixels``' dtype, h, w = ``dst``'s height, width; ``pixels`` itself
        when the windows are equal.
    """
    sx, sy, sw, sh = (int(v) for v in src)
    dx, dy, dw, dh = (int(v) for v in dst)
    if pixels.shape[:2] != (sh, sw):
        raise ValueError(f"pixels {pixels.shape[1]}x{pixels.shape[0]} do not fill the window {describe(src)}")
    if (sx, sy, sw, sh) == (dx, dy, dw, dh):
        return pixels
    ys = np.arange(dy, dy + dh) - sy
    xs = np.arange(dx, dx + dw) - sx
    out = pixels[np.clip(ys, 0, sh - 1)[:, None], np.clip(xs, 0, sw - 1)[None, :]]
    if fill is not None:
        outside = ((ys < 0) | (ys >= sh))[:, None] | ((xs < 0) | (xs >= sw))[None, :]
        out[outside] = fill
    return out
