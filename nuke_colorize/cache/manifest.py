"""``manifest.json``: what a cache folder holds, for people and for the version check.

Written atomically under ``locks/manifest.lock`` (read, merge, replace) at the start of every
build, which first removes the temp files killed writers left in the cache folder. It records
the cache format, the key format, the version and determinism rule of the last writer (with
the CPU capability of the last process that computed frames, recorded after it did), the
current shot (key, frames, description: the paths as the last writer's machine
saw them, for people only) and one entry per segment folder ever written (anchor, direction,
start, key, references, writer). Stored frames are *not* listed: the files are the
truth, so a killed build never leaves the manifest claiming frames that are not there.

A folder whose manifest has another cache format is refused (:class:`CacheError`); one written by
another package version, thread rule or key format is used, but its segments have other keys and
are not resumed, and the caller is told so.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, Optional

from .. import __version__
from ..errors import CacheError, InputError
from ..io import atomic_write_text, cleanup_stale_temps
from .filelock import FileLock
from ..shot import KEY_FORMAT
from .keys import CACHE_FORMAT

MANIFEST = "manifest.json"
WRITER = f"nuke-colorize {__version__}"


def manifest_path(root: str) -> str:
    return os.path.join(root, MANIFEST)


def read_manifest(root: str) -> Optional[Dict[str, Any]]:
    """The manifest, or None when missing or unreadable (it is rewritten by the next build).

    Raises :class:`CacheError` when it declares another cache format.
    """
    path = manifest_path(root)
    try:
        with open(path, "r", encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    fmt = data.get("format")
    if fmt != CACHE_FORMAT:
        raise CacheError(f"cache folder was written by {data.get('written_by', 'another version')} in cache "
                         f"format {fmt!r}; this version reads format {CACHE_FORMAT}", file=root,
                         hint="use another cache folder, or run `nuke-colorize cache clear` on the shot")
    return data


def _write(root: str, data: Dict[str, Any]) -> None:
    """Replace the manifest with ``data``; CacheError (exit code 4, as every other file of the
    cache) when the folder cannot take it: full or read-only."""
    try:
        atomic_write_text(manifest_path(root), json.dumps(data, indent=1, sort_keys=True) + "\n")
    except InputError as exc:
        raise CacheError(f"cannot write the cache: {exc.problem}", file=manifest_path(root),
                         hint="check the cache folder is writable and has free space") from None


def update_manifest(root: str, shot_entry: Dict[str, Any], segments: Dict[str, Dict[str, Any]],
                    determinism: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """Merge this run into the manifest; returns the previous manifest (None if there was none)."""
    with FileLock(os.path.join(root, "locks", "manifest.lock")):
        # temp files of writers killed mid-write (this machine's dead processes, others' after a
        # day): the manifest's, and those of any other file of the folder, once a minute old
        cleanup_stale_temps(root)
        old = read_manifest(root)
        data: Dict[str, Any] = dict(old) if old else {}
        data["format"] = CACHE_FORMAT
        data["key_format"] = KEY_FORMAT
        data["written_by"] = WRITER
        det = dict(determinism)
        if det.get("cpu_capability") is None:   # not known before torch runs (record_cpu_capability)
            det["cpu_capability"] = ((old or {}).get("determinism") or {}).get("cpu_capability")
        data["determinism"] = det
        data["shot"] = shot_entry
        segs = dict(data.get("segments") or {})
        for name, entry in segments.items():
            if name not in segs:
                segs[name] = dict(entry, written_by=WRITER, created=time.strftime("%Y-%m-%dT%H:%M:%S"))
        data["segments"] = segs
        _write(root, data)
    return old


def record_cpu_capability(root: str, capability: Optional[str]) -> None:
    """Record the CPU instruction set of a process that computed frames into the cache
    (informational: machines dispatching different sets may differ in the last bits)."""
    if capability is None:
        return
    with FileLock(os.path.join(root, "locks", "manifest.lock")):
        data = read_manifest(root)
        if data is None or (data.get("determinism") or {}).get("cpu_capability") == capability:
            return
        data["determinism"] = dict(data.get("determinism") or {}, cpu_capability=capability)
        _write(root, data)
