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
