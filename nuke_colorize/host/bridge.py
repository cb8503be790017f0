"""Host side of the engine bridge: finds the engine's Python and talks to ``nuke-colorize worker``.

The engine (torch, OpenImageIO) lives in the product's own environment; the host only starts
``<engine python> -m nuke_colorize worker`` and exchanges JSON lines over its stdin/stdout
(:mod:`.protocol`). Standard library only, Python 3.7 compatible.

Where the engine is, in order:

1. ``$NUKE_COLORIZE_PYTHON`` (path of the engine's python executable);
2. the ``engine_python`` entry of the JSON config written by the installer
   (``$NUKE_COLORIZE_CONFIG``, else ``nuke_colorize.json`` in the plug-in folder).

A request that may run for hours (``analyze``) is not given a deadline but a *stall* timeout
(:func:`stall_timeout`, ``$NUKE_COLORIZE_STALL_TIMEOUT``): the engine sends a message for
every frame and, while it waits for another process, every 20 s; a request silent for that
long is hung (:class:`WorkerStalled`), and :meth:`WorkerClient.kill` stops the worker and the
engine processes it had started.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time

from . import protocol

CONFIG_NAME = "nuke_colorize.json"
ENV_PYTHON = "NUKE_COLORIZE_PYTHON"
ENV_CONFIG = "NUKE_COLORIZE_CONFIG"
ENV_STALL = "NUKE_COLORIZE_STALL_TIMEOUT"
#: seconds without a message from an analysis before it counts as hung (``$NUKE_COLORIZE_STALL_TIMEOUT``)
DEFAULT_STALL_S = 900.0
# Set by (or for) Nuke's embedded Python; they would point the engine's Python, another
# version in another environment, at Nuke's standard library (it then cannot even start:
# "No module named 'encodings'") or at Nuke's packages.
HOST_PYTHON_VARS = ("PYTHONHOME", "PYTHONPATH")


class EngineNotConfigured(RuntimeError):
    """No engine Python could be found (the installer has not run, or its config is gone)."""


class WorkerError(RuntimeError):
    """The worker replied with an error, died, or did not answer in time."""


class WorkerStalled(WorkerError):
    """No message about a request for ``seconds`` (the worker or its engine hangs).

    ``last`` is the last message received about the request (None: none at all)."""

    def __init__(self, message, seconds, last=None):
        WorkerError.__init__(self, message)
        self.seconds = seconds
        self.last = last


def stall_timeout(environ=None):
    """Seconds of silence after which an analysis counts as hung: ``$NUKE_COLORIZE_STALL_TIMEOUT``
    (default :data:`DEFAULT_STALL_S`); None when it is 0 (wait forever). Raises ValueError
    naming the variable when it is not a number of seconds >= 0."""
    text = (os.environ if environ is None else environ).get(ENV_STALL, "").strip()
    if not text:
        return DEFAULT_STALL_S
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise ValueError("%s must be a number of seconds (0: wait forever), not %r" % (ENV_STALL, text))
    return value or None


def stall_report(err, client, stall, retry):
    """What to tell when an analysis sent nothing for ``stall`` seconds (``err``: its
    WorkerStalled) and ``client``'s worker was stopped; ``retry``: how to try again
    (e.g. "render the frame again")."""
    log = getattr(client, "log_path", None)
    log = " Worker log: %s." % log if log and os.path.isfile(log) else ""
    return ("the nuke-colorize engine sent nothing for %.0f s (last message: %s), so it was stopped; "
            "the frames it had finished stay in the cache.%s To resume from there, %s; if it stalls "
            "again, read the log, and if frames legitimately take longer set %s higher (seconds, now "
            "%g; 0 waits forever)."
            % (err.seconds, describe_message(err.last), log, retry, ENV_STALL, stall))


def describe_message(msg):
    """A short text of what a worker message said (for stall reports)."""
    if not msg:
        return "nothing"
    if msg.get("event") == "started":
        return "engine process %s started" % msg.get("pid")
    if msg.get("message"):
        return str(msg["message"])[:300]
    if "frame" in msg:
        text = "frame %s" % msg["frame"]
        if "done" in msg and "total" in msg:
            text += " (%s/%s)" % (msg["done"], msg["total"])
        return text
    return str(msg.get("stage") or msg.get("event") or "a message")


def plugin_config_path():
    """Config file written by the installer: ``$NUKE_COLORIZE_CONFIG`` or the plug-in folder's."""
    env = os.environ.get(ENV_CONFIG)
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    # installed layout: <plugin>/python/nuke_colorize/host/bridge.py -> <plugin>/nuke_colorize.json
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(here))), CONFIG_NAME)


def read_config(path=None):
    path = path or plugin_config_path()
    try:
        with open(path, "r") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def engine_python(config_path=None):
    """Path of the engine's python executable. Raises EngineNotConfigured."""
    path = os.environ.get(ENV_PYTHON) or read_config(config_path).get("engine_python")
    if not path:
        raise EngineNotConfigured(
            "the nuke-colorize engine is not configured: run install/install.py, or set %s to the "
            "python of the environment where nuke-colorize is installed" % ENV_PYTHON)
    if not os.path.isfile(path):
        raise EngineNotConfigured("the nuke-colorize engine python does not exist: %s "
                                  "(re-run install/install.py)" % path)
    return path


def engine_env(base=None):
    """The environment the engine runs in: ``base`` (default this process's) without
    :data:`HOST_PYTHON_VARS`."""
    env = dict(os.environ if base is None else base)
    for name in HOST_PYTHON_VARS:
        env.pop(name, None)
    return env


def engine_command(config_path=None):
    """argv prefix that runs engine sub-commands: ``[python, -m, nuke_colorize]``."""
    return [engine_python(config_path), "-m", "nuke_colorize"]


class Request(object):
    """One request in flight. Iterate :meth:`events` for progress; :meth:`wait` for the result."""

    def __init__(self, client, rid, cmd, proc=None, reader=None):
        self.client = client
        self.proc = proc
        self.reader = reader
        self.id = rid
        self.cmd = cmd
        self._queue = queue.Queue()
        self.result = None
        self.finished = False
        self.last = None         # the last message about this request
        self.engine_pids = []    # engine processes the worker started for it ("started" events)

    def _put(self, msg):
        self._queue.put(msg)

    def events(self, timeout=None, poll=0.2):
        """Yield every message for this request, the final one last; ``None`` every ``poll`` s.

        The ``None`` ticks let a caller check for cancellation while nothing happens.
        Raises WorkerError if the worker dies, WorkerStalled if ``timeout`` seconds pass without
        a message (``timeout`` is a silence timeout: every message restarts it).
        """
        last = time.time()
        while not self.finished:
            try:
                msg = self._queue.get(timeout=poll)
            except queue.Empty:
                if self.proc is not None and self.proc.poll() is not None:
                    if self.reader is not None:
                        self.reader.join(2.0)  # let it route what the worker sent before exiting
                    if not self._queue.empty():
                        continue
                    self.finished = True
                    self.client._forget(self)
                    raise WorkerError(self.client.exit_message(self.proc))
                if timeout is not None and time.time() - last > timeout:
                    raise WorkerStalled("no answer from the nuke-colorize worker for %s within %.0f s"
                                        % (self.cmd, timeout), time.time() - last, self.last)
                yield None
                continue
            last = time.time()
            self.last = msg
            pid = msg.get("pid")
            if msg.get("event") == "started" and isinstance(pid, int) and not isinstance(pid, bool) and pid > 0:
                self.engine_pids.append(pid)
            if msg.get("event") in protocol.FINAL_EVENTS:
                self.finished = True
                self.result = msg
            yield msg

    def wait(self, timeout=None):
        """Block until the final message; returns it. Raises WorkerError on an ``error`` event."""
        for msg in self.events(timeout=timeout):
            if msg is not None and msg.get("event") == "error":
                raise WorkerError(msg.get("message") or "the worker reported an error")
        return self.result

    def cancel(self):
        # a worker that has exited has stopped its jobs: starting a new one to cancel is waste
        if not self.finished and (self.proc is None or self.proc.poll() is None):
            self.client.request("cancel", target=self.id)


class WorkerClient(object):
    """A ``nuke-colorize worker`` subprocess and the requests in flight to it.

    ``command`` is the argv prefix that runs the engine CLI (default :func:`engine_command`).
    The worker's stderr goes to ``log_path`` (a file in the temp folder by default) so the pipe
    can never fill up; its tail is quoted when the worker dies. ``env`` is the worker's
    environment (default: :func:`engine_env`).
    """

    def __init__(self, command=None, log_path=None, env=None, worker_args=()):
        self.command = list(command) if command else None
        self.worker_args = list(worker_args)
        self.log_path = log_path or os.path.join(
            tempfile.gettempdir(), "nuke_colorize_worker_%d.log" % os.getpid())
        self.env = env
        self.proc = None
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._next_id = 1
        self._pending = {}
        self._reader = None
        self._log_start = 0      # where the current worker's lines start in the log
        self._heard_pid = None   # pid of the last worker that sent a valid message
        self._python = None      # the engine python the current worker was started with
        self.stray = []  # messages the worker sent without a known id (kept for diagnostics)

    # ---------------------------------------------------------------- process
    def start(self):
        with self._lock:
            if self.proc is not None and self.proc.poll() is None:
                return
            command = self.command or engine_command()
            self._python = command[0]
            # requests to a worker that has gone (a caller that stopped listening) never finish
            self._pending = dict((rid, req) for rid, req in self._pending.items()
                                 if req.proc is not None and req.proc.poll() is None)
            log = open(self.log_path, "ab")
            log.seek(0, os.SEEK_END)
            self._log_start = log.tell()
            try:
                kwargs = {}
                if os.name == "nt":
                    kwargs["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
                self.proc = subprocess.Popen(
                    command + ["worker"] + self.worker_args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=log, bufsize=0, close_fds=True,
                    env=self.env if self.env is not None else engine_env(), **kwargs)
            except OSError as err:  # not executable, a noexec mount, not a program for this machine
                raise EngineNotConfigured("cannot run the nuke-colorize engine python %s: %s (re-run "
                                          "install/install.py, or set %s to the python of an environment "
                                          "where nuke-colorize is installed)"
                                          % (command[0], err.strerror or err, ENV_PYTHON))
            finally:
                log.close()
            self._reader = threading.Thread(target=self._read_loop, args=(self.proc,),
                                            name="nuke-colorize-worker-reader")
            self._reader.daemon = True
            self._reader.start()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def last_words(self, lines=5):
        """The last lines the current worker wrote to its log (not those of earlier workers)."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(self._log_start, fh.tell() - 4000))
                tail = fh.read().decode("utf-8", "replace").strip().splitlines()[-lines:]
        except OSError:
            return ""
        return (": " + " | ".join(tail)) if tail else ""

    def exit_message(self, proc):
        """What to tell the user when the worker ``proc`` has gone.

        A worker that exits before it ever answered could not start: the engine environment
        is broken or is not nuke-colorize's, and the message says how to fix that."""
        code = proc.poll()
        if code is None or code < 0 or proc.pid == self._heard_pid:
            how = "killed by signal %d" % -code if code is not None and code < 0 else "exit code %s" % code
            return "the nuke-colorize worker stopped unexpectedly (%s)%s" % (how, self.last_words())
        return ("the nuke-colorize engine could not start (%s exited with code %d)%s. Re-run "
                "install/install.py, or set %s to the python of an environment where nuke-colorize "
                "is installed" % (self._python, code, self.last_words(), ENV_PYTHON))

    def kill(self):
        """Stop the worker at once (it does not answer) and the engine processes it started for
        the requests in flight (each in a process group of its own, which the worker's death
        would leave running: a hung one holding a chain's lock); the next request starts a new
        worker. The shot cache is crash-safe: a process killed mid-frame leaves complete files."""
        with self._lock:
            proc = self.proc
            pids = [pid for req in self._pending.values() if req.proc is proc for pid in req.engine_pids]
            # no message can come about them any more: forget them (and their ids)
            self._pending = dict((rid, req) for rid, req in self._pending.items() if req.proc is not proc)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in pids:
            _kill_group(pid)

    def close(self, timeout=5.0):
        """Ask the worker to stop (it stops its jobs too); kill it if it does not."""
        if not self.alive():
            return
        try:
            self.request("shutdown").wait(timeout=timeout)
        except (WorkerError, OSError):
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _read_loop(self, proc):
        stream = proc.stdout
        while True:
            try:
                line = protocol.read_line(stream)
            except protocol.ProtocolError as err:
                self.stray.append({"event": "error", "message": str(err)})
                continue
            except (OSError, ValueError):
                break
            if not line:
                break
            try:
                msg = protocol.decode(line)
            except protocol.ProtocolError as err:
                self.stray.append({"event": "error", "message": str(err)})
                continue
            self._heard_pid = proc.pid
            with self._lock:
                req = self._pending.get(msg.get("id"))
                if req is not None and msg.get("event") in protocol.FINAL_EVENTS:
                    del self._pending[msg.get("id")]
            if req is None:
                del self.stray[:-50]
                self.stray.append(msg)
            else:
                req._put(msg)
        # the worker closed its stdout: it is exiting. Reap it, so that one killed while idle
        # does not stay a zombie until the next request.
        try:
            proc.wait(timeout=30.0)
        except subprocess.TimeoutExpired:
            pass

    # ---------------------------------------------------------------- requests
    def request(self, cmd, **params):
        """Send one request; returns its :class:`Request` at once."""
        self.start()
        with self._lock:
            rid = self._next_id
            self._next_id += 1
            msg = dict(params)
            msg.update({"id": rid, "cmd": cmd})
            line = protocol.encode(msg)
            proc = self.proc
            req = Request(self, rid, cmd, proc, self._reader)
            self._pending[rid] = req
        # written outside _lock: the reader thread must stay free to drain the worker's replies
        with self._write_lock:
            try:
                proc.stdin.write(line)
                proc.stdin.flush()
            except (OSError, ValueError):
                with self._lock:
                    self._pending.pop(rid, None)
                try:
                    proc.wait(timeout=2.0)
                except subprocess.TimeoutExpired:
                    raise WorkerError("could not talk to the nuke-colorize worker%s" % self.last_words())
                raise WorkerError(self.exit_message(proc))
        return req

    def _forget(self, req):
        """Drop ``req`` from the requests in flight (it finished, or its worker died)."""
        with self._lock:
            if self._pending.get(req.id) is req:
                del self._pending[req.id]

    def call(self, cmd, timeout=60.0, **params):
        """Request and wait; returns the result message."""
        return self.request(cmd, **params).wait(timeout=timeout)


def _kill_group(pid):
    """Kill the process group an engine process leads (its own children too); gone is fine."""
    try:
        if os.name == "nt":
            os.kill(pid, signal.SIGTERM)  # TerminateProcess
        else:
            os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


_CLIENT = None
_CLIENT_LOCK = threading.Lock()


def get_client():
    """The process-wide worker client (started on first use)."""
    global _CLIENT
    with _CLIENT_LOCK:
        if _CLIENT is None:
            _CLIENT = WorkerClient()
        return _CLIENT


def set_client(client):
    """Replace the process-wide client (tests, or a host that manages its own)."""
    global _CLIENT
    with _CLIENT_LOCK:
        old, _CLIENT = _CLIENT, client
    return old
