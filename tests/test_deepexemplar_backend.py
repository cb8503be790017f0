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
