"""Render hook: frames missing from a shot's cache are computed on the spot or refused.

Registered by the plug-in's init.py (so it runs in ``nuke -x`` / ``-t`` renders and on the
farm) as a ``beforeFrameRender`` callback of Write nodes: before each frame, every Colorize
node upstream of the Write is checked. If the frame's output exists for the node's current
version it is used; otherwise, as the node's ``missing frames`` knob says, the engine computes
it now (only the chain it needs, from the nearest cached state) or the frame fails with a
message naming the node, the frame and what to do. A frame is never rendered from stale or
missing colour: the node's Read only ever points at its current version, and it fails on a
missing file.

Computing a frame has no deadline (a chain may be long, or another process may be building it),
but a *stall* timeout: an engine that sends nothing for ``$NUKE_COLORIZE_STALL_TIMEOUT``
seconds (default 900; 0 waits forever) hangs, and is stopped, so the frame fails instead of
the render hanging forever. The engine reports every frame it computes and, while it waits
for another process's lock, says so every 20 s, as it does while it prepares (identifies the
plate's frames, plans automatic references, loads the backend); those lines go to the render log.
"""
from __future__ import annotations

import os

import nuke

from .. import frames as fr
from .. import shotspec
from .. import bridge, protocol
from ..bridge import EngineNotConfigured, WorkerError, WorkerStalled, get_client
from . import node as node_mod
from . import sources


def install():
    """Register the hook (idempotent: Nuke's callback lists keep one copy)."""
    nuke.addBeforeFrameRender(before_frame_render, nodeClass="Write")


def before_frame_render():
    write = nuke.thisNode()
    f = int(nuke.frame())
    for colorize in upstream_colorize(write):
        ensure_frame(colorize, f)


def upstream_colorize(node):
    """Colorize nodes feeding ``node`` (through groups too), nearest first."""
    found, seen, todo = [], set(), [node]
    while todo:
        n = todo.pop(0)
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        disable = n.knob("disable")
        if disable is not None and disable.value():
            # a disabled node passes its input 0 through: a disabled Colorize node's frames are
            # not rendered (nor to be computed, nor refused)
            todo.append(n.input(0) if n.inputs() else None)
            continue
        if node_mod.is_colorize(n):
            found.append(n)
        elif n.Class() == "Group":
            todo.extend(c for c in n.nodes() if c.Class() == "Output")
        elif n.Class() == "Input":
            parent = sources._parent_group(n)
            if parent is not None:
                todo.append(parent.input(n["number"].value()))
        # pipes, hidden pipes and (Nuke 17.1+) link nodes, which stand for another node's
        # output; not expression links or link knobs
        todo.extend(n.dependencies(nuke.INPUTS | nuke.HIDDEN_INPUTS | getattr(nuke, "LINKNODE_INPUTS", 0)))
    return found


def ensure_frame(node, f, client=None):
    """Make frame ``f`` of a Colorize node's current version exist, or raise RuntimeError."""
    node_mod.ensure_backend_settings(client, node)  # same settings, so the same version as Analyze
    try:
        prep = node_mod.prepare(node, write=False)
    except node_mod.NodeError as err:
        raise RuntimeError("%s: cannot render: %s" % (node.fullName(), err))
    node_mod.set_read(node, prep)
    first, last = prep.frames
    if not first <= f <= last:
        return
    out = fr.frame_path(prep.output, f)
    if os.path.isfile(out):
        return
    if node["missing_frames"].value() == node_mod.MISSING_FAIL:
        raise RuntimeError(node_mod.missing_frame_message(node, f, prep))
    if sources.missing_precomp_frames(prep.plate, prep.frames):
        raise RuntimeError("%s: frame %d cannot be computed during a render: the plate comes from a node "
                           "tree that has not been rendered to the cache yet. Open the script and press "
                           "Analyze." % (node.fullName(), f))
    for ref in prep.shot["references"]:
        if not os.path.isfile(ref["image"]):
            raise RuntimeError("%s: reference image missing: %s (press Analyze in the GUI first)"
                               % (node.fullName(), ref["image"]))
    try:
        stall = bridge.stall_timeout()
    except ValueError as err:
        raise RuntimeError("%s: frame %d cannot be computed: %s" % (node.fullName(), f, err))
    shot_path = shotspec.write_machine_shot(prep.shot_path, prep.shot, os.path.dirname(prep.root))
    print("nuke-colorize: %s: computing frame %d of shot %s" % (node.fullName(), f, shot_path))
    client = client or get_client()
    try:
        compute(client, shot_path, f, stall, node.fullName())
    except WorkerStalled as err:
        client.kill()  # the worker and its engine; the next frame starts a fresh one
        raise RuntimeError("%s: frame %d: %s" % (node.fullName(), f, bridge.stall_report(
            err, client, stall, "render the frame again")))
    except (WorkerError, EngineNotConfigured) as err:
        raise RuntimeError("%s: frame %d could not be computed: %s" % (node.fullName(), f, err))
    if not os.path.isfile(out):
        raise RuntimeError("%s: the engine finished but frame %d is still missing: %s" % (node.fullName(), f, out))
    node_mod.update_status(node)   # the Read reloaded, the status line counting the new frame


def compute(client, shot_path, f, stall, label):
    """Have the engine compute frame ``f`` of a shot, printing its ``waiting`` and ``preparing``
    reports.
    Raises WorkerStalled after ``stall`` seconds without a message (None: never), WorkerError."""
    req = client.request("analyze", shot=shot_path, frames=[f, f])
    for msg in req.events(timeout=stall):
        if msg and msg.get("event") == "progress" and msg.get("stage") in protocol.WAITING_STAGES and msg.get("message"):
            print("nuke-colorize: %s: frame %d: %s" % (label, f, msg["message"]))
    from . import jobs
    jobs.remember_notes(shot_path, req.result)
    for note in req.result.get("notes") or ():
        print("nuke-colorize: %s: note: %s" % (label, note))
    if req.result.get("event") == "error":
        raise WorkerError(req.result.get("message") or "the engine reported an error")
    return req.result

