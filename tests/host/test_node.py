"""The Colorize node in the fake Nuke: versions, Analyze (blocking and background), precomps,
references from the reference input, the render hook and Clear cache.

The engine here is tests/host/fake_engine.py behind the real worker and bridge; it writes
frame-coded EXRs (red = frame / 10000) so renders through the node can be checked pixel-wise.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from hostkit import colorize_on_plate, make_plate, make_ref
from hostkit import engine_client, fake_nuke  # noqa: F401  (pytest fixtures)
from nuke_colorize.host.frames import frame_path
from nuke_colorize.host.nuke import node as nc
from nuke_colorize.host.nuke import render


@pytest.fixture
def shot(fake_nuke, tmp_path):
    """A Read plate (frames 1-5), a Colorize node on it, one keyframe and one still."""
    nuke = fake_nuke
    node, read, ref = colorize_on_plate(nuke, tmp_path)
    still = make_ref(tmp_path / "refs" / "still.png", (30, 160, 90))
    nuke._user_set(node["references"], "1 %s\nstill %s" % (ref, still))
    return node, read, ref, still


def test_node_points_its_read_at_a_version_of_the_shot(shot, fake_nuke, tmp_path):
    node, read, ref, still = shot
    colour_read = node.node("ColourRead")
    first = colour_read["file"].getText()
    root = str(tmp_path / "colorize_cache" / "Colorize1")
    assert first.startswith(os.path.join(root, "v_")) and first.endswith("colour.####.exr")
    assert (colour_read["first"].value(), colour_read["last"].value()) == (1, 5)
    assert node["status"].value() == "cached 0/5 frames; press Analyze"
    # another reference -> another version (never the old frames)
    fake_nuke._user_set(node["references"], "2 %s\nstill %s" % (ref, still))
    second = colour_read["file"].getText()
    assert second != first
    # repainting the reference file in place also makes a new version
    fake_nuke._user_set(node["references"], "1 %s\nstill %s" % (ref, still))
    assert colour_read["file"].getText() == first
    os.utime(ref, (time.time() + 10, time.time() + 10))
    fake_nuke._user_set(node["references"], "1 %s\nstill %s" % (ref, still))
    assert colour_read["file"].getText() not in (first, second)


def test_problems_show_in_the_status_line(shot, fake_nuke):
    node, read, ref, still = shot
    fake_nuke._user_set(node["references"], "10O1 %s" % ref)
    assert node["status"].value().startswith("not ready: references line 1: '10O1'")
    assert node.node("ColourRead")["file"].getText() == ""
    fake_nuke._user_set(node["references"], "1 /no/such/ref.png")
    assert "file not found: /no/such/ref.png" in node["status"].value()
    fake_nuke._user_set(node["references"], "1 %s" % ref)
    node.setInput(0, None)
    fake_nuke._user_set(node["shot"], "sh010")
    assert node["status"].value() == "not ready: connect a plate to the node's plate input"


def test_analyze_blocking_writes_the_shot_file_and_fills_the_cache(shot, fake_nuke, engine_client):
    node, read, ref, still = shot
    fake_nuke._user_set(node["working_size"], 256)
    prep = nc.analyze(node)
    with open(prep.shot_path) as fh:
        data = json.load(fh)
    assert set(data) == {"plate", "frames", "colorspace", "references", "backend", "output", "cache", "settings",
                         "confidence_layer"}
    # paths relative to the file (all on one storage here): the cache and output always, the
    # user's files because they share the storage; the engine reads them back as they were
    assert data["output"] == "colour.####.exr" and data["cache"] == "../cache"
    assert data["plate"] == "../../../plate/plate.####.exr" and data["frames"] == [1, 5]
    assert data["references"] == [{"frame": 1, "image": "../../../refs/key_0001.png"},
                                  {"image": "../../../refs/still.png"}]
    from nuke_colorize.shot import Shot
    loaded = Shot.load(prep.shot_path)
    assert loaded.plate == read["file"].getText() and [r.image for r in loaded.references] == [ref, still]
    assert loaded.output == node.node("ColourRead")["file"].getText() == prep.output
    assert loaded.cache == os.path.join(prep.root, "cache")
    # the plate Read's colorspace "default" reads back as "default (linear)" for EXR files
    assert data["backend"] == "exemplar" and data["colorspace"] == "linear"
    assert data["settings"] == {"max_working_size": 256}
    assert node["shot_file"].value() == prep.shot_path
    assert all(os.path.isfile(frame_path(loaded.output, f)) for f in range(1, 6))
    assert node["status"].value() == "cached 5/5 frames: ready"
    # same knobs again: same shot file, nothing rewritten
    mtime = os.stat(prep.shot_path).st_mtime_ns
    assert nc.prepare(node, write=True).shot_path == prep.shot_path
    assert os.stat(prep.shot_path).st_mtime_ns == mtime


def test_temporal_smoothing_knob_goes_into_the_shot_and_makes_a_version(shot, fake_nuke):
    node, read, ref, still = shot
    off = nc.prepare(node)
    assert "temporal_smoothing" not in off.shot          # 0: the key is left out
    fake_nuke._user_set(node["temporal_smoothing"], 1.5)
    on = nc.prepare(node)
    assert on.shot["temporal_smoothing"] == 1.5
    assert on.output != off.output and node.node("ColourRead")["file"].getText() == on.output
    fake_nuke._user_set(node["temporal_smoothing"], 0.0)
    assert nc.prepare(node).output == off.output         # back to the unsmoothed version


def test_library_knobs_make_an_automatic_reference_shot(shot, fake_nuke, tmp_path):
    node, read, ref, still = shot
    index = tmp_path / "stills.npz"
    fake_nuke._user_set(node["library"], str(index))
    assert node["status"].value().startswith("not ready: library index not found: %s" % index)
    index.write_bytes(b"index")
    fake_nuke._user_set(node["references"], "")          # the table may be empty with a library
    fake_nuke._user_set(node["auto_references"], 2)
    prep = nc.prepare(node)
    assert prep.shot["library"] == str(index) and prep.shot["auto_references"] == 2
    assert prep.shot["references"] == []
    index.write_bytes(b"re-indexed")                      # another index file: another version
    os.utime(index, (time.time() + 10, time.time() + 10))
    assert nc.prepare(node).output != prep.output
    fake_nuke._user_set(node["library"], "")
    assert node["status"].value().startswith("not ready: add at least one reference")


def test_the_engine_s_notes_reach_the_status_line_and_the_log(shot, fake_nuke, tmp_path, monkeypatch, capsys):
    """What the engine says it did differently (a reference whose alpha covers part of it, a
    colour plate...) went to the worker log only: it is now on the node's status line, for
    the version it was said of, and printed by blocking analyses (nuke -t, farm logs)."""
    import json as _json
    import sys

    from hostkit import FAKE_ENGINE
    from nuke_colorize.host import bridge
    node, read, ref, still = shot
    monkeypatch.setenv("FAKE_ENGINE_NOTES", _json.dumps(["key_0001.png: alpha covers 10% of the image"]))
    client = bridge.WorkerClient(command=[sys.executable, "-m", "nuke_colorize"],
                                 worker_args=["--engine-cmd", _json.dumps(FAKE_ENGINE)],
                                 log_path=str(tmp_path / "worker.log"),
                                 env=dict(os.environ, FAKE_ENGINE_DELAY="0.01"))
    old = bridge.set_client(client)
    try:
        nc.analyze(node)
    finally:
        client.close()
        bridge.set_client(old)
    assert "note: key_0001.png: alpha covers 10% of the image" in capsys.readouterr().out
    status = node["status"].value()
    assert status == "cached 5/5 frames: ready (engine notes: key_0001.png: alpha covers 10% of the image)"
    fake_nuke._user_set(node["references"], "2 %s" % ref)      # another version: not said of it
    assert "engine notes" not in node["status"].value()
    nc._set_status(node, "not ready: plate_[v2].####.exr: frame 3 missing")   # no TCL substitution
    assert node["status"].value() == "not ready: plate_(v2).####.exr: frame 3 missing"


def test_analyze_in_the_gui_runs_in_the_background(shot, fake_nuke, engine_client):
    node, read, ref, still = shot
    fake_nuke.env["gui"] = True
    job = nc.analyze(node)
    assert job is not None and job.wait(30)
    assert node["status"].value() == "analysing..."  # knobs change on the main thread only
    fake_nuke._process_main_thread()
    assert node["status"].value() == "cached 5/5 frames: ready"
    task = fake_nuke._progress_log()[-1]
    assert task["progress"] == [20, 40, 60, 80, 100]
    assert job.error is None and not job.cancelled


def test_cancel_from_the_progress_bar_keeps_done_frames(shot, fake_nuke, engine_client, tmp_path):
    node, read, ref, still = shot
    make_plate(tmp_path / "plate", 6, 30)                  # the plate's frames 6-30 too
    engine_client.close()
    engine_client.env = dict(engine_client.env, FAKE_ENGINE_DELAY="0.4")
    fake_nuke.env["gui"] = True
    fake_nuke._user_set(node["use_input_range"], False)
    fake_nuke._user_set(node["last_frame"], 30)
    job = nc.analyze(node)
    for _ in range(200):
        if job.progress:
            break
        time.sleep(0.05)
    fake_nuke._cancel_progress_tasks()
    assert job.wait(30)
    fake_nuke._process_main_thread()
    assert job.cancelled and job.error is None
    status = node["status"].value()
    assert status.startswith("cached ") and "/30 frames" in status and "ready" not in status
    assert not fake_nuke._messages  # a cancel is not an error


def test_cancel_stops_a_worker_that_hangs(fake_nuke, tmp_path, monkeypatch):
    """A worker that takes requests but never answers (hung): Cancel ends the job anyway (the
    worker is stopped; the next request starts a new one) instead of a progress bar forever
    and a shot that stays 'busy' until Nuke restarts."""
    import sys
    import types
    from nuke_colorize.host import bridge
    from nuke_colorize.host.nuke import jobs
    monkeypatch.setattr(jobs, "CANCEL_TIMEOUT_S", 1.0, raising=False)
    hung = [sys.executable, "-c", "import sys\nfor line in sys.stdin.buffer:\n    pass"]
    client = bridge.WorkerClient(command=hung, log_path=str(tmp_path / "worker.log"))
    try:
        prep = types.SimpleNamespace(shot_path=str(tmp_path / "shot.json"))
        job = jobs.start("Colorize1", prep, (1, 10), client=client)
        time.sleep(0.3)
        job.cancel()
        assert job.wait(15), "the cancelled job never ended"
        assert job.cancelled and job.error is None
        assert client.proc.poll() is not None and jobs.running(prep.shot_path) is None
    finally:
        client.close()


def test_analyze_of_a_shot_already_analysing_reports_to_the_second_caller(shot, fake_nuke, engine_client):
    """Analyze pressed on the node, then in the reference panel: the panel follows the running
    job (progress, then done) instead of waiting forever for a job that never reports to it."""
    from nuke_colorize.host.nuke.panel import NukeShotSource
    node, read, ref, still = shot
    engine_client.close()
    engine_client.env = dict(engine_client.env, FAKE_ENGINE_DELAY="0.2")
    fake_nuke.env["gui"] = True
    first = nc.analyze(node)
    seen, finished = [], []
    second = NukeShotSource(engine_client).analyze(node.fullName(), lambda *a: seen.append(a),
                                                     lambda ok, msg: finished.append((ok, msg)))
    assert second is first
    assert first.wait(30)
    fake_nuke._process_main_thread()
    assert finished == [(True, "")]
    assert seen and seen[-1][:2] == (5, 5)
    assert node["status"].value() == "cached 5/5 frames: ready"


def _grade_the_plate(fake_nuke, node, read):
    """Feed ``node`` its plate through a Grade (white 0.5): a node tree, not a plain Read."""
    grade = fake_nuke.nodes.Grade()
    grade.setInput(0, read)
    grade["white"].setValue(0.5)
    node.setInput(0, grade)
    return grade


def test_a_plate_from_a_node_tree_is_precomputed_once(shot, fake_nuke, engine_client, tmp_path):
    node, read, ref, still = shot
    grade = _grade_the_plate(fake_nuke, node, read)
    prep = nc.analyze(node)
    assert prep.shot["colorspace"] == "linear"
    plate = prep.shot["plate"]
    assert os.path.join("precomp", "plate_") in plate
    import OpenImageIO as oiio
    px = oiio.ImageBuf(frame_path(plate, 3)).get_pixels(oiio.FLOAT)
    assert px[0, 0, 0] == pytest.approx(0.5 * 0.03, abs=1e-3)  # half float
    before = os.stat(frame_path(plate, 3)).st_mtime_ns
    assert nc.analyze(node).shot["plate"] == plate
    assert os.stat(frame_path(plate, 3)).st_mtime_ns == before  # not rendered again
    grade["white"].setValue(0.25)
    assert nc.analyze(node).shot["plate"] != plate
    assert not [n for n in node.nodes() if n.Class() == "Write"]  # temporary Write removed


def test_precomps_are_full_size_in_proxy_mode(shot, fake_nuke, engine_client, tmp_path):
    """A Write renders at the active scale, so in proxy mode the precomp (named by the tree's
    signature, which proxy mode does not change) held half-size frames that full-size renders
    then reused. Proxy mode is now off while precomps render, and back on afterwards."""
    import OpenImageIO as oiio
    node, read, ref, still = shot
    _grade_the_plate(fake_nuke, node, read)
    fake_nuke.root()["proxy"].setValue(True)
    grade = fake_nuke.nodes.Grade()             # a keyframe taken from a tree: a one-frame precomp
    grade.setInput(0, fake_nuke.nodes.Read(file=make_plate(tmp_path / "painted", 1, 5), first=1, last=5))
    node.setInput(1, grade)
    fake_nuke._user_set(node["references"], "3 input")
    prep = nc.analyze(node)
    assert fake_nuke.root()["proxy"].value() is True
    plate = prep.shot["plate"]
    for path in [frame_path(plate, f) for f in range(1, 6)] + [prep.shot["references"][0]["image"]]:
        spec = oiio.ImageBuf(path).spec()
        assert (spec.width, spec.height) == (16, 12), path
    # the node's own result is scaled like any Read's
    colour_read = node.node("ColourRead")
    full = oiio.ImageBuf(frame_path(colour_read["file"].getEvaluatedValue(), 3)).spec()
    assert colour_read._image(3)["rgba.red"].shape == (full.height // 2, full.width // 2)
    fake_nuke.root()["proxy"].setValue(False)
    assert nc.analyze(node).shot["plate"] == plate


def test_a_read_with_one_file_per_view_is_refused_with_the_way_out(shot, fake_nuke, tmp_path):
    """A stereo Read (``%V`` in its file) was taken as a sequence whose files are literally
    named ``%V``: 'plate frame missing'. The node colourises one view and says how."""
    node, read, ref, still = shot
    read["file"].setValue(read["file"].value().replace("plate.", "plate_%V."))
    fake_nuke._user_set(node["references"], "1 %s" % ref)
    status = node["status"].value()
    assert "reads one file per view (%V)" in status and "OneView" in status and read.name() in status
    painted = fake_nuke.nodes.Read(file=str(tmp_path / "painted_%v.####.png"), first=1, last=5)
    node.setInput(0, read)
    read["file"].setValue(read["file"].value().replace("plate_%V.", "plate."))
    node.setInput(1, painted)
    fake_nuke._user_set(node["references"], "3 input")
    assert "reference input (%s) reads one file per view (%%v)" % painted.name() in node["status"].value()


def test_references_from_the_reference_input(shot, fake_nuke, engine_client, tmp_path):
    node, read, ref, still = shot
    colour = make_plate(tmp_path / "painted", 1, 5)
    painted = fake_nuke.nodes.Read(file=colour, first=1, last=5)
    node.setInput(1, painted)
    fake_nuke._user_set(node["references"], "3 input\n5 input 1")
    prep = nc.prepare(node, write=False)
    assert prep.shot["references"] == [{"frame": 3, "image": frame_path(colour, 3), "colorspace": "linear"},
                                       {"frame": 5, "image": frame_path(colour, 1), "colorspace": "linear"}]
    grade = fake_nuke.nodes.Grade()
    grade.setInput(0, painted)
    node.setInput(1, grade)
    prep = nc.analyze(node)
    images = [r["image"] for r in prep.shot["references"]]
    assert all(os.path.isfile(p) and os.sep + "refs" + os.sep in p for p in images)
    fake_nuke._user_set(node["references"], "3 input 9")
    assert "frame 9" in node["status"].value() or node["status"].value().startswith("cached")


def test_render_fails_or_computes_missing_frames(shot, fake_nuke, engine_client, tmp_path):
    node, read, ref, still = shot
    render.install()
    out = str(tmp_path / "render" / "comp.####.exr")
    write = fake_nuke.nodes.Write(file=out, file_type="exr", create_directories=True)
    write["datatype"].setValue("32 bit float")
    write.setInput(0, node)
    fake_nuke._user_set(node["missing_frames"], "fail the frame")
    with pytest.raises(RuntimeError, match="frame 4 of shot 'Colorize1' has not been analysed"):
        fake_nuke.execute(write, 4, 4)
    assert not os.path.exists(frame_path(out, 4))
    fake_nuke._user_set(node["missing_frames"], "compute on the spot")
    import OpenImageIO as oiio
    for f in (4, 2, 5):  # out of order, one frame per execute like farm tasks
        fake_nuke.execute(write, f, f)
        px = oiio.ImageBuf(frame_path(out, f)).get_pixels(oiio.FLOAT)
        assert px[0, 0, 0] == pytest.approx(f / 10000.0, abs=1e-7)
    cached = node.node("ColourRead")["file"].getText()
    assert [f for f in range(1, 6) if os.path.isfile(frame_path(cached, f))] == [2, 4, 5]
    assert nc.refresh(node) is not None
    assert node["status"].value() == "cached 3/5 frames (2, 4-5); press Analyze"


def test_clear_cache_removes_results_and_shows_stale_state(shot, fake_nuke, engine_client):
    node, read, ref, still = shot
    nc.analyze(node)
    fake_nuke._user_set(node["references"], "2 %s" % ref)
    assert node["status"].value().startswith("cached 0/5 frames; 5 stale")
    nc.clear_cache(node)
    assert node["status"].value() == "cached 0/5 frames; press Analyze"
    root = os.path.dirname(os.path.dirname(node.node("ColourRead")["file"].getText()))
    assert [n for n in os.listdir(root) if n.startswith("v_")] == []


def test_clear_cache_while_the_shot_is_analysing_is_refused(shot, fake_nuke, engine_client):
    """Clear cache pressed during Analyze of the same shot deleted the version folders (and
    precomps) under the running engine, which went on writing into them. It is refused now."""
    node, read, ref, still = shot
    engine_client.close()
    engine_client.env = dict(engine_client.env, FAKE_ENGINE_DELAY="0.3")
    fake_nuke.env["gui"] = True
    job = nc.analyze(node)
    for _ in range(200):
        if job.progress:
            break
        time.sleep(0.05)
    nc.clear_cache(node)
    assert any("being analysed" in text for kind, text in fake_nuke._messages if kind == "message")
    assert job.wait(30)
    fake_nuke._process_main_thread()
    assert job.error is None
    assert node["status"].value() == "cached 5/5 frames: ready"


def test_matte_input_goes_into_the_shot(shot, fake_nuke, tmp_path):
    node, read, ref, still = shot
    mattes = make_plate(tmp_path / "mattes", 1, 5)
    node.setInput(2, fake_nuke.nodes.Read(file=mattes, first=1, last=5))
    prep = nc.prepare(node)
    assert prep.shot["matte"] == mattes
    node.setInput(2, None)
    assert "matte" not in nc.prepare(node).shot



def test_a_matte_from_a_node_tree_keeps_its_object_channels_and_exact_ids(shot, fake_nuke, tmp_path):
    """A matte input that is a node tree is precomputed like the plate. It was written as rgba
    in half float: one-channel-per-object (and Cryptomatte) layers were dropped, leaving no
    object at all, and IDs above 2048 were rounded (3001 read back as 3000). Mattes are now
    precomputed with every channel in 32-bit float."""
    import OpenImageIO as oiio
    from nuke_colorize.io.matte import MatteReader, channel_id
    node, read, ref, still = shot
    h, w = 12, 16
    names = ["R", "G", "B", "A", "car.alpha", "person.alpha"]
    for f in range(1, 6):
        px = np.zeros((h, w, len(names)), np.float32)
        px[..., 0] = 3001.0                       # an ID pass in R ...
        px[:, 8:, 0] = 3003.0
        px[2:6, 2:6, 4] = 1.0                     # ... and two objects in their own layers
        px[7:10, 9:14, 5] = 1.0
        spec = oiio.ImageSpec(w, h, len(names), "float")
        spec.channelnames = names
        path = str(tmp_path / "m" / ("obj.%04d.exr" % f))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        out = oiio.ImageOutput.create(path)
        assert out.open(path, spec)
        out.write_image(px)
        out.close()
    matte_read = fake_nuke.nodes.Read(file=str(tmp_path / "m" / "obj.####.exr"), first=1, last=5)
    grade = fake_nuke.nodes.Grade()               # a tree, not a plain Read: precomputed
    grade.setInput(0, matte_read)
    node.setInput(2, grade)
    pattern = nc.prepare(node, write=True).shot["matte"]
    assert os.path.join("precomp", "matte") in pattern
    ids = MatteReader(pattern, (w, h))(3)
    car, person = channel_id("car.alpha"), channel_id("person.alpha")      # the two object layers
    assert ids[3, 3] == car and ids[8, 10] == person and ids[0, 0] == 0
    exr = oiio.ImageBuf(frame_path(pattern, 3))
    assert [exr.spec().channelformat(i) for i in range(exr.nchannels)] == [oiio.TypeDesc("float")] * exr.nchannels
    r = exr.get_pixels(oiio.FLOAT)[..., 0]
    assert r[0, 0] == 3001.0 and r[0, 15] == 3003.0                       # IDs exact

def test_frame_range_knobs_and_panel_style_reference_edits(shot, fake_nuke):
    node, read, ref, still = shot
    fake_nuke._user_set(node["references"], "3 %s\nstill %s" % (ref, still))   # inside 2-4
    fake_nuke._user_set(node["use_input_range"], False)
    assert node["first_frame"].enabled() and node["last_frame"].enabled()
    fake_nuke._user_set(node["first_frame"], 2)
    fake_nuke._user_set(node["last_frame"], 4)
    assert nc.prepare(node).frames == (2, 4)
    assert node.node("ColourRead")["first"].value() == 2
    from nuke_colorize.host.references import RefRow
    nc.set_references(node, [RefRow(None, "file", still), RefRow(3, "file", ref)])
    assert node["references"].value() == "3 %s\nstill %s" % (ref, still)
    fake_nuke._user_set(node["last_frame"], 1)
    assert node["status"].value() == "not ready: the frame range ends (1) before it starts (2)"


def test_a_copy_of_the_script_elsewhere_renders_from_the_analysed_cache(shot, fake_nuke, engine_client, tmp_path):
    """Deadline's Nuke plug-in renders a local copy of the submitted script. With the default
    cache folder ("beside the script") the copy looked for a cache beside itself, and a farm
    task in 'fail the frame' mode failed every frame (in 'compute' mode it recomputed the
    chain). The node now keeps the cache folder of its last Analyze while none is beside
    the copy."""
    node, read, ref, still = shot
    prep = nc.analyze(node)
    analysed = str(tmp_path / "colorize_cache")
    assert nc.cache_root(node) == analysed
    copy_dir = tmp_path / "deadline_slave" / "jobsData"
    copy_dir.mkdir(parents=True)
    fake_nuke.root()["name"].setValue(str(copy_dir / "comp_copy.nk"))
    assert nc.cache_root(node) == analysed
    render.install()
    out = str(tmp_path / "render" / "comp.####.exr")
    write = fake_nuke.nodes.Write(file=out, file_type="exr", create_directories=True)
    write.setInput(0, node)
    fake_nuke._user_set(node["missing_frames"], "fail the frame")
    fake_nuke.execute(write, 3, 3)                       # found, not refused
    assert os.path.isfile(frame_path(out, 3)) and node.node("ColourRead")["file"].getText() == prep.output
    assert not (copy_dir / "colorize_cache").exists()
    (copy_dir / "colorize_cache").mkdir()                # a cache beside the script wins
    assert nc.cache_root(node) == str(copy_dir / "colorize_cache")
    fake_nuke._user_set(node["shot"], "other")           # a shot the analysed cache does not hold
    (copy_dir / "colorize_cache").rmdir()
    assert nc.cache_root(node) == str(copy_dir / "colorize_cache")


def test_render_never_precomputes_inside_a_render(shot, fake_nuke, engine_client, tmp_path):
    """A tree plate with no precomp cannot be rendered by the hook (Nuke refuses a nested
    execute); the frame fails with what to do instead of a wrong image."""
    node, read, ref, still = shot
    grade = fake_nuke.nodes.Grade()
    grade.setInput(0, read)
    node.setInput(0, grade)
    render.install()
    write = fake_nuke.nodes.Write(file=str(tmp_path / "r" / "c.####.exr"), file_type="exr", create_directories=True)
    write.setInput(0, node)
    with pytest.raises(RuntimeError, match="plate comes from a node tree .* press Analyze"):
        fake_nuke.execute(write, 3, 3)
    nc.analyze(node, frames=(1, 2))  # precomp + two frames
    fake_nuke.execute(write, 3, 3)  # now the hook computes frame 3 on the spot
    assert os.path.isfile(frame_path(str(tmp_path / "r" / "c.####.exr"), 3))


def _render_frame_3_without_computing(node, fake_nuke, folder):
    """Frame 3 of ``node`` rendered through a Write (the render hook installed) with missing
    frames set to 'fail the frame'; returns the Write's pattern under ``folder/render``."""
    render.install()
    out = str(folder / "render" / "comp.####.exr")
    write = fake_nuke.nodes.Write(file=out, file_type="exr", create_directories=True)
    write.setInput(0, node)
    fake_nuke._user_set(node["missing_frames"], "fail the frame")
    fake_nuke.execute(write, 3, 3)
    return out


def test_a_script_seen_under_another_mount_point_finds_its_version_and_precomp(shot, fake_nuke, engine_client,
                                                                               tmp_path):
    """The farm sees the storage under another path (the tree copied with its mtimes) and the
    script's paths rewritten (Deadline's path mapping): a plate from a node tree names the same
    precomp, the node the same version, so the analysed frames are used ('fail the frame'
    renders them) and nothing is precomputed again."""
    import shutil
    from nuke_colorize.host.nuke import sources
    node, read, ref, still = shot
    _grade_the_plate(fake_nuke, node, read)
    analysed = nc.analyze(node)
    assert os.path.join("precomp", "plate_") in analysed.shot["plate"]
    other = tmp_path.parent / ("farm_" + tmp_path.name)
    shutil.copytree(str(tmp_path), str(other), ignore=shutil.ignore_patterns("*.log"))

    def mapped(path):
        return path.replace(str(tmp_path), str(other))

    fake_nuke.root()["name"].setValue(mapped(fake_nuke.root()["name"].value()))
    read["file"].setValue(mapped(read["file"].value()))
    fake_nuke._user_set(node["references"], "1 %s\nstill %s" % (mapped(ref), mapped(still)))
    node["shot_file"].setValue(mapped(node["shot_file"].value()))
    prep = nc.prepare(node)
    assert prep.output == mapped(analysed.output) and prep.shot["plate"] == mapped(analysed.shot["plate"])
    assert not sources.missing_precomp_frames(prep.plate, prep.frames)
    out = _render_frame_3_without_computing(node, fake_nuke, other)
    assert os.path.isfile(frame_path(out, 3))
    # the plate itself changed (a frame re-rendered): another precomp, another version
    plate3 = frame_path(read["file"].value(), 3)
    st = os.stat(plate3)
    os.utime(plate3, ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
    changed = nc.prepare(node)
    assert changed.shot["plate"] != prep.shot["plate"] and changed.output != prep.output


def test_a_keyframe_outside_the_frame_range_is_not_ready_before_analyze(shot, fake_nuke, engine_client, tmp_path):
    """A keyframe at frame 9 of a plate of frames 1-5: the status said 'cached 0/5 frames;
    press Analyze', and Analyze could only fail in the engine ('reference frame 9 is outside
    the shot's frames'). The node now says so at once, with the way out, and Analyze does not
    start the engine."""
    node, read, ref, still = shot
    fake_nuke._user_set(node["references"], "9 %s\nstill %s" % (ref, still))
    status = node["status"].value()
    assert status.startswith("not ready: references line 1: frame 9 is outside the frames the node "
                             "colourises (1-5)") and "still %s" % ref in status
    assert node.node("ColourRead")["file"].getText() == ""
    with pytest.raises(nc.NodeError, match="frame 9 is outside"):
        nc.analyze(node)
    assert not engine_client.alive()
    make_plate(tmp_path / "plate", 6, 10)
    fake_nuke._user_set(node["last_frame"], 10)
    fake_nuke._user_set(node["use_input_range"], False)        # widened: ready to analyse
    assert node["status"].value() == "cached 0/10 frames; press Analyze"


def test_renaming_the_node_keeps_its_analysed_shot_and_a_copy_gets_its_own(shot, fake_nuke, engine_client,
                                                                           tmp_path):
    """With an empty shot name the shot folder is the node's name: renaming an analysed node
    (Colorize1 -> Hero) pointed it at an empty folder, every frame 'not analysed' (a 'fail the
    frame' render refused them, 'compute' recomputed the shot from nothing under the new name).
    A renamed node now keeps the folder it was analysed in, through a save and reopen; a copy
    pasted beside its original still gets a folder of its own, as it did."""
    node, read, ref, still = shot
    prep = nc.analyze(node)
    fake_nuke._user_set(node["name"], "Hero")
    fake_nuke._idle()
    assert node["status"].value() == "cached 5/5 frames: ready"
    assert node.node("ColourRead")["file"].getText() == prep.output and nc.shot_name(node) == "Colorize1"
    out = _render_frame_3_without_computing(node, fake_nuke, tmp_path)
    assert os.path.isfile(frame_path(out, 3))
    fake_nuke.scriptSaveAs(str(tmp_path / "comp.nk"))
    fake_nuke._reset(gui=False)
    fake_nuke.pluginAddPath(os.path.dirname(nc.gizmo_path()), addToSysPath=False)
    fake_nuke.scriptOpen(str(tmp_path / "comp.nk"))
    node = fake_nuke.toNode("Hero")
    assert nc.refresh(node).output == prep.output and node["status"].value() == "cached 5/5 frames: ready"
    # a copy pasted beside it: its own folder (named after the copy), nothing shared
    for n in fake_nuke.allNodes():
        n.setSelected(n is node)
    fake_nuke.nodeCopy(str(tmp_path / "clip.nk"))
    fake_nuke.nodePaste(str(tmp_path / "clip.nk"))
    copy = [n for n in nc.all_shots() if n.name() != "Hero"][0]
    assert os.path.join("colorize_cache", copy.name(), "v_") in copy.node("ColourRead")["file"].getText()
    assert copy["status"].value() == "cached 0/5 frames; press Analyze"
    assert nc.refresh(node).output == prep.output
    # a node renamed before it was ever analysed simply follows its name
    fresh = fake_nuke.toNode(copy.name())
    fake_nuke._user_set(fresh["name"], "Fresh")
    assert os.path.join("colorize_cache", "Fresh", "v_") in nc.refresh(fresh).output


def test_the_status_line_follows_an_analysis_through_edits_and_a_rename(shot, fake_nuke, engine_client):
    """While Analyze ran, any refresh (an idle check after an edit) set the status to 'cached
    2/5 frames (1-2); press Analyze', and the end of the analysis updated the node by the
    name it had when Analyze was pressed: a node renamed meanwhile kept that line for good
    (5/5 were cached) and its Read was never reloaded. The status now says 'analysing...'
    while the version is analysed, and the end reaches every node showing the version."""
    node, read, ref, still = shot
    job = _slow_analysis_two_frames_in(node, fake_nuke, engine_client)
    fake_nuke._user_set(node["name"], "Hero")
    fake_nuke._idle()
    status = node["status"].value()
    assert status.startswith("analysing... cached ") and "press Analyze" not in status
    assert job.wait(30)
    fake_nuke._process_main_thread()
    fake_nuke._idle()
    assert job.error is None and node["status"].value() == "cached 5/5 frames: ready"


def test_outside_its_frames_the_node_never_lays_another_frame_s_colour(shot, fake_nuke, engine_client, tmp_path):
    """The node's Read held its first and last frames (a Read's default before/after): with a
    frame range of 2-4 on a plate of 1-5, frames 1 and 5 showed (and rendered) the colour of
    frames 2 and 4 over other plate frames. Outside the frames it colourises the node is now
    black, unless the range ends where the plate does: then it follows the plate Read's own
    before/after, so held or looped plate frames get their own colour."""
    import OpenImageIO as oiio
    node, read, ref, still = shot
    fake_nuke._user_set(node["references"], "3 %s" % ref)
    fake_nuke._user_set(node["use_input_range"], False)
    fake_nuke._user_set(node["first_frame"], 2)
    fake_nuke._user_set(node["last_frame"], 4)
    nc.analyze(node)
    red = [float(node._image(f)["rgba.red"][0, 0]) for f in range(0, 7)]
    assert red == pytest.approx([0, 0, 0.0002, 0.0003, 0.0004, 0, 0], abs=1e-7)
    render.install()
    out = str(tmp_path / "render" / "comp.####.exr")
    write = fake_nuke.nodes.Write(file=out, file_type="exr", create_directories=True)
    write["datatype"].setValue("32 bit float")
    write.setInput(0, node)
    fake_nuke.execute(write, 5, 5)
    assert oiio.ImageBuf(frame_path(out, 5)).get_pixels(oiio.FLOAT)[0, 0, 0] == 0.0
    # the plate's own range: the plate Read's before/after (loop 1-5: frame 7 is frame 2)
    read["after"].setValue("loop")
    fake_nuke._user_set(node["use_input_range"], True)
    nc.analyze(node)
    assert float(node._image(7)["rgba.red"][0, 0]) == pytest.approx(0.0002, abs=1e-7)
    assert float(node._image(0)["rgba.red"][0, 0]) == pytest.approx(0.0001, abs=1e-7)   # hold


def _slow_analysis_two_frames_in(node, fake_nuke, engine_client):
    """A GUI Analyze of ``node`` on an engine taking 0.3 s a frame, returned running once two
    frames are done."""
    engine_client.close()
    engine_client.env = dict(engine_client.env, FAKE_ENGINE_DELAY="0.3")
    fake_nuke.env["gui"] = True
    job = nc.analyze(node)
    for _ in range(200):
        if len(job.progress) >= 2:
            break
        time.sleep(0.05)
    return job


def _analysis_killed_after_two_frames(node, fake_nuke, engine_client):
    """A GUI Analyze of ``node`` whose engine is SIGKILLed once two frames are done (as the
    system's out-of-memory killer would); returns the finished job, main-thread work run."""
    import signal
    job = _slow_analysis_two_frames_in(node, fake_nuke, engine_client)
    os.kill(job.request.engine_pids[0], signal.SIGKILL)
    assert job.wait(30)
    fake_nuke._process_main_thread()
    return job


def test_an_engine_killed_mid_analysis_is_said_so_and_the_next_analyze_resumes(shot, fake_nuke, engine_client):
    """An engine killed mid-analysis (the system out of memory) was reported as 'engine
    command failed with exit code -9'. The message now says it was killed and that the
    finished frames are kept; the next Analyze runs."""
    node, read, ref, still = shot
    job = _analysis_killed_after_two_frames(node, fake_nuke, engine_client)
    assert job.error.startswith("the engine process was killed by signal 9")
    assert "frames it finished stay in the cache" in fake_nuke._messages[-1][1]
    assert node["status"].value().startswith("cached 2/5 frames (1-2)")
    engine_client.env = dict(engine_client.env, FAKE_ENGINE_DELAY="0.01")
    again = nc.analyze(node)
    assert again.wait(30)
    fake_nuke._process_main_thread()
    assert again.error is None and node["status"].value() == "cached 5/5 frames: ready"


def _second_node_of_the_same_shot(node, read, ref, fake_nuke, tmp_path):
    """A second Colorize node on ``read`` sharing ``node``'s shot name (sh010), with another
    keyframe 1 (green) where ``node`` keeps ``ref``; returns the second node."""
    other_ref = make_ref(tmp_path / "refs" / "other.png", (10, 200, 30))
    for n in fake_nuke.allNodes():
        n.setSelected(n is read)
    second = nc.create()
    for n, r in ((node, ref), (second, other_ref)):
        fake_nuke._user_set(n["shot"], "sh010")
        fake_nuke._user_set(n["references"], "1 %s" % r)
    return second


def test_clear_cache_keeps_the_results_of_another_node_of_the_same_shot(shot, fake_nuke, engine_client, tmp_path):
    """Two nodes with one shot name share its folder. Clear cache on one deleted every version
    folder in it (and the precomps), so the other node, with other references, lost its
    analysed frames without a word. Its results (and the precomps) now stay, and the question
    says so."""
    node, read, ref, still = shot
    second = _second_node_of_the_same_shot(node, read, ref, fake_nuke, tmp_path)
    first_prep, second_prep = nc.analyze(node), nc.analyze(second)
    assert first_prep.output != second_prep.output
    fake_nuke.env["gui"] = True
    nc.clear_cache(node)
    question = [text for kind, text in fake_nuke._messages if kind == "ask"][-1]
    assert "%s use(s) the same shot: their results are kept" % second.fullName() in question
    assert node["status"].value() == "cached 0/5 frames; press Analyze"
    assert nc.refresh(second) is not None and second["status"].value() == "cached 5/5 frames: ready"
    assert not os.path.isdir(os.path.dirname(first_prep.output))


def test_another_node_s_results_are_not_this_node_s_stale_frames(shot, fake_nuke, engine_client, tmp_path):
    """Two nodes of one shot name: the frames the other node shows were counted as this
    node's 'stale (references or settings changed)' frames, in its status line and in the
    reference panel's segments."""
    from nuke_colorize.host.nuke.panel import NukeShotSource
    node, read, ref, still = shot
    second = _second_node_of_the_same_shot(node, read, ref, fake_nuke, tmp_path)
    nc.analyze(second)
    assert nc.refresh(node) is not None and node["status"].value() == "cached 0/5 frames; press Analyze"
    info = [s for s in NukeShotSource(engine_client).shots() if s.key == node.fullName()][0]
    assert info.segments == [(1, 5, "missing")]
    nc.analyze(node)
    fake_nuke._user_set(node["references"], "2 %s" % ref)      # its own older version: stale
    assert node["status"].value() == "cached 0/5 frames; 5 stale (references or settings changed); press Analyze"


def test_a_disabled_colorize_node_is_left_out_of_renders(shot, fake_nuke, engine_client, tmp_path):
    """A disabled Colorize node passes its plate through, but the render hook still checked
    it: 'fail the frame' refused frames whose colour nobody renders, 'compute on the spot'
    computed them. A disabled node is now passed over (what is upstream of its plate still
    counts)."""
    import OpenImageIO as oiio
    node, read, ref, still = shot
    render.install()
    out = str(tmp_path / "render" / "comp.####.exr")
    write = fake_nuke.nodes.Write(file=out, file_type="exr", create_directories=True)
    write["datatype"].setValue("32 bit float")
    write.setInput(0, node)
    node["disable"].setValue(True)
    fake_nuke._user_set(node["missing_frames"], "fail the frame")
    fake_nuke.execute(write, 3, 3)
    assert oiio.ImageBuf(frame_path(out, 3)).get_pixels(oiio.FLOAT)[0, 0, 0] == pytest.approx(0.03, abs=1e-6)
    fake_nuke._user_set(node["missing_frames"], "compute on the spot")
    fake_nuke.execute(write, 4, 4)
    assert not os.path.isfile(frame_path(nc.prepare(node).output, 4))
    node["disable"].setValue(False)
    fake_nuke.execute(write, 4, 4)                                  # enabled: computed
    assert os.path.isfile(frame_path(nc.prepare(node).output, 4))


def test_frames_a_render_computes_are_counted_in_the_status_line(shot, fake_nuke, engine_client, tmp_path):
    """A render in the GUI computing missing frames on the spot left the status line (and the
    reference panel, which shows it) at 'cached 0/5 frames' until some knob changed: the
    status now counts each frame the render had computed."""
    node, read, ref, still = shot
    fake_nuke.env["gui"] = True
    render.install()
    write = fake_nuke.nodes.Write(file=str(tmp_path / "r" / "c.####.exr"), file_type="exr", create_directories=True)
    write.setInput(0, node)
    assert node["status"].value() == "cached 0/5 frames; press Analyze"
    fake_nuke.execute(write, 4, 4)
    assert node["status"].value() == "cached 1/5 frames (4); press Analyze"


def test_clear_cache_refused_by_the_engine_deletes_nothing(shot, fake_nuke, engine_client):
    """Clear cache while another process renders or builds from the shot cache: the engine
    refuses ('in use by another process'), yet the node deleted every result (the frames that
    render was reading) and said 'results deleted, but the engine could not clear its cache'.
    Now nothing is deleted and the message says why."""
    node, read, ref, still = shot
    prep = nc.analyze(node)
    engine_client.close()
    engine_client.env = dict(engine_client.env, FAKE_ENGINE_CLEAR_BUSY="1")
    fake_nuke.env["gui"] = True
    nc.clear_cache(node)
    text = fake_nuke._messages[-1][1]
    assert text.startswith("Colorize1: nothing was deleted") and "in use by another process" in text
    assert all(os.path.isfile(frame_path(prep.output, f)) for f in range(1, 6))
    assert node["status"].value() == "cached 5/5 frames: ready"


def test_a_plate_with_missing_frames_is_not_ready_before_analyze(shot, fake_nuke, engine_client):
    """A plate Read over 1-5 whose frame 3 file is missing (a render not finished, a gap): the
    status said 'press Analyze' and the engine then refused the shot. The status now names the
    missing frames at once."""
    node, read, ref, still = shot
    os.remove(frame_path(read["file"].getEvaluatedValue(), 3))
    fake_nuke._user_set(node["references"], "1 %s" % ref)
    status = node["status"].value()
    assert status.startswith("not ready: the plate has no file for frame(s) 3 of 1-5 (") and "plate.0003.exr" in status
    with pytest.raises(nc.NodeError, match="no file for frame"):
        nc.analyze(node)
    fake_nuke._user_set(node["use_input_range"], False)
    fake_nuke._user_set(node["last_frame"], 2)
    assert node["status"].value() == "cached 0/2 frames; press Analyze"


def test_a_renamed_node_finds_its_shot_on_a_farm_that_mounts_the_show_elsewhere(shot, fake_nuke, engine_client,
                                                                                 tmp_path):
    """A node renamed after Analyze keeps its shot folder through its shot_file knob; on a
    farm machine that sees the storage under another path, with the knob left as the artist's
    machine wrote it, the folder is found in the node's cache folder as the farm sees it."""
    import shutil
    node, read, ref, still = shot
    analysed = nc.analyze(node)
    fake_nuke._user_set(node["name"], "Hero")
    other = tmp_path.parent / ("farm_" + tmp_path.name)
    shutil.copytree(str(tmp_path), str(other), ignore=shutil.ignore_patterns("*.log"))
    shutil.rmtree(str(tmp_path / "colorize_cache"))          # the artist's path: not on this machine

    def mapped(path):
        return path.replace(str(tmp_path), str(other))

    fake_nuke.root()["name"].setValue(mapped(fake_nuke.root()["name"].value()))
    read["file"].setValue(mapped(read["file"].value()))
    fake_nuke._user_set(node["references"], "1 %s\nstill %s" % (mapped(ref), mapped(still)))
    assert nc.prepare(node).output == mapped(analysed.output)
    out = _render_frame_3_without_computing(node, fake_nuke, other)
    assert os.path.isfile(frame_path(out, 3))


def test_fail_the_frame_says_when_the_frame_was_analysed_for_other_inputs(shot, fake_nuke, engine_client,
                                                                          tmp_path):
    """A farm render in 'fail the frame' mode said 'frame 3 has not been analysed ... press
    Analyze' also when it had been, for inputs that differ here (a plate copied without its
    modification times, a reference repainted since): the message now says the shot holds the
    frame for other inputs and what counts as different."""
    node, read, ref, still = shot
    nc.analyze(node)
    plate3 = frame_path(read["file"].getEvaluatedValue(), 3)
    st = os.stat(plate3)
    os.utime(plate3, ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))   # copied without its mtime
    render.install()
    write = fake_nuke.nodes.Write(file=str(tmp_path / "r" / "c.####.exr"), file_type="exr", create_directories=True)
    write.setInput(0, node)
    fake_nuke._user_set(node["missing_frames"], "fail the frame")
    with pytest.raises(RuntimeError, match="has not been analysed .* holds frame 3 for other inputs"):
        fake_nuke.execute(write, 3, 3)
    fake_nuke._user_set(node["use_input_range"], False)
    fake_nuke._user_set(node["last_frame"], 6)
    make_plate(tmp_path / "plate", 6, 6)
    with pytest.raises(RuntimeError, match="has not been analysed") as err:
        fake_nuke.execute(write, 6, 6)
    assert "other inputs" not in str(err.value)                 # never analysed at all


def test_a_plate_read_with_a_frame_offset(shot, fake_nuke, engine_client):
    """A plate Read offset by 10 frames (file frames 1-5 shown at 11-15) is a retimed plate:
    precomputed at the frames the script sees, the node's range follows it, and a keyframe
    left at the old frame numbers is named, not analysed."""
    import OpenImageIO as oiio
    node, read, ref, still = shot
    read["frame_mode"].setValue("offset")
    read["frame"].setValue("10")
    fake_nuke._user_set(node["references"], "11 %s" % ref)
    prep = nc.analyze(node)
    assert prep.frames == (11, 15) and os.path.join("precomp", "plate_") in prep.shot["plate"]
    red = [float(oiio.ImageBuf(frame_path(prep.shot["plate"], f)).get_pixels(oiio.FLOAT)[0, 0, 0]) for f in (11, 15)]
    assert red == pytest.approx([0.01, 0.05], abs=1e-3)
    assert node["status"].value() == "cached 5/5 frames: ready"
    read["frame"].setValue("20")
    fake_nuke._idle()
    assert node["status"].value().startswith("not ready: references line 1: frame 11 is outside the frames "
                                             "the node colourises (21-25)")


def test_a_reopened_deepexemplar_shot_finds_its_version_before_the_engine_is_asked(shot, fake_nuke, engine_client,
                                                                                   tmp_path, monkeypatch):
    """The node mapped its working size onto the backend's setting only once it had asked the
    engine (first Analyze or render of a session, on Nuke's main thread); before that a
    deepexemplar node named 'max_working_size', another version: a script reopened in a new
    session showed 'cached 0/5 frames; 5 stale' and no colour for a shot fully analysed.
    The node's own backends' settings are now known without asking."""
    node, read, ref, still = shot
    monkeypatch.setattr(nc, "_DECLARED", {})
    nc.learn_backend_settings(engine_client)                  # a session that asked the engine
    fake_nuke._user_set(node["backend"], "deepexemplar")
    fake_nuke._user_set(node["working_size"], 300)
    prep = nc.analyze(node)
    assert prep.shot["settings"] == {"working_size": 300}
    fake_nuke.scriptSaveAs(str(tmp_path / "comp.nk"))
    monkeypatch.setattr(nc, "_DECLARED", {})                  # a new session: not asked yet
    fake_nuke._reset(gui=True)
    fake_nuke.pluginAddPath(os.path.dirname(nc.gizmo_path()), addToSysPath=False)
    fake_nuke.scriptOpen(str(tmp_path / "comp.nk"))
    node = fake_nuke.toNode("Colorize1")
    fake_nuke._idle()
    assert node["status"].value() == "cached 5/5 frames: ready"
    assert node.node("ColourRead")["file"].getText() == prep.output


def test_outside_its_frames_a_node_on_a_plate_tree_follows_the_tree_s_read(shot, fake_nuke, engine_client):
    """The plate through a Grade: the node held its first and last colour frames whatever the
    tree's Read does outside its range (before 'black': black plate frames under the colour of
    frame 1). It now follows the before/after of the Read the tree's range comes from."""
    node, read, ref, still = shot
    grade = _grade_the_plate(fake_nuke, node, read)
    read["before"].setValue("black")
    nc.analyze(node)
    assert float(grade._image(0)["rgba.red"][0, 0]) == 0.0
    assert float(node._image(0)["rgba.red"][0, 0]) == 0.0                      # black, as the plate
    assert float(node._image(7)["rgba.red"][0, 0]) == pytest.approx(0.0005, abs=1e-7)   # after: hold


def test_the_status_line_keeps_why_the_last_analysis_failed(shot, fake_nuke, engine_client):
    """A failed analysis in the GUI was said once, in a message box; the status line went back
    to 'cached 2/5 frames (1-2); press Analyze' as if nothing had happened. It now keeps why
    the last Analyze of the version failed, until one succeeds."""
    node, read, ref, still = shot
    job = _analysis_killed_after_two_frames(node, fake_nuke, engine_client)
    fake_nuke._idle()
    status = node["status"].value()
    assert status.startswith("cached 2/5 frames (1-2); press Analyze (last Analyze failed: the engine process "
                             "was killed by signal 9")
    engine_client.env = dict(engine_client.env, FAKE_ENGINE_DELAY="0.01")
    again = nc.analyze(node)
    assert again.wait(30)
    fake_nuke._process_main_thread()
    assert node["status"].value() == "cached 5/5 frames: ready"
