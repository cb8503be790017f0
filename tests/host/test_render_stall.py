"""A hung engine fails the frame (render hook) or the analysis (Analyze) after
``$NUKE_COLORIZE_STALL_TIMEOUT`` seconds of silence and is stopped, worker and engine; one that
waits for another process and says so is left alone however long it waits.

The worker here is tests/host/fake_worker.py (hangs, or sends ``waiting`` heartbeats) behind
the real bridge; the real worker and engine are in test_worker_protocol.py and
test_cache_waiting.py.
"""
from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from hostkit import colorize_on_plate, make_ref
from hostkit import fake_nuke  # noqa: F401  (pytest fixtures)
from nuke_colorize.host import bridge
from nuke_colorize.host.frames import frame_path
from nuke_colorize.host.nuke import node as nc
from nuke_colorize.host.nuke import render

FAKE_WORKER = [sys.executable, str(Path(__file__).resolve().parent / "fake_worker.py")]


def _alive(pid):
    """True while ``pid`` runs (a zombie waiting for its parent counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        if os.path.isdir("/proc/self"):
            return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _gone_within(pid, seconds):
    t0 = time.time()
    while _alive(pid) and time.time() - t0 < seconds:
        time.sleep(0.05)
    return not _alive(pid)


def _pids(folder, kind):
    path = folder / "pids.txt"
    lines = path.read_text().split("\n") if path.exists() else []
    return [int(ln.split()[1]) for ln in lines if ln.startswith(kind + " ")]


@pytest.fixture
def worker(tmp_path):
    """A bridge client whose worker is fake_worker.py; every process it started is ended after."""
    folder = tmp_path / "fake_worker"
    folder.mkdir()
    client = bridge.WorkerClient(command=FAKE_WORKER, log_path=str(tmp_path / "worker.log"),
                                 env=dict(os.environ, FAKE_WORKER_DIR=str(folder), FAKE_WORKER_MODE="silent"))
    old = bridge.set_client(client)
    yield client, folder
    bridge.set_client(old)
    client.kill()
    for pid in _pids(folder, "engine") + _pids(folder, "worker"):
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture
def node(fake_nuke, tmp_path):
    """A Colorize node on a 5-frame plate with a keyframe and a still, computing missing frames."""
    node, _read, ref = colorize_on_plate(fake_nuke, tmp_path)
    still = make_ref(tmp_path / "refs" / "still.png", (30, 160, 90))
    fake_nuke._user_set(node["references"], "1 %s\nstill %s" % (ref, still))
    return node


def test_a_silent_engine_fails_the_frame_in_time_and_is_stopped(node, worker, monkeypatch, tmp_path, capsys):
    client, folder = worker
    monkeypatch.setenv(bridge.ENV_STALL, "1.5")
    t0 = time.time()
    with pytest.raises(RuntimeError) as info:
        render.ensure_frame(node, 3, client=client)
    elapsed = time.time() - t0
    assert 1.5 <= elapsed < 6, elapsed
    text = str(info.value)
    assert re.match(r"Colorize1: frame 3: the nuke-colorize engine sent nothing for \d+ s", text), text
    assert "(last message: frame 3 (1/9))" in text
    assert "Worker log: %s." % (tmp_path / "worker.log") in text
    assert "render the frame again" in text and "NUKE_COLORIZE_STALL_TIMEOUT higher (seconds, now 1.5" in text
    # the worker is gone, and so is the engine it had started (its own process group)
    (worker_pid,) = _pids(folder, "worker")
    (engine_pid,) = _pids(folder, "engine")
    assert client.proc.poll() is not None and not _alive(worker_pid)
    assert _gone_within(engine_pid, 5), "the hung engine process was left running"
    out = frame_path(nc.prepare(node).output, 3)
    assert not os.path.exists(out)

    # the next frame starts a fresh worker; one that waits on another process's lock and says
    # so every 0.3 s is not stopped, though it waits twice the stall timeout
    client.env["FAKE_WORKER_MODE"] = "waiting"
    client.env["FAKE_WORKER_WAIT"] = "3"
    capsys.readouterr()
    t0 = time.time()
    render.ensure_frame(node, 3, client=client)
    assert time.time() - t0 >= 3
    assert os.path.isfile(out)
    assert client.alive() and client.proc.pid != worker_pid
    printed = capsys.readouterr().out
    assert printed.count("Colorize1: frame 3: waiting for another process building segment") >= 5
    assert "(0/9 of the frames needed are stored)" in printed and "(4/9 of" in printed


def test_the_stall_timeout_setting(node, worker, monkeypatch):
    client, folder = worker
    monkeypatch.delenv(bridge.ENV_STALL, raising=False)
    assert bridge.stall_timeout() == bridge.DEFAULT_STALL_S == 900
    for text, value in (("0", None), ("  60 ", 60.0), ("2.5", 2.5), ("", 900)):
        assert bridge.stall_timeout({bridge.ENV_STALL: text}) == value
    for bad in ("15m", "-1", "nan", "inf"):
        with pytest.raises(ValueError, match="NUKE_COLORIZE_STALL_TIMEOUT must be a number of seconds"):
            bridge.stall_timeout({bridge.ENV_STALL: bad})
    # a bad value fails the frame before anything starts, naming the variable
    monkeypatch.setenv(bridge.ENV_STALL, "15m")
    with pytest.raises(RuntimeError, match="Colorize1: frame 2 cannot be computed: NUKE_COLORIZE_STALL_TIMEOUT"):
        render.ensure_frame(node, 2, client=client)
    assert _pids(folder, "engine") == []


def test_a_stalled_analysis_reports_and_stops_the_worker(node, worker, fake_nuke, monkeypatch):
    """Analyze without a GUI (nuke -t) and in the GUI's background job follow the same rule."""
    client, folder = worker
    monkeypatch.setenv(bridge.ENV_STALL, "1")
    with pytest.raises(nc.NodeError) as info:
        nc.analyze(node, client=client)
    text = str(info.value)
    assert "the nuke-colorize engine sent nothing for" in text and "run the analysis again" in text
    assert client.proc.poll() is not None
    assert all(_gone_within(pid, 5) for pid in _pids(folder, "engine"))

    fake_nuke.env["gui"] = True
    job = nc.analyze(node, client=client)
    assert job.wait(15)
    fake_nuke._process_main_thread()
    assert not job.cancelled
    assert job.error.startswith("the nuke-colorize engine sent nothing for")
    assert "press Analyze again" in job.error
    assert fake_nuke._messages and "analysis failed: the nuke-colorize engine sent nothing" in fake_nuke._messages[-1][1]
    assert client.proc.poll() is not None
    assert all(_gone_within(pid, 5) for pid in _pids(folder, "engine"))

    # waiting for another process, however long, shows in the progress bar and is not a stall
    client.env["FAKE_WORKER_MODE"] = "waiting"
    client.env["FAKE_WORKER_WAIT"] = "2.5"
    messages = _analyze_in_the_gui(fake_nuke, node, client)
    assert sum(m.startswith("waiting for another process building segment") for m in messages) >= 5
    assert node["status"].value() == "cached 5/5 frames: ready"


def _analyze_in_the_gui(fake_nuke, node, client):
    """Analyze ``node`` as the GUI does (a background job), which must end without error or
    cancel within 15 s; returns the messages its progress bar showed."""
    job = nc.analyze(node, client=client)
    assert job.wait(15)
    fake_nuke._process_main_thread()
    assert job.error is None and not job.cancelled
    return fake_nuke._progress_log()[-1]["messages"]


def test_an_engine_preparing_for_longer_than_the_stall_timeout_is_not_stopped(node, worker, fake_nuke,
                                                                              monkeypatch, capsys):
    """``preparing`` heartbeats (a content-hashed plate being identified, automatic references
    planned, the backend loaded) count as messages: printed in the render log, shown in the
    Analyze progress bar, and no stall."""
    client, folder = worker
    monkeypatch.setenv(bridge.ENV_STALL, "1")
    client.env["FAKE_WORKER_MODE"] = "preparing"
    client.env["FAKE_WORKER_WAIT"] = "2.5"
    render.ensure_frame(node, 3, client=client)
    assert os.path.isfile(frame_path(nc.prepare(node).output, 3))
    printed = capsys.readouterr().out
    assert printed.count("Colorize1: frame 3: identifying plate frames") >= 5
    assert "identifying plate frames 0/2000" in printed and "identifying plate frames 400/2000" in printed

    fake_nuke.env["gui"] = True
    messages = _analyze_in_the_gui(fake_nuke, node, client)
    assert sum(m.startswith("identifying plate frames") for m in messages) >= 5
