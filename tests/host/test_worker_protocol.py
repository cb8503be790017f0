"""The bridge: host client <-> ``nuke-colorize worker`` over JSON lines, with real subprocesses."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nuke_colorize.host import bridge, protocol
from nuke_colorize.host.frames import frame_path

HERE = Path(__file__).resolve().parent
FAKE_ENGINE = [sys.executable, str(HERE / "fake_engine.py")]


def make_client(tmp_path, delay="0.02"):
    env = dict(os.environ, FAKE_ENGINE_DELAY=delay)
    return bridge.WorkerClient(command=[sys.executable, "-m", "nuke_colorize"],
                               worker_args=["--engine-cmd", json.dumps(FAKE_ENGINE)],
                               log_path=str(tmp_path / "worker.log"), env=env)


def write_shot(tmp_path, first=1, last=6, **settings):
    shot = {"plate": str(tmp_path / "plate.####.exr"), "frames": [first, last], "colorspace": "auto",
            "references": [{"frame": first, "image": str(tmp_path / "ref.png")}], "backend": "exemplar",
            "output": str(tmp_path / "out" / "colour.####.exr"), "cache": str(tmp_path / "cache"),
            "settings": settings}
    path = tmp_path / "shot.json"
    path.write_text(json.dumps(shot))
    return str(path), shot


@pytest.fixture
def client(tmp_path):
    c = make_client(tmp_path)
    yield c
    c.close()


def test_protocol_roundtrip_and_limits():
    msg = {"id": 7, "cmd": "ping"}
    assert protocol.decode(protocol.encode(msg)) == msg
    with pytest.raises(protocol.ProtocolError):
        protocol.encode({"id": 1, "cmd": "ping", "pad": "x" * protocol.MAX_MESSAGE})
    for bad in (b"not json", b"[1, 2]", b"", b"\xff\xfe", b'{"a": NaN}'):
        with pytest.raises(protocol.ProtocolError):
            protocol.decode(bad)
    for bad in ({"cmd": "ping"}, {"id": True, "cmd": "ping"}, {"id": 1, "cmd": "rm -rf"}, {"id": 1}):
        with pytest.raises(protocol.ProtocolError):
            protocol.validate_request(bad)


def test_ping_reports_engine(client):
    res = client.call("ping", timeout=30)
    assert res["ok"] is True and res["protocol"] == protocol.PROTOCOL_VERSION
    assert res["pid"] == client.proc.pid


def test_analyze_streams_progress_and_writes_frames(client, tmp_path):
    shot, data = write_shot(tmp_path, 1, 6)
    req = client.request("analyze", shot=shot, frames=[2, 5])
    progress = [m for m in req.events(timeout=30) if m and m["event"] == "progress"]
    assert req.result["event"] == "result" and req.result["ok"] is True
    assert [p["frame"] for p in progress] == [2, 3, 4, 5]
    assert [p["done"] for p in progress] == [1, 2, 3, 4] and progress[-1]["total"] == 4
    assert all(os.path.exists(frame_path(data["output"], f)) for f in range(2, 6))
    assert not os.path.exists(frame_path(data["output"], 1))
    status = client.call("status", shot=shot, timeout=30)
    assert status["outputs"] == [[2, 5]]
    assert status["status"] == {"frames": [1, 6], "cached": 4, "total": 6}
    assert client.call("clear", shot=shot, timeout=30)["ok"] is True
    assert client.call("status", shot=shot, timeout=30)["outputs"] == []


def test_an_analysis_result_carries_the_engine_s_notes_once_each(tmp_path, monkeypatch):
    """The engine's "nuke-colorize: note:" lines (what it did differently: a reference's alpha,
    a colour plate...) went only to the worker log; the result now carries them, each once."""
    monkeypatch.setenv("FAKE_ENGINE_NOTES", json.dumps(["ref.png: alpha covers 10% of the image",
                                                        "plate.0001.exr: colour plate"]))
    c = make_client(tmp_path)
    try:
        shot, _ = write_shot(tmp_path, 1, 2)
        res = c.call("analyze", shot=shot, frames=[1, 2], timeout=30)
        assert res["ok"] is True
        assert res["notes"] == ["ref.png: alpha covers 10% of the image", "plate.0001.exr: colour plate"]
    finally:
        c.close()
    assert "nuke-colorize: note: ref.png: alpha covers 10%" in (tmp_path / "worker.log").read_text()


def test_engine_failure_is_one_clear_line(client, tmp_path):
    shot, _ = write_shot(tmp_path, 1, 3, fail=True)
    with pytest.raises(bridge.WorkerError) as info:
        client.call("analyze", shot=shot, timeout=30)
    assert str(info.value).startswith("nuke-colorize: error:")
    assert "plate frame is missing" in str(info.value)
    assert client.call("ping", timeout=10)["ok"]  # the worker survives


def test_cancel_stops_the_build_and_keeps_the_worker(tmp_path):
    client = make_client(tmp_path, delay="0.3")
    try:
        shot, data = write_shot(tmp_path, 1, 40)
        req = client.request("analyze", shot=shot)
        seen = 0
        t0 = time.time()
        for msg in req.events(timeout=30):
            if msg and msg["event"] == "progress":
                seen += 1
                if seen == 2:
                    req.cancel()
        assert time.time() - t0 < 20
        assert req.result["ok"] is False and req.result["cancelled"] is True
        written = [f for f in range(1, 41) if os.path.exists(frame_path(data["output"], f))]
        assert 2 <= len(written) < 40
        time.sleep(0.5)
        assert written == [f for f in range(1, 41) if os.path.exists(frame_path(data["output"], f))]
        assert client.call("ping", timeout=10)["ok"]
        # cancelling something that is not running is answered, not fatal
        res = client.call("cancel", target=12345, timeout=10)
        assert res["ok"] is False and "no running analysis" in res["message"]
    finally:
        client.close()


def test_malformed_messages_are_rejected_without_killing_anything(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "nuke_colorize", "worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        lines = [b"this is not json\n", b"[1, 2, 3]\n", b'{"id": 1, "cmd": "format c:"}\n',
                 b'{"id": 2, "cmd": "analyze", "shot": "/no/such/shot.json"}\n',
                 b'{"id": 3, "cmd": "analyze", "shot": 5}\n',
                 b'{"pad": "' + b"x" * (protocol.MAX_MESSAGE + 10) + b'"}\n',
                 b'{"id": 4, "cmd": "ping"}\n']
        for ln in lines:
            proc.stdin.write(ln)
        proc.stdin.flush()
        replies = [json.loads(proc.stdout.readline()) for _ in range(len(lines))]
        errors = [r for r in replies if r["event"] == "error"]
        assert len(errors) == 6
        assert [r["id"] for r in errors].count(None) == 4
        assert any("exceeds" in r["message"] for r in errors)
        assert any("unknown command" in r["message"] for r in errors)
        assert any(r["id"] == 2 and "not found" in r["message"] for r in errors)
        assert replies[-1]["id"] == 4 and replies[-1]["ok"] is True
        proc.stdin.close()  # end of input: the worker exits by itself
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_worker_exit_stops_running_builds(tmp_path):
    client = make_client(tmp_path, delay="0.3")
    shot, data = write_shot(tmp_path, 1, 40)
    req = client.request("analyze", shot=shot)
    for msg in req.events(timeout=30):
        if msg and msg["event"] == "progress":
            break
    client.proc.stdin.close()
    client.proc.wait(timeout=15)
    time.sleep(0.8)
    count = len([f for f in range(1, 41) if os.path.exists(frame_path(data["output"], f))])
    time.sleep(0.8)
    assert count == len([f for f in range(1, 41) if os.path.exists(frame_path(data["output"], f))])
    assert count < 40


def _raw_worker(tmp_path, delay="0.02"):
    """A real worker on the fake engine, spoken to over its raw stdin/stdout."""
    env = dict(os.environ, FAKE_ENGINE_DELAY=delay)
    return subprocess.Popen([sys.executable, "-m", "nuke_colorize", "worker",
                             "--engine-cmd", json.dumps(FAKE_ENGINE)], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def _replies_until_exit(proc, requests):
    """Write ``requests`` back to back in one go, then read every reply until the worker exits."""
    try:
        proc.stdin.write(b"".join(protocol.encode(r) for r in requests))
        proc.stdin.flush()
        replies = [json.loads(line) for line in proc.stdout]
        assert proc.wait(timeout=30) == 0
        return replies
    finally:
        if proc.poll() is None:
            proc.kill()


def test_requests_sent_just_before_shutdown_are_answered_first(tmp_path):
    """``status`` and ``clear`` run on threads of their own: a ``shutdown`` right behind them
    made the worker exit with them unanswered. Every request before it gets its reply, then
    the shutdown's, last, then the worker exits."""
    shot, data = write_shot(tmp_path, 1, 6)
    os.makedirs(os.path.dirname(frame_path(data["output"], 1)))
    for f in (2, 3):
        with open(frame_path(data["output"], f), "w") as fh:
            fh.write("frame %d\n" % f)
    replies = _replies_until_exit(_raw_worker(tmp_path), [
        {"id": 1, "cmd": "status", "shot": shot}, {"id": 2, "cmd": "cancel", "target": 99},
        {"id": 3, "cmd": "status", "shot": shot}, {"id": 4, "cmd": "shutdown"}])
    by_id = dict((r["id"], r) for r in replies)
    assert sorted(by_id) == [1, 2, 3, 4] and len(replies) == 4
    for rid in (1, 3):
        assert by_id[rid]["ok"] is True and by_id[rid]["outputs"] == [[2, 3]]
        assert by_id[rid]["status"] == {"frames": [1, 6], "cached": 2, "total": 6}
    assert by_id[2]["ok"] is False and "no running analysis" in by_id[2]["message"]
    assert replies[-1] == {"id": 4, "event": "result", "ok": True}
    replies = _replies_until_exit(_raw_worker(tmp_path), [
        {"id": "c", "cmd": "clear", "shot": shot}, {"id": "bye", "cmd": "shutdown"}])
    assert replies == [{"id": "c", "event": "result", "ok": True}, {"id": "bye", "event": "result", "ok": True}]
    assert not os.path.exists(frame_path(data["output"], 2))


def test_shutdown_during_an_analysis_sends_its_result_before_exiting(tmp_path):
    """A running analysis is stopped by ``shutdown`` and still ends with its ``cancelled``
    result (the host would otherwise wait for it), before the shutdown's own reply."""
    shot, data = write_shot(tmp_path, 1, 40)
    proc = _raw_worker(tmp_path, delay="0.3")
    proc.stdin.write(protocol.encode({"id": 1, "cmd": "analyze", "shot": shot}))
    proc.stdin.flush()
    assert json.loads(proc.stdout.readline())["event"] == "started"
    replies = _replies_until_exit(proc, [{"id": 2, "cmd": "status", "shot": shot},
                                         {"id": 3, "cmd": "shutdown"}])
    finals = [r for r in replies if r["event"] in protocol.FINAL_EVENTS]
    assert [r["id"] for r in finals[-1:]] == [3] and sorted(r["id"] for r in finals) == [1, 2, 3]
    analysis = [r for r in finals if r["id"] == 1][0]
    assert analysis["ok"] is False and analysis["cancelled"] is True
    assert [r for r in finals if r["id"] == 2][0]["status"]["total"] == 40
    assert all(r["id"] == 1 and r["event"] == "progress" for r in replies if r not in finals)


def test_engine_not_configured_is_explained(monkeypatch, tmp_path):
    monkeypatch.delenv(bridge.ENV_PYTHON, raising=False)
    monkeypatch.setenv(bridge.ENV_CONFIG, str(tmp_path / "missing.json"))
    with pytest.raises(bridge.EngineNotConfigured, match="install.py"):
        bridge.engine_python()
    cfg = tmp_path / "nuke_colorize.json"
    cfg.write_text(json.dumps({"engine_python": sys.executable}))
    monkeypatch.setenv(bridge.ENV_CONFIG, str(cfg))
    assert bridge.engine_command() == [sys.executable, "-m", "nuke_colorize"]
    monkeypatch.setenv(bridge.ENV_PYTHON, str(tmp_path / "gone" / "python"))
    with pytest.raises(bridge.EngineNotConfigured, match="does not exist"):
        bridge.engine_python()


def test_a_dead_worker_fails_its_requests_and_the_next_request_restarts_it(tmp_path):
    client = make_client(tmp_path, delay="0.3")
    try:
        shot, _ = write_shot(tmp_path, 1, 40)
        req = client.request("analyze", shot=shot)
        first_pid = client.proc.pid
        client.proc.kill()
        with pytest.raises(bridge.WorkerError, match="stopped unexpectedly"):
            req.wait(timeout=30)
        assert req.id not in client._pending          # a dead worker's request is forgotten
        # one nobody listens to any more is forgotten when the next worker starts
        unheard = client.request("analyze", shot=shot)
        client.proc.kill()
        client.proc.wait()
        assert client.call("ping", timeout=30)["pid"] != first_pid
        assert unheard.id not in client._pending and client._pending == {}
    finally:
        client.close()


def test_nukes_python_variables_do_not_reach_the_engine(monkeypatch, tmp_path):
    """Nuke's embedded Python sets PYTHONHOME (and studios PYTHONPATH) for itself: the engine's
    Python, another version, must not get them (with Nuke's PYTHONHOME it cannot start)."""
    monkeypatch.setenv("PYTHONHOME", str(tmp_path / "Nuke13.0v1"))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "Nuke13.0v1" / "lib" / "python3.7"))
    client = bridge.WorkerClient(command=[sys.executable, "-m", "nuke_colorize"],
                                 log_path=str(tmp_path / "worker.log"))
    try:
        assert client.call("ping", timeout=60)["ok"] is True
    finally:
        client.close()
    env = bridge.engine_env()
    assert "PYTHONHOME" not in env and "PYTHONPATH" not in env and env["PATH"] == os.environ["PATH"]


def _failing_engine(text):
    """An 'engine python' that cannot run the worker: prints ``text`` on stderr, exits 1."""
    return [sys.executable, "-c", "import sys; sys.stderr.write(%r); sys.exit(1)" % (text + "\n")]


def test_an_engine_that_cannot_start_says_what_to_do(tmp_path):
    client = bridge.WorkerClient(command=_failing_engine("/opt/py/bin/python: No module named nuke_colorize"),
                                 log_path=str(tmp_path / "worker.log"))
    with pytest.raises(bridge.WorkerError) as info:
        client.call("ping", timeout=30)
    message = str(info.value)
    assert "could not start" in message and "No module named nuke_colorize" in message
    assert "install/install.py" in message and bridge.ENV_PYTHON in message
    # the next worker's failure quotes its own lines, not the earlier worker's
    client.command = _failing_engine("second engine is broken too")
    with pytest.raises(bridge.WorkerError) as info:
        client.call("ping", timeout=30)
    assert "second engine is broken too" in str(info.value)
    assert "No module named" not in str(info.value)


def _process_state(pid):
    """The state letter in /proc/PID/stat ("Z": zombie), or None when the process is gone."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc (Linux)")
def test_a_worker_killed_while_idle_is_reaped(client):
    """No request in flight when the worker is killed (SIGKILL, the OOM killer): it must not
    stay a zombie of Nuke's until the next request."""
    client.call("ping", timeout=30)
    pid = client.proc.pid
    os.kill(pid, 9)
    t0 = time.time()
    while _process_state(pid) is not None and time.time() - t0 < 10:
        time.sleep(0.05)
    assert _process_state(pid) is None, "worker left as a zombie (state %s)" % _process_state(pid)
    assert client.call("ping", timeout=30)["pid"] != pid  # and the next request starts a new one


def test_cancel_after_the_worker_died_does_not_start_a_new_worker(tmp_path):
    client = make_client(tmp_path, delay="0.3")
    try:
        shot, _ = write_shot(tmp_path, 1, 40)
        req = client.request("analyze", shot=shot)
        dead = client.proc
        dead.kill()
        dead.wait()
        req.cancel()
        assert client.proc is dead  # nothing started just to deliver the cancel
        with pytest.raises(bridge.WorkerError, match="killed by signal"):
            req.wait(timeout=30)
    finally:
        client.close()


def test_an_engine_python_that_cannot_be_run_is_explained(monkeypatch, tmp_path):
    """A configured engine python that exists but cannot be executed (mode, a noexec farm
    mount) raised a bare PermissionError, which the node's Clear cache and the render hook do
    not catch; it is EngineNotConfigured with what to do, like a missing engine."""
    python = tmp_path / "python"
    python.write_text("not a program")
    monkeypatch.setenv(bridge.ENV_PYTHON, str(python))
    client = bridge.WorkerClient(log_path=str(tmp_path / "worker.log"))
    with pytest.raises(bridge.EngineNotConfigured) as info:
        client.call("ping", timeout=10)
    assert str(python) in str(info.value) and "install/install.py" in str(info.value)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc (Linux)")
def test_a_hung_engine_is_a_stall_and_kill_stops_the_worker_and_the_engine(client, tmp_path):
    """The real worker names the engine process it starts; a request silent for the stall
    timeout raises WorkerStalled, and kill() ends the worker and that engine (in a process
    group of its own, it would outlive the worker, holding its chain's lock)."""
    shot, data = write_shot(tmp_path, 1, 6, hang=True)
    req = client.request("analyze", shot=shot, frames=[1, 6])
    seen = []
    t0 = time.time()
    with pytest.raises(bridge.WorkerStalled) as info:
        for msg in req.events(timeout=1.5):
            if msg:
                seen.append(msg)
    assert 1.5 <= time.time() - t0 < 10
    assert [m["event"] for m in seen] == ["started", "progress"]
    assert info.value.last == seen[-1] and info.value.last["frame"] == 1 and info.value.seconds >= 1.5
    (engine,) = req.engine_pids
    worker = client.proc.pid
    assert _process_state(engine) not in (None, "Z")
    assert client._pending == {req.id: req}      # kill() needs it to find the engine
    client.kill()
    assert client._pending == {}                 # and then forgets it
    t0 = time.time()
    while _process_state(engine) not in (None, "Z") and time.time() - t0 < 10:
        time.sleep(0.05)
    assert _process_state(engine) in (None, "Z"), "the hung engine outlived its worker"
    assert client.proc.poll() is not None
    # the engine's stderr is in the worker log, the place a stall report points at
    with open(client.log_path) as fh:
        assert "[analyze %d] fake engine: hanging after frame 1" % req.id in fh.read()
    assert client.call("ping", timeout=30)["pid"] != worker   # the next request starts a new worker
    assert client._pending == {}                 # a finished request is forgotten
