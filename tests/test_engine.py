"""Engine: segment planning and resumable chains, with a counting backend."""
import numpy as np
import pytest

from nuke_colorize.backends.base import Backend, Reference, Result, TargetFrame
from nuke_colorize.engine import (Engine, FrameBlender, StateStore, blend_results, blend_weight,
                                  plan_segments, segment_of, segments_of)
from nuke_colorize.errors import InputError


class Counter(Backend):
    """ab = previous ab + 1: the chain position is readable from the output."""
    name = "counter"

    def colorize(self, target, previous):
        ab = np.zeros(target.L.shape + (2,), np.float32) if previous is None \
            else previous.state["ab"] + 1
        return Result(ab=ab, confidence=np.ones(target.L.shape, np.float32),
                      state={"ab": ab, "L": target.L})


def _engine(store=None):
    ref = Reference(lab=np.zeros((2, 2, 3), np.float32), frame=10)
    b = Counter()
    b.set_references([ref])
    return Engine(b, [ref], lambda f: TargetFrame(f, np.zeros((2, 2), np.float32)), store)


def test_plan_segments_two_sided_between_keyframes():
    segs = plan_segments(range(0, 10), [0, 9])
    assert [(s.anchor, s.frames) for s in segs] == [
        (0, tuple(range(0, 9))), (9, tuple(range(9, 0, -1))), (9, (9,))]
    assert [s.emits_anchor for s in segs] == [True, False, True]
    assert [len(segments_of(segs, f)) for f in range(10)] == [1] + [2] * 8 + [1]
    segs = plan_segments(range(1, 21), [10])
    assert segment_of(segs, 3).direction == -1 and segment_of(segs, 15).direction == 1
    assert all(len(segments_of(segs, f)) == 1 for f in range(1, 21))
    assert plan_segments([1, 2, 3], [])[0].anchor is None
    with pytest.raises(InputError, match="outside the shot range"):
        plan_segments(range(5), [7])


def test_blend_weights_fall_to_the_other_keyframe_by_the_power_and_follow_confidence():
    fwd, bwd, _ = plan_segments(range(0, 11), [0, 10])
    assert [blend_weight(fwd, f) for f in (0, 5, 9)] == pytest.approx([1.0, 0.5, 0.1])     # linear
    assert [blend_weight(fwd, f, 0.5) for f in (0, 5, 9)] == pytest.approx([1.0, 0.5 ** 0.5, 0.1 ** 0.5])
    assert [blend_weight(bwd, f, 0.5) for f in (10, 5, 1)] == pytest.approx([1.0, 0.5 ** 0.5, 0.1 ** 0.5])

    def res(ab, conf):
        return Result(ab=np.full((1, 2, 2), ab, np.float32), confidence=np.array([conf], np.float32),
                      state={"L": np.zeros((1, 2), np.float32)})
    # frame 2: distance weights sqrt(0.8) / sqrt(0.2) = 2 / 1; equal confidence -> (2 * 10 + 30) / 3
    out = blend_results([(fwd, res(10.0, [1.0, 1.0])), (bwd, res(30.0, [1.0, 0.0]))], 2, 0.5)
    assert out.ab[0, 0, 0] == pytest.approx(50.0 / 3.0)
    # second pixel: the backward chain has no confidence -> (nearly) the forward colour alone
    w_f, w_b = 0.8 ** 0.5 * (1 + 1e-3), 0.2 ** 0.5 * 1e-3
    assert out.ab[0, 1, 0] == pytest.approx((w_f * 10 + w_b * 30) / (w_f + w_b))
    assert out.confidence[0, 0] == pytest.approx(1.0) and set(out.state) == {"L"}
    # the blender releases a frame once both chains delivered it, in either order, identically
    b1, b2 = FrameBlender([fwd, bwd], power=0.5), FrameBlender([fwd, bwd], power=0.5)
    assert b1.add(fwd, 2, res(10.0, [1.0, 1.0])) is None
    x = b1.add(bwd, 2, res(30.0, [1.0, 0.0]))
    assert b2.add(bwd, 2, res(30.0, [1.0, 0.0])) is None
    y = b2.add(fwd, 2, res(10.0, [1.0, 1.0]))
    assert np.array_equal(x.ab, y.ab) and np.array_equal(x.ab, out.ab)
    single = res(5.0, [1.0, 1.0])
    assert b1.add(fwd, 0, single) is single        # the keyframe: one chain, unchanged


def test_chain_values_and_partial_runs_compute_only_the_needed_prefix():
    e = _engine()
    out = dict((f, r.ab[0, 0, 0]) for f, r in e.run(plan_segments(range(1, 21), [10])))
    assert out[10] == 0 and out[13] == 3 and out[1] == 9 and len(out) == 20
    e2 = _engine()
    got = list(e2.run(plan_segments(range(1, 21), [10]), wanted=[13]))
    assert [f for f, _ in got] == [13] and e2.computed == [10, 11, 12, 13]


class DictStore(StateStore):
    """Keeps every frame, like the disk cache."""

    def __init__(self):
        self.d = {}

    def has(self, seg, f):
        return (seg.name, f) in self.d

    def get(self, seg, f):
        return self.d.get((seg.name, f))

    def put(self, seg, f, r):
        self.d[(seg.name, f)] = r


def test_resume_from_store_equals_uninterrupted_and_recovers_from_a_lost_frame():
    segs = plan_segments(range(1, 21), [10])
    store = DictStore()
    e = _engine(store)
    list(e.run(segs, wanted=[14]))
    e2 = _engine(store)
    res = dict(e2.run(segs, wanted=[18]))
    assert e2.computed == [15, 16, 17, 18] and res[18].ab[0, 0, 0] == 8
    del store.d[[k for k in store.d if k[1] == 12][0]]       # a cache file vanished
    e3 = _engine(store)
    res = dict(e3.run(segs, wanted=[12]))
    assert e3.computed == [12] and res[12].ab[0, 0, 0] == 2


class SqrtCounter(Counter):
    """A Counter whose chains are blended by the square root of the distance fall-off."""
    blend_distance_power = 0.5


def test_frames_between_keyframes_blend_both_chains_in_any_order():
    refs = [Reference(lab=np.zeros((2, 2, 3), np.float32), frame=k) for k in (1, 11)]

    def engine(store=None, kind=SqrtCounter):
        b = kind()
        b.set_references(refs)
        return Engine(b, refs, lambda f: TargetFrame(f, np.zeros((2, 2), np.float32)), store)
    segs = plan_segments(range(1, 12), [1, 11])
    # forward chain gives f - 1, backward 11 - f, weights ((11 - f) / 10) ** p, ((f - 1) / 10) ** p
    # with the backend's power p
    def blend(f, p):
        w_f, w_b = ((11 - f) / 10.0) ** p, ((f - 1) / 10.0) ** p
        return (w_f * (f - 1) + w_b * (11 - f)) / (w_f + w_b)
    for kind, p in ((Counter, 1.0), (SqrtCounter, 0.5)):
        out = {f: r.ab[0, 0, 0] for f, r in engine(kind=kind).run(segs)}
        assert sorted(out) == list(range(1, 12))
        assert all(out[f] == pytest.approx(blend(f, p), abs=1e-5) for f in out), kind
    assert out[3] == pytest.approx(blend(3, 0.5)) and abs(blend(3, 0.5) - blend(3, 1.0)) > 0.5
    # a frame asked alone walks both chains up to it, from a shared store, to the same value
    store = DictStore()
    e = engine(store)
    got = dict(e.run(segs, wanted=[4]))
    assert got[4].ab[0, 0, 0] == out[4] and sorted(e.computed) == sorted([1, 2, 3, 4] + [11, 10, 9, 8, 7, 6, 5, 4])
    e2 = engine(store)
    assert dict(e2.run(segs, wanted=[4]))[4].ab[0, 0, 0] == out[4] and e2.computed == []


def test_results_waiting_for_their_other_chain_spill_to_disk_beyond_the_budget(tmp_path, monkeypatch):
    """Two keyframes 40 frames apart: the first chain's 39 results wait for the second. With no
    memory allowed they wait on disk (in $TMPDIR), come back as the same bits, and the
    blender's folder is gone afterwards; memory held stays at zero."""
    import os
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    segs = plan_segments(range(0, 41), [0, 40])

    def res(f, s):
        g = np.random.default_rng(f * 7 + len(s.name))
        return Result(ab=g.normal(0, 20, (6, 5, 2)).astype(np.float32),
                      confidence=g.uniform(0, 1, (6, 5)).astype(np.float32),
                      state={"L": g.uniform(0, 100, (6, 5)).astype(np.float32), "ab": np.zeros(1)},
                      info={"f": f})
    order = [(s, f) for s in segs for f in s.frames]
    in_memory, on_disk = FrameBlender(segs), FrameBlender(segs, memory_budget=0)
    a, b, peak = {}, {}, 0
    for s, f in order:
        x, y = in_memory.add(s, f, res(f, s)), on_disk.add(s, f, res(f, s))
        if x is not None:
            a[f], b[f] = x, y
        peak = max(peak, len(os.listdir(on_disk._spill)) if on_disk._spill else 0)
    assert sorted(a) == sorted(b) == list(range(41)) and peak == 39
    assert all(np.array_equal(a[f].ab, b[f].ab) and np.array_equal(a[f].confidence, b[f].confidence)
               and np.array_equal(a[f].state["L"], b[f].state["L"]) for f in a)
    assert a[20].info == b[20].info and in_memory.held == 0 and on_disk.held == 0
    assert os.listdir(on_disk._spill) == []
    folder = on_disk._spill
    del on_disk
    import gc
    gc.collect()
    assert not os.path.exists(folder) and folder.startswith(str(tmp_path))


def test_a_killed_blenders_spill_folder_is_removed_by_the_next_one_that_spills(tmp_path, monkeypatch):
    """A SIGKILLed render left its spill folder in $TMPDIR for ever (measured: one per killed
    build of a shot with NUKE_COLORIZE_BLEND_MEMORY=0). The next blender that spills removes
    the folders of this machine's dead processes; a live process's stays."""
    import os
    import subprocess
    import sys
    import tempfile
    from nuke_colorize.engine import spill_prefix
    from nuke_colorize.io.atomic import host_tag

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    killed = tmp_path / f"nuke-colorize-blend-{host_tag()}-{dead}-abc123"
    live = tmp_path / f"{spill_prefix()}def456"
    for d in (killed, live):
        d.mkdir()
        (d / "2_1.npz").write_bytes(b"x" * 100)
    segs = plan_segments(range(0, 5), [0, 4])
    blender = FrameBlender(segs, memory_budget=0)
    r = Result(ab=np.zeros((2, 2, 2), np.float32), confidence=np.ones((2, 2), np.float32),
               state={"L": np.zeros((2, 2), np.float32)})
    assert blender.add(segs[0], 1, r) is None          # frame 1 waits for the other chain: spilled
    assert not killed.exists() and live.exists()
    assert os.path.basename(blender._spill).startswith(spill_prefix())
