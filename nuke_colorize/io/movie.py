"""Movie files (.mp4, .mov, ...) as plates, read through OpenCV (OpenImageIO has no movie reader).

Numbering: like Nuke's Read node, the frames of a movie are numbered from 1 (the first picture is
frame 1). :func:`read_movie_frame` takes a 0-based ``index`` (index 0 = frame 1); the returned
:class:`ImageData` carries ``frame = index + 1``. Pixels are the decoded 8-bit sRGB/Rec.709 video
values scaled to [0, 1] float32 RGB; ``is_float_format`` is False so colourspace "auto" treats
them as sRGB. The stream's sample aspect ratio is the pictures' pixel aspect (``PixelAspectRatio``
in their spec, as for an anamorphic EXR). OpenCV is imported on first use.
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np

from ..errors import InputError
from .image import ImageData, check_readable, held_stderr

MOVIE_EXTENSIONS = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".mxf")


def _cv2():
    import cv2  # noqa: WPS433 (imported lazily on purpose)
    return cv2


def is_movie(path) -> bool:
    """True when ``path`` has a movie extension (.mp4, .mov, .m4v, .avi, .mkv, .webm, .mpg, .mxf)."""
    return os.path.splitext(os.fspath(path))[1].lower() in MOVIE_EXTENSIONS


class MovieReader:
    """An open movie. Reading frames in order decodes each once; other orders seek.

    Use as a context manager or call :meth:`close`.
    """

    def __init__(self, path, *, max_pixels: int = 2 ** 28):
        self.path = os.fspath(path)
        check_readable(self.path)
        cv2 = _cv2()
        with held_stderr() as held:  # FFmpeg prints its own line ("moov atom not found") on bad files
            self._cap = cv2.VideoCapture(self.path)
            opened = self._cap.isOpened()
        if opened:
            held.release()
        if not opened:
            self._cap.release()
            raise InputError("cannot open movie (unsupported codec or corrupt file)", file=self.path)
        self.width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.pixel_aspect = _sample_aspect(self._cap.get(cv2.CAP_PROP_SAR_NUM), self._cap.get(cv2.CAP_PROP_SAR_DEN))
        if self.width * self.height > max_pixels:
            self.close()
            raise InputError(f"movie claims {self.width}x{self.height} pixels, more than the limit of {max_pixels}",
                             file=self.path)
        self._next = 0
        self._count: Optional[int] = None

    # -- frame count
    def frame_count(self) -> int:
        """Number of frames. Uses the container's count, and decodes to count when it has none."""
        if self._count is None:
            cv2 = _cv2()
            n = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            if n <= 0:
                probe = cv2.VideoCapture(self.path)
                n = 0
                while probe.grab():
                    n += 1
                probe.release()
            if n <= 0:
                raise InputError("movie has no frames", file=self.path)
            self._count = n
        return self._count

    def read(self, index: int) -> ImageData:
        """Frame ``index`` (0-based) as ImageData, RGB float32 in [0, 1], ``frame = index + 1``."""
        cv2 = _cv2()
        index = int(index)
        n = self.frame_count()
        if not 0 <= index < n:
            raise InputError(f"frame {index + 1} is outside the movie (frames 1-{n})", file=self.path,
                             frame=index + 1)
        if index != self._next:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        with held_stderr() as held:
            ok, bgr = self._cap.read()
        if ok and bgr is not None:
            held.release()
        if not ok or bgr is None:
            self._next = -1
            raise InputError("cannot decode this movie frame (truncated or corrupt file)", file=self.path,
                             frame=index + 1)
        self._next = index + 1
        rgb = np.ascontiguousarray(bgr[..., ::-1], dtype=np.float32) / np.float32(255.0)
        return ImageData(pixels=rgb, channels=["R", "G", "B"], spec=self._spec(rgb.shape[1], rgb.shape[0], index),
                         path=self.path, frame=index + 1, is_float_format=False)

    def _spec(self, w: int, h: int, index: int):
        import OpenImageIO as oiio  # noqa: WPS433
        spec = oiio.ImageSpec(w, h, 3, "uint8")
        spec.channelnames = ("R", "G", "B")
        spec.attribute("oiio:ColorSpace", "srgb_rec709_scene")
        spec.attribute("oiio:Movie", 1)
        if self.pixel_aspect != 1.0:
            spec.attribute("PixelAspectRatio", float(self.pixel_aspect))
        if self.fps > 0:
            num, den = _fps_rational(self.fps)
            spec.attribute("FramesPerSecond", oiio.TypeRational, (num, den))
        return spec

    def close(self) -> None:
        if getattr(self, "_cap", None) is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> "MovieReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def _sample_aspect(num: float, den: float) -> float:
    """The stream's sample (pixel) aspect ratio, e.g. 2.0 for a 2:1 anamorphic encode; 1.0
    when the stream declares none (0:1) or something no plate has (outside 1/10 .. 10)."""
    try:
        num, den = float(num), float(den)
    except (TypeError, ValueError):
        return 1.0
    if not (num > 0 and den > 0):
        return 1.0
    aspect = num / den
    return aspect if 0.1 <= aspect <= 10.0 else 1.0


def _fps_rational(fps: float):
    """23.976... -> (24000, 1001); 25.0 -> (25, 1)."""
    for base in (24, 30, 48, 60, 120):
        if abs(fps - base * 1000 / 1001) < 1e-3:
            return base * 1000, 1001
    if abs(fps - round(fps)) < 1e-6:
        return int(round(fps)), 1
    return int(round(fps * 1000)), 1000


def movie_frame_count(path) -> int:
    """Number of frames in the movie at ``path``."""
    with MovieReader(path) as reader:
        return reader.frame_count()


def read_movie_frame(path, index: int) -> ImageData:
    """Frame ``index`` (0-based; Nuke frame ``index + 1``) of a movie, RGB float32 in [0, 1]."""
    with MovieReader(path) as reader:
        return reader.read(index)
