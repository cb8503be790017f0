"""Frame sequences written the way Nuke writes them, and frame-range strings.

Patterns (a path is a pattern when it contains one of these tokens):

* ``#`` runs, Nuke's convention: one ``#`` per digit, so ``####`` is ``%04d`` (``plate.####.exr``
  -> ``plate.0012.exr``), ``#`` alone is ``%01d`` (no padding). Frames wider than the padding are
  written in full (``####`` and 12345 -> ``12345``), like printf.
* printf ``%d``, ``%4d``, ``%04d``.
* ``@`` runs (FCheck / Shake style): one ``@`` per digit, as ``#``.

Every token in the path is replaced by the frame number (Nuke's ``replaceHashes`` does the same),
negative frames keep their sign (``%04d`` of -1 is ``-001``).

Frame ranges follow Nuke's syntax: ``17``, ``1001-1100``, ``1-10x2``, ``-8--5`` and several of
these separated by spaces and/or commas (``1,3,5-7`` or ``1-4 8-10``).
"""
from __future__ import annotations

import glob
import os
import re
from typing import Iterable, List, Optional, Tuple

from ..errors import InputError

MAX_FRAMES = 1_000_000  # a range string expanding to more frames than this is refused

_TOKEN = re.compile(r"%(0?)(\d*)d|#+|@+")
_RANGE = re.compile(r"^(-?\d+)(?:-(-?\d+)(?:[x×](\d+))?)?$")


# ---------------------------------------------------------------- frame ranges
def parse_frames(text: str) -> List[int]:
    """Nuke frame-range text -> sorted list of distinct frame numbers.

    ``"1001-1100"`` -> 1001..1100, ``"1-10x2"`` -> [1, 3, 5, 7, 9], ``"1,3,5-7"`` ->
    [1, 3, 5, 6, 7], ``"17"`` -> [17], ``"-3-1"`` -> [-3..1]. A reversed range (``10-1``) gives the
    same frames as ``1-10``. Raises :class:`InputError` on anything else, a step below 1, or more
    than :data:`MAX_FRAMES` frames.
    """
    if text is None or not str(text).strip():
        raise InputError("empty frame range", hint='write e.g. "1001-1100", "1-10x2" or "1,3,5-7"')
    frames = set()
    for token in re.split(r"[\s,]+", str(text).strip()):
        if not token:
            continue
        m = _RANGE.match(token)
        if not m:
            raise InputError(f"cannot read frame range {text!r}: {token!r} is not a frame or range",
                             hint='write e.g. "1001-1100", "1-10x2" or "1,3,5-7"')
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        step = int(m.group(3)) if m.group(3) is not None else 1
        if step < 1:
            raise InputError(f"frame range {token!r}: step must be 1 or more")
        lo, hi = (first, last) if first <= last else (last, first)
        count = (hi - lo) // step + 1
        if len(frames) + count > MAX_FRAMES:
            raise InputError(f"frame range {text!r} has more than {MAX_FRAMES} frames")
        # "10-1x3" runs backwards from 10: 10, 7, 4, 1.
        frames.update(range(first, last + (1 if first <= last else -1), step if first <= last else -step))
    return sorted(frames)


def format_frames(frames: Iterable[int]) -> str:
    """Sorted frames -> compact Nuke range text: [1, 2, 3, 5, 7, 9] -> "1-3,5-9x2"."""
    fs = sorted(set(int(f) for f in frames))
    parts: List[str] = []
    i = 0
    while i < len(fs):
        j = i
        if i + 1 < len(fs):
            step = fs[i + 1] - fs[i]
            while j + 1 < len(fs) and fs[j + 1] - fs[j] == step:
                j += 1
            if j - i >= 2 or (j - i == 1 and step == 1):
                parts.append(f"{fs[i]}-{fs[j]}" + (f"x{step}" if step != 1 else ""))
                i = j + 1
                continue
        parts.append(str(fs[i]))
        i += 1
    return ",".join(parts)


# ---------------------------------------------------------------- patterns
def is_pattern(path: str) -> bool:
    """True when ``path`` holds a frame token (``#``, ``@``, ``%d`` / ``%04d``)."""
    return bool(_TOKEN.search(os.fspath(path)))


def _token_width(m: "re.Match[str]") -> int:
    tok = m.group(0)
    if tok[0] in "#@":
        return len(tok)
    return int(m.group(2)) if m.group(1) and m.group(2) else 0  # %4d pads with spaces: treat as none


def frame_path(pattern: str, frame: int) -> str:
    """Replace every frame token of ``pattern`` by ``frame``; a non-pattern path is returned as is.

    >>> frame_path("plate.####.exr", 12)
    'plate.0012.exr'
    """
    pattern = os.fspath(pattern)
    frame = int(frame)

    def repl(m: "re.Match[str]") -> str:
        width = _token_width(m)
        return "%0*d" % (width, frame) if width else str(frame)

    return _TOKEN.sub(repl, pattern)


def to_printf(pattern: str) -> str:
    """``plate.####.exr`` -> ``plate.%04d.exr`` (the form Nuke stores in ``file`` knobs)."""
    def repl(m: "re.Match[str]") -> str:
        width = _token_width(m)
        return f"%0{width}d" if width > 1 else "%d"
    return _TOKEN.sub(repl, os.fspath(pattern))


def to_hashes(pattern: str) -> str:
    """``plate.%04d.exr`` -> ``plate.####.exr``."""
    return _TOKEN.sub(lambda m: "#" * max(1, _token_width(m)), os.fspath(pattern))


def split_pattern_and_range(text: str) -> Tuple[str, Optional[List[int]]]:
    """``"plate.####.exr 1001-1100"`` (Nuke file-browser form) -> (pattern, frames).

    Without a trailing range returns (text, None). Only a trailing token that parses as a range
    and follows a pattern is split off, so paths with spaces stay whole.
    """
    text = str(text).strip()
    head, sep, tail = text.rpartition(" ")
    if sep and is_pattern(head) and re.match(r"^-?\d", tail):
        try:
            return head.strip(), parse_frames(tail)
        except InputError:
            pass
    return text, None


def _pattern_regex(pattern: str) -> "re.Pattern[str]":
    """Regex matching every path ``frame_path(pattern, f)`` can produce (a group per token)."""
    parts, last = [], 0
    for m in _TOKEN.finditer(pattern):
        parts.append(re.escape(pattern[last:m.start()]) + r"(-?\d+)")
        last = m.end()
    parts.append(re.escape(pattern[last:]))
    return re.compile("".join(parts) + r"\Z")


def match_frame(pattern: str, path: str) -> Optional[int]:
    """The frame ``f`` with ``frame_path(pattern, f) == path``, or None.

    >>> match_frame("plate.####.exr", "plate.0012.exr")
    12
    """
    pattern, path = os.fspath(pattern), os.fspath(path)
    if not is_pattern(pattern):
        return None
    m = _pattern_regex(pattern).match(path)
    if not m:
        return None
    values = {int(v) for v in m.groups()}
    if len(values) != 1:
        return None
    f = values.pop()
    return f if frame_path(pattern, f) == path else None


def scan_frames(pattern: str) -> List[int]:
    """Frames of ``pattern`` that exist on disk as files, sorted.

    A file counts only when ``frame_path(pattern, frame)`` gives back exactly its name, so
    ``plate.####.exr`` finds ``plate.0012.exr`` and ``plate.12345.exr`` but not ``plate.012.exr``.
    A non-pattern path gives [] (it has no frames).
    """
    pattern = os.fspath(pattern)
    if not is_pattern(pattern):
        return []
    glob_parts, last = [], 0
    for m in _TOKEN.finditer(pattern):
        glob_parts.append(glob.escape(pattern[last:m.start()]) + "*")
        last = m.end()
    glob_parts.append(glob.escape(pattern[last:]))
    frames = set()
    for candidate in glob.glob("".join(glob_parts)):
        f = match_frame(pattern, candidate)
        if f is not None and os.path.isfile(candidate):
            frames.add(f)
    return sorted(frames)


# ---------------------------------------------------------------- overwrite protection
def file_keys(path: str) -> set:
    """Identities of ``path``: its resolved absolute path, plus (device, inode) when it exists."""
    keys = {("path", os.path.normcase(os.path.realpath(os.path.abspath(path))))}
    try:
        st = os.stat(path)
        keys.add(("inode", st.st_dev, st.st_ino))
    except (OSError, ValueError):
        pass
    return keys


def same_target(pattern_a: str, pattern_b: str, frames: Optional[Iterable[int]]) -> bool:
    """Would writing ``pattern_a`` for ``frames`` overwrite any file of ``pattern_b``?

    Compares resolved paths (symlinked files and folders, ``..``, case on Windows) and, for files
    that exist, device + inode (hard links). ``pattern_b``'s files are its paths for ``frames`` and
    every frame of it on disk. Non-pattern paths stand for one file.
    """
    frames = [int(f) for f in (frames or [])]
    frames_a = frames if is_pattern(pattern_a) else [0]
    a_keys = set()
    for f in frames_a:
        a_keys |= file_keys(frame_path(pattern_a, f))
    b_frames = set(frames) | set(scan_frames(pattern_b)) if is_pattern(pattern_b) else {0}
    for f in b_frames:
        if a_keys & file_keys(frame_path(pattern_b, f)):
            return True
    return False
