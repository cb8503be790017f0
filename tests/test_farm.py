"""Farm job shapes: OpenJD bundle (validated and run with openjd-cli), Deadline 10 files, OpenCue spec.

The engine is replaced by small fake executables that log what they are asked to do and refuse
to render a frame whose cache entry the pre-pass has not written, so these tests prove the
job *shape* (pre-pass before render, every frame rendered exactly once, chunking) through the
schedulers' own tools. tests/test_farm_e2e.py runs the real engine through openjd.
"""
from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest


from nuke_colorize.cli import main as cli_main
from nuke_colorize.errors import ColorizeError, InputError
from nuke_colorize.farm import deadline, openjd
from nuke_colorize.farm.files import write_files
from nuke_colorize.farm.nkscan import scan_nuke_script
from nuke_colorize.farm.plan import build_plan, parse_frame_range
from nuke_colorize.farm.shotinfo import load_shot_info, nearest_keyframe_segments
from nuke_colorize.io import frame_path

BIN = Path(sys.executable).parent
OPENJD = BIN / "openjd"

# A fake nuke-colorize: "cache build SHOT --frames A-B" writes cache/<frame>.done for each frame;
# "render --shot SHOT --frames A-B" fails unless every frame's cache entry exists, then writes
# out/<frame>.txt. Every call is appended to calls.log in $FAKE_ROOT (default: beside the shot).
# With $FAKE_RENDER_SLEEP a render call hangs that many seconds before rendering.
FAKE_COLORIZE = r'''
import os, sys, time
args = sys.argv[1:]
if any(a.startswith("--frames=") for a in args):   # the form the farm writes: --frames=A-B
    i = next(i for i, a in enumerate(args) if a.startswith("--frames="))
    args[i:i + 1] = ["--frames", args[i][len("--frames="):]]
def frames(text):
    a, _, b = text[1:].partition("-")
    return range(int(text[0] + a), int(b or text[0] + a) + 1)
if args[:2] == ["cache", "build"]:
    shot, rng = args[2], args[args.index("--frames") + 1]
    kind = "build"
elif args[0] == "render":
    shot, rng = args[args.index("--shot") + 1], args[args.index("--frames") + 1]
    kind = "render"
else:
    sys.exit("fake: unexpected arguments %r" % (args,))
root = os.environ.get("FAKE_ROOT") or os.path.dirname(shot)
with open(os.path.join(root, "calls.log"), "a") as fh:
    fh.write("%s %s %s\n" % (kind, os.path.basename(shot), rng))
if kind == "render" and os.environ.get("FAKE_RENDER_SLEEP"):
    time.sleep(float(os.environ["FAKE_RENDER_SLEEP"]))
os.makedirs(os.path.join(root, "cache"), exist_ok=True)
os.makedirs(os.path.join(root, "out"), exist_ok=True)
for f in frames(rng):
    if kind == "build":
        open(os.path.join(root, "cache", "%s.%d.done" % (os.path.basename(shot), f)), "w").close()
    else:
        if not os.path.exists(os.path.join(root, "cache", "%s.%d.done" % (os.path.basename(shot), f))):
            sys.exit("fake: frame %d rendered before the pre-pass built it" % f)
        with open(os.path.join(root, "out", "%d.txt" % f), "a") as fh:
            fh.write("frame %d\n" % f)
'''

# A fake nuke: "-x [-X Write] -F A-B script.nk" fails unless both shots' cache entries exist
# (a.json and the Colorize group's v_new/shot.json), then writes out/<frame>.txt.
FAKE_NUKE = r'''
import os, sys
args = sys.argv[1:]
assert args[0] == "-x", args
rng, script = args[args.index("-F") + 1], args[-1]
write = args[args.index("-X") + 1] if "-X" in args else ""
root = os.environ.get("FAKE_ROOT") or os.path.dirname(script)
with open(os.path.join(root, "calls.log"), "a") as fh:
    fh.write("nuke %s %s %s\n" % (write, rng, os.path.basename(script)))
a, _, b = rng.partition("-")
os.makedirs(os.path.join(root, "out"), exist_ok=True)
for f in range(int(a), int(b or a) + 1):
    for shot in ("a.json", "shot.json"):
        if not os.path.exists(
                os.path.join(root, "cache", "%s.%d.done" % (shot, f))):
            sys.exit("fake nuke: frame %d of %s not pre-built" % (f, shot))
    with open(os.path.join(root, "out", "%d.txt" % f), "a") as fh:
        fh.write("frame %d\n" % f)
'''

NK = """#! /usr/local/Nuke15.1v3/libnuke-15.1.3.so -nx
version 15.1 v3
Root {
 inputs 0
 name {SCRIPT}
 frame 1001
 first_frame 1001
 last_frame 1012
 format "2048 1556 0 0 2048 1556 1 2K_Super_35(full-ap)"
}
Read {
 inputs 0
 file /plates/a/plate.####.exr
 first 1001
 last 1012
 name Read1
}
Colorize {
 shot_file a.json
 label "colour from\\n{keyframes}"
 name Colorize1
}
Group {
 name Colorize2
 addUserKnob {20 colorize l Colorize}
 addUserKnob {1 shot l "shot name"}
 shot sh_b
 addUserKnob {2 cache_dir l "cache folder"}
 cache_dir caches
 addUserKnob {26 nuke_colorize l "" +INVISIBLE T 1}
}
 Input {
  inputs 0
  name plate
 }
 Read {
  inputs 0
  file ""
  name ColourRead
 }
 Output {
  name Output1
 }
end_group
Colorize {
 cache_dir "[file dirname [value root.name]]/elsewhere"
 name Colorize3
}
Write {
 file out/colour.####.exr
 file_type exr
 name Write1
}
"""


def _nuke_script(root: Path, name: str = "comp.nk", text: str = NK) -> Path:
    """The script above, plus two versions of Colorize2's shot file (v_new is the newer)."""
    nk = root / name
    nk.write_text(text.replace("{SCRIPT}", str(nk)))
    for i, version in enumerate(("v_old", "v_new")):
        folder = root / "caches" / "sh_b" / version
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "shot.json").write_text("{}")
        os.utime(folder / "shot.json", (1_700_000_000 + i, 1_700_000_000 + i))
    return nk


def _exe(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _shot(path: Path, frames=(1001, 1010), keyframes=(1001, 1008), output="out/colour.####.exr",
          cache="colorize_cache") -> Path:
    """A shot file at ``path`` over empty plate and reference files; ``output`` or ``cache``
    None leaves that key out."""
    refs = [{"frame": k, "image": f"ref_{k}.png"} for k in keyframes] + [{"image": "still.jpg"}]
    # the inputs exist (farm commands check that they do); their content is not read here
    (path.parent / "plate").mkdir(parents=True, exist_ok=True)
    for f in range(frames[0], frames[1] + 1):
        Path(frame_path(str(path.parent / "plate" / "plate.####.exr"), f)).touch()
    for ref in refs:
        (path.parent / ref["image"]).touch()
    data = {"plate": "plate/plate.####.exr", "frames": list(frames), "colorspace": "auto",
            "references": refs, "backend": "exemplar", "output": output, "cache": cache}
    path.write_text(json.dumps({k: v for k, v in data.items() if v is not None}))
    return path


def _calls(root: Path):
    return (root / "calls.log").read_text().split("\n")[:-1]


def _rendered(root: Path):
    out = {}
    for p in (root / "out").glob("*.txt"):
        out[int(p.stem)] = p.read_text().count("frame")
    return out


# ------------------------------------------------------------------------------ shot facts
def test_segments_split_at_midpoints_between_keyframes():
    assert nearest_keyframe_segments((1, 10), [1, 6]) == [(1, 1, 3), (6, 4, 10)]
    assert nearest_keyframe_segments((1, 9), [1, 5, 9]) == [(1, 1, 3), (5, 4, 7), (9, 8, 9)]
    assert nearest_keyframe_segments((1001, 1100), []) == [(1001, 1001, 1100)]
    assert nearest_keyframe_segments((1, 10), [50]) == [(1, 1, 10)]


def test_shot_info_reads_frames_segments_and_relative_output(tmp_path):
    info = load_shot_info(str(_shot(tmp_path / "s.json")))
    assert info.frames == (1001, 1010)
    assert [s[0] for s in info.segments] == [1001, 1008]
    assert (info.segments[0][1], info.segments[-1][2]) == (1001, 1010)
    assert all(a[2] + 1 == b[1] for a, b in zip(info.segments, info.segments[1:]))
    assert info.output == str(tmp_path / "out" / "colour.####.exr")
    assert info.segments_within(1006, 1007) == [(1008, 1006, 1007)]


@pytest.mark.parametrize("written, where", [("  out/colour.####.exr\n", "shot folder"),
                                            (" ~/renders/colour.####.exr", "home")])
def test_minimal_shot_reader_resolves_the_output_as_the_shot_reader(tmp_path, monkeypatch, written, where):
    """Without nuke_colorize.shot (the minimal JSON reader) the output is the same path: the
    whitespace around it stripped and ``~`` expanded, as :class:`nuke_colorize.shot.Shot` reads it."""
    expected = {"shot folder": str(tmp_path / "out" / "colour.####.exr"),
                "home": os.path.expanduser("~/renders/colour.####.exr")}[where]
    shot = _shot(tmp_path / "s.json", output=written)
    assert load_shot_info(str(shot)).output == expected
    monkeypatch.setitem(sys.modules, "nuke_colorize.shot", None)   # its import fails
    minimal = load_shot_info(str(shot))
    assert minimal.output == expected
    assert minimal.frames == (1001, 1010) and [s[0] for s in minimal.segments] == [1001, 1008]


@pytest.mark.parametrize("cache, expected", [("c", "c/output/colour.####.exr"),
                                             (None, "s_cache/output/colour.####.exr")])
def test_minimal_shot_reader_gives_the_default_output_of_the_shot_reader(tmp_path, monkeypatch,
                                                                         cache, expected):
    """A shot without ``output`` renders to ``<cache>/output/``, the cache given or
    ``<stem>_cache`` beside the file: the minimal reader names the same pattern."""
    shot = _shot(tmp_path / "s.json", output=None, cache=cache)
    assert load_shot_info(str(shot)).output == str(tmp_path / expected)
    monkeypatch.setitem(sys.modules, "nuke_colorize.shot", None)   # its import fails
    assert load_shot_info(str(shot)).output == str(tmp_path / expected)


def test_shot_info_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_shot_info(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"frames": [10, 1]}))
    with pytest.raises(InputError, match="bad.json.*after last"):
        load_shot_info(str(bad))


@pytest.mark.parametrize("scheduler", ["openjd", "deadline", "opencue"])
def test_shot_with_missing_inputs_is_refused_before_anything_is_written(tmp_path, capsys, scheduler):
    shot = _shot(tmp_path / "s.json")
    os.remove(frame_path(str(tmp_path / "plate" / "plate.####.exr"), 1005))
    code = cli_main(["farm", scheduler, str(shot), "-o", str(tmp_path / "job")])
    err = capsys.readouterr().err
    assert code == 2 and "frame 1005" in err and "missing" in err and str(shot) in err
    assert "--skip-input-check" in err and "Traceback" not in err
    assert not (tmp_path / "job").exists()
    # frames outside the job's range are not needed
    assert cli_main(["farm", scheduler, str(shot), "--frames", "1006-1010", "--dry-run"]) == 0
    capsys.readouterr()
    # a farm that sees the files elsewhere
    assert cli_main(["farm", scheduler, str(shot), "--skip-input-check", "--dry-run"]) == 0
    capsys.readouterr()
    (tmp_path / "plate" / "plate.1005.exr").touch()
    os.remove(tmp_path / "ref_1008.png")
    assert cli_main(["farm", scheduler, str(shot), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "ref_1008.png" in err and "reference for frame 1008 not found" in err


@pytest.mark.parametrize("key, value, expected", [
    ("colorspace", "srgbb", "did you mean srgb?"),
    ("out_colorspace", "ACES - ACEScgg", "'out_colorspace'"),
    ("ocio_config", "no/config.ocio", "OCIO config not found"),   # refused at load before
])
def test_shot_whose_colourspaces_do_not_convert_is_refused_before_submission(tmp_path, capsys, key, value,
                                                                           expected):
    """Every task of such a job would fail on its first frame: refused here, like missing
    inputs, naming the shot file and the key (the farm's own $OCIO may differ:
    --skip-input-check lets it through)."""
    shot = _shot(tmp_path / "s.json")
    data = json.loads(shot.read_text())
    data[key] = value
    shot.write_text(json.dumps(data))
    code = cli_main(["farm", "openjd", str(shot), "-o", str(tmp_path / "job")])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and str(shot) in err and "Traceback" not in err, err
    assert "--skip-input-check" in err
    assert not (tmp_path / "job").exists()
    assert cli_main(["farm", "openjd", str(shot), "--skip-input-check", "--dry-run"]) == 0
    capsys.readouterr()


def test_input_check_reads_the_shot_the_plan_read(tmp_path, monkeypatch):
    """check_inputs uses the shot load_shot_info parsed (the file is not read a second time);
    from the minimal reader, which has no shot, it checks nothing."""
    from nuke_colorize.farm.shotinfo import check_inputs
    shot = _shot(tmp_path / "s.json")
    info = load_shot_info(str(shot))
    os.remove(shot)                       # the shot file is gone: what was read still decides
    os.remove(frame_path(str(tmp_path / "plate" / "plate.####.exr"), 1005))
    with pytest.raises(InputError, match="frame 1005") as err:
        check_inputs(info, 1001, 1010)
    assert str(shot) in err.value.problem
    check_inputs(info, 1006, 1010)        # frames outside the range are not needed
    _shot(tmp_path / "s.json")
    os.remove(frame_path(str(tmp_path / "plate" / "plate.####.exr"), 1005))
    monkeypatch.setitem(sys.modules, "nuke_colorize.shot", None)   # the minimal reader
    minimal = load_shot_info(str(shot))
    assert minimal.shot is None
    check_inputs(minimal, 1001, 1010)


def test_frame_range_must_be_contiguous():
    assert parse_frame_range("1001-1010") == (1001, 1010)
    assert parse_frame_range("17") == (17, 17)
    with pytest.raises(InputError, match="contiguous"):
        parse_frame_range("1-10x2")


# ------------------------------------------------------------------------------ Nuke script scan
def test_nuke_script_scan_finds_colorize_shots_version_range_and_writes(tmp_path):
    nk = _nuke_script(tmp_path)
    info = scan_nuke_script(str(nk))
    assert info.version == "15.1"
    assert info.frames == (1001, 1012)
    assert info.shot_files == [str(tmp_path / "a.json"), str(tmp_path / "caches/sh_b/v_new/shot.json")]
    assert [u[0] for u in info.unresolved] == ["Colorize3"] and "expression" in info.unresolved[0][1]
    assert info.write_nodes == ["Write1"]
    assert info.write_files["Write1"] == str(tmp_path / "out" / "colour.####.exr")


def test_a_shot_file_knob_written_under_another_mount_finds_the_version_here(tmp_path):
    """The node's shot_file knob holds the path where the script was analysed (a Windows
    workstation's ``P:\\...``, another mount point) when nothing rewrote it: the scan takes
    the same version (``v_<key>/shot.json``) in the node's shot folder as this machine sees it,
    not the newest version there nor a path that does not exist here."""
    for version in ("v_1a2b3c4d5e", "v_ffffffffff"):
        (tmp_path / "colorize_cache" / "C1" / version).mkdir(parents=True)
        (tmp_path / "colorize_cache" / "C1" / version / "shot.json").write_text("{}")
    here = str(tmp_path / "colorize_cache" / "C1" / "v_1a2b3c4d5e" / "shot.json")
    for written in ("P:\\shows\\a\\colorize_cache\\C1\\v_1a2b3c4d5e\\shot.json",
                    "/mnt/elsewhere/a/colorize_cache/C1/v_1a2b3c4d5e/shot.json", here):
        nk = tmp_path / "comp.nk"
        nk.write_text("Group {\n name C1\n addUserKnob {26 nuke_colorize l \"\" +INVISIBLE T 1}\n"
                      " addUserKnob {1 shot_file l \"\" +INVISIBLE}\n shot_file \"%s\"\n}\n" % written)
        assert scan_nuke_script(str(nk)).shot_files == [here], written
    nk.write_text("Colorize {\n shot_file /mnt/elsewhere/a/colorize_cache/C1/v_0000000000/shot.json\n name C1\n}\n")
    assert scan_nuke_script(str(nk)).shot_files == ["/mnt/elsewhere/a/colorize_cache/C1/v_0000000000/shot.json"]


def test_plan_for_nuke_script_prebuilds_every_shot(tmp_path):
    nk = _nuke_script(tmp_path)
    _shot(tmp_path / "a.json", frames=(1001, 1012), keyframes=(1001,))
    _shot(tmp_path / "caches" / "sh_b" / "v_new" / "shot.json", frames=(1005, 1012), keyframes=(1005, 1012))
    plan = build_plan(str(nk), chunk_size=5)
    assert plan.nuke_script == str(nk) and plan.frames == (1001, 1012)
    assert [(os.path.basename(t.shot), t.frames) for t in plan.prepass] == [
        ("a.json", "1001-1012"), ("shot.json", "1005-1008"), ("shot.json", "1009-1012")]
    assert plan.render_args("1001-1005") == ["-x", "-F", "1001-1005", str(nk)]
    assert plan.chunks() == [(1001, 1005), (1006, 1010), (1011, 1012)]
    assert plan.outputs == [str(tmp_path / "out" / "colour.####.exr")]


def test_a_write_node_writing_a_movie_is_rendered_in_one_task(tmp_path, capsys):
    """A render chunk is a separate `nuke -x -F A-B` per task: with a Write node writing a .mov
    each task wrote the whole movie anew with its own chunk's frames, the last task to finish
    leaving a movie of 5 frames out of 12. (Deadline's own Nuke submitter sets the chunk size
    of a job whose Write writes a movie to 1000000 for the same reason.)"""
    mov = NK.replace(" file out/colour.####.exr\n file_type exr\n name Write1\n",
                     " file out/colour.mov\n file_type mov\n name Write1\n")
    mov += "Write {\n file out/img.####.exr\n name Write2\n}\nWrite {\n file out/off.mov\n disable true\n name Write3\n}\n"
    nk = _nuke_script(tmp_path, text=mov)
    _shot(tmp_path / "a.json", frames=(1001, 1012), keyframes=(1001,))
    _shot(tmp_path / "caches" / "sh_b" / "v_new" / "shot.json", frames=(1001, 1012), keyframes=(1001,))
    assert scan_nuke_script(str(nk)).movie_writes == ["Write1"]   # Write3 is disabled
    plan = build_plan(str(nk), chunk_size=5)
    assert plan.chunk_size == 12 and plan.chunks() == [(1001, 1012)]
    assert any("Write node Write1 writes a movie" in n for n in plan.notes)
    assert deadline.build_jobs(plan)[-1].job_info["ChunkSize"] == "12"
    assert build_plan(str(nk), chunk_size=5, write_node="Write2").chunk_size == 5   # an image sequence
    assert cli_main(["farm", "deadline", str(nk), "--dry-run", "--chunk-size", "5"]) == 0
    out, err = capsys.readouterr()
    assert "ChunkSize=12" in out and "writes a movie" in err


def test_colorize_node_left_out_of_the_prepass_is_named(tmp_path, capsys):
    """Colorize3's cache folder is an expression: no pre-pass task builds its shot, so every
    render task needing it computes it (or fails). The job was written without a word about it;
    now the node is named with what to do, unless --shot names the shots explicitly."""
    nk = _nuke_script(tmp_path)
    _shot(tmp_path / "a.json", frames=(1001, 1012), keyframes=(1001,))
    _shot(tmp_path / "caches" / "sh_b" / "v_new" / "shot.json", frames=(1001, 1012), keyframes=(1001,))
    plan = build_plan(str(nk))
    assert len(plan.notes) == 1 and "Colorize3" in plan.notes[0] and "--shot" in plan.notes[0]
    assert cli_main(["farm", "openjd", str(nk), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "note: Colorize node Colorize3: no pre-pass builds its shot" in err and "expression" in err
    assert build_plan(str(nk), shots=[str(tmp_path / "a.json")]).notes == []


def test_nuke_script_without_readable_shot_asks_for_shot(tmp_path):
    nk = tmp_path / "comp.nk"
    nk.write_text("version 14.0 v5\nColorize {\n shot_file [value parent.shot]/s.json\n name C1\n}\n")
    with pytest.raises(InputError, match="expression.*--shot"):
        build_plan(str(nk))
    shot = _shot(tmp_path / "s.json")
    plan = build_plan(str(nk), shots=[str(shot)])
    assert plan.frames == (1001, 1010) and plan.nuke_version == "14.0"
    fresh = tmp_path / "fresh.nk"  # a gizmo group never analysed: no shot file written yet
    fresh.write_text("Group {\n name Colorize1\n addUserKnob {26 nuke_colorize l \"\" +INVISIBLE T 1}\n}\n")
    with pytest.raises(InputError, match="Colorize1: it has not written a shot file.*Analyze"):
        build_plan(str(fresh))


def test_plan_refuses_frames_outside_the_shot_and_bad_chunks(tmp_path):
    shot = _shot(tmp_path / "s.json")
    with pytest.raises(InputError, match="outside"):
        build_plan(str(shot), frames="990-1005")
    with pytest.raises(InputError, match="chunk size"):
        build_plan(str(shot), chunk_size=0)
    plan = build_plan(str(shot), frames="1003-1006")
    assert [(t.anchor, t.frames) for t in plan.prepass] == [(1001, "1003-1004"), (1008, "1005-1006")]


def test_negative_frame_ranges_reach_the_command_as_frames(tmp_path, capsys):
    """Segments and chunks of a shot starting at frame -5 ("-5--1", "-5--3") are given as
    ``--frames=A-B``: as a separate argument argparse took "-5--1" for an option and every
    pre-pass and render task of the job failed with "expected one argument"."""
    import shlex
    from nuke_colorize.cli import build_parser
    from nuke_colorize.farm.opencue import substitute_tokens

    parser = build_parser()
    shot = _shot(tmp_path / "s.json", frames=(-5, 4), keyframes=(-4, 2))

    def frames_of(argv):
        return parser.parse_args(argv).frames

    # OpenJD: the template's args with the task parameters openjd substitutes
    template = openjd.build_template(build_plan(str(shot), chunk_size=3))
    build, render = template["steps"]
    subst = {"{{Param.ShotFile}}": str(shot), "{{Task.Param.Segment}}": "-5--1", "{{Task.Param.Frame}}": "-5--3"}

    def expand(args):
        out = []
        for a in args:
            for k, v in subst.items():
                a = a.replace(k, v)
            out.append(a)
        return out
    assert frames_of(expand(build["script"]["actions"]["onRun"]["args"])) == "-5--1"
    assert frames_of(expand(render["script"]["actions"]["onRun"]["args"])) == "-5--3"
    # Deadline: Arguments with Deadline's frame tokens replaced
    jobs = deadline.build_jobs(build_plan(str(shot), chunk_size=3))
    pre = jobs[0].plugin_info["Arguments"]
    assert frames_of(shlex.split(pre)) == "-5--1"
    chunk = jobs[-1].plugin_info["Arguments"].replace("<STARTFRAME>", "-5").replace("<ENDFRAME>", "-3")
    assert frames_of(shlex.split(chunk)) == "-5--3"
    # OpenCue: the layer commands with Cuebot's tokens replaced
    assert cli_main(["farm", "opencue", str(shot), "--dry-run", "--chunk-size", "3",
                     "--colorize-exe", "nuke-colorize"]) == 0
    xml = capsys.readouterr().out.split("?>", 1)[1].split(">", 1)[1].rsplit("would submit", 1)[0].strip()
    cmds = [l.findtext("cmd") for l in ET.fromstring(xml).iter("layer")]
    assert frames_of(shlex.split(cmds[0])[1:]) == "-5--1"
    assert frames_of(shlex.split(substitute_tokens(cmds[-1], -5, -3, 3))[1:]) == "-5--3"


# ------------------------------------------------------------------------------ OpenJD
def test_openjd_template_passes_openjd_model_and_openjd_check(tmp_path):
    plan = build_plan(str(_shot(tmp_path / "s.json")), chunk_size=3)
    template = openjd.build_template(plan)
    assert openjd.validate(template, openjd.parameter_values(plan)) is True
    assert template["extensions"] == ["TASK_CHUNKING"]
    build, render = template["steps"]
    assert build["parameterSpace"]["taskParameterDefinitions"][0]["range"] == ["1001-1004", "1005-1010"]
    assert render["dependencies"] == [{"dependsOn": "CacheBuild"}]
    assert build["script"]["actions"]["onRun"]["args"] == [   # a plain shot's frames: the render writes them
        "cache", "build", "{{Param.ShotFile}}", "--frames={{Task.Param.Segment}}", "--no-output"]
    frame = render["parameterSpace"]["taskParameterDefinitions"][0]
    assert frame["type"] == "CHUNK[INT]" and frame["chunks"]["rangeConstraint"] == "CONTIGUOUS"
    bundle = tmp_path / "bundle"
    assert cli_main(["farm", "openjd", str(tmp_path / "s.json"), "-o", str(bundle), "--chunk-size", "3"]) == 0
    assert sorted(os.listdir(bundle)) == [".nuke-colorize-farm.json", "parameter_values.yaml", "template.yaml"]
    # the same folder again: our own files are replaced; someone else's file is never written over
    assert cli_main(["farm", "openjd", str(tmp_path / "s.json"), "-o", str(bundle), "--chunk-size", "3"]) == 0
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "template.yaml").write_text("another tool's template\n")
    with pytest.raises(InputError, match="not written by nuke-colorize farm"):
        write_files(str(foreign), {"parameter_values.yaml": "x\n", "template.yaml": "y\n"})
    assert sorted(os.listdir(foreign)) == ["template.yaml"]
    assert (foreign / "template.yaml").read_text() == "another tool's template\n"
    out = subprocess.run([str(OPENJD), "check", str(bundle / "template.yaml")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert openjd.read_parameter_values(str(bundle)) == {
        "ShotFile": str(tmp_path / "s.json"), "Frames": "1001-1010", "ChunkSize": 3}


def test_openjd_validation_rejects_a_broken_template(tmp_path):
    plan = build_plan(str(_shot(tmp_path / "s.json")))
    template = openjd.build_template(plan)
    del template["extensions"]  # CHUNK[INT] without TASK_CHUNKING
    with pytest.raises(ColorizeError, match="TASK_CHUNKING"):
        openjd.validate(template)


def test_openjd_bundle_runs_prepass_before_chunked_render(tmp_path):
    fake = _exe(tmp_path / "fake-colorize", FAKE_COLORIZE)
    shot = _shot(tmp_path / "s.json")
    bundle = tmp_path / "bundle"
    code = cli_main(["farm", "openjd", str(shot), "-o", str(bundle), "--chunk-size", "4",
                     "--colorize-exe", str(fake), "--run-local"])
    assert code == 0
    calls = _calls(tmp_path)
    assert calls[:2] == ["build s.json 1001-1004", "build s.json 1005-1010"]
    assert sorted(calls[2:]) == sorted(c for c in calls[2:] if c.startswith("render"))
    chunks = [c.split()[-1] for c in calls[2:]]
    covered = [f for c in chunks for f in range(int(c.split("-")[0]), int(c.split("-")[1]) + 1)]
    assert sorted(covered) == list(range(1001, 1011))
    assert all(int(c.split("-")[1]) - int(c.split("-")[0]) < 4 for c in chunks)
    assert _rendered(tmp_path) == {f: 1 for f in range(1001, 1011)}


def test_relative_executables_are_given_to_the_workers_absolute(tmp_path, monkeypatch):
    """``--colorize-exe venv/bin/nuke-colorize`` is relative to the folder it was typed in; a task
    runs in its own folder (openjd: a session folder under /tmp, RQD: the machine's temp folder),
    where it named nothing: every task failed with "exec: ...: not found". A bare name stays a
    PATH lookup on the workers."""
    (tmp_path / "bin").mkdir()
    _exe(tmp_path / "bin" / "fake-colorize", FAKE_COLORIZE)
    shot = _shot(tmp_path / "s.json")
    monkeypatch.chdir(tmp_path)
    plan = build_plan(str(shot), colorize_exe="bin/fake-colorize", nuke_exe="nuke")
    assert plan.colorize_exe == str(tmp_path / "bin" / "fake-colorize") and plan.nuke_exe == "nuke"
    assert deadline.build_jobs(plan)[0].plugin_info["Executable"] == str(tmp_path / "bin" / "fake-colorize")
    # a Windows path given here for Windows workers is absolute there: kept as written
    for exe in ("C:\\nc\\nuke-colorize.exe", "C:/nc/nuke-colorize.exe", "\\\\srv\\sw\\nuke-colorize.exe"):
        assert build_plan(str(shot), colorize_exe=exe).colorize_exe == exe
    assert cli_main(["farm", "openjd", "s.json", "-o", "bundle", "--chunk-size", "5",
                     "--colorize-exe", "bin/fake-colorize", "--run-local"]) == 0
    assert _rendered(tmp_path) == {f: 1 for f in range(1001, 1011)}


def test_openjd_bundle_for_nuke_script_runs_nuke_per_chunk(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_ROOT", str(tmp_path))  # the fakes log here, whatever the shot folder
    fake = _exe(tmp_path / "fake-colorize", FAKE_COLORIZE)
    nuke = _exe(tmp_path / "fake-nuke", FAKE_NUKE)
    nk = _nuke_script(tmp_path)
    _shot(tmp_path / "a.json", frames=(1001, 1012), keyframes=(1001,))
    _shot(tmp_path / "caches" / "sh_b" / "v_new" / "shot.json", frames=(1001, 1012), keyframes=(1001, 1012))
    bundle = tmp_path / "bundle"
    assert cli_main(["farm", "openjd", str(nk), "-o", str(bundle), "--chunk-size", "6",
                     "--write-node", "Write1"]) == 0
    template = openjd.build_template(build_plan(str(nk), chunk_size=6, write_node="Write1"))
    assert [s["name"] for s in template["steps"]] == ["CacheBuild1", "CacheBuild2", "Render"]
    # the Colorize nodes read back the frames the pre-pass writes: it writes them
    assert ["--no-output" in s["script"]["actions"]["onRun"]["args"] for s in template["steps"]] == [False] * 3
    argv = openjd.local_run_argv(str(bundle), {"ColorizeCommand": str(fake), "NukeCommand": str(nuke)})
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout[-2000:]
    calls = _calls(tmp_path)
    assert sorted(calls[:3]) == ["build a.json 1001-1012", "build shot.json 1001-1006",
                                 "build shot.json 1007-1012"]
    assert calls[3:] == ["nuke Write1 1001-1006 comp.nk", "nuke Write1 1007-1012 comp.nk"]
    assert _rendered(tmp_path) == {f: 1 for f in range(1001, 1013)}


def test_openjd_submit_without_deadline_cloud_cli_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code = cli_main(["farm", "openjd", str(_shot(tmp_path / "s.json")), "-o", str(tmp_path / "b"), "--submit"])
    err = capsys.readouterr().err
    assert code != 0
    assert "deadline is not installed" in err and "pip install deadline" in err


def test_dry_run_prints_and_writes_nothing(tmp_path, capsys):
    shot = _shot(tmp_path / "s.json")
    before = sorted(os.listdir(tmp_path))
    assert cli_main(["farm", "openjd", str(shot), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "==== template.yaml ====" in out and "would submit: deadline bundle submit --yes" in out
    assert sorted(os.listdir(tmp_path)) == before
    assert cli_main(["farm", "deadline", str(shot), "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert "==== render.job_info.job ====" in out and "-SubmitMultipleJobs -dependent" in out
    assert sorted(os.listdir(tmp_path)) == before
    # by hand, -dependent serialises the two pre-passes (--submit does not): said, not left to find out
    assert "the 2 pre-pass jobs then build one after another" in err
    one = _shot(tmp_path / "one.json", keyframes=(1001,))
    assert cli_main(["farm", "deadline", str(one), "--dry-run"]) == 0
    assert "one after another" not in capsys.readouterr().err


def test_printed_submission_command_pastes_into_this_machines_shell(tmp_path, capsys, monkeypatch):
    """The "would submit:" / "submit with:" lines were shlex.join'ed: POSIX single quotes, which
    cmd.exe and the C runtime take as ordinary characters, so on a Windows workstation the printed
    'deadline bundle submit --yes '...\\my bundle'' named two folders, quotes included."""
    from types import SimpleNamespace
    from nuke_colorize.farm import files
    shot = _shot(tmp_path / "s.json")
    bundle = tmp_path / "my bundle"
    assert cli_main(["farm", "openjd", str(shot), "-o", str(bundle), "--dry-run"]) == 0
    line = capsys.readouterr().out.split("would submit: ", 1)[1].strip()
    assert shlex.split(line) == ["deadline", "bundle", "submit", "--yes", str(bundle)]   # here, as before
    monkeypatch.setattr(files, "os", SimpleNamespace(name="nt"))   # a Windows workstation
    assert cli_main(["farm", "openjd", str(shot), "-o", str(bundle), "--dry-run"]) == 0
    line = capsys.readouterr().out.split("would submit: ", 1)[1].strip()
    assert _windows_argv(line) == ["deadline", "bundle", "submit", "--yes", str(bundle)]


# ------------------------------------------------------------------------------ Deadline 10
def test_deadline_files_are_key_value_with_documented_keys(tmp_path):
    shot = _shot(tmp_path / "s.json")
    out = tmp_path / "dl"
    assert cli_main(["farm", "deadline", str(shot), "-o", str(out), "--chunk-size", "4",
                     "--pool", "comp", "--priority", "60"]) == 0
    names = sorted(n for n in os.listdir(out) if not n.startswith("."))
    assert names == ["prepass_s_1001-1004.job_info.job", "prepass_s_1001-1004.plugin_info.job",
                     "prepass_s_1005-1010.job_info.job", "prepass_s_1005-1010.plugin_info.job",
                     "render.job_info.job", "render.plugin_info.job"]
    parsed = {n: deadline.parse_info((out / n).read_text(), n) for n in names}
    pre = parsed["prepass_s_1005-1010.job_info.job"]
    assert pre["Plugin"] == "CommandLine" and pre["ChunkSize"] == "1" and pre["Pool"] == "comp"
    pre_plugin = parsed["prepass_s_1005-1010.plugin_info.job"]
    assert pre_plugin["Arguments"] == f"cache build {shot} --frames=1005-1010 --no-output"  # render writes
    job = parsed["render.job_info.job"]
    assert (job["Plugin"], job["Frames"], job["ChunkSize"], job["Priority"]) == ("CommandLine", "1001-1010", "4", "60")
    assert job["OutputFilename0"] == "colour.####.exr" and job["OutputDirectory0"] == str(tmp_path / "out")
    assert parsed["render.plugin_info.job"]["Arguments"] == \
        f"render --shot {shot} --frames=<STARTFRAME>-<ENDFRAME>"
    # Deadline's CommandLine plug-in runs RepositoryUtils.CheckPathMapping on Executable and
    # Arguments but reads StartupDirectory as written: the artist's folder, which a worker that
    # maps /shows to S:\shows does not have (the process cannot start there). The arguments
    # are absolute; no task needs a working folder.
    assert all("StartupDirectory" not in parsed[n] for n in names if n.endswith(".plugin_info.job"))
    with pytest.raises(InputError, match="not Key=Value"):
        deadline.parse_info("Plugin=Nuke\nno equals sign\n")
    with pytest.raises(InputError, match="twice"):
        deadline.parse_info("Frames=1\nFrames=2\n")


def test_deadline_nuke_job_uses_the_nuke_plugin_keys(tmp_path):
    nk = _nuke_script(tmp_path, "my comp.nk")
    _shot(tmp_path / "a.json", frames=(1001, 1012), keyframes=(1001,))
    _shot(tmp_path / "caches" / "sh_b" / "v_new" / "shot.json", frames=(1001, 1012), keyframes=(1001,))
    jobs = deadline.build_jobs(build_plan(str(nk), chunk_size=5, write_node="Write1"))
    render = jobs[-1]
    assert render.job_info["Plugin"] == "Nuke" and render.job_info["ChunkSize"] == "5"
    assert render.depends_on == [j.key for j in jobs[:-1]] and len(jobs) == 3
    p = render.plugin_info
    assert (p["SceneFile"], p["Version"], p["WriteNode"], p["BatchMode"]) == (str(nk), "15.1", "Write1", "False")
    assert deadline.join_arguments(["a b", 'q"x', "plain"]) == '"a b" "q\\"x" plain'
    nk.write_text(NK.split("\n", 2)[2].replace("{SCRIPT}", str(nk)))  # no version lines
    with pytest.raises(InputError, match="--nuke-version"):
        deadline.build_jobs(build_plan(str(nk)))
    assert deadline.build_jobs(build_plan(str(nk), nuke_version="14.1"))[-1].plugin_info["Version"] == "14.1"


FAKE_DEADLINECOMMAND = r'''
import os, sys
log = os.environ["FAKE_DL_LOG"]
n = sum(1 for _ in open(log)) if os.path.exists(log) else 0
job_info = open(sys.argv[1]).read()
if os.environ.get("FAKE_DL_FAIL_AT") == str(n):
    sys.exit("Error: the repository is not reachable")
with open(log, "a") as fh:
    fh.write("%s|%s\n" % (os.path.basename(sys.argv[1]), job_info.replace("\n", ";")))
print("Submitting to Repository: /mnt/deadline")
print("Result=Success")
print("JobID=65f0c0de%08d" % n)
'''


def test_deadline_submit_chains_job_ids_into_render_dependencies(tmp_path, monkeypatch, capsys):
    bindir = tmp_path / "dlbin"
    bindir.mkdir()
    _exe(bindir / "deadlinecommand", FAKE_DEADLINECOMMAND)
    monkeypatch.setenv("DEADLINE_PATH", str(bindir))
    monkeypatch.setenv("FAKE_DL_LOG", str(tmp_path / "dl.log"))
    shot = _shot(tmp_path / "s.json")
    out = tmp_path / "dl"
    assert cli_main(["farm", "deadline", str(shot), "-o", str(out), "--submit"]) == 0
    log = (tmp_path / "dl.log").read_text().splitlines()
    assert [l.split("|")[0] for l in log] == ["prepass_s_1001-1004.job_info.job",
                                             "prepass_s_1005-1010.job_info.job", "render.job_info.job"]
    render = deadline.parse_info((out / "render.job_info.job").read_text())
    assert render["JobDependencies"] == "65f0c0de00000000,65f0c0de00000001"
    assert "JobDependencies=65f0c0de00000000,65f0c0de00000001" in log[2]
    assert "submitted render: JobID=65f0c0de00000002" in capsys.readouterr().out


def test_deadline_submit_failing_part_way_names_the_jobs_already_submitted(tmp_path, monkeypatch, capsys):
    """The pre-pass jobs are submitted one by one before the render job: when a later submission
    failed, the error named only that one, and the jobs already on the farm (building caches
    for a render that never came) were left for the user to find; submitting again doubled them."""
    bindir = tmp_path / "dlbin"
    bindir.mkdir()
    _exe(bindir / "deadlinecommand", FAKE_DEADLINECOMMAND)
    monkeypatch.setenv("DEADLINE_PATH", str(bindir))
    monkeypatch.setenv("FAKE_DL_LOG", str(tmp_path / "dl.log"))
    monkeypatch.setenv("FAKE_DL_FAIL_AT", "2")   # the render job's submission fails
    code = cli_main(["farm", "deadline", str(_shot(tmp_path / "s.json")), "-o", str(tmp_path / "dl"), "--submit"])
    err = capsys.readouterr().err
    assert code != 0 and "Deadline submission of render failed" in err and "not reachable" in err
    assert ("already submitted, without it: prepass_s_1001-1004 JobID=65f0c0de00000000, "
            "prepass_s_1005-1010 JobID=65f0c0de00000001") in err
    assert "delete those jobs" in err


def test_deadline_submit_without_deadlinecommand_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DEADLINE_PATH", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code = cli_main(["farm", "deadline", str(_shot(tmp_path / "s.json")), "-o", str(tmp_path / "d"), "--submit"])
    err = capsys.readouterr().err
    assert code != 0 and "deadlinecommand was not found" in err and "DEADLINE_PATH" in err
    assert (tmp_path / "d" / "render.job_info.job").is_file()  # the files are still written


# ------------------------------------------------------------------------------ same-named shot files
TWO_SHOTS_NK = """version 15.1 v3
Root {
 inputs 0
 first_frame 1001
 last_frame 1010
}
Colorize {
 shot_file s1/shot.json
 name Colorize1
}
Colorize {
 shot_file s2/shot.json
 name Colorize2
}
Write {
 file out/colour.####.exr
 name Write1
}
"""


def test_shot_files_of_the_same_name_get_their_own_jobs_and_layers(tmp_path, capsys):
    """The Nuke node writes every shot as v_<key>/shot.json: two of them in one script (or given
    as --shot) each get their pre-pass jobs (Deadline) and layers (OpenCue), named after the
    stem and the folder, the same on every run; a name of its own stays as it was."""
    from nuke_colorize.farm.plan import shot_tags
    nk = tmp_path / "comp.nk"
    nk.write_text(TWO_SHOTS_NK)
    (tmp_path / "s1").mkdir()
    (tmp_path / "s2").mkdir()
    s1 = _shot(tmp_path / "s1" / "shot.json", keyframes=(1001,))
    s2 = _shot(tmp_path / "s2" / "shot.json", keyframes=(1004, 1008))
    plan = build_plan(str(nk))
    assert [(t.label, t.shot) for t in plan.prepass] == [
        ("shot.s1_1001-1010", str(s1)), ("shot.s2_1001-1006", str(s2)), ("shot.s2_1007-1010", str(s2))]
    assert [t.label for t in build_plan(str(nk), shots=[str(s2), str(s1), str(s2)]).prepass] == [
        "shot.s2_1001-1006", "shot.s2_1007-1010", "shot.s1_1001-1010"]           # given twice: built once
    assert shot_tags(["/a/x/shot.json", "/b/x/shot.json", "/c/y/shot.json", "/d/other.json"])[2:] == \
        ["shot.y", "other"]
    deep = shot_tags(["/a/x/shot.json", "/b/x/shot.json"])
    assert deep[0].startswith("shot.x.") and deep[1].startswith("shot.x.") and deep[0] != deep[1]
    assert shot_tags(["/a/x/shot.json", "/b/x/shot.json"]) == deep                   # stable
    # Deadline: four distinct pre-pass jobs, each building its own shot, all before the render
    out = tmp_path / "dl"
    assert cli_main(["farm", "deadline", str(nk), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    names = sorted(n for n in os.listdir(out) if n.endswith(".job_info.job"))
    assert names == ["prepass_shot.s1_1001-1010.job_info.job", "prepass_shot.s2_1001-1006.job_info.job",
                     "prepass_shot.s2_1007-1010.job_info.job", "render.job_info.job"]
    args = {n: deadline.parse_info((out / n.replace("job_info", "plugin_info")).read_text())["Arguments"]
            for n in names[:-1]}
    assert args == {"prepass_shot.s1_1001-1010.job_info.job": f"cache build {s1} --frames=1001-1010",
                    "prepass_shot.s2_1001-1006.job_info.job": f"cache build {s2} --frames=1001-1006",
                    "prepass_shot.s2_1007-1010.job_info.job": f"cache build {s2} --frames=1007-1010"}
    submit = printed.split("submit with: ", 1)[1]
    assert all(submit.count(str(out / n)) == 1 for n in names)
    # OpenCue: one layer per task (pyoutline refuses two layers of one name)
    assert cli_main(["farm", "opencue", str(nk), "--dry-run"]) == 0
    root = ET.fromstring(capsys.readouterr().out.split("?>", 1)[1].split(">", 1)[1].rsplit("would submit", 1)[0].strip())
    layers = {l.get("name"): l.findtext("cmd") for l in root.iter("layer")}
    assert list(layers) == ["cache_shot_s1_1001-1010", "cache_shot_s2_1001-1006", "cache_shot_s2_1007-1010", "render"]
    assert layers["cache_shot_s1_1001-1010"].endswith(f"cache build {s1} --frames=1001-1010")
    assert cli_main(["farm", "opencue", str(nk), "--shot", str(s1), "--shot", str(s2), "--dry-run"]) == 0
    capsys.readouterr()
    # OpenJD: one shot parameter each, as before
    assert cli_main(["farm", "openjd", str(nk), "-o", str(tmp_path / "ojd")]) == 0
    values = (tmp_path / "ojd" / "parameter_values.yaml").read_text()
    assert str(s1) in values and str(s2) in values


# ------------------------------------------------------------------------------ OpenCue
def test_opencue_spec_has_cache_layers_and_dependent_chunked_render(tmp_path):
    shot = _shot(tmp_path / "s.json")
    out = tmp_path / "cue"
    assert cli_main(["farm", "opencue", str(shot), "-o", str(out), "--chunk-size", "4", "--show", "pipe",
                     "--colorize-exe", "/opt/nc/bin/nuke-colorize"]) == 0
    root = ET.fromstring((out / "colorize_s.cuejob.xml").read_text().split("?>", 1)[1].split(">", 1)[1])
    assert root.findtext("show") == "pipe" and root.findtext("shot") == "s"
    layers = {l.get("name"): l for l in root.iter("layer")}
    assert list(layers) == ["cache_s_1001-1004", "cache_s_1005-1010", "render", "render_1009-1010"]
    cache = layers["cache_s_1005-1010"]
    assert (cache.findtext("range"), cache.findtext("chunk")) == ("1005", "1")
    assert cache.findtext("cmd") == f"/opt/nc/bin/nuke-colorize cache build {shot} --frames=1005-1010 --no-output"
    render, tail = layers["render"], layers["render_1009-1010"]
    assert (render.findtext("range"), render.findtext("chunk")) == ("1001-1008", "4")
    assert (tail.findtext("range"), tail.findtext("chunk")) == ("1009-1010", "2")
    assert render.findtext("cmd") == tail.findtext("cmd") == \
        f"/opt/nc/bin/nuke-colorize render --shot {shot} '--frames=#FRAME_START#-#FRAME_END#'"
    deps = [(d.get("type"), d.findtext("deplayer"), d.findtext("onlayer")) for d in root.iter("depend")]
    assert deps == [("LAYER_ON_LAYER", r, c) for r in ("render", "render_1009-1010")
                    for c in ("cache_s_1001-1004", "cache_s_1005-1010")]
    assert (out / "session").is_dir()  # pyoutline's session stays in the output folder


def _cuebot_chunks(layer: ET.Element):
    """The (first, last) frames Cuebot's ``#FRAME_START#`` / ``#FRAME_END#`` give each frame
    of a spec's layer: one frame per chunk, from the range's start every ``chunk`` frames
    (CueUtil.normalizeFrameRange), ending ``chunk - 1`` frames later whatever the range
    (DispatchSupportService.prepareRqdRunFrame: ``frameNumber + frame.chunkSize - 1``)."""
    text, chunk = layer.findtext("range"), int(layer.findtext("chunk"))
    a, _, b = text[1:].partition("-")
    first, last = int(text[0] + a), int(b or text[0] + a)
    return [(s, s + chunk - 1) for s in range(first, last + 1, chunk)]


@pytest.mark.parametrize("frames, chunk", [((1001, 1010), 4), ((1001, 1010), 3), ((1001, 1010), 5),
                                           ((1001, 1002), 10), ((1001, 1001), 1)])
def test_opencue_chunks_end_where_the_range_ends(tmp_path, capsys, frames, chunk):
    """Cuebot (Java) replaces #FRAME_END# by the chunk's first frame + chunk size - 1, not clipped
    to the layer's range: one render layer over 1001-1010 in chunks of 4 ran its last task as
    ``--frames=1009-1012`` (or ``nuke -F 1009-1012``), frames outside the shot and the script."""
    shot = _shot(tmp_path / "s.json", frames=frames, keyframes=(frames[0],))
    assert cli_main(["farm", "opencue", str(shot), "--dry-run", "--chunk-size", str(chunk)]) == 0
    root = _cue_xml(capsys.readouterr().out)
    renders = [l for l in root.iter("layer") if l.get("name").startswith("render")]
    covered = [f for l in renders for a, b in _cuebot_chunks(l) for f in range(a, b + 1)]
    assert sorted(covered) == list(range(frames[0], frames[1] + 1))   # each frame once, none beyond
    assert renders[0].get("name") == "render"
    cmds = {l.findtext("cmd") for l in renders}
    assert len(cmds) == 1 and "'--frames=#FRAME_START#-#FRAME_END#'" in cmds.pop()
    onlayer = {(d.findtext("deplayer"), d.findtext("onlayer")) for d in root.iter("depend")}
    assert onlayer == {(l.get("name"), f"cache_s_{frames[0]}-{frames[1]}") for l in renders}


def test_opencue_negative_frames_are_never_frame_numbers_of_a_layer(tmp_path, capsys):
    """Cuebot names a layer's frames "%04d-<layer>" (CueUtil.buildFrameName) and reads the number
    back up to the first '-' (DispatchSupportService.prepareRqdRunFrame), so a frame -5
    ("-005-render") can never be dispatched: a shot starting at -5 queued a job whose first
    pre-pass layer and first render chunks never ran, and its render waited for them forever.
    The chunks before frame 0 name their frames in their command, on a layer frame 0."""
    from nuke_colorize.farm.opencue import substitute_tokens
    fake = _exe(tmp_path / "fake-colorize", FAKE_COLORIZE)
    shot = _shot(tmp_path / "s.json", frames=(-5, 4), keyframes=(-4, 2))
    assert cli_main(["farm", "opencue", str(shot), "--dry-run", "--chunk-size", "3",
                     "--colorize-exe", str(fake)]) == 0
    root = _cue_xml(capsys.readouterr().out)
    layers = list(root.iter("layer"))
    assert all(f >= 0 for l in layers for a, b in _cuebot_chunks(l) for f in (a, b))
    assert [l.get("name") for l in layers] == ["cache_s_-5--1", "cache_s_0-4", "render_-5--3",
                                               "render_-2-0", "render", "render_4"]
    covered = []
    for layer in layers[2:]:
        for a, b in _cuebot_chunks(layer):
            argv = shlex.split(substitute_tokens(layer.findtext("cmd"), a, b, int(layer.findtext("chunk"))))
            text = next(x for x in argv if x.startswith("--frames="))[len("--frames="):]
            lo, hi = parse_frame_range(text)
            covered += range(lo, hi + 1)
    assert sorted(covered) == list(range(-5, 5))
    assert cli_main(["farm", "opencue", str(shot), "-o", str(tmp_path / "cue"), "--chunk-size", "3",
                     "--colorize-exe", str(fake), "--run-local"]) == 0
    assert _calls(tmp_path) == ["build s.json -5--1", "build s.json 0-4", "render s.json -5--3",
                                "render s.json -2-0", "render s.json 1-3", "render s.json 4-4"]
    assert _rendered(tmp_path) == {f: 1 for f in range(-5, 5)}


def _windows_argv(line: str):
    """Split a command line as the Microsoft C runtime does (CommandLineToArgvW): whitespace
    separates outside double quotes; 2n backslashes before a quote give n and the quote toggles,
    2n+1 give n and a literal quote; other backslashes are literal; single quotes are ordinary."""
    args, cur, quoted, slashes, started = [], "", False, 0, False
    for ch in line + " ":
        if ch == "\\":
            slashes += 1
            continue
        if ch == '"':
            cur += "\\" * (slashes // 2)
            if slashes % 2:
                cur += '"'
            else:
                quoted = not quoted
            slashes, started = 0, True
            continue
        cur, slashes = cur + "\\" * slashes, 0
        if ch in " \t" and not quoted:
            if started or cur:
                args.append(cur)
            cur, started = "", False
        else:
            cur, started = cur + ch, True
    return args


def test_opencue_commands_for_windows_workers_are_quoted_for_cmd(tmp_path):
    """RQD on Windows writes a layer's command into a .bat file run by cmd.exe (rqd
    _createCommandFile); the C runtime then splits it, where single quotes are ordinary
    characters: shlex.join's '--frames=#FRAME_START#-#FRAME_END#' (quoted for the '#') reached
    nuke-colorize as an argument with quotes in it (every render task: unrecognized arguments),
    and '/shows/my show/s.json' as two arguments."""
    from nuke_colorize.farm import opencue
    folder = tmp_path / "my show"
    folder.mkdir()
    shot = _shot(folder / "s.json", frames=(1001, 1008), keyframes=(1001,))
    exe = "C:\\Program Files\\nc\\nuke-colorize.exe"
    plan = build_plan(str(shot), chunk_size=4, colorize_exe=exe)
    ol = opencue.build_outline(plan, show="pipe", windows=True)
    cmds = {l.get_name(): l.get_arg("command") for l in ol.get_layers()}
    assert _windows_argv(cmds["cache_s_1001-1008"]) == [exe, "cache", "build", str(shot),
                                                        "--frames=1001-1008", "--no-output"]
    render = opencue.substitute_tokens(cmds["render"], 1005, 1008, 4)
    assert _windows_argv(render) == [exe, "render", "--shot", str(shot), "--frames=1005-1008"]
    assert "'" not in cmds["render"]
    # Linux and macOS workers (RQD runs the command file with /bin/sh): POSIX quoting, as before
    posix = opencue.build_outline(plan, show="pipe", windows=False).get_layer("render").get_arg("command")
    assert shlex.split(opencue.substitute_tokens(posix, 1005, 1008, 4)) == \
        [exe, "render", "--shot", str(shot), "--frames=1005-1008"]


def test_opencue_layers_run_in_process_in_dependency_order(tmp_path, capsys):
    fake = _exe(tmp_path / "fake-colorize", FAKE_COLORIZE)
    shot = _shot(tmp_path / "s.json")
    assert cli_main(["farm", "opencue", str(shot), "-o", str(tmp_path / "cue"), "--chunk-size", "3",
                     "--colorize-exe", str(fake), "--run-local"]) == 0
    assert _calls(tmp_path) == ["build s.json 1001-1004", "build s.json 1005-1010",
                                "render s.json 1001-1003", "render s.json 1004-1006",
                                "render s.json 1007-1009", "render s.json 1010-1010"]
    assert _rendered(tmp_path) == {f: 1 for f in range(1001, 1011)}
    assert "ran render_1010 chunk starting at 1010" in capsys.readouterr().out  # the shorter last chunk


def test_opencue_submit_without_cuebot_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CUEBOT_HOSTS", "127.0.0.1:9")
    code = cli_main(["farm", "opencue", str(_shot(tmp_path / "s.json")), "-o", str(tmp_path / "c"), "--submit"])
    err = capsys.readouterr().err
    assert code != 0 and "no Cuebot answers at 127.0.0.1:9" in err and "CUEBOT_HOSTS" in err


def test_opencue_dry_run_leaves_no_session_behind(tmp_path, capsys):
    shot = _shot(tmp_path / "s.json")
    before = sorted(os.listdir(tmp_path))
    assert cli_main(["farm", "opencue", str(shot), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "<layer name=\"render\"" in out and "would submit: outline.cuerun.launch" in out
    assert sorted(os.listdir(tmp_path)) == before


# ------------------------------------------------------------------------------ time limits
# The job info keys Deadline 10 documents (job info file options) that the tool writes.
DEADLINE_JOB_INFO_KEYS = {
    "Plugin", "Name", "BatchName", "Comment", "Frames", "ChunkSize", "JobDependencies", "Pool",
    "Group", "Priority", "MachineLimit", "OutputDirectory0", "OutputFilename0",
    "TaskTimeoutMinutes", "TaskTimeoutSeconds", "OnTaskTimeout"}


def _cue_xml(printed: str) -> ET.Element:
    return ET.fromstring(printed.split("?>", 1)[1].split(">", 1)[1].rsplit("would submit", 1)[0].strip())


@pytest.mark.parametrize("scheduler", ["openjd", "deadline", "opencue"])
@pytest.mark.parametrize("option", ["--task-timeout", "--prepass-timeout"])
@pytest.mark.parametrize("value", ["0", "-5", "abc", "nan", "inf"])
def test_timeouts_must_be_minutes_above_zero(tmp_path, capsys, scheduler, option, value):
    shot = _shot(tmp_path / "s.json")
    code = cli_main(["farm", scheduler, str(shot), "-o", str(tmp_path / "job"), option, value])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"{option} must be a number of minutes above 0, got '{value}'" in err
    assert "leave it out for no time limit" in err
    assert not (tmp_path / "job").exists()


def test_plan_keeps_timeouts_in_minutes_and_rounds_up_for_schedulers(tmp_path):
    from nuke_colorize.farm.plan import parse_minutes, timeout_seconds, timeout_whole_minutes
    shot = _shot(tmp_path / "s.json")
    plan = build_plan(str(shot), task_timeout="0.5", prepass_timeout=90)
    assert (plan.task_timeout, plan.prepass_timeout) == (0.5, 90.0)
    assert build_plan(str(shot)).task_timeout is None and build_plan(str(shot)).prepass_timeout is None
    with pytest.raises(InputError, match="--prepass-timeout must be"):
        build_plan(str(shot), prepass_timeout=0)
    assert parse_minutes(None, "--x") is None
    assert [timeout_seconds(m) for m in (0.5, 0.02, 0.05, 0.001, 90)] == [30, 2, 3, 1, 5400]
    assert [timeout_whole_minutes(m) for m in (0.5, 1, 1.01, 90)] == [1, 1, 2, 90]


def test_openjd_actions_carry_timeouts_in_seconds_and_pass_openjd_model(tmp_path):
    shot = _shot(tmp_path / "s.json")
    plan = build_plan(str(shot), chunk_size=3, task_timeout=0.5, prepass_timeout=90)
    template = openjd.build_template(plan)
    assert openjd.validate(template, openjd.parameter_values(plan)) is True
    build, render = template["steps"]
    assert build["script"]["actions"]["onRun"]["timeout"] == 5400
    assert render["script"]["actions"]["onRun"]["timeout"] == 30
    # no option, no timeout key: the scheduler's default (no limit)
    plain = openjd.build_template(build_plan(str(shot), chunk_size=3))
    assert all("timeout" not in s["script"]["actions"]["onRun"] for s in plain["steps"])
    only_render = openjd.build_template(build_plan(str(shot), task_timeout=20))
    assert "timeout" not in only_render["steps"][0]["script"]["actions"]["onRun"]
    assert only_render["steps"][1]["script"]["actions"]["onRun"]["timeout"] == 1200
    # the written bundle passes openjd-cli's own check
    bundle = tmp_path / "bundle"
    assert cli_main(["farm", "openjd", str(shot), "-o", str(bundle), "--task-timeout", "0.5",
                     "--prepass-timeout", "90"]) == 0
    out = subprocess.run([str(OPENJD), "check", str(bundle / "template.yaml")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    text = (bundle / "template.yaml").read_text()
    assert "timeout: 5400" in text and "timeout: 30" in text


def test_openjd_every_cache_step_of_a_nuke_script_gets_the_prepass_timeout(tmp_path):
    nk = _nuke_script(tmp_path)
    _shot(tmp_path / "a.json", frames=(1001, 1012), keyframes=(1001,))
    _shot(tmp_path / "caches" / "sh_b" / "v_new" / "shot.json", frames=(1001, 1012), keyframes=(1001,))
    plan = build_plan(str(nk), task_timeout=15, prepass_timeout=240)
    template = openjd.build_template(plan)
    assert openjd.validate(template, openjd.parameter_values(plan)) is True
    timeouts = {s["name"]: s["script"]["actions"]["onRun"]["timeout"] for s in template["steps"]}
    assert timeouts == {"CacheBuild1": 14400, "CacheBuild2": 14400, "Render": 900}


def test_openjd_render_task_running_past_its_timeout_fails_the_run(tmp_path, monkeypatch):
    """A render task that hangs is stopped by openjd at its timeout (2 s here: 0.02 minutes,
    rounded up to whole seconds) and the run fails, instead of holding the slot forever."""
    import time
    monkeypatch.setenv("FAKE_RENDER_SLEEP", "60")
    fake = _exe(tmp_path / "fake-colorize", FAKE_COLORIZE)
    shot = _shot(tmp_path / "s.json")
    bundle = tmp_path / "bundle"
    assert cli_main(["farm", "openjd", str(shot), "-o", str(bundle), "--task-timeout", "0.02",
                     "--prepass-timeout", "10"]) == 0
    argv = openjd.local_run_argv(str(bundle), {"ColorizeCommand": str(fake)})
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - start
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "TIMEOUT - Runtime limit reached" in proc.stdout, proc.stdout[-2000:]
    assert elapsed < 40, elapsed
    calls = _calls(tmp_path)
    assert calls[:2] == ["build s.json 1001-1004", "build s.json 1005-1010"]  # the pre-pass finished
    assert calls[2:] == ["render s.json 1001-1010"]                            # the render was stopped
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_deadline_jobs_carry_task_timeout_and_on_task_timeout(tmp_path, capsys):
    shot = _shot(tmp_path / "s.json")
    out = tmp_path / "dl"
    assert cli_main(["farm", "deadline", str(shot), "-o", str(out), "--task-timeout", "10",
                     "--prepass-timeout", "90"]) == 0
    infos = {n: deadline.parse_info((out / n).read_text(), n)
             for n in os.listdir(out) if n.endswith(".job_info.job")}
    assert sorted(infos) == ["prepass_s_1001-1004.job_info.job", "prepass_s_1005-1010.job_info.job",
                             "render.job_info.job"]
    for name, info in infos.items():
        assert set(info) <= DEADLINE_JOB_INFO_KEYS, set(info) - DEADLINE_JOB_INFO_KEYS
        minutes = "10" if name.startswith("render") else "90"
        assert (info["TaskTimeoutMinutes"], info["OnTaskTimeout"]) == (minutes, "Error")
        assert "TaskTimeoutSeconds" not in info
    # a fraction of a minute: whole seconds (TaskTimeoutMinutes would win over them if both were set)
    jobs = deadline.build_jobs(build_plan(str(shot), task_timeout=0.5, prepass_timeout=1.25))
    assert [(j.job_info.get("TaskTimeoutSeconds"), j.job_info.get("TaskTimeoutMinutes"),
             j.job_info["OnTaskTimeout"]) for j in jobs] == [("75", None, "Error")] * 2 + [("30", None, "Error")]
    # no option: no key (Deadline's default, 0 = unlimited)
    for job in deadline.build_jobs(build_plan(str(shot))):
        assert not {"TaskTimeoutMinutes", "TaskTimeoutSeconds", "OnTaskTimeout"} & set(job.job_info)
        assert set(job.job_info) <= DEADLINE_JOB_INFO_KEYS
    capsys.readouterr()
    # the render timeout alone: the pre-pass jobs get none, and the note says so
    assert cli_main(["farm", "deadline", str(shot), "--dry-run", "--task-timeout", "10"]) == 0
    captured = capsys.readouterr()
    assert "note: --task-timeout limits the render tasks only" in captured.err
    assert "up to 6 frames each" in captured.err and "--prepass-timeout" in captured.err
    assert captured.out.count("TaskTimeoutMinutes=10") == 1


def test_opencue_layers_carry_timeouts_in_whole_minutes(tmp_path, capsys):
    shot = _shot(tmp_path / "s.json")
    assert cli_main(["farm", "opencue", str(shot), "--dry-run", "--task-timeout", "10",
                     "--prepass-timeout", "90"]) == 0
    captured = capsys.readouterr()
    assert "note:" not in captured.err
    timeouts = {l.get("name"): l.findtext("timeout") for l in _cue_xml(captured.out).iter("layer")}
    assert timeouts == {"cache_s_1001-1004": "90", "cache_s_1005-1010": "90", "render": "10"}
    # Cuebot takes whole minutes: a fraction is rounded up, and said
    assert cli_main(["farm", "opencue", str(shot), "--dry-run", "--task-timeout", "0.5",
                     "--prepass-timeout", "90"]) == 0
    captured = capsys.readouterr()
    assert "note: --task-timeout 0.5: OpenCue layer timeouts are whole minutes; the job's is 1" in captured.err
    assert [l.findtext("timeout") for l in _cue_xml(captured.out).iter("layer")] == ["90", "90", "1"]
    # none asked: no <timeout> (Cuebot's default, 0 = none)
    assert cli_main(["farm", "opencue", str(shot), "--dry-run"]) == 0
    assert "<timeout>" not in capsys.readouterr().out


def test_opencue_spec_version_without_layer_timeout_says_the_job_gets_none(tmp_path, capsys):
    import outline.config
    shot = _shot(tmp_path / "s.json")
    old = outline.config.get("outline", "spec_version")
    outline.config.set("outline", "spec_version", "1.9")
    try:
        assert cli_main(["farm", "opencue", str(shot), "--dry-run", "--prepass-timeout", "90"]) == 0
    finally:
        outline.config.set("outline", "spec_version", old)
    captured = capsys.readouterr()
    assert "<timeout>" not in captured.out
    assert "note: OpenCue's job gets no timeout: the outline job spec version 1.9" in captured.err


def test_shot_whose_matte_pattern_names_no_file_is_refused(tmp_path, capsys):
    shot = _shot(tmp_path / "s.json")
    data = json.loads(shot.read_text())
    data["matte"] = "mattes/id.####.png"
    shot.write_text(json.dumps(data))
    assert cli_main(["farm", "openjd", str(shot), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "the matte pattern matches no file in frames 1001-1010" in err and str(shot) in err
    assert "--skip-input-check" in err
    (tmp_path / "mattes").mkdir()
    Path(frame_path(str(tmp_path / "mattes" / "id.####.png"), 1004)).touch()   # mattes may be sparse
    assert cli_main(["farm", "openjd", str(shot), "--dry-run"]) == 0
