"""Hostile messages on the host bridge (issue 9): the worker refuses each malformed or oversized
line with one ``error`` reply and keeps serving; the host side survives a worker that sends
garbage; the worker never opens a network socket.

One real ``nuke-colorize worker`` serves the whole table: each row sends its bytes, expects an
error reply carrying the row's fragment, then a ``ping`` must still be answered.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from nuke_colorize.host import bridge, protocol

REPLY_TIMEOUT_S = 30


class Worker:
    """A real worker subprocess; replies are read by a thread into a queue."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "nuke_colorize", "worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     bufsize=0, env=dict(os.environ, OMP_NUM_THREADS="1"))
        self.replies: "queue.Queue" = queue.Queue()
        self.stderr = b""
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain, daemon=True).start()

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            self.replies.put(json.loads(raw))

    def _drain(self):
        self.stderr = self.proc.stderr.read()

    def send(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def next(self) -> dict:
        return self.replies.get(timeout=REPLY_TIMEOUT_S)

    def ping(self, rid) -> dict:
        self.send(protocol.encode({"id": rid, "cmd": "ping"}))
        while True:
            msg = self.next()
            if msg.get("id") == rid:
                return msg

    def close(self):
        try:
            self.send(protocol.encode({"id": "bye", "cmd": "shutdown"}))
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    assert w.ping("hello")["ok"] is True
    yield w
    w.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bridge")
    (d / "shot.json").write_text(json.dumps({"plate": "p.####.exr", "frames": [1, 3],
                                             "references": [{"frame": 1, "image": "r.png"}]}))
    (d / "huge.json").write_bytes(b" " * (5 << 20))
    return d


BIG = protocol.MAX_MESSAGE
# id, line builder (folder -> bytes), expected reply id, fragment of the error message
ROWS = [
    ("not-json", lambda d: b"hello there\n", None, "not JSON"),
    ("json-array", lambda d: b"[1, 2, 3]\n", None, "not a JSON object"),
    ("empty-line", lambda d: b"   \n", None, "empty message"),
    ("not-utf8", lambda d: b'\xff\xfe{"id": 1, "cmd": "ping"}\n', None, "not UTF-8"),
    ("nan-constant", lambda d: b'{"id": 1, "cmd": "ping", "x": NaN}\n', None, "NaN"),
    ("oversized", lambda d: b'{"id": 1, "cmd": "ping", "pad": "' + b"x" * (2 * BIG) + b'"}\n', None, "exceeds"),
    ("just-over-limit", lambda d: b'{"id": 1, "cmd": "ping", "pad": "' + b"x" * BIG + b'"}\n', None, "exceeds"),
    ("deeply-nested", lambda d: b'{"id": 1, "cmd": "ping", "x": ' + b"[" * 200000 + b"]" * 200000 + b"}\n",
     None, "nested too deeply"),
    ("no-id", lambda d: b'{"cmd": "ping"}\n', None, "'id'"),
    ("bool-id", lambda d: b'{"id": true, "cmd": "ping"}\n', None, "'id'"),
    ("long-id", lambda d: json.dumps({"id": "x" * 100, "cmd": "ping"}).encode() + b"\n", None, "longer than 64"),
    ("no-cmd", lambda d: b'{"id": 5}\n', None, "'cmd'"),
    ("unknown-cmd", lambda d: b'{"id": 6, "cmd": "rm -rf /"}\n', None, "unknown command"),
    ("analyze-missing-shot", lambda d: b'{"id": 7, "cmd": "analyze", "shot": "/nonexistent/shot.json"}\n',
     7, "shot file not found"),
    ("analyze-shot-not-string", lambda d: b'{"id": 8, "cmd": "analyze", "shot": ["a"]}\n', 8, "'shot'"),
    ("analyze-bad-frames", lambda d: json.dumps({"id": 9, "cmd": "analyze", "shot": str(d / "shot.json"),
                                                 "frames": "1-3"}).encode() + b"\n", 9, "'frames'"),
    ("analyze-reversed-frames", lambda d: json.dumps({"id": 10, "cmd": "analyze", "shot": str(d / "shot.json"),
                                                      "frames": [3, 1]}).encode() + b"\n", 10, "ends before"),
    ("status-huge-shot", lambda d: json.dumps({"id": 11, "cmd": "status", "shot": str(d / "huge.json")}).encode()
     + b"\n", 11, "larger than"),
]


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_malformed_message_is_refused_and_worker_keeps_serving(worker, files, row):
    name, build, rid, fragment = row
    worker.send(build(files))
    msg = worker.next()
    assert msg["event"] == "error" and msg["ok"] is False, msg
    assert msg["id"] == rid, msg
    assert fragment.lower() in msg["message"].lower(), msg
    assert len(msg["message"]) < 2000
    pong = worker.ping(f"after-{name}")
    assert pong["event"] == "result" and pong["ok"] is True
    assert worker.proc.poll() is None


def _socket_inodes(pid: int):
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def _inet_inodes():
    """Inodes of every TCP/UDP socket (v4 and v6) on the machine."""
    found = set()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9:
                found.add(cols[9])
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")
def test_worker_has_no_network_socket(worker):
    """Pipes only: none of the worker's file descriptors is a TCP or UDP socket."""
    worker.ping("sockets")
    pid = worker.proc.pid
    fds = os.listdir(f"/proc/{pid}/fd")
    assert fds
    assert not (_socket_inodes(pid) & _inet_inodes()), "the worker holds an internet socket"
    for fd in ("0", "1"):
        assert os.readlink(f"/proc/{pid}/fd/{fd}").startswith("pipe:")


HOSTILE_WORKER = textwrap.dedent('''
    """A worker that answers every request only after a burst of garbage lines."""
    import json, sys
    out = sys.stdout.buffer
    for raw in sys.stdin.buffer:
        req = json.loads(raw)
        out.write(b"not json at all\\n")
        out.write(b'{"id": 1, "event": "result", "pad": "' + b"x" * ((1 << 20) + 1000) + b'"}\\n')
        out.write(b"[" * 100000 + b"\\n")
        out.write(b"\\xff\\xfe\\n")
        out.write(b'[1, 2]\\n')
        out.write(json.dumps({"id": req["id"], "event": "result", "ok": True, "hostile": True}).encode() + b"\\n")
        out.flush()
        if req.get("cmd") == "shutdown":
            break
''')


def test_host_survives_a_worker_sending_garbage(tmp_path):
    """Malformed, oversized and deeply nested replies are set aside; the real reply still arrives."""
    script = tmp_path / "hostile_worker.py"
    script.write_text(HOSTILE_WORKER)
    client = bridge.WorkerClient(command=[sys.executable, str(script)], log_path=str(tmp_path / "w.log"))
    try:
        t0 = time.time()
        res = client.call("ping", timeout=30)
        assert res["ok"] is True and res["hostile"] is True
        res = client.call("ping", timeout=30)
        assert res["ok"] is True
        assert client._reader.is_alive()
        errors = [m.get("message", "") for m in client.stray if m.get("event") == "error"]
        assert any("exceeds" in e for e in errors)
        assert any("nested too deeply" in e for e in errors)
        assert any("not JSON" in e for e in errors)
        assert time.time() - t0 < 30
    finally:
        client.close(timeout=5)
