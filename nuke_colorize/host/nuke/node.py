"""The Colorize node: a Group (gizmos/Colorize.nk) whose buttons and callbacks land here.

The node reads its result through an internal Read (``ColourRead``) pointed at the output of
the current *version* of its shot (see :mod:`nuke_colorize.host.shotspec`): every knob change
re-points it, so the viewer shows either colour computed for exactly these inputs or an error
("not analysed"), never colour left over from other references or settings. Nuke 13-17.0 call
a node's knobChanged only while its control panel is open, so the gizmo's updateUI (run at
idle, panel open or not) also re-points the Read when the node's knobs or its inputs' trees
have changed since it last looked (:func:`update_ui`); renders re-point it before each frame.
Nuke 17.1 also calls knobChanged for programmatic changes with the panel closed, knobs set while
a script loads included (ignored until the script has loaded: :func:`knob_changed`).

Public functions (called from the gizmo's knobs, the menu and the render hook):
``create``, ``on_create``, ``knob_changed``, ``update_ui``, ``analyze``, ``clear_cache``,
``update_status``, ``prepare``, ``refresh``, ``is_colorize``, ``all_shots``, ``set_references``.
"""
from __future__ import annotations

import os
import shutil
import time

import nuke

from .. import frames as fr
from .. import references as refmod
from .. import shotspec
from .. import status as statusmod
from ..bridge import EngineNotConfigured, WorkerError, get_client
from . import sources

GIZMO_FILE = "Colorize.nk"
READ_NODE = "ColourRead"
MARKER_KNOB = "nuke_colorize"
MISSING_COMPUTE = "compute on the spot"
MISSING_FAIL = "fail the frame"
_SHOT_KNOBS = frozenset(("shot", "backend", "colorspace", "references", "use_input_range", "first_frame",
                         "last_frame", "working_size", "track_window", "track_threshold", "temporal_smoothing",
                         "library", "auto_references", "cache_dir",
                         "inputChange", "showPanel"))


class NodeError(Exception):
    """A problem the compositor can fix; shown as a message (GUI) or raised (render)."""


# ----------------------------------------------------------------------------- finding nodes
def is_colorize(node):
    return node is not None and node.knob(MARKER_KNOB) is not None and hasattr(node, "nodes")


def all_shots():
    """Every Colorize node in the script (inside groups too), in graph order."""
    return [n for n in nuke.allNodes(group=nuke.root(), recurseGroups=True) if is_colorize(n)]


def shot_name(node):
    """The shot knob, or when empty the node's name; a node renamed since it was analysed keeps
    its shot folder (:func:`_analysed_name`), a copy pasted beside its original gets its own."""
    return node["shot"].value().strip() or _analysed_name(node) or node.name()


def _analysed_name(node):
    """The shot folder name of the node's last version (its ``shot_file`` knob,
    ``<cache folder>/<shot>/v_<key>/shot.json``) when that folder exists and is not the node's
    own name: the node was renamed since (its cache and results are there); else None. (A copy
    pasted beside its original forgets the original's ``shot_file``: :func:`on_create`.)"""
    knob = node.knob("shot_file")
    path = knob.value() if knob is not None else ""
    if not path or os.path.basename(path) != shotspec.SHOT_FILE:
        return None
    version = os.path.dirname(path)
    name = os.path.basename(os.path.dirname(version))
    if not os.path.basename(version).startswith("v_") or name == shotspec.safe_name(node.name()):
        return None
    if not os.path.isdir(os.path.dirname(version)) and not os.path.isdir(os.path.join(_cache_folder(node), name)):
        return None   # (the knob as written by a machine that sees the storage elsewhere: a farm)
    return name


def _cache_folder(node):
    """The node's cache folder as its knob or the script's folder give it ("" when unknown),
    without :func:`cache_root`'s fallback to the folder of the last Analyze."""
    try:
        value = _path_value(node, "cache_dir")
        if value:
            return os.path.abspath(sources.absolute(value))
        script = nuke.root()["name"].value()
    except (NodeError, ValueError):
        return ""
    return os.path.join(os.path.dirname(os.path.abspath(script)), "colorize_cache") if script else ""


def _forget_copied_version(node):
    """A node pasted or duplicated beside the one it was copied from holds that node's
    ``shot_file``: with an empty shot name, forget it, so that the copy's shot folder is its own
    name (:func:`shot_name`) and not the original's."""
    knob = node.knob("shot_file")
    if knob is None or not knob.value() or node["shot"].value().strip():
        return
    for other in all_shots():
        mine = other.knob("shot_file")
        if other.fullName() != node.fullName() and mine is not None and mine.value() == knob.value():
            knob.setValue("")
            return


# ----------------------------------------------------------------------------- parameters
class Prepared(object):
    """A shot version ready for the engine.

    shot: the description dict (with ``output``); shot_path: its file; frames: (first, last);
    root: the shot's folder; plate: the plate :class:`sources.Source`; warnings: list of str.
    """

    def __init__(self, shot, shot_path, frames, root, plate, warnings):
        self.shot = shot
        self.shot_path = shot_path
        self.output = shot["output"]
        self.frames = frames
        self.root = root
        self.plate = plate
        self.warnings = warnings


def _path_value(node, name):
    """A file knob's path, TCL evaluated (its ``value()`` is the text as typed); "" when the
    node has no such knob (saved before it existed). Raises NodeError."""
    knob = node.knob(name)
    if knob is None:
        return ""
    try:
        return sources.knob_path(knob)
    except ValueError as err:
        raise NodeError(str(err))


def cache_root(node):
    value = _path_value(node, "cache_dir")
    if value:
        return os.path.abspath(sources.absolute(value))
    try:
        script = nuke.root()["name"].value()
    except ValueError:  # onCreate while the script loads: the root does not exist yet
        raise NodeError("the script has not finished loading")
    if not script:
        raise NodeError("save the script first, or set the node's cache folder")
    default = os.path.join(os.path.dirname(os.path.abspath(script)), "colorize_cache")
    analysed = _analysed_root(node)
    if analysed and analysed != default and not os.path.isdir(default) and os.path.isdir(analysed):
        # the script runs as a copy elsewhere (Deadline's Nuke plug-in renders a local copy of
        # the submitted script): the cache stays where the last Analyze put it
        return analysed
    return default


def _analysed_root(node):
    """The cache folder of the node's last Analyze, from its ``shot_file`` knob
    (``<cache folder>/<shot>/v_<key>/shot.json``), or None."""
    knob = node.knob("shot_file")
    path = knob.value() if knob is not None else ""
    if not path or os.path.basename(path) != shotspec.SHOT_FILE:
        return None
    version = os.path.dirname(path)
    shot_dir = os.path.dirname(version)
    if not os.path.basename(version).startswith("v_") or \
            os.path.basename(shot_dir) != shotspec.safe_name(shot_name(node)):
        return None
    return os.path.dirname(shot_dir)


def frame_range(node):
    if node["use_input_range"].value():
        plate = node.input(sources.PLATE)
        if plate is None:
            raise NodeError("connect a plate to the node's plate input")
        return int(plate.firstFrame()), int(plate.lastFrame())
    first, last = int(node["first_frame"].value()), int(node["last_frame"].value())
    if last < first:
        raise NodeError("the frame range ends (%d) before it starts (%d)" % (last, first))
    return first, last


def reference_rows(node, as_typed=False):
    """The references table's rows: paths with TCL (``[getenv SHOW]``) evaluated, as the engine
    needs them; with ``as_typed``, the text as the user typed it (for editing the table)."""
    knob = node["references"]
    text = knob.getText() if as_typed and hasattr(knob, "getText") else knob.value()
    try:
        return refmod.parse_table(text)
    except refmod.RefTableError as err:
        raise NodeError(str(err))


def prepare(node, write=False):
    """Work out the shot version for the node's current knobs and inputs.

    With ``write``, also render what needs rendering (precomps; main thread only, never during
    a render) and write the shot file. Raises NodeError.
    """
    frames = frame_range(node)
    root = shotspec.shot_root(cache_root(node), shot_name(node))
    rows = reference_rows(node)
    for row in rows:   # the engine refuses such a shot: say so before Analyze, not after
        if row.frame is not None and not frames[0] <= row.frame <= frames[1]:
            raise NodeError("references line %s: frame %d is outside the frames the node colourises "
                            "(%d-%d): give it as a still ('still %s') or widen the frame range"
                            % (row.line, row.frame, frames[0], frames[1],
                               row.path if row.source == "file" else "input %d" % row.input_frame))
    if write:
        ensure_backend_settings(node=node)
    library = library_index(node)
    if not rows and not library:
        raise NodeError("add at least one reference (a colour frame or still) in the references table, "
                        "or a library index")
    try:
        plate = sources.sequence_source(node, sources.PLATE, frames, root)
        if plate is None:
            raise NodeError("connect a plate to the node's plate input")
        matte = sources.sequence_source(node, sources.MATTE, frames, root)
        if write:
            for src, idx in ((plate, sources.PLATE), (matte, sources.MATTE)):
                sources.render_precomp(node, idx, src.pattern if src else "",
                                       sources.missing_precomp_frames(src, frames))
        refs, ref_files = sources.reference_images(node, rows, root, write=write)
        for src, what in ((plate, "plate"), (matte, "matte")):
            _check_sequence(src, what, frames)
    except sources.SourceError as err:
        raise NodeError(str(err))
    colorspace = node["colorspace"].value()
    if colorspace == "auto":
        colorspace = plate.colorspace
    knob_values = {"working_size": node["working_size"].value(), "track_window": node["track_window"].value(),
                   "track_threshold": node["track_threshold"].value()}
    settings, warnings = shotspec.backend_settings(knob_values, _declared_settings(node["backend"].value()))
    missing_config = sources.ocio_without_config()
    if missing_config:
        warnings = list(warnings) + ["OCIO config %s not found on this machine: colour is exchanged as "
                                     "linear Rec.709; set $OCIO to the script's config" % missing_config]
    shot = shotspec.build_shot(plate.pattern, frames, refs, node["backend"].value(),
                               cache=os.path.join(root, "cache"), colorspace=colorspace, settings=settings,
                               matte=matte.pattern if matte is not None else None,
                               temporal_smoothing=_knob_value(node, "temporal_smoothing", 0.0),
                               library=library, auto_references=int(_knob_value(node, "auto_references", 3)),
                               out_colorspace=sources.working_space())
    config = sources.shot_ocio_config(shot)
    if config:
        shot["ocio_config"] = config
    files = plate.user_files + ref_files + (matte.user_files if matte is not None else []) + \
        ([library] if library else [])
    folder, shot_path, output = shotspec.version_paths(root, shot, files)
    full = dict(shot)
    full["output"] = output
    if write:   # paths relative to the file where that holds on every machine (shotspec.portable_shot)
        shotspec.write_shot(shot_path, shotspec.portable_shot(full, shot_path, os.path.dirname(root)))
    return Prepared(full, shot_path, frames, root, plate, warnings)


def _check_sequence(src, what, frames):
    """Refuse a Read's sequence that lacks frames of the range (the engine refuses the shot):
    the status line names them before Analyze, not the engine after it."""
    if src is None or src.precomp:
        return
    missing = [f for f, path in zip(range(frames[0], frames[1] + 1), src.user_files) if not os.path.isfile(path)]
    if missing:
        runs = fr.to_ranges(missing)
        shown = ", ".join(fr.format_range(a, b) for a, b in runs[:5]) + (", ..." if len(runs) > 5 else "")
        raise NodeError("the %s has no file for frame(s) %s of %d-%d (%s): render the missing frames, or "
                        "narrow the frame range" % (what, shown, frames[0], frames[1],
                                                    fr.frame_path(src.pattern, missing[0])))


def library_index(node):
    """The library index file of automatic references (absolute), or None when unset."""
    value = _path_value(node, "library")
    if not value:
        return None
    path = os.path.abspath(sources.absolute(value))
    if not os.path.isfile(path):
        raise NodeError("library index not found: %s (make one with: nuke-colorize library index DIR -o %s)"
                        % (path, path))
    return path


def _knob_value(node, name, default):
    """A knob's value, or ``default`` on nodes saved before the knob existed."""
    knob = node.knob(name)
    return default if knob is None else knob.value()


_DECLARED = {}


def _declared_settings(backend):
    """The backend's settings as the engine declares them (asked once per session), else those
    known of the node's own backends (:data:`shotspec.KNOWN_SETTINGS`), else None."""
    if backend in _DECLARED:
        return _DECLARED[backend]
    return shotspec.KNOWN_SETTINGS.get(backend)


def ensure_backend_settings(client=None, node=None):
    """Learn the backends' settings once per session (quietly: without an engine the knobs
    are sent as they are and the engine reports a setting it does not know). Skipped when
    ``node`` leaves every backend-setting knob at 0 (nothing to map) or uses a backend whose
    settings are known (:data:`shotspec.KNOWN_SETTINGS`)."""
    if _DECLARED:
        return
    if node is not None and (node["backend"].value() in shotspec.KNOWN_SETTINGS or
                             not any(node[k].value() for k, _ in shotspec.SETTINGS_MAP)):
        return   # known without asking: no engine start on Nuke's main thread
    try:
        learn_backend_settings(client)
    except (WorkerError, EngineNotConfigured, OSError):
        pass


def learn_backend_settings(client=None, timeout=120.0):
    """Ask the engine which settings each backend has (so knobs map only onto real settings)."""
    client = client or get_client()
    reply = client.call("backends", timeout=timeout)
    for name, info in (reply.get("backends") or {}).items():
        if isinstance(info, dict) and isinstance(info.get("settings"), dict):
            _DECLARED[name] = info["settings"]
    return dict(_DECLARED)


# ----------------------------------------------------------------------------- the node's Read
def set_read(node, prep):
    """Point the internal Read at the version's output (frames the version covers)."""
    read = node.node(READ_NODE)
    first, last = prep.frames
    shot_file = node.knob("shot_file")  # absent in nodes made by older versions of the gizmo
    if shot_file is not None and shot_file.value() != prep.shot_path:
        shot_file.setValue(prep.shot_path)
    # a File_Knob's value() reads back "%04d" for "####": compare in one notation, so an
    # unchanged version does not touch the Read (no re-validation, no dirty script)
    if fr.to_hashes(read["file"].value()) != fr.to_hashes(prep.output):
        read["file"].setValue(prep.output)
    before, after = _outside_frames(node.input(sources.PLATE), prep.frames)
    for k, v in (("first", first), ("last", last), ("origfirst", first), ("origlast", last),
                 ("before", before), ("after", after)):
        if read[k].value() != v:
            read[k].setValue(v)
    _match_format(read, node.input(sources.PLATE))


def _outside_frames(plate, frames):
    """The Read's (before, after) modes: outside the frames it colourises the node shows what
    its plate shows there when they end where the plate does (the before / after of the Read
    the plate's frame range comes from: hold, loop... of the same frames), else black: holding
    the last colourised frame would lay its colour on other plate frames."""
    try:
        plate_range = (int(plate.firstFrame()), int(plate.lastFrame())) if plate is not None else None
    except (ValueError, RuntimeError):
        plate_range = None
    read = _range_read(plate) if plate_range else None
    modes = []
    for i, knob in ((0, "before"), (1, "after")):
        if plate_range is None or plate_range[i] != frames[i] or read is None or \
                (int(read.firstFrame()), int(read.lastFrame()))[i] != frames[i] or read.knob(knob) is None:
            modes.append("black")
        else:
            modes.append(read[knob].value())
    return tuple(modes)


def _range_read(node):
    """The Read at the end of ``node``'s input-0 chain (where a tree's frame range comes from
    for most nodes), or None."""
    for _ in range(100):
        if node is None or node.Class() == "Read":
            return node
        node = node.input(0) if node.inputs() else None
    return None


def _match_format(read, plate):
    """Give the Read the plate's format (the result has the plate's size and pixel aspect):
    setting a Read's file from Python does not re-read the format from the file."""
    if plate is None:
        return
    want = plate.format()
    have = read["format"].value()
    if have is None or (have.width(), have.height(), have.pixelAspect()) != \
            (want.width(), want.height(), want.pixelAspect()):
        read["format"].setValue(want)


def clear_read(node):
    read = node.node(READ_NODE)
    if read["file"].value():
        read["file"].setValue("")


def reload_read(node):
    read = node.node(READ_NODE)
    knob = read.knob("reload")
    if knob is not None and hasattr(knob, "execute"):
        knob.execute()


def refresh(node):
    """Re-point the Read at the current version and update the status line. Never raises.

    Returns the Prepared version, or None when the node cannot be analysed as it stands
    (the status line then says why and the Read shows nothing).
    """
    if node.node(READ_NODE) is None:
        # the group is being built (pasted, loaded): its knobs are set before its own nodes
        # exist, and Nuke 17.1 calls knobChanged for such changes; its onCreate comes after
        return None
    try:
        prep = prepare(node, write=False)
    except NodeError as err:
        clear_read(node)
        _set_status(node, "not ready: %s" % err)
        return None
    set_read(node, prep)
    states = coverage(node, prep)
    text = statusmod.summary(states)
    from . import jobs
    if jobs.running(prep.shot_path) is not None:   # not "press Analyze" while it runs
        text = "analysing... " + text.replace("; press Analyze", "")
    elif jobs.failure(prep.shot_path) and "ready" not in text:   # the message box is gone: say it here
        text += " (last Analyze failed: %s)" % jobs.failure(prep.shot_path)[:300]
    if prep.warnings:
        text += " (" + "; ".join(prep.warnings) + ")"
    engine_notes = jobs.notes(prep.shot_path)
    if engine_notes:   # what the engine said of this version's inputs when it analysed them
        text += " (engine notes: " + "; ".join(engine_notes) + ")"
    _set_status(node, text)
    return prep


def coverage(node, prep):
    """Per-frame states of the node's version (:func:`..status.coverage`); the versions other
    nodes of the same shot show are theirs, not stale versions of this one."""
    others = [os.path.dirname(n["shot_file"].value()) for n in _sharing_nodes(node, prep.root)]
    return statusmod.coverage(prep.output, prep.frames[0], prep.frames[1], exclude=others)


def _set_status(node, text):
    # square brackets are TCL substitution in most of Nuke's text (a status naming a file
    # "shot[v2].exr" must not run a command "v2"); the line never holds one
    text = text.replace("[", "(").replace("]", ")")
    knob = node["status"]
    if knob.value() != text:
        knob.setValue(text)


def update_status(node):
    """Button "Update status": same as a refresh, and reload the Read's files."""
    prep = refresh(node)
    if prep is not None:
        reload_read(node)
    return prep


# ----------------------------------------------------------------------------- callbacks
def on_create(node):
    """The gizmo's onCreate (also runs when a script loads): re-point the Read, quietly.

    While a script loads the root node does not exist yet: the Read keeps its saved file until
    the first idle update (:func:`update_ui`) or a render's per-frame check re-points it."""
    if not is_colorize(node):
        return
    _WATCHED.pop(node.fullName(), None)   # a (re)loaded node: the next idle update looks afresh
    _NEXT_LOOK.pop(node.fullName(), None)
    if _loading():
        return
    _forget_copied_version(node)
    refresh(node)


_WATCHED = {}   # node's full name -> what update_ui last saw
_NEXT_LOOK = {}  # node's full name -> monotonic time before which update_ui does not look again

# Nuke runs updateUI at idle after any change anywhere in the script, and the look serialises
# every upstream knob (toScript: a RotoPaint with thousands of strokes is megabytes of text).
# A look that took longer than IDLE_CHEAP_S waits IDLE_SHARE times its own cost before the next
# one, so the checks take at most 1/(IDLE_SHARE + 1) of the artist's idle time; renders and the
# node's own knob changes look at once, whatever the wait.
IDLE_CHEAP_S = 0.05
IDLE_SHARE = 19


def watch_signature(node):
    """What the node's version depends on that can change while its panel is closed: its own
    shot knobs and the node trees on its inputs (knob values, connections; not file contents,
    which a refresh checks)."""
    parts = []
    for name in sorted(_SHOT_KNOBS):
        knob = node.knob(name)
        if knob is not None:
            parts.append("%s=%s" % (name, knob.toScript()))
    for i in (sources.PLATE, sources.REFERENCE, sources.MATTE):
        up = node.input(i)
        parts.append("in%d=%s" % (i, "-" if up is None else sources.tree_signature(up, (0, 0), files=False)))
    return "\n".join(parts)


def update_ui(node):
    """The gizmo's updateUI (Nuke's idle update, panel open or closed): refresh when the
    node's knobs or upstream trees changed since the last look. Never raises."""
    if not is_colorize(node):
        return
    try:
        key = node.fullName()
        start = time.monotonic()
        if start < _NEXT_LOOK.get(key, start):
            return
        sig = watch_signature(node)
    except (ValueError, RuntimeError, NameError):   # mid-load or mid-delete
        return
    cost = time.monotonic() - start
    if cost > IDLE_CHEAP_S:
        _NEXT_LOOK[key] = start + cost * (IDLE_SHARE + 1)
    else:
        _NEXT_LOOK.pop(key, None)
    if _WATCHED.get(key) == sig:
        return
    _WATCHED[key] = sig
    try:
        refresh(node)
    except Exception as err:  # noqa: BLE001 - an idle callback must not raise into Nuke's UI loop
        _set_status(node, "not ready: %s" % err)


def _loading():
    """True while a script loads: Nuke attaches the root node last ("A PythonObject is not
    attached to a node")."""
    try:
        nuke.root()["name"]
    except ValueError:
        return True
    return False


def knob_changed(node, knob):
    if knob is None or not is_colorize(node):
        return
    if _loading():
        # Nuke 17.1 calls knobChanged for programmatic changes too, the knobs a loading script
        # sets included: the group's own nodes may not exist yet; on_create and the first idle
        # update (update_ui) look at the node once it is loaded
        return
    name = knob.name()
    if name == "use_input_range":
        manual = not node["use_input_range"].value()
        node["first_frame"].setEnabled(manual)
        node["last_frame"].setEnabled(manual)
    if name in _SHOT_KNOBS:
        try:
            refresh(node)
        except Exception as err:  # noqa: BLE001 - as update_ui: Nuke 17.1 calls this for any
            _set_status(node, "not ready: %s" % err)   # knob change, a script's setValue too


def create():
    """Toolbar entry: paste the Colorize group (connected to the selected node)."""
    path = gizmo_path()
    node = nuke.nodePaste(path)
    if not is_colorize(node):  # nodePaste returns the last node pasted; the pasted nodes are selected
        pasted = [n for n in nuke.selectedNodes() if is_colorize(n)]
        node = pasted[-1] if pasted else None
    if node is not None:
        refresh(node)
    return node


def to_node(full_name):
    """The node named ``full_name`` (as ``Node.fullName()`` gives it), from the script root
    whatever group is current."""
    return nuke.toNode("root." + full_name)


def gizmo_path():
    for folder in nuke.pluginPath():
        candidate = os.path.join(folder, GIZMO_FILE)
        if os.path.isfile(candidate):
            return candidate
    here = os.path.dirname(os.path.abspath(__file__))
    for up in (os.path.join(here, "..", "..", "..", "gizmos"), os.path.join(here, "..", "..", "..", "..", "gizmos")):
        candidate = os.path.normpath(os.path.join(up, GIZMO_FILE))
        if os.path.isfile(candidate):
            return candidate
    raise NodeError("%s not found on the plug-in path (re-run install/install.py)" % GIZMO_FILE)


# ----------------------------------------------------------------------------- actions
def _report(node, err):
    text = "%s: %s" % (node.name(), err)
    if nuke.env["gui"]:
        nuke.message(text)
    else:
        raise NodeError(text)


def analyze(node, client=None, frames=None):
    """Button "Analyze": prepare the version, then colourise it into the cache.

    In the GUI this returns at once and the work runs in the background with a progress bar
    (cancellable); without a GUI (``nuke -t`` scripts) it runs to the end before returning.
    """
    from . import jobs
    try:
        prep = prepare(node, write=True)
    except NodeError as err:
        _report(node, err)
        return None
    set_read(node, prep)
    _set_status(node, "analysing...")
    job_frames = frames or prep.frames
    if nuke.env["gui"]:
        return jobs.start(node.fullName(), prep, job_frames, client=client)
    try:
        jobs.run_blocking(prep, job_frames, client=client)
    except (WorkerError, EngineNotConfigured) as err:
        refresh(node)
        _report(node, err)
        return None
    update_status(node)
    return prep


def clear_cache(node, client=None):
    """Button "Clear cache": the engine clears the shot cache; the node's results go too."""
    from . import jobs
    try:
        root = shotspec.shot_root(cache_root(node), shot_name(node))
    except NodeError as err:
        _report(node, err)
        return
    if jobs.running_under(root) is not None:
        _report(node, "shot '%s' is being analysed: cancel the analysis (its progress bar) before "
                      "clearing the cache" % shot_name(node))
        return
    others = _sharing_nodes(node, root)   # their results stay (and the precomps they may read)
    kept = set(os.path.dirname(n["shot_file"].value()) for n in others)
    question = "Delete the cache and results of shot '%s'?\n%s" % (shot_name(node), root)
    if others:
        question += "\n%s use(s) the same shot: their results are kept." % ", ".join(n.fullName() for n in others)
    if nuke.env["gui"] and not nuke.ask(question):
        return
    problems = []
    versions = shotspec.stale_versions(root)
    for folder in [v for v in versions if v not in kept] + [v for v in versions if v in kept]:
        # every version shares <root>/cache: one clear empties it. The version's own shot.json may
        # be another machine's (its OCIO config, files on a share mounted elsewhere): the engine
        # gets a description made for this machine from it (shotspec.clear_shot)
        shot_file = shotspec.clear_shot(folder, os.path.join(root, "cache"), os.path.dirname(root))
        if shot_file is not None:
            try:
                (client or get_client()).call("clear", shot=shot_file, timeout=300)
            except EngineNotConfigured as err:   # no engine here: the results can still go
                problems.append(str(err))
            except WorkerError as err:
                # refused (a render or build of another process is reading the cache) or failed:
                # the results stay too, a render may be reading them
                _report(node, "nothing was deleted: the engine could not clear the cache of shot '%s': %s"
                        % (shot_name(node), err))
                return
            break
    generated = [] if others else [os.path.join(root, "precomp"), os.path.join(root, "refs")]
    for sub in [v for v in versions if v not in kept] + generated:
        shutil.rmtree(sub, ignore_errors=True)
    refresh(node)
    if problems:
        _report(node, "results deleted, but the engine could not clear its cache: %s" % problems[0])


def _sharing_nodes(node, root):
    """The other Colorize nodes whose current version lies in the shot folder ``root`` (the
    same shot name: one cache folder for both)."""
    prefix = os.path.join(root, "")
    found = []
    for other in all_shots():
        knob = other.knob("shot_file")
        if other.fullName() != node.fullName() and knob is not None and knob.value().startswith(prefix):
            found.append(other)
    return found


# ----------------------------------------------------------------------------- references
def set_references(node, rows):
    """Replace the references table (list of RefRow, paths as typed: see
    ``reference_rows(as_typed=True)``) and refresh, as a panel edit would."""
    node["references"].setValue(refmod.format_table(rows))
    refresh(node)


def missing_frame_message(node, frame, prep):
    text = ("%s: frame %d of shot '%s' has not been analysed (no %s). Open the script and press "
            "Analyze, or set the node's 'missing frames' to '%s'."
            % (node.fullName(), frame, shot_name(node), fr.frame_path(prep.output, frame), MISSING_COMPUTE))
    if coverage(node, _Frame(prep, frame))[0][1] == "stale":
        # analysed, but for other inputs: say what differs rather than only "press Analyze"
        text += (" The shot holds frame %d for other inputs: the references, settings, or the plate and "
                 "reference files (name, size, modification time) differ here from those analysed; files "
                 "copied without their modification times count as changed." % frame)
    return text


class _Frame(object):
    """One frame of a Prepared version (for :func:`coverage`)."""

    def __init__(self, prep, frame):
        self.output, self.root, self.frames = prep.output, prep.root, (frame, frame)
