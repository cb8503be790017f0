"""The backend is built on its first computed frame (:class:`nuke_colorize.backends.lazy.LazyBackend`):
settings are checked at once, the cache identity and working size come from the torch-free
settings class and equal the built backend's, and results are the same bits either way."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from nuke_colorize import weights
from nuke_colorize.backends import backend_settings, lazy_backend, make_backend
from nuke_colorize.backends.base import Previous, Reference, TargetFrame
from nuke_colorize.errors import InputError, ModelError

SETTINGS = {"feature_size": 64, "max_working_size": 48}


def _frames(n=3, h=32, w=40):
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    lab = np.zeros((h, w, 3), np.float32)
    lab[..., 0] = 20 + 60 * xx / w
    lab[..., 1] = 40 * np.sin(yy / 5)
    lab[..., 2] = -30 + 50 * yy / h
    Ls = [np.roll(lab[..., 0], i, axis=1) + rng.normal(0, 0.5, (h, w)).astype(np.float32) for i in range(n)]
    return lab, Ls


def _chain(b, lab, Ls):
    ref = Reference(lab=lab, frame=0, key="k0")
    b.set_references([ref])
    prev, out = None, []
    for i, L in enumerate(Ls):
        tgt = TargetFrame(frame=i, L=np.clip(L, 0, 100).astype(np.float32))
        res = b.keyframe_result(tgt, ref) if i == 0 else b.colorize(tgt, prev)
        out.append(res)
        prev = Previous(frame=i, state=res.state)
    return out


def test_exemplar_answers_from_its_settings_and_computes_the_same_bits():
    lazy = lazy_backend("exemplar", SETTINGS)
    eager = make_backend("exemplar", SETTINGS)
    assert lazy.settings_key() == eager.settings_key()
    assert lazy.working_size(854, 480) == eager.working_size(854, 480) == (48, 27)
    assert lazy.blend_distance_power == eager.blend_distance_power == 0.5
    lab, Ls = _frames()
    lazy.set_references([Reference(lab=lab, frame=0, key="k0")])
    assert not lazy.built                       # references alone do not build it
    a, b = _chain(lazy, lab, Ls), _chain(eager, lab, Ls)
    assert lazy.built
    for ra, rb in zip(a, b):
        assert np.array_equal(ra.ab, rb.ab) and np.array_equal(ra.confidence, rb.confidence)
    assert lazy.TAP_IDS == eager.TAP_IDS        # the backend's own attributes are passed on


def test_references_set_before_the_build_are_handed_over():
    lazy = lazy_backend("exemplar", SETTINGS)
    lab, _ = _frames()
    refs = [Reference(lab=lab, frame=0, key="k0"), Reference(lab=lab[:, ::-1].copy(), key="s1")]
    lazy.set_references(refs)
    assert lazy.references == refs and not lazy.built
    assert [r.key for r in lazy.backend.references] == ["k0", "s1"]
    assert lazy.reference_index(refs[1]) == 1


def test_bad_settings_are_refused_before_anything_is_built():
    with pytest.raises(InputError, match="tap_weights"):
        lazy_backend("exemplar", {"tap_weights": [0, 0, 0]})
    with pytest.raises(InputError, match="unknown setting"):
        lazy_backend("exemplar", {"nope": 1})
    with pytest.raises(InputError, match="unknown backend"):
        backend_settings("nope")


def test_deepexemplar_identity_includes_the_weights_without_loading_them(tmp_path, monkeypatch):
    from nuke_colorize.networks.layout import save_random_checkpoints
    save_random_checkpoints(tmp_path, seed=0)
    monkeypatch.setenv(weights.ENV_VAR, str(tmp_path))
    lazy = lazy_backend("deepexemplar", {"working_size": 64})
    key = lazy.settings_key()
    assert not lazy.built
    assert key == make_backend("deepexemplar", {"working_size": 64}).settings_key()
    assert key["weights"] == weights.weights_fingerprint(weights.DEEPEXEMPLAR, tmp_path)
    assert lazy.working_size(854, 480) == (114, 64)


def test_deepexemplar_missing_weights_are_refused_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv(weights.ENV_VAR, str(tmp_path))
    with pytest.raises(ModelError, match="weights file missing") as err:
        lazy_backend("deepexemplar")
    assert str(tmp_path) in str(err.value)


SNIPPET = """
import sys
from nuke_colorize import torchinfo
from nuke_colorize.cache import determinism
from nuke_colorize.backends import lazy_backend
version, cuda = torchinfo.version(), torchinfo.cuda_available()
determinism.fix_threads(1)
b = lazy_backend("exemplar", {"feature_size": 64})
key = b.settings_key()
before = "torch" in sys.modules
b.backend                                 # build: loads torch, applies the thread rule
import torch
print(before, version == torch.__version__, cuda == torch.cuda.is_available(), torch.get_num_threads())
"""


def test_torch_is_loaded_only_when_the_backend_is_built_and_gets_the_thread_rule():
    env = {"OMP_NUM_THREADS": "2", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", SNIPPET], capture_output=True, text=True, timeout=120,
                         env=env, cwd=str(__import__("pathlib").Path(__file__).parents[1]))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "True", "True", "1"]
