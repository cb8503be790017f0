"""Facts about the installed torch, found without importing it when it is not loaded.

Importing torch costs about 1.6 s and several hundred MB per process. A render read entirely
from the shot cache needs only torch's version (the cache keys on it) and whether a CUDA
device could be used (``--device auto``); both are answered here from the installed package's
``version.py`` and the machine's device nodes, and by torch itself once it is loaded.
"""
from __future__ import annotations

import ast
import functools
import importlib.util
import os
import sys
from typing import Any, Dict, Optional

#: device nodes without which no CUDA (or ROCm) device can exist on Linux: NVIDIA's driver,
#: WSL2's GPU paravirtualisation, AMD's ROCm
GPU_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia/version", "/dev/dxg", "/dev/kfd")


def _loaded():
    return sys.modules.get("torch")


@functools.lru_cache(maxsize=1)
def build_fields() -> Optional[Dict[str, Any]]:
    """The constants of the installed ``torch/version.py`` (``__version__``, ``cuda``,
    ``hip``, ...), or None when they cannot be read without importing torch. Read once per
    process (every shot cache context asks for the version)."""
    try:
        spec = importlib.util.find_spec("torch")
        if spec is None or not spec.origin:
            return None
        with open(os.path.join(os.path.dirname(spec.origin), "version.py"), encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError, ImportError):
        return None
    fields: Dict[str, Any] = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        for t in targets:
            if isinstance(t, ast.Name) and isinstance(node.value, ast.Constant):
                fields[t.id] = node.value.value
    return fields if isinstance(fields.get("__version__"), str) else None


def version() -> str:
    """``torch.__version__`` (e.g. ``2.14.1+cu130``; the distribution's metadata drops the
    local ``+cu130`` part, so it is read from ``version.py``)."""
    torch = _loaded()
    if torch is None:
        fields = build_fields()
        if fields is not None:
            return fields["__version__"]
        import torch   # an unusual install: ask torch itself
    return str(torch.__version__)


def cuda_available() -> bool:
    """``torch.cuda.is_available()``, without importing torch when the answer is surely no:
    a build without CUDA or ROCm, or a Linux machine without any GPU device node."""
    torch = _loaded()
    if torch is None:
        fields = build_fields()
        if fields is not None and not fields.get("cuda") and not fields.get("hip"):
            return False
        if sys.platform.startswith("linux") and not any(os.path.exists(p) for p in GPU_NODES):
            return False
        import torch
    return bool(torch.cuda.is_available())


def torch_device(device: str) -> str:
    """The torch device to run on: ``cpu``, ``cuda`` or ``auto`` (CUDA when available). A
    ``cuda`` asked for where no CUDA GPU is available is refused (InputError: exit 2, one line)
    before any network is loaded, rather than failing inside torch as an internal error."""
    from .errors import InputError

    d = (device or "cpu").lower()
    if d == "auto":
        return "cuda" if cuda_available() else "cpu"
    if d.startswith("cuda") and not cuda_available():
        raise InputError("device 'cuda' was asked for but no CUDA GPU is available",
                         hint="use --device cpu")
    if d != "cpu" and not d.startswith("cuda"):
        raise InputError(f"unknown device '{device}'", hint="use cpu, cuda or auto")
    return d


def check_numpy_bridge() -> None:
    """Refuse, in one line, a torch that cannot exchange arrays with the installed NumPy.

    The backends hand every image to torch with ``torch.from_numpy``. PyTorch builds before
    2.3 were compiled against NumPy 1 and, next to NumPy 2 (which ``numpy>=1.23`` lets pip
    choose), import with only a warning but fail at the first array ("Numpy is not
    available"), i.e. in the middle of a render. Checked once before a backend's networks
    are loaded: InputError (exit 2) naming both versions and the fix."""
    import numpy as np
    import torch

    from .errors import InputError
    try:
        torch.from_numpy(np.zeros(1, dtype=np.float32))
    except (RuntimeError, TypeError) as err:
        raise InputError(f"torch {version()} cannot use NumPy {np.__version__} ({' '.join(str(err).split())}); "
                         "PyTorch works with NumPy 2 from torch 2.3 on",
                         hint="pip install 'numpy<2' into this environment, or use torch>=2.3") from None
