"""Instance mattes from the compositor: one file per frame -> (H, W) int32 instance IDs.

0 is background, every other value one object. What the file holds decides how IDs are read,
and :func:`decode` reports which of these kinds it was (:class:`Matte`):

* **Cryptomatte** (kind ``cryptomatte``; an EXR with a ``<layer>00`` channel set, e.g.
  ``CryptoObject00.R/G/B/A``): the rank-0 ID (``00.R``, a float whose 32 bits are the name
  hash) where its coverage (``00.G``) is > 0; the hash becomes the ID (:func:`id_of`), so the
  same object keeps its ID on every frame. Of several layers the object layer is read (a
  name with "object": ``CryptoObject``, ``crypto_object``), else the first
  (:func:`cryptomatte_layer`). A layer stored as half float is refused (the hashes lost bits).
  In a multi-part EXR whose colour part has another data window (a beauty cropped to its
  bounding box), the part holding the Cryptomatte is read, with its own windows.
* **Several matte channels in a float file** (kind ``channels``; not RGB; e.g. ``obj1``,
  ``obj2`` or ``matte.car``, ``matte.person``): one channel per object, the strongest where it
  exceeds 0.5; the ID is the CRC-32 of the channel's name (:func:`channel_id`), so an object keeps
  its ID on every frame whatever other channels a file holds. A single such channel beside
  R/G/B/A (``car.alpha``), or alone, whose values stay within 0..1 is that one object, named
  alike (kind ``channels``); one with values above 1 is an ID pass (next rules, kind ``ids``).
* **Colour-coded IDs** (kind ``colours``; 3+ channels of an 8- or 16-bit integer file, e.g.
  an indexed/palette PNG): each distinct colour one ID (black = background; 8-bit colours
  r + 256 g + 65536 b, 16-bit ones r + 65536 g + 2^32 b through :func:`id_of`); an
  anti-aliased one's edge colours (blends filling no 3x3 block, more than
  :data:`EDGE_COLOURS`) take their nearest pixel's colour (:func:`colour_edges_to_nearest`).
* **A shape in alpha** (kind ``shape``; black R/G/B, the shape in A: what a Roto or RotoPaint
  node writes): one object where alpha > 0.5 (an alpha without a shape, constant, is not read).
* **One channel**: an integer channel: the stored integer (8-bit 0..255, 16-bit 0..65535,
  32-bit read exactly; kind ``ids``; one object with a soft edge, 0, its largest value and
  values between that fill no 3x3 block, is that object where above half of it:
  :func:`_soft_single`); a float channel: each value is one ID when any exceeds 1
  (an ID pass, kind ``ids``; values within 1e-4, or a millionth, of a whole number are that
  number: float maths leaves 2.9999998 where 3 was written; in a filtered pass, holding more than
  :data:`EDGE_VALUES` distinct other values, an anti-aliased edge value takes its nearest
  pixel's ID, :func:`edges_to_nearest`), otherwise > 0.5 -> 1 (kind ``single``). An ID pass stored as half
  float with values from 2048 up is refused: half rounds such whole numbers (2049 is stored as
  2048, 3001 as 3000), so objects may have merged before the file was written.

The values become int32 IDs by :func:`id_of`: whole numbers from 1 to 2^30 - 1 are kept as
they are; any other value (2^30 and above, a negative number, a fraction, a Cryptomatte
hash) is folded into [2^30, 2^31) by a hash of its bits, so that distinct values stay
distinct and a value is the same ID on every frame. Two values of one file that fold to one
ID (odds ~n^2 / 2^31 for n folded values), or two object channels whose names' CRC-32 do, are
refused naming both, never merged into one object. Values that fold together on different
frames are not detected.

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
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

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


#: IDs from 1 to ID_LIMIT - 1 are kept as the file gives them; any other value (a larger or a
#: negative number, a fraction, a 32-bit hash) is folded into [ID_LIMIT, 2 * ID_LIMIT) (:func:`id_of`)
ID_LIMIT = 1 << 30
_HALF_APART = 2048          # half floats keep whole numbers apart below 2^11 (2049 is stored as 2048)
_FLOAT_TYPES = ("half", "float", "double")   # stored pixel types of float channels


def _kept(v: np.ndarray) -> np.ndarray:
    """Where float64 ID values are their own IDs: whole numbers from 0 to ID_LIMIT - 1."""
    return (v >= 0) & (v < ID_LIMIT) & (v == np.floor(v))


def _mix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser of uint64 ``x``: a bijection whose every output bit depends
    on every input bit (a float's bits have long runs of zeros: a plain multiplicative hash of
    them collides several times as often as chance)."""
    for shift, mul in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        x = (x ^ (x >> np.uint64(shift))) * np.uint64(mul)
    return x ^ (x >> np.uint64(31))


def id_of(values) -> np.ndarray:
    """Instance IDs (int64) of stored ID values (any shape, float64-exact): 0 stays 0
    (background), a whole number from 1 to ID_LIMIT - 1 is its own ID, any other value is
    folded into [ID_LIMIT, 2 * ID_LIMIT) by a hash of its float64 bits (:func:`_mix64`, top 30
    bits). The same value gives the same ID in every file; two values that fold together are
    refused where a file holds both (:func:`_pack`)."""
    v = np.array(values, np.float64)
    flat = v.reshape(-1)                     # 1-D: uint64 products wrap silently (0-d ones warn)
    folded = (_mix64(flat.view(np.uint64)) >> np.uint64(34)).astype(np.int64) + ID_LIMIT
    return np.where(_kept(flat), flat, folded).astype(np.int64).reshape(v.shape)


def _pack(img: ImageData, values: np.ndarray, name: Callable[[float], str], hint: str) -> np.ndarray:
    """(H, W) int32 IDs (:func:`id_of`) of (H, W) stored ID values of ``img``. Two distinct values
    folded to one ID would be one object: refused (:func:`_refuse_merged`; ``name`` says what a
    value is, ``hint`` what to do)."""
    values = np.asarray(values, np.float64)
    kept = _kept(values)
    ids = np.where(kept, values, 0).astype(np.int32)
    if not kept.all():
        distinct, index = np.unique(values[~kept], return_inverse=True)
        folded = id_of(distinct)
        _refuse_merged(img, [name(v) for v in distinct], folded, hint)
        ids[~kept] = folded[index.reshape(-1)]
    return ids


def _refuse_merged(img: ImageData, names: Sequence[str], ids: Sequence[int], hint: str) -> None:
    """InputError naming file, frame and two objects (``names``) of one file that got one ID
    (``ids``, one per name): they would be read as one object."""
    first: Dict[int, str] = {}
    for n, i in zip(names, (int(i) for i in ids)):
        if i in first:
            raise InputError(f"two objects of the matte, {first[i]} and {n}, get one instance ID ({i}): "
                             f"they would be read as one object", file=img.path, frame=img.frame, hint=hint)
        first[i] = n


def channel_id(name: str) -> int:
    """The instance ID of an object channel: its name's CRC-32 (never 0) as :func:`id_of` packs
    it, the same in every file that has the channel, whatever other channels the file holds
    or in what order (a channel's position would renumber the objects of a file that lacks one
    of them). Two channels of one file with one ID are refused (:func:`_refuse_merged`)."""
    return int(id_of(max(1, zlib.crc32(name.encode("utf-8")))))


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


def _cryptomatte_ids(img: ImageData, idc: int, covc: int) -> np.ndarray:
    """(H, W) int32 IDs of a Cryptomatte layer: the rank-0 hash (``idc``: its 32 bits stored
    as a float32) where its coverage (``covc``) is > 0, packed by :func:`_pack`. A layer
    stored as half float is refused: the hashes lost their low bits, objects may merge."""
    if img.stored_format(idc) == "half":
        raise InputError(f"the Cryptomatte channel {img.channels[idc]} is stored as half float, which keeps "
                         f"only part of each object's hash (objects may merge)", file=img.path, frame=img.frame,
                         hint="write the Cryptomatte layers as 32-bit float")
    _check_finite(img, [idc, covc])
    bits = np.ascontiguousarray(img.pixels[..., idc], dtype=np.float32).view(np.uint32)
    hashes = np.where(img.pixels[..., covc] > 0, bits, 0)
    return _pack(img, hashes, lambda h: f"hash {int(h):08x}", "rename one of the two objects")


def _channel_ids(img: ImageData, channels: Sequence[int]) -> np.ndarray:
    """(H, W) int32 IDs of one float channel per object: the strongest where it exceeds 0.5,
    its ID :func:`channel_id`; two channels of one ID are refused."""
    _check_finite(img, channels)
    names = [img.channels[i] for i in channels]
    lut = np.array([channel_id(n) for n in names], np.int32)
    _refuse_merged(img, [f"channel {n}" for n in names], lut, "rename one of the two channels")
    mats = img.pixels[..., list(channels)]
    return np.where(mats.max(axis=2) > 0.5, lut[mats.argmax(axis=2)], 0).astype(np.int32)


def _colour_ids(img: ImageData, channels: Sequence[int]) -> np.ndarray:
    """(H, W) int32 IDs of a colour-coded matte (integer channels r, g, b): the colour as the
    number r + n g + n^2 b (n = 256 for 8-bit colours: exact IDs; 65536 for 16-bit ones:
    folded above 2^30) packed by :func:`_pack`; black is 0. Wider integers are refused."""
    formats = {img.stored_format(c) for c in channels}
    if not formats <= {"uint8", "uint16"}:
        raise InputError(f"a colour-coded ID matte in {'/'.join(sorted(formats))} channels is not read "
                         f"(8 or 16 bits)", file=img.path, frame=img.frame,
                         hint="write it as an 8- or 16-bit PNG or TIFF, or the IDs in one channel")
    n = 65536.0 if "uint16" in formats else 256.0
    r, g, b = (img.stored_values(c) for c in channels)

    def colour(k: float) -> str:
        return f"colour ({int(k % n)}, {int(k // n % n)}, {int(k // (n * n))})"
    return _pack(img, colour_edges_to_nearest(r + n * g + n * n * b), colour, "recolour one of the two objects")


def _id_pass(img: ImageData, ch: int, values: np.ndarray) -> np.ndarray:
    """(H, W) int32 IDs of a one-channel ID pass (``values``: channel ``ch`` as stored) by
    :func:`_pack`. A half-float channel holding values from 2048 up is refused: half keeps
    whole numbers apart only below 2048 (2049 is stored as 2048, 3001 as 3000), so objects may
    have merged before the file was written."""
    top = float(np.abs(values).max())
    if img.stored_format(ch) == "half" and top >= _HALF_APART:
        raise InputError(f"the ID channel {img.channels[ch]} is stored as half float and holds IDs up to "
                         f"{top:g}: half keeps whole numbers apart only below {_HALF_APART} (2049 is "
                         f"stored as 2048, 3001 as 3000), so objects may have merged",
                         file=img.path, frame=img.frame, hint="write the ID matte as 32-bit float")
    return _pack(img, edges_to_nearest(snap_whole(values)), lambda v: f"ID {v:.17g}",
                 f"number the objects with whole numbers from 1 to {ID_LIMIT - 1}")


#: An ID pass holding more distinct non-whole values than this is a filtered (anti-aliased) one:
#: its edge pixels mix the IDs on either side, each a value of its own (a 1080p pass through a
#: Gaussian filter: 15 000 - 20 000 of them a frame), not objects (:func:`edges_to_nearest`).
EDGE_VALUES = 1000


def edges_to_nearest(values: np.ndarray) -> np.ndarray:
    """Float64 ID values (after :func:`snap_whole`) with the anti-aliased edges of a filtered ID
    pass given the value of their nearest other pixel. An edge is a non-whole value that fills
    no 3x3 block anywhere (no interior: a mix of the IDs around it), in a pass holding more
    than :data:`EDGE_VALUES` distinct non-whole values. Each such value was its own object, a
    one-pixel sliver; with some 20 000 of them folding into 2^30 IDs, two collided on about
    one 1080p frame in six and the matte was refused. A pass with fewer, and non-whole values
    that fill a block (an object numbered 2.5), are read as before: each value its own object."""
    v = np.asarray(values, np.float64)
    frac = v != np.floor(v)
    if frac.all() or len(np.unique(v[frac])) <= EDGE_VALUES:
        return v
    return _to_nearest(v, frac & ~np.isin(v, np.unique(v[_interior(v) & frac])))


def _interior(v: np.ndarray) -> np.ndarray:
    """Where a pixel's 3x3 block holds its value only (an object's inside, not an edge)."""
    import cv2

    block = np.ones((3, 3), np.uint8)
    return (cv2.erode(v, block) == v) & (cv2.dilate(v, block) == v)


def _to_nearest(v: np.ndarray, edge: np.ndarray) -> np.ndarray:
    """``v`` with the ``edge`` pixels given the value of their nearest other pixel."""
    import cv2

    if not edge.any() or edge.all():
        return v
    # label of each pixel's nearest non-edge pixel (labels number those in raster order from 1)
    _, labels = cv2.distanceTransformWithLabels(edge.astype(np.uint8), cv2.DIST_L2, 3,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    return np.where(edge, v[~edge][labels - 1], v)


#: A colour-coded matte with more distinct colours than this that fill no 3x3 block is an
#: anti-aliased one (painted with a soft brush, resized): those colours are its edges
EDGE_COLOURS = 16


def colour_edges_to_nearest(values: np.ndarray) -> np.ndarray:
    """Colour-coded ID values with an anti-aliased matte's edge colours (no 3x3 block of their
    own anywhere, more than :data:`EDGE_COLOURS` of them) given their nearest pixel's colour:
    each blend of two objects' colours was an object of its own (700-900 a frame for six
    anti-aliased discs). A matte with fewer such colours is read as before."""
    v = np.asarray(values, np.float64)
    held = np.unique(v[_interior(v)])
    loose = ~np.isin(v, held)
    if len(np.unique(v[loose])) <= EDGE_COLOURS:
        return v
    return _to_nearest(v, loose)


def _soft_single(values: np.ndarray) -> Optional[np.ndarray]:
    """(H, W) int32 IDs of a one-channel integer matte that is one object with a soft edge (a
    feathered roto or a resized mask saved as an 8-bit grey PNG: 0, its largest value, and
    values between them that fill no 3x3 block anywhere): the largest value where above half of
    it, as the same object's hard frames read, else 0. None for any other matte (nothing
    between, a value between that fills a block: an ID of its own, or a largest value that
    fills none). Each edge value was
    an object of its own (up to 254 a frame), none of them the keyframe's object."""
    top = float(values.max())
    mid = (values > 0) & (values < top)
    if top <= 0 or not mid.any():
        return None
    v = np.asarray(values, np.float32)   # 8/16-bit codes: exact
    interior = _interior(v)
    if (mid & interior).any() or not (interior & (v == top)).any():
        return None
    return np.where(v * 2 > top, int(top), 0).astype(np.int32)


#: How far a float ID may be from a whole number and still be that number: this much, or
#: :data:`SNAP_RELATIVE` of the value if more. Float32 maths on an ID pass (an unpremultiply, a
#: colourspace round trip) leaves 2.9999998 where 3 was written (~1e-7 of the value per step).
SNAP_TOLERANCE = 1e-4
SNAP_RELATIVE = 1e-6


def snap_whole(values: np.ndarray) -> np.ndarray:
    """Float64 ID values with those near a whole number (:data:`SNAP_TOLERANCE`,
    :data:`SNAP_RELATIVE`) replaced by it; any other value (an anti-aliased edge between two
    IDs, 2.6) is left as it is and stays its own object (:func:`id_of`)."""
    v = np.asarray(values, np.float64)
    whole = np.round(v)
    near = np.abs(v - whole) <= np.maximum(SNAP_TOLERANCE, SNAP_RELATIVE * np.abs(whole))
    return np.where(near, whole, v)


def _check_finite(img: ImageData, channels: Sequence[int]) -> None:
    """InputError naming file, frame, count and first position when the matte channels used
    for IDs hold NaN or Inf (a NaN cast to int32 would be a bogus ID -2147483648)."""
    check_finite(img, channels, what="matte pixels")


def read_matte_image(path: str, frame: Optional[int] = None) -> ImageData:
    """One matte file (or a pattern's frame) read as :func:`decode` needs it: NaN/Inf left for
    :func:`decode` to refuse where it reads IDs, 32-bit integer and double channels exactly."""
    img = read_image(path, frame, allow_nonfinite=True, exact=True)
    if img.skipped_parts and cryptomatte_layer(img.channels) is None:
        # a Cryptomatte in a part of another data window than the colour part's (a beauty
        # cropped to its bounding box): read that part; the colour part's R was read instead
        part = _cryptomatte_part(img.path)
        if part is not None:
            img = read_image(path, frame, allow_nonfinite=True, exact=True, part=part)
    return img


def _cryptomatte_part(path: str) -> Optional[int]:
    """The part of a multi-part EXR holding a Cryptomatte layer (an object layer's first,
    :func:`cryptomatte_layer`), or None."""
    from .image import MAX_PARTS, _oiio

    inp = _oiio().ImageInput.open(path)
    if inp is None:
        return None
    try:
        found = []
        sub = 0
        while sub < MAX_PARTS and inp.seek_subimage(sub, 0):
            names = list(inp.spec().channelnames)
            layer = cryptomatte_layer(names)
            if layer is not None and not getattr(inp.spec(), "deep", False):
                found.append((sub, "object" in names[layer[0]].lower()))
            sub += 1
        inp.geterror()
    finally:
        inp.close()
    return next((p for p, obj in found if obj), found[0][0] if found else None)


def ids_from_image(img: ImageData) -> np.ndarray:
    """Instance IDs of one decoded matte image (rules in the module docstring)."""
    return decode(img).ids


def decode(img: ImageData) -> Matte:
    """Instance IDs of one decoded matte image and the kind of matte it was (rules in the
    module docstring). ``img`` comes from :func:`read_matte_image` (32-bit integer or double
    channels read exactly)."""
    crypto = cryptomatte_layer(img.channels)
    if crypto is not None:
        return Matte(_cryptomatte_ids(img, *crypto), CRYPTOMATTE)
    names = [channel_role(c) for c in img.channels]
    non_colour = [i for i, n in enumerate(names) if not n]
    if img.is_float_format and len(non_colour) >= 2:
        return Matte(_channel_ids(img, non_colour), CHANNELS)
    colour = [i for i, n in enumerate(names) if n in ("r", "g", "b", "red", "green", "blue")]
    shape = _alpha_shape(img, names, colour)
    if shape is not None:
        return Matte(shape, SHAPE)
    if not img.is_float_format and len(colour) >= 3:
        return Matte(_colour_ids(img, colour[:3]), COLOURS)
    ch = colour[0] if colour else 0
    named = img.is_float_format and len(non_colour) == 1
    if named:
        ch = non_colour[0]          # one object channel beside R/G/B/A: that object, not R
    _check_finite(img, [ch])
    v = img.stored_values(ch)
    if img.stored_format(ch) not in _FLOAT_TYPES or float(v.max()) > 1.0:
        soft = _soft_single(v) if img.stored_format(ch) in ("uint8", "uint16") else None
        return Matte(_id_pass(img, ch, v) if soft is None else soft, IDS)
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
        img = read_matte_image(path, frame)   # errors name the frame too
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
