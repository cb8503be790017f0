"""Per-frame state files on disk: the engine's :class:`StateStore` interface over a folder.

One ``.npz`` per (segment, frame) holding the frame's :class:`~nuke_colorize.backends.base.Result`
at working resolution: ``ab`` (H, W, 2), ``confidence`` (H, W) and every ``state.<name>`` array
the backend carries to the next frame (e.g. ``state.L``, ``state.ab``, ``state.disp``). Float
arrays are stored as float16, which is lossless because the engine hands every result through
:func:`nuke_colorize.engine.canonical_state` (float16 round trip) before storing or using it;
integer arrays are stored as they are. ``ab``/``confidence`` equal to a state array are stored
once (an alias). A ``__meta__`` member (JSON bytes) holds the frame, its chain hash and a
SHA-256 checksum of every array the file holds, checked on every read: a truncated, damaged
or misplaced file is reported, deleted and recomputed by the engine from the nearest good
frame.

A state array of at least :data:`REF_MIN_BYTES` that is byte-identical to one the chain's
previous frame held (or to another array of the same frame) is not stored again: the file
records a *reference* to the frame file and member that hold it, with the array's SHA-256
(``refs``; file format 2). Chains carry such arrays unchanged for many frames (the default
backend's remembered frames: ~3.3 MB of a 9.9 MB frame at 854x480). References point only to
files of the same segment folder, to a member stored there (never to another reference), and
only to the current version of that frame (its chain hash is part of the name, and a frame's
chain hash changes with every earlier one's). A frame whose reference cannot be resolved
(the file it points to was removed or damaged) is dropped like a damaged one, silently: the
file it points to is reported when the engine reaches it.

Files are written atomically (temp file + fsync + rename) while the caller holds the
segment's lock.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from ..backends.base import Result
from ..engine import Segment, StateStore
from ..errors import CacheError, ColorizeError
from ..io import atomic_path
from .keys import SegmentIndex

META = "__meta__"
FILE_FORMAT = 2
#: formats this version reads (1: no references)
READ_FORMATS = (1, 2)
#: smallest state array worth storing as a reference to an earlier file (bytes)
REF_MIN_BYTES = 4096


def _checksum(arrays: Dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _sha(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    return hashlib.sha256(f"{a.dtype.str}|{a.shape}|".encode() + a.tobytes()).hexdigest()


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Byte-identical arrays of one dtype and shape."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    a = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
    b = np.ascontiguousarray(b).reshape(-1).view(np.uint8)
    return np.array_equal(a[:4096], b[:4096]) and np.array_equal(a, b)   # most differ early


#: where each array of a stored frame lives: name -> (array, file name or None for the
#: frame's own file, member name there)
Located = Dict[str, Tuple[np.ndarray, Optional[str], str]]


def encode_result(result: Result, frame: int, chain: str, previous: Optional[Located] = None,
                  ) -> Tuple[Dict[str, np.ndarray], Located]:
    """Arrays to store for ``result`` (see module docstring), and where each of its arrays
    lives once they are (for the next frame's references).

    ``previous``: the chain's previous frame's arrays as located by the last
    :func:`encode_result` or :func:`decode_result` of that frame (None: no references to
    other files). Returns (members of the ``.npz``, located arrays).
    """
    arrays: Dict[str, np.ndarray] = {}
    located: Located = {}
    refs: Dict[str, list] = {}
    pool = list((previous or {}).values())
    for name, a in result.state.items():
        a = np.asarray(a)
        a = a.astype(np.float16) if a.dtype.kind == "f" else a
        member = "state." + name
        hit = None
        if a.nbytes >= REF_MIN_BYTES:
            hit = next((p for p in pool if _same(p[0], a)), None)
            if hit is None:
                hit = next(((v, None, k) for k, v in arrays.items() if _same(v, a)), None)
        if hit is not None:
            refs[member] = [hit[1], hit[2], _sha(a)]
            located[member] = (a, hit[1], hit[2])
        else:
            arrays[member] = a
            located[member] = (a, None, member)
    aliases = {}
    for name, a in (("ab", result.ab), ("confidence", result.confidence)):
        a = np.asarray(a)
        a = a.astype(np.float16) if a.dtype.kind == "f" else a
        twin = next((k for k, v in arrays.items() if k.startswith("state.") and _same(v, a)), None)
        if twin is not None:
            aliases[name] = twin
        else:
            arrays[name] = a
    try:
        info = json.loads(json.dumps(result.info))
    except (TypeError, ValueError):
        info = {}
    meta = {"format": FILE_FORMAT, "frame": int(frame), "chain": chain, "aliases": aliases,
            "refs": refs, "checksum": _checksum(arrays), "info": info}
    arrays[META] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    return arrays, located


class MissingReference(ValueError):
    """A frame file is intact but an array it points to in another file is not there."""


def _resolve(folder: str, refs: Dict[str, list], own: Dict[str, np.ndarray]) -> Located:
    """Load the arrays ``refs`` point to (see module docstring); raises
    :class:`MissingReference` when one cannot be read or is not the array recorded."""
    out: Located = {}
    by_file: Dict[Optional[str], list] = {}
    for member, (fname, src, sha) in refs.items():
        by_file.setdefault(fname, []).append((member, src, sha))
    for fname, items in sorted(by_file.items(), key=lambda kv: kv[0] or ""):
        try:
            if fname is None:
                got = {src: own[src] for _, src, _ in items}
            else:
                if os.path.basename(fname) != fname or not fname.endswith(".npz"):
                    raise ValueError(f"bad reference {fname!r}")
                with np.load(os.path.join(folder, fname), allow_pickle=False) as z:
                    got = {src: z[src] for _, src, _ in items}
        except Exception as exc:  # noqa: BLE001 - any failure means the reference is unusable
            raise MissingReference(f"{fname}: {type(exc).__name__}: {exc}") from None
        for member, src, sha in items:
            a = got[src]
            if _sha(a) != sha:
                raise MissingReference(f"{fname or 'own file'}: {src} is not the array recorded")
            out[member] = (a, fname, src)
    return out


def decode_result(path: str, frame: int, chain: str) -> Result:
    """Read and verify one stored frame; raises ValueError (or OSError) when it is unusable
    (:class:`MissingReference` when only an array it points to in another file is)."""
    return _decode(path, frame, chain)[0]


def _decode(path: str, frame: int, chain: str) -> Tuple[Result, Located]:
    with np.load(path, allow_pickle=False) as z:
        if META not in z.files:
            raise ValueError("no metadata")
        meta = json.loads(bytes(z[META]).decode("utf-8"))
        arrays = {n: z[n] for n in z.files if n != META}
    if meta.get("format") not in READ_FORMATS:
        raise ValueError(f"file format {meta.get('format')!r}")
    if meta.get("frame") != frame or meta.get("chain") != chain:
        raise ValueError("file belongs to another frame or chain")
    if _checksum(arrays) != meta.get("checksum"):
        raise ValueError("checksum mismatch")
    name = os.path.basename(path)
    located: Located = {n: (a, name, n) for n, a in arrays.items() if n.startswith("state.")}
    for member, (a, fname, src) in _resolve(os.path.dirname(path), meta.get("refs") or {}, arrays).items():
        located[member] = (a, fname if fname is not None else name, src)

    def f32(a: np.ndarray) -> np.ndarray:
        return a.astype(np.float32) if a.dtype.kind == "f" else a

    state = {n[len("state."):]: f32(a) for n, (a, _, _) in located.items()}
    aliases = meta.get("aliases", {})

    def pick(member: str) -> np.ndarray:
        return f32(located[aliases[member]][0]) if member in aliases else f32(arrays[member])

    return Result(ab=pick("ab"), confidence=pick("confidence"), state=state, info=meta.get("info") or {}), located


class DiskStore(StateStore):
    """:class:`StateStore` keeping every frame of every segment in ``<root>/segments``.

    ``on_corrupt(path, reason)`` is called for every damaged file found (it is deleted); a
    frame dropped only because an array it points to is gone is deleted without a report.
    The last frame stored or read of each segment is remembered with where its arrays live,
    so the chain's next frame can point to them instead of storing them again.
    """

    def __init__(self, root: str, index: SegmentIndex,
                 on_corrupt: Optional[Callable[[str, str], None]] = None):
        super().__init__()
        self.root = root
        self.index = index
        self.on_corrupt = on_corrupt
        self.loaded = 0
        self._last: Dict[str, Tuple[int, Located]] = {}   # segment name -> (frame, arrays)

    def segment_dir(self, seg: Segment) -> str:
        return os.path.join(self.root, "segments", self.index.dirname(seg))

    def path(self, seg: Segment, frame: int) -> str:
        return os.path.join(self.segment_dir(seg), self.index.filename(seg, frame))

    def has(self, segment: Segment, frame: int) -> bool:
        return os.path.isfile(self.path(segment, frame))

    def get(self, segment: Segment, frame: int) -> Optional[Result]:
        path = self.path(segment, frame)
        try:
            res, located = _decode(path, frame, self.index.chain_hash(segment, frame))
        except FileNotFoundError:
            return None
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to decode means a damaged file
            self._drop(path, frame)
            if self.on_corrupt is not None and not isinstance(exc, MissingReference):
                self.on_corrupt(path, f"{type(exc).__name__}: {exc}")
            return None
        self.loaded += 1
        self._last[segment.name] = (frame, located)
        return res

    @staticmethod
    def _drop(path: str, frame: int) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as err:
            raise CacheError(f"damaged cache file cannot be removed ({err.strerror or err})",
                             file=path, frame=frame) from None

    def _previous(self, segment: Segment, frame: int) -> Optional[Located]:
        """The chain's previous frame's arrays, when that is the last frame seen."""
        last = self._last.get(segment.name)
        frames = list(segment.frames)
        if last is None or frame not in frames:
            return None
        i = frames.index(frame)
        return last[1] if i > 0 and frames[i - 1] == last[0] else None

    def put(self, segment: Segment, frame: int, result: Result) -> None:
        path = self.path(segment, frame)
        arrays, located = encode_result(result, frame, self.index.chain_hash(segment, frame),
                                        self._previous(segment, frame))
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
        keep = os.path.basename(path)
        self._last[segment.name] = (frame, {m: (a, f if f is not None else keep, src)
                                            for m, (a, f, src) in located.items()})
        # older versions of this frame (another plate state) are dead weight now
        for old in glob.glob(os.path.join(glob.escape(os.path.dirname(path)), f"f{frame}.*.npz")):
            if os.path.basename(old) != keep:
                try:
                    os.unlink(old)
                except OSError:
                    pass
