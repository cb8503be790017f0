"""How output files are encoded: their pixel depth and their compression.

``render --out-depth`` / ``--out-compression`` and the shot file's ``out_depth`` /
``out_compression`` choose them; left at ``auto`` / unset, :func:`nuke_colorize.io.write_image`
decides as it always did (:func:`nuke_colorize.io.image.default_dtype`; EXR and TIFF zip,
JPEG quality 95), byte for byte. :func:`check_encoding` validates a choice against the output's
format before anything is read or written and gives the :class:`OutputEncoding` the writers use.

Depths per format (what OpenImageIO writes and Nuke's Write node offers):

* EXR: ``half``, ``float``;
* TIFF: ``8``, ``16``, ``float`` (OpenImageIO writes a half TIFF as float: not offered);
* DPX: ``8``, ``10``, ``12``, ``16`` (a float DPX is read by few tools: not offered);
* PNG: ``8``, ``16``;
* JPEG: ``8``.

Compressions: EXR ``none``, ``rle``, ``zips``, ``zip``, ``piz``, ``pxr24``, ``b44``, ``b44a``,
``dwaa``, ``dwab``, the zlib ones with a level 1-9 (``zip:9``), the DWA ones with their
quantisation level, a number above 0 (``dwaa:45``; without one OpenEXR's default); TIFF
``none``, ``lzw``, ``zip``, ``packbits`` (OpenImageIO's TIFF writer takes no level: it
ignores one); JPEG a quality from 1 to 100, as ``90`` or ``jpeg:90``. PNG (always deflate)
and DPX (always uncompressed) have no choice. OpenImageIO writes any name it does not know
as its default (zip) without a word: every name is checked here.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any, Optional

from ..errors import InputError, did_you_mean
from .image import _FORMAT_NAME, _family

AUTO = "auto"
#: the values of ``--out-depth`` / ``out_depth``
DEPTHS = (AUTO, "8", "10", "12", "16", "half", "float")
#: depth -> the pixel type :func:`nuke_colorize.io.write_image` takes
DEPTH_DTYPE = {"8": "uint8", "10": "uint10", "12": "uint12", "16": "uint16", "half": "half", "float": "float"}
#: writer family -> the depths it takes (besides auto)
FORMAT_DEPTHS = {"openexr": ("half", "float"), "tiff": ("8", "16", "float"), "dpx": ("8", "10", "12", "16"),
                 "png": ("8", "16"), "jpeg": ("8",)}
EXR_COMPRESSIONS = ("none", "rle", "zips", "zip", "piz", "pxr24", "b44", "b44a", "dwaa", "dwab")
TIFF_COMPRESSIONS = ("none", "lzw", "zip", "packbits")
#: compressions that take a level: (kind, low, high): a whole number low..high, or a number
#: above low (high None)
LEVELS = {"zip": ("int", 1, 9), "zips": ("int", 1, 9), "dwaa": ("float", 0, None), "dwab": ("float", 0, None)}
JPEG_QUALITY = (1, 100)
#: what :func:`nuke_colorize.io.write_image` writes when given no compression
DEFAULT_COMPRESSION = {"openexr": "zip", "tiff": "zip", "jpeg": "jpeg:95"}
#: words people use for a depth or a compression, for "did you mean"
DEPTH_ALIASES = {"32": "float", "32f": "float", "f32": "float", "fp32": "float", "float32": "float",
                 "32bit": "float", "32bitfloat": "float", "full": "float", "16f": "half", "f16": "half",
                 "fp16": "half", "float16": "half", "halffloat": "half", "16bitfloat": "half",
                 "8bit": "8", "uint8": "8", "10bit": "10", "uint10": "10", "12bit": "12", "uint12": "12",
                 "16bit": "16", "uint16": "16", "default": AUTO}
COMPRESSION_ALIASES = {"deflate": "zip", "uncompressed": "none", "raw": "none", "dwa": "dwaa",
                       "zip1": "zips", "lz": "lzw"}


def format_name(path: str) -> str:
    """What a file of ``path``'s format is called in messages (EXR, TIFF, ... or its extension)."""
    fam = _family(path)
    if fam == "openexr":
        return "EXR"
    return _FORMAT_NAME.get(fam) or (os.path.splitext(path)[1].lstrip(".").upper() or "extension-less")


def _a(fmt: str) -> str:
    """``fmt`` with its article: an EXR, a TIFF (formats are said letter by letter)."""
    return f"{'an' if fmt[:1].upper() in 'AEFHILMNORSX' else 'a'} {fmt}"


@dataclass(frozen=True)
class OutputEncoding:
    """A checked encoding (:func:`check_encoding`): ``depth`` one of :data:`DEPTHS`,
    ``compression`` OpenImageIO's name (``dwaa:45``, ``jpeg:90``) or None (the format's
    default)."""

    depth: str = AUTO
    compression: Optional[str] = None

    @property
    def is_default(self) -> bool:
        return self.depth == AUTO and self.compression is None

    @property
    def dtype(self) -> Optional[str]:
        """The ``dtype`` for :func:`~nuke_colorize.io.write_image` (None: its default)."""
        return None if self.depth == AUTO else DEPTH_DTYPE[self.depth]

    def for_path(self, path: str, main: str) -> "OutputEncoding":
        """The encoding of another output (the confidence) written beside the one at ``main``:
        this one when ``path`` has ``main``'s format, else the default of its own format."""
        return self if _family(path) == _family(main) else OutputEncoding()

    def record(self, path: str) -> str:
        """What the cache's output records keep of this encoding of the output at ``path``:
        "" for the default (so records written before there was a choice stay valid), else
        e.g. ``depth=float;compression=dwaa:45``. A compression that is the format's default
        (``zip`` for EXR) counts as none given: the file's bytes are the same."""
        comp = None if self.compression == DEFAULT_COMPRESSION.get(_family(path)) else self.compression
        parts = ([f"depth={self.depth}"] if self.depth != AUTO else []) + \
            ([f"compression={comp}"] if comp is not None else [])
        return ";".join(parts)

    def describe(self) -> str:
        """For people: ``depth float, compression dwaa:45`` (``auto`` parts left out)."""
        parts = ([f"depth {self.depth}"] if self.depth != AUTO else []) + \
            ([f"compression {self.compression}"] if self.compression else [])
        return ", ".join(parts) or "auto"


def _accepted_depths(fam: str) -> str:
    return ", ".join((AUTO,) + FORMAT_DEPTHS[fam])


def parse_depth(value: Any, what: str = "--out-depth", file: Optional[str] = None) -> str:
    """``value`` (text, or a whole number from a shot file; None: auto) as one of :data:`DEPTHS`,
    whatever the format; else InputError."""
    if value is None:
        return AUTO
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip().lower()
    else:
        text = None
    if text in DEPTHS:
        return text
    guess = did_you_mean(value, DEPTHS[1:], DEPTH_ALIASES) if isinstance(value, (str, int)) else None
    raise InputError(f"{what} {value!r} is not a pixel depth", file=file,
                     hint=(f"did you mean {guess}? " if guess else "") + f"accepted: {', '.join(DEPTHS)}")


def check_depth(path: str, depth: Any, what: str = "--out-depth", file: Optional[str] = None) -> str:
    """``depth`` (:func:`parse_depth`) when the output at ``path`` can hold it, else InputError
    naming ``what`` (the option or shot key), the value, the format and what it takes."""
    depth = parse_depth(depth, what, file)
    if depth == AUTO:
        return depth
    fam = _family(path)
    fmt = format_name(path)
    if fam not in FORMAT_DEPTHS:
        raise InputError(f"{what} {depth}: the depth of {_a(fmt)} output ({path}) cannot be chosen", file=file,
                         hint="give auto, or write EXR, TIFF, DPX, PNG or JPEG")
    if depth not in FORMAT_DEPTHS[fam]:
        kind = f"{depth}-bit integer" if depth.isdigit() else {"half": "half-float", "float": "32-bit float"}[depth]
        raise InputError(f"{what} {depth}: {_a(fmt)} output ({path}) cannot hold {kind} pixels", file=file,
                         hint=f"accepted for {fmt}: {_accepted_depths(fam)}")
    return depth


def _compressions_hint(fam: str) -> str:
    if fam == "openexr":
        return (f"accepted for EXR: {', '.join(EXR_COMPRESSIONS)}; zip and zips with a level 1-9 "
                f"(zip:9), dwaa and dwab with a level above 0 (dwaa:45)")
    if fam == "tiff":
        return f"accepted for TIFF: {', '.join(TIFF_COMPRESSIONS)}"
    return "accepted for JPEG: a quality from 1 to 100, as 90 or jpeg:90"


def _level(name: str, text: str, value: Any, what: str, file: Optional[str]) -> str:
    kind, low, high = LEVELS[name]
    try:
        number = int(text) if kind == "int" else float(text)
    except ValueError:
        number = None
    if kind == "int":
        if number is None or not low <= number <= high:
            raise InputError(f"{what} {value!r}: the level of {name} must be a whole number from {low} to {high}",
                             file=file, hint=f"e.g. {name}:9, or {name} alone for OpenEXR's default")
        return f"{name}:{number}"
    if number is None or not math.isfinite(number) or number <= low:
        raise InputError(f"{what} {value!r}: the level of {name} must be a number above {low:g}",
                         file=file, hint=f"e.g. {name}:45 (higher: smaller files, more loss), or {name} "
                                         f"alone for OpenEXR's default")
    return f"{name}:{number:g}"


def check_compression(path: str, value: Any, what: str = "--out-compression",
                      file: Optional[str] = None) -> Optional[str]:
    """``value`` (None: the format's default) as OpenImageIO's compression for the output at
    ``path`` (``dwaa:45``, ``zip``, ``jpeg:90``), or InputError naming ``what``, the value,
    the format and what it takes, with "did you mean" for a near miss."""
    if value is None:
        return None
    fam = _family(path)
    fmt = format_name(path)
    if fam == "jpeg":
        text = str(value).strip().lower() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
        m = re.fullmatch(r"(?:jpeg:)?\s*(\d+)", text)
        low, high = JPEG_QUALITY
        if not m or not low <= int(m.group(1)) <= high:
            raise InputError(f"{what} {value!r}: a JPEG output ({path}) takes a quality from {low} to {high}",
                             file=file, hint="e.g. 90 or jpeg:90; default 95")
        return f"jpeg:{int(m.group(1))}"
    if fam not in ("openexr", "tiff"):
        why = {"png": "PNG is always deflate-compressed", "dpx": "DPX is always written uncompressed"}.get(
            fam, f"the compression of {fmt} files cannot be chosen")
        raise InputError(f"{what} {value!r} does not apply to {_a(fmt)} output ({path}): {why}", file=file,
                         hint="leave it out; compression can be chosen for EXR, TIFF and JPEG")
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{what} {value!r} is not a compression name", file=file, hint=_compressions_hint(fam))
    name, sep, level = value.strip().lower().partition(":")
    name = name.strip()
    names = EXR_COMPRESSIONS if fam == "openexr" else TIFF_COMPRESSIONS
    if name not in names:
        other = TIFF_COMPRESSIONS if fam == "openexr" else EXR_COMPRESSIONS
        guess = did_you_mean(name, names, COMPRESSION_ALIASES)
        guess = guess if guess in names else None
        elsewhere = f": {name} is {'an EXR' if fam == 'tiff' else 'a TIFF'} compression" \
            if name in other and not guess else ""
        raise InputError(f"{what} {value!r} is not {_a(fmt)} compression{elsewhere}", file=file,
                         hint=(f"did you mean {guess}? " if guess else "") + _compressions_hint(fam))
    if not sep:
        return name
    if fam != "openexr" or name not in LEVELS:
        raise InputError(f"{what} {value!r}: {fmt} compression {name} takes no level", file=file,
                         hint=f"give {name}; " + _compressions_hint(fam))
    return _level(name, level.strip(), value, what, file)


def check_encoding(path: str, depth: Any = AUTO, compression: Any = None, *, depth_what: str = "--out-depth",
                   compression_what: str = "--out-compression", file: Optional[str] = None) -> OutputEncoding:
    """The :class:`OutputEncoding` of ``depth`` and ``compression`` for the output at ``path``
    (a pattern or a file: only its extension counts), or InputError (exit 2): a depth the
    format cannot hold, an unknown compression or level, a compression for a format that has
    no choice. ``depth_what`` / ``compression_what`` name the option or shot key, ``file``
    the shot file. Checks only: reads and writes nothing."""
    return OutputEncoding(check_depth(path, depth, depth_what, file),
                          check_compression(path, compression, compression_what, file))

