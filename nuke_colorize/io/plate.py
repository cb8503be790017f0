"""A plate: the frames of an image sequence, a movie or a single still, read with checks.

``PlateSource("shot/plate.####.exr")`` finds the frames on disk; ``PlateSource(pattern,
frames=parse_frames("1001-1100"))`` takes a range and reports missing frames at once.
A movie (``.mp4``/``.mov``...) has frames 1..N (Nuke's numbering); a single still image is
frame 1 and reads the same file for any frame (like a Read node holding one image).

Every frame read must have the size of the plate (the first frame's header): a frame of another
size is an :class:`InputError` naming both sizes.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from typing import Iterator, Optional, Sequence, Tuple

from ..errors import InputError
from .image import (DEFAULT_MAX_PIXELS, ImageData, check_readable, read_image, read_spec,
                    spec_pixel_aspect)
from .movie import MovieReader, is_movie
from .sequence import format_frames, frame_path, is_pattern, scan_frames
from .windows import Windows, describe, spec_windows


class PlateSource:
    """Frames of a sequence pattern, movie or still image.

    ``frames`` None means every frame on disk (sequence), 1..N (movie) or [1] (still). A sequence
    found on disk with holes between its first and last frame is refused (missing frame) unless
    ``allow_gaps``; explicit ``frames`` are all checked for existence unless ``check_frames`` is
    False. ``max_pixels`` and ``allow_nonfinite`` are passed to :func:`read_image`.

    Attributes: ``frames`` (sorted list of frame numbers), ``width``/``height`` (data window of the
    first frame), ``pixel_aspect`` (its PixelAspectRatio; a movie's sample aspect), ``kind``
    ("sequence" | "movie" | "still"), ``source`` (the path given).
    """

    def __init__(self, pattern_or_movie: str, frames: Optional[Sequence[int]] = None, *,
                 max_pixels: int = DEFAULT_MAX_PIXELS, allow_nonfinite: bool = False,
                 check_frames: bool = True, allow_gaps: bool = False):
        self.source = os.fspath(pattern_or_movie)
        self.max_pixels = int(max_pixels)
        self.allow_nonfinite = bool(allow_nonfinite)
        self._movie: Optional[MovieReader] = None
        self._lock = threading.Lock()
        wanted = None if frames is None else sorted({int(f) for f in frames})
        if wanted is not None and not wanted:
            raise InputError("no frames requested", file=self.source)

        if is_movie(self.source):
            self.kind = "movie"
            self._movie = MovieReader(self.source, max_pixels=self.max_pixels)
            count = self._movie.frame_count()
            if wanted is None:
                wanted = list(range(1, count + 1))
            outside = [f for f in wanted if not 1 <= f <= count]
            if outside:
                self.close()
                raise InputError(f"frames {format_frames(outside)} are outside the movie (frames 1-{count})",
                                 file=self.source, frame=outside[0])
            self.frames = wanted
            self.width, self.height = self._movie.width, self._movie.height
            self.pixel_aspect = self._movie.pixel_aspect
            return

        if is_pattern(self.source):
            self.kind = "sequence"
            if wanted is None:
                wanted = scan_frames(self.source)
                if not wanted:
                    folder = os.path.dirname(os.path.abspath(self.source))
                    why = "" if os.path.isdir(folder) else f" (folder {folder} does not exist)"
                    _check_listable(folder, self.source)
                    raise InputError(f"no frames found matching this pattern{why}", file=self.source,
                                     hint="check the path and padding: #### means 4 digits")
                holes = sorted(set(range(wanted[0], wanted[-1] + 1)) - set(wanted))
                if holes and not allow_gaps:
                    _refuse_if_present(frame_path(self.source, holes[0]), holes[0])
                    raise InputError(f"missing frame: file does not exist (the sequence {wanted[0]}-{wanted[-1]} "
                                     f"on disk lacks frames {format_frames(holes)})",
                                     file=frame_path(self.source, holes[0]), frame=holes[0],
                                     hint="render the missing frames or give a frame range that skips them")
            elif check_frames:
                missing = [f for f in wanted if not os.path.isfile(frame_path(self.source, f))]
                if missing:
                    _refuse_if_present(frame_path(self.source, missing[0]), missing[0])
                    shown = format_frames(missing)
                    raise InputError(f"missing frame: file does not exist ({len(missing)} of {len(wanted)} "
                                     f"requested frames missing: {shown})",
                                     file=frame_path(self.source, missing[0]), frame=missing[0])
        else:
            self.kind = "still"
            if wanted is None:
                wanted = [1]
        self.frames = wanted
        first = self.frames[0]
        spec = read_spec(self.path(first), first if self.kind == "sequence" else None, max_pixels=self.max_pixels)
        self.width, self.height = int(spec.width), int(spec.height)
        self.pixel_aspect = spec_pixel_aspect(spec)
        self._size_frame = first
        self._size_windows = spec_windows(spec)

    # -- basics
    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[int]:
        return iter(self.frames)

    def __repr__(self) -> str:
        return (f"PlateSource({self.source!r}, frames={format_frames(self.frames)}, "
                f"{self.width}x{self.height}, {self.kind})")

    @property
    def first(self) -> int:
        return self.frames[0]

    @property
    def last(self) -> int:
        return self.frames[-1]

    def path(self, frame: int) -> str:
        """File holding ``frame`` (the movie or still itself for those kinds)."""
        return frame_path(self.source, int(frame)) if self.kind == "sequence" else self.source

    def windows(self, frame: int) -> Windows:
        """Data and display window of ``frame`` (from its header, no pixels read; a movie's
        frames have none: both its frame size at 0, 0)."""
        frame = int(frame)
        if self.kind == "movie":
            return Windows.of_size(self.width, self.height)
        return spec_windows(read_spec(self.path(frame), frame if self.kind == "sequence" else None,
                                      max_pixels=self.max_pixels))

    # -- reading
    def read(self, frame: int) -> ImageData:
        """Read ``frame``: existence, readability, size equal to the plate's, finite pixels."""
        frame = int(frame)
        if self.kind == "movie":
            with self._lock:
                if self._movie is None:
                    self._movie = MovieReader(self.source, max_pixels=self.max_pixels)
                return self._movie.read(frame - 1)
        path = self.path(frame)
        img = read_image(path, frame if self.kind == "sequence" else None, max_pixels=self.max_pixels,
                         allow_nonfinite=self.allow_nonfinite)
        if self.kind == "still":
            img.frame = frame
        self._check_size(img.width, img.height, path, frame, img.windows)
        return img

    def _check_size(self, width: int, height: int, path: str, frame: int,
                    windows: Optional[Windows] = None) -> None:
        """InputError when a frame's data window is not the plate's size. ``windows``: the
        frame's (from its header); when it or the first frame has a data window other than
        its display window (an EXR written with an autocrop bounding box, whose size changes
        from frame to frame), the message names both data windows and the way out."""
        if (width, height) == (self.width, self.height):
            return
        first = getattr(self, "_size_windows", None)
        if windows is not None and first is not None and \
                (windows.data != windows.display or first.data != first.display):
            raise InputError(f"the frame's data window is {describe(windows.data)} but the plate's is "
                             f"{describe(first.data)} (frame {self._size_frame}; format "
                             f"{describe(first.display)}); all frames' data windows must have one size",
                             file=path, frame=frame,
                             hint="a data window cropped to each frame's content (autocrop) changes size: "
                                  "write the plate with one data window, e.g. the format (Nuke's Write: "
                                  "autocrop off)")
        raise InputError(f"frame is {width}x{height} but the plate is {self.width}x{self.height} "
                         f"(size of frame {self._size_frame}); all frames must have one size",
                         file=path, frame=frame)

    def check_headers(self) -> None:
        """Open the header of every frame of a sequence (no pixels are read) and refuse, before
        any work starts, a frame that is missing, empty, unreadable, of another format, claims an
        absurd size or differs in size from the plate. Damage inside the pixel data is found
        when the frame is read."""
        if self.kind != "sequence":
            return
        for frame in self.frames:
            path = self.path(frame)
            spec = read_spec(path, frame, max_pixels=self.max_pixels)
            self._check_size(int(spec.width), int(spec.height), path, frame, spec_windows(spec))

    def identity(self, frame: int, content_hash: bool = False) -> str:
        """Cache key of the file behind ``frame`` (:func:`file_identity`: its name, size and
        mtime, or its SHA-256), the same wherever the plate's storage is mounted. Movie frames
        append ``#<frame>``."""
        frame = int(frame)
        path = self.path(frame)
        st = check_readable(path, frame if self.kind == "sequence" else None)
        suffix = f"#{frame}" if self.kind == "movie" else ""
        return file_identity(path, content_hash, st) + suffix

    def close(self) -> None:
        if self._movie is not None:
            self._movie.close()
            self._movie = None

    def __enter__(self) -> "PlateSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_frame_range(pattern: str, first: int, last: int) -> None:
    """Raise :class:`PlateSource`'s missing-frame :class:`InputError` for frames ``first..last``
    of a sequence ``pattern`` without making the list of the range: the frames are checked in
    order up to the first missing one, and what is missing is counted from one listing of the
    folder. Movies and stills pass (their own checks run when they are opened)."""
    if is_movie(pattern) or not is_pattern(pattern):
        return
    first, last = int(first), int(last)
    f = first
    while f <= last and os.path.isfile(frame_path(pattern, f)):
        f += 1
    if f > last:
        return
    path = frame_path(pattern, f)
    _refuse_if_present(path, f)
    present = [g for g in scan_frames(pattern) if first <= g <= last]
    gaps, expected = [], first
    for g in present:
        if g > expected:
            gaps.append((expected, g - 1))
        expected = g + 1
    if expected <= last:
        gaps.append((expected, last))
    total = last - first + 1
    if gaps and gaps[0][0] == f:
        count = total - len(present)
        shown = ",".join(f"{a}-{b}" if b > a else str(a) for a, b in gaps[:5]) + (",..." if len(gaps) > 5 else "")
        detail = f"{count} of {total} requested frames missing: {shown}"
    else:   # the folder cannot be listed as the files were found: name the first one only
        detail = f"the first missing of the {total} requested frames {first}-{last}"
    raise InputError(f"missing frame: file does not exist ({detail})", file=path, frame=f)


def _refuse_if_present(path: str, frame: int) -> None:
    """A frame that is there but is no plain file (symlink loop, broken link, folder, device):
    raise the InputError that says which, rather than "missing frame"."""
    if os.path.lexists(path):
        check_readable(path, frame)


def _check_listable(folder: str, source: str) -> None:
    """InputError when the plate's folder exists but cannot be listed (no read permission)."""
    try:
        os.listdir(folder)
    except PermissionError:
        raise InputError("permission denied: cannot list the plate's folder", file=folder,
                         hint=f"the frames of {source} cannot be found without read access to it") from None
    except OSError:
        pass


def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks (every call reads the file; the
    identities of :func:`file_identity` remember theirs)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


#: most SHA-256 digests :func:`file_identity` remembers (least recently used dropped first)
CONTENT_HASH_MEMO_SIZE = 1 << 16
_content_hashes: "OrderedDict[Tuple, str]" = OrderedDict()
_content_hashes_lock = threading.Lock()


def _stat_key(path: str, st: os.stat_result) -> Tuple:
    """What says a file is unchanged since it was hashed: its path, device and inode (another
    file renamed over it), size, mtime and ctime to the nanosecond (a rewrite in place; the
    ctime cannot be set back, as the mtime can)."""
    return (os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _content_sha256(path: str, st: os.stat_result) -> str:
    """:func:`file_sha256` of ``path`` (whose stat is ``st``), read and hashed once per process
    while the file is unchanged: a shot's key and each cache's frame identities ask for the
    same plate, matte and reference files (with a library, once for the shot and again for
    its scenes' caches)."""
    key = _stat_key(path, st)
    with _content_hashes_lock:
        digest = _content_hashes.get(key)
        if digest is not None:
            _content_hashes.move_to_end(key)
            return digest
    digest = file_sha256(path)
    try:
        after = os.stat(path)
    except OSError:
        return digest
    if _stat_key(path, after) == key:   # not changed while it was read: the digest is the file's
        with _content_hashes_lock:
            _content_hashes[key] = digest
            while len(_content_hashes) > CONTENT_HASH_MEMO_SIZE:
                _content_hashes.popitem(last=False)
    return digest


def file_identity(path: str, content_hash: bool = False, st: Optional[os.stat_result] = None) -> str:
    """Identity of an input file for cache keys, independent of where its storage is mounted.

    ``sha256:<hex>`` of the bytes with ``content_hash``; else ``<name>|<size>|<mtime_us>``: the
    file's name (without its folder: the same plate under ``P:\\shows`` on Windows and under
    ``/mnt/shows`` on Linux is one plate), its size and its modification time truncated to the
    microsecond. NTFS/SMB clients see times in 100 ns units, NFS and local POSIX clients in
    1 ns units: the microsecond is the finest unit they agree on for the same file. (Whole
    seconds would agree with coarser servers too, but would let two renders of same-named,
    same-sized frames written within one second, e.g. fixed-size DPX, pass for one another;
    shares whose protocols disagree beyond the microsecond need ``content_hash``.)
    With ``content_hash`` a file is read once per process while it is unchanged (same inode,
    size, mtime and ctime): asking again gives the remembered digest.
    Raises :class:`OSError` as :func:`os.stat` does.
    """
    if st is None:
        st = os.stat(path)
    if content_hash:
        return "sha256:" + _content_sha256(path, st)
    return f"{os.path.basename(path)}|{st.st_size}|{st.st_mtime_ns // 1000}"
