"""Engine: segment planning and resumable chains, with a counting backend."""
import numpy as np
import pytest

from nuke_colorize.backends.base import Backend, Reference, Result, TargetFrame
from nuke_colorize.engine import Engine, StateStore, plan_segments, segment_of
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


def test_plan_segments_midpoints():
    segs = plan_segments(range(0, 10), [0, 9])
    assert [(s.anchor, s.frames) for s in segs] == [(0, (0, 1, 2, 3, 4)), (9, (9, 8, 7, 6, 5)), (9, (9,))]
    assert [s.emits_anchor for s in segs] == [True, False, True]
    segs = plan_segments(range(1, 21), [10])
    assert segment_of(segs, 3).direction == -1 and segment_of(segs, 15).direction == 1
    assert plan_segments([1, 2, 3], [])[0].anchor is None
    with pytest.raises(InputError, match="outside the shot range"):
        plan_segments(range(5), [7])


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
