"""Reading and writing single images through OpenImageIO.

Reading (:func:`read_image`) gives an :class:`ImageData`: all channels of the data window as
(H, W, C) float32 (integer files scaled to [0, 1], half/float files as stored), the channel names
and a copy of the file's :class:`OpenImageIO.ImageSpec` (metadata, data and display window,
pixel aspect, original pixel format). Every way a file can be bad becomes an
:class:`~nuke_colorize.errors.InputError` naming the file, the frame and the problem, and a header
that claims an absurd size is refused before any pixel memory is allocated.

Channel layouts: 1 channel = luminance, 2 = luminance + alpha, 3 = RGB, 4 = RGBA, more = RGBA +
extra channels (kept for pass-through). Named channels win over position: an EXR with
``R G B depth.Z`` has no alpha and one extra channel. Multi-part EXRs: the colour is the first
part's, or the first part naming colour channels when the first names none (a depth part written
first); parts with the same data window as that one are read as extra channels named
``<part>.<channel>``, the others are named in :attr:`ImageData.skipped_parts`. A luminance/chroma
image's ``RY BY`` (:attr:`ImageData.chroma_indices`) and a multi-view image's other views
(:attr:`ImageData.other_view_indices`) are neither colour nor extra channels.

Writing (:func:`write_image`) goes through :func:`~nuke_colorize.io.atomic.atomic_path`, refuses
paths that resolve to a protected input, and with ``like=`` copies metadata, windows and pixel
aspect from the input.

OpenImageIO is imported on first use so that ``nuke_colorize.io`` imports without it (inside
Nuke's own Python, for example).
"""
from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError
from .atomic import OutputError, atomic_path, temp_path_for
from .sequence import file_keys, frame_path, is_pattern, match_frame
from .windows import Windows, describe, spec_windows

#: pixel types whose values a float32 holds exactly, with what OpenImageIO divides them by when
#: it reads them as float (integers are normalised to [0, 1], or [-1, 1] when signed)
_FLOAT32_EXACT = {"half": 1.0, "float": 1.0, "uint8": 255.0, "int8": 127.0, "uint16": 65535.0, "int16": 32767.0}
DEFAULT_MAX_PIXELS = 2 ** 28  # 268 M pixels, e.g. 16384 x 16384
MAX_CHANNELS = 1024
MAX_PARTS = 256  # parts of a multi-part EXR looked at

# Extension -> OpenImageIO writer family, and which channel layouts each family can store.
_FAMILY = {".exr": "openexr", ".sxr": "openexr", ".tif": "tiff", ".tiff": "tiff", ".png": "png",
           ".jpg": "jpeg", ".jpeg": "jpeg", ".dpx": "dpx"}
_ANY_CHANNELS = {"openexr", "tiff"}
_DTYPES = {"half": "half", "float": "float", "uint8": "uint8", "uint16": "uint16",
           "uint10": "uint16", "uint12": "uint16"}
# Attributes of an input that must not be copied into a new file: they describe the input's
# storage, not the image (the writer sets its own), or they would be wrong after processing.
_SKIP_ATTRS = {"compression", "planarconfig", "oiio:ColorSpace", "oiio:Gamma", "oiio:subimages",
               "oiio:BitsPerSample", "oiio:UnassociatedAlpha", "oiio:RowsPerChunk", "oiio:Movie",
               "openexr:chunkCount", "tiff:RowsPerStrip", "tiff:Compression",
               "tiff:PhotometricInterpretation", "tiff:PlanarConfiguration", "tiff:ColorSpace",
               "dpx:ImageDescriptor", "dpx:Packing", "dpx:Transfer", "dpx:Colorimetric",
               "jpeg:subsampling", "png:compressionLevel", "PixelAspectRatio", "name",
               # the input's primaries / colour profile / colourspace tag (an EXR's colorInteropID,
               # which OpenImageIO reads as oiio:ColorSpace): the output's pixels are in the
               # output's colourspace (a grey plate's Gray ICC profile on an RGB output is not even
               # valid; an ACEScg plate's lin_ap1_scene on linear Rec.709 pixels says other colours)
               "chromaticities", "ICCProfile", "Exif:ColorSpace", "colorInteropID",
               # a stereo plate's views: the output holds its default view only
               "multiView", "view"}
_FORMAT_PREFIXES = {"openexr", "tiff", "png", "jpeg", "dpx", "oiio"}


def _oiio():
    import OpenImageIO  # noqa: WPS433 (imported lazily on purpose)
    return OpenImageIO


_STDERR_LOCK = threading.Lock()


class HeldStderr:
    """What C libraries printed on file descriptor 2 during one call (see :func:`held_stderr`)."""

    def __init__(self) -> None:
        self.data = b""

    def release(self) -> None:
        """The call succeeded: pass on what the libraries printed (warnings) to stderr."""
        if self.data:
            try:
                os.write(2, self.data)
            except OSError:
                pass
            self.data = b""


@contextlib.contextmanager
def held_stderr():
    """Hold back what C libraries (libpng, libjpeg, FFmpeg) print straight on file descriptor 2.

    On a damaged file they print their own line ("libpng error: ...") before OpenImageIO or
    OpenCV report the failure, which then becomes the one-line InputError; a second, raw line
    would break the one-line contract of the CLI. The caller calls ``release()`` on the yielded
    :class:`HeldStderr` when the call succeeded (warnings are passed on) and drops it otherwise.
    One call at a time (a lock): file descriptor 2 belongs to the whole process.
    """
    held = HeldStderr()
    with _STDERR_LOCK:
        try:
            sys.stderr.flush()
        except (AttributeError, OSError, ValueError):
            pass
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all: nothing to hold back
            yield held
            return
        try:
            with tempfile.TemporaryFile() as tmp:
                try:
                    os.dup2(tmp.fileno(), 2)
                    yield held
                finally:
                    os.dup2(saved, 2)
                    tmp.seek(0)
                    held.data = tmp.read(1 << 16)
        finally:
            os.close(saved)


# ---------------------------------------------------------------- ImageData
def channel_layout(channels: Sequence[str]) -> Tuple[List[int], Optional[int]]:
    """Which channels are colour and alpha: -> ([r, g, b] indices, alpha index or None).

    Names first (``R G B``, ``Y``, ``A``/``alpha``, with or without an ``rgba.`` prefix; else
    the first named layer holding R, G and B, e.g. ``beauty.R``, with its alpha; else the first
    holding Y, e.g. ``scan.Y``, with its alpha), else
    position: 1 ch -> [0, 0, 0]; 2 ch -> [0, 0, 0] + alpha 1; 3 ch -> RGB; 4+ ch -> RGB + alpha 3
    (no positional alpha among layer-qualified channels such as ``depth.Z``).
    ``R G B channel3`` (an unflagged 4th channel) also counts channel 3 as alpha.
    """
    names = [c.upper()[5:] if c.upper().startswith("RGBA.") else c.upper() for c in channels]
    n = len(names)
    alpha = None
    for key in ("A", "ALPHA"):
        if key in names:
            alpha = names.index(key)
            break
    if all(k in names for k in ("R", "G", "B")):
        if alpha is None and n >= 4 and re.fullmatch(r"CHANNEL\d+", names[3]):
            alpha = 3  # OpenImageIO's name for an unnamed 4th channel (e.g. TIFF without alpha flag)
        return [names.index("R"), names.index("G"), names.index("B")], alpha
    if "Y" in names:
        y = names.index("Y")
        return [y, y, y], alpha
    layered = _layer_rgb(names)
    if layered is not None:
        return layered[0], alpha if alpha is not None else layered[1]
    positional_alpha = not any("." in c for c in names)   # a layer's channel (depth.Z) is no alpha
    if n == 1:
        return [0, 0, 0], None
    if n == 2:
        return [0, 0, 0], 1 if positional_alpha else None
    if n == 3:
        return [0, 1, 2], None
    return [0, 1, 2], 3 if positional_alpha else None


def _layer_rgb(names: Sequence[str]) -> Optional[Tuple[List[int], Optional[int]]]:
    """The colour of an image whose colour is only in named layers (``beauty.R``...): the first
    layer, in channel order, with R, G and B -> ([r, g, b], that layer's A/alpha or None); else
    the first with Y -> ([y, y, y], its A/alpha or None); None when there is no such layer.
    Taking channels by position there would read ``beauty.B`` as red, ``depth.Z`` as alpha or
    (EXR sorts channels by name) ``depth.Z`` before ``scan.Y`` as luminance."""
    layers: Dict[str, Dict[str, int]] = {}
    for i, c in enumerate(names):
        layer, dot, ch = c.rpartition(".")
        if dot and layer:
            layers.setdefault(layer, {}).setdefault(ch, i)
    for chans in layers.values():
        if all(k in chans for k in ("R", "G", "B")):
            a = chans.get("A", chans.get("ALPHA"))
            return [chans["R"], chans["G"], chans["B"]], a
    for chans in layers.values():   # else a luminance layer (a B&W scan's scan.Y), with its alpha
        if "Y" in chans:
            return [chans["Y"]] * 3, chans.get("A", chans.get("ALPHA"))
    return None


@dataclass
class ImageData:
    """One image: (H, W, C) float32 pixels of the data window plus what is needed to write it back.

    ``pixels`` are integer files scaled to [0, 1] or half/float values as stored (scene-linear
    values may exceed 1 or be negative); colour is never (un)premultiplied on reading, see
    :attr:`premultiplied`. ``spec`` is a copy of the file's ImageSpec: ``spec.x``,
    ``spec.y`` are the data window origin, ``spec.full_*`` the display window, ``spec.format``
    the original pixel type. ``is_float_format`` is True for half/float files, which
    :func:`nuke_colorize.color.resolve_colorspace` treats as linear. ``channel_formats`` is each
    channel's stored pixel type ("half", "float", "uint16"...; an EXR may mix them, e.g. half
    RGBA and float depth, also across parts), None: ``spec.format`` for all.
    ``exact_channels``: channel index -> (H, W) float64 values of the channels a float32 cannot
    hold (32-bit integers, double), read at their own type (``read_image(..., exact=True)``);
    see :meth:`stored_values`. ``skipped_parts``: the parts of a multi-part EXR not read, as
    ``"<name> (<why>)"`` (another data window than the colour part's, deep, another view), for
    a note.
    """

    pixels: np.ndarray
    channels: List[str]
    spec: Any
    path: str
    frame: Optional[int] = None
    is_float_format: bool = False
    channel_formats: Optional[List[str]] = None
    exact_channels: Optional[Dict[int, np.ndarray]] = None
    skipped_parts: List[str] = field(default_factory=list)

    # -- shape
    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def size(self) -> Tuple[int, int]:
        """(width, height) of the data window."""
        return self.width, self.height

    @property
    def origin(self) -> Tuple[int, int]:
        """(x, y) of the data window's top-left pixel in image space."""
        return int(self.spec.x), int(self.spec.y)

    @property
    def display_window(self) -> Tuple[int, int, int, int]:
        """(x, y, width, height) of the display window (Nuke's format)."""
        s = self.spec
        return int(s.full_x), int(s.full_y), int(s.full_width), int(s.full_height)

    @property
    def windows(self) -> Windows:
        """Data and display window (see :mod:`nuke_colorize.io.windows`)."""
        return spec_windows(self.spec)

    @property
    def pixel_aspect(self) -> float:
        return spec_pixel_aspect(self.spec)

    @property
    def log_encoded(self) -> bool:
        """True when the header says the pixels are printing-density log (a DPX whose transfer
        is "Printing density" or "Logarithmic", a Cineon file): film scans, which Nuke's Read
        node decodes as Cineon by default."""
        return spec_log_encoded(self.spec)

    @property
    def premultiplied(self) -> bool:
        """False when the file stores unassociated alpha (PNG, most TIFFs); EXR is premultiplied.

        Pixels are always the stored values: colour is not divided or multiplied by alpha.
        """
        return not bool(self.spec.getattribute("oiio:UnassociatedAlpha"))

    # -- channels
    @property
    def rgb_indices(self) -> List[int]:
        return channel_layout(self.channels)[0]

    @property
    def alpha_index(self) -> Optional[int]:
        return channel_layout(self.channels)[1]

    @property
    def rgb(self) -> np.ndarray:
        """(H, W, 3) float32 colour; 1- and 2-channel images repeat their luminance."""
        return np.ascontiguousarray(self.pixels[..., self.rgb_indices], dtype=np.float32)

    @property
    def unpremultiplied_rgb(self) -> np.ndarray:
        """(H, W, 3) float32 colour of what the pixels show: :attr:`rgb` divided by alpha where a
        premultiplied image's alpha is between 0 and 1 (elsewhere, and for images without alpha
        or with unassociated alpha, :attr:`rgb` as stored)."""
        rgb = self.rgb
        a = self.alpha
        if a is None or not self.premultiplied:
            return rgb
        a = np.where((a > 0) & (a < 1), a, np.float32(1.0))
        return (rgb / a[..., None]).astype(np.float32)

    @property
    def alpha(self) -> Optional[np.ndarray]:
        """(H, W) float32 alpha, or None."""
        a = self.alpha_index
        return None if a is None else np.ascontiguousarray(self.pixels[..., a], dtype=np.float32)

    @property
    def chroma_indices(self) -> List[int]:
        """Indices of the chroma channels ``RY`` and ``BY`` of a luminance/chroma image (an EXR
        whose colour is ``Y``, as OpenEXR writes YC images), else []. They are part of the
        plate's colour, which the output's RGB replaces: never extra channels (carried, they
        would put the plate's old chroma beside the new colour)."""
        rgb, _ = channel_layout(self.channels)
        names = [c.upper()[5:] if c.upper().startswith("RGBA.") else c.upper() for c in self.channels]
        if names[rgb[0]] != "Y":
            return []
        return [i for i, n in enumerate(names) if n in ("RY", "BY")]

    @property
    def views(self) -> List[str]:
        """The views of a multi-view EXR (its ``multiView`` attribute, e.g. ``["left", "right"]``;
        the first is the default view, whose channels have no view in their name), else []."""
        value = self.spec.getattribute("multiView")
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value] if isinstance(value, (tuple, list)) else []

    @property
    def other_view_indices(self) -> List[int]:
        """Channels of a multi-view EXR's views other than the default one (``right.R``,
        ``depth.right.Z``: OpenEXR puts the view next to last in the name), else []. Only the
        default view is colourised: they are neither colour nor extra channels."""
        others = set(self.views[1:])
        if not others:
            return []
        return [i for i, c in enumerate(self.channels)
                if len(c.split(".")) >= 2 and c.split(".")[-2] in others]

    @property
    def extra_channel_indices(self) -> List[int]:
        """Channels other than the colour (with a YC image's chroma) and alpha, carried to the
        output unchanged (``depth.Z``...); a multi-view EXR's other views are not."""
        rgb, a = channel_layout(self.channels)
        used = set(rgb) | ({a} if a is not None else set()) | set(self.chroma_indices) \
            | set(self.other_view_indices)
        return [i for i in range(len(self.channels)) if i not in used]

    @property
    def extra_channel_names(self) -> List[str]:
        return [self.channels[i] for i in self.extra_channel_indices]

    def stored_format(self, index: int) -> str:
        """Pixel type the file stores channel ``index`` in ("half", "float", "uint8"...)."""
        if self.channel_formats is not None:
            return self.channel_formats[index]
        return str(self.spec.format)

    def stored_values(self, index: int) -> np.ndarray:
        """(H, W) float64: channel ``index`` exactly as the file stores it: an integer channel's
        integers (not scaled to [0, 1]), half and float values as they are. 32-bit integer and
        double channels, which the float32 :attr:`pixels` round to 24 bits, come from
        ``exact_channels``; a file read without them is refused (ValueError: a caller's bug)."""
        fmt = self.stored_format(index)
        scale = _FLOAT32_EXACT.get(fmt)
        if scale is not None:
            values = self.pixels[..., index].astype(np.float64)
            return values if scale == 1.0 else np.rint(values * scale)
        if self.exact_channels is None or index not in self.exact_channels:
            raise ValueError(f"channel {self.channels[index]} ({fmt}) was not read exactly: "
                             f"read_image(..., exact=True)")
        return self.exact_channels[index]

    @property
    def extra_pixels(self) -> np.ndarray:
        """(H, W, E) float32 of the extra channels (E may be 0)."""
        return np.ascontiguousarray(self.pixels[..., self.extra_channel_indices], dtype=np.float32)


def compose_channels(rgb: np.ndarray, like: Optional[ImageData] = None, *, alpha: bool = True,
                     extras: bool = True) -> Tuple[np.ndarray, List[str]]:
    """New colour (H, W, 3) + the alpha and extra channels of ``like`` -> (pixels, channel names).

    The result is ready for :func:`write_image`: channels ``R G B`` then ``A`` (if ``like`` has
    alpha and ``alpha``) then ``like``'s extra channels (if ``extras``), unchanged. ``rgb`` must
    have ``like``'s data-window size.
    """
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be (H, W, 3), got {rgb.shape}")
    planes = [rgb]
    if like is not None:
        if (like.height, like.width) != rgb.shape[:2]:
            raise ValueError(f"rgb is {rgb.shape[1]}x{rgb.shape[0]} but like is {like.width}x{like.height}")
        if alpha and like.alpha_index is not None:
            planes.append(like.alpha[..., None])
        if extras and like.extra_channel_indices:
            planes.append(like.extra_pixels)
    return (np.ascontiguousarray(np.concatenate(planes, axis=2)),
            composed_channel_names(like, alpha=alpha, extras=extras))


def composed_channel_names(like: Optional[ImageData] = None, *, alpha: bool = True,
                           extras: bool = True) -> List[str]:
    """The channel names :func:`compose_channels` gives (``R G B``, ``A``, ``like``'s extra
    channels), without reading any pixel."""
    names = ["R", "G", "B"]
    if like is not None:
        if alpha and like.alpha_index is not None:
            names.append("A")
        if extras:
            names.extend(like.extra_channel_names)
    return names


# ---------------------------------------------------------------- reading
def _resolve(path, frame: Optional[int]) -> str:
    path = os.fspath(path)
    if frame is not None and is_pattern(path):
        return frame_path(path, frame)
    return path


def check_readable(path: str, frame: Optional[int] = None) -> os.stat_result:
    """Stat ``path`` and refuse, as :class:`InputError`, everything that cannot be an image file.

    Missing file (``missing frame`` when ``frame`` is given), broken symlink, symlink loop,
    folder, device/fifo, empty file, no read permission.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise InputError("broken symlink (its target does not exist)", file=path, frame=frame) from None
        what = "missing frame: file does not exist" if frame is not None else "file does not exist"
        raise InputError(what, file=path, frame=frame) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError("symlink loop (the link points back to itself)", file=path, frame=frame) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise InputError("permission denied", file=path, frame=frame) from None
        raise InputError(f"cannot access file: {exc.strerror or exc}", file=path, frame=frame) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError("is a folder, not an image file", file=path, frame=frame)
    if not stat.S_ISREG(st.st_mode):
        raise InputError("is not a regular file", file=path, frame=frame)
    if st.st_size == 0:
        raise InputError("file is empty (0 bytes)", file=path, frame=frame)
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except PermissionError:
        raise InputError("permission denied (cannot read the file)", file=path, frame=frame) from None
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", file=path, frame=frame) from None
    return st


def _names_colour(channels: Sequence[str]) -> bool:
    """True when ``channels`` name a colour (:func:`channel_layout` by name: ``R G B``, ``Y``,
    or a layer holding R, G and B), not only position."""
    names = [c.upper()[5:] if c.upper().startswith("RGBA.") else c.upper() for c in channels]
    return all(k in names for k in ("R", "G", "B")) or "Y" in names or _layer_rgb(names) is not None


def _colour_part(inp) -> int:
    """The part of a multi-part EXR that holds the colour: the first part, unless its channels
    name none (a depth or ID part written first) and a later one's do; then that one, on which
    ``inp`` is left. Any other file: 0."""
    if inp.format_name() != "openexr" or _names_colour(inp.spec().channelnames):
        return 0
    sub = 1
    while sub < MAX_PARTS and inp.seek_subimage(sub, 0):
        ps = inp.spec()
        if _names_colour(ps.channelnames) and not getattr(ps, "deep", False):
            return sub
        sub += 1
    inp.geterror()  # seek past the last part sets an error on some readers: clear it
    inp.seek_subimage(0, 0)
    return 0


def _open_checked(path: str, frame: Optional[int], max_pixels: int):
    """Open ``path`` with OpenImageIO and validate the header of its colour part (a multi-part
    EXR's :func:`_colour_part`). -> (ImageInput, ImageSpec, part index)."""
    oiio = _oiio()
    check_readable(path, frame)
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        # a name in a legacy encoding (Latin-1 'caf\xe9.jpg' from an old share): Python holds its
        # bytes as surrogates, which OpenImageIO's binding cannot take (it failed as an internal error)
        raise InputError("the file name is not valid UTF-8 (another encoding, e.g. Latin-1): OpenImageIO "
                         "cannot open it", file=os.fsencode(path).decode("utf-8", "backslashreplace"), frame=frame,
                         hint="rename the file (e.g. convmv -f latin1 -t utf8 --notest FILE)") from None
    config = oiio.ImageSpec()
    config.attribute("oiio:UnassociatedAlpha", 1)  # pixels as stored: no premultiplication on read
    with held_stderr() as held:
        inp = oiio.ImageInput.open(path, config)
    if inp is not None:
        held.release()
    if inp is None:
        msg = " ".join(oiio.geterror().split()) or "unknown error"
        if ("exceeds" in msg and "limit" in msg) or "claims" in msg:
            raise InputError(f"header claims an absurd image size, refused: {msg}", file=path, frame=frame)
        if "subsampled channels are not supported" in msg.lower():
            # a valid file: OpenEXR's luminance/chroma images store RY / BY at half resolution
            raise InputError(f"an EXR with subsampled channels (a luminance/chroma image: RY, BY at reduced "
                             f"resolution) cannot be read through OpenImageIO: {msg}", file=path, frame=frame,
                             hint="write it again with full-resolution channels, e.g. RGB from a Nuke Read "
                                  "and Write (OpenEXR's RGBA interface converts it)")
        raise InputError(f"not a readable image (wrong format, corrupt or truncated header): {msg}",
                         file=path, frame=frame)
    try:
        part = _colour_part(inp)
        spec = oiio.ImageSpec(inp.spec())  # a copy: it must not follow later seek_subimage calls
        _check_spec(spec, path, frame, max_pixels)
    except BaseException:
        inp.close()
        raise
    return inp, spec, part


def _check_spec(spec, path: str, frame: Optional[int], max_pixels: int) -> None:
    w, h, nch = int(spec.width), int(spec.height), int(spec.nchannels)
    if w <= 0 or h <= 0:
        raise InputError(f"header claims an empty image ({w}x{h})", file=path, frame=frame)
    if w * h > max_pixels:
        raise InputError(f"header claims {w}x{h} = {w * h} pixels, more than the limit of {max_pixels}",
                         file=path, frame=frame, hint="corrupt header? if the image is real, raise max_pixels")
    if nch <= 0 or nch > MAX_CHANNELS:
        raise InputError(f"header claims {nch} channels (1 to {MAX_CHANNELS} supported)", file=path, frame=frame)
    if int(getattr(spec, "depth", 1) or 1) > 1:
        raise InputError("volume images (depth > 1) are not supported", file=path, frame=frame)
    if getattr(spec, "deep", False):
        raise InputError("deep images are not supported (flatten with DeepToImage first)", file=path, frame=frame)


def _read_part(inp, subimage: int, nch: int, h: int, w: int, path: str, frame: Optional[int],
               first: int = 0, fmt: Any = None) -> np.ndarray:
    """(h, w, nch) channels ``first`` .. ``first + nch - 1`` of ``subimage``: float32 (``fmt``
    None), else as the pixel type ``fmt`` ("uint", "double": the stored values, unconverted)."""
    oiio = _oiio()
    with held_stderr() as held:
        data = inp.read_image(subimage, 0, first, first + nch, oiio.FLOAT if fmt is None else fmt)
    err = inp.geterror()
    if data is not None and not err:
        held.release()
    if data is None or err:
        msg = " ".join((err or oiio.geterror() or "unknown error").split())
        raise InputError(f"cannot read pixels (truncated or corrupt file): {msg}", file=path, frame=frame)
    data = np.asarray(data, dtype=np.float32) if fmt is None else np.asarray(data)
    if data.size != h * w * nch:
        raise InputError(f"read {data.size} values, expected {w}x{h}x{nch}", file=path, frame=frame)
    return data.reshape(h, w, nch)


def _read_exact(inp, subimage: int, formats: Sequence[str], offset: int, h: int, w: int, path: str,
                frame: Optional[int]) -> Dict[int, np.ndarray]:
    """The channels of ``subimage`` (stored as ``formats``) that a float32 cannot hold (32-bit
    integers, double) at their own type, as (h, w) float64 by channel index + ``offset``."""
    return {offset + c: _read_part(inp, subimage, 1, h, w, path, frame, c, fmt)[..., 0].astype(np.float64)
            for c, fmt in enumerate(formats) if fmt not in _FLOAT32_EXACT}


def _channel_formats(spec) -> List[str]:
    """Stored pixel type of each channel of an ImageSpec ("half", "float", "uint16"...)."""
    per_channel = list(spec.channelformats or ())
    if len(per_channel) == int(spec.nchannels):
        return [str(t) for t in per_channel]
    return [str(spec.format)] * int(spec.nchannels)


def _is_float_type(fmt) -> bool:
    oiio = _oiio()
    return fmt.basetype in (oiio.HALF, oiio.FLOAT, oiio.DOUBLE)


def read_image(path, frame: Optional[int] = None, *, max_pixels: int = DEFAULT_MAX_PIXELS,
               allow_nonfinite: bool = False, exact: bool = False, part: Optional[int] = None) -> ImageData:
    """Read all channels of one image file (or one frame of a pattern) as float32.

    ``path`` may be a pattern (``plate.####.exr``) when ``frame`` is given. Raises
    :class:`InputError` naming file, frame and problem for: missing file, empty, unreadable,
    wrong format, truncated, header larger than ``max_pixels`` (checked before any pixels are
    allocated), deep/volume images, and NaN/Inf values in the colour or alpha channels unless
    ``allow_nonfinite`` (extra channels such as depth may legitimately hold Inf). ``exact``:
    also read the channels a float32 cannot hold (32-bit integers, double) at their own type
    (:attr:`ImageData.exact_channels`, :meth:`ImageData.stored_values`), as IDs need.
    ``part``: the part of a multi-part EXR to read as the main one (its windows; the parts of
    its data window as extra channels) instead of the colour part.
    """
    path = _resolve(path, frame)
    inp, spec, main = _open_checked(path, frame, max_pixels)
    skipped: List[str] = []
    try:
        if part is not None and part != main:
            if not inp.seek_subimage(part, 0):
                raise InputError(f"has no part {part}", file=path, frame=frame)
            spec, main = _oiio().ImageSpec(inp.spec()), part
            _check_spec(spec, path, frame, max_pixels)
        h, w, nch = int(spec.height), int(spec.width), int(spec.nchannels)
        planes = [_read_part(inp, main, nch, h, w, path, frame)]
        channels = [str(c) for c in spec.channelnames]
        formats = _channel_formats(spec)
        exact_channels = _read_exact(inp, main, formats, 0, h, w, path, frame) if exact else None
        is_float = _is_float_type(spec.format)
        window = (spec.x, spec.y, spec.width, spec.height)
        # The other parts of a multi-part EXR with the colour part's data window become extra
        # channels; parts with another data window (or deep) are named in skipped_parts.
        sub = 0
        while inp.format_name() == "openexr" and sub < MAX_PARTS and inp.seek_subimage(sub, 0):
            if sub == main:
                sub += 1
                continue
            ps = inp.spec()
            part = str(ps.getattribute("name") or f"part{sub}")
            view = str(ps.getattribute("view") or "")
            if view and view != str(spec.getattribute("view") or view):
                skipped.append(f"{part} (view {view})")   # another view: not colourised
            elif (ps.x, ps.y, ps.width, ps.height) == window and not getattr(ps, "deep", False) \
                    and 0 < ps.nchannels <= MAX_CHANNELS:
                planes.append(_read_part(inp, sub, int(ps.nchannels), h, w, path, frame))
                channels += [c if c.startswith(part + ".") else f"{part}.{c}" for c in ps.channelnames]
                if exact:
                    exact_channels.update(_read_exact(inp, sub, _channel_formats(ps), len(formats),
                                                      h, w, path, frame))
                formats += _channel_formats(ps)
            else:
                why = "deep" if getattr(ps, "deep", False) else \
                    f"data window {describe((int(ps.x), int(ps.y), int(ps.width), int(ps.height)))}"
                skipped.append(f"{part} ({why})")
            sub += 1
        inp.geterror()  # seek past the last part sets an error on some readers: clear it
    finally:
        inp.close()
    pixels = planes[0] if len(planes) == 1 else np.concatenate(planes, axis=2)
    img = ImageData(pixels=pixels, channels=channels, spec=spec, path=path, frame=frame,
                    is_float_format=is_float, channel_formats=formats, exact_channels=exact_channels,
                    skipped_parts=skipped)
    if not allow_nonfinite and is_float:
        check_finite(img)
    return img


def check_finite(img: ImageData, channels: Optional[Sequence[int]] = None, what: str = "pixels") -> None:
    """InputError ``"N <what> are NaN/Inf"`` (file, frame, first position) when ``channels``
    (default: the colour and alpha channels) hold NaN or Inf."""
    if channels is None:
        channels = sorted(set(img.rgb_indices) | ({img.alpha_index} if img.alpha_index is not None else set()))
    bad = ~np.isfinite(img.pixels[..., list(channels)]).all(axis=2)
    n = int(bad.sum())
    if n:
        ys, xs = np.nonzero(bad)
        x0, y0 = img.origin
        raise InputError(f"{n} {what} are NaN/Inf (first at x={int(xs[0]) + x0}, y={int(ys[0]) + y0} "
                         f"from the top-left)", file=img.path, frame=img.frame,
                         hint="replace them upstream, e.g. with an Expression node: isnan(r) || isinf(r) ? 0 : r")


#: EXIF orientation (TIFF/JPEG ``Orientation``, 1-8) -> (transpose, flip rows, flip columns) that
#: turns the stored pixels into the picture as viewers show it (transpose first)
_ORIENTATIONS = {2: (False, False, True), 3: (False, True, True), 4: (False, True, False),
                 5: (True, False, False), 6: (True, False, True), 7: (True, True, True),
                 8: (True, True, False)}


def apply_orientation(img: ImageData) -> ImageData:
    """``img`` turned upright as its header's EXIF ``Orientation`` says (a phone photo stored
    sideways, tag 6: rotated 90 degrees clockwise for viewing), as every viewer and Nuke's Read
    show it; the spec follows (size, display window of a file without an offset one, pixel
    aspect inverted by a quarter turn, ``Orientation`` 1). ``img`` itself when upright (1, no
    tag, an unknown value) or when its windows are not plain (a data window within a larger
    display window: EXR and DPX, which have no orientation of their own)."""
    try:
        code = int(img.spec.getattribute("Orientation") or 1)
    except (TypeError, ValueError):
        return img
    how = _ORIENTATIONS.get(code)
    s = img.spec
    if how is None or (s.x, s.y, s.full_x, s.full_y, s.full_width, s.full_height) != \
            (0, 0, 0, 0, s.width, s.height):
        return img
    transpose, flip_rows, flip_cols = how

    def turn(a: np.ndarray) -> np.ndarray:
        a = np.swapaxes(a, 0, 1) if transpose else a
        return np.ascontiguousarray(a[::-1 if flip_rows else 1, ::-1 if flip_cols else 1])

    spec = _oiio().ImageSpec(s)
    if transpose:
        spec.width, spec.height = s.height, s.width
        spec.full_width, spec.full_height = s.height, s.width
        aspect = spec_pixel_aspect(s)
        if aspect != 1.0:
            spec.attribute("PixelAspectRatio", float(1.0 / aspect))
    spec.attribute("Orientation", 1)
    exact = None if img.exact_channels is None else {k: turn(v) for k, v in img.exact_channels.items()}
    return ImageData(pixels=turn(img.pixels), channels=list(img.channels), spec=spec, path=img.path,
                     frame=img.frame, is_float_format=img.is_float_format,
                     channel_formats=img.channel_formats, exact_channels=exact,
                     skipped_parts=list(img.skipped_parts))


#: sRGB's primaries as an ICC profile stores them (rXYZ, gXYZ, bXYZ: D50-adapted XYZ)
_SRGB_COLORANTS = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7139))
#: an ICC profile's description -> the colourspace of OpenImageIO's built-in OCIO config that holds it
_ICC_OCIO_NAMES = (("p3", "sRGB Encoded P3-D65"), ("adobe rgb", "Gamma 2.2 Encoded AdobeRGB"))


def _icc_colorants(profile: bytes) -> Optional[Tuple[Tuple[float, ...], ...]]:
    """(rXYZ, gXYZ, bXYZ) of a matrix/TRC ICC profile, None when it has none (or is damaged)."""
    import struct

    try:
        tags = {}
        for k in range(struct.unpack(">I", profile[128:132])[0]):
            sig, off, _ = struct.unpack(">4sII", profile[132 + 12 * k:144 + 12 * k])
            tags[sig] = off
        out = []
        for sig in (b"rXYZ", b"gXYZ", b"bXYZ"):
            off = tags[sig]
            if profile[off:off + 4] != b"XYZ ":
                return None
            out.append(tuple(v / 65536.0 for v in struct.unpack(">3i", profile[off + 8:off + 20])))
        return tuple(out)
    except (KeyError, struct.error):
        return None


def foreign_icc_profile(spec) -> Optional[Tuple[str, Optional[str]]]:
    """(description, OCIO name or None) of an embedded RGB ICC profile whose primaries are not
    sRGB's (Display P3, Adobe RGB: a photographer's or a phone's still), None without one or
    for an sRGB profile (by its colorants; a profile without them by its description).
    The OCIO name is the built-in config's colourspace for it, when known."""
    raw = spec.getattribute("ICCProfile")
    if raw is None or str(spec.getattribute("ICCProfile:color_space") or "RGB") != "RGB":
        return None
    desc = str(spec.getattribute("ICCProfile:profile_description") or "").strip() or "unnamed"
    colorants = _icc_colorants(bytes(np.asarray(raw, dtype=np.uint8)))
    if colorants is None:
        if "srgb" in desc.lower():
            return None
    elif all(abs(a - b) < 0.01 for got, want in zip(colorants, _SRGB_COLORANTS) for a, b in zip(got, want)):
        return None
    name = next((n for key, n in _ICC_OCIO_NAMES if key in desc.lower()), None)
    return desc, name


def read_spec(path, frame: Optional[int] = None, *, max_pixels: int = DEFAULT_MAX_PIXELS):
    """Copy of the file's ImageSpec, from the header only (no pixels are read)."""
    path = _resolve(path, frame)
    inp, spec, _ = _open_checked(path, frame, max_pixels)
    inp.close()
    return spec


def spec_pixel_aspect(spec) -> float:
    """The header's PixelAspectRatio (pixel width / height), 1.0 when absent or not a number
    between 1/1000 and 1000 (a broken attribute)."""
    try:
        v = float(spec.getattribute("PixelAspectRatio") or 1.0)
    except (TypeError, ValueError):
        return 1.0
    return v if math.isfinite(v) and 1e-3 < v < 1e3 else 1.0


LOG_TRANSFERS = ("printing density", "logarithmic")


def spec_log_encoded(spec) -> bool:
    """True for a header that declares Cineon-style printing-density log pixels."""
    transfer = str(spec.getattribute("dpx:Transfer") or "").strip().lower()
    tag = str(spec.getattribute("oiio:ColorSpace") or "").strip().lower()
    return transfer in LOG_TRANSFERS or tag in ("kodaklog", "cineon")


def image_size(path, frame: Optional[int] = None, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Tuple[int, int]:
    """(width, height) of the data window, from the header only."""
    spec = read_spec(path, frame, max_pixels=max_pixels)
    return int(spec.width), int(spec.height)


# ---------------------------------------------------------------- writing
def _family(path: str) -> str:
    return _FAMILY.get(os.path.splitext(path)[1].lower(), "other")


HALF_MAX = 65504.0


def _beyond_half(px: np.ndarray) -> bool:
    """True when a finite value of ``px`` is outside what a half float holds (|v| > 65504)."""
    if not px.size:
        return False
    lo, hi = float(px.min()), float(px.max())   # no temporary arrays: the common case
    if -HALF_MAX <= lo and hi <= HALF_MAX:
        return False
    finite = px[np.isfinite(px)]   # NaN, Inf or a large value: look at the finite ones only
    return bool(finite.size) and float(np.abs(finite).max()) > HALF_MAX


def _beyond_half_as_float(px: np.ndarray, channels: List[str], formats: List[str]) -> List[str]:
    """``formats`` with float for the channels half would turn to Inf (a value beyond 65504,
    e.g. a float plate's highlight or a depth of 1e10 for the sky): the colour channels
    together, every other channel on its own, so a far depth leaves the colour half."""
    rgb = sorted(set(channel_layout(channels)[0]))
    groups = [rgb] + [[i] for i in range(len(channels)) if i not in rgb]
    out = list(formats)
    for group in groups:
        if any(out[i] == "half" for i in group) and any(_beyond_half(px[..., i]) for i in group):
            for i in group:
                out[i] = "float"
    return out


def beyond_half_count(px: np.ndarray) -> int:
    """How many finite values of ``px`` half cannot hold (|v| > 65504)."""
    px = np.asarray(px)
    if not _beyond_half(px):
        return 0
    return int(np.count_nonzero(np.isfinite(px) & (np.abs(px) > HALF_MAX)))


def _clip_to_half(px: np.ndarray, formats: List[str]) -> np.ndarray:
    """``px`` with the finite values beyond half's range (65504) of the channels written half
    clipped to +-65504, the largest half (half would store them as Inf); NaN and Inf as they
    are. ``px`` itself when nothing is beyond."""
    half = [i for i, f in enumerate(formats) if f == "half"]
    if not any(_beyond_half(px[..., i]) for i in half):
        return px
    px = px.copy()
    for i in half:
        ch = px[..., i]
        big = np.isfinite(ch) & (np.abs(ch) > HALF_MAX)
        ch[big] = np.copysign(np.float32(HALF_MAX), ch[big])
    return px


def default_dtype(path: str, like: Optional[ImageData] = None) -> str:
    """Pixel type used when ``write_image`` gets no ``dtype``.

    .exr half (``write_image`` writes the channels holding values beyond half's range, 65504, as
    float instead); .dpx uint10, or uint12/uint16 when ``like`` is a 12- or 16-bit integer file
    (a 16-bit DPX or TIFF plate keeps its precision); .jpg uint8; .png uint16 when ``like`` is a 16-bit integer file, else
    uint8; .tif float when ``like`` is a float file, else uint16; other extensions float for float
    ``like``, else uint8.
    """
    fam = _family(path)
    like_float = bool(like is not None and like.is_float_format)
    like_16 = bool(like is not None and not like_float and str(like.spec.format) in ("uint16", "int16"))
    if fam == "openexr":
        return "half"
    if fam == "dpx":
        bits = _integer_bits(like) if like is not None and not like_float else 0
        return "uint16" if bits > 12 else "uint12" if bits > 10 else "uint10"
    if fam == "jpeg":
        return "uint8"
    if fam == "png":
        return "uint16" if like_16 else "uint8"
    if fam == "tiff":
        return "float" if like_float else "uint16"
    return "float" if like_float else "uint8"


def _integer_bits(img: ImageData) -> int:
    """Bits per sample of an integer file (a 12-bit DPX: 12, not the 16 it is read as)."""
    try:
        bits = int(img.spec.getattribute("oiio:BitsPerSample") or 0)
    except (TypeError, ValueError):
        bits = 0
    return bits or {"uint8": 8, "int8": 8, "uint16": 16, "int16": 16}.get(str(img.spec.format), 0)


def names_channels(path: str) -> bool:
    """True when a file of ``path``'s format stores channel names (EXR), so that a layer such as
    ``confidence.Y`` stays one: PNG, JPEG and DPX drop extra channels, a TIFF keeps them unnamed
    (read back as ``channelN``; a fourth one beside RGB is taken for alpha by position)."""
    return _family(path) == "openexr"


def _select_channels(pixels: np.ndarray, channels: List[str], fam: str) -> Tuple[np.ndarray, List[str]]:
    """Reduce to what the format can store: EXR/TIFF anything; PNG Y/YA/RGB/RGBA; JPEG Y/RGB;
    DPX Y/RGB/RGBA (luminance + alpha becomes RGBA). Extra channels are dropped for the latter."""
    idx, names = _kept_channels(channels, fam)
    if idx == list(range(len(channels))) and names == list(channels):
        return pixels, channels
    return np.ascontiguousarray(pixels[..., idx]), names


def _kept_channels(channels: List[str], fam: str) -> Tuple[List[int], List[str]]:
    """(indices of ``channels`` that a file of family ``fam`` stores, the names it writes them
    under): see :func:`_select_channels`."""
    if fam in _ANY_CHANNELS or fam == "other":
        return list(range(len(channels))), list(channels)
    rgb, a = channel_layout(channels)
    if fam == "jpeg":
        a = None
    lum = rgb[0] == rgb[1] == rgb[2]
    if lum and not (fam == "dpx" and a is not None):
        idx, names = [rgb[0]], ["Y"]
    else:
        idx, names = list(rgb), ["R", "G", "B"]
    if a is not None:
        idx.append(a)
        names.append("A")
    return idx, names


#: what each family is called in notes
_FORMAT_NAME = {"tiff": "TIFF", "png": "PNG", "jpeg": "JPEG", "dpx": "DPX"}


def channel_losses(path: str, channels: Sequence[str]) -> Tuple[List[str], Dict[str, str]]:
    """What :func:`write_image` to a file of ``path``'s format loses of ``channels``:
    ``(dropped, renamed)``. ``dropped``: channels the format has no place for (PNG keeps
    Y/YA/RGB/RGBA, JPEG Y/RGB, DPX Y/RGB/RGBA: a plate's alpha or extra channels such as
    ``depth.Z``); ``renamed``: channel -> the name it is read back under, for channels the
    format keeps without their name (a TIFF has no place for channel names: beyond colour and
    alpha, OpenImageIO's TIFF writer stores the values only, read back as ``channel<index>``).
    EXR keeps everything."""
    channels = [str(c) for c in channels]
    fam = _family(path)
    idx, _ = _kept_channels(channels, fam)
    dropped = [c for i, c in enumerate(channels) if i not in idx]
    renamed: Dict[str, str] = {}
    if fam == "tiff":
        rgb, a = channel_layout(channels)
        named = set(rgb) | ({a} if a is not None else set())
        renamed = {c: f"channel{i}" for i, c in enumerate(channels) if i not in named and c != f"channel{i}"}
    return dropped, renamed


def describe_channel_losses(path: str, channels: Sequence[str]) -> Optional[str]:
    """One sentence saying what a file of ``path``'s format loses of ``channels``
    (:func:`channel_losses`), naming the channels and the format, or None when it keeps them
    all. Formats with fixed layouts keep what they can (nothing is refused); this is the note
    that says so."""
    dropped, renamed = channel_losses(path, channels)
    if not dropped and not renamed:
        return None
    fmt = _FORMAT_NAME.get(_family(path), os.path.splitext(path)[1] or "this format")
    parts = []
    if renamed:
        moved = ", ".join(f"{c} as {n}" for c, n in renamed.items())
        alpha = "channel3" in renamed.values() and channel_layout(channels)[1] is None
        parts.append(f"{fmt} cannot store channel names: it writes {moved} (the values are kept, the "
                     "names lost" + ("; a 4th channel without a name is read as alpha" if alpha else "") + ")")
    if dropped:
        them = "it is" if len(dropped) == 1 else "they are"
        parts.append(f"{fmt} has no place for {', '.join(dropped)}: {them} not written")
    return "; ".join(parts) + "; write EXR (.exr) to keep every channel with its name"


def _carried_formats(channels: List[str], like: ImageData, base: str) -> List[str]:
    """Pixel type of each channel of a half EXR written ``like`` an input: the colour channels
    (and channels ``like`` does not have, e.g. a confidence layer) in ``base``; ``like``'s alpha
    and extra channels (matched by name) in half only where ``like`` stores them in half, else
    float, which holds every value read from a float or integer file exactly (alpha and depth
    pass through bit for bit)."""
    rgb, alpha = channel_layout(channels)
    like_index = {name: i for i, name in enumerate(like.channels)}
    out = []
    for i, name in enumerate(channels):
        src = like.alpha_index if i == alpha else (None if i in rgb else like_index.get(name))
        out.append(base if src is None or like.stored_format(src) == "half" else "float")
    return out


def _copy_attributes(spec, like: ImageData, fam: str) -> None:
    for attr in like.spec.extra_attribs:
        name = str(attr.name)
        if name in _SKIP_ATTRS:
            continue
        prefix = name.split(":", 1)[0] if ":" in name else ""
        if prefix in _FORMAT_PREFIXES and prefix != fam:
            continue
        try:
            spec.attribute(name, attr.type, attr.value)
        except Exception:  # an attribute OpenImageIO cannot re-create is simply not copied
            continue


def _check_protected(path: str, protected: Iterable) -> None:
    """OutputError when ``path`` is (by resolved path or inode) one of ``protected``.

    Entries may be plain paths or patterns (then every frame of the pattern is protected).
    """
    target_keys = file_keys(path)
    real_target = os.path.normcase(os.path.realpath(os.path.abspath(path)))
    for p in protected or ():
        if p is None:
            continue
        p = os.fspath(p)
        if is_pattern(p):
            real_p = os.path.normcase(os.path.realpath(os.path.abspath(p)))
            f = match_frame(real_p, real_target)
            if f is None:
                f = match_frame(os.path.abspath(p), os.path.abspath(path))
            if f is not None and target_keys & file_keys(frame_path(p, f)):
                raise OutputError("refusing to write over an input file", file=path,
                                  hint=f"it is frame {f} of the input {p}; choose another output path")
        elif target_keys & file_keys(p):
            raise OutputError("refusing to write over an input file", file=path,
                              hint=f"it is the input {p}; choose another output path")


def _as_bit_replicated_uint16(px: np.ndarray, bits: int) -> np.ndarray:
    """Round [0, 1] floats to ``bits``-bit codes and express them as exact 16-bit values.

    OpenImageIO's DPX writer keeps the top ``bits`` of each 16-bit value (truncation, up to one code
    off); handing it bit-replicated codes makes the stored code the rounded one.
    """
    top = (1 << bits) - 1
    code = np.round(np.clip(px, 0.0, 1.0) * top).astype(np.uint32)
    u16 = (code << (16 - bits)) | (code >> (2 * bits - 16))
    return (u16.astype(np.float32) / np.float32(65535.0)).astype(np.float32)


def write_image(path, pixels: np.ndarray, channels: Sequence[str], *, like: Optional[ImageData] = None,
                dtype: Optional[str] = None, compression: Optional[str] = None,
                attributes: Optional[Dict[str, Any]] = None, protected: Iterable = ()) -> None:
    """Write (H, W, C) float pixels with ``channels`` names to ``path``, atomically.

    ``dtype``: "half" | "float" | "uint8" | "uint16" | "uint10" | "uint12" (10/12 bit for DPX;
    other formats store them as uint16); default from the extension, see :func:`default_dtype`
    (an EXR of that default half writes channels holding values beyond half's range float; a
    ``dtype`` "half" given is kept, such values clipped to +-65504 rather than stored as Inf).
    Integer types store [0, 1] (values are clipped, NaN becomes 0). Pixel values are stored as
    given: colour is never (un)premultiplied by alpha (formats with unassociated alpha are tagged
    so, like a Nuke Write node writing its input unchanged; a TIFF, which can say either, says
    what ``like`` holds: associated for a premultiplied input such as an EXR).
    ``compression``: EXR default "zip", TIFF "zip", JPEG "jpeg:95" (OpenImageIO's names, as
    :func:`nuke_colorize.io.encoding.check_compression` gives them; a name OpenImageIO does not
    know is written as its default without a word). ``like``: copy its metadata
    (timecode, camera data, custom attributes; not its storage details, colourspace tag,
    chromaticities or ICC profile), pixel aspect and, when the pixels have its data-window
    size, the data window origin and display window; in a half EXR, the alpha and extra
    channels carried from ``like`` keep its pixel type where that is not half (a float plate's
    alpha, a float depth.Z stay float: bit-identical). ``attributes`` are set last (e.g.
    ``{"oiio:ColorSpace": "lin_rec709_scene"}``; a tuple of numbers as float[N], e.g.
    ``chromaticities``). ``protected``: input paths or patterns that must never be written:
    :class:`OutputError` (an InputError) if ``path`` resolves to one of them. Formats with
    fixed layouts drop what they cannot hold: PNG keeps
    Y/YA/RGB/RGBA, JPEG Y/RGB, DPX Y/RGB/RGBA; EXR and TIFF keep every channel, TIFF without
    the names beyond colour and alpha (:func:`channel_losses` says what a format loses).
    """
    oiio = _oiio()
    path = os.path.abspath(os.fspath(path))
    _check_protected(path, protected)
    px = np.asarray(pixels, dtype=np.float32)
    if px.ndim == 2:
        px = px[..., None]
    channels = [str(c) for c in channels]
    if px.ndim != 3 or px.shape[2] != len(channels) or px.shape[0] < 1 or px.shape[1] < 1:
        raise ValueError(f"pixels {px.shape} do not match {len(channels)} channel names {channels}")
    fam = _family(path)
    px, channels = _select_channels(px, channels, fam)
    auto = dtype is None
    if auto:
        dtype = default_dtype(path, like)
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
    if _DTYPES[dtype] not in ("half", "float"):
        px = np.nan_to_num(px, nan=0.0, posinf=1.0, neginf=0.0)
    h, w, nch = px.shape

    spec = oiio.ImageSpec(w, h, nch, _DTYPES[dtype])
    spec.channelnames = tuple(channels)
    if fam == "openexr" and _DTYPES[dtype] == "half":
        formats = _carried_formats(channels, like, "half") if like is not None else ["half"] * nch
        if auto:
            formats = _beyond_half_as_float(px, channels, formats)
        else:   # half asked for: kept, each value beyond its range clipped to it (not Inf)
            px = _clip_to_half(px, formats)
        if all(f == "float" for f in formats):
            spec = oiio.ImageSpec(w, h, nch, "float")
            spec.channelnames = tuple(channels)
        elif any(f != "half" for f in formats):
            spec.channelformats = tuple(oiio.TypeDesc(f) for f in formats)
    alpha_index = channel_layout(channels)[1]
    spec.alpha_channel = -1 if alpha_index is None else alpha_index
    if like is not None:
        _copy_attributes(spec, like, fam)
        if like.pixel_aspect != 1.0:
            spec.attribute("PixelAspectRatio", float(like.pixel_aspect))
        if (like.height, like.width) == (h, w):
            spec.x, spec.y = like.origin
            spec.full_x, spec.full_y, spec.full_width, spec.full_height = like.display_window
    if dtype in ("uint10", "uint12") and fam == "dpx":
        bits = 10 if dtype == "uint10" else 12
        spec.attribute("oiio:BitsPerSample", bits)
        px = _as_bit_replicated_uint16(px, bits)
    keeps_association = fam == "tiff" and like is not None and like.premultiplied
    if spec.alpha_channel >= 0 and fam != "openexr" and not keeps_association:
        spec.attribute("oiio:UnassociatedAlpha", 1)  # store the values as given, no un-premultiply
    comp = compression or {"openexr": "zip", "tiff": "zip", "jpeg": "jpeg:95"}.get(fam)
    if comp:
        spec.attribute("compression", comp)
    for name, value in (attributes or {}).items():
        if isinstance(value, (tuple, list)):   # e.g. chromaticities: float[8]
            spec.attribute(str(name), oiio.TypeDesc(f"float[{len(value)}]"), tuple(float(v) for v in value))
        else:
            spec.attribute(str(name), value)
    if not spec.getattribute("DateTime"):
        # the EXR and TIFF writers stamp the time of writing when no DateTime is given: an
        # empty one writes none, so a frame's bytes depend only on its inputs (a plate frame's
        # own DateTime, e.g. an EXR's, is carried as it is)
        spec.attribute("DateTime", "")

    with atomic_path(path) as tmp:
        out = oiio.ImageOutput.create(tmp)
        if out is None:
            raise OutputError(f"no writer for this file type: {' '.join(oiio.geterror().split())}"
                              .replace(tmp, path), file=path)
        (spec.x, spec.y, _, _), (spec.full_x, spec.full_y, spec.full_width, spec.full_height) = \
            _stored_windows(out.supports, fam, (spec.x, spec.y, w, h),
                            (spec.full_x, spec.full_y, spec.full_width, spec.full_height))
        if not out.open(tmp, spec):  # never write after a failed open: OpenImageIO may crash
            raise _write_failure(out.geterror(), path, tmp, px.nbytes)
        try:
            ok = out.write_image(np.ascontiguousarray(px))
            err = out.geterror()
        finally:
            closed = out.close()
        err = err or ("" if closed else out.geterror())
        if not ok or err:
            raise _write_failure(err, path, tmp, px.nbytes)
        if fam == "dpx":
            _set_dpx_file_name(tmp, os.path.basename(path))


def _stored_windows(supports, fam: str, data: Tuple[int, int, int, int],
                    display: Tuple[int, int, int, int]) -> Tuple[Tuple[int, int, int, int], Tuple[int, int, int, int]]:
    """The (data, display) windows, each ``(x, y, width, height)``, that a writer of family
    ``fam`` whose ``supports`` (OpenImageIO's ``ImageOutput.supports``) says what it can hold
    stores for ``data`` in ``display``: a DPX header keeps the display window's size, not its
    origin (both windows move so that the data window keeps its place in the format); a
    format without an origin (or a negative one) puts the data window at 0, 0; then, or
    without a display window, the file's picture is the data window, not shifted in a format."""
    x, y, w, h = data
    fx, fy, fw, fh = display
    if (fx or fy) and fam != "openexr" and supports("displaywindow"):
        x, y, fx, fy = x - fx, y - fy, 0, 0
    moved = (x or y) and not supports("origin") or (x < 0 or y < 0) and not supports("negativeorigin")
    if moved:
        x = y = 0
    if moved or not supports("displaywindow"):
        fx, fy, fw, fh = x, y, w, h
    return (x, y, w, h), (fx, fy, fw, fh)


def describe_window_losses(path: str, windows: Windows) -> Optional[str]:
    """One sentence saying what a file of ``path``'s format keeps of a plate's data and display
    ``windows`` when it cannot hold them as they are (:func:`write_image` stores what
    :func:`_stored_windows` says), or None when it keeps them (EXR always; any format for a
    data window that is the display window at 0, 0)."""
    fam = _family(path)
    if fam == "openexr":
        return None
    out = _oiio().ImageOutput.create(path)
    if out is None:
        return None
    data, display = _stored_windows(out.supports, fam, windows.data, windows.display)
    if (data, display) == (tuple(windows.data), tuple(windows.display)):
        return None
    fmt = _FORMAT_NAME.get(fam, os.path.splitext(path)[1] or "this format")
    placed = lambda d, f: (d[0] - f[0], d[1] - f[1], f[2], f[3])   # noqa: E731 (data in its format)
    if placed(data, display) == placed(windows.data, windows.display):
        return (f"{fmt} keeps the display window's size, not its origin: the plate's format "
                f"{describe(windows.display)} and data window {describe(windows.data)} are written moved "
                f"together to the format at (0, 0)")
    if tuple(data[:2]) == tuple(windows.data[:2]):
        return (f"{fmt} keeps the plate's data window {describe(windows.data)} but not its format "
                f"{describe(windows.display)}; write EXR (.exr) to keep the windows")
    return (f"{fmt} has no place for the plate's data window {describe(windows.data)} in its format "
            f"{describe(windows.display)}: the output's picture is the data window alone, at (0, 0); "
            f"write EXR (.exr) to keep the windows")


def _set_dpx_file_name(written: str, name: str) -> None:
    """Put ``name`` in a DPX file's header "file name" field (100 bytes at offset 36), where
    OpenImageIO records the path it wrote to: the temporary file's, different every time."""
    field = name.encode("utf-8")[:99]
    with open(written, "r+b") as fh:
        if fh.read(4) not in (b"SDPX", b"XPDS"):
            return
        fh.seek(36)
        fh.write(field + b"\0" * (100 - len(field)))


def check_writable(path) -> None:
    """Refuse at once what :func:`write_image` would refuse only after the work: ``path`` is a
    folder, its extension has no writer, or its folder exists but no file can be made in it
    (read-only, no permission). A folder that does not exist yet must be creatable: its
    nearest existing parent is a folder in which files can be made (a file in the way, or a
    read-only parent, is refused now, not after the first frame's work). Leaves nothing
    behind (the probe file is removed)."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise OutputError("cannot write: the output path is a folder", file=path)
    if _family(path) == "other":
        oiio = _oiio()
        out = oiio.ImageOutput.create(path)
        if out is None:
            msg = " ".join(oiio.geterror().split())
            raise OutputError(f"no writer for this file type: {msg}", file=path,
                              hint="use .exr, .tif, .png, .dpx or .jpg")
    folder = os.path.dirname(path)
    probe = temp_path_for(path)
    if not os.path.isdir(folder):
        parent = folder
        while not os.path.lexists(parent) and os.path.dirname(parent) != parent:
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent):
            raise OutputError(f"cannot create the output folder: {parent} is a file, not a folder", file=path,
                              hint="choose another output folder, or move that file")
        probe = os.path.join(parent, os.path.basename(probe))
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        where = "output folder" if os.path.isdir(folder) else f"folder {os.path.dirname(probe)}"
        raise OutputError(f"cannot write in the {where}: {exc.strerror or exc}", file=path) from None
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:
        pass


def _write_failure(err: str, path: str, tmp: str, nbytes: int) -> OutputError:
    """One-line OutputError for a failed write: names the final path (not the hidden temporary
    one) and says so when the disk is (nearly) full, which OpenImageIO's text does not."""
    text = " ".join((err or "unknown error").split()).replace(tmp, path)
    hint = None
    folder = os.path.dirname(path)
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if free is not None and free < max(int(nbytes), 1 << 16):
        hint = f"the disk is full: {free // 1024} KB free in {folder}"
    return OutputError(f"cannot write: {text}", file=path, hint=hint)
