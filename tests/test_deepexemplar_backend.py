"""``deepexemplar`` backend: weights from the models folder, working size, reference caching,
recurrence, multiple references, tiling, and one clear error when weights are missing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nuke_colorize import weights
from nuke_colorize.backends import make_backend
from nuke_colorize.backends.base import Previous, Reference, TargetFrame
from nuke_colorize.cli import main as cli_main
from nuke_colorize.errors import InputError, ModelError
from nuke_colorize.networks.layout import save_random_checkpoints


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    save_random_checkpoints(d, seed=0)
    return d


@pytest.fixture
def backend_factory(models, monkeypatch):
    monkeypatch.setenv(weights.ENV_VAR, str(models))

    def make(**settings):
        return make_backend("deepexemplar", settings)
    return make


def _lab(h, w, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    L = 50 + 30 * np.sin(xx / 7.0) * np.cos(yy / 5.0) + rng.normal(0, 2, (h, w))
    a = 40 * np.sin(xx / 11.0 + seed)
    b = 40 * np.cos(yy / 9.0 - seed)
    return np.stack([np.clip(L, 0, 100), a, b], -1).astype(np.float32)


def test_working_size_keeps_aspect_and_never_upscales(backend_factory):
    b = backend_factory()
    assert b.working_size(1920, 1080) == (384, 216)
    assert b.working_size(4096, 2160) == (410, 216)
    assert b.working_size(1080, 1920) == (216, 384)
    assert b.working_size(320, 180) == (320, 180)
    assert backend_factory(working_size=432).working_size(1920, 1080) == (768, 432)


def test_reference_side_is_computed_once(backend_factory):
    b = backend_factory()
    calls = []
    hook = b.net.vgg.register_forward_hook(lambda m, i, o: calls.append(tuple(i[0].shape[2:])))
    try:
        refs = [Reference(lab=_lab(40, 56, 1), path="r1"), Reference(lab=_lab(36, 64, 2), path="r2")]
        b.set_references(refs)
        assert len(calls) == 2
        prev = None
        for f in range(3):
            r = b.colorize(TargetFrame(frame=f, L=_lab(44, 60, 3)[..., 0]), prev)
            prev = Previous(frame=f, state=r.state)
        assert len(calls) == 2 + 3            # one VGG pass per frame: the target only
    finally:
        hook.remove()


def test_result_shapes_and_ranges_for_odd_sizes(backend_factory):
    b = backend_factory()
    b.set_references([Reference(lab=_lab(50, 70, 1))])
    L = _lab(45, 77, 5)[..., 0]
    r = b.colorize(TargetFrame(frame=0, L=L), None)
    assert r.ab.shape == (45, 77, 2) and r.ab.dtype == np.float32
    assert r.confidence.shape == (45, 77) and 0 <= r.confidence.min() <= r.confidence.max() <= 1
    assert np.abs(r.ab).max() < 128
    assert set(r.state) == {"ab", "L"} and np.array_equal(r.state["L"], L)
    assert np.array_equal(r.state["ab"], r.ab)           # raw prediction carried, no boost
    assert r.info["seconds"] > 0


def test_recurrence_uses_previous_state(backend_factory):
    b = backend_factory()
    b.set_references([Reference(lab=_lab(40, 48, 1))])
    L0, L1 = _lab(40, 48, 2)[..., 0], _lab(40, 48, 3)[..., 0]
    r0 = b.colorize(TargetFrame(frame=0, L=L0), None)
    cold = b.colorize(TargetFrame(frame=1, L=L1), None)
    warm = b.colorize(TargetFrame(frame=1, L=L1), Previous(frame=0, state=r0.state))
    again = b.colorize(TargetFrame(frame=1, L=L1), Previous(frame=0, state=r0.state))
    assert np.abs(warm.ab - cold.ab).max() > 1e-3
    assert np.array_equal(warm.ab, again.ab)              # deterministic


def test_tiling_budget_does_not_change_the_result(backend_factory):
    refs = [Reference(lab=_lab(40, 48, 1)), Reference(lab=_lab(32, 64, 7))]
    L = _lab(40, 48, 2)[..., 0]
    out = []
    for mb in (1, 256):
        b = backend_factory(affinity_mb=mb)
        b.set_references(refs)
        out.append(b.colorize(TargetFrame(frame=0, L=L), None).ab)
    np.testing.assert_allclose(out[0], out[1], atol=1e-3)


def test_settings_and_cache_key(backend_factory, models):
    b = backend_factory(temperature=0.01)
    key = b.settings_key()
    assert key["backend"] == "deepexemplar" and key["settings"]["temperature"] == 0.01
    assert key["weights"] == weights.weights_fingerprint(folder=models)
    with pytest.raises(InputError):
        backend_factory(saturation=1.25)
    with pytest.raises(InputError):
        backend_factory(precision="float8")
    b.set_references([])
    with pytest.raises(InputError, match="at least one reference"):
        b.colorize(TargetFrame(frame=0, L=np.zeros((32, 32), np.float32)), None)



@pytest.mark.parametrize("setting", [{"temperature": float("inf")}, {"affinity_mb": float("nan")},
                                     {"affinity_mb": float("inf")}])
def test_non_finite_temperature_or_affinity_budget_is_refused(backend_factory, setting):
    """The message said "must be finite numbers", yet inf and NaN passed the checks (NaN < 1 is
    False): affinity_mb=nan then failed on the first frame with a traceback (int(nan))."""
    with pytest.raises(InputError, match="must be finite numbers"):
        backend_factory(**setting)

def test_bfloat16_precision_runs(backend_factory):
    b = backend_factory(precision="bfloat16")
    b.set_references([Reference(lab=_lab(32, 40, 1))])
    r = b.colorize(TargetFrame(frame=0, L=_lab(32, 40, 2)[..., 0]), None)
    assert r.ab.dtype == np.float32 and np.isfinite(r.ab).all()


def test_missing_weights_is_one_model_error(tmp_path, monkeypatch):
    monkeypatch.setenv(weights.ENV_VAR, str(tmp_path))
    with pytest.raises(ModelError) as ei:
        make_backend("deepexemplar")
    msg = str(ei.value)
    assert str(tmp_path / "nonlocal_net_iter_76000.pth") in msg
    assert "nuke-colorize models install --from colorization_checkpoint.zip" in msg
    assert "\n" not in msg


def test_missing_weights_through_cli_has_no_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(weights.ENV_VAR, str(tmp_path))
    assert cli_main(["models", "verify"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_instance_matte_restricts_the_stacked_softmax_to_the_same_id(backend_factory):
    r1, r2 = _lab(40, 48, 1), _lab(40, 48, 7)
    ids = lambda v: np.full((40, 48), v, np.int32)  # noqa: E731
    L = _lab(40, 48, 2)[..., 0]
    both = backend_factory()
    both.set_references([Reference(lab=r1, frame=0, matte=ids(1)), Reference(lab=r2, frame=5, matte=ids(2))])
    restricted = both.colorize(TargetFrame(frame=3, L=L, matte=ids(2)), None)
    only2 = backend_factory()
    only2.set_references([Reference(lab=r2, frame=5, matte=ids(2))])
    alone = only2.colorize(TargetFrame(frame=3, L=L), None)
    free = both.colorize(TargetFrame(frame=3, L=L), None)
    assert np.allclose(restricted.ab, alone.ab, atol=1e-3)      # object 2 sees only reference 2
    assert np.abs(free.ab - alone.ab).max() > 1e-2             # without the matte both compete
    off = backend_factory(restrict="none")
    off.set_references(both.references)
    assert np.allclose(off.colorize(TargetFrame(frame=3, L=L, matte=ids(2)), None).ab, free.ab, atol=1e-4)


def _dense_chain(b, ref, Ls, start=None):
    """Keyframe 0 then frames 1.. of ``Ls``; returns the canonical results by frame."""
    from nuke_colorize.engine import canonical_state
    out = {}
    if start is None:
        out[0] = canonical_state(b.keyframe_result(TargetFrame(frame=0, L=Ls[0]), ref))
        first = 1
    else:
        out[start[0]] = start[1]
        first = start[0] + 1
    for f in range(first, len(Ls)):
        prev = out[f - 1]
        out[f] = canonical_state(b.colorize(TargetFrame(frame=f, L=Ls[f]), Previous(frame=f - 1, state=prev.state)))
    return out


def test_dense_masks_ride_along_the_chain_and_resume_bit_identically(backend_factory):
    from nuke_colorize.correspond import tracking
    lab = _lab(40, 56, 3)
    Ls = [np.roll(lab[..., 0], 2 * t, axis=1) for t in range(4)]      # a pan, 2 px per frame
    b = backend_factory(restrict="dense")
    ref = Reference(lab=lab, frame=0)
    b.set_references([ref])
    run = _dense_chain(b, ref, Ls)
    n = 10 * 14                                                          # 1/4-resolution cells
    assert np.array_equal(tracking.decompress(run[0].state["tmask"]), tracking.identity(n))
    for f in (1, 2, 3):
        m = np.unpackbits(tracking.decompress(run[f].state["tmask"]), axis=1, count=n)
        assert m.shape == (n, n) and m.any(axis=1).all() and int(run[f].state["anchor"][0]) == 0
        assert m.sum(axis=1).mean() < 0.25 * n                           # sets, not everything
    calls = []                                                           # one feature pass per frame:
    hook = b.net.vgg.register_forward_hook(lambda m, i, o: calls.append(1))   # the previous frame's
    try:                                                                 # features are remembered
        b.colorize(TargetFrame(frame=4, L=np.roll(Ls[3], 2, axis=1)), Previous(frame=3, state=run[3].state))
    finally:
        hook.remove()
    assert len(calls) == 1
    fresh = backend_factory(restrict="dense")                            # a resumed chain: new process
    fresh.set_references([ref])
    resumed = _dense_chain(fresh, ref, Ls, start=(1, run[1]))
    for f in (2, 3):
        assert np.array_equal(resumed[f].ab, run[f].ab)
        assert np.array_equal(resumed[f].state["tmask"], run[f].state["tmask"])
    plain = backend_factory(restrict="none")
    plain.set_references([ref])
    assert "tmask" not in _dense_chain(plain, ref, Ls[:2])[1].state


def test_dense_masks_restrict_the_keyframe_to_the_tracked_cells(backend_factory, monkeypatch):
    """Tracking says every cell came from cell 17 of the keyframe: the correspondence then
    warps that cell's colour everywhere on the image (a known warp gives a known colour)."""
    import torch

    from nuke_colorize.correspond import tracking
    lab = _lab(40, 56, 4)
    b = backend_factory(restrict="dense", mask_margin=0)
    ref = Reference(lab=lab, frame=0)
    b.set_references([ref])
    key = b.keyframe_result(TargetFrame(frame=0, L=lab[..., 0]), ref)
    monkeypatch.setattr(tracking, "step_candidates",
                        lambda cur, *a, **k: np.full((cur.shape[0], 1), 17, np.int64))
    seen = []
    warp = b.net.warp
    b.net.warp = lambda *a, **k: seen.append(warp(*a, **k)) or seen[-1]
    b.colorize(TargetFrame(frame=1, L=_lab(40, 56, 5)[..., 0]), Previous(frame=0, state=key.state))
    warped = seen[-1][0][0, :, :40, :56]                                 # (2, 40, 56) image area
    want = b._keys[0].ab[17].float()                                     # cell 17's mean ab
    assert torch.allclose(warped, want[:, None, None].expand_as(warped), atol=1e-4)


def test_window_affinity_tiles_equal_the_dense_product(monkeypatch):
    """Above DENSE_LIMIT the windows are scored tile by tile against the band they can
    reach: the same values as the dense product, tiles cut at the grid's edges included."""
    from nuke_colorize.correspond import tracking
    g = torch.Generator().manual_seed(0)
    gh, gw, radius = 23, 37, 4
    n = gh * gw
    f1 = torch.nn.functional.normalize(torch.randn(n, 16, generator=g), dim=1)
    f2 = torch.nn.functional.normalize(torch.randn(n, 16, generator=g), dim=1)
    flat, _ = tracking._windows(gh, gw, radius)                          # what step_candidates passes
    dense = tracking.window_affinity(f1, f2, flat, (gh, gw), radius)
    assert torch.allclose(dense, (f1 @ f2.t()).gather(1, flat))
    monkeypatch.setattr(tracking, "DENSE_LIMIT", 10)
    monkeypatch.setattr(tracking, "TILE", 8)                             # 3 x 5 tiles, cut ones at the edges
    assert torch.allclose(tracking.window_affinity(f1, f2, flat, (gh, gw), radius), dense, atol=1e-6)


def test_dense_settings_are_checked(backend_factory):
    with pytest.raises(InputError, match="restrict='sideways'"):
        backend_factory(restrict="sideways")
    with pytest.raises(InputError, match="mask_threshold"):
        backend_factory(mask_threshold=0.0)


@pytest.mark.parametrize("key,value", [("working_size", 2.7), ("working_size", 300.5),
                                       ("mask_margin", 1.5), ("mask_radius", 2.5)])
def test_integer_settings_refuse_fractions(backend_factory, key, value):
    """Whole-number settings are refused with a fraction, not truncated (2.7 -> 2), as the
    exemplar backend does."""
    with pytest.raises(InputError) as ei:
        backend_factory(**{key: value})
    msg = str(ei.value)
    assert f"{key}={value!r}" in msg and "whole number" in msg and "too small" not in msg


def test_integer_settings_accept_whole_floats(backend_factory):
    b = backend_factory(working_size=200.0, mask_margin=2.0, mask_radius=5.0)
    assert b.settings["working_size"] == 200 and isinstance(b.settings["working_size"], int)
    with pytest.raises(InputError, match="finite"):
        backend_factory(working_size=float("inf"))


def test_damaged_installed_record_does_not_break_the_backend(models, monkeypatch):
    """A hand-edited installed.json ("vgg19_conv.pth": "x") is ignored for the weights'
    identity: the file is hashed instead, the backend is made as usual."""
    monkeypatch.setenv(weights.ENV_VAR, str(models))
    fp = weights.weights_fingerprint(folder=models)
    rec = models / weights.INSTALLED_NAME
    rec.write_text('{"files": {"vgg19_conv.pth": "x", "colornet_iter_76000.pth": [1]}}')
    try:
        assert weights.weights_fingerprint(folder=models) == fp
        assert make_backend("deepexemplar").settings_key()["weights"] == fp
    finally:
        rec.unlink()


# ---------------------------------------------------------------- matte IDs over time (matte_ids)
MH, MW, SQ, TOP = 48, 80, 16, 16          # working size (never upscaled) and the two squares
KEY_RED, KEY_BLUE = 3, 8                   # the keyframe's IDs of the red and the blue square


def _renumbered_shot(tmp_path, frames=5, missing=(3,)):
    """A red and a blue square of one texture drifting towards each other (2 px a frame) on a
    textured grey background, keyframe 0 painted; an 8-bit one-channel ID PNG matte numbered
    as an instance segmentation might: 3 / 8 on even frames, 8 / 3 on odd ones (red / blue),
    no file on the ``missing`` frames. Returns (reference, per frame (L, truth in the
    keyframe's IDs), matte reader)."""
    from conftest import write_oiio
    from nuke_colorize.io.matte import MatteReader
    rng = np.random.default_rng(5)
    bg = 40 + 20 * rng.random((MH, MW)).astype(np.float32)
    tex = 45 + 30 * rng.random((SQ, SQ)).astype(np.float32)
    shots = []
    for f in range(frames):
        L, truth = bg.copy(), np.zeros((MH, MW), np.int32)
        for key_id, x in ((KEY_BLUE, 52 - 2 * f), (KEY_RED, 12 + 2 * f)):
            L[TOP:TOP + SQ, x:x + SQ] = tex
            truth[TOP:TOP + SQ, x:x + SQ] = key_id
        shots.append((L, truth))
        if f not in missing:
            ids = np.zeros((MH, MW, 1), np.uint8)
            red, blue = (KEY_RED, KEY_BLUE) if f % 2 == 0 else (KEY_BLUE, KEY_RED)
            ids[truth == KEY_RED, 0], ids[truth == KEY_BLUE, 0] = red, blue
            write_oiio(tmp_path / f"m.{f:04d}.png", ids, "uint8")
    reader = MatteReader(str(tmp_path / "m.####.png"), (MW, MH))
    key = reader.read(0)
    ab = np.zeros((MH, MW, 2), np.float32)
    ab[shots[0][1] == KEY_RED] = (60, 45)
    ab[shots[0][1] == KEY_BLUE] = (10, -55)
    ref = Reference(lab=np.dstack([shots[0][0], ab]), frame=0, matte=key.ids, matte_kind=key.kind)
    return ref, shots, reader


def _target(f, L, reader):
    m = reader.read(f)
    return TargetFrame(frame=f, L=L, matte=None if m is None else m.ids, matte_kind=None if m is None else m.kind)


def _matte_chain(b, ref, shots, reader, start=None):
    """Keyframe 0 (or ``start`` = (frame, stored result)) then the following frames, each
    result through canonical_state as the engine hands it on. Returns (results by frame,
    the instance restriction of the keyframe's block by frame: (H/4 * W/4, keyframe cells)
    bool)."""
    from nuke_colorize.engine import canonical_state
    allowed = {}
    restriction = b._restriction

    def spy(target, padded, valid, *args):
        fn = restriction(target, padded, valid, *args)
        if fn is not None:
            hv, wv = valid
            rows = fn(slice(None)).reshape(padded[0], padded[1], -1)[:hv, :wv]
            allowed[target.frame] = rows.reshape(hv * wv, -1).numpy()
        return fn
    b._restriction = spy
    out = {}
    if start is None:
        out[0] = canonical_state(b.keyframe_result(_target(0, shots[0][0], reader), ref))
    else:
        out[start[0]] = start[1]
    for f in range(max(out) + 1, len(shots)):
        out[f] = canonical_state(b.colorize(_target(f, shots[f][0], reader),
                                            Previous(frame=f - 1, state=out[f - 1].state)))
    return out, allowed


def _allowed_ids(b, allowed, truth):
    """Per square (red, blue): the set of keyframe IDs its centre cell may match."""
    ref_ids = b._ref_labels[0][1]
    wv = MW // 4
    out = []
    for key_id in (KEY_RED, KEY_BLUE):
        ys, xs = np.nonzero(truth == key_id)
        cell = (int(ys.mean()) // 4) * wv + int(xs.mean()) // 4
        out.append(set(np.unique(ref_ids[allowed[cell]]).tolist()))
    return out


def _inner(truth, px=3):
    """The squares without a ``px``-pixel band inside their outlines, (H, W) bool."""
    import cv2
    return cv2.erode((truth > 0).astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)) > 0


@pytest.fixture
def flow_calls(monkeypatch):
    from nuke_colorize import flow
    calls = []
    real = flow.dis_flow

    def counted(*a, **k):
        calls.append(a[0].shape)
        return real(*a, **k)
    monkeypatch.setattr(flow, "dis_flow", counted)
    return calls


def test_matte_ids_setting_is_the_exemplar_backends(backend_factory):
    """``matte_ids``: the same values, default and refusal as the exemplar backend's; part of
    the settings and so of the cache key."""
    from nuke_colorize.backends.exemplar_settings import ExemplarSettings
    assert backend_factory().settings["matte_ids"] == ExemplarSettings().settings["matte_ids"] == "auto"
    for value in ("stable", "associate"):
        assert backend_factory(matte_ids=value).settings_key()["settings"]["matte_ids"] == value
    for backend in (backend_factory, lambda **s: ExemplarSettings(s)):
        with pytest.raises(InputError, match="matte_ids='byname' is not one of auto, stable, associate"):
            backend(matte_ids="byname")
    assert backend_factory().version == "6"


def test_instance_iou_setting_is_the_exemplar_backends(backend_factory):
    """``instance_iou``: the same default and refusal as the exemplar backend's; part of the
    settings and so of the cache key."""
    from nuke_colorize.backends.exemplar_settings import ExemplarSettings
    assert backend_factory().settings["instance_iou"] == ExemplarSettings().settings["instance_iou"] == 0.3
    assert backend_factory(instance_iou=0.5).settings_key()["settings"]["instance_iou"] == 0.5
    for backend in (backend_factory, lambda **s: ExemplarSettings(s)):
        with pytest.raises(InputError, match=r"instance_iou=1.5 is outside \[0.0, 1.0\]"):
            backend(instance_iou=1.5)
        with pytest.raises(InputError, match="instance_iou='high' must be a number"):
            backend(instance_iou="high")


@pytest.mark.parametrize("iou,associated", [(0.3, True), (0.5, False)])
def test_instance_iou_is_the_overlap_that_associates_an_id(backend_factory, flow_calls, iou, associated):
    """A still scene (the flow carries the keyframe's map where it was) whose plain ID matte
    moves its object 9 px and renumbers it 3 -> 8: the object overlaps the carried ID 3 at IoU
    12 / 30 = 0.4. At ``instance_iou`` 0.3 (the default) ID 8 becomes the keyframe's 3; at 0.5
    it is associated with nothing and, the keyframe lacking an 8, unknown (not restricted)."""
    from nuke_colorize.correspond import tracking
    from nuke_colorize.correspond.instances import UNKNOWN, iou_table
    from nuke_colorize.engine import canonical_state
    lab = _lab(MH, MW, 4)
    key, moved = np.zeros((MH, MW), np.int32), np.zeros((MH, MW), np.int32)
    key[16:32, 10:31], moved[16:32, 19:40] = 3, 8
    assert iou_table(moved, key)[(8, 3)] == pytest.approx(0.4)
    b = backend_factory(instance_iou=iou)
    b.set_references([Reference(lab=lab, frame=0, matte=key, matte_kind="ids")])
    start = canonical_state(b.keyframe_result(TargetFrame(frame=0, L=lab[..., 0], matte=key, matte_kind="ids"),
                                              b.references[0]))
    r = b.colorize(TargetFrame(frame=1, L=lab[..., 0], matte=moved, matte_kind="ids"),
                   Previous(frame=0, state=start.state))
    inst = tracking.decompress(r.state["inst"])
    assert flow_calls == [(MH, MW)]
    assert (inst[moved == 8] == (3 if associated else UNKNOWN)).all()
    assert (inst[moved == 0] == 0).all()


@pytest.mark.parametrize("mode", ["auto", "associate"])
def test_a_plain_id_matte_renumbered_every_frame_is_associated(backend_factory, tmp_path, flow_calls, mode):
    """An 8-bit ID matte whose numbering alternates (3 / 8, then 8 / 3) is expressed in the
    keyframe's IDs on every frame (``auto`` for a plain ID matte, or ``associate``): the map the
    chain carries is the truth, and each square's cells may match only its own keyframe
    square's cells. On frame 3 (no matte file) the map is carried along the flow. One DIS flow
    per frame, at working resolution."""
    ref, shots, reader = _renumbered_shot(tmp_path)
    assert ref.matte_kind == "ids"
    b = backend_factory(matte_ids=mode)
    b.set_references([ref])
    run, allowed = _matte_chain(b, ref, shots, reader)
    from nuke_colorize.correspond import tracking
    assert np.array_equal(tracking.decompress(run[0].state["inst"]), shots[0][1])
    for f in range(1, len(shots)):
        inst = tracking.decompress(run[f].state["inst"])
        truth = shots[f][1]
        if f == 3:          # no matte: the previous map carried along the flow (2 px: edges may lag)
            inner = _inner(truth)
            assert np.array_equal(inst[inner], truth[inner])
        else:
            assert np.array_equal(inst, truth), f
        assert _allowed_ids(b, allowed[f], truth) == [{KEY_RED}, {KEY_BLUE}], f
    assert flow_calls == [(MH, MW)] * (len(shots) - 1)


def test_stable_takes_the_ids_as_given(backend_factory, tmp_path, flow_calls):
    """``stable``: the IDs as given, so the renumbered frames (1, the odd ones) restrict each
    square to the other's keyframe cells; no flow but on the frame without a matte. ``auto``
    takes IDs that name the object (a Cryptomatte, object channels) so too."""
    from nuke_colorize.correspond import tracking
    ref, shots, reader = _renumbered_shot(tmp_path)
    b = backend_factory(matte_ids="stable")
    b.set_references([ref])
    run, allowed = _matte_chain(b, ref, shots, reader)
    for f in (1, 2, 4):
        given = reader(f)
        assert np.array_equal(tracking.decompress(run[f].state["inst"]), given)
        want = [{KEY_RED}, {KEY_BLUE}] if f % 2 == 0 else [{KEY_BLUE}, {KEY_RED}]
        assert _allowed_ids(b, allowed[f], shots[f][1]) == want, f
    assert flow_calls == [(MH, MW)]                      # frame 3 only: carried, no matte
    named = backend_factory()                            # auto, the kinds say: named objects
    named.set_references([Reference(lab=ref.lab, frame=0, matte=ref.matte, matte_kind="channels")])
    t = TargetFrame(frame=1, L=shots[1][0], matte=reader(1), matte_kind="channels")
    key = named.keyframe_result(TargetFrame(frame=0, L=shots[0][0], matte=ref.matte, matte_kind="channels"),
                                named.references[0])
    r = named.colorize(t, Previous(frame=0, state=key.state))
    assert np.array_equal(tracking.decompress(r.state["inst"]), reader(1))
    assert flow_calls == [(MH, MW)]


def test_no_matte_no_flow_and_no_map(backend_factory, tmp_path, flow_calls):
    ref, shots, _ = _renumbered_shot(tmp_path)
    b = backend_factory()
    plain = Reference(lab=ref.lab, frame=0)
    b.set_references([plain])
    key = b.keyframe_result(TargetFrame(frame=0, L=shots[0][0]), plain)
    r = b.colorize(TargetFrame(frame=1, L=shots[1][0]), Previous(frame=0, state=key.state))
    assert "inst" not in r.state and "inst" not in key.state and flow_calls == []
    off = backend_factory(restrict="none")               # mattes given, the restriction off
    off.set_references([ref])
    key = off.keyframe_result(TargetFrame(frame=0, L=shots[0][0], matte=ref.matte), ref)
    assert "inst" not in key.state and "anchor" not in key.state


def test_a_resumed_chain_carries_the_same_instance_map(backend_factory, tmp_path):
    """Frame 2's result read back from a shot-cache frame file, in a new backend: frames 3 (no
    matte: carried along the flow) and 4 get the same map, restriction and colour bits."""
    from nuke_colorize.cache.store import decode_result, encode_result
    ref, shots, reader = _renumbered_shot(tmp_path)
    b = backend_factory()
    b.set_references([ref])
    run, allowed = _matte_chain(b, ref, shots, reader)
    arrays, _ = encode_result(run[2], 2, "chain")
    path = tmp_path / "f2.npz"
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    stored = decode_result(str(path), 2, "chain")
    assert np.array_equal(stored.state["inst"], run[2].state["inst"])
    fresh = backend_factory()
    fresh.set_references([ref])
    resumed, allowed_resumed = _matte_chain(fresh, ref, shots, reader, start=(2, stored))
    for f in (3, 4):
        assert np.array_equal(resumed[f].state["inst"], run[f].state["inst"]), f
        assert np.array_equal(allowed_resumed[f], allowed[f])
        assert np.array_equal(resumed[f].ab, run[f].ab)


def test_uncovered_reference_cells_are_never_the_warps_source(backend_factory):
    """A reference's alpha (its coverage): the target is the reference's own luminance, so
    many cells' best match is their own position. With the right half uncovered, the right
    half must still warp from the left (a* > 0 there), never from its own (a* < 0) cells; the
    keyframe result composites the painted colour and the computed one."""
    h, w = 40, 56
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    L = (50 + 30 * np.sin(xx / 4.0) * np.cos(yy / 3.0)).astype(np.float32)
    ab = np.zeros((h, w, 2), np.float32)
    ab[:, : w // 2, 0], ab[:, w // 2:, 0] = 40, -40
    lab = np.concatenate([L[..., None], ab], -1)
    cover = np.zeros((h, w), bool)
    cover[:, : w // 2] = True

    b = backend_factory()

    def warped(*references):
        b.set_references(list(references))
        seen = []
        net_warp = b.net.warp
        b.net.warp = lambda *a, **k: seen.append(net_warp(*a, **k)) or seen[-1]
        b.colorize(TargetFrame(frame=3, L=L), None)
        b.net.warp = net_warp
        return seen[-1][0][0, 0, :h, :w].numpy()          # a* of the warp, image area

    free = warped(Reference(lab=lab, path="r"))
    key = Reference(lab=lab, frame=3, path="r", coverage=cover)
    right = slice(w // 2 + 4, w)
    assert (free[:, right] < 0).mean() > 0.3       # the affinity prefers its own (uncovered) cells
    # beside a whole reference (a still of a* 20) the uncovered cells are never candidates
    still = Reference(lab=np.concatenate([L[::-1, ::-1, None], np.full((h, w, 2), (20, 0), np.float32)], -1),
                      path="still")
    covered = warped(key, still)
    assert (covered[:, right] > 0).all() and (covered > 0).all()
    # alone, nothing offers colour for them: they stand for grey (coverage.unpainted_is_grey),
    # and never for their own a* -40
    alone = warped(key)
    assert (alone[:, right] > -1e-3).all()
    assert (alone[:, right] < 1).mean() > 0.15   # where they win (random weights: often), grey
    # its keyframe result: the painted colour where covered, the computed colour elsewhere
    target = TargetFrame(frame=3, L=L)
    res, computed = b.keyframe_result(target, key), b.colorize(target, None)
    assert np.array_equal(res.ab[cover], ab[cover]) and np.all(res.confidence[cover] == 1)
    assert np.array_equal(res.ab[~cover], computed.ab[~cover])
    assert np.array_equal(res.confidence[~cover], computed.confidence[~cover])


def test_torch_that_cannot_use_numpy_is_one_line_before_loading(backend_factory, monkeypatch, capsys):
    """torch < 2.3 next to NumPy 2 (pyproject allows both: torch>=2.1, numpy>=1.23) imports with
    a warning and fails at the first torch.from_numpy, "Numpy is not available": refused when
    the backend is made, naming both versions and the fix, not in the middle of a render."""
    from nuke_colorize import torchinfo
    from nuke_colorize.backends import deepexemplar as de

    def broken(_a):
        raise RuntimeError("Numpy is not available")
    monkeypatch.setattr(de, "_NET_CACHE", {})
    monkeypatch.setattr(torch, "from_numpy", broken)
    monkeypatch.setattr(torchinfo, "version", lambda: "2.2.2+cu118")
    with pytest.raises(InputError) as err:
        backend_factory()
    text = str(err.value)
    assert "torch 2.2.2+cu118 cannot use NumPy" in text and np.__version__ in text
    assert "Numpy is not available" in text and "numpy<2" in text


def test_a_working_size_that_cannot_fit_in_memory_is_refused_before_running(backend_factory, monkeypatch):
    """The networks run whole frames: working_size=1080 needs ~5.8 GB, 2160 ~24 GB; past what the
    machine or the farm slot has left the kernel kills the render without a word. A frame whose
    estimate exceeds the available memory is refused in one line with a working size that fits."""
    from nuke_colorize.backends import deepexemplar as de
    b = backend_factory()
    b.set_references([Reference(lab=_lab(48, 80, 1))])
    L = _lab(72, 128, 2)[..., 0]
    need = de.PEAK_BYTES_PER_PIXEL * 72 * 128
    monkeypatch.setattr(de, "available_memory", lambda: need // 4)
    with pytest.raises(InputError) as err:
        b.colorize(TargetFrame(frame=0, L=L), None)
    text = str(err.value)
    assert "working size 128x72" in text and "--set working_size=" in text
    suggested = int(text.split("--set working_size=")[1].split()[0])
    assert 16 <= suggested <= 36                           # about half the short side: a quarter of the pixels
    monkeypatch.setattr(de, "available_memory", lambda: need * 2)
    r = b.colorize(TargetFrame(frame=0, L=L), None)
    assert r.ab.shape == (72, 128, 2)
    monkeypatch.setattr(de, "available_memory", lambda: need // 4)   # checked once per size
    assert b.colorize(TargetFrame(frame=1, L=L), None).ab.shape == (72, 128, 2)


def test_available_memory_reads_the_machine():
    from nuke_colorize.backends.deepexemplar import available_memory
    avail = available_memory()
    assert avail is None or avail > 0
