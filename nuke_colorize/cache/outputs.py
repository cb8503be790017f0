"""Which output frames were written for the shot as it is now (``cache status``).

An output file does not say which version of the shot it comes from: its pixels and header
are the same whether it was written through the cache or by the plain renderer, with or
without ``content_hash``, so no key is put into it. The cache keeps, for every output frame it
writes, a record ``<cache>/output_records/<frame>.json``: the shot key it was written for
(:meth:`nuke_colorize.shot.Shot.key`, the key ``cache status`` shows) and the identity of the
file written (:func:`nuke_colorize.io.file_identity`: its name, size and mtime, taken right
after the write), with its path for people. An output frame is

* ``current``: its file exists, its record names the shot's key as it is now and the output
  encoding the shot asks for now, and the file is still the one the record describes;
* ``stale``: its file exists but was written for another key (other settings, references,
  plate or matte frames, versions...) or in another encoding (``out_depth``,
  ``out_compression``: not part of the key, since no cached data depends on them, but the
  file is not what a render writes now), was replaced since by something else (the plain
  renderer, another cache), or the cache has no record of it: a render rewrites it;
* ``missing``: no file.

A process killed between an output and its record leaves the frame ``stale`` until it is
rewritten, never ``current`` by mistake. A frame's file and its record are written under
``locks/output.<frame>.lock`` (:func:`output_lock_path`): two processes writing one output
frame for different keys (a shot edited while a build runs) would otherwise each write, the
first record the second's file under its own key, and vouch for a file of another key.

The encoding is recorded as :meth:`nuke_colorize.io.encoding.OutputEncoding.record` gives it,
under ``encoding``, only when it is not the default: a record without it (every record written
before the encoding could be chosen) stands for the default encoding, so those stay current.
"""
from __future__ import annotations

import json
import os
import re
from typing import Dict, List, Optional, Sequence

from ..errors import CacheError, InputError
from ..io import atomic_write_text, file_identity, frame_path

RECORDS_DIR = "output_records"
RECORD_RE = re.compile(r"^-?\d+\.json\Z")
STATES = ("current", "stale", "missing")


OUTPUT_LOCK_RE = re.compile(r"^output\.-?\d+\.lock\Z")


def output_lock_path(root: str, frame: int) -> str:
    """The lock held while output frame ``frame`` and its record are written."""
    return os.path.join(root, "locks", f"output.{int(frame)}.lock")


def records_dir(root: str) -> str:
    return os.path.join(root, RECORDS_DIR)


def record_path(root: str, frame: int) -> str:
    return os.path.join(records_dir(root), f"{int(frame)}.json")


def record_output(root: str, frame: int, shot_key: str, path: str, encoding: str = "") -> None:
    """Record that ``path`` (just written) is output frame ``frame`` of the shot of key
    ``shot_key``, written in ``encoding`` ("" the default). CacheError when the cache folder
    cannot be written."""
    try:
        ident = file_identity(path)
    except OSError:   # gone already (another process replaced it): nothing to vouch for
        return
    rec = {"frame": int(frame), "shot_key": shot_key, "identity": ident, "output": os.path.abspath(path)}
    if encoding:
        rec["encoding"] = encoding
    target = record_path(root, frame)
    try:
        atomic_write_text(target, json.dumps(rec, sort_keys=True) + "\n")
    except InputError as exc:
        raise CacheError(f"cannot write the cache: {exc.problem}", file=target,
                         hint="give a writable cache folder (the shot's 'cache' key, or --cache)") from None


def read_record(root: str, frame: int) -> Optional[Dict[str, str]]:
    """The record of output frame ``frame``, or None (none, unreadable, damaged)."""
    try:
        with open(record_path(root, frame), "r", encoding="utf-8") as fh:
            rec = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("shot_key"), str) \
            or not isinstance(rec.get("identity"), str) or not isinstance(rec.get("encoding", ""), str):
        return None
    return rec


def output_state(root: str, frame: int, shot_key: str, path: str, encoding: str = "") -> str:
    """``current``, ``stale`` or ``missing`` (see the module's docstring) for output frame
    ``frame`` at ``path`` of the shot of key ``shot_key`` and output ``encoding`` whose cache
    folder is ``root``."""
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    if not os.path.isfile(path):
        return "missing"
    rec = read_record(root, frame)
    if rec is None or rec["shot_key"] != shot_key or rec.get("encoding", "") != encoding:
        return "stale"
    return "current" if rec["identity"] == file_identity(path, st=st) else "stale"


def output_states(root: str, frames: Sequence[int], shot_key: str, pattern: str,
                  encoding: str = "") -> Dict[str, List[int]]:
    """{state: frames} over ``frames`` of the output ``pattern`` (each state present, maybe empty)."""
    out: Dict[str, List[int]] = {s: [] for s in STATES}
    for f in frames:
        out[output_state(root, f, shot_key, frame_path(pattern, f), encoding)].append(int(f))
    return out
