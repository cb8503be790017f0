"""Frame numbers, frame ranges and Nuke-style sequence patterns (standard library only).

Patterns: ``plate.####.exr`` (one ``#`` per digit), ``plate.%04d.exr``, ``plate.$F4.exr``
(Houdini/Nuke TCL style) and ``plate.@@@@.exr``. Ranges are inclusive ``(first, last)``.
"""
from __future__ import annotations

import os
import re

_HASHES = re.compile(r"#+")
_PRINTF = re.compile(r"%(0?)(\d*)d")
_DOLLAR_F = re.compile(r"\$F(\d*)")
_ATS = re.compile(r"@+")


def frame_path(pattern, frame):
    """Expand a sequence pattern for one frame; a pattern without a frame token is returned as is.

    Negative frames keep the sign in front of the padding (``-001``), as Nuke writes them.
    """
    frame = int(frame)

    def pad(width):
        digits = "%0*d" % (max(int(width or 1), 1), abs(frame))
        return ("-" + digits) if frame < 0 else digits

    out = _HASHES.sub(lambda m: pad(len(m.group(0))), pattern)
    out = _PRINTF.sub(lambda m: pad(m.group(2) if m.group(1) else 1), out)
    out = _DOLLAR_F.sub(lambda m: pad(m.group(1) or 1), out)
    out = _ATS.sub(lambda m: pad(len(m.group(0))), out)
    return out


def is_sequence(pattern):
    """True when ``pattern`` holds a frame token."""
    return bool(_HASHES.search(pattern) or _PRINTF.search(pattern) or _DOLLAR_F.search(pattern)
                or _ATS.search(pattern))


def to_hashes(pattern):
    """Rewrite any frame token as ``####``-style padding (the form shot files and Read nodes use)."""
    out = _PRINTF.sub(lambda m: "#" * max(int(m.group(2) or 1), 1) if m.group(1) else "#", pattern)
    out = _DOLLAR_F.sub(lambda m: "#" * max(int(m.group(1) or 1), 1), out)
    return _ATS.sub(lambda m: "#" * len(m.group(0)), out)


def parse_range(text):
    """``"1001-1100"``, ``"1001"`` or ``"1001:1100"`` -> (first, last). Raises ValueError."""
    t = str(text).strip()
    m = re.match(r"^(-?\d+)\s*(?:(?:-|:)\s*(-?\d+))?$", t)
    if not m:
        raise ValueError("'%s' is not a frame range like 1001-1100" % text)
    a = int(m.group(1))
    b = int(m.group(2)) if m.group(2) is not None else a
    if b < a:
        raise ValueError("frame range %s ends before it starts" % text)
    return a, b


def format_range(first, last):
    return "%d-%d" % (first, last) if last != first else "%d" % first


def to_ranges(frames):
    """Sorted iterable of ints -> list of inclusive [first, last] runs."""
    runs = []
    for f in sorted(set(int(x) for x in frames)):
        if runs and f == runs[-1][1] + 1:
            runs[-1][1] = f
        else:
            runs.append([f, f])
    return runs


def from_ranges(runs):
    out = []
    for a, b in runs:
        out.extend(range(int(a), int(b) + 1))
    return out


def existing_frames(pattern, first, last):
    """Frames in [first, last] whose file exists (and is not empty)."""
    found = []
    for f in range(int(first), int(last) + 1):
        try:
            if os.path.getsize(frame_path(pattern, f)) > 0:
                found.append(f)
        except OSError:
            pass
    return found
