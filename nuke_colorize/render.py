"""Render a shot from files: plate (OpenImageIO) -> colour -> pipeline -> colour -> files.

This is the file-level driver shared by ``nuke-colorize render``, the shot cache and the
Nuke worker. Every output frame is written atomically; inputs are never written over.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from . import color, coverage
from .errors import InputError
from .io import (PlateSource, check_writable, cleanup_stale_temps, frame_path, is_pattern, read_image,
                 same_target, write_image)
from .io.encoding import OutputEncoding, check_encoding
from .io.image import (HALF_MAX, apply_orientation, beyond_half_count, compose_channels, composed_channel_names,
                       default_dtype, describe_channel_losses, describe_window_losses, foreign_icc_profile,
                       names_channels)
from .io.matte import MatteReader, check_pattern as check_matte_pattern
from .io.windows import Windows, describe, overlap, place, same_format
from .pipeline import Colorizer, FrameOutput, ReferenceInput, resolve_device


@dataclass
class RefSpec:
    """A reference as the user names it: ``FRAME=PATH`` (keyframe) or ``PATH`` (still);
    ``colorspace`` its own (a shot file's per-reference key; None: the job's ``ref_colorspace``)."""

    path: str
    frame: Optional[int] = None
    colorspace: Optional[str] = None

    @classmethod
    def parse(cls, text: str) -> "RefSpec":
        """``--ref`` text -> RefSpec; an empty path (``--ref 1=``, ``--ref ""``) is refused
        naming the argument (a later "file does not exist" could not say which)."""
        head, sep, tail = text.partition("=")
        if sep and head.strip().lstrip("-").isdigit():
            spec = cls(path=tail.strip(), frame=int(head))
        else:
            spec = cls(path=text.strip())
        if not spec.path:
            raise InputError(f"--ref {text!r} names no image", frame=spec.frame,
                             hint="give --ref FRAME=PATH for a keyframe or --ref PATH for a still")
        return spec


def check_references(refs: Sequence[RefSpec]) -> None:
    """Refuse two keyframe references for one frame (which would win is arbitrary)."""
    seen: Dict[int, str] = {}
    for r in refs:
        if r.frame is None:
            continue
        if r.frame in seen:
            first = seen[r.frame]
            what = (f"{first} and {r.path}" if os.path.normpath(first) != os.path.normpath(r.path)
                    else f"{r.path}, given twice")
            raise InputError(f"two keyframe references for one frame: {what}", frame=r.frame,
                             hint="give one reference per frame; another image can be a still, without FRAME=")
        seen[r.frame] = r.path


@dataclass
class RenderJob:
    """Everything a render needs; mirrors the shot description (see :mod:`nuke_colorize.shot`)."""

    plate: str
    frames: List[int]
    references: List[RefSpec]
    output: str
    colorspace: str = "auto"
    ref_colorspace: str = "auto"
    out_colorspace: str = "auto"
    backend: str = "exemplar"
    settings: Dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    confidence_out: Optional[str] = None
    confidence_layer: bool = False
    saturation: float = 1.0
    matte: Optional[str] = None   # instance-ID matte pattern (see nuke_colorize.io.matte)
    temporal_smoothing: float = 0.0   # strength of the flow-guided chroma smoothing (0 = off)
    library: Optional[str] = None     # library index: automatic references per scene (library/auto.py)
    auto_references: int = 0          # stills retrieved per scene with ``library``
    ocio_config: Optional[str] = None  # OCIO config of OCIO colourspace names (None: $OCIO / built-in)
    metadata: Dict[str, str] = field(default_factory=dict)  # extra output attributes
    out_depth: str = "auto"           # output pixel depth (nuke_colorize.io.encoding.DEPTHS)
    out_compression: Optional[str] = None   # output compression (None: the format's default)

    @property
    def encoding(self) -> OutputEncoding:
        """The output's encoding (checked by :func:`check_output_encoding`)."""
        return OutputEncoding(self.out_depth, self.out_compression)


#: the colour interop ID (an EXR's ``colorInteropID``) of what ``--colorspace auto`` reads float
#: files as: scene-linear Rec.709
LINEAR_REC709_ID = "lin_rec709_scene"


#: long side beyond which a still is reduced on reading (see :func:`load_reference`)
STILL_MAX_SIDE = 4096


def _reduced_still(img, max_side: int):
    """``img`` (a still) with its long side reduced to ``max_side`` (area, in its file's
    encoding, alpha alike), or ``img`` when it is not larger."""
    import cv2

    w, h = img.width, img.height
    if max(w, h) <= max_side:
        return img
    s = max_side / float(max(w, h))
    size = (max(1, int(round(w * s))), max(1, int(round(h * s))))
    px = cv2.resize(img.pixels, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], -1)
    spec = img.spec.__class__(img.spec)
    spec.width, spec.height, spec.full_width, spec.full_height = size[0], size[1], size[0], size[1]
    spec.x = spec.y = spec.full_x = spec.full_y = 0
    return dataclasses.replace(img, pixels=px, spec=spec, exact_channels=None)


def load_reference(spec: RefSpec, colorspace: str = "auto",
                   warn: Callable[[str], None] = lambda m: None,
                   ocio_config: Optional[str] = None, max_side: Optional[int] = None) -> ReferenceInput:
    """Read a reference image to linear RGB (OCIO names through ``ocio_config``); greyscale
    references are refused. A premultiplied reference with alpha (a keyframe painted on a
    premultiplied plate) gives the colour of its unpremultiplied pixels, which is what the
    output puts on the plate's unpremultiplied luminance (see :class:`PlateLuma.alpha`).
    Its alpha says which pixels carry colour (:mod:`nuke_colorize.coverage`: alpha >= 0.5,
    a premultiplied file's alpha > 0):
    a cut-out still or a keyframe painted in part gives colour from those only (a note says
    how much of the image that is); an alpha of 0 everywhere is taken as no alpha (with a
    note), and the greyscale check looks at covered pixels only. An EXR tagged with another
    colourspace than linear Rec.709 (``colorInteropID``) read through ``auto`` is noted. A
    JPEG/TIFF's EXIF orientation is applied (:func:`~nuke_colorize.io.image.apply_orientation`);
    an embedded ICC profile of other primaries than sRGB's read through ``auto`` is noted.
    ``max_side``: a still (no frame) whose long side is larger is reduced to it as soon as it
    is read (an 8K or 12K scan would otherwise hold gigabytes through the conversions, for a
    picture the backend uses at its working size only)."""
    img = apply_orientation(read_image(spec.path))  # a phone photo stored sideways: as viewers show it
    if spec.frame is None and max_side:
        img = _reduced_still(img, max_side)
    cs = color.resolve_colorspace(colorspace, img.is_float_format, img.log_encoded)
    declared = declared_colourspace_note(img, colorspace, cs, "--ref-colorspace",
                                         also="a shot file's reference 'colorspace'")
    if declared:
        warn(declared)
    profile = foreign_icc_profile(img.spec) if colorspace == "auto" and cs == "srgb" else None
    if profile is not None:
        # auto reads integer files as sRGB whatever their profile (as Nuke's Read): a Display P3
        # or Adobe RGB still's colours would come out less saturated than it shows them
        desc, name = profile
        give = f"--ref-colorspace '{name}' (OpenImageIO's built-in OCIO config; or its name in your " \
               f"config)" if name else "its OCIO colourspace with --ref-colorspace"
        warn(f"{spec.path}: its embedded ICC profile '{desc}' has other primaries than sRGB, but auto reads "
             f"it as sRGB (the profile is not applied: colours come out less saturated than it shows): give "
             f"{give}, or convert it to sRGB")
    rgb = color.to_linear(img.unpremultiplied_rgb, cs, file=spec.path, config=ocio_config)
    cov = coverage.from_alpha(img.alpha, img.premultiplied)
    if cov is not None and not cov.any():
        # an alpha of 0 everywhere is a file written with an empty alpha (a Write asked for
        # rgba on a stream without one), never a painting that gives no colour at all
        warn(f"{spec.path}: its alpha is 0 everywhere: taken as no alpha (every pixel gives colour)")
        cov = None
    if len(img.rgb_indices) < 3 or color.is_grey(rgb if cov is None else rgb[cov][None], tol=2e-3):
        pages = _tiff_pages(spec.path)
        more = f"; only the first of its {pages} pages (subimages) is read" if pages > 1 else ""
        raise InputError(f"reference has no colour (greyscale image{more})", file=spec.path,
                         frame=spec.frame, hint="give a colour still or a colour-painted frame"
                         + (", e.g. its colour page saved on its own" if more else ""))
    if cov is not None:
        warn(f"{spec.path}: alpha covers {coverage_percent(cov)} of the image: only those pixels give colour")
    return ReferenceInput(rgb=rgb, frame=spec.frame, path=spec.path, pixel_aspect=img.pixel_aspect,
                          windows=img.windows, coverage=cov)


def declared_colourspace_note(img, colorspace: str, resolved: str, option: str, also: str = "") -> Optional[str]:
    """The note when ``img``'s header declares another encoding than ``auto`` read it as
    (``colorspace`` as asked, ``resolved`` what it resolved to): an EXR's ``colorInteropID``
    other than linear Rec.709 on a float file, a PNG's gAMA 1.0 (linear) on an integer file
    read as sRGB. ``option``: the command-line option that reads it as declared
    (``--colorspace``, ``--ref-colorspace``); ``also``: where else it is said (a shot file's
    key). None when nothing is declared against it."""
    if colorspace != "auto":
        return None
    declared = img.spec.getattribute("colorInteropID")
    if resolved == "linear" and declared and str(declared) != LINEAR_REC709_ID:
        return (f"{img.path}: the header declares colourspace {declared} (colorInteropID), but {option} auto "
                f"reads float files as linear Rec.709 ({LINEAR_REC709_ID}): give {option} {declared} (or its "
                f"name in your OCIO config{'; ' + also if also else ''}) to read it as declared")
    if resolved == "srgb" and declares_linear(img):
        return (f"{img.path}: the header declares linear values (a PNG's gAMA 1.0: {LINEAR_REC709_ID}), but "
                f"{option} auto reads 8/16-bit files as sRGB: give {option} linear{' (' + also + ')' if also else ''} "
                f"to read it as declared")
    return None


def _tiff_pages(path: str) -> int:
    """How many pages (subimages) a TIFF holds (1 for any other file, or when it cannot tell)."""
    from .io.image import _oiio

    if not path.lower().endswith((".tif", ".tiff")):
        return 1
    inp = _oiio().ImageInput.open(path)
    if inp is None:
        return 1
    try:
        n = 1
        while n < 64 and inp.seek_subimage(n, 0):
            n += 1
        inp.geterror()
        return n
    finally:
        inp.close()


def declares_linear(img) -> bool:
    """True when an integer file's header declares linear Rec.709 values (a PNG's gAMA 1.0,
    which this tool writes for a PNG in ``linear``; OpenImageIO reads it as
    ``lin_rec709_scene``), which ``auto`` reads as sRGB as Nuke's Read does."""
    return not img.is_float_format and str(img.spec.getattribute("oiio:ColorSpace") or "") == LINEAR_REC709_ID


def coverage_percent(cov: np.ndarray) -> str:
    """The covered share of a (H, W) bool coverage as a note says it ("37%"; "<1%" and
    ">99%" rather than a rounded 0% or 100%)."""
    p = 100.0 * float(np.mean(cov))
    return "<1%" if p < 1 else ">99%" if p > 99 else f"{p:.0f}%"


class PlateLuma:
    """frame -> plate luminance (linear), keeping the last frame's ImageData for pass-through."""

    def __init__(self, source: PlateSource, colorspace: str, warn: Callable[[str], None],
                 ocio_config: Optional[str] = None):
        self.source = source
        self.colorspace = colorspace
        self.ocio_config = ocio_config
        self.warn = warn
        self.resolved: Optional[str] = None
        self.last = None
        self.colour_plate_noted = False
        self.declared_noted = False

    def __call__(self, frame: int) -> np.ndarray:
        img = self.source.read(frame)
        self.last = img
        cs = color.resolve_colorspace(self.colorspace, img.is_float_format, img.log_encoded)
        if cs == "cineon" and self.colorspace == "auto" and self.resolved != "cineon":
            self.warn(f"{img.path}: the header declares printing-density log: read as Cineon "
                      f"(give --colorspace to override)")
        # auto does not follow a header's declared encoding (as Nuke's Read's defaults)
        declared = None if self.declared_noted else declared_colourspace_note(img, self.colorspace, cs,
                                                                              "--colorspace")
        if declared:
            self.warn(declared)
            self.declared_noted = True
        self.resolved = cs
        rgb = color.to_linear(img.rgb, cs, file=img.path, config=self.ocio_config)
        if not self.colour_plate_noted and (not color.is_grey(rgb) or has_chroma(img)):
            self.warn(f"{img.path}: colour plate: only its luminance is used (colour is replaced)")
            self.colour_plate_noted = True
        return color.luminance(rgb)

    def alpha(self, frame: int) -> Optional[np.ndarray]:
        """(H, W) alpha of ``frame`` when the plate is premultiplied with an alpha (EXR, an
        associated-alpha TIFF), else None; for :class:`~nuke_colorize.pipeline.Colorizer`,
        which puts the colour on the unpremultiplied luminance. Reads the frame again only
        when it is not the last one read (and keeps it as ``last`` for the output)."""
        if self.last is None or (self.last.alpha_index is None or not self.last.premultiplied):
            return None
        if self.last.frame != frame:
            self.last = self.source.read(frame)
        img = self.last
        return img.alpha if img.premultiplied else None


def has_chroma(img, tol: float = 1e-3) -> bool:
    """True when a luminance/chroma image (``Y RY BY``, whose colour :attr:`ImageData.rgb`
    gives as grey) holds colour: an ``RY`` or ``BY`` value beyond ``tol`` times its largest
    absolute luminance (at least 1). Other images: False (their RGB says it)."""
    chroma = img.chroma_indices
    if not chroma:
        return False
    scale = max(1.0, float(np.abs(img.pixels[..., img.rgb_indices[0]]).max()))
    return bool(np.abs(img.pixels[..., chroma]).max() > tol * scale)


LOG_EXTENSIONS = ("dpx", "cin")


def output_colorspace(out_cs: str, output_pattern: str, plate_cs: str, plate_is_float: bool = False,
                      out_float: Optional[bool] = None) -> str:
    """``auto``: float outputs (EXR, stereo EXR .sxr; TIFF of a float plate, which is written float) linear, as
    ``--colorspace auto`` reads them back; a log plate's DPX/Cineon outputs in Cineon log (as
    Nuke's Write node defaults them); other integer outputs in the plate's display encoding
    (sRGB unless the plate was rec709). ``out_float``: whether the output is written float
    when its depth was chosen (``--out-depth``: a float TIFF of an integer plate linear, a
    16-bit TIFF of a float plate display-encoded); None: as its format and the plate say."""
    if out_cs != "auto":
        return out_cs
    ext = output_pattern.lower().rsplit(".", 1)[-1]
    if out_float is None:
        out_float = ext in ("exr", "sxr", "hdr") or (plate_is_float and ext in ("tif", "tiff"))
    if out_float:
        return "linear"
    if plate_cs == "cineon" and ext in LOG_EXTENSIONS:
        return "cineon"
    return plate_cs if plate_cs in ("srgb", "rec709") else "srgb"


class ProgressBar:
    """Progress on stderr: frames done/total, frames/s and ETA.

    On a terminal one line redrawn in place; otherwise (farm logs, pipes) a plain line at
    most every ``log_interval`` seconds and at the end, so a log is not filled with
    carriage-return redraws.
    """

    def __init__(self, total: int, enabled: bool = True, stream=None, log_interval: float = 30.0):
        self.total, self.done, self.t0 = max(1, total), 0, time.time()
        self.enabled = enabled
        self.stream = stream or sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.interactive = bool(isatty and isatty())
        self.log_interval = float(log_interval)
        self._last_log = None

    def step(self, frame: int) -> None:
        self.done += 1
        if not self.enabled:
            return
        now = time.time()
        dt = max(1e-6, now - self.t0)
        fps = self.done / dt
        eta = (self.total - self.done) / fps if fps > 0 else 0
        last = self.done >= self.total
        if self.interactive:
            width = 30
            fill = int(width * self.done / self.total)
            self.stream.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {self.done}/{self.total} "
                              f"frame {frame}  {fps:.2f} fr/s  ETA {eta:5.0f}s")
            if last:
                self.stream.write("\n")
        elif last or self._last_log is None or now - self._last_log >= self.log_interval:
            self._last_log = now
            self.stream.write(f"progress {self.done}/{self.total} frame {frame}  {fps:.2f} fr/s  "
                              f"ETA {eta:.0f}s\n")
        else:
            return
        self.stream.flush()


def check_outputs(job: RenderJob, inputs: Sequence[str]) -> None:
    """Refuse an output pattern that would write over the plate or a reference, one without
    a frame number when several frames are rendered (each would overwrite the last), a
    confidence output that names the colour output's files, and a confidence layer asked of
    an output format without named channels (PNG, JPEG and DPX drop it, a TIFF keeps it
    unnamed, where a reader takes it for alpha)."""
    patterns = [job.output] + ([job.confidence_out] if job.confidence_out else [])
    if job.confidence_layer and not names_channels(job.output):
        ext = os.path.splitext(job.output)[1].lstrip(".").upper() or "this"
        raise InputError(f"a {ext} output cannot hold the confidence layer (--confidence-layer, shot key "
                         f"'confidence_layer'): only EXR names its channels", file=job.output,
                         hint="write EXR, or give the confidence its own files with --confidence-out PATTERN")
    if job.confidence_out and same_target(job.confidence_out, job.output, job.frames):
        raise InputError("the confidence output names the colour output's files (each frame would "
                         "overwrite the other)", file=job.confidence_out,
                         hint="give the confidence its own name, or put it in a layer of the colour "
                              "file with --confidence-layer")
    for out in patterns:
        if len(job.frames) > 1 and not is_pattern(out):
            raise InputError(f"output has no frame number but {len(job.frames)} frames are rendered "
                             f"(each frame would overwrite the last)", file=out,
                             hint="put #### in the output name, e.g. colour.####.exr")
        for src in inputs:
            if same_target(out, src, job.frames):
                raise InputError("output would overwrite an input", file=out,
                                 hint=f"choose an output other than {src}")
        for f in job.frames:  # a folder in the way of any frame, found before the work
            if os.path.isdir(frame_path(out, f)):
                raise InputError("cannot write: the output path is a folder", file=frame_path(out, f), frame=f)


def check_settings(backend: str, settings: Dict[str, Any]) -> None:
    """Refuse a ``--set`` value whose type differs from the backend's default (a word where a
    number belongs, a non-finite number): found here, not as a crash in the middle of a frame.
    Unknown keys are left to the backend, which names the known ones."""
    from .backends import backend_settings

    defaults = backend_settings(backend).default_settings()
    for key, value in (settings or {}).items():
        if key not in defaults:
            continue
        want = defaults[key]
        if isinstance(want, bool):
            ok = isinstance(value, bool)
            kind = "true or false"
        elif isinstance(want, (int, float)):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and _finite(value)
            kind = "a finite number"
        elif isinstance(want, str):
            ok = isinstance(value, str)
            kind = "text"
        elif isinstance(want, (list, tuple)):
            ok = isinstance(value, list) and len(value) == len(want)
            kind = f"a list of {len(want)} values, e.g. {json.dumps(list(want))}"
        else:
            continue
        if not ok:
            raise InputError(f"setting {key}={json.dumps(value)} for backend '{backend}' must be {kind} "
                             f"(default {json.dumps(want)})", hint=f"e.g. --set {key}={json.dumps(want)}")


def _finite(value) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def place_keyframe(ref: ReferenceInput, plate: Windows,
                   warn: Callable[[str], None] = lambda m: None) -> ReferenceInput:
    """A keyframe painted at the plate's format (the same display window: an EXR with its own
    data window, or a PNG/JPEG of the display size) lined up as a compositor does: its pixels
    put at their display coordinates and exactly the plate frame's data window taken, so the
    result's rgb is (H, W, 3) at the plate's data size. Plate pixels the painting does not
    hold (an overscan plate painted at the format, a painting with a smaller data window)
    repeat its nearest edge pixel, with a note. A keyframe of another display window is
    returned unchanged (resampled by shape; see :func:`check_keyframe_shape`)."""
    if not same_format(ref.windows, plate) or ref.windows.data == plate.data:
        return ref
    src, dst = ref.windows.data, plate.data
    covered = overlap(src, dst)
    if covered == 0:
        raise InputError(f"keyframe reference's data window {describe(src)} lies outside the plate's "
                         f"data window {describe(dst)} (same format {describe(plate.display)})",
                         file=ref.path, frame=ref.frame,
                         hint="paint the keyframe on the plate's frame or at its format")
    if covered < dst[2] * dst[3]:
        warn(f"{ref.path}: keyframe {ref.frame} holds {covered} of the plate's {dst[2] * dst[3]} pixels "
             f"(data window {describe(src)}, plate {describe(dst)}): the others repeat its nearest edge pixel")
    rgb = np.ascontiguousarray(place(np.asarray(ref.rgb, np.float32), src, dst))
    cov = ref.coverage
    if cov is not None:   # placed alike (plate pixels beyond the painting repeat its edge's)
        cov = np.ascontiguousarray(place(cov, src, dst))
        if not cov.any():
            raise InputError(f"keyframe reference's alpha covers none of the plate's data window {describe(dst)}",
                             file=ref.path, frame=ref.frame, hint="paint (and give alpha to) the part of the "
                             "frame the plate holds, or give the image without alpha")
        cov = None if cov.all() else cov
    return dataclasses.replace(ref, rgb=rgb, windows=Windows(dst, plate.display), coverage=cov)


def check_keyframe_shape(ref: ReferenceInput, plate_size: Sequence[int], plate_aspect: float = 1.0) -> None:
    """A keyframe reference is a plate frame painted in colour: any resolution, but the plate's
    shape. Another aspect ratio would put every colour in the wrong place. The shape is that of
    the pixels (also a painted frame whose file lost the plate's pixel aspect) or of the
    picture (an anamorphic frame painted desqueezed: each file's pixel aspect applied); either
    way the keyframe is resampled onto the plate's pixels. A keyframe at the plate's format is
    placed by its windows first (:func:`place_keyframe`) and has the plate's size here."""
    rh, rw = ref.rgb.shape[:2]
    pw, ph = int(plate_size[0]), int(plate_size[1])
    pixels = (rw / rh) / (pw / ph)
    picture = pixels * float(ref.pixel_aspect) / float(plate_aspect)
    if min(abs(pixels - 1.0), abs(picture - 1.0)) <= 0.01:
        return
    raise InputError(f"keyframe reference is {rw}x{rh} but the plate is {pw}x{ph}: another shape "
                     f"(aspect {rw / rh:.3f} vs {pw / ph:.3f})", file=ref.path, frame=ref.frame,
                     hint="a keyframe reference must be that plate frame painted in colour; "
                          "give a still of another shape without FRAME=")


def output_dtype(job: RenderJob, plate, path: Optional[str] = None) -> str:
    """The pixel type the output at ``path`` (default: the job's output) is written in: the
    job's ``out_depth`` when its format is the output's, else the format's default for
    ``plate`` (a plate frame's ImageData, or None)."""
    path = path or job.output
    return job.encoding.for_path(path, job.output).dtype or default_dtype(path, plate)


def job_output_colorspace(job: RenderJob, plate, plate_cs: str) -> str:
    """:func:`output_colorspace` of the job's output (with a chosen depth, float or not by it)."""
    out_float = None if job.out_depth == "auto" else output_dtype(job, plate) in ("half", "float")
    return output_colorspace(job.out_colorspace, job.output, plate_cs,
                             bool(plate is not None and plate.is_float_format), out_float)


def output_ceiling(job: RenderJob, plate, plate_cs: str) -> Optional[float]:
    """The largest linear value the output file holds (an integer format: 1.0 in sRGB/Rec.709
    or linear encoding, Cineon's code 1.0 in log; a half EXR asked for with ``--out-depth
    half``, linear: 65504, the largest half), or None (float files, and the default half EXR,
    which writes channels beyond half's range float; an OCIO colourspace, whose range is not
    known here). The recombination keeps colours under it by reducing chroma, so the plate's
    luminance survives the file's clipping wherever it fits at all. ``plate``: a plate frame's
    ImageData (its pixel type decides TIFF's)."""
    dtype = output_dtype(job, plate)
    cs = job_output_colorspace(job, plate, plate_cs)
    if dtype == "half" and job.out_depth == "half":
        return HALF_MAX if cs == "linear" else None
    if dtype in ("half", "float"):
        return None
    if cs in ("srgb", "rec709", "linear"):
        return 1.0
    if cs == "cineon":
        return float(color.cineon_to_linear(np.float32(1.0)))
    return None


def check_colorspaces(spec, file: Optional[str] = None) -> None:
    """Refuse the OCIO config and every colourspace name of ``spec`` (a :class:`RenderJob` or a
    :class:`~nuke_colorize.shot.Shot`: plate, references, each reference's own, output) that
    does not convert, before any pixel is read or anything written, with a "did you mean" for
    a near miss of a built-in name (:func:`nuke_colorize.color.check_colorspace`). Named as the
    shot file's keys when ``file`` (the shot file) is given, else as render's options."""
    keys = file is not None
    color.check_ocio_config(spec.ocio_config, file=file)   # before any OCIO name goes through it
    config = spec.ocio_config
    color.check_colorspace(spec.colorspace, config, what="'colorspace'" if keys else "--colorspace", file=file)
    color.check_colorspace(spec.ref_colorspace, config, file=file,
                           what="'ref_colorspace'" if keys else "--ref-colorspace")
    for i, ref in enumerate(spec.references):
        if ref.colorspace is not None:
            color.check_colorspace(ref.colorspace, config, file=file,
                                   what=f"reference #{i + 1} 'colorspace'" if keys
                                   else f"colourspace of reference {getattr(ref, 'path', None) or ref.image}")
    color.check_output_colorspace(spec.out_colorspace, config=config, file=file,
                                  what="'out_colorspace'" if keys else "--out-colorspace")


def check_output_encoding(spec, file: Optional[str] = None) -> OutputEncoding:
    """Refuse the output depth and compression of ``spec`` (a :class:`RenderJob` or a
    :class:`~nuke_colorize.shot.Shot`) that its output's format cannot take, before anything
    is read or written (:func:`nuke_colorize.io.encoding.check_encoding`); named as the shot
    file's keys when ``file`` (the shot file) is given, else as render's options. Returns the
    encoding."""
    keys = file is not None
    return check_encoding(spec.output, spec.out_depth, spec.out_compression, file=file,
                          depth_what="'out_depth'" if keys else "--out-depth",
                          compression_what="'out_compression'" if keys else "--out-compression")


def check_job(job: RenderJob) -> None:
    """Checks of the job's own values that need no model and no pixel (before anything is
    computed): two keyframes for one frame, colourspaces that do not convert (an output one
    else found only when the first frame is written), an output depth or compression the
    output's format cannot take, a matte pattern naming no file."""
    check_references(job.references)
    check_colorspaces(job)
    check_output_encoding(job)
    if job.matte:
        check_matte_pattern(job.matte, job.frames)


def preflight(job: RenderJob, source: PlateSource) -> None:
    """Cheap checks before any model is loaded (they read headers and may create and remove a
    probe file in the output folder, so read-only callers such as ``cache status`` skip them):
    every plate frame's header, and that each output can be written."""
    source.check_headers()  # a broken frame 180 is refused now, not after 179 frames of work
    for out in [job.output] + ([job.confidence_out] if job.confidence_out else []):
        check_writable(frame_path(out, job.frames[0]))  # writer for the extension, writable folder


def make_colorizer(job: RenderJob, source: PlateSource, luma: PlateLuma,
                   warn: Callable[[str], None], store=None) -> Colorizer:
    if not job.references:
        raise InputError("no reference given", hint="add --ref FRAME=PATH or --ref PATH, or --library INDEX")
    check_job(job)
    max_side = max(STILL_MAX_SIDE, source.width, source.height)   # never below the working size
    refs = [load_reference(r, r.colorspace or job.ref_colorspace, warn, job.ocio_config, max_side)
            for r in job.references]
    for i, r in enumerate(refs):
        if r.frame is not None and r.frame not in job.frames:
            raise InputError(f"reference frame {r.frame} is outside the frame range "
                             f"{job.frames[0]}-{job.frames[-1]}", file=r.path, frame=r.frame,
                             hint="a keyframe anchors the chain of frames it colours: include it in "
                                  "--frames, or render part of a shot through the shot cache "
                                  "(render --cache DIR or --shot)")
        if r.frame is not None:
            refs[i] = r = place_keyframe(r, source.windows(r.frame), warn)
            check_keyframe_shape(r, (source.width, source.height), source.pixel_aspect)
    check_settings(job.backend, job.settings)
    luma(job.frames[0])  # resolves the plate's colourspace, notes colour plates
    max_value = 1.0 if luma.resolved in ("srgb", "rec709") else output_ceiling(job, luma.last, luma.resolved)
    matte = MatteReader(job.matte, (source.width, source.height), source.windows) if job.matte else None
    return Colorizer(luma, (source.width, source.height), refs, job.backend, job.settings,
                     resolve_device(job.device), matte=matte, store=store, max_value=max_value,
                     saturation=job.saturation, temporal_smoothing=job.temporal_smoothing,
                     alpha=luma.alpha)


#: CIE xy of the red, green, blue primaries and the white (D65) of Rec.709 / sRGB, as an EXR's
#: ``chromaticities`` attribute lists them
REC709_CHROMATICITIES = (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290)
#: OpenImageIO's names of the built-in encodings, for headers that can say them (a PNG's
#: gAMA/sRGB chunks); other names tag nothing there
_OIIO_COLORSPACE = {"linear": "lin_rec709_scene", "srgb": "srgb_rec709_scene"}


def encoding_attributes(out_cs: str, path: str, plate_img, plate_cs: str) -> Dict[str, Any]:
    """Header attributes that say how an output frame's pixels are encoded.

    ``chromaticities`` (the plate's are not copied: they describe its pixels): when the plate
    declares primaries, Rec.709's for outputs in linear/srgb/rec709/cineon (what the output
    holds, whatever the plate was), the plate's own for an output in the plate's own OCIO
    colourspace, none otherwise. An EXR output's colourspace tag (``colorInteropID``, which
    OpenImageIO writes from ``oiio:ColorSpace``; the plate's is not copied) likewise when the
    plate's header declares one (an EXR plate's ``colorInteropID``): ``lin_rec709_scene`` /
    ``srgb_rec709_scene`` for linear / srgb outputs, the plate's own for an output in the
    plate's own OCIO colourspace, none otherwise (rec709, cineon, another OCIO colourspace). A
    PNG is tagged with its encoding: OpenImageIO otherwise writes sRGB chunks (sRGB, gAMA
    1/2.2) on linear or Rec.709-encoded pixels too.
    """
    attrs: Dict[str, Any] = {}
    chroma = plate_img.spec.getattribute("chromaticities") if plate_img is not None else None
    if chroma is not None:
        if out_cs in color.COLORSPACES:
            attrs["chromaticities"] = REC709_CHROMATICITIES
        elif out_cs == plate_cs:
            attrs["chromaticities"] = tuple(float(v) for v in chroma)
    tag = plate_img.spec.getattribute("colorInteropID") if plate_img is not None else None
    if tag and path.lower().endswith((".exr", ".sxr")):
        own = tag if out_cs == plate_cs and out_cs not in color.COLORSPACES else _OIIO_COLORSPACE.get(out_cs)
        if own:
            attrs["oiio:ColorSpace"] = str(own)
    if path.lower().endswith(".png"):
        attrs["oiio:ColorSpace"] = _OIIO_COLORSPACE.get(out_cs, out_cs)
    return attrs


#: the confidence layer's channel in the output (``--confidence-layer``)
CONFIDENCE_CHANNEL = "confidence.Y"


def channel_loss_note(job: RenderJob, plate_img) -> Optional[str]:
    """The note to give once, before the first frame is written, when the output's format
    cannot keep every channel the output carries (the plate's alpha and extra channels, the
    confidence layer; ``plate_img``: a plate frame): a TIFF keeps the values of ``depth.Z``
    but not its name, PNG/JPEG/DPX have no place for it. Such outputs are written as before
    (formats keep what they can); the note names the channels, the format and the way out
    (EXR). None when the format keeps them all."""
    names = composed_channel_names(plate_img) + ([CONFIDENCE_CHANNEL] if job.confidence_layer else [])
    text = describe_channel_losses(job.output, names)
    return f"{job.output}: {text}" if text else None


#: EXR compressions that change stored values, and which channels: B44 every half channel, PXR24
#: every 32-bit float one (rounded to 24 bits), DWA the channels named R, G, B, Y, RY, BY (the
#: name's last part, any case: OpenEXR's default rules; other channels are kept losslessly)
_LOSSY_HALF, _LOSSY_FLOAT, _LOSSY_DWA = ("b44", "b44a"), ("pxr24",), ("dwaa", "dwab")
_DWA_LOSSY_NAMES = {"r", "g", "b", "y", "ry", "by"}


def lossy_channels_note(job: RenderJob, plate_img) -> Optional[str]:
    """The note to give once, before the first frame is written, when the job's EXR
    compression (``out_compression``) changes the values of the plate's alpha or extra
    channels, which the output otherwise carries bit for bit: ``b44``/``b44a`` its channels
    stored half (a half plate's alpha: up to 0.125 off measured), ``pxr24`` those stored
    float (rounded to 24 bits: a depth of ~1000 off by 0.008), ``dwaa``/``dwab`` those named
    like colour (``matte.R``). Such outputs are written as asked; the note names the channels
    and the compression. None when nothing carried changes (or ``plate_img`` is None)."""
    comp = (job.out_compression or "").split(":", 1)[0]
    if plate_img is None or not names_channels(job.output) or \
            comp not in _LOSSY_HALF + _LOSSY_FLOAT + _LOSSY_DWA:
        return None
    every_float = output_dtype(job, plate_img) == "float"
    alpha = plate_img.alpha_index
    carried = ([alpha] if alpha is not None else []) + plate_img.extra_channel_indices
    changed = []
    for i in carried:
        name = "A" if i == alpha else plate_img.channels[i]
        stored = "float" if every_float or plate_img.stored_format(i) != "half" else "half"
        if comp in _LOSSY_HALF and stored == "half" or comp in _LOSSY_FLOAT and stored == "float" or \
                comp in _LOSSY_DWA and name.rsplit(".", 1)[-1].lower() in _DWA_LOSSY_NAMES:
            changed.append(name)
    if not changed:
        return None
    kind = "its half channels" if comp in _LOSSY_HALF else "its 32-bit float channels" \
        if comp in _LOSSY_FLOAT else "channels named R, G, B, Y, RY or BY"
    return (f"{job.output}: compression {job.out_compression} is lossy for {kind}: the plate's "
            f"{', '.join(changed)} may change (zip, zips, piz, rle or none keep "
            f"{'it' if len(changed) == 1 else 'them'} bit-identical)")


def skipped_parts_note(plate_img) -> Optional[str]:
    """The note to give once, before the first frame is written, when the plate frame
    ``plate_img`` is a multi-part EXR with parts that are not read (another data window than
    its colour part's, deep: :attr:`ImageData.skipped_parts`): they are not in the output.
    None when every part is carried."""
    skipped = getattr(plate_img, "skipped_parts", None)
    if not skipped:
        return None
    one = len(skipped) == 1
    return (f"{plate_img.path}: {'part' if one else 'parts'} {', '.join(skipped)} of the multi-part "
            f"plate {'is' if one else 'are'} not carried to the output: only parts with the colour "
            f"part's data window {describe(plate_img.windows.data)} are")


class SkippedPartsNotes:
    """:func:`skipped_parts_note` once per part over a render: each frame written is looked at
    (:meth:`__call__`), so a part skipped on some frames only (a depth part whose data window
    is cropped to its content on those) is named when it is first not written, not only when
    the first frame lacks it. ``warn``: where notes go."""

    def __init__(self, warn: Optional[Callable[[str], None]] = None):
        self.warn = warn
        self.said: set = set()

    def take(self, plate_img) -> Optional[str]:
        """The note for ``plate_img`` when it skips a part not named yet (then named), else None."""
        names = {p.split(" (", 1)[0] for p in (getattr(plate_img, "skipped_parts", None) or ())}
        if not names - self.said:
            return None
        self.said |= names
        return skipped_parts_note(plate_img)

    def __call__(self, plate_img) -> None:
        note = self.take(plate_img)
        if note and self.warn is not None:
            self.warn(note)


def other_views_note(plate_img) -> Optional[str]:
    """The note to give once, before the first frame is written, when the plate frame
    ``plate_img`` is a multi-view (stereo) EXR: only its default view is colourised and
    written; the other views' channels are not (a multi-part EXR's other views are named by
    :func:`skipped_parts_note`). None for a single-view plate."""
    views = plate_img.views if plate_img is not None else []
    if len(views) < 2:
        return None
    others = ", ".join(views[1:])
    return (f"{plate_img.path}: multi-view plate (views {', '.join(views)}): only its default view "
            f"{views[0]} is colourised and written, not {others}; render each view as a plate of its own "
            f"(split the views upstream, e.g. with a OneView node per view)")


def window_loss_note(job: RenderJob, plate_img) -> Optional[str]:
    """The note to give once, before the first frame is written, when the output's format
    cannot hold the plate's data and display windows as they are (an overscan or cropped
    plate written to TIFF, PNG, DPX or JPEG: :func:`~nuke_colorize.io.image.describe_window_losses`,
    windows of the first frame), or None."""
    if plate_img is None:
        return None
    text = describe_window_losses(job.output, plate_img.windows)
    return f"{job.output}: {text}" if text else None


def output_notes(job: RenderJob, plate_img, parts: "SkippedPartsNotes") -> List[str]:
    """The notes to give once, before the first frame is written, about what the output will
    not hold as the plate does (``plate_img``: its first frame read): channels, windows, parts
    (through ``parts``, which remembers the parts named), views, lossy compression."""
    notes = (channel_loss_note(job, plate_img), window_loss_note(job, plate_img), parts.take(plate_img),
             other_views_note(plate_img), lossy_channels_note(job, plate_img))
    return [n for n in notes if n]


def once(warn: Callable[[str], None]) -> Callable[[str], None]:
    """``warn`` that passes on its first message only (a note said once per render)."""
    said: List[str] = []

    def note(message: str) -> None:
        if not said:
            said.append(message)
            warn(message)
    return note


def write_frame(job: RenderJob, out: FrameOutput, plate_img, plate_cs: str,
                protected: Sequence[str], attributes: Dict[str, Any],
                clip_note: Optional[Callable[[str], None]] = None) -> List[str]:
    """Write one finished frame (and its confidence) atomically, in the job's output encoding
    (the confidence too when its format is the output's, else in its own format's default);
    returns the paths.

    A result holding NaN/Inf (the plate was checked finite, so a backend setting out of range,
    e.g. ``temperature=0``) is refused rather than written as a wrong frame. With
    ``--out-depth half`` colour beyond half's range (65504) is clipped to it: ``clip_note``
    (e.g. :func:`once` of the render's notes) is told."""
    bad = int((~np.isfinite(out.rgb)).any(axis=-1).sum()) + int((~np.isfinite(out.confidence)).sum())
    if bad:
        raise InputError(f"the colourised result has {bad} NaN/Inf values; the frame was not written",
                         file=frame_path(job.output, out.frame), frame=out.frame,
                         hint=f"a backend setting out of range? settings: {json.dumps(job.settings)}")
    cs = job_output_colorspace(job, plate_img, plate_cs)
    rgb = color.from_linear(out.rgb, cs, file=job.output, config=job.ocio_config)
    pixels, names = compose_channels(rgb, plate_img)
    if job.confidence_layer:
        pixels = np.concatenate([pixels, out.confidence[..., None]], axis=2)
        names = names + [CONFIDENCE_CHANNEL]
    path = frame_path(job.output, out.frame)
    attributes = {**attributes, **encoding_attributes(cs, path, plate_img, plate_cs), **job.metadata}
    if cs == "cineon" and path.lower().endswith(".dpx"):
        attributes.setdefault("dpx:Transfer", "Printing density")   # the header says what it holds
    enc = job.encoding
    if enc.depth == "half" and clip_note is not None:
        n = beyond_half_count(rgb)
        if n:
            clip_note(f"{path}: {n} colour value(s) beyond half's range clipped to {HALF_MAX:g}, the largest "
                      f"half, as the output depth half asks (depth float or auto keeps them); said once")
    write_image(path, pixels, names, like=plate_img, protected=protected, attributes=attributes,
                dtype=enc.dtype, compression=enc.compression)
    paths = [path]
    if job.confidence_out:
        cpath = frame_path(job.confidence_out, out.frame)
        cenc = enc.for_path(cpath, job.output)
        write_image(cpath, out.confidence[..., None], ["Y"], like=plate_img, protected=protected,
                    dtype=cenc.dtype, compression=cenc.compression)
        paths.append(cpath)
    return paths


def absolute_path(path: str) -> str:
    """``path`` as a shot file resolves it (``~`` expanded, made absolute from the current
    folder, normalised): output metadata names references the same way whether the render
    went through a shot cache or not, so both write the same bytes."""
    return os.path.normpath(os.path.abspath(os.path.expanduser(path)))


def run_render(job: RenderJob, wanted: Optional[Sequence[int]] = None, store=None,
               progress: bool = True, warn: Callable[[str], None] = None,
               on_computed: Optional[Callable[[int], None]] = None) -> Dict[str, Any]:
    """Render ``wanted`` frames (default: all of ``job.frames``). Returns a JSON-able summary."""
    warn = warn or (lambda m: print(f"nuke-colorize: note: {m}", file=sys.stderr))
    if job.library:  # automatic references: one render per scene (nuke_colorize.library.auto)
        from .library.auto import run_auto_render
        return run_auto_render(job, wanted, progress=progress, warn=warn, on_computed=on_computed)
    t0 = time.time()
    enc = check_output_encoding(job)   # before the plate is opened
    job = dataclasses.replace(job, out_depth=enc.depth, out_compression=enc.compression)
    source = PlateSource(job.plate, job.frames)
    try:
        protected = [job.plate] + [r.path for r in job.references] + ([job.matte] if job.matte else [])
        check_outputs(job, protected)
        preflight(job, source)
        luma = PlateLuma(source, job.colorspace, warn, job.ocio_config)
        col = make_colorizer(job, source, luma, warn, store)
        parts_note = SkippedPartsNotes(warn)
        for note in output_notes(job, luma.last, parts_note):
            warn(note)
        attributes = {"nuke_colorize:backend": job.backend,
                      "nuke_colorize:references": json.dumps(
                          [{"frame": r.frame, "image": absolute_path(r.path)} for r in job.references])}
        todo = list(wanted) if wanted is not None else list(job.frames)
        for pattern in [job.output] + ([job.confidence_out] if job.confidence_out else []):
            # temp files of killed writers (this machine's, or a day old), as the cache's renders do
            cleanup_stale_temps(os.path.dirname(frame_path(pattern, todo[0] if todo else job.frames[0])))
        bar = ProgressBar(len(todo), enabled=progress)
        written: List[str] = []
        clip_note = once(warn)
        for out in col.run(job.frames, todo, on_computed=on_computed):
            plate_img = luma.last if (luma.last is not None and luma.last.frame == out.frame) \
                else source.read(out.frame)
            parts_note(plate_img)
            written += write_frame(job, out, plate_img, luma.resolved or "linear", protected, attributes,
                                   clip_note)
            bar.step(out.frame)
        dt = time.time() - t0
        return {"frames": len(todo), "seconds": round(dt, 3),
                "seconds_per_frame": round(dt / max(1, len(todo)), 4),
                "computed": list(col.engine.computed) if col.engine else [],
                "outputs": written, "backend": job.backend,
                "working_size": [col.work_w, col.work_h],
                "plate_colorspace": luma.resolved, "temporal_smoothing": job.temporal_smoothing,
                "references": [{"frame": r.frame, "image": r.path} for r in job.references]}
    finally:
        source.close()
