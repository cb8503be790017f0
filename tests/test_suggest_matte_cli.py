"""``render --matte`` and ``suggest-keyframe`` on a small synthetic shot, plus the ranking rule."""
import json
import math

import numpy as np
import pytest

from conftest import write_oiio as _write
from nuke_colorize.cli import main
from nuke_colorize.suggest import gains, suggest

W, H, N = 64, 48, 8


def _colour(f: int) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    rgb = np.stack([0.2 + 0.2 * np.sin(xx / 6 + f / 3) ** 2, 0.3 + 0.4 * xx / W, 0.7 - 0.4 * yy / H], -1)
    rgb[12:28, 8 + 2 * f: 20 + 2 * f] = (0.8, 0.2, 0.1)
    return rgb.astype(np.float32)


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    root = tmp_path_factory.mktemp("mattecli")
    for f in range(1, N + 1):
        y = _colour(f) @ np.array([0.2126, 0.7152, 0.0722], np.float32)
        _write(root / "plate" / f"plate.{f:04d}.exr", np.repeat(y[..., None], 3, -1), "half")
    _write(root / "ref_1.png", (np.clip(_colour(1), 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8), "uint8")
    for f in (1, 5):   # mattes only on some frames: IDs are carried along the flow in between
        ids = np.zeros((H, W, 1), np.uint8)
        ids[12:28, 8 + 2 * f: 20 + 2 * f] = 3
        _write(root / "matte" / f"matte.{f:04d}.png", ids, "uint8")
    _write(root / "bad" / "matte.0001.png", np.zeros((H, H, 1), np.uint8), "uint8")
    return root


def _argv(root, *extra):
    return ["render", "--plate", str(root / "plate/plate.####.exr"), "--frames", f"1-{N}",
            "--ref", f"1={root / 'ref_1.png'}", "--set", "feature_size=96", "--quiet", *extra]


def test_render_with_sparse_mattes_writes_every_frame(shot, capsys):
    assert main(_argv(shot, "--matte", str(shot / "matte/matte.####.png"),
                      "--out", str(shot / "out/c.####.exr"), "--json")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert len(summary["outputs"]) == N
    assert not list((shot / "matte").glob("*.tmp*"))


def test_matte_of_another_shape_is_refused_naming_file_and_frame(shot, capsys):
    code = main(_argv(shot, "--matte", str(shot / "bad/matte.####.png"), "--out", str(shot / "o2/c.####.exr")))
    err = capsys.readouterr().err
    assert code == 2 and "matte.0001.png" in err and "another shape" in err and "Traceback" not in err
    assert not (shot / "o2").exists() or not list((shot / "o2").iterdir())


def test_suggest_keyframe_cli_ranks_non_keyframes(shot, capsys):
    code = main(["suggest-keyframe", "--plate", str(shot / "plate/plate.####.exr"), "--frames", f"1-{N}",
                 "--ref", f"1={shot / 'ref_1.png'}", "--set", "feature_size=96", "--json", "--count", "2"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["confidence"]["1"] == 1.0 and len(out["confidence"]) == N
    picks = [p["frame"] for p in out["suggestions"]]
    assert len(picks) == 2 and 1 not in picks and all(1 < f <= N for f in picks)


def test_suggest_keyframe_says_when_every_frame_is_a_keyframe(shot, capsys):
    refs = [a for f in (1, 2, 3) for a in ("--ref", f"{f}={shot / 'ref_1.png'}")]
    code = main(["suggest-keyframe", "--plate", str(shot / "plate/plate.####.exr"), "--frames", "1-3",
                 *refs, "--set", "feature_size=96", "--quiet"])
    cap = capsys.readouterr()
    assert code == 0 and cap.out == "" and "nothing to suggest" in cap.err


def test_gain_prefers_the_longest_low_confidence_stretch_away_from_keyframes():
    conf = {f: 0.9 for f in range(100)}
    for f in range(55, 75):
        conf[f] = 0.2                    # the shot falls apart here
    conf[0] = 1.0
    g = gains(conf, [0], reach=10)
    best = max(g, key=g.get)
    assert 55 <= best <= 75
    picks = suggest(conf, [0], count=2, reach=10)
    assert picks[0]["frame"] == best
    assert abs(picks[1]["frame"] - best) > 5        # the second goes where the first does not help


def test_a_new_keyframe_helps_every_frame_between_its_neighbouring_keyframes():
    """The engine blends the chains from both sides of a keyframe, so a frame nearer to the
    old keyframe still gains from a new one (fading with distance); frames beyond the next
    keyframe do not."""
    conf = {f: 1.0 for f in range(0, 61)}
    conf[2] = 0.0          # near keyframe 0, badly coloured
    conf[45] = 0.0         # beyond keyframe 40
    g = gains(conf, [0, 40], reach=10)
    assert g[10] == pytest.approx(math.exp(-8 / 10))      # frame 2 counts, frame 45 does not
    assert g[50] == pytest.approx(math.exp(-5 / 10))      # frame 45 counts, frame 2 does not


def _suggest_argv(root, *extra):
    return ["suggest-keyframe", "--plate", str(root / "plate/plate.####.exr"), "--frames", f"1-{N}",
            "--ref", f"1={root / 'ref_1.png'}", "--set", "feature_size=96", "--quiet", *extra]


@pytest.mark.parametrize("reach", ["inf", "-inf", "nan", "0", "-3"])
def test_suggest_keyframe_refuses_a_reach_that_is_not_a_finite_positive_number(shot, capsys, monkeypatch, reach):
    import nuke_colorize.render as render_mod
    monkeypatch.setattr(render_mod, "make_colorizer", lambda *a, **k: pytest.fail("the shot was colourised"))
    assert main(_suggest_argv(shot, f"--reach={reach}")) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("nuke-colorize: error: --reach ")
    assert "finite number of frames > 0" in err


def test_suggest_with_infinite_reach_is_refused_by_the_ranking_too():
    conf = {f: 0.5 for f in range(10)}
    for reach in (math.inf, math.nan, 0.0, -1.0):
        with pytest.raises(ValueError, match="finite number of frames"):
            suggest(conf, [0], count=2, reach=reach)
        with pytest.raises(ValueError):
            gains(conf, [0], reach=reach)
    # a very long (finite) reach: one keyframe covers the shot, the first pick is not a neighbour
    picks = suggest(conf, [0], count=3, reach=1e9)
    assert picks[0]["frame"] > 1 and all(p["gain"] < 1e-6 for p in picks[1:])


@pytest.mark.parametrize("extra,named", [
    (["--saturation", "2"], "--saturation does not apply"),
    (["--temporal-smoothing", "1"], "--temporal-smoothing does not apply"),
    (["--out-colorspace", "srgb"], "--out-colorspace does not apply"),
    (["--out-colorspace=linear", "--saturation=0"], "--out-colorspace, --saturation do not apply"),
])
def test_suggest_keyframe_refuses_output_only_options(shot, capsys, monkeypatch, extra, named):
    import nuke_colorize.render as render_mod
    monkeypatch.setattr(render_mod, "make_colorizer", lambda *a, **k: pytest.fail("the shot was colourised"))
    assert main(_suggest_argv(shot, *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and named in err and "suggest-keyframe" in err


def test_suggest_keyframe_help_does_not_offer_output_options(capsys):
    with pytest.raises(SystemExit):
        main(["suggest-keyframe", "--help"])
    out = capsys.readouterr().out
    assert "--reach" in out and "--saturation" not in out and "--out-colorspace" not in out \
        and "--temporal-smoothing" not in out
