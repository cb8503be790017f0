"""Paths written into files that other machines read: relative where that holds everywhere.

Standard library only (runs in the host's Python too). Shot files (the Nuke node's
``v_<key>/shot.json``) and library indexes name other files; a farm machine or a workstation of
another OS sees the same storage under another path (``P:\\shows`` / ``/mnt/shows``, Deadline's
path mapping), so an absolute path written on one machine names nothing on the other.

The rule (:func:`relative_if_shared`): a path is written relative to the folder of the file
that names it when both lie on the same storage, i.e. on the same mounted file system: on
Windows the same drive or UNC share, elsewhere the same mount point (reached through the same
path) and the same device. A share is mounted as a whole wherever it is mounted, so the layout
inside it is the same on every machine and a relative path between two of its files holds on
all of them; it never climbs above the share. Between two shares (``/mnt/shows`` and
``/mnt/plates``, ``P:`` and ``Q:``), or from a share to a machine's local disk, nothing says
that other machines mount them side by side as this one does: such a path stays absolute,
valid where the same absolute paths exist (and no worse than before elsewhere).

Relative paths are written with ``/`` (which Windows reads too) and resolved as
:func:`resolve` does: ``~`` expanded, taken from the naming file's folder, normalised,
without following links (:mod:`nuke_colorize.shot` resolves its paths with it).
"""
from __future__ import annotations

import ntpath
import os

# Every function takes ``pathmod``, the path semantics: ``os.path`` (this machine's, the
# default), or ``ntpath`` / ``posixpath`` to reason about another OS's paths (tests of the
# Windows rules run on any OS). Under ``ntpath`` the storage is the drive or UNC share, read
# from the path alone: no file system is asked.


def resolve(value, base_dir, pathmod=os.path):
    """A path as written in a file of folder ``base_dir``, as an absolute path on this machine."""
    value = pathmod.expanduser(value.strip())
    return pathmod.normpath(value if pathmod.isabs(value) else pathmod.join(base_dir, value))


def _existing(path):
    """(the nearest existing folder or file at or above ``path``, its stat), or (None, None)."""
    p = path
    while True:
        try:
            return p, os.stat(p)
        except OSError:
            parent = os.path.dirname(p)
            if parent == p:
                return None, None
            p = parent


def _mount_point(path):
    """The mount point at or above ``path``, walking up the path as written."""
    mount = path
    while not os.path.ismount(mount):
        parent = os.path.dirname(mount)
        if parent == mount:
            break
        mount = parent
    return mount


def storage_of(path, pathmod=os.path):
    """What tells the storage ``path`` lies on: on Windows its drive or UNC share (case-folded);
    elsewhere (mount point, device) of the nearest existing folder at or above it, the mount
    point found walking up the path as written (so a link onto another file system, or a
    second route to one, is another storage). None when nothing of the path exists."""
    path = pathmod.abspath(path)
    if pathmod is ntpath:
        drive = ntpath.splitdrive(path)[0]
        return ntpath.normcase(drive) if drive else None
    p, st = _existing(path)
    if p is None:
        return None
    return _mount_point(p), st.st_dev


def same_storage(a, b, pathmod=os.path):
    """True when ``a`` and ``b`` lie on the same storage (:func:`storage_of`)."""
    sa = storage_of(a, pathmod)
    return sa is not None and sa == storage_of(b, pathmod)


def inside(path, folder, pathmod=os.path):
    """True when ``path`` is ``folder`` or lies under it (as written, case-folded on Windows)."""
    path, folder = (pathmod.normcase(pathmod.abspath(p)) for p in (path, folder))
    return path == folder or path.startswith(folder.rstrip("\\/") + pathmod.sep)


def relative_if_shared(path, base_dir, always_under=None, pathmod=os.path):
    """``path`` as a file in folder ``base_dir`` should name it: relative to ``base_dir``
    (``/`` separators) when both lie on the same storage or when ``path`` lies under the folder
    ``always_under`` (the tree the writer owns, e.g. the Nuke node's cache folder: moved and
    mapped as one), else absolute. Empty values and ``ocio://`` URIs are returned as they are."""
    if not path or path.startswith("ocio://"):
        return path
    full = pathmod.abspath(pathmod.expanduser(path))
    base = pathmod.abspath(base_dir)
    owned = always_under and inside(full, always_under, pathmod) and inside(base, always_under, pathmod)
    if owned or same_storage(full, base, pathmod):
        try:
            rel = pathmod.relpath(full, base)
        except ValueError:   # Windows: another drive
            return full
        return rel.replace(pathmod.sep, "/")
    return full
