"""Atomic file writes: a reader sees either the old file or the complete new one, never a part.

Every file is first written to a hidden temporary name in the destination folder
(``.plate.1001.exr.tmp-<pid>-<random>-<host>.exr``: same folder so the final rename stays on one
file system, same extension so OpenImageIO picks the right writer, the writer's process id and
machine so a cleaner can tell whether it still runs), flushed to disk, then renamed over the
final name with :func:`os.replace` and the folder entry flushed too. If anything goes wrong,
including Ctrl-C (``KeyboardInterrupt``) and ``SystemExit``, the temporary file is removed and the
final path is left as it was. Temporary files left by killed processes are removed by
:func:`cleanup_stale_temps`.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import socket
import sys
import time
from typing import Iterator, Union

from ..errors import InputError

PathLike = Union[str, "os.PathLike[str]"]

_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)-(?P<rand>[0-9a-f]{8,})(?:-(?P<host>[0-9a-f]{8}))?"
                      r"(?:\.[^./\\]*)?\Z")

#: how old a temp file of a writer on another machine (or of a name without a machine) must be
#: before :func:`cleanup_stale_temps` removes it: its process cannot be checked from here, and
#: file times come from the other machine's or the file server's clock
OTHER_HOST_TEMP_AGE_S = 24 * 3600.0


def host_tag() -> str:
    """This machine in temp names: 8 hex digits of the SHA-256 of its host name."""
    global _HOST_TAG
    if _HOST_TAG is None:
        _HOST_TAG = hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]
    return _HOST_TAG


_HOST_TAG = None


class OutputError(InputError):
    """A file could not be written (folder missing or read-only, disk full, protected path)."""


def temp_path_for(final_path: PathLike) -> str:
    """Hidden temporary name beside ``final_path`` that keeps its extension."""
    final_path = os.path.abspath(os.fspath(final_path))
    folder, name = os.path.split(final_path)
    ext = os.path.splitext(name)[1]
    return os.path.join(folder, f".{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}-{host_tag()}{ext}")


def is_temp_name(name: str) -> bool:
    """True for names made by :func:`temp_path_for`."""
    return bool(_TEMP_RE.match(os.path.basename(name)))


def _fsync_file(path: str) -> None:
    """Flush a file's data to disk through a descriptor opened for writing: Windows' fsync
    (``_commit``, FlushFileBuffers) fails with EBADF on a read-only one; POSIX takes either."""
    binary = getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, os.O_RDWR | binary)
    except PermissionError:   # a writer that made its file read-only: POSIX still flushes it
        fd = os.open(path, os.O_RDONLY | binary)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: str) -> None:
    """Flush a folder entry (the rename) to disk; a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        pass


@contextlib.contextmanager
def atomic_path(final_path: PathLike) -> Iterator[str]:
    """Yield a temporary path to write; on normal exit it becomes ``final_path`` atomically.

    The folder of ``final_path`` is created if missing. The caller writes the whole file to the
    yielded path (which does not exist yet) and closes it; on exit the file is fsynced, renamed over
    ``final_path`` and the folder fsynced. On any exception, KeyboardInterrupt and SystemExit
    included, the temporary file is removed, ``final_path`` is untouched and the exception
    propagates. Raises :class:`OutputError` when the folder cannot be created, when
    ``final_path`` is a folder, or when the caller wrote nothing.
    """
    final = os.path.abspath(os.fspath(final_path))
    folder = os.path.dirname(final)
    if os.path.isdir(final):
        raise OutputError("cannot write: the output path is a folder", file=final)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder: {exc.strerror or exc}", file=final) from None
    tmp = temp_path_for(final)
    try:
        yield tmp
        if not os.path.isfile(tmp):
            raise OutputError("nothing was written (temporary file missing)", file=final)
        _fsync_file(tmp)
        try:
            os.replace(tmp, final)
        except OSError as exc:
            raise OutputError(f"cannot replace the file: {exc.strerror or exc}", file=final) from None
        _fsync_dir(folder)
    except BaseException:
        _remove_quietly(tmp)
        raise


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except OSError as exc:
            raise OutputError(f"cannot write: {exc.strerror or exc}", file=os.fspath(path)) from None
        try:   # closing flushes again what a full disk refused: it raises as well
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
        except OSError as exc:
            raise OutputError(f"cannot write: {exc.strerror or exc}", file=os.fspath(path)) from None


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically, UTF-8 by default, newlines as given."""
    atomic_write_bytes(path, text.encode(encoding))


def _pid_alive(pid: int) -> bool:
    """Is process ``pid`` running on this machine? (Unknown -> True: keep the file.)"""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate the process on Windows
        try:
            import ctypes
            kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
            handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
            if not handle:
                return False
            try:
                code = ctypes.c_ulong()
                if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                    return True
                return code.value == 259  # STILL_ACTIVE
            finally:
                kernel32.CloseHandle(handle)
        except Exception:
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True
    return True


def cleanup_stale_temps(folder: PathLike, *, min_age_s: float = 60.0,
                        other_host_age_s: float = OTHER_HOST_TEMP_AGE_S) -> int:
    """Remove temporary files of :func:`atomic_path` left in ``folder`` by dead processes.

    A temp file at least ``min_age_s`` seconds old (by its modification time) is removed when
    its name records this machine and the process id in it is not running here. A writer on
    another machine sharing the folder cannot be checked: its temp files, and those whose name
    records no machine, are removed only once ``other_host_age_s`` old (default a day; a minute
    was not enough: the file's time comes from another clock, and a machine whose clock ran
    ahead by two minutes deleted a live writer's file). Returns how many files were removed; a
    missing folder gives 0.
    """
    folder = os.fspath(folder)
    removed = 0
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if not m:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if m.group("host") == host_tag():
            if age < min_age_s or _pid_alive(int(m.group("pid"))):
                continue
        elif age < max(min_age_s, other_host_age_s):
            continue
        try:
            os.unlink(entry.path)
            removed += 1
        except OSError:
            pass
    return removed
