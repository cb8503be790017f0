"""The Colorize node against behaviours of real Nuke that a permissive fake would hide.

Each case is a documented behaviour of Nuke 13-16 (the fake now has it too):
* a node's knobChanged runs only while its control panel is open ("Use addUpdateUI() for
  changes that should happen even when the panel is closed", nuke.addKnobChanged, 13.2);
* a File_Knob's value() reads back a ``####`` sequence as ``%04d``;
* a string knob's value() is TCL-evaluated, getText() is the text as typed;
* Node.dependencies() follows expression links unless told which connections to follow;
* nuke.execute raises when the user presses Cancel on its progress bar (GUI);
* onCreate runs while a script loads, before the root node is attached.
"""
from __future__ import annotations

import os

import pytest

from hostkit import colorize_on_plate, make_plate
from hostkit import engine_client, fake_nuke  # noqa: F401  (pytest fixtures)
from nuke_colorize.host.nuke import node as nc
from nuke_colorize.host.nuke import render


@pytest.fixture
def shot(fake_nuke, tmp_path):
    """A Read plate (frames 1-5, 16x12), a Colorize node on it, one keyframe; panel closed."""
    node, read, ref = colorize_on_plate(fake_nuke, tmp_path)
    node["references"].setValue("1 %s" % ref)
    nc.refresh(node)
    node.hideControlPanel()
    return node, read, ref


def _count_sets(knob, calls):
    original = knob.setValue

    def counting(value, *args):
        calls.append(value)
        return original(value, *args)
    knob.setValue = counting


def test_idle_checks_of_a_heavy_upstream_tree_take_a_bounded_share_of_idle_time(shot, fake_nuke, tmp_path,
                                                                                 monkeypatch):
    """Nuke runs updateUI after every change in the script; a look whose upstream tree takes
    0.2 s to serialise (a heavy RotoPaint) waits 19 times that before the next, so an artist
    working elsewhere spends at most 5% of idle time in it. Renders still look at once."""
    node, read, ref = shot
    clock = [1000.0]
    monkeypatch.setattr(nc.time, "monotonic", lambda: clock[0])
    plain = nc.sources.tree_signature

    def heavy(*args, **kwargs):
        clock[0] += 0.2
        return plain(*args, **kwargs)
    monkeypatch.setattr(nc.sources, "tree_signature", heavy)
    colour_read = node.node("ColourRead")
    grade = fake_nuke.nodes.Grade()
    grade.setInput(0, read)
    fake_nuke._connect(node, 0, grade)
    fake_nuke._idle()                      # a look (and the refresh it starts): >= 0.2 s
    looked = colour_read["file"].getText()
    cost = clock[0] - 1000.0
    assert cost >= 0.2
    grade["white"].setValue(0.5)
    clock[0] += 1.0
    fake_nuke._idle()                       # 1 s after the last look ended: too soon
    assert colour_read["file"].getText() == looked and clock[0] == pytest.approx(1001.0 + cost)
    clock[0] = 1000.0 + 20 * cost + 0.01
    fake_nuke._idle()                       # the wait is over: the edit is seen
    assert colour_read["file"].getText() != looked
    grade["white"].setValue(0.25)          # a render re-points the Read at once, whatever the wait
    before = colour_read["file"].getText()
    nc.refresh(node)
    assert colour_read["file"].getText() != before


def test_closed_panel_rewiring_is_seen_at_idle(shot, fake_nuke, tmp_path):
    if fake_nuke._state.knob_changed_always:
        pytest.skip("Nuke 13-17.0 knobChanged (panel open only); 17.1 calls it at once")
    node, read, ref = shot
    colour_read = node.node("ColourRead")
    first = colour_read["file"].getText()
    assert first.endswith("colour.####.exr")
    other = fake_nuke.nodes.Read(file=make_plate(tmp_path / "plate2", 1, 5), first=1, last=5)
    fake_nuke._connect(node, 0, other)            # panel closed: knobChanged does not run
    assert colour_read["file"].getText() == first
    fake_nuke._idle()                             # the gizmo's updateUI notices
    second = colour_read["file"].getText()
    assert second != first and second.endswith("colour.####.exr")
    # an upstream knob edit (no callback on the Colorize node at all) is also seen
    grade = fake_nuke.nodes.Grade()
    grade.setInput(0, other)
    fake_nuke._connect(node, 0, grade)
    fake_nuke._idle()
    third = colour_read["file"].getText()
    grade["white"].setValue(0.5)
    fake_nuke._idle()
    assert len({first, second, third, colour_read["file"].getText()}) == 4
    # with the panel open, the same rewiring is seen at once through knobChanged
    node.showControlPanel()
    fake_nuke._connect(node, 0, read)
    assert colour_read["file"].getText() == first


def test_idle_and_refresh_leave_an_unchanged_read_alone(shot, fake_nuke):
    node, read, ref = shot
    colour_read = node.node("ColourRead")
    fake_nuke._idle()
    calls = []
    for name in ("file", "first", "last", "format"):
        _count_sets(colour_read[name], calls)
    nc.refresh(node)          # the file knob reads back "%04d": still the same version
    for _ in range(3):
        fake_nuke._idle()     # nothing changed: no refresh at all
    assert colour_read["file"].value().endswith("colour.%04d.exr")
    assert calls == []


def test_the_read_gets_the_plate_format(shot, fake_nuke):
    node, read, ref = shot
    fake_nuke.root()["format"].setValue("HD_1080")
    nc.refresh(node)
    fmt = node.node("ColourRead").format()
    assert (fmt.width(), fmt.height()) == (16, 12) == (node.input(0).width(), node.input(0).height())


def test_expression_links_do_not_pull_a_colorize_node_into_a_render(shot, fake_nuke, tmp_path):
    node, read, ref = shot
    other = fake_nuke.nodes.Read(file=make_plate(tmp_path / "plate2", 1, 5), first=1, last=5)
    grade = fake_nuke.nodes.Grade()
    grade.setInput(0, other)
    grade["mix"].setExpression("%s.first_frame > 0" % node.name())
    write = fake_nuke.nodes.Write(file=str(tmp_path / "w" / "w.####.exr"))
    write.setInput(0, grade)
    assert node in grade.dependencies()                   # Nuke's default follows the link
    assert render.upstream_colorize(write) == []          # the render hook does not
    write.setInput(0, node)
    assert render.upstream_colorize(write) == [node]


def test_references_keep_tcl_as_typed(shot, fake_nuke, monkeypatch):
    node, read, ref = shot
    monkeypatch.setenv("NC_REF_DIR", os.path.dirname(ref))
    typed = "1 [getenv NC_REF_DIR]/%s" % os.path.basename(ref)
    node["references"].setValue(typed)
    prep = nc.prepare(node)
    assert prep.shot["references"][0]["image"] == ref   # the engine gets the evaluated path
    rows = nc.reference_rows(node, as_typed=True)
    nc.set_references(node, rows)                      # a panel edit writes the rows back
    assert node["references"].getText() == typed


def test_panel_lists_typed_rows_with_evaluated_thumbnails(shot, fake_nuke, monkeypatch):
    from nuke_colorize.host.nuke.panel import NukeShotSource
    node, read, ref = shot
    monkeypatch.setenv("NC_REF_DIR", os.path.dirname(ref))
    node["references"].setValue("1 [getenv NC_REF_DIR]/%s" % os.path.basename(ref))
    (info,) = NukeShotSource().shots()
    assert info.references[0].row.path.startswith("[getenv NC_REF_DIR]/")
    assert info.references[0].thumbnail == ref


def test_cancelled_precomp_is_a_message_not_a_traceback(shot, fake_nuke, engine_client):
    node, read, ref = shot
    grade = fake_nuke.nodes.Grade()
    grade.setInput(0, read)
    node.setInput(0, grade)
    fake_nuke.env["gui"] = True
    fake_nuke._state.cancel_execute = True
    assert nc.analyze(node) is None
    ((kind, message),) = fake_nuke._messages
    assert kind == "message"
    assert "rendering the plate input to" in message and "stopped: Cancelled" in message
    assert not [n for n in node.nodes() if n.Class() == "Write"]   # temporary Write removed


def test_script_load_keeps_the_saved_read_until_idle(shot, fake_nuke, tmp_path):
    node, read, ref = shot
    script = str(tmp_path / "comp.nk")
    fake_nuke.scriptSaveAs(script)
    saved = node.node("ColourRead")["file"].getText()
    fake_nuke._reset()
    fake_nuke.scriptOpen(script)          # onCreate runs before the root exists: no error
    again = fake_nuke.toNode("Colorize1")
    assert again.node("ColourRead")["file"].getText() == saved
    fake_nuke._idle()
    assert again.node("ColourRead")["file"].getText() == saved
    assert again["status"].value() == "cached 0/5 frames; press Analyze"
    # the reference was repainted while the script was closed: the first idle look sees it
    fake_nuke._reset()
    os.utime(ref, (os.stat(ref).st_atime + 10, os.stat(ref).st_mtime + 10))
    fake_nuke.scriptOpen(script)
    fake_nuke._idle()
    moved = fake_nuke.toNode("Colorize1").node("ColourRead")["file"].getText()
    assert moved != saved and moved.endswith("colour.####.exr")


def test_relative_paths_resolve_from_the_project_directory(shot, fake_nuke, tmp_path, monkeypatch):
    node, read, ref = shot
    monkeypatch.chdir(str(tmp_path / "refs"))      # Nuke's working folder is somewhere else
    fake_nuke.root()["project_directory"].setValue(str(tmp_path))
    read["file"].setValue("plate/plate.####.exr")
    node["references"].setValue("1 refs/key_0001.png")
    node["cache_dir"].setValue("cache")
    prep = nc.prepare(node)
    assert prep.shot["plate"] == str(tmp_path / "plate" / "plate.####.exr")
    assert prep.shot["references"][0]["image"] == ref
    assert prep.output.startswith(str(tmp_path / "cache") + os.sep)
    fake_nuke.root()["project_directory"].setValue("")   # unset: Nuke's working folder
    with pytest.raises(nc.NodeError, match="file not found: %s" % (tmp_path / "refs" / "refs" / "key_0001.png")):
        nc.prepare(node)


def test_idle_update_reports_an_unexpected_failure_in_the_status_line(shot, fake_nuke, monkeypatch):
    node, read, ref = shot
    monkeypatch.setattr(nc, "prepare", lambda *a, **k: (_ for _ in ()).throw(OSError("disk went away")))
    node["references"].setValue("1 %s\n" % ref)      # a change the idle update will notice
    fake_nuke._idle()                                 # no exception reaches Nuke
    assert node["status"].value() == "not ready: disk went away"


def test_tcl_in_the_cache_folder_and_library_index_is_evaluated(shot, fake_nuke, tmp_path, monkeypatch):
    # a File_Knob's value() is the text as stored (Nuke: "will be normalized to technical
    # notation"; getEvaluatedValue "will also evaluate the string for any tcl expressions")
    node, read, ref = shot
    show = tmp_path / "show"
    (show / "lib").mkdir(parents=True)
    (show / "lib" / "stills.npz").write_bytes(b"index")
    monkeypatch.setenv("NC_SHOW", str(show))
    node["cache_dir"].setValue("[getenv NC_SHOW]/cache")
    node["library"].setValue("[getenv NC_SHOW]/lib/stills.npz")
    assert node["cache_dir"].value() == "[getenv NC_SHOW]/cache"     # as typed, as in Nuke
    prep = nc.prepare(node)
    assert prep.output.startswith(str(show / "cache") + os.sep)
    assert prep.shot["library"] == str(show / "lib" / "stills.npz")


def test_project_directory_set_by_the_script_directory_button(shot, fake_nuke, tmp_path, monkeypatch):
    # Project Settings' "Script Directory" button writes [python {nuke.script_directory()}]
    # into project_directory (Foundry support article Q100154); relative paths resolve from it
    node, read, ref = shot
    monkeypatch.chdir(str(tmp_path / "refs"))      # Nuke's working folder is somewhere else
    fake_nuke.root()["project_directory"].setValue("[python {nuke.script_directory()}]")
    read["file"].setValue("plate/plate.####.exr")
    node["references"].setValue("1 refs/key_0001.png")
    prep = nc.prepare(node)
    assert prep.shot["plate"] == str(tmp_path / "plate" / "plate.####.exr")
    assert prep.shot["references"][0]["image"] == ref


def test_proxy_mode_keeps_a_tcl_plate_at_full_size(shot, fake_nuke, tmp_path, monkeypatch):
    # nuke.filename: "this will return the current filename, based on the root.proxy settings
    # and which of the fullsize/proxy filenames are filled in" (Python API reference,
    # nuke.filename): in proxy mode a Read's proxy file. The plate (and the shot version) must
    # stay the full-size files whatever the mode.
    node, read, ref = shot
    monkeypatch.setenv("NC_SHOT", str(tmp_path))
    read["file"].setValue("[getenv NC_SHOT]/plate/plate.####.exr")
    read["proxy"].setValue("[getenv NC_SHOT]/proxy/plate.####.exr")
    full = nc.prepare(node)
    assert full.shot["plate"] == str(tmp_path / "plate" / "plate.####.exr")
    fake_nuke.root()["proxy"].setValue(True)
    assert fake_nuke.filename(read) == str(tmp_path / "proxy" / "plate.%04d.exr")   # what Nuke answers
    for frame in (1, 3, 40):
        fake_nuke.frame(frame)
        proxied = nc.prepare(node)
        assert proxied.shot["plate"] == full.shot["plate"]
        assert proxied.output == full.output


def test_a_studio_oncreate_on_writes_does_not_reach_the_precomp_write(shot, fake_nuke, engine_client, tmp_path):
    # nuke.addOnCreate callbacks run for every node made, nuke.nodes.Write() included (only
    # addOnUserCreate is limited to nodes the user makes). Studios set Write render scripts
    # there (path checks, version-ups); the node's temporary precomp Write is not theirs.
    node, read, ref = shot
    seen = []

    def studio_write_defaults():
        w = fake_nuke.thisNode()
        seen.append(w.name())
        w["beforeRender"].setValue("raise RuntimeError('studio: Writes must render under /shows')")
        w["afterFrameRender"].setValue("raise RuntimeError('studio: publish failed')")

    fake_nuke.addOnCreate(studio_write_defaults, nodeClass="Write")
    grade = fake_nuke.nodes.Grade()
    grade.setInput(0, read)
    node.setInput(0, grade)                      # a tree: the plate is rendered to a precomp
    prep = nc.analyze(node)
    assert seen, "the studio's onCreate ran for the temporary Write"
    assert prep is not None and os.path.isfile(prep.shot["plate"].replace("####", "0003"))
    assert not [n for n in node.nodes() if n.Class() == "Write"]


def test_a_link_node_to_the_colorize_node_is_followed_by_the_render_hook(shot, fake_nuke, tmp_path, monkeypatch):
    # Nuke 17.1's dependencies() has nuke.LINKNODE_INPUTS, "link nodes" (Python API reference
    # 17.1, nuke.dependentNodes: what=31), beside INPUTS and HIDDEN_INPUTS: a Write fed through
    # a link node to the Colorize node depends on it, and the hook must check its frames.
    node, read, ref = shot
    monkeypatch.setattr(fake_nuke, "LINKNODE_INPUTS", 16, raising=False)
    link = fake_nuke.nodes.NoOp()
    link._link_source = node                     # what a link node to the Colorize node stands for
    write = fake_nuke.nodes.Write(file=str(tmp_path / "w" / "w.####.exr"))
    write.setInput(0, link)
    assert render.upstream_colorize(write) == [node]
    monkeypatch.delattr(fake_nuke, "LINKNODE_INPUTS")   # Nuke 13-17.0: no such constant
    assert render.upstream_colorize(write) == []


def test_a_plate_through_a_link_node_is_a_new_precomp_when_the_linked_tree_changes(shot, fake_nuke, monkeypatch):
    # A Nuke 17.1 link node stands for another node's output without an input pipe: the tree
    # signature that names the plate's precomp must follow it (dependencies(LINKNODE_INPUTS)),
    # or an edit upstream of the linked node would reuse the precomp of the old pixels.
    node, read, ref = shot
    monkeypatch.setattr(fake_nuke, "LINKNODE_INPUTS", 16, raising=False)
    grade = fake_nuke.nodes.Grade()
    grade.setInput(0, read)
    link = fake_nuke.nodes.NoOp()
    link._link_source = grade
    first = nc.sources.tree_signature(link, (1, 5))
    grade["white"].setValue(0.5)
    assert nc.sources.tree_signature(link, (1, 5)) != first
    monkeypatch.delattr(fake_nuke, "LINKNODE_INPUTS")   # Nuke 13-17.0: pipes only, as before
    plain = nc.sources.tree_signature(link, (1, 5))
    grade["white"].setValue(0.25)
    assert nc.sources.tree_signature(link, (1, 5)) == plain


def test_nuke_17_1_knob_changed_for_code_changes_and_while_a_script_loads(shot, fake_nuke, tmp_path):
    # Nuke 17.1: knobChanged "is triggered for any knob change, including changes made
    # programmatically and changes that occur even when the Properties panel is closed"
    # (nuke.addKnobChanged, Python API reference 17.1). Knobs set while a script loads then
    # reach the gizmo's knobChanged before the root is attached and before the group's own
    # nodes (its ColourRead) exist.
    node, read, ref = shot
    script = str(tmp_path / "comp.nk")
    fake_nuke.scriptSaveAs(script)
    saved = node.node("ColourRead")["file"].getText()
    fake_nuke._reset()
    fake_nuke._state.knob_changed_always = True
    fake_nuke.scriptOpen(script)                  # no error from the load-time knobChanged calls
    again = fake_nuke.toNode("Colorize1")
    assert again.node("ColourRead")["file"].getText() == saved
    fake_nuke._idle()
    assert again["status"].value() == "cached 0/5 frames; press Analyze"
    # a change made by code with the panel closed is followed at once, without recursion
    again["references"].setValue("2 %s" % ref)
    assert again.node("ColourRead")["file"].getText() not in ("", saved)
    again.setXYpos(100, 200)                      # moving the node: a knobChanged that changes nothing


def test_nuke_17_1_pasting_the_gizmo_and_a_failing_refresh(fake_nuke, tmp_path, monkeypatch):
    # Nuke 17.1 knobChanged also runs for the knobs set while the gizmo is pasted, before the
    # group's own nodes (ColourRead) exist, and for a script's setValue: neither may raise
    fake_nuke._state.knob_changed_always = True
    node, read, ref = colorize_on_plate(fake_nuke, tmp_path)   # the toolbar entry: nodePaste
    assert node.node("ColourRead") is not None
    assert node["status"].value().startswith("not ready: add at least one reference")
    node["references"].setValue("1 %s" % ref)                    # by code, panel closed: followed
    assert node.node("ColourRead")["file"].getText().endswith("colour.####.exr")
    monkeypatch.setattr(nc, "prepare", lambda *a, **k: (_ for _ in ()).throw(OSError("disk went away")))
    node["references"].setValue("1 %s\n" % ref)                  # reported, not raised into the caller
    assert node["status"].value() == "not ready: disk went away"
