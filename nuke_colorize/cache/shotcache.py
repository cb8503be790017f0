"""The shot cache: render any frame of a shot in any order, in any process, bit-identically.

:class:`ShotCache` ties a :class:`~nuke_colorize.shot.Shot` to its cache folder::

    <cache>/cache.lock                 shared by every build/render, exclusive for `cache clear`
    <cache>/manifest.json              format, writer version, determinism rule, shot, segments
    <cache>/locks/<segment>.lock       one per segment folder (exclusive while its chain is walked)
    <cache>/locks/output.<frame>.lock  one per output frame (while it and its record are written)
    <cache>/segments/<segment>/segment.json         what the segment's key was computed from
    <cache>/segments/<segment>/f<frame>.<chain>.npz one per computed frame (see .store)
    <cache>/output/colour.####.exr     outputs, when the shot names no ``output``
    <cache>/output_records/<frame>.json the shot key each output frame was written for (see .outputs)

Asking for frames walks, for each segment holding one, the segment's chain from its anchor up
to the last wanted frame, loading stored frames and computing (and storing) the missing ones
from the nearest stored state (:class:`nuke_colorize.engine.Engine`). Each segment is walked
under its lock: a second process wanting the same segment works on its other segments first
and then waits, and finds the frames stored when it gets the lock, so two builders never
compute the same frame. Outputs are (re)written for every wanted frame; a frame between two
keyframes, emitted by two chains, is blended and written once both chains have reached it
(:class:`nuke_colorize.engine.FrameBlender`).

A process waiting for a lock another process holds says so every :data:`WAIT_HEARTBEAT_S`
seconds (``waiting`` events; for a segment with how many of the chain's frames are stored
by now), so a caller can tell a builder that waits from one that hangs: a building process
sends a ``frame`` event for every frame it computes or loads. Before that, while it prepares
(identifies the plate's frames, which with ``content_hash`` reads and hashes every one; plans
a library shot's automatic references; loads the backend for the first computed frame), it
sends ``preparing`` events at least as often.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Dict, List, Optional, Sequence, Tuple

from .. import __version__
from ..engine import Engine, FrameBlender, Segment, emits
from ..errors import CacheError, InputError
from ..io import (PlateSource, atomic_write_text, cleanup_stale_temps, format_frames, frame_path, is_pattern,
                  match_frame)
from ..io.atomic import _TEMP_RE as TEMP_RE
from ..shot import KEY_FORMAT, Shot
from . import determinism
from .filelock import FileLock
from .keys import CACHE_FORMAT, SegmentIndex
from .manifest import MANIFEST, WRITER, read_manifest, record_cpu_capability, update_manifest
from .outputs import (OUTPUT_LOCK_RE, RECORD_RE, RECORDS_DIR, output_lock_path, output_states, record_output,
                      records_dir)
from .store import DiskStore

GLOBAL_LOCK = "cache.lock"
WRITABLE_HINT = "give a writable cache folder (the shot's 'cache' key, or --cache)"
#: seconds between two ``waiting`` events while another process holds a lock this one needs
WAIT_HEARTBEAT_S = 20.0
#: seconds between two tries of a busy lock
LOCK_POLL_S = 0.25


def wait_for_lock(lock: FileLock, heartbeat: Callable[[float], None], shared: bool = False) -> None:
    """Take ``lock``, waiting as long as another process holds it; ``heartbeat(seconds
    waited)`` at once and then every :data:`WAIT_HEARTBEAT_S` seconds until it is taken."""
    if lock.acquire(shared=shared, blocking=False):
        return
    t0 = time.monotonic()
    heartbeat(0.0)
    beat = t0 + WAIT_HEARTBEAT_S
    while not lock.acquire(shared=shared, blocking=False):
        now = time.monotonic()
        if now >= beat:
            heartbeat(now - t0)
            beat = now + WAIT_HEARTBEAT_S
        time.sleep(LOCK_POLL_S)


#: how long :func:`preparing` vouches for a step that reports no progress of its own (seconds)
PREPARING_BEAT_LIMIT_S = 1800.0


@contextmanager
def preparing(emit: Optional[Callable[[Dict[str, Any]], None]], message: str):
    """Around one long step that reports no progress of its own (planning automatic
    references, loading the backend): a ``preparing`` event with ``message`` at once and then
    every :data:`WAIT_HEARTBEAT_S` seconds (from a thread) until the step ends, for at most
    :data:`PREPARING_BEAT_LIMIT_S` (then it falls silent: a hung step must not look alive for
    ever to a host's stall timeout). ``emit`` is an
    events callback (None: nothing is sent); it must be safe to call from another thread."""
    if emit is None:
        yield
        return
    t0 = time.monotonic()
    emit({"event": "preparing", "message": message, "waited": 0})
    stop = threading.Event()

    def beat() -> None:
        # a step still running after PREPARING_BEAT_LIMIT_S is taken as hung (a model file on a
        # dead mount): the beats stop, so a host's stall timeout can end it
        while not stop.wait(WAIT_HEARTBEAT_S) and time.monotonic() - t0 < PREPARING_BEAT_LIMIT_S:
            emit({"event": "preparing", "message": message, "waited": round(time.monotonic() - t0)})

    thread = threading.Thread(target=beat, name="nuke-colorize-preparing", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@dataclass
class _Run:
    """Book-keeping of one build/render call."""

    total: int
    done: int = 0
    computed: List[int] = field(default_factory=list)
    computed_by_segment: Dict[str, List[int]] = field(default_factory=dict)
    loaded: int = 0
    outputs: List[str] = field(default_factory=list)
    corrupt: List[str] = field(default_factory=list)


class _Context:
    """Everything opened for one shot: plate, references, backend, store and keys."""

    def __init__(self, shot: Shot, root: str, warn: Callable[[str], None],
                 on_corrupt: Callable[[str, str], None]):
        from ..pipeline import resolve_device
        from ..render import PlateLuma, SkippedPartsNotes, check_outputs, make_colorizer, once

        determinism.fix_threads(shot.threads)
        self.shot = shot
        self.root = root
        self.job = shot.job()
        self.clip_note = once(warn)   # colour clipped to half's range (out_depth half): said once
        self.parts_note = SkippedPartsNotes(warn)   # plate parts not written: each said once
        self.source = PlateSource(self.job.plate, self.job.frames)
        try:
            self.protected = [self.job.plate] + [r.path for r in self.job.references] + \
                ([self.job.matte] if self.job.matte else [])
            check_outputs(self.job, self.protected)
            self.luma = PlateLuma(self.source, self.job.colorspace, warn, self.job.ocio_config)
            self.col = make_colorizer(self.job, self.source, self.luma, warn)
            self.device = resolve_device(self.job.device)
            self.base = {"cache_format": CACHE_FORMAT, "key_format": KEY_FORMAT, "version": __version__,
                         "determinism": determinism.rule(shot.threads), "device": self.device,
                         "backend": self.col.backend.settings_key(),
                         "plate": {"size": [self.source.width, self.source.height],
                                   "colorspace": shot.colorspace, "resolved": self.luma.resolved},
                         "ref_colorspace": shot.ref_colorspace,
                         "working_size": [self.col.work_w, self.col.work_h], "matte": bool(shot.matte),
                         # what the OCIO names turn the plate into (nothing without them: keys stay)
                         **shot._ocio_identity()}
            self._plate_ids: Dict[int, str] = {}
            self._shot_key: Optional[str] = None
            self.index = SegmentIndex(self.base, self.col.references, self.frame_identity)
            self.store = DiskStore(root, self.index, on_corrupt=on_corrupt)
            self.col.store = self.store
            self.segments: List[Segment] = self.col.segments(self.job.frames)
            self.stage = None   # the temporal smoothing stage of a render (see ShotCache.render)
            self.blender: Optional[FrameBlender] = None   # joins two chains' frames (ShotCache.render)
        except BaseException:
            self.close()
            raise

    def plate_id(self, frame: int) -> str:
        if frame not in self._plate_ids:
            self._plate_ids[frame] = self.source.identity(frame, self.shot.content_hash)
        return self._plate_ids[frame]

    def frame_identity(self, frame: int) -> str:
        ident = self.plate_id(frame)
        if self.shot.matte:
            # a frame without a matte file is allowed (IDs are carried along the flow)
            path = frame_path(self.shot.matte, frame)
            ident += "|matte:" + (self.shot.file_identity(path) if os.path.exists(path) else "absent")
        return ident

    def shot_key(self) -> str:
        if self._shot_key is None:
            self._shot_key = self.shot.key(settings_key=self.col.backend.settings_key(),
                                           plate_ids=[self.plate_id(f) for f in self.job.frames],
                                           reference_keys=[r.key for r in self.col.references])
        return self._shot_key

    def encoding_record(self) -> str:
        """The output encoding as the output records keep it ("" the default; .outputs)."""
        return self.job.encoding.record(self.job.output)

    def attributes(self) -> Dict[str, Any]:
        """Output metadata, as :func:`nuke_colorize.render.run_render` writes it."""
        return {"nuke_colorize:backend": self.job.backend,
                "nuke_colorize:references": json.dumps(
                    [{"frame": r.frame, "image": r.path} for r in self.job.references])}

    def close(self) -> None:
        self.source.close()


def _emitted(seg: Segment) -> List[int]:
    return [f for f in seg.frames if emits(seg, f)]


class ShotCache:
    """Build, render, inspect and clear the cache of ``shot``.

    ``events(dict)`` receives progress events (``--json-progress``): ``start``, ``frame``
    (``done``, ``total``, ``frame``, ``segment``, ``computed``), ``waiting`` (``message``,
    ``waited`` seconds; for a segment also ``segment``, ``stored``, ``needed``; repeated every
    :data:`WAIT_HEARTBEAT_S` s), ``preparing`` (``message``, ``waited``; before ``start`` and
    before the backend is loaded, at least every :data:`WAIT_HEARTBEAT_S` s), ``note`` and
    ``done``. It may be called from a helper thread (never two calls at once).
    ``warn(text)`` receives notes for people (default: stderr).
    """

    def __init__(self, shot: Shot, events: Optional[Callable[[Dict[str, Any]], None]] = None,
                 warn: Optional[Callable[[str], None]] = None):
        self.shot = shot
        self.root = os.path.abspath(shot.cache)
        self.events = events
        self._event_lock = threading.Lock()   # ``preparing`` heartbeats come from a thread
        self.warn = warn or (lambda m: print(f"nuke-colorize: note: {m}", file=sys.stderr, flush=True))

    # ------------------------------------------------------------------ plumbing
    def _event(self, **evt: Any) -> None:
        if self.events is not None:
            with self._event_lock:
                self.events(evt)

    def _preparing(self, message: str):
        return preparing(None if self.events is None else (lambda evt: self._event(**evt)), message)

    def _identify(self, ctx: _Context) -> None:
        """Identify every plate frame (:meth:`_Context.plate_id`; with ``content_hash`` each is
        read and hashed), with a ``preparing`` event every :data:`WAIT_HEARTBEAT_S` seconds
        (and at once with ``content_hash``) saying how far it is."""
        frames = list(ctx.job.frames)
        n = len(frames)
        now = time.monotonic()
        t0, beat = now, now + WAIT_HEARTBEAT_S
        if self.shot.content_hash:
            beat = now
        for i, f in enumerate(frames):
            now = time.monotonic()
            if now >= beat:
                self._event(event="preparing", waited=round(now - t0),
                            message=f"identifying plate frames {i}/{n}")
                beat = now + WAIT_HEARTBEAT_S
            ctx.plate_id(f)

    def _open_writable(self) -> FileLock:
        """Take the cache's shared lock, then create the folder layout; CacheError if read-only.
        The layout is made under the lock: a `cache clear` this process waited for removes it."""
        self._makedirs(self.root)
        lock = FileLock(os.path.join(self.root, GLOBAL_LOCK))
        wait_for_lock(lock, lambda waited: self._event(
            event="waiting", waited=round(waited), message="the cache is being cleared; waiting"), shared=True)
        try:
            for sub in ("segments", "locks"):
                self._makedirs(os.path.join(self.root, sub))
        except BaseException:
            lock.release()
            raise
        return lock

    def _makedirs(self, folder: str) -> None:
        """Create ``folder`` of the cache (and its parents); CacheError if it cannot be made."""
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"cannot create the cache folder ({exc.strerror or exc})", file=self.root,
                             hint=WRITABLE_HINT) from None

    def _context(self, run: Optional[_Run] = None) -> _Context:
        def on_corrupt(path: str, reason: str) -> None:
            if run is not None:
                run.corrupt.append(path)
            msg = f"damaged cache file {path} ({reason}); recomputing it"
            self.warn(msg)
            self._event(event="note", message=msg)
        return _Context(self.shot, self.root, self.warn, on_corrupt)

    def _wanted(self, ctx: _Context, wanted: Optional[Sequence[int]]) -> List[int]:
        frames = list(ctx.job.frames)
        if wanted is None:
            return frames
        outside = sorted(set(int(f) for f in wanted) - set(frames))
        if outside:
            raise InputError(f"frames {format_frames(outside)} are outside the shot's frames "
                             f"{frames[0]}-{frames[-1]}", file=self.shot.path, frame=outside[0])
        return sorted(set(int(f) for f in wanted))

    def _register(self, ctx: _Context) -> None:
        segs = {ctx.index.dirname(s): {"anchor": s.anchor, "direction": s.direction, "start": s.frames[0],
                                       "key": ctx.index.key(s),
                                       "references": [r["path"] for r in ctx.index.material(s)["references"]]}
                for s in ctx.segments}
        det = dict(determinism.rule(self.shot.threads), cpu_capability=determinism.cpu_capability())
        entry = {"key": ctx.shot_key(), "name": self.shot.display_name(), "file": self.shot.path,
                 "frames": list(self.shot.frames), "description": self.shot.to_dict()}
        old = update_manifest(self.root, entry, segs, det)
        if old and (old.get("written_by") != WRITER or (old.get("determinism") or {}).get("threads")
                    != det["threads"]):
            self.warn(f"the cache folder also holds segments written by {old.get('written_by')} with "
                      f"{(old.get('determinism') or {}).get('threads')} thread(s); they are not reused "
                      f"(this is {WRITER}, {det['threads']} thread(s))")
        elif old and old.get("segments") and old.get("key_format", 1) != KEY_FORMAT:
            self.warn(f"the cache folder also holds segments of key format {old.get('key_format', 1)}; "
                      f"they are not reused (this is key format {KEY_FORMAT}, which names input files "
                      f"by name, size and mtime wherever their storage is mounted; format 1 named them "
                      f"by path); `nuke-colorize cache clear --stale` removes them")

    # ------------------------------------------------------------------ build / render
    def render(self, wanted: Optional[Sequence[int]] = None, write_outputs: bool = True,
               progress: bool = False) -> Dict[str, Any]:
        """Make ``wanted`` frames (default: the whole shot) exist in the cache and, with
        ``write_outputs``, as output files. Returns a JSON-able summary."""
        from ..render import ProgressBar, output_notes

        t0 = time.time()
        self.shot.check_plate()   # a missing plate frame is refused before the cache folder is made
        run = _Run(total=0)
        ctx = self._context(run)  # so are bad references and settings (nothing here writes)
        try:
            lock = self._open_writable()
        except BaseException:
            ctx.close()
            raise
        try:
            todo = self._wanted(ctx, wanted)
            self._identify(ctx)   # the segments' keys and the shot's need every plate frame's
            self._register(ctx)
            if write_outputs:  # temp files of killed writers (this machine's, or a day old)
                for pattern in (self.shot.output, self.shot.confidence_output):
                    if pattern:
                        cleanup_stale_temps(os.path.dirname(frame_path(pattern, todo[0])))
                cleanup_stale_temps(records_dir(self.root))
                for note in output_notes(ctx.job, ctx.luma.last, ctx.parts_note):   # as the render's
                    self.warn(note)
                    self._event(event="note", message=note)
            # temporal smoothing: walk each wanted frame's window too; outputs when complete
            ctx.stage = ctx.col.temporal_stage(ctx.job.frames, todo) if write_outputs else None
            want = set(ctx.stage.needed()) if ctx.stage is not None else set(todo)
            plan = [(s, [f for f in _emitted(s) if f in want]) for s in ctx.segments]
            plan = [(s, fr) for s, fr in plan if fr]
            run.total = sum(self._steps(ctx, s, fr) for s, fr in plan)
            # frames between two keyframes come from two chains: written once both are walked
            ctx.blender = FrameBlender([s for s, _ in plan], want,
                                       ctx.col.backend.blend_distance_power)
            bar = ProgressBar(len(want), enabled=progress)
            self._event(event="start", done=0, total=run.total, frames=len(todo),
                        segments=[ctx.index.dirname(s) for s, _ in plan])
            pending = list(plan)
            while pending:
                for item in list(pending):
                    if self._segment_locked(ctx, item, run, write_outputs, bar, blocking=False):
                        pending.remove(item)
                if pending:  # the rest is being built by other processes: wait for one, then go on
                    self._segment_locked(ctx, pending.pop(0), run, write_outputs, bar, blocking=True)
            for g, r in (ctx.stage.flush() if ctx.stage is not None else []):
                self._write_output(ctx, g, r, run)
            if run.computed:
                record_cpu_capability(self.root, determinism.cpu_capability())
            dt = time.time() - t0
            run.total = max(run.total, run.done)
            summary = {"frames": len(todo), "seconds": round(dt, 3),
                       "seconds_per_frame": round(dt / max(1, len(todo)), 4),
                       "computed": list(run.computed), "computed_by_segment": run.computed_by_segment,
                       "loaded": run.loaded, "outputs": run.outputs, "corrupt": run.corrupt,
                       "backend": self.shot.backend, "working_size": [ctx.col.work_w, ctx.col.work_h],
                       "plate_colorspace": ctx.luma.resolved, "cache": self.root,
                       "shot_key": ctx.shot_key(), "threads": self.shot.threads,
                       "temporal_smoothing": self.shot.temporal_smoothing,
                       "references": [{"frame": r.frame, "image": r.image} for r in self.shot.references]}
            self._event(event="done", done=run.total, total=run.total, computed=len(run.computed),
                        loaded=run.loaded, seconds=round(dt, 3))
            return summary
        finally:
            ctx.close()
            lock.release()

    def _segment_locked(self, ctx: _Context, item, run: _Run, write_outputs: bool, bar,
                        blocking: bool) -> bool:
        """Walk one (segment, frames) item under the segment's lock; False if the lock is busy.
        ``blocking``: wait for the lock, with a ``waiting`` event every :data:`WAIT_HEARTBEAT_S`
        seconds saying how many of the frames the walk needs are stored by now (the other
        process's progress)."""
        seg, frames = item
        name = ctx.index.dirname(seg)
        lock = FileLock(os.path.join(self.root, "locks", name + ".lock"))
        if not blocking:
            if not lock.acquire(blocking=False):
                return False
        else:
            chain = seg.frames[:max(seg.frames.index(f) for f in frames) + 1]

            def heartbeat(waited: float) -> None:
                stored = sum(1 for f in chain if ctx.store.has(seg, f))
                self._event(event="waiting", segment=name, done=run.done, total=run.total,
                            stored=stored, needed=len(chain), waited=round(waited),
                            message=f"waiting for another process building segment {name} "
                                    f"({stored}/{len(chain)} of the frames needed are stored)")
            wait_for_lock(lock, heartbeat)
        try:
            self._run_segment(ctx, seg, frames, run, write_outputs, bar)
        finally:
            lock.release()
        return True

    @staticmethod
    def _steps(ctx: _Context, seg: Segment, frames: List[int]) -> int:
        """Frames the walk will compute or load for ``frames`` of ``seg`` (progress total)."""
        last = max(seg.frames.index(f) for f in frames)
        want = set(frames)
        return sum(1 for f in seg.frames[:last + 1] if f in want or not ctx.store.has(seg, f))

    def _run_segment(self, ctx: _Context, seg: Segment, frames: List[int], run: _Run,
                     write_outputs: bool, bar) -> None:
        """Walk ``seg`` up to its last wanted frame (segment lock held)."""
        name = ctx.index.dirname(seg)
        seg_dir = ctx.store.segment_dir(seg)
        try:
            os.makedirs(seg_dir, exist_ok=True)
            meta = os.path.join(seg_dir, "segment.json")
            if not os.path.isfile(meta):
                atomic_write_text(meta, json.dumps(dict(ctx.index.material(seg), key=ctx.index.key(seg),
                                                        frames=[seg.first, seg.last]),
                                                   indent=1, sort_keys=True) + "\n")
        except (OSError, InputError) as exc:
            raise CacheError(f"cannot write the cache: {getattr(exc, 'problem', None) or exc}",
                             file=seg_dir, hint=WRITABLE_HINT) from None
        # we hold the lock every writer of the folder takes: this machine's temps there are dead
        # writers'; another machine's wait a day (a share mounted without lock support, NFS
        # 'nolock', keeps flock local: its writer may be alive)
        cleanup_stale_temps(seg_dir, min_age_s=0.0)
        backend = ctx.col.backend
        if getattr(backend, "built", True) is False:   # a LazyBackend: built on the first computed frame
            walk = seg.frames[:max(seg.frames.index(f) for f in frames) + 1]
            if any(not ctx.store.has(seg, f) for f in walk):
                with self._preparing("loading the backend"):
                    backend.backend
            else:   # built later only when a stored frame is found damaged: said then
                backend.on_build = lambda: self._preparing("loading the backend")
        engine = Engine(backend, ctx.col.references, ctx.col.target, ctx.store)
        computed_here = set()
        mine = run.computed_by_segment.setdefault(name, [])

        def on_frame(f: int, _res) -> None:
            computed_here.add(f)
            run.computed.append(f)
            mine.append(f)
            run.done += 1
            self._event(event="frame", done=run.done, total=max(run.total, run.done), frame=f,
                        segment=name, computed=True)

        for _, f, res in engine.run_chains([seg], frames, on_frame=on_frame):
            if f not in computed_here:
                run.loaded += 1
                run.done += 1
                self._event(event="frame", done=run.done, total=max(run.total, run.done), frame=f,
                            segment=name, computed=False)
            res = ctx.blender.add(seg, f, res)
            if res is None:
                continue
            if write_outputs:
                for g, r in (ctx.stage.add(f, res) if ctx.stage is not None else [(f, res)]):
                    self._write_output(ctx, g, r, run)
            bar.step(f)

    @staticmethod
    def _write_output(ctx: _Context, f: int, res, run: _Run) -> None:
        """Finish frame ``f`` from its working-resolution result and write its output file(s)."""
        from ..render import write_frame

        out = ctx.col.finish(f, res)
        luma = ctx.luma
        plate_img = luma.last if (luma.last is not None and luma.last.frame == f) else ctx.source.read(f)
        ctx.parts_note(plate_img)
        with FileLock(output_lock_path(ctx.root, f)):   # the file and its record as one (.outputs)
            paths = write_frame(ctx.job, out, plate_img, luma.resolved or "linear", ctx.protected,
                                ctx.attributes(), ctx.clip_note)
            # what `cache status` tells current outputs from stale ones by (.outputs)
            record_output(ctx.root, f, ctx.shot_key(), paths[0], ctx.encoding_record())
        run.outputs += paths

    # ------------------------------------------------------------------ status
    def status(self) -> Dict[str, Any]:
        """Coverage per segment of the shot as it is now (reads only; creates nothing)."""
        self.shot.check_plate()
        exists = os.path.isdir(self.root)
        manifest = read_manifest(self.root) if exists else None
        ctx = self._context()
        try:
            segs, current = [], set()
            for s in ctx.segments:
                name = ctx.index.dirname(s)
                current.add(name)
                stored = [f for f in s.frames if ctx.store.has(s, f)] if exists else []
                n = len(s.frames)
                segs.append({"name": name, "anchor": s.anchor, "direction": "fwd" if s.direction > 0 else "bwd",
                             "first": s.first, "last": s.last, "frames": n, "stored": len(stored),
                             "state": "complete" if len(stored) == n else ("partial" if stored else "empty")})
            stale, stale_bytes = [], 0
            seg_root = os.path.join(self.root, "segments")
            if os.path.isdir(seg_root):
                for d in sorted(os.listdir(seg_root)):
                    if d not in current and SEGMENT_DIR_RE.match(d) and os.path.isdir(os.path.join(seg_root, d)):
                        stale.append(d)
                        stale_bytes += _folder_bytes(os.path.join(seg_root, d))
            # output files count as current only when written for the shot's key as it is now
            outs = output_states(self.root, ctx.job.frames, ctx.shot_key(), self.shot.output,
                                 ctx.encoding_record())
            total = sum(s["frames"] for s in segs)
            stored = sum(s["stored"] for s in segs)
            other, other_bytes = other_layout(self.root, auto=False)
            return {"shot": self.shot.display_name(), "shot_file": self.shot.path, "shot_key": ctx.shot_key(),
                    "cache": self.root, "exists": exists, "frames": list(self.shot.frames),
                    "segments": segs, "stored": stored, "total": total, "complete": stored == total,
                    "outputs": len(outs["current"]), "stale_outputs": outs["stale"],
                    "missing_outputs": len(outs["missing"]), "output": self.shot.output,
                    "stale_segments": stale, "stale_bytes": stale_bytes,
                    "other_layout": other, "other_layout_bytes": other_bytes,
                    "written_by": (manifest or {}).get("written_by"),
                    "determinism": (manifest or {}).get("determinism"), "threads": self.shot.threads}
        finally:
            ctx.close()

    # ------------------------------------------------------------------ clear
    def clear(self, stale_only: bool = False) -> Dict[str, Any]:
        """Delete what the cache wrote: its segment folders, lock files and manifest, the data of
        automatic references left by an earlier version of the shot (``scenes/``,
        ``auto_references.json``) and, when the shot's output lives in the default ``output/``
        folder of the cache, the output frames in it. Any other file in the cache folder (or in
        ``output/``) stays, and so does every output written elsewhere. With ``stale_only`` only
        the segment folders the shot no longer uses and the other layout's data. Refused while
        another process builds or renders from it."""
        if not os.path.isdir(self.root):
            return {"cache": self.root, "removed": []}
        removed: List[str] = []
        lock = FileLock(os.path.join(self.root, GLOBAL_LOCK))
        if not lock.acquire(shared=False, blocking=False):
            raise CacheError("the cache is in use by another process (a build or render is running)",
                             file=self.root, hint="wait for it to finish or stop it, then clear again")
        try:
            current = None
            if stale_only:
                ctx = self._context()
                try:
                    current = {ctx.index.dirname(s) for s in ctx.segments}
                finally:
                    ctx.close()
            clear_segments(self.root, removed, keep=current)
            if not stale_only:
                clear_outputs(self.shot, removed)
        finally:
            lock.release()
        from ..library.auto import clear_auto_layout   # left by the shot with a library
        clear_auto_layout(self.root, removed)
        return {"cache": self.root, "removed": removed}


# ---------------------------------------------------------------------- what the cache wrote
SEGMENT_DIR_RE = re.compile(r"^(?:cold|-?\d+)-(?:fwd|bwd)-(?:-?\d+)\.[0-9a-f]{16}\Z")
PLAIN_LAYOUT = ("segments", "locks", "manifest.json", RECORDS_DIR)
#: what a shot with a library keeps in its cache folder (:mod:`nuke_colorize.library.auto`)
SCENES_DIR = "scenes"
PLAN_FILE = "auto_references.json"


def clear_segments(root: str, removed: List[str], keep: Optional[Collection[str]] = None) -> None:
    """Remove the segment folders of the cache folder ``root`` (those named as the cache names
    them) with their lock files; with ``keep`` (segment folder names) all but those, and the
    manifest stays. Without ``keep`` also the manifest and its lock, the output records
    (:mod:`.outputs`) and their locks, and the ``segments``, ``locks`` and ``output_records`` folders once
    empty. Other files are left alone. The caller holds the cache's exclusive lock."""
    seg_root = os.path.join(root, "segments")
    lock_root = os.path.join(root, "locks")
    for d in _listdir(seg_root):
        if SEGMENT_DIR_RE.match(d) and (keep is None or d not in keep) \
                and os.path.isdir(os.path.join(seg_root, d)):
            _remove(os.path.join(seg_root, d), removed)
            _remove(os.path.join(lock_root, d + ".lock"), removed)
    if keep is not None:
        return
    for name in _listdir(lock_root):   # locks of segments removed earlier, the manifest's, outputs'
        stem = name[:-len(".lock")] if name.endswith(".lock") else None
        if stem is not None and (stem == "manifest" or SEGMENT_DIR_RE.match(stem) or OUTPUT_LOCK_RE.match(name)):
            _remove(os.path.join(lock_root, name), removed)
    _remove(os.path.join(root, MANIFEST), removed)
    _remove_temps(root, {MANIFEST}, removed)
    rec_root = records_dir(root)
    for name in _listdir(rec_root):
        if RECORD_RE.match(name) and os.path.isfile(os.path.join(rec_root, name)):
            _remove(os.path.join(rec_root, name), removed)
    _remove_temps(rec_root, lambda n: bool(RECORD_RE.match(n)), removed)
    for folder in (seg_root, lock_root, rec_root):
        _rmdir_if_empty(folder, removed)


def clear_outputs(shot: Shot, removed: List[str]) -> None:
    """Remove the shot's output frames (and confidence frames) that live in its cache's default
    ``output/`` folder: files named by the shot's output pattern and temp files of their writers.
    Outputs written anywhere else, and other files in ``output/``, are never touched."""
    out_dir = os.path.join(os.path.abspath(shot.cache), "output")
    if not os.path.isdir(out_dir):
        return
    real = os.path.realpath(out_dir)
    for pattern in (shot.output, shot.confidence_output):
        if not pattern or os.path.realpath(os.path.dirname(os.path.abspath(pattern))) != real:
            continue
        for name in _listdir(out_dir):
            path = os.path.join(out_dir, name)
            if _names_output(pattern, path) and os.path.isfile(path):
                _remove(path, removed)
        _remove_temps(out_dir, lambda n: _names_output(pattern, os.path.join(out_dir, n)), removed)
    _rmdir_if_empty(out_dir, removed)


def _names_output(pattern: str, path: str) -> bool:
    base = os.path.join(os.path.dirname(path), os.path.basename(pattern))
    if is_pattern(base):
        return match_frame(base, path) is not None
    return os.path.basename(path) == os.path.basename(pattern)


def other_layout(root: str, auto: bool) -> Tuple[List[str], int]:
    """(entries, bytes) of the layout the shot does not use in its cache folder ``root``: with
    ``auto`` (a shot with a library) the plain layout's segments and manifest (its output
    records, a few bytes, go with them), else the automatic references' scene caches and
    plan. Left there when the shot switched modes."""
    if auto:
        items = [os.path.join(root, "segments", d) for d in _listdir(os.path.join(root, "segments"))
                 if SEGMENT_DIR_RE.match(d)]
        if os.path.isfile(os.path.join(root, MANIFEST)):
            items.append(os.path.join(root, MANIFEST))
    else:
        items = [os.path.join(root, n) for n in (SCENES_DIR, PLAN_FILE) if os.path.lexists(os.path.join(root, n))]
    total = sum(_folder_bytes(p) if os.path.isdir(p) else _size(p) for p in items)
    return items, total


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _listdir(folder: str) -> List[str]:
    try:
        return sorted(os.listdir(folder))
    except OSError:
        return []


def _rmdir_if_empty(folder: str, removed: List[str]) -> None:
    try:
        os.rmdir(folder)
    except OSError:
        return
    removed.append(folder)


def _remove_temps(folder: str, names, removed: List[str]) -> None:
    """Remove temp files (:func:`nuke_colorize.io.atomic.temp_path_for`) of the files ``names``
    (a collection of names, or a predicate) in ``folder``."""
    wanted = names if callable(names) else (lambda n: n in names)
    for name in _listdir(folder):
        m = TEMP_RE.match(name)
        if m and wanted(m.group("name")):
            _remove(os.path.join(folder, name), removed)


def _remove(path: str, removed: List[str]) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)
        else:
            return
    except OSError as exc:
        raise CacheError(f"cannot remove ({exc.strerror or exc})", file=path,
                         hint="check the cache folder is writable") from None
    removed.append(path)


def _folder_bytes(path: str) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for n in files:
            try:
                total += os.path.getsize(os.path.join(dirpath, n))
            except OSError:
                pass
    return total

