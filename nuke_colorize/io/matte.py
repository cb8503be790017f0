"""Instance mattes from the compositor: one file per frame -> (H, W) int32 instance IDs.

0 is background, every other value one object. What the file holds decides how IDs are read,
and :func:`decode` reports which of these kinds it was (:class:`Matte`):

* **Cryptomatte** (kind ``cryptomatte``; an EXR with a ``<layer>00`` channel set, e.g.
  ``CryptoObject00.R/G/B/A``): the rank-0 ID (``00.R``, a float whose bits are the name hash)
  where its coverage (``00.G``) is > 0; the hash bits become the ID (masked to 30 bits), so
  the same object keeps its ID on every frame. Of several layers the object layer is read (a
  name with "object": ``CryptoObject``, ``crypto_object``), else the first
  (:func:`cryptomatte_layer`).
* **Several matte channels in a float file** (kind ``channels``; not RGB; e.g. ``obj1``,
  ``obj2`` or ``matte.car``, ``matte.person``): one channel per object, the strongest where it
  exceeds 0.5; the ID is a hash of the channel's name (:func:`channel_id`), so an object keeps
  its ID on every frame whatever other channels a file holds. A single such channel beside
  R/G/B/A (``car.alpha``), or alone, whose values stay within 0..1 is that one object, named
  alike (kind ``channels``); one with values above 1 is an ID pass (next rules, kind ``ids``).
* **Colour-coded IDs** (kind ``colours``; 3+ channels of an integer file, e.g. an
  indexed/palette PNG): each distinct colour one ID (black = background; 16-bit colours
  hashed, :func:`colour_ids`).
* **A shape in alpha** (kind ``shape``; black R/G/B, the shape in A: what a Roto or RotoPaint
  node writes): one object where alpha > 0.5 (an alpha without a shape, constant, is not read).
* **One channel**: integer files: the stored integer value (8-bit 0..255, 16-bit 0..65535;
  kind ``ids``); float files: the rounded value when any exceeds 1 (an ID pass, kind ``ids``),
  otherwise > 0.5 -> 1 (kind ``single``).

The kinds whose IDs name the object (:data:`BY_NAME`: Cryptomatte, object channels) keep an
object's ID on every frame; the others are numbers that may be arbitrary per frame (an
instance segmentation's output) or a single object. The backends' ``matte_ids`` setting
(``auto``) takes the first as given and associates the others over time
(:mod:`nuke_colorize.correspond.instances`).

NaN or Inf in the channels read for IDs (float files) is refused, naming file, frame and
where (:class:`~nuke_colorize.errors.InputError`).

A matte with the plate's display window (format) is placed by its data window, as a
compositor lines up a matte with its own bounding box: the plate's data window is taken,
pixels outside the matte's data window are background (0). A matte of another format is
resampled (nearest) when it has the plate's aspect; when the plate's data window is cropped
or overscan, a matte (without windows of its own) of the aspect of the plate's format is
that format at another resolution: scaled to it, then placed.

Channel names: only top-level ``R``/``G``/``B``/``A`` (``red`` ... ``alpha``, ``Y``) and
the ``rgba.`` layer's are colour / alpha channels; a channel of any other layer is an object
channel whatever its last component (``car.alpha``, ``person.alpha``, ``matte.a``,
``matte.b``).

Frames without a matte file are allowed (``None``): the IDs are carried along the optical
flow from the frames that have one (see :mod:`nuke_colorize.correspond.instances`); a
pattern that names no file on any frame of the range is refused (:func:`check_pattern`).
"""
from __future__ import annotations

import os
import re
import zlib
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError
from .image import ImageData, check_finite, read_image
from .sequence import format_frames, frame_path
from .windows import Windows, place, same_format

_CRYPTO = re.compile(r"^(.*?)00\.(r|red)$", re.IGNORECASE)
_RGBA = {"r", "g", "b", "a", "red", "green", "blue", "alpha", "y"}
_COLOUR_LAYERS = {"", "rgba", "rgb"}   # layers whose r/g/b/a channels are colour / alpha

#: what a matte file held (:func:`decode`)
CRYPTOMATTE, CHANNELS, COLOURS, SHAPE, IDS, SINGLE = "cryptomatte", "channels", "colours", "shape", "ids", "single"
#: kinds whose IDs are derived from the object's name: the same object has the same ID on
#: every frame (a Cryptomatte hash, an object's own channel)
BY_NAME = frozenset({CRYPTOMATTE, CHANNELS})


class Matte(NamedTuple):
    """One decoded matte: ``ids`` (H, W) int32 instance IDs and the ``kind`` of file they were
    read from (one of the module's kind names, see its docstring)."""

    ids: np.ndarray
    kind: str


def channel_role(name: str) -> str:
    """What a matte channel name is for ``ids_from_image``: its lower-case colour/alpha name
    (``r``, ``alpha``, ...) for a top-level or ``rgba.`` channel, else ``""`` (an object
    channel: ``obj1``, ``car.alpha``, ``matte.a``, ``matte.b``)."""
    layer, _, last = name.lower().rpartition(".")
    return last if layer in _COLOUR_LAYERS and last in _RGBA else ""


def channel_id(name: str) -> int:
    """The instance ID of an object channel: a hash of its name (CRC-32 masked to 30 bits,
    never 0), the same in every file that has the channel, whatever other channels the file
    holds or in what order (a channel's position would renumber the objects of a file that
    lacks one of them)."""
    return max(1, zlib.crc32(name.encode("utf-8")) & 0x3FFFFFFF)


def cryptomatte_layer(channels: Sequence[str]) -> Optional[Tuple[int, int]]:
    """(rank-0 ID channel index, its coverage channel index) of the file's Cryptomatte layer,
    or None. With several layers (renderers write ``CryptoAsset``, ``CryptoMaterial`` and
    ``CryptoObject``, stored in alphabetical order) the first whose name contains "object"
    is taken: instances are objects, not materials; else the first layer."""
    names = list(channels)
    lower = [c.lower() for c in names]
    found = []
    for i, c in enumerate(names):
        m = _CRYPTO.match(c)
        if not m:
            continue
        base = m.group(1).lower()
        for cov in (base + "00.g", base + "00.green"):
            if cov in lower:
                found.append((base, (i, lower.index(cov))))
                break
    objects = [pair for base, pair in found if "object" in base]
    return (objects or [pair for _, pair in found] or [None])[0]


def _int_values(img: ImageData, ch: int) -> np.ndarray:
    scale = {np.uint8: 255.0, np.uint16: 65535.0}.get(_storage(img), 255.0)
    return np.rint(img.pixels[..., ch] * scale).astype(np.int32)


def _storage(img: ImageData):
    fmt = str(getattr(img.spec, "format", "")).lower()
    return np.uint16 if "16" in fmt and "half" not in fmt else np.uint8


def _check_finite(img: ImageData, channels: Sequence[int]) -> None:
    """InputError naming file, frame, count and first position when the matte channels used
    for IDs hold NaN or Inf (a NaN cast to int32 would be a bogus ID -2147483648)."""
    check_finite(img, channels, what="matte pixels")


def colour_ids(r: np.ndarray, g: np.ndarray, b: np.ndarray, bits: int = 8) -> np.ndarray:
    """(H, W) int32 IDs of a colour-coded matte from its integer channels (0 .. 2**bits - 1):
    8-bit colours as r + 256 g + 65536 b (exact); a 16-bit colour's 48 bits folded to 30 by a
    multiplicative hash (distinct colours collide with odds ~n^2 / 2^31; the product
    r + 256 g + 65536 b overflowed int32 and merged colours such as (256, 0, 0) and (0, 1, 0)).
    Black is 0 either way, and no ID is negative."""
    r, g, b = (np.asarray(c, np.int64) for c in (r, g, b))
    if bits <= 8:
        return (r + 256 * g + 65536 * b).astype(np.int32)
    key = (r | (g << 16) | (b << 32)).astype(np.uint64)
    folded = ((key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(34)).astype(np.int64)
    return np.where(key == 0, 0, np.maximum(folded, 1)).astype(np.int32)


def ids_from_image(img: ImageData) -> np.ndarray:
    """Instance IDs of one decoded matte image (rules in the module docstring)."""
    return decode(img).ids


def decode(img: ImageData) -> Matte:
    """Instance IDs of one decoded matte image and the kind of matte it was (rules in the
    module docstring)."""
    px = img.pixels
    crypto = cryptomatte_layer(img.channels)
    if crypto is not None:
        idc, covc = crypto
        _check_finite(img, [idc, covc])
        bits = np.ascontiguousarray(px[..., idc], dtype=np.float32).view(np.uint32)
        ids = (bits & np.uint32(0x3FFFFFFF)).astype(np.int32)
        ids[(px[..., covc] <= 0) | (ids == 0)] = 0
        return Matte(ids, CRYPTOMATTE)
    names = [channel_role(c) for c in img.channels]
    non_colour = [i for i, n in enumerate(names) if not n]
    if img.is_float_format and len(non_colour) >= 2:
        _check_finite(img, non_colour)
        mats = px[..., non_colour]
        best = mats.argmax(axis=2)
        strong = mats.max(axis=2) > 0.5
        lut = np.array([channel_id(img.channels[i]) for i in non_colour], np.int32)
        return Matte(np.where(strong, lut[best], 0).astype(np.int32), CHANNELS)
    colour = [i for i, n in enumerate(names) if n in ("r", "g", "b", "red", "green", "blue")]
    shape = _alpha_shape(img, names, colour)
    if shape is not None:
        return Matte(shape, SHAPE)
    if not img.is_float_format and len(colour) >= 3:
        return Matte(colour_ids(*(_int_values(img, c) for c in colour[:3]),
                                bits=16 if _storage(img) is np.uint16 else 8), COLOURS)
    ch = colour[0] if colour else 0
    named = img.is_float_format and len(non_colour) == 1
    if named:
        ch = non_colour[0]          # one object channel beside R/G/B/A: that object, not R
    if not img.is_float_format:
        return Matte(_int_values(img, ch), IDS)
    _check_finite(img, [ch])
    v = px[..., ch]
    if float(np.nanmax(v)) > 1.0:
        return Matte(np.rint(np.clip(v, 0, 2 ** 30)).astype(np.int32), IDS)
    if named:                       # one object, named by its channel
        return Matte(np.where(v > 0.5, channel_id(img.channels[ch]), 0).astype(np.int32), CHANNELS)
    return Matte((v > 0.5).astype(np.int32), SINGLE)


def _alpha_shape(img: ImageData, names: Sequence[str], colour: Sequence[int]) -> Optional[np.ndarray]:
    """(H, W) int32 0/1 of a shape matte: black colour channels and the shape in alpha (what a
    Roto or RotoPaint node writes), alpha > 0.5 being the object; None for any other image
    (colour that is not all 0, no alpha, or an alpha without a shape: constant)."""
    alpha = [i for i, n in enumerate(names) if n in ("a", "alpha")]
    if not alpha or not colour or np.any(img.pixels[..., list(colour)]):
        return None
    a = img.pixels[..., alpha[0]]
    if img.is_float_format:
        _check_finite(img, [alpha[0]])
    if float(a.min()) == float(a.max()):
        return None
    return (a > 0.5).astype(np.int32)


def check_pattern(pattern: str, frames: Sequence[int]) -> None:
    """Refuse a matte pattern (or single file) that names no existing file on any of
    ``frames``: mattes may be missing on some frames, but none at all is a wrong pattern
    (a typo, the wrong padding or folder), not a shot without mattes."""
    frames = list(frames)
    if not frames or any(os.path.isfile(frame_path(pattern, f)) for f in frames):
        return
    rng = format_frames(frames)
    raise InputError(f"the matte pattern matches no file in frames {rng} (mattes may be "
                     f"missing on some frames, not on all)", file=pattern,
                     hint="check its folder, name and padding, #### being 4 digits, or leave out "
                          "the mattes")


class MatteReader:
    """frame -> (H, W) int32 IDs at the plate's size, or None when that frame has no file
    (:meth:`read`: the IDs with the kind of matte they came from, a :class:`Matte`).

    Args:
        pattern: matte pattern (``matte.####.png``) or a single file used for every frame.
        plate_size: (width, height) of the plate's data window.
        plate_windows: frame -> the plate frame's :class:`~nuke_colorize.io.windows.Windows`
            (None: the plate has none). A matte with the plate's display window is placed by
            its data window (outside it: 0); one of the format's aspect at another resolution
            is scaled to the format and placed alike; other mattes of the plate's aspect are
            resampled (nearest), another aspect is refused.
    """

    def __init__(self, pattern: str, plate_size: Tuple[int, int],
                 plate_windows: Optional[Callable[[int], Windows]] = None):
        self.pattern = pattern
        self.plate_size = (int(plate_size[0]), int(plate_size[1]))
        self.plate_windows = plate_windows
        self.read_files: List[str] = []

    def path(self, frame: int) -> str:
        return frame_path(self.pattern, frame)

    def __call__(self, frame: int) -> Optional[np.ndarray]:
        m = self.read(frame)
        return m.ids if m is not None else None

    def read(self, frame: int) -> Optional[Matte]:
        """This frame's :class:`Matte` at the plate's size, or None (no file)."""
        path = self.path(frame)
        if not os.path.exists(path):
            return None
        img = read_image(path, frame, allow_nonfinite=True)   # errors name the frame too
        ids, kind = decode(img)
        self.read_files.append(path)
        if self.plate_windows is not None:
            plate = self.plate_windows(frame)
            if same_format(img.windows, plate):
                ids = place(ids, img.windows.data, plate.data, fill=0)
            elif plate.data != plate.display and img.windows.data == img.windows.display \
                    and _same_aspect(ids.shape[::-1], plate.display[2:]):
                # the plate's format at another resolution (a proxy): scaled to the format, then
                # placed on the plate's cropped or overscan data window as a same-format matte
                ids = place(resize_ids(ids, plate.display[2:]), plate.display, plate.data, fill=0)
        h, w = ids.shape
        pw, ph = self.plate_size
        if (w, h) != (pw, ph):
            if not _same_aspect((w, h), (pw, ph)):
                raise InputError(f"matte is {w}x{h} but the plate is {pw}x{ph} (another shape)",
                                 file=path, frame=frame, hint="render the matte at the plate's format")
            ids = resize_ids(ids, (pw, ph))
        return Matte(ids, kind)


def _same_aspect(a: Tuple[int, int], b: Tuple[int, int]) -> bool:
    """Two (w, h) sizes of the same aspect within 1%."""
    return abs((a[0] / a[1]) / (b[0] / b[1]) - 1.0) <= 0.01


def resize_ids(ids: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resample of an (H, W) ID map to ``size`` = (w, h), exact for any
    integer (no float round trip: Cryptomatte hashes do not fit a float32)."""
    h, w = ids.shape
    tw, th = int(size[0]), int(size[1])
    if (tw, th) == (w, h):
        return np.asarray(ids, np.int32)
    ys = np.minimum(((np.arange(th) + 0.5) * h / th).astype(np.int64), h - 1)
    xs = np.minimum(((np.arange(tw) + 0.5) * w / tw).astype(np.int64), w - 1)
    return np.asarray(ids, np.int32)[ys[:, None], xs[None, :]]
