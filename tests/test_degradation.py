"""Synthetic archival degradations for ``eval --degrade``: what they change, and what not."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nuke_colorize import evaluate
from nuke_colorize.cli import main
from nuke_colorize.color import chroma_of, luminance
from nuke_colorize.degradation import Degradation, parse_degradation
from nuke_colorize.errors import InputError

from test_eval import _fast_args, _fast_settings, _write_clip


def _frame(seed=0, h=40, w=50):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.02, 0.6, (h, w, 3)).astype(np.float32)


def test_parse_degradation():
    assert parse_degradation(None) is None and parse_degradation("") is None
    assert parse_degradation("flicker=0.2") == Degradation(flicker=0.2)
    assert parse_degradation("grain=0.05, flicker=0.1,seed=3") == Degradation(0.1, 0.05, 3)
    for bad, words in (("flicker", "cannot read"), ("blur=2", "cannot read"), ("grain=x", "not a number"),
                       ("flicker=-0.1", "outside 0-1"), ("grain=0.5", "outside 0-0.3"),
                       ("flicker=0.1,flicker=0.2", "given twice"), ("seed=1.5", "not a number"),
                       ("seed=-2", "negative"), ("flicker=nan", "outside")):
        with pytest.raises(InputError, match=words):
            parse_degradation(bad)
    assert not Degradation() and not parse_degradation("seed=4")
    assert parse_degradation("grain=0.01").describe() == "flicker=0,grain=0.01,seed=0"


def test_flicker_scales_the_whole_frame_and_keeps_chromaticity():
    d = Degradation(flicker=0.2, seed=1)
    x = _frame()
    gains = [d.gain(t) for t in range(50)]
    assert all(np.exp(-0.2) <= g <= 1.0 for g in gains)        # darker only: nothing new clips
    assert np.std(np.log(gains)) > 0.05                        # it does flicker
    y = d.apply(x, 7)
    np.testing.assert_allclose(y, x * gains[7], rtol=1e-6)       # one factor for every pixel
    np.testing.assert_allclose(chroma_of(y / gains[7]), chroma_of(x), atol=1e-4)
    # the same frame always gets the same draw, whatever came before (any evaluation order)
    assert Degradation(flicker=0.2, seed=1).gain(7) == gains[7]
    assert Degradation(flicker=0.2, seed=2).gain(7) != gains[7]
    assert Degradation(grain=0.1).gain(7) == 1.0


def test_grain_modulates_luminance_per_pixel_not_colour():
    d = Degradation(grain=0.05, seed=0)
    x = _frame()
    y = d.apply(x, 3)
    ratio = y / x
    # one factor per pixel, shared by R, G and B: chromaticity (r:g:b) unchanged
    np.testing.assert_allclose(ratio[..., 0], ratio[..., 1], rtol=1e-5)
    np.testing.assert_allclose(ratio[..., 0], ratio[..., 2], rtol=1e-5)
    f = ratio[..., 0]
    assert abs(f.mean() - 1.0) < 0.01 and 0.04 < f.std() < 0.06
    assert f.min() >= 1 - 0.15 - 1e-6 and f.max() <= 1 + 0.15 + 1e-6   # clipped at 3 sigma
    lum = luminance(y) / luminance(x)
    np.testing.assert_allclose(lum, f, rtol=1e-5)
    assert not np.array_equal(d.apply(x, 4) / x, ratio)         # independent per frame
    np.testing.assert_array_equal(d.apply(x, 3), y)             # reproducible


def test_eval_scores_the_degraded_truth(tmp_path, capsys):
    clip = _write_clip(str(tmp_path / "square"), n=5)
    fast = _fast_settings()
    d = Degradation(flicker=0.3, grain=0.05, seed=5)
    clean = evaluate.evaluate_clip(clip, refs="0", settings=fast)
    r = evaluate.evaluate_clip(clip, refs="0", settings=fast, degrade=d)
    assert r["degrade"] == d.describe() and clean["degrade"] is None
    # the grey plate is the degraded truth's: its PSNR against that truth differs from the clean one
    assert r["psnr_grey"] != pytest.approx(clean["psnr_grey"], abs=1e-3)
    # the keyframe is the degraded frame 0, its colour kept exactly: far above grey either way
    assert r["per_frame"][0]["psnr"] > r["psnr_grey"] + 10
    rc = main(["eval", "--clip", clip, "--refs", "0", "--limit-frames", "3", "--json",
               "--degrade", "flicker=0.3,grain=0.05,seed=5"] + _fast_args())
    assert rc == 0
    js = json.loads(capsys.readouterr().out)
    assert js["summary"]["degrade"] == "flicker=0.3,grain=0.05,seed=5"
    assert js["clips"][0]["degrade"] == "flicker=0.3,grain=0.05,seed=5"
    assert main(["eval", "--clip", clip, "--degrade", "grain=2"]) == 2
    assert "grain=2 is outside 0-0.3" in capsys.readouterr().err
