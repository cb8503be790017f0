"""Cache keys: which stored frames are still valid for the shot as it is now.

Dependency rule (what a stored frame of a chain depends on):

* everything global: cache format, key format (how input files are identified:
  :data:`nuke_colorize.shot.KEY_FORMAT`), package version, the determinism rule (thread count,
  torch / OpenCV / numpy versions), device, backend ``settings_key`` (name, version, settings,
  weights), plate size, colourspaces (and, when they name OCIO colourspaces, the OCIO config's
  content: :meth:`nuke_colorize.shot.Shot._ocio_identity`) and working size;
* its chain's references (:func:`nuke_colorize.engine.chain_references`): the anchor keyframe,
  the next keyframe in the chain's direction and every still, in order (pixels and role);
* the chain up to it: the chain's direction and start frame, and the identity of every plate
  (and matte) frame from the start up to this frame: its file's name, size and mtime, or its
  SHA-256 (:func:`nuke_colorize.io.file_identity`), never its folder, so a cache built where
  the storage is mounted at one path is used where it is mounted at another.

The first two give the *segment key* (one folder per key); the third gives a per-frame *chain
hash* ``h_i = sha256(h_{i-1}, frame_i, plate_i, matte_i)`` with ``h_{-1}`` the segment key,
which names the frame's file. Consequences: changing keyframe K recomputes only the frames
between K's neighbouring keyframes; adding a keyframe between A and B recomputes only A..B
(every other chain keeps its anchor and far keyframe, and a chain's frames never depend on
where it ends); removing it brings the old chains back (still stored); a re-rendered plate
frame invalidates that frame and the rest of its chain only; extending the frame range reuses
everything; adding, removing or changing a still recomputes every chain (all chains match
against the stills).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Dict, List, Sequence

from ..backends.base import Reference
from ..engine import Segment, chain_references

CACHE_FORMAT = 1


def digest(obj: Any) -> str:
    """sha256 hex of ``obj`` as canonical JSON."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def segment_material(base: Dict[str, Any], seg: Segment, references: Sequence[Reference]) -> Dict[str, Any]:
    """Everything a segment's key is computed from (also written to its ``segment.json``)."""
    refs = chain_references(seg, references)
    return {"base": base, "anchor": seg.anchor, "direction": seg.direction, "start": seg.frames[0],
            "references": [{"frame": r.frame, "key": r.key, "path": r.path} for r in refs]}


def segment_key(material: Dict[str, Any]) -> str:
    """Key of a segment (paths are informational and left out)."""
    m = dict(material)
    m["references"] = [{"frame": r["frame"], "key": r["key"]} for r in material["references"]]
    return digest(m)


def segment_dirname(seg: Segment, key: str) -> str:
    """``<anchor|cold>-<fwd|bwd>-<start>.<key16>``, e.g. ``1001-fwd-1001.3fa9c2e1b7d04a11``."""
    a = "cold" if seg.anchor is None else str(seg.anchor)
    d = "fwd" if seg.direction > 0 else "bwd"
    return f"{a}-{d}-{seg.frames[0]}.{key[:16]}"


def frame_filename(frame: int, chain: str) -> str:
    return f"f{frame}.{chain[:16]}.npz"


class SegmentIndex:
    """Segment keys, folder names and per-frame chain hashes for one shot.

    ``base``: the global key material; ``references``: prepared references (with ``key``);
    ``frame_identity``: frame -> identity string of its plate (and matte) files. Identities
    are fetched lazily, only up to the frames asked for.
    """

    def __init__(self, base: Dict[str, Any], references: Sequence[Reference],
                 frame_identity: Callable[[int], str]):
        self.base = base
        self.references = list(references)
        self.frame_identity = frame_identity
        self._seg: Dict[Segment, Dict[str, Any]] = {}
        self._ids: Dict[int, str] = {}

    def _entry(self, seg: Segment) -> Dict[str, Any]:
        e = self._seg.get(seg)
        if e is None:
            material = segment_material(self.base, seg, self.references)
            key = segment_key(material)
            e = {"material": material, "key": key, "dirname": segment_dirname(seg, key), "chain": []}
            self._seg[seg] = e
        return e

    def key(self, seg: Segment) -> str:
        return self._entry(seg)["key"]

    def dirname(self, seg: Segment) -> str:
        return self._entry(seg)["dirname"]

    def material(self, seg: Segment) -> Dict[str, Any]:
        return self._entry(seg)["material"]

    def identity(self, frame: int) -> str:
        if frame not in self._ids:
            self._ids[frame] = self.frame_identity(frame)
        return self._ids[frame]

    def chain_hash(self, seg: Segment, frame: int) -> str:
        """Chain hash of ``frame`` in ``seg`` (``frame`` must be one of its frames)."""
        e = self._entry(seg)
        chain: List[str] = e["chain"]
        i = seg.frames.index(frame)
        while len(chain) <= i:
            j = len(chain)
            prev = chain[-1] if chain else e["key"]
            f = seg.frames[j]
            chain.append(digest([prev, f, self.identity(f)]))
        return chain[i]

    def filename(self, seg: Segment, frame: int) -> str:
        return frame_filename(frame, self.chain_hash(seg, frame))

