"""The reference panel under PySide6 and PySide2 (each in its own process and environment),
offscreen, with a screenshot; and the panel on the fake Nuke's Colorize nodes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import long_shot
from nuke_colorize.ui.model import SEGMENT_COLOURS

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "tests" / "ui" / "panel_scenario.py"
PYSIDE2_VENV = Path(os.environ.get("NUKE_COLORIZE_PYSIDE2_VENV", "/tmp/venv-pyside2"))


def pyside2_python():
    """The PySide2 environment's python (PySide2 5.13.2 + qtpy; it cannot share a venv with
    PySide6). Created here when missing; .ci/run creates it up front."""
    python = PYSIDE2_VENV / "bin" / "python"
    probe = [str(python), "-c", "import PySide2, qtpy"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    base = "/root/.pyenv/versions/3.11.7/bin/python3.11"
    base = base if os.path.exists(base) else sys.executable
    try:
        subprocess.run([base, "-m", "venv", str(PYSIDE2_VENV)], check=True, capture_output=True, timeout=120)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "PySide2==5.13.2", "qtpy==2.4.3"], check=True,
                       capture_output=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as err:
        pytest.skip("no PySide2 environment (%s); create it with: python3.11 -m venv %s && "
                    "%s/bin/pip install PySide2==5.13.2 qtpy==2.4.3" % (err, PYSIDE2_VENV, PYSIDE2_VENV))
    return python


def run_scenario(python, api, out_dir):
    env = dict(os.environ, QT_API=api, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))
    proc = subprocess.run([str(python), str(SCENARIO), str(out_dir)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


def check_report(r, api, out_dir):
    assert r["api"] == api
    assert r["shots"] == ["sh010\ncached 5/20 frames", "sh020\nnot ready: connect a plate to the node's plate input"]
    red, green, blue, teal = (str(out_dir / n) for n in ("red.png", "green.png", "blue.jpg", "teal.png"))
    assert r["initial"] == [["1001", red, True], ["still", blue, True]]
    assert r["segments"] == [[1001, 1005, "cached"], [1006, 1020, "missing"]]
    assert r["add"] and r["after_add"][-1] == ["1010", green, True]
    assert r["duplicate"] is False and "already has a reference" in r["duplicate_message"]
    assert r["swap"] and r["after_swap"][0] == ["1001", teal, True]
    assert r["remove"] and r["after_remove"] == [["1001", teal, True], ["1010", green, True]]
    assert r["after_edit"] == [["1001", teal, True], ["1015", green, True]]
    assert r["stale_segments"] == [[1001, 1005, "stale"], [1006, 1020, "missing"]]
    assert r["after_click_add"][-1] == ["still", blue, True]
    assert r["busy_buttons"] == [False, True]
    values = r["progress_values"]
    assert values[-1] == 100 and values == sorted(values) and len(values) >= 10
    assert r["after_analyze_segments"] == [[1001, 1020, "cached"]]
    assert r["status"] == "cached 20/20 frames"
    assert r["cancel_message"].startswith("cancelled after")
    # while it runs the coverage bar shows each frame as the analysis stores it (it showed the
    # state from before the analysis until the end)
    assert r["during_segments"][0][0] == 1001 and r["during_segments"][0][2] == "cached"
    assert r["during_segments"][-1][2] == "stale"
    cached = [s for s in r["after_cancel_segments"] if s[2] == "cached"]
    assert cached and cached[0][0] == 1001 and cached[-1][1] < 1020
    assert r["second_shot"][0].startswith("sh020") and r["second_shot"][3] is False  # nothing to analyse
    assert r["second_shot"][2] == [["1", "reference input, frame 1", True]]
    assert [c[0] for c in r["calls"]].count("analyze") == 2
    shot = r["screenshot"]
    assert shot and os.path.getsize(shot) > 5000
    from qtpy import QtGui
    img = QtGui.QImage(shot)
    assert img.width() >= 800 and img.height() >= 400
    # the coverage bar is green (all cached at the time of the screenshot)
    bar_y = [y for y in range(img.height()) if QtGui.QColor(img.pixel(img.width() - 60, y)).green() == 170]
    assert bar_y, "coverage bar not found in the screenshot"
    check_long_bar(r["long_bar"])


def check_long_bar(bar):
    """10,000 segments paint (PySide6 6.12 crashed painting one rectangle each) with each
    column's state as :mod:`long_shot` says, and the tooltip is its four runs of frames."""
    assert bar["size"] == [long_shot.WIDTH, 18]
    shown = {int(x): tuple(rgb) for x, rgb in bar["pixels"].items()}
    assert shown == {x: SEGMENT_COLOURS[state] for x, state in long_shot.COLUMNS.items()}
    assert bar["tooltip_lines"] == 4


def test_panel_pyside6(tmp_path):
    pytest.importorskip("PySide6")
    check_report(run_scenario(sys.executable, "pyside6", tmp_path), "PySide6", tmp_path)


def test_panel_pyside2(tmp_path):
    python = pyside2_python()
    check_report(run_scenario(python, "pyside2", tmp_path), "PySide2", tmp_path)


def test_panel_on_nuke_colorize_nodes(tmp_path):
    """NukeShotSource: the panel lists the script's Colorize nodes, edits their references
    knob, and analyses through the worker with progress."""
    pytest.importorskip("PySide6")
    sys.path.insert(0, str(REPO / "tests" / "host"))
    try:
        from hostkit import FAKE_ENGINE, make_plate, make_ref  # also puts the fake nuke on sys.path
    finally:
        sys.path.pop(0)
    import nuke
    from qtpy import QtWidgets

    from nuke_colorize.host import bridge
    from nuke_colorize.host.nuke import node as nc
    from nuke_colorize.host.nuke.panel import NukeShotSource
    from nuke_colorize.ui.panel import ReferencePanel

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    nuke._reset(gui=True, script_path=str(tmp_path / "comp.nk"))
    nuke.pluginAddPath(str(REPO / "gizmos"), addToSysPath=False)
    client = bridge.WorkerClient(command=[sys.executable, "-m", "nuke_colorize"],
                                 worker_args=["--engine-cmd", json.dumps(FAKE_ENGINE)],
                                 log_path=str(tmp_path / "worker.log"), env=dict(os.environ, FAKE_ENGINE_DELAY="0.01"))
    try:
        read = nuke.nodes.Read(file=make_plate(tmp_path / "plate", 1, 4), first=1, last=4)
        read.setSelected(True)
        node = nc.create()
        ref = make_ref(tmp_path / "ref.png")
        nuke._user_set(node["references"], "1 %s" % ref)
        with nuke.nodes.Group():
            pass
        panel = ReferencePanel(NukeShotSource(client=client))
        assert [s.name for s in panel.shots] == ["Colorize1"]
        assert panel.coverage.segments == [(1, 4, "missing")]
        still = make_ref(tmp_path / "look.png", (10, 200, 10))
        assert panel.add_reference(still, None)
        assert node["references"].value() == "1 %s\nstill %s" % (ref, still)
        job = panel.start_analyze()
        t0 = time.time()
        while panel.job is not None and time.time() - t0 < 30:
            nuke._process_main_thread()  # Nuke's main thread
            app.processEvents()
            time.sleep(0.01)
        assert job.error is None
        assert panel.coverage.segments == [(1, 4, "cached")]
        assert panel.progress.value() == 100
        assert node["status"].value() == "cached 4/4 frames: ready"
        panel.close()
        # the node's "Reference panel..." button opens the panel on that shot
        from nuke_colorize.host.nuke import panel as nuke_panel
        nuke._press(node["reference_panel"])
        opened = nuke_panel._PANELS[-1]
        assert opened.isVisible() and opened.current_key() == node.fullName()
        assert opened.coverage.segments == [(1, 4, "cached")]
        opened.close()
        nuke_panel._PANELS[:] = []
    finally:
        client.close()
        nuke._reset()
