"""Frame ordering and recurrent state: runs a backend over a shot, chain by chain.

A shot is split into *segments* (chains). Each keyframe reference anchors two chains: one
walking forward and one walking backward from its frame. Between two keyframes both chains
run the whole interval, each up to the frame before the other keyframe, and a frame there
is the blend of the two (:func:`blend_results`: each chain weighted by its reported
confidence, which for the default backend sets colour tracked from the chain's keyframe
well above matched colour, and by how near its keyframe is), so colour never jumps where
one chain hands over to the next and drift from either keyframe is corrected by the other.
Before the first and after the last keyframe one chain covers the frames. Without keyframes
(only external stills) one forward chain covers the shot. Within a chain each frame is
colourised from the previous one (``Previous``), so the chain order is fixed, but chains
are independent of each other: the shot cache and the farm use them as units of work.

State hand-over goes through :func:`canonical_state` (float16 round trip) whether the
previous frame was just computed or loaded from a cache, so a resumed chain is
bit-identical to an uninterrupted one; the blend is a pure function of the two stored
results, so a frame blended in another process or order is bit-identical too.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .backends.base import Backend, Previous, Reference, Result, TargetFrame, half_round_trip
from .errors import InputError


@dataclass(frozen=True)
class Segment:
    """One chain: ``frames`` in processing order; ``anchor`` is the keyframe it starts from.

    ``frames[0] == anchor`` for keyframe chains (the anchor itself is emitted only by the
    forward chain, see ``emits_anchor``); ``anchor is None`` for a chain started cold.
    """

    anchor: Optional[int]
    frames: Tuple[int, ...]
    direction: int  # +1 forward, -1 backward

    @property
    def name(self) -> str:
        a = "cold" if self.anchor is None else str(self.anchor)
        d = "fwd" if self.direction > 0 else "bwd"
        return f"{a}-{d}-{min(self.frames)}-{max(self.frames)}"

    @property
    def first(self) -> int:
        """Lowest frame of the chain (the anchor for forward chains)."""
        return min(self.frames)

    @property
    def last(self) -> int:
        """Highest frame of the chain (the anchor for backward chains)."""
        return max(self.frames)

    @property
    def emits_anchor(self) -> bool:
        return self.anchor is None or self.direction > 0 or len(self.frames) == 1


def plan_segments(frames: Sequence[int], keyframes: Iterable[int]) -> List[Segment]:
    """Split the shot ``frames`` (any order, unique) into chains anchored on ``keyframes``.

    Keyframes must lie inside the shot. Returns segments sorted by anchor, backward first.
    Between two keyframes both chains cover the whole interval (frames emitted by two
    segments are blended, see :class:`FrameBlender`).
    Example: frames 0..9, keyframes {0, 9} -> [0 fwd 0..8], [9 bwd 9..1], [9 fwd 9].
    """
    fr = sorted(set(int(f) for f in frames))
    if not fr:
        raise InputError("no frames to process")
    keys = sorted(set(int(k) for k in keyframes))
    outside = [k for k in keys if k < fr[0] or k > fr[-1]]
    if outside:
        raise InputError(f"reference frame {outside[0]} is outside the shot range {fr[0]}-{fr[-1]}",
                         frame=outside[0], hint="give keyframes inside --frames or use the image as a still")
    if not keys:
        return [Segment(None, tuple(fr), +1)]
    segs: List[Segment] = []
    for i, k in enumerate(keys):
        lo = fr[0] if i == 0 else keys[i - 1] + 1
        hi = fr[-1] if i == len(keys) - 1 else keys[i + 1] - 1
        back = [f for f in reversed(fr) if lo <= f < k]
        fwd = [f for f in fr if k < f <= hi]
        if back:
            segs.append(Segment(k, tuple([k] + back), -1))
        segs.append(Segment(k, tuple([k] + fwd), +1))
    return segs


def emits(seg: Segment, frame: int) -> bool:
    """Whether ``seg`` delivers a result for ``frame`` (its anchor only if it emits it)."""
    return frame in seg.frames and (frame != seg.anchor or seg.emits_anchor)


def segment_of(segments: Sequence[Segment], frame: int) -> Segment:
    """The first segment that emits ``frame`` (:func:`segments_of` lists all of them)."""
    found = segments_of(segments, frame)
    if not found:
        raise InputError(f"frame {frame} is not part of the shot", frame=frame)
    return found[0]


def segments_of(segments: Sequence[Segment], frame: int) -> List[Segment]:
    """Every segment that emits ``frame``: one, or two between keyframes."""
    return [s for s in segments if emits(s, frame)]


def blend_weight(seg: Segment, frame: int, power: float = 1.0) -> float:
    """Distance weight of ``seg``'s result at ``frame`` in a blend, in (0, 1]: 1 at the
    chain's keyframe, falling to 0 at the keyframe that anchors the other chain (the frame
    after the chain's last one), as the linear fall-off raised to ``power``.

    The power is the backend's (:attr:`nuke_colorize.backends.base.Backend.blend_distance_power`):
    1 (linear) unless its confidence already falls with the distance to the keyframe.
    ``exemplar``'s does (colour it no longer tracks from the keyframe reports a quarter of
    its reliability), while colour neither chain tracks is about as unsure from either
    side, so a linear fall-off counted the distance twice; it uses 0.5. On six DAVIS clips
    (P2: first + last frame, 854x480, exemplar v16) power 0.5 gave +0.06 dB over 1 (five
    clips up to +0.13, soapbox -0.03), 0.25 and 0 gave +0.07 and +0.04 with larger single
    losses (soapbox -0.07, -0.15).
    """
    if seg.anchor is None:
        return 1.0
    far = seg.last + 1 if seg.direction > 0 else seg.first - 1
    return (abs(far - frame) / float(max(1, abs(far - seg.anchor)))) ** float(power)


BLEND_EPS = 1e-3


def pixel_blend_weights(parts: Sequence[Tuple[Segment, Result]], frame: int,
                        power: float = 1.0) -> List[np.ndarray]:
    """Unnormalised per-pixel weight of each chain's result for ``frame``, (H, W) float32
    each: ``blend_weight(seg_i, frame, power) * (confidence_i + 1e-3)``."""
    return [np.float32(blend_weight(s, frame, power)) * (np.asarray(r.confidence, np.float32) + np.float32(BLEND_EPS))
            for s, r in parts]


def blend_results(parts: Sequence[Tuple[Segment, Result]], frame: int, power: float = 1.0) -> Result:
    """Blend the results two (or more) chains gave for ``frame``.

    Per pixel, chain *i* weighs as :func:`pixel_blend_weights` says; ab (H, W, 2) and
    confidence (H, W) in [0, 1] are the weighted means. The state keeps only the luminance
    ``L`` (the temporal stage reads it); chains continue from their own unblended states.
    One part is returned unchanged.
    """
    if len(parts) == 1:
        return parts[0][1]
    ws = pixel_blend_weights(parts, frame, power)
    total = sum(ws)
    ab = sum(w[..., None] * np.asarray(r.ab, np.float32) for w, (_, r) in zip(ws, parts)) / total[..., None]
    conf = sum(w * np.asarray(r.confidence, np.float32) for w, (_, r) in zip(ws, parts)) / total
    state = {"L": np.asarray(parts[0][1].state["L"], np.float32)} if "L" in parts[0][1].state else {}
    info: Dict[str, object] = {}
    for _, r in parts:
        info.update(r.info)
    return Result(ab=ab.astype(np.float32), confidence=conf.astype(np.float32), state=state, info=info)


#: bytes of results a FrameBlender keeps in memory while they wait for their other chain;
#: beyond it they wait on disk (a gap of 1,000 frames between two keyframes holds ~4.4 GB at
#: a 1024x540 working size). ``NUKE_COLORIZE_BLEND_MEMORY`` (bytes) overrides it.
BLEND_MEMORY_BUDGET = 512 * 2 ** 20


def _env_bytes(name: str, default: int) -> int:
    """A byte count from the environment (a whole number >= 0), else ``default``."""
    try:
        value = int(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value >= 0 else default


#: a blender's spill folder in ``$TMPDIR``: ``nuke-colorize-blend-<host>-<pid>-<random>``
SPILL_RE = re.compile(r"^nuke-colorize-blend-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-")


def spill_prefix() -> str:
    """Name prefix of this process's spill folder: the machine and process, so a later run can
    tell a killed process's folder from a live one's (:func:`remove_dead_spills`)."""
    from .io.atomic import host_tag
    return f"nuke-colorize-blend-{host_tag()}-{os.getpid()}-"


def remove_dead_spills(folder: Optional[str] = None) -> int:
    """Remove the spill folders in ``folder`` (default ``$TMPDIR``) of this machine's processes
    that are gone: a SIGKILL skips the blender's own clean-up and would leave them for ever.
    Returns how many were removed."""
    from .io.atomic import _pid_alive, host_tag
    folder = folder or tempfile.gettempdir()
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    removed = 0
    for name in names:
        m = SPILL_RE.match(name)
        if m and m.group("host") == host_tag() and not _pid_alive(int(m.group("pid"))):
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
            removed += 1
    return removed


class _OnDisk:
    """A waiting result's arrays in a file of the blender's spill folder (its info in memory)."""

    def __init__(self, path: str, info: Dict) -> None:
        self.path, self.info = path, info

    def load(self) -> Result:
        with np.load(self.path) as z:
            res = Result(ab=z["ab"], confidence=z["confidence"],
                         state={k[6:]: z[k] for k in z.files if k.startswith("state_")}, info=self.info)
        os.remove(self.path)
        return res


class FrameBlender:
    """Collects the per-chain results of a run and releases each frame once every chain
    that emits it has delivered (``add`` returns the blended :class:`Result`, else None).

    Results waiting for their other chain are kept without their recurrent state, in
    float16 (lossless: results are canonical float16 values): 8 bytes per working pixel
    (ab, confidence, L), about 3.3 MB per frame at 854x480. Up to ``memory_budget`` bytes of
    them stay in memory (default :data:`BLEND_MEMORY_BUDGET`), the rest wait in a private
    temporary folder (``$TMPDIR``), removed when the blender goes (or, when its process was
    killed, by the next blender that spills on this machine); reading them back gives the
    same bits, so the blend does not depend on where a result waited.
    """

    def __init__(self, segments: Sequence[Segment], wanted: Optional[Iterable[int]] = None,
                 power: float = 1.0, memory_budget: Optional[int] = None):
        self.power = float(power)   # of the distance fall-off (:func:`blend_weight`)
        want = None if wanted is None else set(int(f) for f in wanted)
        self.cover: Dict[int, List[Segment]] = {}
        for s in segments:
            for f in s.frames:
                if emits(s, f) and (want is None or f in want):
                    self.cover.setdefault(f, []).append(s)
        self.pending: Dict[int, Dict[str, object]] = {}
        if memory_budget is None:
            memory_budget = _env_bytes("NUKE_COLORIZE_BLEND_MEMORY", BLEND_MEMORY_BUDGET)
        self.memory_budget = int(memory_budget)
        self.held = 0          # bytes of waiting results in memory
        self._spill: Optional[str] = None
        self._spilled = 0

    def add(self, seg: Segment, frame: int, result: Result) -> Optional[Result]:
        need = self.cover.get(frame, [seg])
        if len(need) == 1:
            return result
        got = self.pending.setdefault(frame, {})
        waiting = Result(ab=np.asarray(result.ab).astype(np.float16),
                         confidence=np.asarray(result.confidence).astype(np.float16),
                         state={k: np.asarray(v).astype(np.float16)
                                for k, v in result.state.items() if k == "L"},
                         info=dict(result.info))
        if any(s.name not in got for s in need if s.name != seg.name):
            got[seg.name] = self._hold(waiting, frame, seg.name)
            return None
        del self.pending[frame]
        ready = [(s, waiting if s.name == seg.name else self._release(got[s.name])) for s in need]
        return blend_results(ready, frame, self.power)

    @staticmethod
    def _nbytes(res: Result) -> int:
        return res.ab.nbytes + res.confidence.nbytes + sum(v.nbytes for v in res.state.values())

    def _hold(self, res: Result, frame: int, name: str):
        size = self._nbytes(res)
        if self.held + size <= self.memory_budget:
            self.held += size
            return res
        path = None
        try:
            if self._spill is None:
                remove_dead_spills()   # left by killed runs
                self._spill = tempfile.mkdtemp(prefix=spill_prefix())
                weakref.finalize(self, shutil.rmtree, self._spill, True)
            self._spilled += 1
            path = os.path.join(self._spill, f"{frame}_{self._spilled}.npz")
            np.savez(path, ab=res.ab, confidence=res.confidence,
                     **{"state_" + k: v for k, v in res.state.items()})
            return _OnDisk(path, res.info)
        except OSError:   # no room for the spill: keep it in memory after all
            if path is not None and os.path.exists(path):
                os.remove(path)
            self.held += size
            return res

    def _release(self, item) -> Result:
        if isinstance(item, _OnDisk):
            return item.load()
        self.held -= self._nbytes(item)
        return item


def chain_references(seg: Segment, references: Sequence[Reference]) -> List[Reference]:
    """The references a chain's frames depend on: its anchor keyframe, the next keyframe in
    the chain's direction (the other end of the interval it walks into), then every external
    still in the given order. Farther keyframes are left out, so a keyframe influences only
    the frames between its two neighbouring keyframes; the shot cache invalidates by this rule.
    A chain started cold (no keyframes) uses every reference.
    """
    stills = [r for r in references if r.frame is None]
    if seg.anchor is None:
        return stills or list(references)
    keyframes = {r.frame: r for r in references if r.frame is not None}
    keys = sorted(keyframes)
    i = keys.index(seg.anchor) + (1 if seg.direction > 0 else -1)
    far = [keyframes[keys[i]]] if 0 <= i < len(keys) else []
    return [keyframes[seg.anchor]] + far + stills


def canonical_state(result: Result) -> Result:
    """Round-trip every array of ``result`` through float16 (the cache's storage precision).

    Applied to every frame, cached or not: the next frame of the chain sees the same bits
    however the state reached it.
    """
    def rt(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a)
        if a.dtype.kind == "f":
            return half_round_trip(a)
        return a
    return Result(ab=rt(result.ab), confidence=rt(result.confidence),
                  state={k: rt(v) for k, v in result.state.items()}, info=dict(result.info))


class StateStore:
    """Where per-frame results live between frames. This one is in memory and keeps only
    the newest frame of each chain (enough to continue it); the shot cache implements the
    same methods on disk and keeps everything.
    """

    def __init__(self) -> None:
        self._d: Dict[str, Tuple[int, Result]] = {}

    def has(self, segment: Segment, frame: int) -> bool:
        item = self._d.get(segment.name)
        return item is not None and item[0] == frame

    def get(self, segment: Segment, frame: int) -> Optional[Result]:
        item = self._d.get(segment.name)
        return item[1] if item is not None and item[0] == frame else None

    def put(self, segment: Segment, frame: int, result: Result) -> None:
        self._d[segment.name] = (frame, result)


class Engine:
    """Runs ``backend`` over the frames of a shot through a :class:`StateStore`.

    Args:
        backend: a backend whose ``set_references`` has been called.
        references: the same references (keyframes are looked up by frame here).
        target: callable frame -> :class:`TargetFrame` at working resolution.
        store: state store (in-memory by default; the shot cache for resumable runs).
    """

    def __init__(self, backend: Backend, references: Sequence[Reference],
                 target: Callable[[int], TargetFrame], store: Optional[StateStore] = None):
        self.backend = backend
        self.references = list(references)
        self.keyframes = {r.frame: r for r in references if r.frame is not None}
        self.target = target
        self.store = store if store is not None else StateStore()
        self.computed: List[int] = []   # frames actually computed (not loaded), in order

    def run(self, segments: Sequence[Segment], wanted: Optional[Iterable[int]] = None,
            on_frame: Optional[Callable[[int, Result], None]] = None) -> Iterator[Tuple[int, Result]]:
        """Yield ``(frame, result)`` for every wanted frame (all frames if None), frames
        emitted by two chains blended (:class:`FrameBlender`), each once both are done.

        See :meth:`run_chains` for what is walked and computed.
        """
        blender = FrameBlender(segments, wanted, self.backend.blend_distance_power)
        for seg, f, res in self.run_chains(segments, wanted, on_frame):
            out = blender.add(seg, f, res)
            if out is not None:
                yield f, out

    def run_chains(self, segments: Sequence[Segment], wanted: Optional[Iterable[int]] = None,
                   on_frame: Optional[Callable[[int, Result], None]] = None
                   ) -> Iterator[Tuple[Segment, int, Result]]:
        """Yield ``(segment, frame, result)`` for every wanted frame of every segment that
        emits it (unblended), segment after segment.

        For each segment only the prefix of its chain up to the last wanted frame is
        walked, resuming from stored frames: a frame is computed only when it is not in
        the store (or its stored copy turns out unreadable, in which case the store drops
        it and the walk restarts from the nearest good state; frames already yielded before
        the restart are not yielded again).
        ``on_frame(frame, result)`` is called for every frame actually computed.
        """
        wanted_set = None if wanted is None else set(int(f) for f in wanted)
        for seg in segments:
            emit = [f for f in seg.frames if emits(seg, f) and (wanted_set is None or f in wanted_set)]
            if not emit:
                continue
            last = max(seg.frames.index(f) for f in emit)
            chain = list(seg.frames[:last + 1])
            pending = set(emit)          # _walk takes out each frame it yields
            for _attempt in range(len(chain) + 1):
                done = yield from self._walk(seg, chain, pending, on_frame)
                if done:
                    break

    def segment_references(self, seg: Segment) -> List[Reference]:
        """The references the frames of ``seg`` depend on (:func:`chain_references`). The
        backend is switched to this set (``set_references``) before a segment's first
        computed frame; segments read entirely from the store cost nothing."""
        return chain_references(seg, self.references)

    def _use_references(self, seg: Segment) -> None:
        refs = self.segment_references(seg)
        current = getattr(self.backend, "references", None) or []
        if [id(r) for r in current] != [id(r) for r in refs]:
            self.backend.set_references(refs)

    def _walk(self, seg: Segment, chain: List[int], emit: set,
              on_frame: Optional[Callable[[int, Result], None]]):
        """One pass along ``chain``, yielding the frames of ``emit`` (each removed from it as it
        is yielded, so a walk restarted after an unreadable state yields only the frames still
        owed); returns False when a stored state proved unreadable."""
        prev: Optional[Result] = None
        for i, f in enumerate(chain):
            nxt_stored = i + 1 < len(chain) and self.store.has(seg, chain[i + 1])
            res: Optional[Result] = None
            if self.store.has(seg, f):
                if f not in emit and nxt_stored:
                    prev = None          # skip loading: the next frame is stored as well
                    continue
                res = self.store.get(seg, f)
                if res is None:
                    return False         # unreadable: dropped by the store, walk again
            else:
                if i > 0 and prev is None:
                    prev = self.store.get(seg, chain[i - 1])
                    if prev is None:
                        return False
                res = self._compute(seg, i, f, prev, chain)
                self.store.put(seg, f, res)
                self.computed.append(f)
                if on_frame is not None:
                    on_frame(f, res)
            if f in emit:
                emit.discard(f)
                yield seg, f, res
            prev = res
        return True

    def _compute(self, seg: Segment, i: int, frame: int, prev: Optional[Result],
                 chain: Sequence[int]) -> Result:
        self._use_references(seg)
        tgt = self.target(frame)
        if i == 0 and seg.anchor is not None:
            res = self.backend.keyframe_result(tgt, self.keyframes[seg.anchor])
        else:
            previous = None if prev is None else Previous(frame=chain[i - 1], state=prev.state)
            res = self.backend.colorize(tgt, previous)
        return canonical_state(res)
