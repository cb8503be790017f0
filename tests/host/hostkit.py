"""Fixtures, test data and paths shared by the host-layer tests (the fake nuke module, plates,
references, the fake engine). Not a conftest.py: the suite's root conftest is imported by name
(``from conftest import davis_clip``), which a second conftest module would shadow."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
GIZMO = REPO / "gizmos" / "Colorize.nk"
HERE = Path(__file__).resolve().parent
FAKE_NUKE = REPO / "tests" / "fake_nuke"
FAKE_ENGINE = [sys.executable, str(HERE / "fake_engine.py")]
if str(FAKE_NUKE) not in sys.path:
    sys.path.insert(0, str(FAKE_NUKE))

import nuke  # noqa: E402  (the fake)


# FAKE_NUKE_KNOB_CHANGED=always runs the suite with Nuke 17.1's knobChanged (called for
# programmatic changes too, panel open or not); default: Nuke 13-17.0's
KNOB_CHANGED_ALWAYS = os.environ.get("FAKE_NUKE_KNOB_CHANGED") == "always"


@pytest.fixture
def fake_nuke(tmp_path):
    """A fresh fake Nuke session with a saved script path in tmp_path (non-GUI)."""
    nuke._reset(gui=False, script_path=str(tmp_path / "comp.nk"))
    nuke._state.knob_changed_always = KNOB_CHANGED_ALWAYS
    nuke.pluginAddPath(str(REPO / "gizmos"), addToSysPath=False)
    yield nuke
    nuke._reset()


@pytest.fixture
def engine_client(tmp_path):
    """A worker client whose engine is tests/host/fake_engine.py (writes frame-coded EXRs)."""
    from nuke_colorize.host import bridge
    client = bridge.WorkerClient(command=[sys.executable, "-m", "nuke_colorize"],
                                 worker_args=["--engine-cmd", json.dumps(FAKE_ENGINE)],
                                 log_path=str(tmp_path / "worker.log"),
                                 env=dict(os.environ, FAKE_ENGINE_DELAY="0.01"))
    old = bridge.set_client(client)
    yield client
    client.close()
    bridge.set_client(old)


def write_exr(path, rgb):
    """Write an (H, W, 3) float array as a float EXR."""
    import OpenImageIO as oiio
    rgb = np.ascontiguousarray(rgb, np.float32)
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    spec = oiio.ImageSpec(rgb.shape[1], rgb.shape[0], rgb.shape[2], oiio.FLOAT)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec)
    out.write_image(rgb)
    out.close()


def write_png(path, rgb8):
    import OpenImageIO as oiio
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    spec = oiio.ImageSpec(rgb8.shape[1], rgb8.shape[0], rgb8.shape[2], oiio.UINT8)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec)
    out.write_image(np.ascontiguousarray(rgb8, np.uint8))
    out.close()


def make_plate(folder, first=1, last=5, w=16, h=12):
    """A grey EXR plate sequence: pixel value = (x + y) / (w + h) + frame / 100."""
    pattern = os.path.join(str(folder), "plate.####.exr")
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for f in range(first, last + 1):
        g = (xx + yy) / float(w + h) + f / 100.0
        write_exr(pattern.replace("####", "%04d" % f), np.stack([g, g, g], -1))
    return pattern


def make_ref(path, color=(200, 80, 40), w=16, h=12):
    write_png(path, np.tile(np.array(color, np.uint8), (h, w, 1)))
    return str(path)


def colorize_on_plate(nuke, tmp_path):
    """A Read plate (frames 1-5, 16x12) selected, a Colorize node made on it from the toolbar
    entry, and a keyframe file for frame 1: (node, read, keyframe path)."""
    from nuke_colorize.host.nuke import node as nc
    read = nuke.nodes.Read(file=make_plate(tmp_path / "plate", 1, 5), first=1, last=5)
    read.setSelected(True)
    node = nc.create()
    return node, read, make_ref(tmp_path / "refs" / "key_0001.png")
