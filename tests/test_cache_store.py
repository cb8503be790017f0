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
    arrays = encode_result(res, 7, "c" * 64)
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
    arrays = encode_result(_result(), 3, "d" * 64)
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
