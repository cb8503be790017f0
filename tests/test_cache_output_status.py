"""``cache status`` tells output frames written for the shot as it is now (current) from those
left by other settings or inputs (stale) and from absent ones (missing).

It counted every output file that existed: after a setting or a reference changed (another
shot key, the segments stale), the old outputs still counted as present, though they were from
the old settings and a render rewrites them.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from conftest import write_oiio
from nuke_colorize.cli import main

N, W, H = 4, 32, 24
SETTINGS = {"feature_size": 64, "max_working_size": 64}


def make_shot(root: Path) -> Path:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    for f in range(1, N + 1):
        y = (xx + yy) / (W + H) * 0.8 + 0.05 * np.sin(xx / 5 + f)
        write_oiio(root / "plate" / f"plate.{f:04d}.exr", np.repeat(y[..., None], 3, -1).astype(np.float32), "half")
    rgb = np.stack([0.1 + 0.6 * yy / H, 0.3 + 0.5 * xx / W, 0.8 - 0.5 * yy / H], -1)
    write_oiio(root / "ref_1.png", (rgb * 255 + 0.5).astype(np.uint8), "uint8")
    write_oiio(root / "ref_1b.png", (rgb[..., ::-1] * 255 + 0.5).astype(np.uint8), "uint8")
    return write(root)


def write(root: Path, **extra) -> Path:
    shot = {"plate": "plate/plate.####.exr", "frames": [1, N], "references": [{"frame": 1, "image": "ref_1.png"}],
            "settings": SETTINGS, "output": "out/colour.####.exr", "cache": "cache"}
    shot.update(extra)
    (root / "shot.json").write_text(json.dumps(shot))
    return root / "shot.json"


def status(shot: Path, capsys):
    assert main(["cache", "status", str(shot), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert main(["cache", "status", str(shot)]) == 0
    return st, capsys.readouterr().out


def outputs(st):
    return st["outputs"], st["stale_outputs"], st["missing_outputs"]


def test_outputs_of_other_settings_or_references_are_stale_not_present(tmp_path, capsys):
    shot = make_shot(tmp_path)
    st, text = status(shot, capsys)
    assert outputs(st) == (0, [], N)                                       # nothing written yet
    assert main(["cache", "build", str(shot), "--quiet"]) == 0
    capsys.readouterr()
    st, text = status(shot, capsys)
    assert st["complete"] and outputs(st) == (N, [], 0)
    assert f"output frames {tmp_path / 'out' / 'colour.####.exr'}: {N} current, 0 missing" in text

    # a backend setting changes: another key, the segments and every output are stale
    write(tmp_path, settings=dict(SETTINGS, feature_size=96))
    st, text = status(shot, capsys)
    assert st["stored"] == 0 and len(st["stale_segments"]) == 1
    assert outputs(st) == (0, [1, 2, 3, 4], 0)
    assert f": 0 current, {N} stale (frames 1-4: written for other settings" in text
    # filling the cache alone writes no output: still stale
    assert main(["cache", "build", str(shot), "--quiet", "--no-output"]) == 0
    capsys.readouterr()
    assert outputs(status(shot, capsys)[0]) == (0, [1, 2, 3, 4], 0)
    # rendering frames 1-2 makes those current; 3-4 stay stale until they are rewritten
    assert main(["render", "--shot", str(shot), "--frames", "1-2", "--quiet"]) == 0
    st, text = status(shot, capsys)
    assert st["complete"] and outputs(st) == (2, [3, 4], 0)
    assert ": 2 current, 2 stale (frames 3-4:" in text
    # back to the first settings: frames 3-4 are still their outputs, 1-2 were rewritten since
    write(tmp_path)
    assert outputs(status(shot, capsys)[0]) == (2, [1, 2], 0)
    assert main(["render", "--shot", str(shot), "--quiet"]) == 0
    assert outputs(status(shot, capsys)[0]) == (N, [], 0)

    # another keyframe image: stale again, as its segments are
    write(tmp_path, references=[{"frame": 1, "image": "ref_1b.png"}])
    st, _ = status(shot, capsys)
    assert st["stored"] == 0 and outputs(st) == (0, [1, 2, 3, 4], 0)
    write(tmp_path)

    # an output replaced by another file (a plain render, a copy) or removed
    out = tmp_path / "out"
    shutil.copyfile(out / "colour.0002.exr", out / "colour.0003.exr")
    os.unlink(out / "colour.0004.exr")
    st, text = status(shot, capsys)
    assert outputs(st) == (2, [3], 1)
    assert ": 2 current, 1 stale (frame 3:" in text and ", 1 missing" in text

    # `cache clear` removes the records with the rest of what the cache wrote; the outputs,
    # written outside the cache, stay and are no longer vouched for
    assert main(["cache", "clear", str(shot)]) == 0
    capsys.readouterr()
    assert sorted(os.listdir(tmp_path / "cache")) == ["cache.lock"]
    assert outputs(status(shot, capsys)[0]) == (0, [1, 2, 3], 1)


def test_a_reference_repainted_with_the_same_size_and_mtime_makes_the_outputs_stale(tmp_path, capsys):
    """The segments key a reference by its pixels, the shot key (what the output records name)
    named it only by name, size and mtime: a keyframe repainted in place with its size and mtime
    kept left every segment empty and every old output counted current."""
    shot = make_shot(tmp_path)
    assert main(["render", "--shot", str(shot), "--quiet"]) == 0
    st, _ = status(shot, capsys)
    assert st["complete"] and outputs(st) == (N, [], 0)
    ref = tmp_path / "ref_1.png"
    before = os.stat(ref)
    new = tmp_path / "new.png"
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    write_oiio(new, (np.stack([0.9 - 0.6 * yy / H, 0.2 + 0.5 * xx / W, 0.4 + 0.0 * yy], -1) * 255 + 0.5)
               .astype(np.uint8), "uint8")
    data = new.read_bytes()
    assert len(data) <= before.st_size
    ref.write_bytes(data + b"\0" * (before.st_size - len(data)))   # PNG readers stop at IEND
    os.utime(ref, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(ref).st_size == before.st_size
    st, _ = status(shot, capsys)
    assert st["stored"] == 0
    assert outputs(st) == (0, [1, 2, 3, 4], 0)


OCIO_CONFIG = """ocio_profile_version: 2
roles: {default: lin_rec709, scene_linear: lin_rec709, data: raw}
file_rules:
  - !<Rule> {name: Default, colorspace: lin_rec709}
displays:
  sRGB:
    - !<View> {name: Raw, colorspace: raw}
colorspaces:
  - !<ColorSpace> {name: raw, isdata: true}
  - !<ColorSpace> {name: lin_rec709}
  - !<ColorSpace>
    name: plate_log
    to_scene_reference: !<ExponentTransform> {value: [GAMMA, GAMMA, GAMMA, 1]}
"""


def test_an_edited_ocio_config_recomputes_the_segments_not_only_the_outputs(tmp_path, capsys):
    """The shot key held the OCIO config's content, the segment keys did not: after the plate's
    colourspace was regraded in the config, the outputs counted stale but a render rewrote them
    from the frames stored from the old plate luminance (measured on a 16-frame DAVIS shot:
    up to 0.32 off in linear RGB)."""
    make_shot(tmp_path)
    config = tmp_path / "config.ocio"
    config.write_text(OCIO_CONFIG.replace("GAMMA", "2.2"))
    shot = write(tmp_path, colorspace="plate_log", ocio_config="config.ocio")
    assert main(["render", "--shot", str(shot), "--quiet"]) == 0
    st, _ = status(shot, capsys)
    assert st["complete"] and outputs(st) == (N, [], 0)
    config.write_text(OCIO_CONFIG.replace("GAMMA", "1.4"))
    st, _ = status(shot, capsys)
    assert st["stored"] == 0 and len(st["stale_segments"]) == 1
    assert outputs(st) == (0, [1, 2, 3, 4], 0)


def test_two_renders_of_one_output_frame_for_two_keys_never_vouch_for_each_others_file(tmp_path, capsys):
    """A render of the shot as it was and one of the shot as edited since (another saturation:
    another key, the same segments) write the same output frame outside one shared segment lock
    (a blended frame is written under the lock of whichever of its two chains ends second;
    temporal smoothing's last frames after the chains): the second wrote its file, the first
    wrote its own over it and recorded it, then the second recorded the first's file under its
    key: `cache status` called current, for the edited shot, a frame of the old one. Each file
    and its record are now written under the frame's output lock."""
    import threading
    from nuke_colorize.cache import ShotCache, shotcache
    from nuke_colorize.shot import Shot
    import nuke_colorize.render as render

    make_shot(tmp_path)
    shots = {}
    for name, sat in (("old", 1.0), ("new", 0.4)):
        shots[name] = tmp_path / f"{name}.json"
        shutil.copyfile(write(tmp_path, saturation=sat), shots[name])
    out = tmp_path / "out" / "colour.0001.exr"
    solo = {}
    for name, shot in shots.items():
        ShotCache(Shot.load(str(shot)), warn=lambda m: None).render([1])
        solo[name] = out.read_bytes()
    assert solo["old"] != solo["new"]

    new_wrote, old_recorded = threading.Event(), threading.Event()
    write_frame, record_output = render.write_frame, shotcache.record_output

    def writing(*args, **kw):
        if threading.current_thread().name == "old":
            new_wrote.wait(3)                 # the new shot's file is there: write over it
        paths = write_frame(*args, **kw)
        if threading.current_thread().name == "new":
            new_wrote.set()
            old_recorded.wait(3)              # record once the old shot has (if it can)
        return paths

    def recording(*args, **kw):
        record_output(*args, **kw)
        if threading.current_thread().name == "old":
            old_recorded.set()

    def write_frame_1(shot):                  # what a render does with a frame it has finished
        ctx = ShotCache(Shot.load(str(shot)), warn=lambda m: None)._context()
        try:
            ShotCache._write_output(ctx, 1, ctx.store.get(ctx.segments[0], 1), shotcache._Run(total=1))
        finally:
            ctx.close()

    render.write_frame, shotcache.record_output = writing, recording
    try:
        threads = [threading.Thread(target=write_frame_1, args=(shot,), name=name) for name, shot in shots.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        render.write_frame, shotcache.record_output = write_frame, record_output
    owner = next(name for name in shots if solo[name] == out.read_bytes())
    other = "new" if owner == "old" else "old"
    assert 1 not in status(shots[owner], capsys)[0]["stale_outputs"]
    assert 1 in status(shots[other], capsys)[0]["stale_outputs"]
