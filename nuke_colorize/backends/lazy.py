"""A backend built on its first computation.

A render whose frames all come from the shot cache needs of the backend only what its
settings class answers (working size, cache identity, blending exponent); building the
backend itself imports torch and loads the networks (about 1.6 s and several hundred MB
per process, paid by every farm render task). :class:`LazyBackend` answers those from the
settings and builds the backend the first time a frame is computed, so results are the same
bits either way.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Callable, ContextManager, Dict, List, Optional, Tuple

from .base import Backend, BackendSettings, Previous, Reference, Result, TargetFrame


class LazyBackend(Backend):
    """Backend ``name`` with ``settings`` on ``device``, built when first needed.

    The settings are validated at once (by the backend's settings class), so a bad setting is
    refused before any work. Anything not answered by the settings (``colorize``,
    ``keyframe_result``, backend-specific attributes) builds the backend and is passed on;
    the references given before that are handed over when it is built.
    """

    def __init__(self, name: str, settings: Optional[Dict[str, Any]] = None, device: str = "cpu"):
        from . import backend_settings

        self._given = dict(settings or {})
        self._device = device
        self._spec: BackendSettings = backend_settings(name)(settings=self._given, device=device)
        self._impl: Optional[Backend] = None
        self._refs: List[Reference] = []
        #: context manager factory around the build (the shot cache's ``preparing`` events)
        self.on_build: Optional[Callable[[], ContextManager]] = None

    # ------------------------------------------------------------- from the settings
    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def version(self) -> str:
        return getattr(self._spec, "version", "1")

    @property
    def settings(self) -> Dict[str, Any]:
        return self._spec.settings

    @property
    def device(self) -> str:
        return self._spec.device

    @property
    def blend_distance_power(self) -> float:
        return self._spec.blend_distance_power

    def settings_key(self) -> Dict[str, Any]:
        return self._spec.settings_key()

    def working_size(self, width: int, height: int) -> Tuple[int, int]:
        return self._spec.working_size(width, height)

    # ------------------------------------------------------------- the backend itself
    @property
    def built(self) -> bool:
        """True once the backend has been built."""
        return self._impl is not None

    @property
    def backend(self) -> Backend:
        """The backend, built (with the references set so far) on first access."""
        if self._impl is None:
            from ..cache import determinism
            from . import make_backend

            determinism.apply_torch_threads()   # a shot cache's thread rule, before torch runs
            with self.on_build() if self.on_build is not None else nullcontext():
                impl = make_backend(self._spec.name, self._given, self._device)
            if self._refs:
                impl.set_references(self._refs)
            self._impl = impl
        return self._impl

    @property
    def references(self) -> List[Reference]:
        return self._impl.references if self._impl is not None else self._refs

    @references.setter
    def references(self, refs: List[Reference]) -> None:
        self._refs = list(refs)

    def set_references(self, references: List[Reference]) -> None:
        """Reference-side work is done by the backend: now if it is built, else when it is."""
        self._refs = list(references)
        if self._impl is not None:
            self._impl.set_references(self._refs)

    def colorize(self, target: TargetFrame, previous: Optional[Previous]) -> Result:
        return self.backend.colorize(target, previous)

    def keyframe_result(self, target: TargetFrame, reference: Reference) -> Result:
        return self.backend.keyframe_result(target, reference)

    def __getattr__(self, attr: str) -> Any:
        # only reached for what is not defined here: the backend's own attributes
        if attr.startswith("__") or attr in ("_spec", "_impl", "_refs", "_given", "_device"):
            raise AttributeError(attr)
        return getattr(self.backend, attr)
