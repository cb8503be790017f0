"""Backend registry: ``make_backend(name, settings, device)``.

Backends register lazily by import path so that importing the package stays cheap and a
missing optional dependency only matters when that backend is asked for.
"""
from __future__ import annotations

import importlib
from typing import Any, Dict, Optional

from ..errors import InputError
from .base import Backend, Previous, Reference, Result, TargetFrame

REGISTRY = {
    "exemplar": "nuke_colorize.backends.exemplar:ExemplarBackend",
    "deepexemplar": "nuke_colorize.backends.deepexemplar:DeepExemplarBackend",
}
DEFAULT_BACKEND = "exemplar"


def backend_class(name: str):
    if name not in REGISTRY:
        raise InputError(f"unknown backend '{name}'", hint=f"choose one of {sorted(REGISTRY)}")
    mod, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(mod), cls)


def make_backend(name: str, settings: Optional[Dict[str, Any]] = None, device: str = "cpu") -> Backend:
    return backend_class(name)(settings=settings, device=device)


__all__ = ["Backend", "Previous", "Reference", "Result", "TargetFrame", "make_backend",
           "backend_class", "REGISTRY", "DEFAULT_BACKEND"]
