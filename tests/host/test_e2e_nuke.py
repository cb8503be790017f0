"""End to end in the fake Nuke with the real engine: create the Colorize node on a Read plate,
set two references, render frames out of order through a Write (the render hook computes
each missing frame on the spot through the worker), and compare with a sequential
``nuke-colorize render --shot`` of the same shot in a fresh process and cache.

Needs the shot cache (``nuke_colorize.shot`` and the ``cache`` / ``render --shot`` commands);
skipped until they exist.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hostkit import write_exr, write_png
from hostkit import fake_nuke  # noqa: F401  (pytest fixtures)
from nuke_colorize.host.frames import frame_path

pytest.importorskip("nuke_colorize.shot", reason="the shot cache (issue 5) is not there yet")


def synthetic_clip(folder, n=6, w=64, h=48):
    """True-colour frames of a red square moving over a blue-green gradient; returns the grey
    plate pattern (Rec.709 luminance, linear EXR) and the colour frames as sRGB PNGs."""
    from nuke_colorize.color import luminance, srgb_to_linear
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    plate = os.path.join(str(folder), "plate", "plate.####.exr")
    colour = os.path.join(str(folder), "colour", "colour.####.png")
    for f in range(1, n + 1):
        rgb = np.stack([0.1 + 0.0 * xx, 0.3 + 0.5 * xx / w, 0.8 - 0.5 * yy / h], -1)
        x0 = 8 + 5 * f
        rgb[16:32, x0:x0 + 16] = (0.9, 0.15, 0.1)
        srgb8 = np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)
        write_png(frame_path(colour, f), srgb8)
        lin = srgb_to_linear(srgb8.astype(np.float32) / 255.0)
        y = luminance(lin)
        write_exr(frame_path(plate, f), np.stack([y, y, y], -1))
    return plate, colour


def read_rgb(path):
    import OpenImageIO as oiio
    buf = oiio.ImageBuf(path)
    px = np.asarray(buf.get_pixels(oiio.FLOAT))
    return px[..., :3]


@pytest.mark.slow
def test_fake_nuke_renders_out_of_order_like_the_cli(fake_nuke, tmp_path, monkeypatch):
    nuke = fake_nuke
    from nuke_colorize.host import bridge
    from nuke_colorize.host.nuke import node as nc
    from nuke_colorize.host.nuke import render

    monkeypatch.setenv("NUKE_COLORIZE_PYTHON", sys.executable)
    client = bridge.WorkerClient(log_path=str(tmp_path / "worker.log"))
    old = bridge.set_client(client)
    try:
        plate, colour = synthetic_clip(tmp_path)
        read = nuke.nodes.Read(file=plate, first=1, last=6)
        read.setSelected(True)
        node = nc.create()
        nuke._user_set(node["references"], "1 %s\n6 %s" % (frame_path(colour, 1), frame_path(colour, 6)))
        nuke._user_set(node["working_size"], 64)
        render.install()
        out = str(tmp_path / "comp" / "comp.####.exr")
        write = nuke.nodes.Write(file=out, file_type="exr", channels="rgb", create_directories=True)
        write["datatype"].setValue("32 bit float")
        write.setInput(0, node)
        order = [5, 2, 6, 3]
        for f in order:
            nuke.execute(write, f, f)
        prep = nc.prepare(node)
        with open(prep.shot_path) as fh:
            shot = json.load(fh)
        assert [r["frame"] for r in shot["references"]] == [1, 6]
    finally:
        client.close()
        bridge.set_client(old)

    # the same shot, rendered sequentially by the CLI into a fresh cache and output
    shot["cache"] = str(tmp_path / "cli_cache")
    shot["output"] = str(tmp_path / "cli" / "colour.####.exr")
    cli_shot = tmp_path / "cli_shot.json"
    cli_shot.write_text(json.dumps(shot))
    proc = subprocess.run([sys.executable, "-m", "nuke_colorize", "render", "--shot", str(cli_shot),
                           "--frames", "1-6"], capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    for f in order:
        ours = read_rgb(frame_path(out, f))
        theirs = read_rgb(frame_path(shot["output"], f))
        assert ours.shape == theirs.shape
        assert np.array_equal(ours, theirs), "frame %d differs (max %g)" % (f, np.abs(ours - theirs).max())
    # frames nobody asked for were not rendered by the hook
    assert not os.path.exists(frame_path(out, 1)) and not os.path.exists(frame_path(out, 4))


def _npz_files(folder):
    """(path, mtime) of the cache's frame files: written again, a file gets a new mtime."""
    return sorted((os.path.relpath(os.path.join(d, n), folder), os.stat(os.path.join(d, n)).st_mtime_ns)
                  for d, _, files in os.walk(folder) for n in files if n.endswith(".npz"))


@pytest.mark.slow
def test_a_script_whose_paths_point_at_another_mount_renders_what_was_analysed(fake_nuke, tmp_path, monkeypatch):
    """The artist analyses under one mount point (here ``a/``); the farm sees the same storage
    under another (``b/``: the tree copied with its mtimes) and renders the script with its
    paths rewritten (Deadline's path mapping). The node finds the same version, so a task in
    'fail the frame' mode renders the analysed frames; in 'compute' mode, with the outputs gone,
    the engine reads every chain from the shared cache and computes nothing."""
    import shutil
    import socket

    nuke = fake_nuke
    from nuke_colorize.host import bridge
    from nuke_colorize.host.nuke import node as nc
    from nuke_colorize.host.nuke import render

    a, b = tmp_path / "a" / "show", tmp_path / "b" / "show"
    monkeypatch.setenv("NUKE_COLORIZE_PYTHON", sys.executable)
    client = bridge.WorkerClient(log_path=str(tmp_path / "worker.log"))
    old = bridge.set_client(client)
    try:
        plate, colour = synthetic_clip(a)
        nuke.root()["name"].setValue(str(a / "comp.nk"))
        read = nuke.nodes.Read(file=plate, first=1, last=6)
        read.setSelected(True)
        node = nc.create()
        refs = "1 %s\n6 %s"
        nuke._user_set(node["references"], refs % (frame_path(colour, 1), frame_path(colour, 6)))
        nuke._user_set(node["working_size"], 64)
        analysed = nc.analyze(node)
        assert all(os.path.isfile(frame_path(analysed.output, f)) for f in range(1, 7))
        version = os.path.relpath(analysed.output, str(a))

        shutil.copytree(str(a), str(b))                     # the same storage at another mount point
        segments = _npz_files(str(b / "colorize_cache"))
        assert segments

        def mapped(path):
            return path.replace(str(a), str(b))

        nuke.root()["name"].setValue(str(b / "comp.nk"))
        read["file"].setValue(mapped(plate))
        nuke._user_set(node["references"], refs % (mapped(frame_path(colour, 1)), mapped(frame_path(colour, 6))))
        node["shot_file"].setValue(mapped(node["shot_file"].value()))
        prep = nc.prepare(node)
        assert prep.output == str(b / version) and prep.plate.pattern == mapped(plate)

        render.install()
        out = str(tmp_path / "farm" / "comp.####.exr")
        write = nuke.nodes.Write(file=out, file_type="exr", channels="rgb", create_directories=True)
        write["datatype"].setValue("32 bit float")
        write.setInput(0, node)
        nuke._user_set(node["missing_frames"], "fail the frame")
        for f in (5, 2):
            nuke.execute(write, f, f)                       # found: not refused
            assert np.array_equal(read_rgb(frame_path(out, f)), read_rgb(frame_path(analysed.output, f)))

        for f in range(1, 7):                               # the farm's outputs are gone: computed...
            os.unlink(frame_path(prep.output, f))
        nuke._user_set(node["missing_frames"], "compute on the spot")
        nuke.execute(write, 4, 4)
        assert np.array_equal(read_rgb(frame_path(out, 4)), read_rgb(frame_path(analysed.output, 4)))
        assert _npz_files(str(b / "colorize_cache")) == segments   # ...from the cache alone
        # the version's shot file keeps the artist's paths; this machine's view goes beside it
        with open(prep.shot_path) as fh:
            assert json.load(fh)["plate"] == plate
        host = "".join(c if c.isalnum() or c in "_.-" else "_" for c in socket.gethostname()) or "host"
        with open(os.path.join(os.path.dirname(prep.shot_path), "shot.%s.json" % host)) as fh:
            assert json.load(fh)["plate"] == mapped(plate)
    finally:
        client.close()
        bridge.set_client(old)
