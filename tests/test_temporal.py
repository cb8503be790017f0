"""Temporal smoothing (nuke_colorize.temporal): flicker down, edges kept, luminance untouched,
strength 0 a no-op, the same bits in any order."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from nuke_colorize import color, metrics
from nuke_colorize.backends.base import Result
from nuke_colorize.errors import InputError
from nuke_colorize.pipeline import Colorizer, ReferenceInput
from nuke_colorize.temporal import TemporalStage, check_strength, smooth_frame, smooth_sequence, tv_solve


# ---------------------------------------------------------------------- synthetic clip (L*, a*b*)
def moving_object_clip(n=9, h=64, w=96, step=2, seed=0):
    """A static textured background and a darker square moving ``step`` px/frame to the right.

    Returns L (n, h, w) in L*, the true chroma (n, h, w, 2) and the object masks (n, h, w).
    The object's colour (55, -35) differs from the background's (10, 20..30) by ~70 a*b* units.
    """
    rng = np.random.default_rng(seed)
    tex = cv2.resize(rng.random((h // 4, w // 4)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    bg_L = 45 + 25 * cv2.GaussianBlur(tex, (0, 0), 1.0)
    bg_ab = np.stack([np.full((h, w), 10.0), 20 + 10 * np.linspace(0, 1, w)[None].repeat(h, 0)], -1)
    obj_tex = cv2.resize(rng.random((4, 4)).astype(np.float32), (16, 16), interpolation=cv2.INTER_CUBIC)
    L, ab, masks = [], [], []
    for t in range(n):
        Lt, abt = bg_L.copy(), bg_ab.copy()
        x0 = 20 + step * t
        Lt[24:40, x0:x0 + 16] = 15 + 8 * obj_tex
        abt[24:40, x0:x0 + 16] = (55, -35)
        m = np.zeros((h, w), bool)
        m[24:40, x0:x0 + 16] = True
        L.append(Lt)
        ab.append(abt)
        masks.append(m)
    return np.stack(L).astype(np.float32), np.stack(ab).astype(np.float32), np.stack(masks)


def chroma_noise(shape, std=3.0, seed=1):
    """Per-frame, spatially smooth random chroma (what per-frame colourisation flickers with)."""
    rng = np.random.default_rng(seed)
    n = np.stack([cv2.GaussianBlur(rng.standard_normal(shape[1:]).astype(np.float32), (0, 0), 4)
                  for _ in range(shape[0])])
    return n * (std / n.std())


def edge_band(masks, r=3):
    k = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
    grow = [cv2.dilate(m.astype(np.uint8), k).astype(bool) for m in masks]
    shrink = [cv2.erode(m.astype(np.uint8), k).astype(bool) for m in masks]
    return np.stack([g & ~s for g, s in zip(grow, shrink)])


def test_flicker_drops_and_the_moving_colour_edge_does_not_bleed():
    L, truth, masks = moving_object_clip()
    noisy = truth + chroma_noise(truth.shape)
    out = smooth_sequence(noisy, L, strength=1.0)
    before = metrics.flicker(list(noisy), list(L))
    after = metrics.flicker(list(out), list(L))
    assert before > 3.0
    assert after < 0.15 * before, (before, after)      # measured: 3.46 -> 0.40 (one pass: 0.80)
    assert np.abs(out - truth).mean() < 0.6 * np.abs(noisy - truth).mean()   # closer to the truth
    band = edge_band(masks)                              # 3 px either side of the moving edge
    assert np.abs(out - truth)[band].mean() < 0.7 * np.abs(noisy - truth)[band].mean()
    # perfect per-frame chroma stays where it is: little of the ~70-unit edge leaks across
    # (measured mean 0.34, 99th percentile 4.0; each pass adds some: one pass 0.12 and 1.9)
    clean = smooth_sequence(truth, L, strength=1.0)
    err = np.abs(clean - truth)[band]
    assert err.mean() < 0.4 and np.percentile(err, 99) < 4.5, (err.mean(), np.percentile(err, 99))
    one = np.abs(smooth_sequence(truth, L, strength=1.0, passes=1) - truth)[band]
    assert one.mean() < 0.15 and np.percentile(one, 99) < 2.2
    inside = np.stack([cv2.erode(m.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) for m in masks])
    assert np.abs(clean - truth)[inside].max() < 1.0


def test_occluded_neighbours_are_left_out():
    """Background uncovered by the moving object has no trustworthy past: the chroma the object
    had there must not be dragged into it."""
    L, truth, masks = moving_object_clip(step=4)
    out = smooth_sequence(truth, L, strength=2.0)
    t = 4
    uncovered = masks[t - 1] & ~masks[t]                 # object at t-1, background at t
    assert uncovered.sum() >= 40
    assert np.abs(out[t] - truth[t])[uncovered].max() < 3.0


def test_strength_zero_is_the_identity_and_keyframes_are_kept():
    L, truth, _ = moving_object_clip(n=5)
    noisy = truth + chroma_noise(truth.shape)
    assert np.array_equal(smooth_sequence(noisy, L, strength=0.0), noisy)
    assert np.array_equal(smooth_frame(noisy[2], L[2], [], 0.0), noisy[2])
    out = smooth_sequence(noisy, L, strength=1.0, keep=[0, 4])
    assert np.array_equal(out[0], noisy[0]) and np.array_equal(out[4], noisy[4])
    assert not np.array_equal(out[2], noisy[2])


def test_tv_solve_flattens_speckle_but_not_across_luminance_edges():
    h, w = 40, 60
    L = np.full((h, w), 30.0, np.float32)
    L[:, w // 2:] = 70.0                                 # a luminance edge
    truth = np.zeros((h, w, 2), np.float32)
    truth[:, w // 2:] = (40.0, -20.0)                    # a chroma edge on it
    rng = np.random.default_rng(0)
    m = truth + rng.standard_normal(truth.shape).astype(np.float32)
    u = tv_solve(m, np.ones((h, w), np.float32), L, mu=1.0)
    assert np.abs(u - truth).mean() < 0.4 * np.abs(m - truth).mean()
    assert np.abs(u[:, w // 2 - 1] - truth[:, w // 2 - 1]).mean() < 0.5      # the edge stays sharp
    assert np.abs(u[:, w // 2] - truth[:, w // 2]).mean() < 0.5
    assert np.array_equal(tv_solve(m, np.ones((h, w), np.float32), L, mu=0.0), m)


def test_stage_gives_the_same_bits_in_any_order_of_arrival():
    L, truth, _ = moving_object_clip(n=8)
    noisy = truth + chroma_noise(truth.shape)
    frames = list(range(100, 108))

    def result(i):
        return Result(ab=noisy[i], confidence=np.ones(L[i].shape, np.float32), state={"L": L[i]})

    def run(order, wanted=None):
        stage = TemporalStage(frames, wanted, 1.0, keep=[100])
        got = {}
        for i in order:
            for f, r in stage.add(frames[i], result(i)):
                assert f not in got
                got[f] = r.ab
        assert stage.flush() == [] and not stage.ab and not stage.flows and not stage.levels and not stage.trust
        return got

    seq = run(range(8))
    assert sorted(seq) == frames
    assert np.array_equal(seq[100], noisy[0])            # keyframe untouched
    expected = smooth_sequence(noisy, L, 1.0, keep=[0])
    for i, f in enumerate(frames):
        assert np.array_equal(seq[f], expected[i]), f
    shuffled = run(np.random.default_rng(5).permutation(8))
    assert all(np.array_equal(seq[f], shuffled[f]) for f in frames)
    assert TemporalStage(frames, [103], 1.0, passes=1).needed() == [101, 102, 103, 104, 105]
    stage = TemporalStage(frames, [103], 1.0)      # three passes: +-6 frames
    assert stage.needed() == [100, 101, 102, 103, 104, 105, 106, 107]
    part = run([5, 1, 6, 3, 2, 4, 0, 7], wanted=[103])
    assert list(part) == [103] and np.array_equal(part[103], seq[103])


# ---------------------------------------------------------------------- through the pipeline
def _scene(n=7, h=48, w=64, step=2):
    rng = np.random.default_rng(3)
    big = cv2.resize(rng.random((h // 6, (w + n * step) // 6 + 1, 3)).astype(np.float32),
                     None, fx=6, fy=6, interpolation=cv2.INTER_CUBIC)
    big = cv2.GaussianBlur(np.clip(big, 0.02, 1), (0, 0), 1.0)
    return [np.ascontiguousarray(big[:h, i * step: i * step + w]) for i in range(n)]


@pytest.fixture(scope="module")
def pipeline_runs():
    frames = _scene()
    ys = [color.luminance(f) for f in frames]
    refs = [ReferenceInput(frames[0], frame=0)]
    settings = {"feature_size": 96}

    def colorizer(strength=None):
        kw = {} if strength is None else {"temporal_smoothing": strength}
        return Colorizer(lambda f: ys[f], (64, 48), refs, "exemplar", settings, **kw)

    col = colorizer()
    plain = {o.frame: o for o in col.run(range(len(frames)))}
    smooth_col = colorizer(1.0)
    smooth = {o.frame: o for o in smooth_col.run(range(len(frames)))}
    return frames, ys, colorizer, plain, smooth, col


def test_pipeline_keeps_plate_luminance_and_keyframe_colour(pipeline_runs):
    frames, ys, _, plain, smooth, _ = pipeline_runs
    assert sorted(smooth) == list(range(len(frames)))
    assert np.array_equal(smooth[0].rgb, plain[0].rgb)   # the painted keyframe exactly
    changed = 0
    for f in range(1, len(frames)):
        y = color.luminance(smooth[f].rgb)
        assert np.abs(y - ys[f]).max() <= 1e-5 * max(1.0, float(ys[f].max())), f
        changed += not np.array_equal(smooth[f].ab, plain[f].ab)
        true_ab = color.chroma_of(frames[f])[6:-6, 6:-6]
        # still the right colours (smoothing does not wash the result out)
        assert np.median(np.abs(smooth[f].ab[6:-6, 6:-6] - true_ab)) <= \
            np.median(np.abs(plain[f].ab[6:-6, 6:-6] - true_ab)) + 0.5, f
    assert changed == len(frames) - 1


def test_pipeline_strength_zero_is_bit_identical(pipeline_runs):
    frames, _, colorizer, plain, _, _ = pipeline_runs
    zero = {o.frame: o for o in colorizer(0.0).run(range(len(frames)))}
    for f in plain:
        assert np.array_equal(zero[f].rgb, plain[f].rgb) and np.array_equal(zero[f].ab, plain[f].ab)


def test_pipeline_single_frames_match_the_full_run(pipeline_runs):
    frames, _, colorizer, _, smooth, _ = pipeline_runs
    col = colorizer(1.0)
    for wanted in ([4], [6, 1]):
        got = {o.frame: o for o in col.run(range(len(frames)), wanted)}
        assert sorted(got) == sorted(wanted)
        for f in wanted:
            assert np.array_equal(got[f].rgb, smooth[f].rgb), f


# ---------------------------------------------------------------------- settings
def test_strength_validation_and_shot_key(tmp_path):
    from nuke_colorize.shot import Shot

    assert check_strength(0) == 0.0 and check_strength(1.5) == 1.5 and check_strength(1000) == 1000.0
    for bad in (-0.1, float("nan"), float("inf"), 1000.5, 1e308, True, "1"):
        with pytest.raises(InputError):
            check_strength(bad)
    plate = tmp_path / "plate.0001.png"
    cv2.imwrite(str(plate), np.full((16, 16, 3), 128, np.uint8))
    (tmp_path / "ref.png").write_bytes(plate.read_bytes())
    base = {"plate": "plate.####.png", "frames": [1, 1], "references": [{"image": "ref.png"}]}
    off = Shot.from_dict(base, str(tmp_path))
    on = Shot.from_dict(dict(base, temporal_smoothing=1), str(tmp_path))
    assert off.temporal_smoothing == 0.0 and "temporal_smoothing" not in off.to_dict()
    assert on.to_dict()["temporal_smoothing"] == 1.0 and on.job().temporal_smoothing == 1.0
    assert Shot.from_dict(on.to_dict(), "/elsewhere").temporal_smoothing == 1.0
    assert on.key(plate_ids=["p"]) != off.key(plate_ids=["p"])
    with pytest.raises(InputError, match="temporal_smoothing"):
        Shot.from_dict(dict(base, temporal_smoothing=-1), str(tmp_path))
