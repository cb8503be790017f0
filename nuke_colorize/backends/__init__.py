"""Backend registry: ``make_backend(name, settings, device)``, ``backend_settings(name)`` and
``lazy_backend(name, settings, device)``.

Backends register lazily by import path so that importing the package stays cheap and a
missing optional dependency only matters when that backend is asked for. Each backend has a
settings class (name, version, defaults, validation, working size, cache identity) that
never imports torch, and the backend class proper, derived from it.
"""
from __future__ import annotations

import importlib
from typing import Any, Dict, Optional

from ..errors import InputError
from .base import Backend, BackendSettings, Previous, Reference, Result, TargetFrame

REGISTRY = {
    "exemplar": "nuke_colorize.backends.exemplar:ExemplarBackend",
    "deepexemplar": "nuke_colorize.backends.deepexemplar:DeepExemplarBackend",
}
#: each backend's settings class (torch-free)
SETTINGS = {
    "exemplar": "nuke_colorize.backends.exemplar_settings:ExemplarSettings",
    "deepexemplar": "nuke_colorize.backends.deepexemplar:DeepExemplarSettings",
}
DEFAULT_BACKEND = "exemplar"


def _load(table: Dict[str, str], name: str):
    if name not in table:
        raise InputError(f"unknown backend '{name}'", hint=f"choose one of {sorted(REGISTRY)}")
    mod, cls = table[name].split(":")
    return getattr(importlib.import_module(mod), cls)


def backend_class(name: str):
    """The backend class ``name`` (importing it may import torch)."""
    return _load(REGISTRY, name)


def backend_settings(name: str):
    """The settings class of backend ``name`` (never imports torch)."""
    return _load(SETTINGS, name)


def make_backend(name: str, settings: Optional[Dict[str, Any]] = None, device: str = "cpu") -> Backend:
    return backend_class(name)(settings=settings, device=device)


def lazy_backend(name: str, settings: Optional[Dict[str, Any]] = None, device: str = "cpu") -> Backend:
    """Backend ``name`` built on its first computation (:class:`.lazy.LazyBackend`): the
    settings are checked now, the networks loaded only when a frame is computed."""
    from .lazy import LazyBackend
    return LazyBackend(name, settings, device)


__all__ = ["Backend", "BackendSettings", "Previous", "Reference", "Result", "TargetFrame", "make_backend",
           "backend_class", "backend_settings", "lazy_backend", "REGISTRY", "SETTINGS", "DEFAULT_BACKEND"]
