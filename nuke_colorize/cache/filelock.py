"""Advisory file locks (``fcntl.flock``; ``msvcrt.locking`` on Windows) for the shot cache.

A lock is a small file that stays in place; holding it means holding an OS lock on an open
descriptor of it, which the kernel drops when the process dies (SIGKILL included), so a crashed
builder never leaves a stale lock behind. Exclusive locks guard one segment's chain; the cache
folder's lock is taken shared by every builder and exclusively by ``cache clear``.
"""
from __future__ import annotations

import errno
import os
import sys
import time
from typing import Optional

from ..errors import CacheError

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(fd: int, shared: bool, blocking: bool) -> bool:
        mode = msvcrt.LK_LOCK if blocking else msvcrt.LK_NBLCK
        while True:
            try:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, mode, 1)
                return True
            except OSError:
                if not blocking:
                    return False
                time.sleep(0.2)

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock(fd: int, shared: bool, blocking: bool) -> bool:
        op = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        if not blocking:
            op |= fcntl.LOCK_NB
        try:
            fcntl.flock(fd, op)
            return True
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class FileLock:
    """An advisory lock on ``path`` (created if missing; its folder must exist).

    ``acquire(shared=False, blocking=True) -> bool``; ``release()``; usable as a context
    manager (exclusive, blocking). Raises :class:`CacheError` when the lock file cannot be
    created or opened for writing (read-only folder).
    """

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self._fd: Optional[int] = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise CacheError(f"cache folder is not writable ({exc.strerror or exc})",
                             file=os.path.dirname(self.path),
                             hint="give a writable cache folder (the shot's 'cache' key or --cache)") from None

    def acquire(self, shared: bool = False, blocking: bool = True) -> bool:
        if self._fd is not None:
            return True
        while True:
            fd = self._open()
            try:
                ok = _lock(fd, shared, blocking)
            except BaseException:
                os.close(fd)
                raise
            if not ok:
                os.close(fd)
                return False
            # the file may have been removed and re-created while we waited: lock the live one
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except OSError:
                same = False
            if same:
                self._fd = fd
                return True
            os.close(fd)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> "FileLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
