"""Per-frame state files on disk: the engine's :class:`StateStore` interface over a folder.

One ``.npz`` per (segment, frame) holding the frame's :class:`~nuke_colorize.backends.base.Result`
at working resolution: ``ab`` (H, W, 2), ``confidence`` (H, W) and every ``state.<name>`` array
the backend carries to the next frame (e.g. ``state.L``, ``state.ab``, ``state.disp``). Float
arrays are stored as float16, which is lossless because the engine hands every result through
:func:`nuke_colorize.engine.canonical_state` (float16 round trip) before storing or using it;
integer arrays are stored as they are. ``ab``/``confidence`` equal to a state array are stored
once (an alias). A ``__meta__`` member (JSON bytes) holds the frame, its chain hash and a
SHA-256 checksum of every array, checked on every read: a truncated, damaged or misplaced
file is reported, deleted and recomputed by the engine from the nearest good frame.

Files are written atomically (temp file + fsync + rename) while the caller holds the
segment's lock.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
from typing import Callable, Dict, Optional

import numpy as np

from ..backends.base import Result
from ..engine import Segment, StateStore
from ..errors import CacheError, ColorizeError
from ..io import atomic_path
from .keys import SegmentIndex

META = "__meta__"
FILE_FORMAT = 1


def _checksum(arrays: Dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def encode_result(result: Result, frame: int, chain: str) -> Dict[str, np.ndarray]:
    """Arrays to store for ``result`` (see module docstring)."""
    arrays: Dict[str, np.ndarray] = {}
    for name, a in result.state.items():
        a = np.asarray(a)
        arrays["state." + name] = a.astype(np.float16) if a.dtype.kind == "f" else a
    aliases = {}
    for name, a in (("ab", result.ab), ("confidence", result.confidence)):
        a = np.asarray(a)
        a = a.astype(np.float16) if a.dtype.kind == "f" else a
        twin = next((k for k, v in arrays.items() if k.startswith("state.") and v.dtype == a.dtype
                     and v.shape == a.shape and np.array_equal(v, a)), None)
        if twin is not None:
            aliases[name] = twin
        else:
            arrays[name] = a
    try:
        info = json.loads(json.dumps(result.info))
    except (TypeError, ValueError):
        info = {}
    meta = {"format": FILE_FORMAT, "frame": int(frame), "chain": chain, "aliases": aliases,
            "checksum": _checksum(arrays), "info": info}
    arrays[META] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    return arrays


def decode_result(path: str, frame: int, chain: str) -> Result:
    """Read and verify one stored frame; raises ValueError (or OSError) when it is unusable."""
    with np.load(path, allow_pickle=False) as z:
        if META not in z.files:
            raise ValueError("no metadata")
        meta = json.loads(bytes(z[META]).decode("utf-8"))
        arrays = {n: z[n] for n in z.files if n != META}
    if meta.get("format") != FILE_FORMAT:
        raise ValueError(f"file format {meta.get('format')!r}")
    if meta.get("frame") != frame or meta.get("chain") != chain:
        raise ValueError("file belongs to another frame or chain")
    if _checksum(arrays) != meta.get("checksum"):
        raise ValueError("checksum mismatch")

    def f32(a: np.ndarray) -> np.ndarray:
        return a.astype(np.float32) if a.dtype.kind == "f" else a

    state = {n[len("state."):]: f32(a) for n, a in arrays.items() if n.startswith("state.")}
    aliases = meta.get("aliases", {})

    def pick(name: str) -> np.ndarray:
        return f32(arrays[aliases[name]]) if name in aliases else f32(arrays[name])

    return Result(ab=pick("ab"), confidence=pick("confidence"), state=state, info=meta.get("info") or {})


class DiskStore(StateStore):
    """:class:`StateStore` keeping every frame of every segment in ``<root>/segments``.

    ``on_corrupt(path, reason)`` is called for every unusable file found (it is deleted).
    """

    def __init__(self, root: str, index: SegmentIndex,
                 on_corrupt: Optional[Callable[[str, str], None]] = None):
        super().__init__()
        self.root = root
        self.index = index
        self.on_corrupt = on_corrupt
        self.loaded = 0

    def segment_dir(self, seg: Segment) -> str:
        return os.path.join(self.root, "segments", self.index.dirname(seg))

    def path(self, seg: Segment, frame: int) -> str:
        return os.path.join(self.segment_dir(seg), self.index.filename(seg, frame))

    def has(self, segment: Segment, frame: int) -> bool:
        return os.path.isfile(self.path(segment, frame))

    def get(self, segment: Segment, frame: int) -> Optional[Result]:
        path = self.path(segment, frame)
        try:
            res = decode_result(path, frame, self.index.chain_hash(segment, frame))
        except FileNotFoundError:
            return None
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to decode means a damaged file
            reason = f"{type(exc).__name__}: {exc}"
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as err:
                raise CacheError(f"damaged cache file cannot be removed ({err.strerror or err})",
                                 file=path, frame=frame) from None
            if self.on_corrupt is not None:
                self.on_corrupt(path, reason)
            return None
        self.loaded += 1
        return res

    def put(self, segment: Segment, frame: int, result: Result) -> None:
        path = self.path(segment, frame)
        arrays = encode_result(result, frame, self.index.chain_hash(segment, frame))
        try:
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, **arrays)
        except ColorizeError as err:
            raise CacheError(f"cannot write the cache: {err.problem}", file=path, frame=frame,
                             hint="check the cache folder is writable and has free space") from None
        except OSError as exc:
            raise CacheError(f"cannot write the cache: {exc.strerror or exc}", file=path, frame=frame,
                             hint="check the cache folder is writable and has free space") from None
        # older versions of this frame (another plate state) are dead weight now
        keep = os.path.basename(path)
        for old in glob.glob(os.path.join(glob.escape(os.path.dirname(path)), f"f{frame}.*.npz")):
            if os.path.basename(old) != keep:
                try:
                    os.unlink(old)
                except OSError:
                    pass
