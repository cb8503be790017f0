"""Where would one more painted keyframe help most? (``nuke-colorize suggest-keyframe``)

Input: the backend's mean confidence per frame over the shot, c(t) in [0, 1] (keyframes
are 1). A new keyframe at frame k anchors chains that the engine blends with the existing
chains on every frame between k's neighbouring keyframes a < k < b (by confidence: the chain
that still tracks a pixel decides its colour), and its help fades with distance along the
chain as tracking loses hold. So

    gain(k) = sum over frames a < s < b of (1 - c(s)) * exp(-|s - k| / reach)

and the suggestions are the frames with the largest gain, chosen greedily: after each pick
the pick is treated as a keyframe, the confidence of the frames between its neighbours
raised to at least exp(-|s - k| / reach), so a second suggestion goes where the first does
not already help. (Counting only the frames nearer to k than to a or b, as when the engine
split shots at the midpoints, picked worse: bench/suggest_keyframe.py, six DAVIS clips,
38.76 dB against 38.93.)
"""
from __future__ import annotations

import math
from typing import Dict, List, Sequence, Tuple

import numpy as np


def neighbours(keyframes: Sequence[int], k: int) -> Tuple[float, float]:
    """The keyframes either side of frame ``k`` (-inf / inf where there is none): a keyframe
    at ``k`` helps the frames strictly between them."""
    return (max((j for j in keyframes if j < k), default=-math.inf),
            min((j for j in keyframes if j > k), default=math.inf))


def check_reach(reach: float) -> float:
    """``reach`` as a float: a finite number of frames > 0, else ValueError. (Infinite reach
    means no fading: every frame between two keyframes would gain alike wherever the new one
    goes, so the ranking would say nothing.)"""
    r = float(reach)
    if not (math.isfinite(r) and r > 0):
        raise ValueError(f"reach must be a finite number of frames > 0, not {reach!r}")
    return r


def gains(confidence: Dict[int, float], keyframes: Sequence[int], reach: float = 25.0) -> Dict[int, float]:
    """Gain of a new keyframe at each non-keyframe frame (see module docstring)."""
    reach = check_reach(reach)
    frames = sorted(confidence)
    keys = sorted(set(int(k) for k in keyframes))
    miss = np.array([1.0 - float(np.clip(confidence[f], 0.0, 1.0)) for f in frames])
    fr = np.array(frames, dtype=np.float64)
    out = {}
    for k in frames:
        if k in keys:
            continue
        d = np.abs(fr - k)
        # two-sided: between its neighbouring keyframes the new chain is blended with the old
        # ones, so it helps every frame there as far as its track holds
        lo, hi = neighbours(keys, k)
        taken = (fr > lo) & (fr < hi)
        out[k] = float(np.sum(miss[taken] * np.exp(-d[taken] / max(1e-6, reach))))
    return out


def suggest(confidence: Dict[int, float], keyframes: Sequence[int], count: int = 3,
            reach: float = 25.0) -> List[Dict[str, float]]:
    """Up to ``count`` suggestions ``{"frame", "gain", "confidence"}``, best first."""
    reach = check_reach(reach)
    keys = list(keyframes)
    conf = dict(confidence)
    out = []
    for _ in range(max(0, int(count))):
        g = gains(conf, keys, reach)
        if not g:
            break
        k = max(g, key=lambda f: (g[f], -f))
        if g[k] <= 0.0:
            break
        out.append({"frame": int(k), "gain": round(g[k], 4), "confidence": round(float(confidence[k]), 4)})
        keys.append(k)
        # frames the pick takes over now count as covered (with the confidence decay)
        lo, hi = neighbours(keys, k)
        for s in conf:
            if lo < s < hi:
                conf[s] = max(conf[s], math.exp(-abs(s - k) / max(1e-6, reach)))
    return out
