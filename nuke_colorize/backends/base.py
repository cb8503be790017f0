"""The backend interface every colorization method implements.

A backend turns one grey frame (at working resolution) into chroma, given the references
and, for recurrent methods, the previous colourised frame of the same chain. The engine
(:mod:`nuke_colorize.engine`) decides frame order, carries the state between calls and
does everything at plate resolution (refinement, recombination, I/O); the shot cache
(:mod:`nuke_colorize.cache`) stores the returned ``state`` so that a chain can resume
on another machine.

Tensor conventions (numpy, float32, at working resolution H x W):

* ``L``: (H, W) CIE L* in [0, 100] (clamped for the networks; see :mod:`nuke_colorize.color`).
* ``ab``: (H, W, 2) CIE a*, b*, roughly [-128, 127].
* ``confidence``: (H, W) in [0, 1].
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np


def half_round_trip(a: np.ndarray) -> np.ndarray:
    """float32 copy of ``a`` rounded to float16 (IEEE round-to-nearest-even, the same bits
    as ``a.astype(np.float16).astype(np.float32)``, several times faster through torch)."""
    import torch

    a = np.ascontiguousarray(a, dtype=np.float32)
    if not a.flags.writeable:      # torch.from_numpy warns about read-only arrays
        a = a.copy()
    return torch.from_numpy(a).to(torch.float16).to(torch.float32).numpy()


@dataclass
class Reference:
    """A colour reference, already converted to Lab at working resolution.

    Attributes:
        lab: (Hr, Wr, 3) float32 Lab of the reference. Keyframes are resampled to the
            working size of the plate; external stills keep their aspect (long side
            matched to the working size's long side).
        frame: plate frame this reference is a colour version of (a keyframe), or None for
            an external still (semantic matching only).
        path: where it came from (for messages and metadata).
        key: stable identity (content hash) used by the shot cache for invalidation.
        matte: optional (Hr, Wr) int32 instance IDs of the reference (0 = background),
            for the instance restriction of the correspondence.
        matte_kind: what kind of matte file ``matte`` was read from (a kind name of
            :mod:`nuke_colorize.io.matte`: ``cryptomatte``, ``channels``, ``ids`` ...), or
            None (not known: an array given directly).
        coverage: optional (Hr, Wr) bool, the pixels that carry colour (the file's alpha,
            :mod:`nuke_colorize.coverage`): the backends never take colour from the others.
            None: every pixel.
    """

    lab: np.ndarray
    frame: Optional[int] = None
    path: str = ""
    key: str = ""
    matte: Optional[np.ndarray] = None
    matte_kind: Optional[str] = None
    coverage: Optional[np.ndarray] = None

    @property
    def is_keyframe(self) -> bool:
        return self.frame is not None


@dataclass
class TargetFrame:
    """The frame to colourise: ``L`` (H, W) float32 in [0, 100] at working resolution.

    ``matte`` is an optional (H, W) int32 instance-ID map (0 = no instance) when the
    compositor provides one; ``matte_kind`` the kind of matte file it was read from (see
    :class:`Reference`), None when not known. With the backends' ``matte_ids`` setting at
    ``auto`` the kind decides whether the IDs are taken as given (a Cryptomatte, object
    channels: :data:`nuke_colorize.io.matte.BY_NAME`) or associated over time.
    """

    frame: int
    L: np.ndarray
    matte: Optional[np.ndarray] = None
    matte_kind: Optional[str] = None


@dataclass
class Previous:
    """The previous frame of the same chain (adjacent in the chain's order).

    ``state`` is exactly what the backend returned for that frame (after the cache's
    round-trip, so in-memory and resumed chains see identical bits). It always holds
    ``"ab"`` (H, W, 2) and ``"L"`` (H, W).
    """

    frame: int
    state: Dict[str, np.ndarray]


@dataclass
class Result:
    """What a backend returns for one frame.

    ab: (H, W, 2) float32 predicted chroma at working resolution.
    confidence: (H, W) float32 in [0, 1].
    state: arrays to carry to the next frame of the chain (must include "ab" and "L");
        stored by the shot cache, so keep it small (float16 is applied by the cache).
    info: free-form per-frame diagnostics (JSON-serialisable), e.g. timings.
    """

    ab: np.ndarray
    confidence: np.ndarray
    state: Dict[str, np.ndarray]
    info: Dict[str, Any] = field(default_factory=dict)


#: values of the ``matte_ids`` setting: how a frame's matte IDs become the keyframe's IDs
MATTE_IDS = ("auto", "stable", "associate")
#: the settings of backends that follow matte IDs along a chain (:meth:`Backend._next_instance_map`):
#: ``matte_ids`` (above) and ``instance_iou``, the IoU a frame's ID needs with the previous
#: frame's map (carried along the flow) to take its ID when IDs are associated; their
#: defaults, choices and ranges, for :func:`check_settings`
MATTE_DEFAULTS = {"matte_ids": "auto", "instance_iou": 0.3}
MATTE_CHOICES = {"matte_ids": MATTE_IDS}
MATTE_RANGES = {"instance_iou": (0.0, 1.0)}


def stable_matte_ids(setting: str, kinds: Sequence[Optional[str]]) -> bool:
    """Whether matte IDs are taken as given (``stable``) rather than associated over time,
    for the ``matte_ids`` ``setting`` and the ``kinds`` of the mattes involved (this frame's
    and the chain's keyframe's; see :mod:`nuke_colorize.io.matte`). ``auto``: stable when all
    are of a kind whose IDs name the object (a Cryptomatte, object channels); not for integer
    or colour-coded ID mattes, whose numbering may be arbitrary per frame (an instance
    segmentation's), nor for a single-object matte (one frame of a float ID pass showing only
    ID 1 reads as one; for one object both rules give the same map but where the IoU fails)."""
    if setting != "auto":
        return setting == "stable"
    from ..io.matte import BY_NAME
    return bool(kinds) and all(k in BY_NAME for k in kinds)


class BackendSettings:
    """What a backend is, without running it: its name, version, validated settings, working
    size and cache identity (:meth:`settings_key`). Cheap to build and never imports torch, so
    that work needing only these (a render read entirely from the shot cache, settings
    checks) does not load the networks; each backend's class derives from its settings class.
    """

    name: str = ""
    #: exponent of the distance fall-off when two chains' results for a frame between two
    #: keyframes are blended (:func:`nuke_colorize.engine.blend_weight`): 1 = linear; less
    #: when the backend's confidence itself already falls with the distance to the keyframe
    blend_distance_power: float = 1.0

    def __init__(self, settings: Optional[Dict[str, Any]] = None, device: str = "cpu"):
        self.settings = dict(self.default_settings())
        unknown = set(settings or {}) - set(self.settings)
        if unknown:
            from ..errors import InputError
            raise InputError(f"unknown setting(s) for backend '{self.name}': {sorted(unknown)}",
                             hint=f"known: {sorted(self.settings)}")
        self.settings.update(settings or {})
        self.device = device

    @classmethod
    def default_settings(cls) -> Dict[str, Any]:
        return {}

    def settings_key(self) -> Dict[str, Any]:
        """Everything that changes the output (name, version, settings)."""
        return {"backend": self.name, "version": getattr(self, "version", "1"),
                "settings": self.settings}

    def working_size(self, width: int, height: int) -> Tuple[int, int]:
        """Working resolution (w, h) for a plate of ``width`` x ``height``, aspect kept.

        Default: the plate itself, scaled down so the long side is at most the
        ``max_working_size`` setting (when the backend has one).
        """
        limit = int(self.settings.get("max_working_size", 0) or 0)
        if limit <= 0 or max(width, height) <= limit:
            return int(width), int(height)
        s = limit / float(max(width, height))
        return max(8, int(round(width * s))), max(8, int(round(height * s)))


class Backend(BackendSettings, abc.ABC):
    """One colorization method.

    Lifecycle: ``backend = make_backend(name, settings, device)``; ``backend.set_references(refs)``
    once per shot (reference-side work such as features is computed here and reused);
    then ``backend.colorize(target, previous)`` per frame in chain order.
    ``settings_key()`` must change whenever a setting that changes the output changes
    (the shot cache keys on it).
    """

    def __init__(self, settings: Optional[Dict[str, Any]] = None, device: str = "cpu"):
        super().__init__(settings, device)
        self.references: List[Reference] = []
        self._ref_known: List[Optional[np.ndarray]] = []

    def set_references(self, references: List[Reference]) -> None:
        self.references = list(references)
        # each keyframe's own matte IDs: an object coming back into view keeps its ID
        self._ref_known = [np.unique(r.matte) if r.matte is not None else None for r in self.references]

    def reference_index(self, reference: Reference) -> int:
        """Position of ``reference`` (a keyframe: matched by its frame) in :attr:`references`."""
        return next(i for i, r in enumerate(self.references)
                    if r is reference or (r.frame is not None and r.frame == reference.frame))

    # spatiotemporal restriction (Akimoto et al.), for backends with a ``restrict`` setting
    @property
    def _dense(self) -> bool:
        """Dense-tracking masks are on (``restrict`` dense or both)."""
        return self.settings.get("restrict", "none") in ("dense", "both")

    @property
    def _instance(self) -> bool:
        """The instance restriction is on (``restrict`` instance or both)."""
        return self.settings.get("restrict", "none") in ("instance", "both")

    # matte IDs along a chain (:func:`nuke_colorize.correspond.instances.next_map`), for backends
    # with a ``matte_ids`` setting
    def _stable_ids(self, target: TargetFrame, anchor: Optional[int]) -> bool:
        """Whether this frame's matte IDs are taken as given (the ``matte_ids`` setting; with
        ``auto``, from the kinds of this frame's matte and the chain's keyframe's)."""
        ref = self.references[anchor] if anchor is not None else None
        kinds = [target.matte_kind] + ([ref.matte_kind] if ref is not None and ref.matte is not None else [])
        return stable_matte_ids(str(self.settings["matte_ids"]), kinds)

    def _known_ids(self, anchor: Optional[int]) -> Optional[np.ndarray]:
        """The IDs of the chain's keyframe's own matte (sorted), or None (no keyframe, no matte)."""
        return self._ref_known[anchor] if anchor is not None else None

    def _next_instance_map(self, previous_map: np.ndarray, flow: Optional[np.ndarray], target: TargetFrame,
                           anchor: Optional[int]) -> Optional[np.ndarray]:
        """This frame's instance map in the IDs of the chain's keyframe (``anchor``), or None:
        :func:`~nuke_colorize.correspond.instances.next_map` of the previous frame's map carried
        along ``flow`` and this frame's matte, its IDs taken as given or associated by IoU (at
        least ``instance_iou``) as ``matte_ids`` says."""
        from ..correspond import instances
        return instances.next_map(previous_map, flow, target.matte, float(self.settings["instance_iou"]),
                                  self._known_ids(anchor), stable=self._stable_ids(target, anchor))

    @abc.abstractmethod
    def colorize(self, target: TargetFrame, previous: Optional[Previous]) -> Result:
        """Colourise ``target``; ``previous`` is None at the start of a chain."""

    def keyframe_result(self, target: TargetFrame, reference: Reference) -> Result:
        """Result for a frame that *is* a keyframe: the painted colour itself.

        The reference's ab (already at working size) is used as is, confidence 1. Where a
        keyframe painted in part does not cover the frame (:attr:`Reference.coverage`), the
        frame's colour is what :meth:`colorize` computes for it from every reference (the
        covered part of this keyframe included), at its confidence.
        """
        ab = np.ascontiguousarray(reference.lab[..., 1:], dtype=np.float32)
        conf = np.ones(target.L.shape, np.float32)
        cov = reference.coverage
        if cov is not None and cov.shape == target.L.shape:
            computed = self.colorize(target, None)
            ab = np.where(cov[..., None], ab, computed.ab).astype(np.float32)
            conf = np.where(cov, conf, computed.confidence).astype(np.float32)
        return Result(ab=ab, confidence=conf, state={"ab": ab, "L": target.L.astype(np.float32)})


def check_settings(backend: str, settings: Dict[str, Any], choices: Dict[str, Sequence[str]],
                   ranges: Dict[str, Tuple[Optional[float], Optional[float]]],
                   integers: Sequence[str] = (),
                   list_ranges: Optional[Dict[str, Tuple[int, Optional[float], Optional[float]]]] = None) -> None:
    """Refuse settings of the wrong type or outside their range, naming the setting.

    ``ranges``: key -> (low, high), inclusive, None = unbounded; ``integers``: keys of
    ``ranges`` that take whole numbers only (4.0 passes, 2.5 does not: it would be
    truncated where it is used); ``list_ranges``: key -> (length, low, high) of a list of
    numbers, checked element by element."""
    from ..errors import InputError
    for key, (length, lo, hi) in (list_ranges or {}).items():
        v = settings.get(key)
        ok = isinstance(v, (list, tuple)) and len(v) == length and all(
            not isinstance(x, bool) and isinstance(x, (int, float)) and np.isfinite(x) for x in v)
        if not ok:
            raise InputError(f"backend '{backend}' setting {key}={v!r} must be a list of {length} numbers",
                             hint=f"e.g. --set {key}={[1.0] * length}")
        for i, x in enumerate(v):
            if (lo is not None and x < lo) or (hi is not None and x > hi):
                raise InputError(f"backend '{backend}' setting {key}={list(v)!r}: value #{i + 1} ({x!r}) "
                                 f"is outside [{lo}, {hi}]", hint=f"use values between {lo} and {hi}")
    for key, allowed_values in choices.items():
        if settings.get(key) not in allowed_values:
            raise InputError(f"backend '{backend}' setting {key}={settings.get(key)!r} is not one of "
                             f"{', '.join(allowed_values)}", hint=f"use --set {key}=<one of those>")
    for key, (lo, hi) in ranges.items():
        v = settings.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise InputError(f"backend '{backend}' setting {key}={v!r} must be a number",
                             hint=f"e.g. --set {key}={ranges[key][0]}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise InputError(f"backend '{backend}' setting {key}={v!r} is outside [{lo}, {hi}]",
                             hint=f"use a value between {lo} and {hi}")
        if key in integers and float(v) != int(v):
            raise InputError(f"backend '{backend}' setting {key}={v!r} must be a whole number",
                             hint=f"e.g. --set {key}={int(v)}")
