"""Plate-resolution pipeline around the engine: colour conversion in, refinement and
luminance-keeping recombination out.

    plate luminance (linear Y, plate res) --y_to_L, area resize--> TargetFrame (working res)
    engine/backend --> ab at working res --bilinear up, guided filter where unsure--> ab at plate res
    recombine(plate Y, ab) --> linear RGB with the plate's exact luminance

This module knows nothing about files: callers pass callables that return luminance, so
the same code serves ``render`` (OpenImageIO plates), ``eval`` (arrays) and the Nuke host.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from . import color, coverage
from .backends import lazy_backend
from .backends.base import Backend, Reference, Result, TargetFrame
from .engine import Engine, Segment, StateStore, plan_segments
from .io.matte import Matte, MatteReader, resize_ids
from .io.windows import Windows
from .refine import refine_unsure

#: guided filter of unsure chroma on the plate's L*/100 at plate resolution: radius
#: (plate pixels), eps
REFINE_RADIUS = 2
REFINE_EPS = 1e-3


@dataclass
class ReferenceInput:
    """A colour reference as given by the user.

    rgb: (H, W, 3) float32 linear Rec.709 (any size/aspect).
    frame: the plate frame it colours (keyframe), or None for an external still.
    path: origin, for messages and metadata.
    pixel_aspect: the file's pixel aspect (pixel width / height), for the shape check of a
        keyframe painted on a desqueezed anamorphic frame.
    windows: the file's data and display window (None: an array with no file behind it),
        by which :func:`nuke_colorize.render.place_keyframe` lines a keyframe painted at the
        plate's format up with the plate's data window.
    coverage: optional (H, W) bool, the pixels that carry colour (the file's alpha >= 0.5,
        :mod:`nuke_colorize.coverage`); None: all of them.
    """

    rgb: np.ndarray
    frame: Optional[int] = None
    path: str = ""
    pixel_aspect: float = 1.0
    windows: Optional[Windows] = None
    coverage: Optional[np.ndarray] = None


@dataclass
class FrameOutput:
    """One finished frame at plate resolution.

    rgb: (H, W, 3) float32 linear, luminance equal to the plate's.
    ab: (H, W, 2) float32 chroma. confidence: (H, W) float32 in [0, 1].
    """

    frame: int
    rgb: np.ndarray
    ab: np.ndarray
    confidence: np.ndarray


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``."""
    if device == "auto":
        from . import torchinfo
        return "cuda" if torchinfo.cuda_available() else "cpu"
    return device


def reference_key(rgb: np.ndarray, frame: Optional[int], coverage: Optional[np.ndarray] = None) -> str:
    """Content hash of a reference (pixels + role, and its (H, W) bool coverage when it has
    one: a reference covered everywhere keeps the key it had before coverage existed),
    stable across machines."""
    h = hashlib.sha256()
    a = np.ascontiguousarray(rgb, dtype=np.float32)
    h.update(repr((a.shape, frame)).encode())
    h.update(a.tobytes())
    if coverage is not None:
        h.update(b"coverage")
        h.update(np.packbits(np.ascontiguousarray(coverage, dtype=bool)).tobytes())
    return h.hexdigest()[:16]


def prepare_references(refs: Sequence[ReferenceInput], work_w: int, work_h: int) -> List[Reference]:
    """Convert user references to Lab at working resolution.

    Keyframes are resampled to exactly the working size (they must line up with the
    plate: one placed by its windows already has the plate's size); stills keep their own
    aspect with the long side matched to the working size. A reference with a coverage
    (:attr:`ReferenceInput.coverage`) has it resampled alike (covered where at least half
    is) and its colour resampled from covered pixels only (:func:`coverage.weighted_resize`).
    """
    out = []
    for r in refs:
        rgb = np.maximum(np.asarray(r.rgb, np.float32), 0.0)
        h, w = rgb.shape[:2]
        if r.frame is not None:
            size = (work_w, work_h)
        else:
            s = max(work_w, work_h) / float(max(w, h))
            size = (max(8, int(round(w * s))), max(8, int(round(h * s))))
        interp = cv2.INTER_AREA if size[0] < w else cv2.INTER_CUBIC
        cov = r.coverage
        if cov is None:
            small = cv2.resize(rgb, size, interpolation=interp)
            small_cov = None
        else:
            small = coverage.weighted_resize(rgb, cov, size, interp)
            small_cov = coverage.resample(cov, size, interp)
            small_cov = None if small_cov.all() else small_cov
        small = np.maximum(small, 0.0)
        lab = color.rgb_to_lab(small)
        out.append(Reference(lab=lab, frame=r.frame, path=r.path, key=reference_key(rgb, r.frame, cov),
                             coverage=small_cov))
    return out


def luminance_to_L(y: np.ndarray) -> np.ndarray:
    """(H, W) linear luminance -> (H, W) L* clamped to [0, 100] (network range)."""
    return np.clip(color.y_to_L(np.maximum(y, 0.0)), 0.0, 100.0)


class Colorizer:
    """Colourise frames of one shot at plate resolution.

    Args:
        luma: frame -> (H, W) float32 linear luminance of the plate at plate resolution.
        plate_size: (width, height) of the plate.
        references: the user's references.
        backend: backend name or instance. settings/device: for a backend built here.
        matte: optional frame -> (H, W) int32 instance IDs at plate resolution, or a
            :class:`~nuke_colorize.io.matte.Matte` (IDs and the kind of matte: a
            :class:`~nuke_colorize.io.matte.MatteReader` gives both), or None on a frame
            without a matte.
        store: state store (in-memory by default; the shot cache for resumable work).
        max_value: clip bound for display-referred output (None for scene-linear).
        saturation: chroma multiplier at recombination (1.0 = none).
        temporal_smoothing: strength of the temporal smoothing stage (0 = off; see
            :mod:`nuke_colorize.temporal`).
        alpha: optional frame -> (H, W) alpha of a premultiplied plate (or None): the
            output's colour is put on the unpremultiplied luminance (see
            :func:`nuke_colorize.color.recombine`). Output only: the engine sees ``luma``.
    """

    def __init__(self, luma: Callable[[int], np.ndarray], plate_size: Tuple[int, int],
                 references: Sequence[ReferenceInput], backend="exemplar",
                 settings: Optional[dict] = None, device: str = "cpu",
                 matte: Optional[Callable[[int], np.ndarray]] = None,
                 store: Optional[StateStore] = None, max_value: Optional[float] = None,
                 saturation: float = 1.0, temporal_smoothing: float = 0.0,
                 alpha: Optional[Callable[[int], Optional[np.ndarray]]] = None):
        self.luma_fn = luma
        self._luma_cache: "OrderedDict[object, np.ndarray]" = OrderedDict()
        self.alpha_fn = alpha
        self.plate_w, self.plate_h = int(plate_size[0]), int(plate_size[1])
        # built on the first computed frame: a render read from the shot cache never loads it
        self.backend: Backend = backend if isinstance(backend, Backend) else \
            lazy_backend(backend, settings, resolve_device(device))
        self.work_w, self.work_h = self.backend.working_size(self.plate_w, self.plate_h)
        self.inputs = list(references)
        # a keyframe painted in part: its unpainted pixels are its plate frame's grey (what
        # the artist left there, whatever the paint layer holds: coverage.fill_unpainted)
        references = [dataclasses.replace(r, rgb=coverage.fill_unpainted(r.rgb, r.coverage, self.luma(r.frame)))
                      if r.frame is not None and r.coverage is not None else r for r in references]
        self.references = prepare_references(references, self.work_w, self.work_h)
        self.matte_fn = matte
        for ref in self.references:
            if ref.frame is not None:
                ref.matte, ref.matte_kind = self._matte(ref.frame)
                if ref.matte is not None:
                    digest = hashlib.sha256(np.ascontiguousarray(ref.matte).tobytes()).hexdigest()
                    ref.key = f"{ref.key}+matte:{digest[:16]}"
        self.backend.set_references(self.references)
        self.store = store
        self.max_value = max_value
        self.saturation = float(saturation)
        self.temporal_smoothing = float(temporal_smoothing)
        self.engine: Optional[Engine] = None

    # -------------------------------------------------------------- inputs
    def luma(self, frame: int) -> np.ndarray:
        if frame in self._luma_cache:
            self._luma_cache.move_to_end(frame)
            return self._luma_cache[frame]
        y = np.asarray(self.luma_fn(frame), dtype=np.float32)
        self._luma_cache[frame] = y
        while len(self._luma_cache) > 6:
            self._luma_cache.popitem(last=False)
        return y

    def target(self, frame: int) -> TargetFrame:
        """Working-resolution input of the backend for ``frame``."""
        L = self._plate_L(frame)
        if (self.work_w, self.work_h) != (self.plate_w, self.plate_h):
            L = cv2.resize(L, (self.work_w, self.work_h), interpolation=cv2.INTER_AREA)
        ids, kind = self._matte(frame)
        return TargetFrame(frame=frame, L=L.astype(np.float32), matte=ids, matte_kind=kind)

    def _matte(self, frame: int) -> Tuple[Optional[np.ndarray], Optional[str]]:
        """(H, W) int32 instance IDs of ``frame`` at working resolution, or None, and the kind
        of matte they came from (None when not known: ``matte`` returned a plain array)."""
        if self.matte_fn is None:
            return None, None
        m = self.matte_fn.read(frame) if isinstance(self.matte_fn, MatteReader) else self.matte_fn(frame)
        if m is None:
            return None, None
        ids, kind = (m.ids, m.kind) if isinstance(m, Matte) else (m, None)
        return resize_ids(np.asarray(ids, np.int32), (self.work_w, self.work_h)), kind

    # -------------------------------------------------------------- outputs
    def _plate_L(self, frame: int) -> np.ndarray:
        key = ("L", frame)
        if key not in self._luma_cache:
            self._luma_cache[key] = luminance_to_L(self.luma(frame))
            while len(self._luma_cache) > 6:
                self._luma_cache.popitem(last=False)
        return self._luma_cache[key]

    def _keyframe_ab(self, frame: int) -> Optional[Tuple[np.ndarray, Optional[np.ndarray]]]:
        """Plate-resolution ab (H, W, 2) of the keyframe reference for ``frame`` (painted
        colour kept exactly, no filtering) and where it holds colour ((H, W) bool, None:
        everywhere), or None when ``frame`` is not a keyframe."""
        for r in self.inputs:
            if r.frame == frame:
                rgb = np.maximum(np.asarray(r.rgb, np.float32), 0.0)
                cov = r.coverage
                if rgb.shape[:2] != (self.plate_h, self.plate_w):
                    rgb = np.maximum(cv2.resize(rgb, (self.plate_w, self.plate_h),
                                                interpolation=cv2.INTER_CUBIC), 0.0)
                    if cov is not None:
                        cov = coverage.resample(cov, (self.plate_w, self.plate_h), cv2.INTER_LINEAR)
                return color.chroma_of(rgb), cov
        return None

    def finish(self, frame: int, result: Result) -> FrameOutput:
        """Working-resolution result -> plate-resolution output keeping plate luminance.

        A keyframe's frame shows its painted colour exactly where the painting covers the
        plate (everywhere, without coverage); elsewhere the computed colour."""
        y = self.luma(frame)
        conf = result.confidence
        if conf.shape != y.shape:
            conf = cv2.resize(conf, (self.plate_w, self.plate_h), interpolation=cv2.INTER_LINEAR)
        painted = self._keyframe_ab(frame)
        if painted is None or painted[1] is not None:
            # at plate resolution (bilinear from the working one): where the result is
            # unsure, a small guided filter on the plate's L* pulls chroma edges smeared by
            # the chain's warps back towards the luminance edges; confident colour is kept.
            # The chain's state is untouched, so nothing compounds.
            guide = np.clip(self._plate_L(frame) / 100.0, 0.0, 1.0).astype(np.float32)
            ab = refine_unsure(result.ab, guide, conf, radius=REFINE_RADIUS, eps=REFINE_EPS)
        if painted is not None:
            ab = painted[0] if painted[1] is None else np.where(painted[1][..., None], painted[0], ab)
        alpha = self.alpha_fn(frame) if self.alpha_fn is not None else None
        rgb = color.recombine(y, ab, max_value=self.max_value, saturation=self.saturation, alpha=alpha)
        return FrameOutput(frame=frame, rgb=rgb, ab=ab, confidence=np.clip(conf, 0, 1))

    # -------------------------------------------------------------- running
    def segments(self, frames: Sequence[int]) -> List[Segment]:
        return plan_segments(frames, [r.frame for r in self.references if r.frame is not None])

    def temporal_stage(self, frames: Sequence[int], wanted: Optional[Sequence[int]] = None):
        """The temporal smoothing stage for ``wanted`` frames of the shot ``frames``
        (:class:`nuke_colorize.temporal.TemporalStage`), or None when smoothing is off."""
        if not self.temporal_smoothing > 0:
            return None
        from .temporal import TemporalStage
        return TemporalStage(frames, wanted, self.temporal_smoothing,
                             keep=[r.frame for r in self.references if r.frame is not None],
                             L_of=lambda f: self.target(f).L)

    def results(self, frames: Sequence[int]) -> Iterator[Tuple[int, Result]]:
        """(frame, working-resolution Result) for every frame, in processing order (no
        plate-resolution finishing; for analysis such as keyframe suggestions)."""
        self.engine = Engine(self.backend, self.references, self.target, self.store)
        yield from self.engine.run(self.segments(frames), None)

    def run(self, frames: Sequence[int], wanted: Optional[Sequence[int]] = None,
            on_computed: Optional[Callable[[int], None]] = None) -> Iterator[FrameOutput]:
        """Yield finished frames (processing order) for ``wanted`` frames of the shot ``frames``.

        With temporal smoothing the engine also runs the frames of each wanted frame's window
        and a frame is yielded once its window is complete."""
        self.engine = Engine(self.backend, self.references, self.target, self.store)
        cb = (lambda f, r: on_computed(f)) if on_computed else None
        stage = self.temporal_stage(frames, wanted)
        need = stage.needed() if stage is not None else wanted
        for f, res in self.engine.run(self.segments(frames), need, on_frame=cb):
            for g, r in (stage.add(f, res) if stage is not None else [(f, res)]):
                yield self.finish(g, r)
        for g, r in (stage.flush() if stage is not None else []):
            yield self.finish(g, r)


def colorize_clip(luma: Callable[[int], np.ndarray], frames: Sequence[int],
                  references: Sequence[ReferenceInput], backend="exemplar",
                  settings: Optional[dict] = None, device: str = "cpu",
                  matte: Optional[Callable[[int], np.ndarray]] = None,
                  progress: Optional[Callable[[int], None]] = None,
                  plate_size: Optional[Tuple[int, int]] = None,
                  temporal_smoothing: float = 0.0,
                  max_value: Optional[float] = None) -> Iterator[FrameOutput]:
    """Colourise ``frames`` of a clip given as luminance arrays (see :class:`Colorizer`)."""
    if plate_size is None:
        y0 = np.asarray(luma(frames[0]))
        plate_size = (y0.shape[1], y0.shape[0])
    c = Colorizer(luma, plate_size, references, backend, settings, device, matte,
                  max_value=max_value, temporal_smoothing=temporal_smoothing)
    for out in c.run(frames):
        if progress is not None:
            progress(out.frame)
        yield out
