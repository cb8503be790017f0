"""Validation of command-line values that the robustness table's rows do not reach in detail:
``--ref`` at negative frames, empty and duplicate references, ``demo --size``,
``--saturation``, ``--out-colorspace`` and the exemplar backend's setting ranges."""
import os

import numpy as np
import pytest

from conftest import write_oiio as _write
from nuke_colorize.cli import join_negative_refs, main
from nuke_colorize.errors import InputError

W, H = 64, 48


# ---------------------------------------------------------------- --ref -2=PATH
@pytest.mark.parametrize("argv,want", [
    (["render", "--ref", "-2=a.png"], ["render", "--ref=-2=a.png"]),
    (["render", "--ref", "-1001=/x/a.png", "--ref", "3=b.png"], ["render", "--ref=-1001=/x/a.png", "--ref", "3=b.png"]),
    (["render", "--ref", "-2"], ["render", "--ref", "-2"]),                   # not FRAME=PATH: left alone
    (["render", "--ref-colorspace", "-2=x"], ["render", "--ref-colorspace", "-2=x"]),
    (["render", "--", "--ref", "-2=a.png"], ["render", "--", "--ref", "-2=a.png"]),
    (["render", "--ref=-2=a.png"], ["render", "--ref=-2=a.png"]),
])
def test_join_negative_refs(argv, want):
    assert join_negative_refs(argv) == want


def test_render_with_a_keyframe_at_a_negative_frame(tmp_path, capsys):
    from nuke_colorize.io import write_image
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    for f in (-3, -2, -1):
        y = 0.1 + 0.7 * xx / W + 0.01 * f
        _write(tmp_path / "plate" / f"plate.{f:04d}.exr", np.repeat(y[..., None], 3, -1), "half")
    ref = np.stack([0.2 + 0.6 * xx / W, np.full_like(xx, 0.35), 0.8 - 0.6 * yy / H], -1)
    write_image(str(tmp_path / "ref.png"), ref, ["R", "G", "B"])
    code = main(["render", "--plate", str(tmp_path / "plate/plate.####.exr"), "--frames=-3--1",
                 "--ref", f"-2={tmp_path / 'ref.png'}", "--out", str(tmp_path / "out/c.####.exr"),
                 "--set", "feature_size=64", "--set", "max_working_size=64", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["c.-001.exr", "c.-002.exr", "c.-003.exr"]


# ---------------------------------------------------------------- references
@pytest.mark.parametrize("text", ["1=", "1= ", "", "  "])
def test_empty_reference_path_names_the_argument(text):
    from nuke_colorize.render import RefSpec
    with pytest.raises(InputError) as exc:
        RefSpec.parse(text)
    assert f"--ref {text!r} names no image" in str(exc.value)


def test_two_keyframes_for_one_frame_are_refused_naming_both():
    from nuke_colorize.render import RefSpec, check_references
    check_references([RefSpec("a.png", 2), RefSpec("b.png", 3), RefSpec("still.png"), RefSpec("still.png")])
    with pytest.raises(InputError) as exc:
        check_references([RefSpec("a.png", 2), RefSpec("s.png"), RefSpec("b.png", 2)])
    assert str(exc.value).startswith("frame 2: two keyframe references for one frame: a.png and b.png")
    with pytest.raises(InputError, match="a.png, given twice"):
        check_references([RefSpec("a.png", 2), RefSpec("./a.png", 2)])


def test_shot_file_two_references_for_one_frame_names_both(tmp_path):
    from nuke_colorize.shot import Shot
    with pytest.raises(InputError) as exc:
        Shot.from_dict({"plate": "p.####.exr", "frames": [1, 3],
                        "references": [{"frame": 2, "image": "a.png"}, {"image": "s.png"},
                                       {"frame": 2, "image": "b.png"}]}, str(tmp_path))
    assert "two references for frame 2: a.png (reference #1) and b.png (reference #3)" in str(exc.value)


# ---------------------------------------------------------------- demo --size
@pytest.mark.parametrize("text,want", [("640x360", (640, 360)), ("64X36", (64, 36)), (" 8 x 8 ", (8, 8)),
                                       ("1x1", (1, 1))])
def test_demo_size_accepts_w_x_h(text, want):
    from nuke_colorize.commands.demo import parse_size
    assert parse_size(text) == want


@pytest.mark.parametrize("text", ["abc", "64x36x2", "0x36", "64x0", "64", "x36", "64x-3", "6.5x3", ""])
def test_demo_size_refuses_malformed_or_non_positive(text):
    from nuke_colorize.commands.demo import parse_size
    with pytest.raises(InputError, match="is not a plate size"):
        parse_size(text)


def test_demo_refuses_a_bad_size_before_writing_anything(tmp_path, capsys):
    assert main(["demo", "--size", "0x36", "--out", str(tmp_path / "demo")]) == 2
    assert "--size '0x36'" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


# ---------------------------------------------------------------- saturation, output colourspace
@pytest.mark.parametrize("value", [0, 0.0, 1, 2.5, 4])
def test_saturation_range_accepts(value):
    from nuke_colorize.color import check_saturation
    assert check_saturation(value) == float(value)


@pytest.mark.parametrize("value", [-0.1, 4.01, 1e30, float("nan"), float("inf"), True, "1", None])
def test_saturation_range_refuses(value):
    from nuke_colorize.color import check_saturation
    with pytest.raises(InputError, match="not a chroma multiplier"):
        check_saturation(value)


def test_output_colorspace_is_checked_without_pixels():
    from nuke_colorize.color import check_output_colorspace
    for ok in ("auto", "linear", "srgb", "rec709", "cineon", "ACEScg"):
        check_output_colorspace(ok)
    with pytest.raises(InputError, match="output colourspace 'bogus'"):
        check_output_colorspace("bogus")


@pytest.mark.parametrize("ext", ["png", "jpg", "dpx", "tif"])
def test_confidence_layer_on_a_format_without_channel_names_is_refused(tmp_path, capsys, ext):
    """PNG, JPEG and DPX keep colour and alpha only: the layer was dropped without a word (exit 0,
    no confidence anywhere); a TIFF kept it as an unnamed fourth channel, read back as alpha.
    Now refused before any work, naming the way out."""
    _tiny_shot(tmp_path, (1, 1))
    argv = ["render", "--plate", str(tmp_path / "plate/plate.####.exr"), "--ref", f"1={tmp_path / 'ref.png'}",
            "--set", "feature_size=64", "--set", "max_working_size=64", "--quiet", "--confidence-layer"]
    code = main(argv + ["--out", str(tmp_path / f"out/c.####.{ext}")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "cannot hold the confidence layer" in err and "--confidence-out" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    # a layer-holding format takes it
    assert main(argv + ["--out", str(tmp_path / "out/c.####.exr")]) == 0, capsys.readouterr().err
    from nuke_colorize.io import read_image
    assert read_image(str(tmp_path / "out/c.0001.exr")).channels[-1] == "confidence.Y"


# ---------------------------------------------------------------- exemplar settings
def test_every_numeric_exemplar_setting_has_a_range():
    from nuke_colorize.backends.exemplar import ExemplarBackend as B
    d = B.default_settings()
    numeric = {k for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    lists = {k for k, v in d.items() if isinstance(v, (list, tuple))}
    assert numeric <= set(B.RANGES), sorted(numeric - set(B.RANGES))
    assert lists <= set(B.LIST_RANGES), sorted(lists - set(B.LIST_RANGES))
    for k, (lo, hi) in B.RANGES.items():       # the defaults themselves are in range
        assert lo <= d[k] <= hi, k


@pytest.mark.parametrize("settings,fragment", [
    ({"position_sigma": 0}, "position_sigma=0 is outside [0.05, 10.0]"),
    ({"position_sigma": -1}, "position_sigma=-1 is outside"),
    ({"position_prior": -5}, "position_prior=-5 is outside [0.0, 1.0]"),
    ({"position_prior": 1e30}, "position_prior=1e+30 is outside"),
    ({"tap_weights": [-1, 1, 1]}, "value #1 (-1) is outside [0.0, 100.0]"),
    ({"tap_weights": [1, 1, 1e30]}, "value #3"),
    ({"tap_weights": [0, 0, 0]}, "weighs no feature tap"),
    ({"tap_weights": [1, 1]}, "must be a list of 3 numbers"),
    ({"tap_weights": [1, float("nan"), 1]}, "must be a list of 3 numbers"),
    ({"tap_weights": [1, True, 1]}, "must be a list of 3 numbers"),
    ({"topk": 2.5}, "topk=2.5 must be a whole number"),
    ({"memory_count": 1.5}, "memory_count=1.5 must be a whole number"),
])
def test_exemplar_settings_out_of_range_are_refused_before_the_network_loads(settings, fragment, monkeypatch):
    from nuke_colorize.backends import exemplar
    monkeypatch.setattr(exemplar.feats, "load_mobilenetv2", lambda device: pytest.fail("network loaded"))
    with pytest.raises(InputError) as exc:
        exemplar.ExemplarBackend(settings)
    assert fragment in str(exc.value)


def test_exemplar_settings_in_range_are_accepted(monkeypatch):
    from nuke_colorize.backends import exemplar
    monkeypatch.setattr(exemplar.feats, "load_mobilenetv2", lambda device: None)
    b = exemplar.ExemplarBackend({"position_sigma": 0.05, "position_prior": 0.0, "tap_weights": [0, 0, 1],
                                  "topk": 8.0})
    assert b.settings["topk"] == 8.0


# ---------------------------------------------------------------- stdout closed by its reader
def _run_with_closed_stdout(argv):
    """Run the CLI with stdout a pipe whose reader has already gone (``... | head -1`` after
    its line): every write to stdout fails with EPIPE."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    r, w = os.pipe()
    os.close(r)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    try:
        return subprocess.run([sys.executable, "-m", "nuke_colorize", *argv], stdout=w,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, timeout=120)
    finally:
        os.close(w)


@pytest.mark.parametrize("argv", [["models", "list", "--json"], ["models", "list"], ["--help"]])
def test_a_closed_stdout_ends_the_command_quietly(argv):
    p = _run_with_closed_stdout(argv)
    assert p.returncode in (0, 141), p.stderr
    assert p.stderr.decode() == ""       # no 'internal error: BrokenPipeError', no 'Exception ignored'


def test_a_broken_pipe_that_is_not_stdout_stays_an_internal_error(monkeypatch, capsys):
    """A pipe to another process (a farm client, a worker's engine) breaking is a failure to report."""
    from nuke_colorize import cli

    parser = cli.build_parser()
    args = parser.parse_args(["models", "list"])

    def broken(_args):
        raise BrokenPipeError(32, "Broken pipe")
    args.func = broken
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setattr(parser, "parse_args", lambda argv: args)
    assert cli.main(["models", "list"]) == 1          # stdout (pytest's capture) is still open
    assert "internal error: BrokenPipeError" in capsys.readouterr().err


# ---------------------------------------------------------------- options the shot file decides
def _tiny_shot(tmp_path, frames=(1, 3)):
    import json
    from nuke_colorize.io import write_image
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    for f in range(frames[0], frames[1] + 1):
        y = 0.1 + 0.7 * xx / W + 0.01 * f
        _write(tmp_path / "plate" / f"plate.{f:04d}.exr", np.repeat(y[..., None], 3, -1), "half")
    ref = np.stack([0.2 + 0.6 * xx / W, np.full_like(xx, 0.35), 0.8 - 0.6 * yy / H], -1)
    write_image(str(tmp_path / "ref.png"), ref, ["R", "G", "B"])
    shot = tmp_path / "shot.json"
    shot.write_text(json.dumps({"plate": "plate/plate.####.exr", "frames": list(frames),
                                "references": [{"frame": frames[0], "image": "ref.png"}],
                                "settings": {"feature_size": 64, "max_working_size": 64}}))
    return shot


@pytest.mark.parametrize("extra", [["--saturation", "0"], ["--colorspace", "linear"], ["--backend", "exemplar"],
                                   ["--device", "cpu"], ["--ref-colorspace", "srgb"], ["--out-colorspace", "srgb"]])
def test_render_shot_refuses_options_the_shot_file_decides(tmp_path, capsys, extra):
    """They were accepted and silently ignored (``--saturation 0`` rendered full colour)."""
    shot = _tiny_shot(tmp_path)
    code = main(["render", "--shot", str(shot), "--frames", "1-1", "--quiet"] + extra)
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{extra[0]} cannot be combined with --shot" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "shot_cache").exists()


@pytest.mark.parametrize("extra", [["--colorspace", "linear"], ["--backend", "exemplar"], ["--device", "cpu"]])
def test_suggest_keyframe_shot_refuses_options_the_shot_file_decides(tmp_path, capsys, extra):
    shot = _tiny_shot(tmp_path)
    code = main(["suggest-keyframe", "--shot", str(shot), "--quiet"] + extra)
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{extra[0]} cannot be combined with --shot" in err


def test_suggest_keyframe_shot_honours_frames(tmp_path, capsys):
    """``--frames`` with ``--shot`` was ignored: every frame of the shot was ranked."""
    import json
    shot = _tiny_shot(tmp_path, (1, 4))
    code = main(["suggest-keyframe", "--shot", str(shot), "--frames", "1-2", "--json", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert sorted(json.loads(out)["confidence"]) == ["1", "2"]
    code = main(["suggest-keyframe", "--shot", str(shot), "--frames", "3-9", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "frames 5-9 are outside the shot's frames 1-4" in err, err


def test_suggest_keyframe_shot_frames_between_keyframes_outside_them(tmp_path, capsys):
    """A shot keyed at 1, 4 and 6 ranked on --frames 2-3 failed ("reference frame 1 is outside
    the frame range 2-3"): the frames are now colourised from the keyframes either side, and
    rank as they do in the whole shot."""
    import json
    shot = _tiny_shot(tmp_path, (1, 6))
    desc = json.loads(shot.read_text())
    desc["references"] = [{"frame": f, "image": "ref.png"} for f in (1, 4, 6)]
    shot.write_text(json.dumps(desc))
    code = main(["suggest-keyframe", "--shot", str(shot), "--json", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    whole = json.loads(out)["confidence"]
    for frames, want in (("2-3", ["2", "3"]), ("5", ["5"]), ("2,5", ["2", "5"])):
        code = main(["suggest-keyframe", "--shot", str(shot), "--frames", frames, "--json", "--quiet"])
        out, err = capsys.readouterr()
        assert code == 0, err
        got = json.loads(out)
        assert sorted(got["confidence"]) == want
        assert got["confidence"] == {f: whole[f] for f in want}
        assert {s["frame"] for s in got["suggestions"]} <= {int(f) for f in want}


def test_render_shot_cache_moves_the_default_output_with_it(tmp_path, capsys):
    """``render --shot S --cache DIR`` put the segments in DIR but wrote the frames into the
    file's own cache folder (``S_cache/output``), creating the folder --cache was to avoid. An
    output the file names stays where it says."""
    import json
    shot = _tiny_shot(tmp_path, (1, 2))
    code = main(["render", "--shot", str(shot), "--cache", str(tmp_path / "other"), "--json", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert sorted(json.loads(out)["outputs"]) == [str(tmp_path / "other/output" / f"colour.000{f}.exr") for f in (1, 2)]
    assert not (tmp_path / "shot_cache").exists()
    desc = json.loads(shot.read_text())
    shot.write_text(json.dumps(dict(desc, output="named/c.####.exr")))
    code = main(["render", "--shot", str(shot), "--cache", str(tmp_path / "other"), "--json", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert sorted(json.loads(out)["outputs"]) == [str(tmp_path / "named" / f"c.000{f}.exr") for f in (1, 2)]


def test_render_of_frames_after_the_keyframe_points_to_the_cache(tmp_path, capsys):
    """Rendering a sub-range that leaves out the keyframe (frames 2-3 of a shot keyed at 1) is
    refused by a plain render, which colours only --frames; the message now says how to do it:
    through the shot cache, which walks the keyframe's chain and writes only the frames asked."""
    _tiny_shot(tmp_path, (1, 3))
    common = ["render", "--plate", str(tmp_path / "plate/plate.####.exr"), "--ref", f"1={tmp_path / 'ref.png'}",
              "--out", str(tmp_path / "out/c.####.exr"), "--set", "feature_size=64", "--set", "max_working_size=64",
              "--frames", "2-3", "--quiet"]
    assert main(common) == 2
    err = capsys.readouterr().err
    assert "reference frame 1 is outside the frame range 2-3" in err and "--cache DIR" in err, err
    assert main(common + ["--cache", str(tmp_path / "cache")]) == 0, capsys.readouterr().err
    assert sorted(os.listdir(tmp_path / "out")) == ["c.0002.exr", "c.0003.exr"]


def test_render_defaults_still_apply_without_shot(tmp_path, capsys):
    import json
    shot = _tiny_shot(tmp_path, (1, 2))
    code = main(["render", "--plate", str(tmp_path / "plate/plate.####.exr"), "--ref", f"1={tmp_path / 'ref.png'}",
                 "--out", str(tmp_path / "out/c.####.exr"), "--set", "feature_size=64",
                 "--set", "max_working_size=64", "--json", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out)
    assert summary["backend"] == "exemplar" and summary["frames"] == 2
    assert shot.exists()


def test_eval_refuses_an_unknown_device_as_a_usage_error(capsys):
    """``eval --device gpu`` ended in an internal error (exit 1) from torch, after reading the clip."""
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--clip", "/nonexistent", "--device", "gpu"])
    assert exc.value.code == 2
    assert "invalid choice: 'gpu'" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["render", "library"])
def test_cuda_without_a_gpu_is_a_usage_error_before_anything_is_written(tmp_path, capsys, monkeypatch, command):
    """``--device cuda`` on a machine without a CUDA GPU ended in an internal error (exit 1,
    torch's "Found no NVIDIA driver") with the default backend and the library; it is a bad
    option value for this machine: one line, exit 2, nothing written (as with deepexemplar)."""
    from nuke_colorize import torchinfo
    monkeypatch.setattr(torchinfo, "cuda_available", lambda: False)
    _tiny_shot(tmp_path, (1, 2))
    if command == "render":
        argv = ["render", "--plate", str(tmp_path / "plate/plate.####.exr"), "--ref", f"1={tmp_path / 'ref.png'}",
                "--out", str(tmp_path / "out/c.####.exr"), "--device", "cuda", "--quiet"]
        written = tmp_path / "out"
    else:
        argv = ["library", "index", str(tmp_path), "-o", str(tmp_path / "lib.ncindex"), "--device", "cuda", "--quiet"]
        written = tmp_path / "lib.ncindex"
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "nuke-colorize: error: device 'cuda' was asked for but no CUDA GPU is available (use --device cpu)"
    assert not written.exists()


def test_models_dir_is_taken_before_or_after_the_action(tmp_path, capsys):
    """``models verify --models-dir DIR`` was a usage error: the option existed only before
    the action, while models/README.md said every models command takes it."""
    for argv in (["models", "--models-dir", str(tmp_path / "a"), "list"],
                 ["models", "list", "--models-dir", str(tmp_path / "b")]):
        assert main(argv) == 0
        assert capsys.readouterr().out.splitlines()[0] == f"models folder: {argv[2] if argv[1] == '--models-dir' else argv[3]}"
    assert main(["models", "verify", "--models-dir", str(tmp_path / "c")]) == 3
    assert f"{tmp_path / 'c'}" in capsys.readouterr().err


# ---------------------------------------------------------------- a command given no action
@pytest.mark.parametrize("argv,usage,actions", [
    ([], "usage: nuke-colorize [", ["render", "cache", "library", "models", "farm"]),
    (["cache"], "usage: nuke-colorize cache ", ["build", "status", "clear"]),
    (["library"], "usage: nuke-colorize library ", ["index", "query"]),
    (["farm"], "usage: nuke-colorize farm ", ["openjd", "deadline", "opencue"]),
    (["cache", "--debug"], "usage: nuke-colorize cache ", ["build", "status", "clear"]),
])
def test_a_command_given_no_action_prints_its_actions_on_stdout_and_succeeds(capsys, argv, usage, actions):
    """Nothing harmless to default to: the help, as --help prints it, and exit 0 (was exit 2
    with the help on stderr for cache and library, an argparse error for farm)."""
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert out.startswith(usage) and err == ""
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("    ") and line.split()]
    assert set(actions) <= set(listed), listed


def test_models_given_no_action_lists_the_models(tmp_path, capsys):
    folder = ["--models-dir", str(tmp_path)]
    assert main(["models", *folder, "list"]) == 0
    listed = capsys.readouterr()
    assert main(["models", *folder]) == 0
    assert capsys.readouterr() == listed and listed.out.startswith(f"models folder: {tmp_path}\n")


# ---------------------------------------------------------------- --help of every command
def _parsers():
    import argparse
    from nuke_colorize.cli import build_parser

    def walk(parser, name):
        yield name, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, p in action.choices.items():
                    yield from walk(p, f"{name} {sub}")
    return list(walk(build_parser(), "nuke-colorize"))


def test_every_option_of_every_command_is_described_with_its_default(capsys):
    """Each sub-command's --help renders; every option has a help text, and one whose default
    is a value (not None/False/empty) states it."""
    import argparse
    missing = []
    for name, parser in _parsers():
        parser.format_help()
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            if action.help == argparse.SUPPRESS:
                continue
            opt = "/".join(action.option_strings) or action.dest
            if not action.help:
                missing.append(f"{name} {opt}: no help")
                continue
            d = action.default
            if d not in (None, False, [], "", argparse.SUPPRESS) and not isinstance(d, bool) \
                    and "default" not in action.help:
                missing.append(f"{name} {opt}: default {d!r} not stated")
    assert not missing, "\n".join(missing)


def test_a_damaged_library_index_is_named_without_numpys_advice_to_load_it_unsafely(tmp_path, capsys):
    bad = tmp_path / "bad.ncindex"
    bad.write_text("garbage\n")
    assert main(["library", "query", str(bad), "--plate", str(tmp_path / "p.####.exr")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: not a library index (unreadable or damaged: not an .npz archive)" in err
    assert "allow_pickle" not in err and "unsafely" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["--debug", "render", "--plate", "/nonexistent/p.####.exr", "--out", "x.exr"],
                                  ["render", "--plate", "/nonexistent/p.####.exr", "--out", "x.exr", "--debug"],
                                  ["cache", "status", "/nonexistent/shot.json", "--debug"]])
def test_debug_is_taken_before_or_after_the_command(argv):
    """The error lines say 'run with --debug'; given after the command it was a usage error."""
    with pytest.raises(InputError):
        main(argv)


def test_without_debug_the_error_is_one_line(capsys):
    assert main(["cache", "status", "/nonexistent/shot.json"]) == 2
    assert capsys.readouterr().err.startswith("nuke-colorize: error: /nonexistent/shot.json: shot file not found")


def test_suggest_keyframe_refuses_a_library_shot_naming_why(tmp_path, capsys):
    """It said 'no reference given (add --ref ... or --library INDEX)': suggest-keyframe has no
    --library, and the shot had one."""
    import json
    shot = _tiny_shot(tmp_path)
    data = json.loads(shot.read_text())
    (tmp_path / "lib.ncindex").write_text("")
    data.update(library="lib.ncindex", references=[])
    shot.write_text(json.dumps(data))
    assert main(["suggest-keyframe", "--shot", str(shot), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "does not rank shots with automatic references ('library')" in err, err


def test_out_of_memory_names_options_that_exist(monkeypatch, capsys):
    """It said 'lower --working-size or use a smaller tile': no command has --working-size."""
    import nuke_colorize.commands.cache as cache_cmd

    def boom(args):
        raise MemoryError
    monkeypatch.setattr(cache_cmd, "run_status", boom)
    assert main(["cache", "status", "x.json"]) == 1
    err = capsys.readouterr().err
    assert "out of memory" in err and "--working-size" not in err
    assert "--set max_working_size=N" in err and "--set working_size=N" in err
