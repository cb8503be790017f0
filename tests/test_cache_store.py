"""Shot cache internals in process: frame files, keys and invalidation rules, locks."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from nuke_colorize.backends.base import Reference, Result
from nuke_colorize.cache.filelock import FileLock
from nuke_colorize.cache.keys import SegmentIndex
from nuke_colorize.cache.store import DiskStore, decode_result, encode_result
from nuke_colorize.engine import Engine, canonical_state, plan_segments


def _result(seed=0, h=6, w=8) -> Result:
    rng = np.random.default_rng(seed)
    ab = rng.normal(0, 40, (h, w, 2)).astype(np.float32)
    conf = rng.random((h, w)).astype(np.float32)
    res = Result(ab=ab, confidence=conf, info={"seconds": 0.1},
                 state={"ab": ab, "L": rng.random((h, w)).astype(np.float32) * 100, "conf": conf,
                        "disp": rng.normal(0, 3, (h, w, 2)).astype(np.float32),
                        "anchor": np.array([0], np.int32)})
    return canonical_state(res)


def _ref(frame, value, path=""):
    return Reference(lab=np.zeros((2, 2, 3), np.float32), frame=frame, path=path, key=f"k{frame}-{value}")


def _index(refs, ids=None, base=None):
    ids = ids or {}
    return SegmentIndex(base or {"b": 1}, refs, lambda f: ids.get(f, f"plate{f}"))


def test_frames_round_trip_losslessly_in_half_the_bytes(tmp_path):
    res = _result(h=64, w=96)
    arrays, _ = encode_result(res, 7, "c" * 64)
    assert "ab" not in arrays and "confidence" not in arrays         # aliases of state.ab / state.conf
    assert arrays["state.ab"].dtype == np.float16 and arrays["state.anchor"].dtype == np.int32
    path = tmp_path / "f.npz"
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    back = decode_result(str(path), 7, "c" * 64)
    for a, b in [(res.ab, back.ab), (res.confidence, back.confidence)] + [
            (res.state[k], back.state[k]) for k in res.state]:
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert back.info == {"seconds": 0.1}
    assert path.stat().st_size < 0.6 * sum(np.asarray(v).nbytes for v in res.state.values())
    with pytest.raises(ValueError, match="another frame"):
        decode_result(str(path), 8, "c" * 64)


def test_checksum_catches_a_changed_array_in_a_valid_file(tmp_path):
    arrays, _ = encode_result(_result(), 3, "d" * 64)
    arrays["state.L"] = arrays["state.L"].copy()
    arrays["state.L"][2, 3] += 1                                     # zip stays valid, data does not
    path = tmp_path / "f.npz"
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(ValueError, match="checksum"):
        decode_result(str(path), 3, "d" * 64)


def test_disk_store_drops_damaged_files_and_reports_them(tmp_path):
    seg = plan_segments(range(1, 6), [1])[0]
    seen = []
    store = DiskStore(str(tmp_path), _index([_ref(1, "a")]), on_corrupt=lambda p, why: seen.append((p, why)))
    res = _result()
    store.put(seg, 2, res)
    assert store.has(seg, 2) and not store.has(seg, 3)
    assert np.array_equal(store.get(seg, 2).state["disp"], res.state["disp"])
    path = store.path(seg, 2)
    with open(path, "r+b") as fh:
        fh.truncate(100)
    assert store.get(seg, 2) is None and not os.path.exists(path)
    assert seen and seen[0][0] == path
    store.put(seg, 2, res)
    with np.load(path) as z:
        meta = json.loads(bytes(z["__meta__"]))
    assert meta["frame"] == 2 and meta["chain"] == store.index.chain_hash(seg, 2)
    # another plate state of the frame replaces the old file instead of piling up
    store2 = DiskStore(str(tmp_path), _index([_ref(1, "a")], ids={2: "new"}))
    store2.put(seg, 2, res)
    assert os.listdir(os.path.dirname(path)) == [os.path.basename(store2.path(seg, 2))]


def _carried(seed, memory):
    """A result whose state also carries ``memory`` (arrays a chain hands on unchanged)."""
    res = _result(seed, h=48, w=64)
    res.state.update(memory)
    return canonical_state(res)


def test_arrays_carried_along_the_chain_are_stored_once(tmp_path):
    seg = plan_segments(range(1, 8), [1])[0]
    rng = np.random.default_rng(5)
    mem_a = {"mem0_L": rng.random((48, 64)).astype(np.float32) * 100,
             "mem0_v": rng.normal(0, 9, (40, 60)).astype(np.float32),
             "mem0_c": rng.random(40).astype(np.float32)}               # 160 bytes: kept inline
    mem_b = {"mem0_L": rng.random((48, 64)).astype(np.float32) * 100,
             "mem0_v": rng.normal(0, 9, (40, 60)).astype(np.float32),
             "mem0_c": rng.random(40).astype(np.float32),
             "mem1_L": mem_a["mem0_L"], "mem1_v": mem_a["mem0_v"], "mem1_c": mem_a["mem0_c"]}
    results = {2: _carried(2, mem_a), 3: _carried(3, mem_a), 4: _carried(4, mem_a), 5: _carried(5, mem_b)}
    store = DiskStore(str(tmp_path), _index([_ref(1, "a")]))
    for f in (2, 3, 4, 5):
        store.put(seg, f, results[f])
    size = {f: os.path.getsize(store.path(seg, f)) for f in results}
    carried = sum(canonical_state(results[2]).state[k].astype(np.float16).nbytes for k in ("mem0_L", "mem0_v"))
    assert size[3] <= size[2] - carried + 1024 and size[4] == size[3]
    assert size[5] <= size[2] + 1024                     # the new slot stored, the old one pointed to

    def meta(f):
        with np.load(store.path(seg, f)) as z:
            return json.loads(bytes(z["__meta__"]))
    name2 = os.path.basename(store.path(seg, 2))
    assert meta(2)["refs"] == {}
    assert {k: v[:2] for k, v in meta(4)["refs"].items()} == {      # to the file that holds them
        "state.mem0_L": [name2, "state.mem0_L"], "state.mem0_v": [name2, "state.mem0_v"]}
    assert {k: v[:2] for k, v in meta(5)["refs"].items()} == {      # renamed slot, same array
        "state.mem1_L": [name2, "state.mem0_L"], "state.mem1_v": [name2, "state.mem0_v"]}
    fresh = DiskStore(str(tmp_path), _index([_ref(1, "a")]))        # another process reads it back
    for f, res in results.items():
        back = fresh.get(seg, f)
        for k, v in res.state.items():
            assert back.state[k].dtype == v.dtype and np.array_equal(back.state[k], v), (f, k)
        assert np.array_equal(back.ab, res.ab) and np.array_equal(back.confidence, res.confidence)

    # the file a frame points to damaged: the frame is dropped quietly, the damaged one reported
    seen = []
    store = DiskStore(str(tmp_path), _index([_ref(1, "a")]), on_corrupt=lambda p, why: seen.append(p))
    with open(store.path(seg, 2), "r+b") as fh:
        fh.truncate(200)
    assert store.get(seg, 4) is None and not store.has(seg, 4) and seen == []
    assert store.get(seg, 2) is None and seen == [store.path(seg, 2)]
    # the file recomputed (same content, as the engine's determinism guarantees) serves again
    store.put(seg, 2, results[2])
    assert np.array_equal(store.get(seg, 5).state["mem1_L"], results[5].state["mem1_L"])
    # a reference whose array changed under it is refused (its SHA-256 is recorded)
    other = _carried(9, {k: v + 1 for k, v in mem_a.items()})
    store.put(seg, 2, other)
    assert store.get(seg, 3) is None and not store.has(seg, 3)


def test_engine_resumes_identically_over_frames_that_point_to_a_lost_file(tmp_path):
    """A chain carrying an array for several frames, stored with references; the file holding
    the array is lost or damaged: the engine recomputes what it must from the nearest good
    frame and gives the same results as an uninterrupted run."""
    from nuke_colorize.backends.base import Backend, TargetFrame

    class Carrier(Backend):
        name = "carrier"

        def colorize(self, target, previous):
            ab = np.full(target.L.shape + (2,), float(target.frame), np.float32)
            state = {"ab": ab, "L": target.L}
            mem = previous.state.get("mem") if previous is not None else None
            if mem is None or target.frame % 4 == 0:
                mem = np.full((40, 60), float(target.frame), np.float32)
            state["mem"] = mem
            return Result(ab=ab, confidence=np.ones(target.L.shape, np.float32), state=state)

    frames = list(range(1, 13))
    seg = plan_segments(frames, [])[0]

    def run(store, wanted=None):
        backend = Carrier()
        backend.set_references([])
        eng = Engine(backend, [], lambda f: TargetFrame(f, np.full((8, 8), 50.0, np.float32)), store)
        out = {f: r for f, r in eng.run([seg], wanted)}
        return out, eng.computed

    store = DiskStore(str(tmp_path), _index([]))
    first, computed = run(store)
    assert computed == frames
    with np.load(store.path(seg, 11)) as z:
        assert json.loads(bytes(z["__meta__"]))["refs"]["state.mem"][0] == os.path.basename(store.path(seg, 8))
    os.unlink(store.path(seg, 8))                   # holds "mem" for frames 8..11
    # the walk recomputes 8 (same bytes under the same name) before it reads 9..11
    again, computed = run(DiskStore(str(tmp_path), _index([])), wanted=[11])
    assert computed == [8]
    assert np.array_equal(again[11].state["mem"], first[11].state["mem"])
    # 8 damaged instead: 11, 10, 9 are read first, dropped quietly, 8 is reported; all recomputed
    with open(store.path(seg, 8), "r+b") as fh:
        fh.truncate(300)
    seen = []
    again, computed = run(DiskStore(str(tmp_path), _index([]), on_corrupt=lambda p, why: seen.append(p)),
                          wanted=[11])
    assert computed == [8, 9, 10, 11] and seen == [store.path(seg, 8)]
    assert np.array_equal(again[11].state["mem"], first[11].state["mem"])
    again, computed = run(DiskStore(str(tmp_path), _index([])))
    assert computed == []
    for f in frames:
        assert np.array_equal(first[f].state["mem"], again[f].state["mem"]) and np.array_equal(first[f].ab, again[f].ab)


def test_a_walk_restarted_over_a_damaged_frame_yields_each_frame_once(tmp_path):
    """A damaged frame file found mid-walk restarts the walk from the nearest good state; the
    frames yielded before the restart are not yielded again (`cache build --json-progress`
    prints one `frame` event per frame, and each output is written once)."""
    from nuke_colorize.backends.base import Backend, TargetFrame

    class Ramp(Backend):
        name = "ramp"

        def colorize(self, target, previous):
            ab = np.full(target.L.shape + (2,), float(target.frame), np.float32)
            return Result(ab=ab, confidence=np.ones(target.L.shape, np.float32),
                          state={"ab": ab, "L": target.L})

    frames = list(range(1, 7))
    seg = plan_segments(frames, [])[0]

    def run(store):
        backend = Ramp()
        backend.set_references([])
        eng = Engine(backend, [], lambda f: TargetFrame(f, np.full((8, 8), 50.0, np.float32)), store)
        return [f for _, f, _ in eng.run_chains([seg])], eng.computed

    store = DiskStore(str(tmp_path), _index([]))
    assert run(store) == (frames, frames)
    with open(store.path(seg, 4), "r+b") as fh:
        fh.truncate(300)
    seen = []
    yielded, computed = run(DiskStore(str(tmp_path), _index([]), on_corrupt=lambda p, why: seen.append(p)))
    assert seen == [store.path(seg, 4)] and computed == [4]
    assert yielded == [1, 2, 3, 4, 5, 6]          # was [1, 2, 3, 1, 2, 3, 4, 5, 6]


def test_segment_keys_follow_the_dependency_rule():
    segs = plan_segments(range(1, 51), [1, 20, 40])
    names = [f"{s.anchor}-{'fwd' if s.direction > 0 else 'bwd'}" for s in segs]
    assert names == ["1-fwd", "20-bwd", "20-fwd", "40-bwd", "40-fwd"]
    base = _index([_ref(1, "a"), _ref(20, "a"), _ref(40, "a")])
    other_kf = _index([_ref(1, "a"), _ref(20, "a"), _ref(40, "b")])
    new_still = _index([_ref(1, "a"), _ref(20, "a"), _ref(40, "a"), _ref(None, "s")])
    other_settings = _index([_ref(1, "a"), _ref(20, "a"), _ref(40, "a")], base={"b": 2})
    # keyframe 40 feeds the chains between its neighbour 20 and the end, nothing before 20
    assert [base.key(s) == other_kf.key(s) for s in segs] == [True, True, False, False, False]
    assert all(base.key(s) != new_still.key(s) for s in segs)        # stills feed every chain
    assert all(base.key(s) != other_settings.key(s) for s in segs)
    assert len({base.key(s) for s in segs}) == 5
    assert base.dirname(segs[1]).startswith("20-bwd-20.")

    # a keyframe added between 20 and 40 changes the chains of that interval only
    moved = plan_segments(range(1, 51), [1, 20, 30, 40])
    idx = _index([_ref(1, "a"), _ref(20, "a"), _ref(30, "a"), _ref(40, "a")])
    assert [idx.key(s) in {base.key(t) for t in segs} for s in moved] == [
        True, True, False, False, False, False, True]


def test_chain_hashes_change_from_a_changed_plate_frame_onwards():
    seg = plan_segments(range(1, 11), [1])[0]
    a = _index([_ref(1, "a")])
    b = _index([_ref(1, "a")], ids={6: "re-rendered"})
    same = [a.chain_hash(seg, f) == b.chain_hash(seg, f) for f in range(1, 11)]
    assert same == [True] * 5 + [False] * 5
    longer = plan_segments(range(1, 21), [1])[0]                     # frame range extended
    assert all(a.chain_hash(seg, f) == a.chain_hash(longer, f) for f in range(1, 11))


def test_engine_gives_each_chain_its_keyframes_and_the_stills():
    refs = [_ref(1, "a"), _ref(None, "s"), _ref(30, "a"), _ref(20, "a")]
    eng = Engine(backend=None, references=refs, target=None)
    s1, s20b, s20f, s30b, s30f = plan_segments(range(1, 41), [1, 20, 30])
    assert eng.segment_references(s1) == [refs[0], refs[3], refs[1]]     # anchor, far end, stills
    assert eng.segment_references(s20b) == [refs[3], refs[0], refs[1]]
    assert eng.segment_references(s20f) == [refs[3], refs[2], refs[1]]
    assert eng.segment_references(s30b) == [refs[2], refs[3], refs[1]]
    assert eng.segment_references(s30f) == [refs[2], refs[1]]             # nothing beyond the last
    cold = plan_segments(range(1, 5), [])[0]
    assert Engine(None, [refs[1]], None).segment_references(cold) == [refs[1]]


def test_file_locks_exclude_and_share(tmp_path):
    path = str(tmp_path / "x.lock")
    a, b = FileLock(path), FileLock(path)
    assert a.acquire(blocking=False)
    assert not b.acquire(blocking=False)
    assert not b.acquire(shared=True, blocking=False)
    a.release()
    assert a.acquire(shared=True, blocking=False) and b.acquire(shared=True, blocking=False)
    c = FileLock(path)
    assert not c.acquire(blocking=False)
    a.release()
    b.release()
    with c:
        assert c.held
    assert not c.held


def test_references_outside_the_segment_folder_are_refused(tmp_path):
    """A frame file whose reference names another folder (a hand-made or hostile file) is
    not followed: reading it fails, the file outside is never opened."""
    from nuke_colorize.cache.store import META, MissingReference, _checksum
    outside = tmp_path / "outside.npz"
    np.savez(outside, **{"state.mem": np.zeros((40, 60), np.float16)})
    (tmp_path / "seg").mkdir()
    arrays, _ = encode_result(_result(), 4, "e" * 64)
    meta = json.loads(bytes(arrays.pop(META)))
    for bad in ("../outside.npz", str(outside), "sub/../../outside.npz"):
        meta["refs"] = {"state.mem": [bad, "state.mem", "0" * 64]}
        assert meta["checksum"] == _checksum(arrays)
        path = tmp_path / "seg" / "f4.npz"
        np.savez(path, **arrays, **{META: np.frombuffer(json.dumps(meta).encode(), np.uint8)})
        with pytest.raises(MissingReference, match="bad reference"):
            decode_result(str(path), 4, "e" * 64)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_at_the_manifest_is_a_cache_error_leaving_the_old_manifest(tmp_path, monkeypatch):
    """Closing a file whose buffered bytes a full disk refused raises again: the manifest's
    write escaped as a bare OSError ("internal error", exit 1) instead of the cache's exit 4."""
    import nuke_colorize.io.atomic as atomic
    from nuke_colorize.cache.manifest import MANIFEST, read_manifest, update_manifest
    from nuke_colorize.errors import CacheError

    (tmp_path / "locks").mkdir()
    update_manifest(str(tmp_path), {"key": "a"}, {}, {"threads": 1})
    real = os.fdopen

    def full(fd, mode):   # the temp file as a full disk takes it: ENOSPC on flush and close
        os.close(fd)
        return real(os.open("/dev/full", os.O_WRONLY), mode)

    monkeypatch.setattr(atomic.os, "fdopen", full)
    with pytest.raises(CacheError, match="No space left on device") as err:
        update_manifest(str(tmp_path), {"key": "b"}, {}, {"threads": 1})
    assert err.value.exit_code == 4
    monkeypatch.setattr(atomic.os, "fdopen", real)
    assert read_manifest(str(tmp_path))["shot"] == {"key": "a"}
    assert sorted(os.listdir(tmp_path)) == ["locks", MANIFEST]


def test_a_build_removes_the_manifest_temp_file_a_killed_writer_left(tmp_path):
    """Only `cache clear` removed a ``.manifest.json.tmp-...`` left by a build killed while it
    wrote the manifest: every later build left it there. Now the next build removes it (this
    machine's writer, process gone, a minute old); a live writer's stays, and another machine's
    until a day old."""
    import subprocess
    import sys
    from nuke_colorize.cache.manifest import MANIFEST, update_manifest
    from nuke_colorize.io.atomic import host_tag

    (tmp_path / "locks").mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    killed = tmp_path / f".{MANIFEST}.tmp-{dead}-0123abcd-{host_tag()}.json"
    live = tmp_path / f".{MANIFEST}.tmp-{os.getpid()}-0123abce-{host_tag()}.json"
    other = tmp_path / f".{MANIFEST}.tmp-{dead}-0123abcf-{'0' * 8 if host_tag() != '0' * 8 else '1' * 8}.json"
    for p in (killed, live, other):
        p.write_text("{")
        os.utime(p, (os.path.getmtime(p) - 3600,) * 2)   # an hour ago
    update_manifest(str(tmp_path), {"key": "a"}, {}, {"threads": 1})
    assert sorted(os.listdir(tmp_path)) == sorted(["locks", MANIFEST, live.name, other.name])
