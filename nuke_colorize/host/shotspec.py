"""From node parameters to a shot description file (standard library only, runs in the host).

Folder layout under the node's cache folder (default ``colorize_cache`` beside the script)::

    <cache folder>/<shot>/cache/                 the shot cache (engine; reused across versions)
    <cache folder>/<shot>/precomp/<sig>/         upstream trees rendered to EXR (plate, matte)
    <cache folder>/<shot>/refs/<sig>/            frames taken from the node's reference input
    <cache folder>/<shot>/v_<key>/shot.json      the shot description of one version
    <cache folder>/<shot>/v_<key>/colour.####.exr  its output, read back by the node

``key`` hashes everything that defines the result (plate, frames, colourspace, references and
their files' name, size and modification time, backend and settings, matte), so an output folder
only ever holds frames of one set of inputs: change a reference and the node reads a new,
empty folder (frames must be analysed) instead of showing stale colour. The engine's own cache
also keys on the plate files and reuses whatever segments are still valid.

Neither names where the storage is mounted (:func:`portable_path`): a workstation seeing the
show under ``P:\\shows`` and a farm node seeing it under ``/mnt/shows`` (or a script whose
paths Deadline's path mapping rewrote) find the same version, so a render reads the frames the
artist analysed and the engine the cache it built.

The version's ``shot.json`` names files relative to itself (:func:`portable_shot`): always
what lies under the node's cache folder (the shot cache, precomps, the output), and the user's
plate, references, matte, library and OCIO config when they are on the same storage (drive,
share, mount) as the shot file (:mod:`.portable`); so ``nuke-colorize cache build`` of that
file (the farm's pre-pass) reads the same files on a machine that mounts the storage elsewhere.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import socket

from .files import atomic_write_text
from .ocio_files import config_identity
from .portable import relative_if_shared, resolve

SHOT_FILE = "shot.json"
OUTPUT_NAME = "colour.####.exr"
#: shot keys holding a path (besides each reference's ``image``); ``ocio://`` URIs are no paths
PATH_KEYS = ("plate", "matte", "cache", "output", "confidence_output", "library", "ocio_config")
# node knob -> backend settings it may feed, first declared one wins (exemplar calls the
# working size max_working_size, deepexemplar working_size)
SETTINGS_MAP = (("working_size", ("max_working_size", "working_size")),
                ("track_window", ("mask_radius",)),
                ("track_threshold", ("mask_threshold",)))

#: the settings those knobs may feed, with their defaults, of the backends the node offers, as
#: their ``default_settings()`` declare them: used until (or instead of) asking the engine, so a
#: session that has not asked names the same version as one that has
KNOWN_SETTINGS = {"exemplar": {"max_working_size": 1024, "mask_radius": 9, "mask_threshold": 0.2},
                  "deepexemplar": {"working_size": 216, "mask_radius": 9, "mask_threshold": 0.2}}


def safe_name(name):
    """A shot name usable as a folder name."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", (name or "").strip()).strip("._")
    return cleaned or "shot"


def shot_root(cache_root, shot_name):
    return os.path.join(os.path.abspath(cache_root), safe_name(shot_name))


def backend_settings(knob_values, declared=None):
    """Node knob values -> (settings dict, warnings).

    ``knob_values``: {knob name: value}; zero / None means "backend default" and is left out.
    ``declared``: the backend's default settings (from the worker's ``backends`` reply) or
    None when unknown; a knob the backend does not declare is dropped with a warning.
    """
    settings, warnings = {}, []
    for knob, candidates in SETTINGS_MAP:
        value = knob_values.get(knob)
        if value in (None, 0, 0.0, ""):
            continue
        setting = candidates[0]
        if declared is not None:
            found = [c for c in candidates if c in declared]
            if not found:
                warnings.append("%s is not used by this backend" % knob.replace("_", " "))
                continue
            setting = found[0]
        if declared is not None and isinstance(declared.get(setting), int) and not isinstance(value, bool):
            value = int(value)
        settings[setting] = value
    return settings, warnings


def build_shot(plate, frames, references, backend, cache, colorspace="auto", settings=None,
               matte=None, temporal_smoothing=0.0, library=None, auto_references=3, out_colorspace=None):
    """The shot description (without ``output``), as :mod:`nuke_colorize.shot` reads it.

    references: list of (frame or None, image path[, colourspace or None]). out_colorspace:
    the output's colourspace (None: the engine's auto, scene-linear Rec.709 EXR; written
    only when given, so shots without it keep their version). temporal_smoothing: strength (written
    when > 0, so shots without it keep their version, and always with a library). library: a still library index
    for automatic references (with ``auto_references`` stills per scene), or None.
    """
    refs = []
    for item in references:
        frame, image = item[0], item[1]
        entry = {"image": image}
        if frame is not None:
            entry = {"frame": int(frame), "image": image}
        if len(item) > 2 and item[2]:
            entry["colorspace"] = item[2]
        refs.append(entry)
    shot = {"plate": plate, "frames": [int(frames[0]), int(frames[1])], "colorspace": colorspace,
            "references": refs, "backend": backend, "cache": cache, "settings": dict(settings or {}),
            "confidence_layer": True}
    if matte:
        shot["matte"] = matte
    if out_colorspace:
        shot["out_colorspace"] = out_colorspace
    if (temporal_smoothing and float(temporal_smoothing) > 0) or library:
        # with a library the knob's value is written even when 0: the shot file's default
        # would otherwise turn smoothing on for automatic references
        shot["temporal_smoothing"] = float(temporal_smoothing or 0.0)
    if library:
        shot["library"] = library
        shot["auto_references"] = int(auto_references)
    return shot


def file_identity(path):
    """[size, mtime in microseconds] of a file, or None when it is missing. Microseconds: the
    finest unit in which Windows/SMB clients (100 ns) and Linux/NFS clients (1 ns) see the same
    mtime of one file (see :func:`nuke_colorize.io.file_identity`, the engine's)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, getattr(st, "st_mtime_ns", int(st.st_mtime * 1e9)) // 1000]


def _legacy_file_identity(path):
    """What :func:`file_identity` was for version folders named before versions left out
    where the storage is mounted: (size, mtime in ns), or None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, getattr(st, "st_mtime_ns", int(st.st_mtime * 1e9))]


def portable_path(path, root):
    """``path`` as a version's key sees it, the same wherever the storage is mounted: relative
    to the shot's folder ``root`` with ``/`` separators when it lies inside it (the engine's
    cache, precomps, frames taken from the reference input: named by the node, their content
    by the signature in their path), else the file's name alone (the user's plates, references
    and library: their name, size and mtime are in the key beside it, :func:`version_key`).
    Windows drive letters, separators and mount points never reach the key."""
    if not path:
        return path
    root = os.path.abspath(root)
    full = os.path.abspath(path)
    inside = os.path.normcase(full).startswith(os.path.normcase(root.rstrip("\\/") + os.sep))
    if inside:
        return "./" + os.path.relpath(full, root).replace(os.sep, "/")
    return os.path.basename(full)


def config_digest(config):
    """An OCIO config as the version sees it: ``ocio://`` URIs as they are, a file by the
    SHA-1 of its content and of the LUT files it reads (:mod:`.ocio_files`: the same config
    installed at another path on a farm machine, with another mtime, is the same version; an
    edited LUT makes another), a missing file by its path."""
    if config.startswith("ocio://"):
        return config
    return config_identity(config, "sha1") or config


def version_key(shot, files=(), root=None):
    """10 hex digits naming a version: the shot's content plus the identity (name, size, mtime)
    of ``files``, the user's files whose content defines the result (plate frames read
    directly, reference images, the library index). Generated files (precomps) are named by
    their own signature and are left out, so writing them does not change the key.

    Paths enter as :func:`portable_path` makes them under the shot's folder ``root`` (default:
    the folder of the shot's ``cache``), so the key does not depend on where the storage is
    mounted; the output pattern (inside the version folder) is left out."""
    if root is None:
        root = os.path.dirname(shot.get("cache") or "") or os.sep
    body = dict(shot)
    body.pop("output", None)
    for k in ("plate", "matte", "cache", "library"):
        if body.get(k):
            body[k] = portable_path(body[k], root)
    body["references"] = [dict(r, image=portable_path(r["image"], root)) if r.get("image") else r
                          for r in body.get("references") or []]
    if body.get("ocio_config"):   # by content: Nuke's own configs sit at another path per machine
        body["ocio_config"] = config_digest(body["ocio_config"])
    body["file_identity"] = [[portable_path(p, root), file_identity(p)] for p in files]
    body["key_format"] = 2
    data = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(data.encode("utf-8")).hexdigest()[:10]


def legacy_version_key(shot, files=()):
    """The name versions had before :func:`version_key` left out where the storage is mounted
    (absolute paths, mtimes in ns): a version analysed then keeps its frames on the machine
    that analysed it (:func:`version_paths`)."""
    body = dict(shot)
    body.pop("output", None)
    if body.get("ocio_config"):
        body["ocio_config"] = config_digest(body["ocio_config"])
    body["file_identity"] = [[p, _legacy_file_identity(p)] for p in files]
    data = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(data.encode("utf-8")).hexdigest()[:10]


def version_paths(root, shot, files=()):
    """(version folder, shot file path, output pattern) for ``shot`` under a shot root.

    The folder is ``v_<version_key>``; while it does not exist, a folder of the same inputs
    named the way earlier versions of the plug-in named it (:func:`legacy_version_key`), when
    that one exists, so frames analysed before stay in use."""
    folder = os.path.join(root, "v_" + version_key(shot, files, root))
    if not os.path.isdir(folder):
        legacy = os.path.join(root, "v_" + legacy_version_key(shot, files))
        if os.path.isfile(os.path.join(legacy, SHOT_FILE)):
            folder = legacy
    return folder, os.path.join(folder, SHOT_FILE), os.path.join(folder, OUTPUT_NAME)


def write_shot(path, shot):
    """Write a shot file atomically, unless it already holds exactly this; returns the path."""
    text = json.dumps(shot, indent=2, sort_keys=True) + "\n"
    try:
        with open(path, "r") as fh:
            if fh.read() == text:
                return path
    except (OSError, ValueError):
        pass
    atomic_write_text(path, text)
    return path


def _map_paths(shot, convert):
    """``shot`` (a description dict) with ``convert`` applied to every path in it."""
    out = dict(shot)
    for k in PATH_KEYS:
        value = out.get(k)
        if isinstance(value, str) and value and not value.startswith("ocio://"):
            out[k] = convert(value)
    if isinstance(out.get("references"), list):
        out["references"] = [dict(r, image=convert(r["image"]))
                             if isinstance(r, dict) and isinstance(r.get("image"), str) and r["image"] else r
                             for r in out["references"]]
    return out


def node_tree(path):
    """The node's cache folder of a version's shot file ``<cache folder>/<shot>/v_<key>/shot.json``."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(path))))


def portable_shot(shot, path, tree=None):
    """``shot`` (absolute paths) as written to its file ``path``: every path under ``tree`` (the
    node's cache folder, default :func:`node_tree`: the shot cache, precomps, frames taken from
    the reference input, the output) relative to the file's folder; the others (plate,
    references, matte, library, OCIO config) relative too when they lie on the same storage as
    the file, else absolute (:func:`.portable.relative_if_shared`). A machine that sees the
    storage under another path reads the same files through it."""
    base = os.path.dirname(os.path.abspath(path))
    tree = node_tree(path) if tree is None else tree
    return _map_paths(shot, lambda p: relative_if_shared(p, base, always_under=tree))


def resolved_shot(shot, path):
    """A shot description as this machine reads it from the file ``path``: relative paths taken
    from the file's folder, every path normalised (as :mod:`nuke_colorize.shot` reads them)."""
    base = os.path.dirname(os.path.abspath(path))
    return _map_paths(shot, lambda p: resolve(p, base))


def _read_json(path):
    try:
        with open(path, "r") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def machine_shot_name():
    """``shot.<host>.json``: the name of this machine's view of a version's shot file."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "host"
    return "shot.%s.json" % host


def write_machine_shot(path, shot, tree=None):
    """Write a version's shot file for this machine and return the file to hand the engine.

    ``shot`` holds this machine's absolute paths; the file gets them as :func:`portable_shot`
    writes them. A version is named by content, its OCIO config included by content
    (:func:`config_digest`) and its files by name and identity wherever the storage is mounted
    (:func:`version_key`), so machines with Nuke installed at different paths, or seeing the
    show under other paths, share it. The version's file serves every machine on which it
    names the same files (relative paths, or the same absolute ones): it is then used as it
    is. Where it names others here (another machine's OCIO config in its Nuke installation, a
    file on a share this machine mounts elsewhere), this machine's view goes beside it as
    ``shot.<host>.json`` instead of replacing it under a render that may be reading it."""
    existing = _read_json(path)
    if isinstance(existing, dict):
        if resolved_shot(existing, path) == resolved_shot(shot, path):
            return path
        mine = os.path.join(os.path.dirname(path), machine_shot_name())
        return write_shot(mine, portable_shot(shot, mine, tree))
    return write_shot(path, portable_shot(shot, path, tree))


def clear_shot(folder, cache, tree=None):
    """A shot file for the engine's ``cache clear`` of the shot cache ``cache`` (this machine's
    path), made from the version folder ``folder``'s description: this machine's view
    (``shot.<host>.json``) when there is one, else ``shot.json``. It is written as
    ``<folder>/clear.<host>.json`` with ``cache`` pointing at ``cache`` and without what a
    clear does not use but loading the description checks or computes here (the OCIO config,
    which may be in another machine's Nuke installation; the library, whose scene plan would
    be keyed on the plate's files: a shot without one clears the scene caches too). Returns
    its path, or None when the folder holds no readable description."""
    for name in (machine_shot_name(), SHOT_FILE):
        data = _read_json(os.path.join(folder, name))
        if isinstance(data, dict):
            break
    else:
        return None
    data = resolved_shot(data, os.path.join(folder, name))
    for k in ("ocio_config", "library", "auto_references"):
        data.pop(k, None)
    data["cache"] = os.path.abspath(cache)
    if not data.get("references"):   # an automatic shot may have none: any still will do for a clear
        data["references"] = [{"image": os.path.join(folder, "none.png")}]
    path = os.path.join(folder, "clear.%s" % machine_shot_name()[len("shot."):])
    return write_shot(path, portable_shot(data, path, tree))


def stale_versions(root, keep_key=None):
    """Version folders under a shot root other than ``keep_key`` (for Clear cache)."""
    try:
        names = os.listdir(root)
    except OSError:
        return []
    return [os.path.join(root, n) for n in sorted(names)
            if n.startswith("v_") and n != "v_%s" % keep_key]
