"""Atomic file writes for the host side (standard library only, Python 3.7+).

The engine has :mod:`nuke_colorize.io.atomic`; the host cannot import it inside Nuke (that
package may pull in OpenImageIO), so this is the same rule in a few lines: write a hidden
temporary file in the destination folder, flush it to disk, rename it over the final name.
The file gets the permissions the umask gives (``0o666 & ~umask``), as the engine's files do:
farm tasks running as another user of the group read the shot file the node wrote.
"""
from __future__ import annotations

import os
import secrets


def atomic_write_bytes(path, data):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        os.makedirs(folder)
    # not tempfile.mkstemp: it creates the file 0600 whatever the umask
    tmp = os.path.join(folder, ".%s.tmp-%d-%s" % (os.path.basename(path), os.getpid(), secrets.token_hex(4)))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
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
