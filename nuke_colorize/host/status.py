"""Cache coverage of a shot version, from the files on disk (standard library only).

A frame is *cached* when the current version's output file exists, *stale* when only an
older version (other references or settings) has it, *missing* otherwise. The node's status
line and the reference panel's segment bar both come from :func:`coverage`.
"""
from __future__ import annotations

import os

from . import frames as fr
from .shotspec import OUTPUT_NAME


def coverage(output_pattern, first, last, exclude=()):
    """Per-frame state over [first, last]: list of (frame, "cached" | "stale" | "missing").
    ``exclude``: version folders that are not older versions of this one (those other nodes of
    the same shot show)."""
    version_dir = os.path.dirname(output_pattern)
    shot_root = os.path.dirname(version_dir)
    skip = set(os.path.normpath(p) for p in exclude) | {os.path.normpath(version_dir)}
    try:
        others = [os.path.join(shot_root, n, OUTPUT_NAME) for n in sorted(os.listdir(shot_root))
                  if n.startswith("v_") and os.path.normpath(os.path.join(shot_root, n)) not in skip]
    except OSError:
        others = []
    current = set(fr.existing_frames(output_pattern, first, last))
    old = set()
    for pattern in others:
        old.update(fr.existing_frames(pattern, first, last))
    states = []
    for f in range(int(first), int(last) + 1):
        states.append((f, "cached" if f in current else ("stale" if f in old else "missing")))
    return states


def merge_runs(runs):
    """Runs [(first, last, state)] in order -> the same runs, each one that continues the one
    before it (same state, starting on the next number) joined to it."""
    out = []
    for a, b, s in runs:
        if out and out[-1][2] == s and out[-1][1] == a - 1:
            out[-1] = (out[-1][0], b, s)
        else:
            out.append((a, b, s))
    return out


def segments(states):
    """Per-frame states -> runs [(first, last, state)]."""
    return merge_runs((f, f, s) for f, s in states)


def summary(states):
    """One status line, e.g. ``cached 40/100 frames (1001-1040); 10 stale``."""
    total = len(states)
    if not total:
        return "no frames"
    cached = [f for f, s in states if s == "cached"]
    stale = sum(1 for _, s in states if s == "stale")
    if len(cached) == total:
        return "cached %d/%d frames: ready" % (total, total)
    text = "cached %d/%d frames" % (len(cached), total)
    if cached:
        runs = fr.to_ranges(cached)
        shown = ", ".join(fr.format_range(a, b) for a, b in runs[:3]) + (", ..." if len(runs) > 3 else "")
        text += " (%s)" % shown
    if stale:
        text += "; %d stale (references or settings changed)" % stale
    return text + "; press Analyze"
