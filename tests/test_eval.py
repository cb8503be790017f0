"""``evaluate_clip`` and ``nuke-colorize eval`` end to end on a synthetic clip and on DAVIS."""
from __future__ import annotations

import json
import math
import os

import cv2
import numpy as np
import pytest

from nuke_colorize import evaluate, metrics
from nuke_colorize.color import chroma_of, luminance, y_to_L
from nuke_colorize.cli import main
from nuke_colorize.errors import InputError

from conftest import davis_clip


def _write_clip(folder, n=8, h=64, w=96):
    """A red square moving 6 px/frame over a panning background of three textured colour bands."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    W = w + 3 * n
    tex = cv2.GaussianBlur(rng.uniform(0, 1, (h, W)).astype(np.float32), (0, 0), 1.5)
    tex = 0.6 + 0.8 * (tex - tex.min()) / (tex.max() - tex.min())          # luminance texture
    bands = np.array([(70, 150, 60), (60, 100, 190), (200, 170, 60)], np.float32)  # green, blue, yellow
    colour = bands[np.minimum(np.arange(W) * 3 // W, 2)][None].repeat(h, axis=0)
    bg = np.clip(colour * tex[..., None], 0, 255).astype(np.uint8)
    for t in range(n):
        img = bg[:, 3 * t:3 * t + w].copy()          # the camera pans
        x = 10 + 6 * t
        img[20:40, x:x + 20] = (210, 40, 30)          # and the square moves
        cv2.imwrite(os.path.join(folder, f"{t:05d}.png"), img[..., ::-1])
    return folder


def _fast_settings():
    """Small feature maps keep the test quick when the backend exposes that setting."""
    from nuke_colorize.backends import backend_class
    return {"feature_size": 128} if "feature_size" in backend_class("exemplar").default_settings() else None


def _fast_args():
    """:func:`_fast_settings` as ``--set key=value`` command-line arguments."""
    return [a for k, v in (_fast_settings() or {}).items() for a in ("--set", f"{k}={v}")]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return _write_clip(str(tmp_path_factory.mktemp("clips") / "square"))


def test_parse_refs_and_size():
    assert evaluate.parse_refs("0", 10) == [0]
    assert evaluate.parse_refs("0,last", 10) == [0, 9]
    assert evaluate.parse_refs("9,-1", 10) == [9]
    assert evaluate.parse_refs("first, 3", 10) == [0, 3]
    with pytest.raises(InputError):
        evaluate.parse_refs("10", 10)
    with pytest.raises(InputError):
        evaluate.parse_refs("x", 10)
    assert evaluate.parse_size("384x216") == (384, 216)
    assert evaluate.parse_size(None) is None
    with pytest.raises(InputError):
        evaluate.parse_size("384")


def test_ground_truth_resize_is_in_linear_light(tmp_path):
    # A 1-px black/white checkerboard averages to linear 0.5 -> sRGB 188, not 128.
    img = (np.indices((8, 8)).sum(axis=0) % 2 * 255).astype(np.uint8)
    p = str(tmp_path / "a.png")
    cv2.imwrite(p, np.repeat(img[..., None], 3, axis=-1))
    gt = evaluate.load_ground_truth([p], size=(4, 4))[0]
    assert gt.shape == (4, 4, 3) and gt.dtype == np.uint8
    assert np.all(gt == 188)


def test_evaluate_clip_end_to_end(clip, tmp_path):
    out = str(tmp_path / "out")
    r = evaluate.evaluate_clip(clip, refs="0", out_dir=out, settings=_fast_settings())
    assert r["frames"] == 8 and (r["width"], r["height"]) == (96, 64)
    assert r["refs"] == [0] and r["keyframes_in_mean"] is False
    pf = r["per_frame"]
    assert [p["frame"] for p in pf] == list(range(8)) and pf[0]["keyframe"]
    # The grey plate alone scores far lower than a colourisation guided by frame 0.
    gt = evaluate.load_ground_truth(evaluate.list_frames(clip))
    grey = [evaluate.linear_to_u8(np.repeat(luminance(evaluate.u8_to_linear(g))[..., None],
                                            3, axis=-1)) for g in gt]
    grey_psnr = np.mean([metrics.psnr(a, b) for a, b in zip(grey, gt)])
    assert r["psnr"] > grey_psnr + 3.0
    assert pf[0]["psnr"] > metrics.psnr(grey[0], gt[0]) + 10.0   # the keyframe gets its colours
    assert r["psnr"] == pytest.approx(np.mean([p["psnr"] for p in pf[1:]]))   # not scored in the mean
    assert 0.5 < r["ssim"] <= 1.0
    assert r["colourfulness_gt"] > 10 and r["colourfulness"] > 0.3 * r["colourfulness_gt"]
    assert r["flicker"] >= 0 and r["flicker_gt"] >= 0 and math.isfinite(r["flicker_ratio"])
    assert r["cdc"] >= 0 and r["cdc_gt"] >= 0
    assert r["seconds_per_frame"] > 0
    # Outputs: PNGs decode, JSON is strict and holds the same numbers.
    sheet = cv2.imread(r["outputs"]["contact_sheet"])
    plot = cv2.imread(r["outputs"]["psnr_plot"])
    assert sheet is not None and sheet.shape[0] > 3 * 64 and plot is not None
    with open(r["outputs"]["json"]) as fh:
        js = json.load(fh)
    assert js["psnr"] == pytest.approx(r["psnr"]) and len(js["per_frame"]) == 8
    assert not [n for n in os.listdir(out) if n.startswith(".")]    # no temp files left


def test_reference_frames_are_not_scored_in_the_clip_means(clip):
    # A reference frame's output is its own truth to float32 rounding: its PSNR measures the
    # rounding (~140 dB here), not the colourisation. Before, the per-clip PSNR averaged it in:
    # on this 6-frame clip with references 0 and 5, 60.3 dB with them against 21.0 without.
    r = evaluate.evaluate_clip(clip, refs="0,last", limit_frames=6, settings=_fast_settings())
    pf = r["per_frame"]
    assert [p["keyframe"] for p in pf] == [True, False, False, False, False, True]
    assert min(pf[0]["psnr"], pf[5]["psnr"]) > 100.0              # float rounding, not a score
    scored = pf[1:5]
    assert r["keyframes_in_mean"] is False
    assert r["psnr"] == pytest.approx(np.mean([p["psnr"] for p in scored]), abs=1e-9)
    assert r["psnr"] == r["psnr_non_keyframes"] and r["psnr"] < 60.0
    assert r["psnr_with_keyframes"] == pytest.approx(np.mean([p["psnr"] for p in pf]), abs=1e-9)
    assert r["psnr_with_keyframes"] > r["psnr"] + 15.0
    assert r["ssim"] == pytest.approx(np.mean([p["ssim"] for p in scored]), abs=1e-12)
    assert r["colourfulness"] == pytest.approx(np.mean([p["colourfulness"] for p in scored]), abs=1e-9)
    assert r["colourfulness_gt"] == pytest.approx(np.mean([p["colourfulness_gt"] for p in scored]), abs=1e-9)
    # the grey plate's baseline is over the same frames as the output's PSNR
    gt = evaluate.load_ground_truth(evaluate.list_frames(clip)[:6])
    assert r["psnr_grey"] == pytest.approx(
        np.mean([metrics.psnr(evaluate._grey255(gt[f]), gt[f]) for f in range(1, 5)]), abs=1e-9)


def test_psnr_plot_leaves_out_the_reference_frames(tmp_path, monkeypatch):
    # The plot's scale followed every value it got: with references 0 and 5 of dog (384x216)
    # at 142 dB it ran 40-160 dB and the scored frames' 44-45 dB sat flat on its floor.
    drawn = {}

    def psnr_plot(frames, values, **kw):
        drawn.update(frames=list(frames), values=list(values), **kw)
        return np.zeros((4, 4, 3), np.uint8)

    monkeypatch.setattr(evaluate.report, "psnr_plot", psnr_plot)
    pf = [{"frame": f, "keyframe": f in (0, 5), "psnr": 142.2 if f in (0, 5) else 44.0 + 0.2 * f}
          for f in range(6)]
    result = {"clip": "c", "refs": [0, 5], "width": 8, "height": 8, "psnr": 44.5, "ssim": 0.99,
              "backend": "exemplar", "per_frame": pf}
    gt = [np.zeros((8, 8, 3), np.uint8)] * 6
    evaluate.write_outputs(result, gt, {0: gt[0]}, str(tmp_path))
    assert drawn["frames"] == list(range(6)) and drawn["keyframes"] == [0, 5]
    assert math.isnan(drawn["values"][0]) and math.isnan(drawn["values"][5])
    assert drawn["values"][1:5] == pytest.approx([44.2, 44.4, 44.6, 44.8]) and drawn["mean"] == 44.5


def test_scored_output_keeps_the_truth_s_luminance_as_render_s_srgb_output(clip):
    # eval scores what render writes for an 8-bit sRGB plate: chroma that would push a channel
    # past 1.0 is reduced (max_value 1.0), so the luminance stays the truth's. Before, the
    # output was clipped channel by channel at display: with this strong orange, 29% of the
    # pixels had a channel past 1.0, their luminance off by up to 0.27 (linear), and frame 1
    # scored 7.226 dB instead of 7.271.
    from nuke_colorize.backends.base import Backend, Result
    from nuke_colorize.color import linear_to_srgb, recombine

    class Orange(Backend):
        name = "orange"

        def colorize(self, target, previous):
            ab = np.empty(target.L.shape + (2,), np.float32)
            ab[...] = (60.0, 80.0)
            return Result(ab=ab, confidence=np.ones(target.L.shape, np.float32),
                          state={"ab": ab, "L": target.L})

    r = evaluate.evaluate_clip(clip, refs="0", backend=Orange(), limit_frames=4)
    gt = evaluate.load_ground_truth(evaluate.list_frames(clip)[:4])
    for f in (1, 2, 3):
        y = evaluate.grey_plate(gt[f])
        rgb = recombine(y, np.full(y.shape + (2,), (60.0, 80.0), np.float32), max_value=1.0)
        assert rgb.max() <= 1.0 and np.abs(luminance(rgb) - y).max() < 1e-5
        expect = metrics.psnr(np.clip(linear_to_srgb(rgb).astype(np.float64), 0, 1) * 255.0, gt[f])
        assert r["per_frame"][f]["psnr"] == pytest.approx(expect, abs=1e-6)


def test_flicker_of_evaluation_matches_metric_function(clip):
    # The streaming accumulator gives the same numbers as metrics.flicker on whole lists.
    gt = evaluate.load_ground_truth(evaluate.list_frames(clip))
    lin = [evaluate.u8_to_linear(g) for g in gt]
    ab = [chroma_of(x) for x in lin]
    L = [y_to_L(luminance(x)) for x in lin]
    acc = evaluate._FlickerAccumulator(gt)
    shifted = [a + (2.0 if t % 2 else 0.0) for t, a in enumerate(ab)]
    for t in (3, 0, 7, 1, 2, 6, 5, 4):                       # any arrival order
        acc.add(t, shifted[t])
    pred, own = acc.result()
    assert own == pytest.approx(metrics.flicker(ab, L), rel=1e-9)
    assert pred == pytest.approx(metrics.flicker(shifted, L), rel=1e-9)
    assert not acc.pred_ab                                    # everything was released


def test_cli_eval_table_json_and_errors(clip, tmp_path, capsys):
    root = os.path.dirname(clip)
    fast = _fast_args()
    rc = main(["eval", "--clips-root", root, "--refs", "0,last", "--size", "64x48",
               "--limit-frames", "5", "--json", "--out", str(tmp_path / "o")] + fast)
    assert rc == 0
    cap = capsys.readouterr()
    js = json.loads(cap.out)
    c = js["clips"][0]
    assert c["frames"] == 5 and c["refs"] == [0, 4] and (c["width"], c["height"]) == (64, 48)
    assert js["summary"]["psnr"] == pytest.approx(c["psnr"])
    assert "square" in cap.err and "PSNR" in cap.err                # progress line per clip
    assert os.path.isfile(tmp_path / "o" / "summary.json")
    assert os.path.isfile(tmp_path / "o" / "square" / "contact_sheet.png")

    rc = main(["eval", "--clip", clip, "--refs", "0", "--limit-frames", "3"] + fast)
    assert rc == 0
    table = capsys.readouterr().out
    assert "PSNR" in table and "mean (1 clips)" in table and "square" in table

    assert main(["eval", "--clip", str(tmp_path / "missing")]) == 2
    assert "clip folder not found" in capsys.readouterr().err
    assert main(["eval", "--clip", clip, "--refs", "99"]) == 2
    err = capsys.readouterr().err
    assert "outside the clip" in err and clip in err
    # --out = the clips' root: the report would land among the clip's frames; refused, nothing written
    frames_before = sorted(os.listdir(clip))
    assert main(["eval", "--clips-root", root, "--out", root]) == 2
    assert "among the clip's own frames" in capsys.readouterr().err
    assert sorted(os.listdir(clip)) == frames_before and not os.path.exists(os.path.join(root, "summary.json"))
    twin = _write_clip(str(tmp_path / "elsewhere" / "square"), n=2)
    assert main(["eval", "--clip", clip, "--clip", twin, "--out", str(tmp_path / "o2")]) == 2
    assert "two clips named square" in capsys.readouterr().err and not (tmp_path / "o2").exists()


def test_parse_settings_and_mattes(clip, tmp_path, capsys):
    from nuke_colorize.commands.eval import parse_settings
    assert parse_settings(["a=3", "b=0.5", "c=true", "d=medium", "e=[1, 2]"]) == \
        {"a": 3, "b": 0.5, "c": True, "d": "medium", "e": [1, 2]}
    with pytest.raises(InputError):
        parse_settings(["novalue"])
    # mattes named like the frames, found under --matte-root/<clip name>/
    mroot = tmp_path / "mattes"
    (mroot / "square").mkdir(parents=True)
    for t in range(4):
        m = np.zeros((64, 96), np.uint8)
        m[20:40, 10 + 6 * t:30 + 6 * t] = 255
        cv2.imwrite(str(mroot / "square" / f"{t:05d}.png"), m)
    paths = evaluate.list_frames(clip)[:4]
    mp = evaluate.matte_paths(str(mroot / "square"), paths)
    assert [os.path.basename(p) for p in mp] == [f"{t:05d}.png" for t in range(4)]
    ids, kind = evaluate._read_matte(mp[1], (48, 32))
    assert kind == "ids"            # a one-channel 8-bit matte: associated over time (matte_ids=auto)
    assert ids.shape == (32, 48) and ids.dtype == np.int32 and set(np.unique(ids)) == {0, 255}
    fast = _fast_args()
    assert main(["eval", "--clip", clip, "--limit-frames", "4", "--matte-root", str(mroot), "--json"] + fast) == 0
    r = json.loads(capsys.readouterr().out)["clips"][0]
    # inner/outer PSNR: the regions' squared errors add up to the whole frame's
    n_in = np.array([((np.asarray(cv2.imread(p, cv2.IMREAD_UNCHANGED)) > 0).sum()) for p in mp])
    N = 64 * 96
    for pf, k in zip(r["per_frame"], n_in):
        mse = lambda db: 255.0 ** 2 / 10 ** (db / 10)  # noqa: E731
        if pf["keyframe"]:
            continue
        whole = (k * mse(pf["psnr_inner"]) + (N - k) * mse(pf["psnr_outer"])) / N
        assert 10 * np.log10(255.0 ** 2 / whole) == pytest.approx(pf["psnr"], abs=1e-6)
    nonkey = [pf for pf in r["per_frame"] if not pf["keyframe"]]
    assert r["psnr_inner"] == pytest.approx(np.mean([pf["psnr_inner"] for pf in nonkey]))
    assert r["psnr_outer"] == pytest.approx(np.mean([pf["psnr_outer"] for pf in nonkey]))
    assert main(["eval", "--clip", clip, "--limit-frames", "5", "--matte-root", str(mroot)]) == 2
    assert "no matte for 00004.png" in capsys.readouterr().err


@pytest.mark.davis
@pytest.mark.slow
def test_davis_clip_tiny():
    d = davis_clip("blackswan")
    r = evaluate.evaluate_clip(str(d), refs="0", size=(128, 72), limit_frames=6,
                               settings=_fast_settings())
    assert r["frames"] == 6
    # grey alone is about 24 dB on DAVIS at this protocol; colourisation must beat it clearly
    assert r["psnr"] > 28.0
    assert r["flicker_gt"] > 0 and r["flicker"] < 3 * r["flicker_gt"]


# ---------------------------------------------------------------- refused before any clip is computed
@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a clip is evaluated: these refusals must come before any work."""
    def evaluate_clip(*a, **k):
        raise AssertionError("a clip was evaluated before the refusal")
    monkeypatch.setattr(evaluate, "evaluate_clip", evaluate_clip)


def _err_line(capsys):
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("nuke-colorize: error: ") and "Traceback" not in err, err
    return lines[0]


def test_eval_out_that_is_a_file_is_refused_up_front(clip, tmp_path, capsys, no_work):
    afile = tmp_path / "afile"
    afile.write_text("")
    assert main(["eval", "--clip", clip, "--out", str(afile)]) == 2
    line = _err_line(capsys)
    assert str(afile) in line and "is a file, not a folder" in line
    assert main(["eval", "--clip", clip, "--out", str(afile / "sub")]) == 2
    line = _err_line(capsys)
    assert str(afile) in line and "is a file" in line and "cannot be made under it" in line
    assert afile.read_text() == ""


def test_eval_out_that_cannot_be_made_is_refused_up_front(clip, tmp_path, capsys, no_work):
    if os.path.isdir("/proc/self"):       # a virtual folder: no folder can be made in it, even by root
        assert main(["eval", "--clip", clip, "--out", "/proc/evalout"]) == 2
        line = _err_line(capsys)
        assert "/proc/evalout" in line and "cannot be made or written" in line and "/proc" in line
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):
            return                            # root ignores the mode
        assert main(["eval", "--clip", clip, "--out", str(ro / "runs")]) == 2
        assert "cannot be made or written" in _err_line(capsys)
    finally:
        ro.chmod(0o755)
    assert list(ro.iterdir()) == []           # the probe left nothing behind


def test_eval_out_report_paths_taken_by_folders_are_refused(clip, tmp_path, capsys, no_work):
    (tmp_path / "o" / "summary.json").mkdir(parents=True)
    assert main(["eval", "--clip", clip, "--out", str(tmp_path / "o")]) == 2
    assert "summary.json" in _err_line(capsys)
    (tmp_path / "o2").mkdir()
    (tmp_path / "o2" / "square").write_text("")        # the clip's report folder is a file
    assert main(["eval", "--clip", clip, "--out", str(tmp_path / "o2")]) == 2
    line = _err_line(capsys)
    assert os.path.join("o2", "square") in line and "is a file" in line
    assert not [n for n in os.listdir(tmp_path / "o") if n.startswith(".nc-eval-probe")]


def test_eval_refs_checked_for_every_clip_before_any_work(tmp_path, capsys, no_work):
    root = tmp_path / "clips"
    _write_clip(str(root / "a_long"), n=5)
    _write_clip(str(root / "b_two"), n=2)
    assert main(["eval", "--clips-root", str(root), "--refs", "4"]) == 2
    line = _err_line(capsys)
    assert str(root / "b_two") in line and "--refs 4" in line and "outside the clip's 2 frames (0-1)" in line
    # --limit-frames shortens every clip: said so in the refusal
    assert main(["eval", "--clips-root", str(root), "--refs", "3", "--limit-frames", "3"]) == 2
    line = _err_line(capsys)
    assert str(root / "a_long") in line and "--limit-frames 3" in line


# ---------------------------------------------------------------- a clip without colour
def test_flicker_ratio_is_undefined_when_the_truth_does_not_flicker():
    assert evaluate.flicker_ratio(6.8e-6, 5.2e-15) is None        # a grey truth: float noise
    assert evaluate.flicker_ratio(0.3, 1.2) == pytest.approx(0.25)
    assert math.isnan(evaluate.flicker_ratio(math.nan, math.nan))
    grey = {"clip": "grey", "frames": 3, "grey_truth": True, "flicker": 6.8e-6, "flicker_gt": 5e-15,
            "flicker_ratio": None}
    colour = {"clip": "colour", "frames": 3, "grey_truth": False, "flicker": 0.3, "flicker_gt": 1.2,
              "flicker_ratio": 0.25}
    for r in (grey, colour):
        r.update({k: 1.0 for k in evaluate.SUMMARY_KEYS if k not in r})
    s = evaluate.summarise([grey, colour])
    assert s["flicker_ratio"] == pytest.approx(0.25)                # the grey clip is left out
    assert s["grey_truth_clips"] == ["grey"]
    assert evaluate.summarise([grey])["flicker_ratio"] is None
    from nuke_colorize.commands.eval import format_table
    table = format_table([grey, colour], s)
    row = [ln for ln in table.splitlines() if ln.startswith("grey")][0]
    assert " - " in row and "1355" not in table


def test_is_grey():
    g = np.full((16, 16, 3), 90, np.uint8)
    assert evaluate.is_grey(g)
    g[3, 3] = (90, 92, 91)                                           # within 2 codes: still grey
    assert evaluate.is_grey(g)
    g[4, 4] = (120, 90, 90)
    assert not evaluate.is_grey(g)


def test_eval_of_a_grey_clip_notes_it_and_reports_no_flicker_ratio(tmp_path, capsys):
    folder = tmp_path / "grey"
    _write_clip(str(folder), n=3)
    for p in folder.iterdir():             # the same frames without their colour
        img = cv2.imread(str(p))
        cv2.imwrite(str(p), cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR))
    assert main(["eval", "--clip", str(folder), "--json"] + _fast_args()) == 0
    cap = capsys.readouterr()
    c = json.loads(cap.out)["clips"][0]
    assert c["grey_truth"] is True and c["flicker_ratio"] is None and c["flicker_gt"] < 1e-6
    notes = [ln for ln in cap.err.splitlines() if "note:" in ln]
    assert len(notes) == 1 and str(folder) in notes[0] and "no colour" in notes[0] and "PSNR" in notes[0]
