"""``nuke-colorize worker``: the engine side of the host bridge.

The host (Nuke's embedded Python, which never imports torch) starts this command in the
product's own environment and talks to it over stdin/stdout, one JSON object per line
(:mod:`nuke_colorize.host.protocol`). Never a network port.

Commands (``{"id": ..., "cmd": ...}``):

* ``ping`` -> version, protocol and Python of the engine.
* ``backends`` -> ``{"backends": {name: {"settings": {...defaults}} or {"error": msg}}}``.
* ``analyze`` ``{"shot": path, "frames": [a, b]}`` -> runs ``cache build <shot> --frames a-b
  --json-progress`` as a child process (in a process group of its own), says ``started`` with
  its ``pid`` (so a host that has to kill a hung worker can stop it too), forwards its progress
  as ``progress`` events (at least one per frame; ``stage`` ``waiting`` every 20 s while
  another process holds what it needs, ``preparing`` as often before the first frame), ends with ``result`` (``ok``, ``cancelled``) or
  ``error``. The child's stderr goes to the worker's stderr (the host's worker log).
* ``status`` ``{"shot": path}`` -> ``cache status <shot> --json`` plus ``outputs``: the runs of
  frames whose output file exists.
* ``clear`` ``{"shot": path}`` -> ``cache clear <shot>``.
* ``cancel`` ``{"target": id}`` -> stops that analyze (SIGTERM; the cache is crash-safe).
* ``shutdown`` -> stops every job and exits. Every request read before it is answered first
  (a stopped ``analyze`` with its ``cancelled`` result); the shutdown's reply is the last line.
  End of stdin does the same.

A malformed or oversized message gets an ``error`` reply and the worker keeps running. The
real stdout is reserved for protocol lines: anything else printing to stdout inside this
process goes to stderr instead.
"""
from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional

from .. import __version__
from ..host import frames as framesmod
from ..host import protocol

MAX_SHOT_FILE = 4 << 20
CANCEL_GRACE_S = 10.0
STATUS_TIMEOUT_S = 300.0
#: longest wait, at exit, for the replies of requests still running (a status is bounded by
#: STATUS_TIMEOUT_S, a stopped analysis by CANCEL_GRACE_S)
FINISH_TIMEOUT_S = STATUS_TIMEOUT_S + 2 * CANCEL_GRACE_S
NOTE_PREFIX = "nuke-colorize: note: "   # how the engine says what it did differently (stderr)
MAX_NOTES, MAX_NOTE_CHARS = 20, 500     # an analysis result carries at most these


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "worker", help="engine side of the Nuke bridge (JSON lines on stdin/stdout)",
        description="Serve the host bridge protocol on stdin/stdout. Started by the Nuke plug-in; "
                    "not meant to be typed by hand.")
    p.add_argument("--engine-cmd", default=None,
                   help="command that runs engine sub-commands, as a JSON list "
                        "(default: this Python with -m nuke_colorize)")
    p.set_defaults(func=run)


def run(args) -> int:
    try:
        engine = json.loads(args.engine_cmd) if args.engine_cmd else [sys.executable, "-m", "nuke_colorize"]
    except ValueError:
        engine = None
    if not isinstance(engine, list) or not engine or not all(isinstance(x, str) for x in engine):
        from ..errors import InputError
        raise InputError(f"--engine-cmd must be a JSON list of strings, got {args.engine_cmd!r}",
                         hint='e.g. --engine-cmd \'["/path/python", "-m", "nuke_colorize"]\'')
    out = _reserve_stdout()
    Worker(out, engine).serve(sys.stdin.buffer)
    return 0


def _reserve_stdout():
    """Keep the real stdout for protocol lines; send fd 1 (and sys.stdout) to stderr."""
    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "wb", buffering=0)


class _Job:
    def __init__(self, rid, proc: subprocess.Popen):
        self.id = rid
        self.proc = proc
        self.cancelled = False
        self.stderr_tail: collections.deque = collections.deque(maxlen=40)
        self.notes: List[str] = []   # the engine's notes, each once, for the result


class Worker:
    """Serves requests from ``stdin``; replies on ``out`` (a binary stream)."""

    def __init__(self, out, engine_cmd: List[str]):
        self.out = out
        self.engine_cmd = list(engine_cmd)
        self._lock = threading.Lock()
        self._jobs: Dict[Any, _Job] = {}
        self._threads: List[threading.Thread] = []
        self._stopping = False
        self._bye: Any = None  # id of the shutdown request, answered once everything before it is

    # ------------------------------------------------------------------ plumbing
    def send(self, msg: Dict[str, Any]) -> None:
        try:
            line = protocol.encode(msg)
        except (protocol.ProtocolError, TypeError, ValueError) as err:
            line = protocol.encode({"id": msg.get("id"), "event": "error", "ok": False,
                                    "message": "reply could not be sent: %s" % err})
        with self._lock:
            try:
                self.out.write(line)
                self.out.flush()
            except (BrokenPipeError, OSError):
                self._stopping = True

    def error(self, rid, message: str) -> None:
        self.send({"id": rid, "event": "error", "ok": False, "message": message})

    def serve(self, stdin) -> None:
        while not self._stopping:
            try:
                line = protocol.read_line(stdin)
            except protocol.ProtocolError as err:
                self.error(None, str(err))
                continue
            if not line:
                break  # host went away
            try:
                msg = protocol.decode(line)
                rid, cmd = protocol.validate_request(msg)
            except protocol.ProtocolError as err:
                self.error(None, str(err))
                continue
            try:
                self.dispatch(rid, cmd, msg)
            except (ValueError, TypeError, OSError) as err:
                self.error(rid, str(err))
        self.stop_all()
        self.finish()
        if self._bye is not None:
            self.send({"id": self._bye, "event": "result", "ok": True})

    def dispatch(self, rid, cmd: str, msg: Dict[str, Any]) -> None:
        if cmd == "ping":
            self.send({"id": rid, "event": "result", "ok": True, "version": __version__,
                       "protocol": protocol.PROTOCOL_VERSION, "python": sys.version.split()[0],
                       "pid": os.getpid()})
        elif cmd == "shutdown":
            self._bye = rid  # answered by serve, after the requests before it
            self._stopping = True
        elif cmd == "cancel":
            self.cancel(rid, msg.get("target"))
        elif cmd == "analyze":
            self.start_analyze(rid, _shot_arg(msg), _frames_arg(msg))
        elif cmd in ("status", "clear"):
            self._background(getattr(self, "do_" + cmd), rid, _shot_arg(msg))
        elif cmd == "backends":
            self._background(self.do_backends, rid)

    def _background(self, fn, *args) -> None:
        def target():
            try:
                fn(*args)
            except Exception as err:  # noqa: BLE001 - report, never die
                self.error(args[0], "%s: %s" % (type(err).__name__, err))
        t = threading.Thread(target=target, daemon=True)
        self._threads.append(t)
        t.start()

    def _engine(self, *argv: str) -> List[str]:
        return self.engine_cmd + list(argv)

    # ------------------------------------------------------------------ analyze
    def start_analyze(self, rid, shot: str, frames: Optional[List[int]]) -> None:
        if rid in self._jobs:
            raise ValueError("request id %r is already running" % (rid,))
        argv = self._engine("cache", "build", shot, "--json-progress")
        if frames:
            argv += ["--frames", "%d-%d" % (frames[0], frames[1])]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        job = _Job(rid, proc)
        self._jobs[rid] = job
        self.send({"id": rid, "event": "started", "pid": proc.pid})
        t = threading.Thread(target=self._follow, args=(job,), daemon=True)
        self._threads.append(t)
        t.start()

    def _follow(self, job: _Job) -> None:
        drain = threading.Thread(target=_drain, args=(job.proc.stderr, job.stderr_tail, "[analyze %s] " % (job.id,),
                                                      job.notes), daemon=True)
        drain.start()
        for raw in iter(job.proc.stdout.readline, b""):
            event = _progress_event(raw)
            if event is not None:
                event["id"] = job.id
                event["event"] = "progress"
                self.send(event)
        rc = job.proc.wait()
        drain.join(timeout=5)
        self._jobs.pop(job.id, None)
        if job.cancelled:
            self.send({"id": job.id, "event": "result", "ok": False, "cancelled": True, "notes": job.notes,
                       "message": "analysis cancelled; cached frames are kept"})
        elif rc == 0:
            self.send({"id": job.id, "event": "result", "ok": True, "cancelled": False, "notes": job.notes})
        else:
            self.error(job.id, _failure_line(job.stderr_tail, rc))

    def cancel(self, rid, target) -> None:
        job = self._jobs.get(target)
        if job is None:
            self.send({"id": rid, "event": "result", "ok": False,
                       "message": "no running analysis with id %r" % (target,)})
            return
        job.cancelled = True
        _terminate(job.proc)
        timer = threading.Timer(CANCEL_GRACE_S, _kill_if_alive, args=(job.proc,))
        timer.daemon = True
        timer.start()
        self.send({"id": rid, "event": "result", "ok": True})

    def stop_all(self) -> None:
        for job in list(self._jobs.values()):
            job.cancelled = True
            _terminate(job.proc)
        for job in list(self._jobs.values()):
            try:
                job.proc.wait(timeout=CANCEL_GRACE_S)
            except subprocess.TimeoutExpired:
                _kill_if_alive(job.proc)  # its whole process group, as cancel does

    def finish(self, timeout: float = FINISH_TIMEOUT_S) -> None:
        """Wait (at most ``timeout`` s in all) for the threads still answering requests, so that
        their replies are written before the process exits (they are daemons: exiting would
        drop them)."""
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------------ status / clear
    def do_status(self, rid, shot: str) -> None:
        proc = subprocess.run(self._engine("cache", "status", shot, "--json"), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=STATUS_TIMEOUT_S)
        outputs = _output_runs(shot)
        if proc.returncode != 0:
            self.send({"id": rid, "event": "result", "ok": False, "outputs": outputs,
                       "message": _failure_line(_lines(proc.stderr), proc.returncode)})
            return
        try:
            status = json.loads(proc.stdout.decode("utf-8", "replace"))
        except ValueError:
            status = {"text": proc.stdout.decode("utf-8", "replace")[-2000:]}
        self.send({"id": rid, "event": "result", "ok": True, "status": status, "outputs": outputs})

    def do_clear(self, rid, shot: str) -> None:
        proc = subprocess.run(self._engine("cache", "clear", shot), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=STATUS_TIMEOUT_S)
        if proc.returncode != 0:
            self.error(rid, _failure_line(_lines(proc.stderr), proc.returncode))
        else:
            self.send({"id": rid, "event": "result", "ok": True})

    def do_backends(self, rid) -> None:
        from ..backends import REGISTRY, backend_class
        found: Dict[str, Any] = {}
        for name in sorted(REGISTRY):
            try:
                found[name] = {"settings": dict(backend_class(name).default_settings())}
            except Exception as err:  # noqa: BLE001 - a broken backend must not hide the others
                found[name] = {"error": "%s: %s" % (type(err).__name__, err)}
        self.send({"id": rid, "event": "result", "ok": True, "backends": found})


# ---------------------------------------------------------------------- helpers
def _shot_arg(msg: Dict[str, Any]) -> str:
    shot = msg.get("shot")
    if not isinstance(shot, str) or not shot:
        raise ValueError("'shot' must be the path of a shot description file")
    if not os.path.isfile(shot):
        raise ValueError("shot file not found: %s" % shot)
    if os.path.getsize(shot) > MAX_SHOT_FILE:
        raise ValueError("shot file is larger than %d bytes: %s" % (MAX_SHOT_FILE, shot))
    return shot


def _frames_arg(msg: Dict[str, Any]) -> Optional[List[int]]:
    frames = msg.get("frames")
    if frames is None:
        return None
    if (not isinstance(frames, list) or len(frames) != 2
            or not all(isinstance(f, int) and not isinstance(f, bool) for f in frames)):
        raise ValueError("'frames' must be [first, last] (integers)")
    if frames[1] < frames[0]:
        raise ValueError("'frames' ends before it starts: %r" % (frames,))
    return [int(frames[0]), int(frames[1])]


_PROGRESS_KEYS = ("done", "total", "frame", "segment", "message", "stage", "fps", "eta",
                  "stored", "needed", "waited")


def _progress_event(raw: bytes) -> Optional[Dict[str, Any]]:
    """One stdout line of ``cache build --json-progress`` -> a progress event (or None)."""
    try:
        obj = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    event: Dict[str, Any] = {}
    for key in _PROGRESS_KEYS:
        value = obj.get(key)
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            event[key] = value[:500] if isinstance(value, str) else value
    if "stage" not in event and isinstance(obj.get("event"), str):
        event["stage"] = obj["event"][:100]
    return event


def _output_runs(shot: str) -> List[List[int]]:
    """Runs of frames whose output file exists, read from the shot file's output and frames."""
    try:
        with open(shot, "r", encoding="utf-8") as fh:
            data = json.load(fh)
        pattern = data["output"]
        first, last = int(data["frames"][0]), int(data["frames"][1])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return []
    if not os.path.isabs(pattern):
        pattern = os.path.join(os.path.dirname(os.path.abspath(shot)), pattern)
    return framesmod.to_ranges(framesmod.existing_frames(pattern, first, last))


def _drain(stream, tail, prefix: str = "", notes: Optional[List[str]] = None) -> None:
    """Keep the last lines of a child's stderr in ``tail`` and copy them to this process's
    stderr (the host's worker log), each line after ``prefix``; with ``notes``, collect there
    the engine's notes (lines after :data:`NOTE_PREFIX`), each once, at most
    :data:`MAX_NOTES` of :data:`MAX_NOTE_CHARS` characters."""
    for raw in iter(stream.readline, b""):
        text = raw.decode("utf-8", "replace").rstrip()
        if text:
            tail.append(text)
            if notes is not None and text.startswith(NOTE_PREFIX) and len(notes) < MAX_NOTES:
                note = text[len(NOTE_PREFIX):].strip()[:MAX_NOTE_CHARS]
                if note and note not in notes:
                    notes.append(note)
            try:
                sys.stderr.write(prefix + text + "\n")
                sys.stderr.flush()
            except (OSError, ValueError):
                pass


def _lines(data: bytes):
    return [ln for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]


def _failure_line(tail, rc: int) -> str:
    lines = list(tail)
    for line in reversed(lines):
        if "error" in line.lower():
            return line.strip()[:2000]
    if rc < 0:   # killed: its last lines (progress notes) say nothing of why
        return ("the engine process was killed by signal %d (by the system when memory runs out, or by "
                "another process); the frames it finished stay in the cache" % -rc)
    if lines:
        return lines[-1].strip()[:2000]
    return "engine command failed with exit code %d" % rc


def _kill_if_alive(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (OSError, AttributeError):
            proc.kill()


def _terminate(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (OSError, AttributeError):
        proc.terminate()
