"""What the farm needs to know about a shot: its frames, its independent segments, its output.

One function, :func:`load_shot_info`, is the only place :mod:`nuke_colorize.farm` reads shot
descriptions. It uses :class:`nuke_colorize.shot.Shot` (the shot cache's own reader, which
validates everything) when that module is importable, and otherwise a minimal reader of the same
JSON format that only looks at the keys the job shape depends on.

Farm segments split the shot by nearest keyframe: each is anchored on one keyframe reference
and covers the frames nearest to it. The cache pre-pass runs one task per farm segment, so they
build in parallel; the render tasks only read the cache. (A frame between two keyframes is a
blend of both keyframes' chains, see :mod:`nuke_colorize.engine`: a pre-pass task walks the
chains its frames need, and the cache's per-chain locks make tasks that need the same chain
share it instead of computing it twice.)
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence, Tuple

from ..errors import InputError
from ..host.portable import resolve as resolve_path
from ..shot_paths import default_cache, default_output

Segment = Tuple[int, int, int]
"""(anchor_frame, first, last): the frames ``first..last`` form one chain grown from ``anchor_frame``."""


@dataclass(frozen=True)
class ShotInfo:
    """Farm-relevant facts about one shot description file.

    Attributes:
        path: absolute path of the shot JSON.
        frames: (first, last) inclusive frame range of the shot.
        segments: independent chains, sorted by ``first``; together they cover ``frames``.
        output: absolute output pattern (``...colour.####.exr``) or None when not given.
        shot: the :class:`nuke_colorize.shot.Shot` read from the file (None from the minimal
            reader), for :func:`check_inputs`.
    """

    path: str
    frames: Tuple[int, int]
    segments: Tuple[Segment, ...]
    output: Optional[str] = None
    shot: Any = field(default=None, repr=False, compare=False)

    @property
    def stem(self) -> str:
        return os.path.splitext(os.path.basename(self.path))[0]

    def segments_within(self, first: int, last: int) -> List[Segment]:
        """Segments clipped to ``first..last`` (the frames a farm job renders); empty ones dropped.

        The anchor is kept even when it falls outside the clipped range: ``cache build`` grows
        the chain from it up to the requested frames.
        """
        out = []
        for anchor, a, b in self.segments:
            lo, hi = max(a, first), min(b, last)
            if lo <= hi:
                out.append((anchor, lo, hi))
        return out


def load_shot_info(path: str) -> ShotInfo:
    """Read a shot description (JSON file; see :mod:`nuke_colorize.shot`). Its ``ocio_config``
    file is not looked for here but by :func:`check_inputs` (with the other files the farm
    may see at other paths: ``--skip-input-check`` skips them together).

    Raises :class:`InputError` when the file is missing or unreadable, or when ``frames`` is not
    a ``[first, last]`` pair of integers with ``first <= last``.
    """
    path = os.path.abspath(os.fspath(path))
    if not os.path.isfile(path):
        raise InputError("shot file not found", file=path,
                         hint="give the shot description JSON written by the Colorize node or by hand")
    try:
        from ..shot import Shot  # type: ignore[import-not-found]
    except ImportError:
        return _load_minimal(path)
    shot = Shot.load(path, check_files=False)
    frames = _frame_pair(getattr(shot, "frames"), path)
    segments = tuple(nearest_keyframe_segments(frames, list(shot.keyframes)))
    output = getattr(shot, "output", None)
    return ShotInfo(path=path, frames=frames, segments=segments or ((frames[0],) + frames,),
                    output=os.fspath(output) if output else None, shot=shot)


def _load_minimal(path: str) -> ShotInfo:
    """The shot's farm facts read from its JSON alone, when :mod:`nuke_colorize.shot` cannot be
    imported: ``frames``, the keyframes of ``references`` and ``output`` (a path resolved as
    that reader resolves it: :func:`nuke_colorize.host.portable.resolve`; when not given, the
    shot reader's default, :mod:`nuke_colorize.shot_paths`)."""
    try:
        with open(path, "r", encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read shot file: {exc}", file=path) from None
    if not isinstance(data, dict):
        raise InputError("shot file must hold a JSON object", file=path)
    frames = _frame_pair(data.get("frames"), path)
    keyframes = []
    for ref in data.get("references") or []:
        if isinstance(ref, dict) and ref.get("frame") is not None:
            try:
                keyframes.append(int(ref["frame"]))
            except (TypeError, ValueError):
                raise InputError(f"reference frame {ref['frame']!r} is not an integer", file=path) from None
    base = os.path.dirname(path)
    given = {k: resolve_path(data[k], base) for k in ("cache", "output")   # as the shot reader does
             if isinstance(data.get(k), str) and data[k].strip()}
    output = given.get("output") or default_output(given.get("cache") or default_cache(path, base))
    return ShotInfo(path=path, frames=frames, segments=tuple(nearest_keyframe_segments(frames, keyframes)),
                    output=output)


def nearest_keyframe_segments(frames: Tuple[int, int], keyframes: Sequence[int]) -> List[Segment]:
    """Split ``frames`` into chains, each frame joining its nearest keyframe (ties: the earlier).

    Keyframes outside the shot are ignored; with none inside, the whole shot is one chain
    anchored on its first frame (propagation from still references only).

    >>> nearest_keyframe_segments((1, 10), [1, 6])
    [(1, 1, 3), (6, 4, 10)]
    """
    first, last = frames
    keys = sorted({k for k in keyframes if first <= k <= last})
    if not keys:
        return [(first, first, last)]
    segments = []
    for i, k in enumerate(keys):
        lo = first if i == 0 else (keys[i - 1] + k) // 2 + 1
        hi = last if i == len(keys) - 1 else (k + keys[i + 1]) // 2
        segments.append((k, lo, hi))
    return segments


def _frame_pair(value: Any, path: str) -> Tuple[int, int]:
    try:
        first, last = (int(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"'frames' must be [first, last], got {value!r}", file=path) from None
    if first > last:
        raise InputError(f"'frames' first {first} is after last {last}", file=path)
    return first, last




def check_inputs(info: ShotInfo, first: int, last: int) -> None:
    """Refuse a shot whose inputs for frames ``first..last`` are not on disk here.

    A farm job for such a shot would queue, start a pre-pass task and fail on the first
    missing frame (or, for a Nuke script whose node fails missing frames, fail every render
    task). Checked: every plate frame of the range (the first missing one is named, with the
    count and the gaps), every reference image, the library index of an automatic shot, and
    that the matte names a file on at least one of the frames (as ``render`` checks); and,
    as ``render`` refuses them before its first frame, the OCIO config and colourspace names
    that do not convert (an OCIO name as this machine's ``$OCIO`` config reads it when the shot
    names none): every task of the job would fail on them (an output depth or compression the
    output's format cannot take is refused when the shot is read). File existence only: the headers are read when the frames
    are rendered. The shot is the one
    :func:`load_shot_info` read (``info.shot``); from its minimal JSON reader (no shot reader)
    nothing is checked.
    """
    shot = info.shot
    if shot is None:
        return
    from ..io.matte import check_pattern as check_matte_pattern
    from ..io.plate import check_frame_range
    lo, hi = max(first, shot.frames[0]), min(last, shot.frames[1])
    if lo > hi:
        return
    hint = ("the farm reads the shot's paths as written; if its machines see the files at other "
            "paths (path mapping), pass --skip-input-check")

    def needed(check, *args, why: str = hint, by: str = f", needed by shot {info.path}") -> None:
        """The check's own refusal, naming the shot (``by``) and the way out (``why``)."""
        try:
            check(*args)
        except InputError as exc:
            raise InputError(f"{exc.problem}{by}", file=exc.file, frame=exc.frame,
                             hint=f"{exc.hint}; {why}" if exc.hint else why) from None

    needed(check_frame_range, shot.plate, lo, hi)
    for ref in shot.references:
        if not os.path.isfile(ref.image):
            where = f"reference for frame {ref.frame}" if ref.frame is not None else "reference still"
            raise InputError(f"{where} not found, needed by shot {info.path}", file=ref.image, hint=hint)
    if shot.library and not os.path.exists(shot.library):
        raise InputError(f"library index not found, needed by shot {info.path}", file=shot.library, hint=hint)
    if shot.matte:
        needed(check_matte_pattern, shot.matte, range(lo, hi + 1))
    from ..render import check_colorspaces
    needed(check_colorspaces, shot, info.path, by="",   # its refusal names the shot file and key
           why="if the farm's machines read another OCIO config, pass --skip-input-check")
