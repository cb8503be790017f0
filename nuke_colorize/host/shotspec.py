"""From node parameters to a shot description file (standard library only, runs in the host).

Folder layout under the node's cache folder (default ``colorize_cache`` beside the script)::

    <cache folder>/<shot>/cache/                 the shot cache (engine; reused across versions)
    <cache folder>/<shot>/precomp/<sig>/         upstream trees rendered to EXR (plate, matte)
    <cache folder>/<shot>/refs/<sig>/            frames taken from the node's reference input
    <cache folder>/<shot>/v_<key>/shot.json      the shot description of one version
    <cache folder>/<shot>/v_<key>/colour.####.exr  its output, read back by the node

``key`` hashes everything that defines the result (plate, frames, colourspace, references and
their files' size and modification time, backend and settings, matte), so an output folder
only ever holds frames of one set of inputs: change a reference and the node reads a new,
empty folder (frames must be analysed) instead of showing stale colour. The engine's own cache
also keys on the plate files and reuses whatever segments are still valid.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import socket

from .files import atomic_write_text
from .ocio_files import config_identity

SHOT_FILE = "shot.json"
OUTPUT_NAME = "colour.####.exr"
# node knob -> backend settings it may feed, first declared one wins (exemplar calls the
# working size max_working_size, deepexemplar working_size)
SETTINGS_MAP = (("working_size", ("max_working_size", "working_size")),
                ("track_window", ("mask_radius",)),
                ("track_threshold", ("mask_threshold",)))


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
    """(size, mtime in ns) of a file, or None when it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, getattr(st, "st_mtime_ns", int(st.st_mtime * 1e9))]


def config_digest(config):
    """An OCIO config as the version sees it: ``ocio://`` URIs as they are, a file by the
    SHA-1 of its content and of the LUT files it reads (:mod:`.ocio_files`: the same config
    installed at another path on a farm machine, with another mtime, is the same version; an
    edited LUT makes another), a missing file by its path."""
    if config.startswith("ocio://"):
        return config
    return config_identity(config, "sha1") or config


def version_key(shot, files=()):
    """10 hex digits naming a version: the shot's content plus the identity (size, mtime)
    of ``files``, the user's files whose content defines the result (plate frames read
    directly, reference images). Generated files (precomps) are named by their own signature
    and are left out, so writing them does not change the key."""
    body = dict(shot)
    body.pop("output", None)
    if body.get("ocio_config"):   # by content: Nuke's own configs sit at another path per machine
        body["ocio_config"] = config_digest(body["ocio_config"])
    body["file_identity"] = [[p, file_identity(p)] for p in files]
    data = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(data.encode("utf-8")).hexdigest()[:10]


def version_paths(root, shot, files=()):
    """(version folder, shot file path, output pattern) for ``shot`` under a shot root."""
    folder = os.path.join(root, "v_" + version_key(shot, files))
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


def write_machine_shot(path, shot):
    """Write a version's shot file for this machine and return the file to hand the engine.

    A version is named by content, its OCIO config included by content (:func:`config_digest`),
    so machines with Nuke installed at different paths share it while their shot files differ
    in ``ocio_config``. Where the version's file already holds another machine's path, this
    machine's goes beside it as ``shot.<host>.json`` instead of replacing it under a render
    that may be reading it."""
    try:
        with open(path, "r") as fh:
            existing = json.load(fh)
    except (OSError, ValueError):
        existing = None
    if isinstance(existing, dict) and existing != shot and existing.get("ocio_config") and \
            {k: v for k, v in existing.items() if k != "ocio_config"} == \
            {k: v for k, v in shot.items() if k != "ocio_config"}:
        host = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "host"
        return write_shot(os.path.join(os.path.dirname(path), "shot.%s.json" % host), shot)
    return write_shot(path, shot)


def stale_versions(root, keep_key=None):
    """Version folders under a shot root other than ``keep_key`` (for Clear cache)."""
    try:
        names = os.listdir(root)
    except OSError:
        return []
    return [os.path.join(root, n) for n in sorted(names)
            if n.startswith("v_") and n != "v_%s" % keep_key]
