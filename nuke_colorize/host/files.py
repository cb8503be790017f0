"""Atomic file writes for the host side (standard library only, Python 3.7+).

The engine has :mod:`nuke_colorize.io.atomic`; the host cannot import it inside Nuke (that
package may pull in OpenImageIO), so this is the same rule in a few lines: write a hidden
temporary file in the destination folder, flush it to disk, rename it over the final name.
"""
from __future__ import annotations

import os
import tempfile


def atomic_write_bytes(path, data):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        os.makedirs(folder)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))
