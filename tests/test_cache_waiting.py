"""A shot cache render blocked by another process's lock keeps saying so (``waiting`` every
``WAIT_HEARTBEAT_S``) with the other process's progress (frames of the chain stored by now),
so a host can tell a builder that waits from one that hangs; and a hung build killed in the
middle of a frame (SIGSTOP, then the stall rule's SIGKILL) leaves a cache that resumes to the
same bytes as an uninterrupted build.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import write_oiio

from nuke_colorize.cache import ShotCache, shotcache
from nuke_colorize.shot import Shot

REPO = Path(__file__).resolve().parents[1]
N, W, H = 4, 32, 24
SETTINGS = {"feature_size": 128, "max_working_size": 128, "memory_every": 3}
#: another process: takes the lock named on each line of its stdin (after releasing the one it
#: held), an empty line releases it
HOLD = """
import sys
from nuke_colorize.cache.filelock import FileLock
lock = None
for line in sys.stdin:
    if lock is not None:
        lock.release()
        lock = None
    if line.strip():
        lock = FileLock(line.strip())
        lock.acquire(shared=False)
    print("held" if lock is not None else "released", flush=True)
"""


def make_shot(root: Path, name: str = "shot.json") -> Path:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    for f in range(1, N + 1):
        y = (xx + yy) / (W + H) * 0.8 + 0.05 * np.sin(xx / 5 + f)
        write_oiio(root / "plate" / f"plate.{f:04d}.exr", np.repeat(y[..., None], 3, -1).astype(np.float32), "half")
    rgb = np.stack([0.1 + 0.6 * yy / H, 0.3 + 0.5 * xx / W, 0.8 - 0.5 * yy / H], -1)
    write_oiio(root / "ref_1.png", (rgb * 255 + 0.5).astype(np.uint8), "uint8")
    tag = Path(name).stem
    shot = {"plate": "plate/plate.####.exr", "frames": [1, N], "references": [{"frame": 1, "image": "ref_1.png"}],
            "settings": SETTINGS, "output": f"out_{tag}/colour.####.exr", "cache": f"cache_{tag}"}
    (root / name).write_text(json.dumps(shot))
    return root / name


class Holder:
    """Another process, holding the lock files it is told to."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=dict(os.environ, PYTHONPATH=str(REPO)), text=True)

    def hold(self, path=None):
        self.proc.stdin.write((str(path) if path else "") + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == ("held" if path else "released")

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)


@pytest.fixture
def holder():
    h = Holder()
    yield h
    if h.proc.poll() is None:
        h.proc.kill()
        h.proc.wait(10)


def start_render(shot: Path, events: list, frames) -> tuple:
    """ShotCache.render(frames) in a thread: (thread, box) with ``box["summary"]`` or ``box["error"]``."""
    box: dict = {}

    def target():
        try:
            box["summary"] = ShotCache(Shot.load(str(shot)), events=events.append).render(frames)
        except BaseException as exc:   # noqa: BLE001 - reported by the test
            box["error"] = exc
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def wait_until(cond, seconds=10.0):
    t0 = time.time()
    while not cond() and time.time() - t0 < seconds:
        time.sleep(0.02)
    return cond()


def test_a_render_waiting_for_another_process_keeps_saying_so_with_its_progress(tmp_path, monkeypatch, holder):
    monkeypatch.setattr(shotcache, "WAIT_HEARTBEAT_S", 0.1)
    shot = make_shot(tmp_path)
    ShotCache(Shot.load(str(shot))).render()          # every chain frame stored once
    (seg,) = (tmp_path / "cache_shot" / "segments").iterdir()
    aside = tmp_path / "aside"
    aside.mkdir()
    later = {f: next(seg.glob(f"f{f}.*.npz")) for f in (N - 1, N)}
    for path in later.values():                       # "not yet computed by the other process"
        os.replace(path, aside / path.name)

    events = []
    waits = lambda: [e for e in events if e["event"] == "waiting"]   # noqa: E731
    try:
        holder.hold(tmp_path / "cache_shot" / "locks" / (seg.name + ".lock"))
        render, box = start_render(shot, events, [N])
        assert wait_until(lambda: len(waits()) >= 3), box
        for f in (N - 1, N):                          # the other process stores these frames
            os.replace(aside / later[f].name, later[f])
            assert wait_until(lambda: waits()[-1]["stored"] == f)
            n = len(waits())
            assert wait_until(lambda: len(waits()) >= n + 2)   # and it keeps saying so
        assert render.is_alive() and not [e for e in events if e["event"] == "frame"]
    finally:
        holder.hold(None)                             # the other process is done with the chain
    render.join(30)
    assert not render.is_alive() and "error" not in box, box.get("error")
    summary = box["summary"]
    w = waits()
    assert len(w) >= 7
    assert all(e["segment"] == seg.name and e["needed"] == N for e in w)
    assert [e["stored"] for e in w] == sorted(e["stored"] for e in w) and {N - 2, N - 1, N} <= {e["stored"] for e in w}
    assert w[0]["waited"] == 0 and w[-1]["waited"] >= 1
    assert w[-1]["message"] == f"waiting for another process building segment {seg.name} " \
                               f"({N}/{N} of the frames needed are stored)"
    # once it has the lock it finds the frames the other process stored: nothing computed
    assert summary["computed"] == [] and summary["outputs"]
    assert [e["event"] for e in events if e["event"] != "waiting"] == ["start", "frame", "done"]

    # waiting for `cache clear` (the cache's exclusive lock) says so repeatedly as well
    events.clear()
    try:
        holder.hold(tmp_path / "cache_shot" / shotcache.GLOBAL_LOCK)
        render, box = start_render(shot, events, [N])
        assert wait_until(lambda: len(waits()) >= 3)
        assert all(e["message"] == "the cache is being cleared; waiting" for e in waits())
    finally:
        holder.close()
    render.join(30)
    assert not render.is_alive() and "error" not in box, box.get("error")
    assert events[-1]["event"] == "done"


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP")
def test_an_engine_killed_for_stalling_mid_chain_leaves_a_cache_that_resumes_identically(tmp_path, monkeypatch):
    """The real worker and ``cache build``: the build is frozen (SIGSTOP) after its second frame, the
    stall rule kills it and its worker, a fresh worker resumes: same output bytes as a build
    never interrupted, the stored frames not computed again, no temp file left."""
    from nuke_colorize.host import bridge
    shot = make_shot(tmp_path)
    clean = make_shot(tmp_path, "clean.json")
    ShotCache(Shot.load(str(clean))).render()
    client = bridge.WorkerClient(command=[sys.executable, "-m", "nuke_colorize"],
                                 log_path=str(tmp_path / "worker.log"),
                                 env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        req = client.request("analyze", shot=str(shot), frames=[1, N])
        frames = 0
        for msg in req.events(timeout=120):
            if msg and msg.get("event") == "progress" and "frame" in msg:
                frames += 1
                if frames == 2:
                    (pid,) = req.engine_pids
                    os.kill(pid, signal.SIGSTOP)   # hung in the middle of the next frame
                    break
        t0 = time.time()
        with pytest.raises(bridge.WorkerStalled):
            for _ in req.events(timeout=2):
                pass
        assert time.time() - t0 < 10
        client.kill()
        assert client.proc.poll() is not None
        status = ShotCache(Shot.load(str(shot))).status()
        assert 2 <= status["stored"] < N and not status["complete"]
        kept = {p.name: p.stat().st_ino for p in (tmp_path / "cache_shot").rglob("f*.npz")}
        assert len(kept) == status["stored"]
        req = client.request("analyze", shot=str(shot), frames=[1, N])
        reported = [m["frame"] for m in req.events(timeout=120)
                    if m and m.get("event") == "progress" and m.get("stage") == "frame" and "frame" in m]
        assert req.result["ok"] is True, req.result
    finally:
        client.close()
    assert reported == list(range(1, N + 1))   # every frame reported, loaded or computed
    # the frames stored before the kill were read, not computed and written again
    assert {p.name: p.stat().st_ino for p in (tmp_path / "cache_shot").rglob("f*.npz") if p.name in kept} == kept
    ours = sorted((tmp_path / "out_shot").glob("colour.*.exr"))
    theirs = sorted((tmp_path / "out_clean").glob("colour.*.exr"))
    assert [p.name for p in ours] == [p.name for p in theirs] and len(ours) == N
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(ours, theirs))
    assert ShotCache(Shot.load(str(shot))).status()["stored"] == N
    leftovers = [n for _, _, files in os.walk(tmp_path / "cache_shot") for n in files if ".tmp-" in n]
    assert leftovers == []


def test_a_render_says_what_it_prepares_before_its_first_frame(tmp_path, monkeypatch):
    """Identifying a content-hashed plate (every frame read and hashed) and loading the backend
    send ``preparing`` events at least every WAIT_HEARTBEAT_S, before ``start`` and the first
    computed frame, so a long but healthy preparation is not taken for a hung engine; the
    worker forwards them as it does ``waiting`` events."""
    from nuke_colorize.backends import lazy
    from nuke_colorize.commands.worker import _progress_event
    from nuke_colorize.io import PlateSource

    monkeypatch.setattr(shotcache, "WAIT_HEARTBEAT_S", 0.05)
    slow_identity = PlateSource.identity

    def identity(self, frame, content_hash=False):
        time.sleep(0.08)
        return slow_identity(self, frame, content_hash)
    monkeypatch.setattr(PlateSource, "identity", identity)
    slow_backend = lazy.LazyBackend.backend

    def backend(self):
        if self._impl is None:
            time.sleep(0.3)
        return slow_backend.fget(self)
    monkeypatch.setattr(lazy.LazyBackend, "backend", property(backend))
    shot = make_shot(tmp_path)
    data = json.loads(shot.read_text())
    data["content_hash"] = True
    shot.write_text(json.dumps(data))

    events = []
    ShotCache(Shot.load(str(shot)), events=events.append).render()
    kinds = [e["event"] for e in events]
    start = kinds.index("start")
    ident = [e for e in events[:start] if e["event"] == "preparing"]
    assert [e["message"] for e in ident][:2] == [f"identifying plate frames 0/{N}", f"identifying plate frames 1/{N}"]
    assert len(ident) >= N - 1 and all(isinstance(e["waited"], int) for e in ident)
    first_frame = kinds.index("frame")
    loading = [e for e in events[start:first_frame] if e["event"] == "preparing"]
    assert len(loading) >= 3 and {e["message"] for e in loading} == {"loading the backend"}
    assert loading[0]["waited"] == 0
    assert "preparing" not in kinds[first_frame:]

    fwd = _progress_event((json.dumps(ident[1], sort_keys=True) + "\n").encode())
    assert fwd == {"stage": "preparing", "message": f"identifying plate frames 1/{N}", "waited": ident[1]["waited"]}

    # from the cache: nothing to load, nothing to say about it
    events.clear()
    ShotCache(Shot.load(str(shot)), events=events.append).render()
    assert "loading the backend" not in [e.get("message") for e in events]


def test_a_backend_loaded_for_a_damaged_stored_frame_says_so(tmp_path):
    """Every frame stored, so the walk loads no backend up front; a stored frame found damaged
    on the walk is computed, and the backend loaded for it sends ``preparing`` events ("loading
    the backend") before that frame, as a first computed frame does (it loaded silently). Each
    frame is reported once."""
    shot = make_shot(tmp_path)
    ShotCache(Shot.load(str(shot))).render()
    seg_dir = next((tmp_path / "cache_shot" / "segments").iterdir())
    damaged = next(seg_dir.glob("f3.*.npz"))
    damaged.write_bytes(damaged.read_bytes()[:300])
    events = []
    ShotCache(Shot.load(str(shot)), events=events.append, warn=lambda msg: None).render()
    kinds = [(e["event"], e.get("frame"), e.get("message")) for e in events]
    computed = kinds.index(("frame", 3, None))
    assert events[computed]["computed"] is True
    assert ("preparing", None, "loading the backend") in kinds[:computed]
    assert [e["frame"] for e in events if e["event"] == "frame"] == list(range(1, N + 1))


def test_preparing_beats_stop_after_their_limit(monkeypatch):
    """A step that never ends is vouched for only PREPARING_BEAT_LIMIT_S: then the beats stop,
    so a host's stall timeout can end a hung model load."""
    monkeypatch.setattr(shotcache, "WAIT_HEARTBEAT_S", 0.02)
    monkeypatch.setattr(shotcache, "PREPARING_BEAT_LIMIT_S", 0.2)
    events = []
    with shotcache.preparing(events.append, "loading the backend"):
        time.sleep(0.6)
        n_at_end = len(events)
        time.sleep(0.2)
    assert events[0]["waited"] == 0 and all(e["event"] == "preparing" for e in events)
    assert 2 <= n_at_end <= 12                    # beats came, then stopped at ~0.2 s
    assert max(e["waited"] for e in events) <= 1
    assert len(events) == n_at_end                # nothing after the limit


def test_a_render_that_waited_for_a_cache_clear_builds_in_the_folders_it_removed(tmp_path, holder):
    """The cache's ``segments`` and ``locks`` folders were made before the shared lock was
    taken: a render started while `cache clear` held the cache found them removed once it got
    the lock, and stopped with "cache folder is not writable (No such file or directory)"."""
    shot = make_shot(tmp_path)
    root = tmp_path / "cache_shot"
    ShotCache(Shot.load(str(shot))).render([1, 2])
    events = []
    try:
        holder.hold(root / shotcache.GLOBAL_LOCK)    # `cache clear` runs...
        render, box = start_render(shot, events, [1, 2, 3])
        assert wait_until(lambda: any(e["event"] == "waiting" for e in events)), box
        for name in ("segments", "locks", "output_records", "manifest.json"):   # ...and removes
            path = root / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    finally:
        holder.hold(None)
    render.join(60)
    assert not render.is_alive() and "error" not in box, box.get("error")
    assert box["summary"]["computed"] == [1, 2, 3]
    assert sorted(p.name for p in (tmp_path / "out_shot").iterdir()) == \
        [f"colour.{f:04d}.exr" for f in (1, 2, 3)]
