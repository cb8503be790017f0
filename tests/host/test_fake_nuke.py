"""The fake nuke module is strict like the real API (unlike a bare mock) and really renders."""
from __future__ import annotations

import os

import numpy as np
import pytest

from hostkit import GIZMO, make_plate
from hostkit import fake_nuke  # noqa: F401  (pytest fixtures)


def test_misspelt_knobs_and_wrong_calls_fail(fake_nuke):
    nuke = fake_nuke
    read = nuke.nodes.Read(file="/x/plate.####.exr", first=1, last=5)
    with pytest.raises(NameError, match="knob fiel does not exist"):
        read["fiel"]
    assert read.knob("fiel") is None
    with pytest.raises(NameError):
        nuke.nodes.Read(fiel="/x.exr")
    with pytest.raises(AttributeError):
        nuke.nodes.Raed()
    with pytest.raises(TypeError):
        read["first"].setValue("1001")
    with pytest.raises(ValueError):
        read["on_error"].setValue("explode")
    with pytest.raises(TypeError):
        read["file"].setValue(42)
    with pytest.raises(AttributeError):
        read.fileName()  # not a Node method
    with pytest.raises(TypeError):
        read.setInput(0)  # missing argument
    with pytest.raises(RuntimeError, match="cannot be executed"):
        nuke.execute(read, 1, 1)
    assert read["on_error"].value() == "error" and read["on_error"].getValue() == 0.0
    read["on_error"].setValue("black")
    assert read["on_error"].getValue() == 1.0


def test_callbacks_see_this_node_and_this_knob(fake_nuke):
    nuke = fake_nuke
    seen = []
    g = nuke.nodes.Group()
    k = nuke.Int_Knob("amount")
    g.addKnob(k)
    g["knobChanged"].setValue("seen.append((nuke.thisNode().name(), nuke.thisKnob().name()))")
    import builtins
    builtins.seen = seen
    try:
        nuke._user_set(g["amount"], 3)
        k.setValue(4)  # a plain setValue from Python does not run knobChanged here
    finally:
        del builtins.seen
    # the edit opened the panel first (Nuke calls knobChanged with "showPanel" then)
    assert seen == [(g.name(), "showPanel"), (g.name(), "amount")]
    b = nuke.PyScript_Knob("go", "Go", "nuke.thisNode()['amount'].setValue(nuke.thisNode()['amount'].value() + 1)")
    g.addKnob(b)
    nuke._press(g["go"])
    assert g["amount"].value() == 5


def test_execute_renders_through_groups_with_bottom_left_origin(fake_nuke, tmp_path):
    nuke = fake_nuke
    plate = make_plate(tmp_path / "plate", 1, 3, w=8, h=4)
    read = nuke.nodes.Read(file=plate, first=1, last=3)
    grade = nuke.nodes.Grade()
    grade.setInput(0, read)
    grade["white"].setValue(2.0)
    out_pattern = str(tmp_path / "out" / "o.####.exr")
    write = nuke.nodes.Write(file=out_pattern, file_type="exr", create_directories=True)
    write["datatype"].setValue("32 bit float")
    write.setInput(0, grade)
    calls = []
    nuke.addBeforeFrameRender(lambda: calls.append((nuke.thisNode().name(), nuke.frame())), nodeClass="Write")
    nuke.execute(write, 3, 2, -1)
    assert calls == [(write.name(), 3), (write.name(), 2)]
    # row 0 of the file is the top; Nuke's y = 0 is the bottom row
    expected_top_left = 2 * (0 + 0) / 12.0 + 2 * 0.03
    assert grade.sample("rgba.red", 0.5, 3.5, frame=3) == pytest.approx(expected_top_left, abs=1e-6)
    assert grade.sample("rgba.red", 0.5, 0.5, frame=3) == pytest.approx(2 * 3 / 12.0 + 0.06, abs=1e-6)
    import OpenImageIO as oiio
    buf = oiio.ImageBuf(out_pattern.replace("####", "0002"))
    px = np.asarray(buf.get_pixels(oiio.FLOAT))
    assert px[0, 0, 0] == pytest.approx(0.04, abs=1e-6)
    assert not os.path.exists(out_pattern.replace("####", "0001"))
    assert (read.firstFrame(), read.lastFrame(), read.width(), read.height()) == (1, 3, 8, 4)


def test_missing_read_file_fails_the_frame(fake_nuke, tmp_path):
    nuke = fake_nuke
    read = nuke.nodes.Read(file=str(tmp_path / "none.####.exr"), first=1, last=2)
    write = nuke.nodes.Write(file=str(tmp_path / "o.####.exr"), file_type="exr")
    write.setInput(0, read)
    with pytest.raises(RuntimeError, match="Read error"):
        nuke.execute(write, 1, 1)


def test_gizmo_pastes_with_real_knob_types_and_wiring(fake_nuke):
    nuke = fake_nuke
    dot = nuke.nodes.Dot()
    dot.setSelected(True)
    node = nuke.nodePaste(str(GIZMO))
    assert node.Class() == "Group" and node.name() == "Colorize1"
    assert node.input(0) is dot  # connected to the selection, like a paste in Nuke
    assert node.maxInputs() == 3
    assert [n.name() for n in node.nodes() if n.Class() == "Input"] == ["plate", "reference", "matte"]
    assert node["backend"].values() == ["exemplar", "deepexemplar"]
    assert node["missing_frames"].value() == "compute on the spot"
    assert node["use_input_range"].value() is True
    assert node["references"].Class() == "Multiline_Eval_String_Knob"
    assert node["analyze"].Class() == "PyScript_Knob"
    switch = node.node("OutputLayers")
    assert switch["which"].value() == 0.0
    node["output_layers"].setValue("colour + confidence")
    assert switch["which"].value() == 1.0
    second = nuke.nodePaste(str(GIZMO))
    assert second.name() == "Colorize2"


def test_main_thread_queue_and_progress_task(fake_nuke):
    nuke = fake_nuke
    out = []
    nuke.executeInMainThread(out.append, (1,))
    assert out == []
    assert nuke._process_main_thread() == 1 and out == [1]
    task = nuke.ProgressTask("x")
    task.setProgress(50)
    with pytest.raises(TypeError):
        task.setProgress("50%")
    assert not task.isCancelled()
    nuke._cancel_progress_tasks()
    assert task.isCancelled()


def test_saved_script_reloads_with_groups_and_expressions(fake_nuke, tmp_path):
    nuke = fake_nuke
    plate = make_plate(tmp_path / "plate", 1, 2, w=8, h=4)
    read = nuke.nodes.Read(file=plate, first=1, last=2)
    read.setSelected(True)
    node = nuke.nodePaste(str(GIZMO))
    node["references"].setValue("1 /refs/a.png")
    node["output_layers"].setValue(1)
    path = str(tmp_path / "saved.nk")
    nuke.scriptSaveAs(path)
    from nuke_colorize.host import nkfile
    assert nkfile.validate_file(path) == []
    nuke._reset()
    nuke.scriptOpen(path)
    again = nuke.toNode("Colorize1")
    assert again["references"].value() == "1 /refs/a.png"
    assert again.node("OutputLayers")["which"].value() == 1.0
    assert again.input(0).Class() == "Read" and again.input(0)["file"].getText() == plate


def test_file_knob_value_is_as_stored_and_evaluate_expands_tcl(fake_nuke, tmp_path, monkeypatch):
    nuke = fake_nuke
    monkeypatch.setenv("NC_SHOT", str(tmp_path))
    read = nuke.nodes.Read(file="[getenv NC_SHOT]/plate.####.exr", first=1, last=5)
    knob = read["file"]
    assert knob.value() == knob.getValue() == "[getenv NC_SHOT]/plate.%04d.exr"
    assert knob.getText() == "[getenv NC_SHOT]/plate.####.exr"
    assert knob.getEvaluatedValue() == "%s/plate.%%04d.exr" % tmp_path
    nuke.frame(3)
    assert knob.evaluate() == "%s/plate.0003.exr" % tmp_path
    assert nuke.filename(read) == "%s/plate.%%04d.exr" % tmp_path
    assert nuke.filename(read, nuke.REPLACE) == "%s/plate.0003.exr" % tmp_path
    assert nuke.filename(nuke.nodes.Read()) is None
    root_dir = nuke.root()["project_directory"]
    root_dir.setValue("[python {nuke.script_directory()}]")
    assert root_dir.Class() == "File_Knob"
    assert root_dir.value() == "[python {nuke.script_directory()}]"
    assert root_dir.evaluate() == str(tmp_path)


def test_execute_defaults_to_the_root_frame_range(fake_nuke, tmp_path):
    nuke = fake_nuke
    nuke.root()["first_frame"].setValue(1)
    nuke.root()["last_frame"].setValue(3)
    read = nuke.nodes.Read(file=make_plate(tmp_path / "plate", 1, 3, w=4, h=2), first=1, last=3)
    write = nuke.nodes.Write(file=str(tmp_path / "o.####.exr"), file_type="exr")
    write.setInput(0, read)
    nuke.execute(write)
    assert sorted(os.listdir(str(tmp_path)))[:3] == ["o.0001.exr", "o.0002.exr", "o.0003.exr"]
    nuke.execute(write, 2)                              # end: root.last_frame, not the start
    assert nuke.frame() == 3


def test_plugin_add_path_moves_to_the_front_and_runs_init_only_from_an_init(fake_nuke, tmp_path):
    # nuke.pluginAddPath (nuke.overrides source, Nuke Python API reference): "Adds all the paths
    # to the beginning of the Nuke plugin path. If the path already exists in the list of plugin
    # paths, it is moved to the start. If this command is executed inside an init.py then the
    # init.py in the path will be executed." Trailing slashes are stripped.
    nuke = fake_nuke
    a, b, home = tmp_path / "a", tmp_path / "b", tmp_path / "home"
    for d in (a, b, home):
        d.mkdir()
    (a / "init.py").write_text("import nuke\nnuke._ran = getattr(nuke, '_ran', []) + ['a']\n")
    nuke._ran = []
    nuke.pluginAddPath(str(a) + "/", addToSysPath=False)        # not from an init.py: not run
    assert nuke._ran == [] and nuke.pluginPath()[0] == str(a)
    nuke.pluginAddPath(str(b), addToSysPath=False)
    nuke.pluginAddPath(str(a), addToSysPath=False)               # already there: to the front
    assert nuke.pluginPath()[:2] == [str(a), str(b)] and nuke.pluginPath().count(str(a)) == 1
    nuke._reset()
    nuke._ran = []
    (home / "init.py").write_text("import nuke\nnuke.pluginAddPath(%r)\n" % str(a))
    nuke._startup(str(home))                                     # ~/.nuke/init.py adds a: a's init.py runs
    assert nuke._ran == ["a"] and nuke.pluginPath()[:2] == [str(a), str(home)]
    del nuke._ran


def test_menus_exist_in_the_gui_only_and_nodes_is_the_toolbar(fake_nuke):
    # nuke.menu (Python API reference 14.0): 'Nodes' is "The Nodes toolbar (and Nodegraph right
    # mouse menu)"; "Raises RuntimeError: if Nuke isn't in GUI mode".
    nuke = fake_nuke
    from nuke_colorize.host.nuke import menu
    with pytest.raises(RuntimeError):
        nuke.menu("Nuke")
    with pytest.raises(RuntimeError):
        menu.install()                       # the plug-in's menu.py runs in GUI sessions only
    nuke._reset(gui=True)
    menu.install()
    assert nuke.toolbar("Nodes") is nuke.menu("Nodes")
    assert [i.name() for i in nuke.menu("Nodes").findItem("Colorize").items()] == ["Colorize", "Reference panel"]
