"""Resampling between a plate's pixels and the square-pixel working image.

A plate whose pixels are not square (``PixelAspectRatio`` 2.0 for a 2x anamorphic scan,
~0.9 for NTSC) is seen by the backends at its *display* aspect: features, matches and the
positional prior then work on the scene as a square-pixel photograph shows it, and a
reference still (square pixels, or its own aspect) compares with it fairly. The output is
always written on the plate's own pixel grid.
"""
from __future__ import annotations

import math
from typing import Tuple

import cv2
import numpy as np


def clean_aspect(value) -> float:
    """A pixel aspect as a float; 1.0 for anything that is not a number between 1/1000 and
    1000 (a missing or broken header attribute)."""
    try:
        v = float(value) if value else 1.0
    except (TypeError, ValueError):
        return 1.0
    return v if math.isfinite(v) and 1e-3 < v < 1e3 else 1.0


def display_width(width: int, pixel_aspect: float) -> int:
    """Width in square pixels of an image ``width`` pixels wide whose pixels are
    ``pixel_aspect`` times as wide as they are high (see :func:`clean_aspect`)."""
    par = clean_aspect(pixel_aspect)
    return int(width) if par == 1.0 else max(1, int(round(width * par)))


def resample(img: np.ndarray, size: Tuple[int, int], enlarge=cv2.INTER_LINEAR) -> np.ndarray:
    """Resize ``img`` (H, W[, C]) float32 to ``size`` = (w, h), averaging along an axis that
    shrinks and interpolating (``enlarge``) along one that grows: an anamorphic plate's
    working image can be wider and lower than the plate at once."""
    h, w = img.shape[:2]
    tw, th = int(size[0]), int(size[1])
    if (tw, th) == (w, h):
        return img
    if (tw <= w) == (th <= h):
        return cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA if tw <= w else enlarge)
    mid = cv2.resize(img, (tw, h), interpolation=cv2.INTER_AREA if tw < w else enlarge)
    return cv2.resize(mid, (tw, th), interpolation=cv2.INTER_AREA if th < h else enlarge)
