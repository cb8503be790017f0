"""Synthetic archival-film degradations of true-colour footage, for evaluation.

Black-and-white scans that studios colourise are rarely clean: exposure flickers from frame
to frame (uneven development, shutter, lamp) and film grain modulates the luminance of every
pixel. ``nuke-colorize eval --degrade flicker=A,grain=S`` degrades the true-colour clip
*before* its grey plate and its reference frames are taken, so the truth, the plate and the
painted keyframe all show the same degradation (as a painter paints the scan). The truth
changes with the degradation, so scores compare between runs at one degradation (or as
margins over the grey plate's own score).

Both degradations multiply a frame's linear RGB by one factor per pixel, the same for R, G
and B: luminance changes, chromaticity does not.

* ``flicker=A``: every frame's exposure is multiplied by ``exp(-u)``, ``u`` uniform in
  ``[0, A]`` (A = 0.2: frames up to 18% darker than others, strong archival flicker). Frames
  only darken, so no highlight clips that the footage did not clip: a brightened frame's
  8-bit truth would lose its colour there, and the score would measure that loss rather
  than how the colourisation copes with the change of exposure.
* ``grain=S``: every pixel's luminance is multiplied by ``1 + n``, ``n`` Gaussian of standard
  deviation ``S`` clipped to ``[-3S, 3S]`` (independent per pixel and frame).
* ``seed=N``: the random draws; frame ``t`` of a clip always gets the same draws, whatever
  else is evaluated.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .errors import InputError


@dataclass(frozen=True)
class Degradation:
    """Flicker amplitude (log-exposure, >= 0), grain standard deviation (relative, >= 0), seed."""

    flicker: float = 0.0
    grain: float = 0.0
    seed: int = 0

    def __bool__(self) -> bool:
        return self.flicker > 0 or self.grain > 0

    def describe(self) -> str:
        return f"flicker={self.flicker:g},grain={self.grain:g},seed={self.seed}"

    def gain(self, frame: int) -> float:
        """Exposure factor of ``frame`` (1.0 without flicker)."""
        if self.flicker <= 0:
            return 1.0
        u = np.random.default_rng([self.seed, 1, frame]).uniform(0.0, self.flicker)
        return float(np.exp(-u))

    def apply(self, rgb_linear: np.ndarray, frame: int) -> np.ndarray:
        """(H, W, 3) linear RGB of clip frame ``frame`` -> degraded (H, W, 3) float32 linear
        (unclipped: the caller's encoding clips)."""
        factor = np.full(rgb_linear.shape[:2], self.gain(frame), np.float32)
        if self.grain > 0:
            n = np.random.default_rng([self.seed, 2, frame]).standard_normal(rgb_linear.shape[:2])
            factor *= (1.0 + self.grain * np.clip(n, -3.0, 3.0)).astype(np.float32)
        return np.asarray(rgb_linear, np.float32) * factor[..., None]


_LIMITS = {"flicker": 1.0, "grain": 0.3}


def parse_degradation(spec: Optional[str]) -> Optional[Degradation]:
    """``"flicker=0.2,grain=0.05[,seed=3]"`` -> :class:`Degradation`; None or "" -> None.

    Raises InputError on unknown keys, repeated keys, non-numbers or values out of range
    (flicker 0-1, grain 0-0.3, seed >= 0).
    """
    if not spec:
        return None
    values = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in ("flicker", "grain", "seed"):
            raise InputError(f"--degrade: cannot read {part.strip()!r}",
                             hint="e.g. --degrade flicker=0.2,grain=0.05 (keys: flicker, grain, seed)")
        if key in values:
            raise InputError(f"--degrade: {key} is given twice")
        try:
            values[key] = int(value) if key == "seed" else float(value)
        except ValueError:
            raise InputError(f"--degrade: {key}={value.strip()!r} is not a number") from None
        if key == "seed" and values[key] < 0:
            raise InputError(f"--degrade: seed={values[key]} is negative")
        if key in _LIMITS and not 0.0 <= values[key] <= _LIMITS[key]:
            raise InputError(f"--degrade: {key}={values[key]:g} is outside 0-{_LIMITS[key]:g}")
    return Degradation(**values)
