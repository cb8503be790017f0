"""A small text scan of a Nuke script (.nk) for what a farm submission needs, without Nuke.

A ``.nk`` file is TCL: the header names the Nuke build (``#! .../Nuke15.1v3/libnuke-15.1.3.so -nx``
then ``version 15.1 v3``), then one block per node::

    Root {
     inputs 0
     first_frame 1001
     last_frame 1100
    }
    Colorize {
     shot_file /shots/a/colorize/shot.json
     name Colorize1
    }
    Write {
     file /shots/a/colour.####.exr
     name Write1
    }

The scan reads node blocks at the top level and inside groups. A Colorize node is a node of class
``Colorize`` (the installed gizmo) or a Group carrying the gizmo's ``nuke_colorize`` marker knob
(the gizmo pasted as a group). Its shot description is found, in order:

1. a knob value ending in ``.json`` (a node that stores the shot file path itself);
   When that file is not there (the knob holds the path where the script was analysed, under
   another mount point), the same version (``v_<key>/shot.json``) in the node's shot folder
   as this machine sees it (2.);
2. otherwise the node's shot folder, ``<cache_dir>/<shot>`` (``cache_dir`` empty: a
   ``colorize_cache`` folder beside the script; ``shot`` empty: the node's name; see
   :mod:`nuke_colorize.host.shotspec`), where the node writes one ``v_<key>/shot.json`` per
   version of its inputs: the most recently written one is the node's current version.

Values holding TCL expressions (``[...]``, ``$VAR``) cannot be evaluated without Nuke, and a node
that never wrote a shot file (never analysed) has none: both are reported in ``unresolved`` so
the caller can ask for ``--shot``. Relative paths are taken relative to the script's folder.
"""
from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ..errors import InputError
from ..host.shotspec import SHOT_FILE, shot_root

_NODE_START = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*\{\s*$")
_KNOB = re.compile(r"^\s*([A-Za-z_]\w*)\s+(.*?)\s*$")
_VERSION = re.compile(r"^version\s+(\d+)\.(\d+)(?:\s+v(\d+))?", re.M)
_HEADER_VERSION = re.compile(r"Nuke(\d+)\.(\d+)v(\d+)")
#: Write ``file_type`` values of Nuke's movie writers
MOVIE_FILE_TYPES = ("mov", "mov32", "mov64", "ffmpeg", "mxf")


@dataclass
class NukeScriptInfo:
    """What :func:`scan_nuke_script` found.

    Attributes:
        path: absolute path of the .nk file.
        version: "major.minor" of the Nuke that saved it (e.g. "15.1"), or None.
        first_frame, last_frame: the Root frame range, or None when not stored.
        shot_files: absolute shot JSON paths referenced by Colorize nodes, in script order, unique.
        unresolved: (node name, reason) of Colorize nodes whose shot file cannot be found.
        write_nodes: names of Write nodes, in script order.
        write_files: Write node name -> its ``file`` knob (absolute when it is a plain path).
        movie_writes: the enabled Write nodes writing a movie (``file`` with a movie extension, or
            a movie ``file_type``): one file for the whole range, so not to be rendered in chunks.
    """

    path: str
    version: Optional[str] = None
    first_frame: Optional[int] = None
    last_frame: Optional[int] = None
    shot_files: List[str] = field(default_factory=list)
    unresolved: List[Tuple[str, str]] = field(default_factory=list)
    write_nodes: List[str] = field(default_factory=list)
    write_files: Dict[str, str] = field(default_factory=dict)
    movie_writes: List[str] = field(default_factory=list)

    @property
    def frames(self) -> Optional[Tuple[int, int]]:
        if self.first_frame is None or self.last_frame is None:
            return None
        return self.first_frame, self.last_frame


def scan_nuke_script(path: str) -> NukeScriptInfo:
    """Scan ``path`` (a .nk file). Raises :class:`InputError` when it cannot be read."""
    from ..io.movie import MOVIE_EXTENSIONS
    path = os.path.abspath(os.fspath(path))
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError as exc:
        raise InputError(f"cannot read Nuke script: {exc.strerror or exc}", file=path) from None
    info = NukeScriptInfo(path=path)
    m = _VERSION.search(text)
    if m:
        info.version = f"{int(m.group(1))}.{int(m.group(2))}"
    else:
        m = _HEADER_VERSION.search(text.split("\n", 1)[0])
        if m:
            info.version = f"{int(m.group(1))}.{int(m.group(2))}"
    folder = os.path.dirname(path)
    for cls, knobs, user_knobs in _node_blocks(text):
        name = knobs.get("name", cls)
        if cls == "Root":
            info.first_frame = _int_or_none(knobs.get("first_frame"))
            info.last_frame = _int_or_none(knobs.get("last_frame"))
        elif cls == "Write":
            info.write_nodes.append(name)
            file_knob = knobs.get("file", "")
            if file_knob and "[" not in file_knob and "$" not in file_knob:
                file_knob = os.path.normpath(os.path.join(folder, os.path.expanduser(file_knob)))
            if file_knob:
                info.write_files[name] = file_knob
            if knobs.get("disable", "false") not in ("true", "1") and (
                    knobs.get("file_type", "") in MOVIE_FILE_TYPES
                    or os.path.splitext(file_knob)[1].lower() in MOVIE_EXTENSIONS):
                info.movie_writes.append(name)
        elif "colorize" in cls.lower() or "nuke_colorize" in user_knobs:
            shot, why = _colorize_shot_file(knobs, name, folder)
            if shot is None:
                info.unresolved.append((name, why))
            elif shot not in info.shot_files:
                info.shot_files.append(shot)
    if info.first_frame is not None and info.last_frame is None:
        info.first_frame = None
    return info


def _is_expression(value: str) -> bool:
    return "[" in value or "$" in value


def _colorize_shot_file(knobs, name: str, folder: str) -> Tuple[Optional[str], str]:
    """(absolute shot JSON path, '') for one Colorize node, or (None, why not)."""
    cache_dir = knobs.get("cache_dir", "") or os.path.join(folder, "colorize_cache")
    shot = knobs.get("shot", "") or name
    root = None
    if not (_is_expression(cache_dir) or _is_expression(shot)):
        root = shot_root(os.path.join(folder, os.path.expanduser(cache_dir)), shot)
    for knob, value in knobs.items():
        if value.lower().endswith(".json"):
            if _is_expression(value):
                return None, f"knob {knob} is an expression ({value})"
            path = os.path.normpath(os.path.join(folder, os.path.expanduser(value)))
            return _here(path, value, root), ""
    if root is None:
        return None, f"its cache folder or shot name is an expression ({cache_dir} / {shot})"
    versions = glob.glob(os.path.join(glob.escape(root), "v_*", SHOT_FILE))
    if not versions:
        return None, f"it has not written a shot file yet (none under {root}; press Analyze once)"
    return max(versions, key=lambda p: (os.path.getmtime(p), p)), ""


def _here(path: str, value: str, root: Optional[str]) -> str:
    """The shot file a node's ``shot_file`` knob names, on this machine: ``path`` when it exists;
    else, when the knob names a version's file (``.../<shot>/v_<key>/shot.json``, written where the
    script was analysed: another mount point, ``P:\\...`` on Windows) and the node's shot folder
    here (``root``) holds that version, its file there; else ``path`` (reported as missing)."""
    if os.path.isfile(path) or root is None:
        return path
    parts = re.split(r"[\\/]+", value.strip())
    if len(parts) >= 3 and parts[-1] == SHOT_FILE and parts[-2].startswith("v_"):
        candidate = os.path.join(root, parts[-2], SHOT_FILE)
        if os.path.isfile(candidate):
            return candidate
    return path


def _node_blocks(text: str):
    """Yield (class, {knob: value}, [user knob names]) for each node block.

    Knob values are unquoted, first line only.

    Group/Gizmo contents (``Group {...}`` followed by nodes and ``end_group``) are ordinary
    top-level blocks in the file, so they are visited too. Multi-line knob values (curves,
    brace-delimited scripts) are skipped by tracking brace depth.
    """
    cls = None
    knobs: Dict[str, str] = {}
    user_knobs: List[str] = []
    depth = 0
    for line in text.splitlines():
        if cls is None:
            m = _NODE_START.match(line)
            if m:
                cls, knobs, user_knobs, depth = m.group(1), {}, [], 1
            continue
        if depth == 1:
            if line.strip() == "}":
                yield cls, knobs, user_knobs
                cls = None
                continue
            km = _KNOB.match(line)
            if km and km.group(1) == "addUserKnob":
                words = km.group(2).lstrip("{").split()
                if len(words) >= 2:
                    user_knobs.append(words[1])
            elif km:
                knobs.setdefault(km.group(1), _unquote(km.group(2)))
        depth += _brace_delta(line)
        if depth <= 0:  # a closing brace at the end of a knob line ended the node
            yield cls, knobs, user_knobs
            cls = None


def _brace_delta(line: str) -> int:
    """Net ``{`` minus ``}`` outside double quotes and ignoring backslash-escaped braces."""
    delta = 0
    in_quote = False
    escaped = False
    for ch in line:
        if escaped:
            escaped = False
            continue
        if ch == "\\":
            escaped = True
        elif ch == '"':
            in_quote = not in_quote
        elif not in_quote:
            if ch == "{":
                delta += 1
            elif ch == "}":
                delta -= 1
    return delta


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and ((value[0] == value[-1] == '"') or (value[0] == "{" and value[-1] == "}")):
        value = value[1:-1]
    return value.replace('\\"', '"').strip()


def _int_or_none(value: Optional[str]) -> Optional[int]:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
