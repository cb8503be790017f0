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
from nuke_colorize.host import shotspec
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
        order = [5, 2]   # 5 first: both keyframes' chains; 2 then comes from the cache they left
        for f in order:
            nuke.execute(write, f, f)
        prep = nc.prepare(node)
        with open(prep.shot_path) as fh:   # paths relative to the file: as the engine reads them
            shot = shotspec.resolved_shot(json.load(fh), prep.shot_path)
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


def _analyse_keyframes_1_and_6(nuke, nc, show):
    """In a script saved as ``show/comp.nk``: a synthetic 6-frame clip under ``show`` read by a
    Read, a Colorize node on it with its colour frames 1 and 6 as keyframes at working size 64,
    analysed. Returns (plate pattern, colour pattern, Read, node, the analysis)."""
    plate, colour = synthetic_clip(show)
    nuke.root()["name"].setValue(str(show / "comp.nk"))
    read = nuke.nodes.Read(file=plate, first=1, last=6)
    read.setSelected(True)
    node = nc.create()
    nuke._user_set(node["references"], "1 %s\n6 %s" % (frame_path(colour, 1), frame_path(colour, 6)))
    nuke._user_set(node["working_size"], 64)
    return plate, colour, read, node, nc.analyze(node)


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
        plate, colour, read, node, analysed = _analyse_keyframes_1_and_6(nuke, nc, a)
        refs = "1 %s\n6 %s"
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
        # the version's shot file names the files relative to itself: it serves this machine as
        # it is (no shot.<host>.json beside it) and the engine read the plate at b
        with open(prep.shot_path) as fh:
            assert json.load(fh)["plate"] == "../../../plate/plate.####.exr"
        host = "".join(c if c.isalnum() or c in "_.-" else "_" for c in socket.gethostname()) or "host"
        assert not os.path.exists(os.path.join(os.path.dirname(prep.shot_path), "shot.%s.json" % host))
    finally:
        client.close()
        bridge.set_client(old)


@pytest.mark.slow
def test_the_node_s_shot_file_serves_a_farm_that_mounts_the_show_elsewhere(fake_nuke, tmp_path, monkeypatch):
    """Analysed under ``a``; the whole tree copied to ``b`` with its mtimes and ``a`` gone (a
    machine that mounts the show elsewhere), the script's paths rewritten to ``b`` as path mapping
    does. The version's shot.json names its files relative to itself, so the farm's scan of the
    script finds it, its inputs check out, ``cache build`` of it (the pre-pass) computes nothing,
    ``render --shot`` and the node at ``b`` give the analysed pixels, and Clear cache at ``b``
    clears the engine's cache."""
    import shutil

    nuke = fake_nuke
    from nuke_colorize.farm.plan import build_plan
    from nuke_colorize.farm.shotinfo import check_inputs, load_shot_info
    from nuke_colorize.host import bridge
    from nuke_colorize.host.nuke import node as nc
    from nuke_colorize.host.nuke import render

    a, b = tmp_path / "a" / "show", tmp_path / "b" / "show"
    monkeypatch.setenv("NUKE_COLORIZE_PYTHON", sys.executable)

    def engine():
        client = bridge.WorkerClient(log_path=str(tmp_path / "worker.log"))
        return client, bridge.set_client(client)

    client, old = engine()
    try:
        plate, colour, read, node, analysed = _analyse_keyframes_1_and_6(nuke, nc, a)
        pixels = {f: read_rgb(frame_path(analysed.output, f)) for f in range(1, 7)}
        nuke.scriptSaveAs(str(a / "comp.nk"))
    finally:
        client.close()
        bridge.set_client(old)
    with open(analysed.shot_path) as fh:
        written = json.load(fh)
    assert written["plate"] == "../../../plate/plate.####.exr" and written["cache"] == "../cache"
    version = os.path.relpath(analysed.shot_path, str(a))

    shutil.copytree(str(a), str(b), copy_function=shutil.copy2)
    shutil.rmtree(str(tmp_path / "a"))                   # the artist's paths name nothing here
    nk = b / "comp.nk"
    nk.write_text(nk.read_text().replace(str(a), str(b)))   # Deadline's path mapping
    segments = _npz_files(str(b / "colorize_cache"))
    assert segments

    # the farm: the scan finds the version's file at b, the inputs are there, the pre-pass reuses the cache
    plan = build_plan(str(nk))
    assert plan.prepass and {t.shot for t in plan.prepass} == {str(b / version)}
    check_inputs(load_shot_info(str(b / version)), 1, 6)
    proc = subprocess.run([sys.executable, "-m", "nuke_colorize", "cache", "build", str(b / version)],
                          capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert "\n0 frame(s) computed, " in proc.stderr.decode(), proc.stderr.decode()
    assert _npz_files(str(b / "colorize_cache")) == segments
    output_b = str(b / os.path.dirname(version) / "colour.####.exr")
    for f in range(1, 7):
        os.unlink(frame_path(output_b, f))
    proc = subprocess.run([sys.executable, "-m", "nuke_colorize", "render", "--shot", str(b / version), "--json",
                           "--quiet"], capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert json.loads(proc.stdout.decode())["computed"] == []
    for f in range(1, 7):
        assert np.array_equal(read_rgb(frame_path(output_b, f)), pixels[f]), f
    assert _npz_files(str(b / "colorize_cache")) == segments

    # the node at b: same version, its cache folder, the analysed pixels
    nuke._reset()
    nuke.scriptOpen(str(nk))
    node = nuke.toNode("Colorize1")
    prep = nc.prepare(node)
    assert prep.shot_path == str(b / version) and nc._analysed_root(node) == str(b / "colorize_cache")
    render.install()
    out = str(tmp_path / "farm" / "comp.####.exr")
    write = nuke.nodes.Write(file=out, file_type="exr", channels="rgb", create_directories=True)
    write["datatype"].setValue("32 bit float")
    write.setInput(0, node)
    nuke._user_set(node["missing_frames"], "fail the frame")
    nuke.execute(write, 3, 3)
    assert np.array_equal(read_rgb(frame_path(out, 3)), pixels[3])
    os.unlink(frame_path(output_b, 4))
    nuke._user_set(node["missing_frames"], "compute on the spot")
    client, old = engine()
    try:
        nuke.execute(write, 4, 4)                           # the version's own file served the engine
        assert np.array_equal(read_rgb(frame_path(out, 4)), pixels[4])
        assert sorted(os.listdir(os.path.dirname(prep.shot_path))) == sorted(
            ["shot.json"] + [os.path.basename(frame_path(output_b, f)) for f in range(1, 7)])
        assert _npz_files(str(b / "colorize_cache")) == segments
        nc.clear_cache(node)
        assert _npz_files(str(b / "colorize_cache")) == []
        assert not [n for n in os.listdir(str(b / "colorize_cache" / "Colorize1")) if n.startswith("v_")]
    finally:
        client.close()
        bridge.set_client(old)
