"""Analyze jobs: the engine colourises a shot version while Nuke stays usable.

In the GUI a job runs in a background thread with a ``nuke.ProgressTask`` (its Cancel button
stops the engine; frames already cached are kept). Knobs are only touched back on the main
thread (``nuke.executeInMainThread``). Without a GUI, :func:`run_blocking` waits and prints
progress lines (for ``nuke -t`` scripts and farm logs).

Both follow the render hook's rule: an engine that sends nothing for
``$NUKE_COLORIZE_STALL_TIMEOUT`` seconds (:func:`nuke_colorize.host.bridge.stall_timeout`)
hangs; its worker is stopped and the analysis fails saying so (frames already done are kept).
While the engine waits for another process (an artist or farm task building the same chains)
it says so every 20 s, and the progress bar shows it.
"""
from __future__ import annotations

import os
import sys
import threading
import time

import nuke

from .. import bridge, protocol
from ..bridge import EngineNotConfigured, WorkerError, WorkerStalled, get_client

_running = {}
_notes = {}   # shot file -> the engine's notes from its last analysis in this Nuke session
_failures = {}   # shot file -> why its last analysis in this session failed (none: it did not)
_lock = threading.Lock()
# A worker that has not ended a cancelled analysis this long after the cancel (it stops its
# engine within 10 s) hangs: it is stopped, and the next request starts a new one.
CANCEL_TIMEOUT_S = 30.0


class Job(object):
    def __init__(self, node_name, prep, frames, client):
        self.node_name = node_name
        self.prep = prep
        self.frames = (int(frames[0]), int(frames[1]))
        self.client = client
        self.thread = None
        self.request = None
        self.cancel_requested = False
        self.cancelled = False
        self.error = None
        self.result = None
        self.progress = []  # (done, total) seen
        self.listeners = []  # (on_progress, on_done) of everyone who asked for this analysis
        self.done = threading.Event()

    def cancel(self):
        """Ask the job to stop (the progress bar's Cancel does the same)."""
        self.cancel_requested = True

    def wait(self, timeout=None):
        return self.done.wait(timeout)


def remember_notes(shot_path, result):
    """Keep the notes of an analysis ``result`` (the worker's ``notes``: what the engine did
    differently, e.g. "alpha covers 10% of the image", "colour plate: only its luminance is
    used") for the node's status line; a result without them leaves the last ones."""
    notes = result.get("notes") if isinstance(result, dict) else None
    if isinstance(notes, list):
        with _lock:
            _notes[shot_path] = [str(n) for n in notes if n]


def notes(shot_path):
    """The engine's notes from the last analysis of ``shot_path`` in this session."""
    with _lock:
        return list(_notes.get(shot_path, ()))


def failure(shot_path):
    """Why the last analysis of ``shot_path`` in this session failed, or None."""
    with _lock:
        return _failures.get(shot_path)


def running(shot_path):
    with _lock:
        job = _running.get(shot_path)
    return job if job is not None and not job.done.is_set() else None


def running_under(folder):
    """A running job whose shot file is inside ``folder`` (any version of a shot), or None."""
    prefix = os.path.join(folder, "")
    with _lock:
        jobs = list(_running.values())
    for job in jobs:
        if not job.done.is_set() and job.prep.shot_path.startswith(prefix):
            return job
    return None


def start(node_name, prep, frames, client=None, on_progress=None, on_done=None):
    """Start analysing in the background; returns the Job (the running one if already busy:
    the callbacks then follow that job).

    ``on_progress(done, total, frame)`` and ``on_done(job)`` are called on the main thread.
    """
    busy = running(prep.shot_path)
    if busy is not None:
        busy.listeners.append((on_progress, on_done))
        return busy
    job = Job(node_name, prep, frames, client or get_client())
    job.listeners.append((on_progress, on_done))
    with _lock:
        _running[prep.shot_path] = job
    job.thread = threading.Thread(target=_run, args=(job,),
                                  name="nuke-colorize-analyze")
    job.thread.daemon = True
    job.thread.start()
    return job


def _run(job):
    task = nuke.ProgressTask("Colorize %s" % job.node_name)
    task.setMessage("starting the engine")
    sent_cancel = None
    stall = None
    try:
        stall = bridge.stall_timeout()
        req = job.client.request("analyze", shot=job.prep.shot_path, frames=list(job.frames))
        job.request = req
        result = None
        for msg in req.events(timeout=stall):
            if sent_cancel is None and (task.isCancelled() or job.cancel_requested):
                req.cancel()
                sent_cancel = time.time()
                task.setMessage("cancelling (frames already done are kept)")
            elif sent_cancel is not None and time.time() - sent_cancel > CANCEL_TIMEOUT_S:
                job.client.kill()
                result = {"event": "result", "ok": False, "cancelled": True,
                          "message": "the engine did not stop: its worker was ended"}
                break
            if msg and msg.get("event") == "progress" and msg.get("stage") in protocol.WAITING_STAGES:
                if sent_cancel is None:
                    task.setMessage(str(msg.get("message") or "waiting for another process"))
            elif msg and msg.get("event") == "progress":
                done, total = msg.get("done"), msg.get("total")
                if isinstance(done, int) and isinstance(total, int) and total > 0:
                    job.progress.append((done, total))
                    task.setProgress(int(100 * done / total))
                    label = "frame %s" % msg["frame"] if "frame" in msg else msg.get("stage", "")
                    task.setMessage("%s (%d/%d)" % (label, done, total))
                    for on_progress, _ in list(job.listeners):
                        if on_progress is not None:
                            nuke.executeInMainThread(on_progress, (done, total, msg.get("frame")))
        job.result = result or req.result
        remember_notes(job.prep.shot_path, job.result)
        if job.result.get("event") == "error":
            job.error = job.result.get("message") or "the engine reported an error"
        job.cancelled = bool(job.result.get("cancelled"))
    except WorkerStalled as err:
        job.client.kill()
        if sent_cancel is not None:
            job.result = {"event": "result", "ok": False, "cancelled": True,
                          "message": "the engine did not stop: its worker was ended"}
            job.cancelled = True
        else:
            job.error = bridge.stall_report(err, job.client, stall, "press Analyze again")
    except (WorkerError, EngineNotConfigured, OSError, ValueError) as err:
        job.error = str(err)
    finally:
        del task
        with _lock:
            if _running.get(job.prep.shot_path) is job:
                del _running[job.prep.shot_path]
            if job.error and not job.cancelled:
                _failures[job.prep.shot_path] = job.error
            elif not job.cancelled:
                _failures.pop(job.prep.shot_path, None)
        nuke.executeInMainThread(_finished, (job,))
        job.done.set()


def _finished(job):
    from . import node as node_mod
    for node in _nodes_of(job):
        node_mod.update_status(node)
    callbacks = [on_done for _, on_done in job.listeners if on_done is not None]
    for on_done in callbacks:
        on_done(job)
    if not callbacks and job.error and not job.cancelled:
        nuke.message("%s: analysis failed: %s" % (job.node_name, job.error))


def _nodes_of(job):
    """The Colorize nodes showing the job's version: the node that started it (unless renamed
    or deleted since) and every node whose ``shot_file`` is the job's (a renamed node, another
    node of the same shot and inputs)."""
    from . import node as node_mod
    found = {}
    node = node_mod.to_node(job.node_name)
    if node is not None and node_mod.is_colorize(node):
        found[node.fullName()] = node
    for node in node_mod.all_shots():
        knob = node.knob("shot_file")
        if knob is not None and knob.value() == job.prep.shot_path:
            found.setdefault(node.fullName(), node)
    return list(found.values())


def run_blocking(prep, frames, client=None, out=None):
    """Analyse and wait, printing one line per progress event. Raises WorkerError (also when
    the engine stalls: its worker is then stopped)."""
    client = client or get_client()
    out = out or sys.stdout
    try:
        stall = bridge.stall_timeout()
    except ValueError as err:
        raise WorkerError(str(err))
    req = client.request("analyze", shot=prep.shot_path, frames=[int(frames[0]), int(frames[1])])
    try:
        for msg in req.events(timeout=stall):
            if msg and msg.get("event") == "progress" and msg.get("stage") in protocol.WAITING_STAGES:
                out.write("nuke-colorize: %s: %s\n" % (prep.shot_path, msg.get("message") or "waiting"))
            elif msg and msg.get("event") == "progress" and "done" in msg and "total" in msg:
                out.write("nuke-colorize: %s frame %s (%s/%s)\n" % (prep.shot_path, msg.get("frame", "?"),
                                                                  msg["done"], msg["total"]))
    except WorkerStalled as err:
        client.kill()
        raise WorkerError(bridge.stall_report(err, client, stall, "run the analysis again"))
    remember_notes(prep.shot_path, req.result)
    for note in req.result.get("notes") or ():
        out.write("nuke-colorize: %s: note: %s\n" % (prep.shot_path, note))
    if req.result.get("event") == "error":
        raise WorkerError(req.result.get("message") or "the engine reported an error")
    return req.result
