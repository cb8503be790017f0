"""The determinism rule of the shot cache: a fixed CPU thread count, recorded and keyed.

PyTorch's CPU kernels split reductions by thread count, so the same network on the same input
gives different low bits with 1, 2 or 4 threads (measured: MobileNetV2 features and the matching
softmax differ; OpenCV's DIS flow does not, but is fixed as well). Every process that reads or
writes a shot cache therefore calls :func:`fix_threads` with the shot's ``threads`` value
(default 1) before any computation, and the value, together with the library versions, is part
of every segment key: a cache built with other threads or other library versions is never
resumed, it is rebuilt beside the old segments.

Not covered by the rule (documented for pipeline TDs): machines whose CPUs dispatch different
instruction sets (``cpu_capability``, e.g. AVX2 vs AVX512) and GPUs may differ in the last bits;
the manifest records the capability so such a mix can be found.
"""
from __future__ import annotations

import sys
from typing import Any, Dict, Optional

from .. import torchinfo

#: the thread count of the last :func:`fix_threads`, applied to torch when it is loaded
_threads: Optional[int] = None


def fix_threads(threads: int) -> None:
    """Set OpenCV's and PyTorch's intra-op thread counts to ``threads`` (>= 1).

    torch is not imported for this: when it is not loaded yet, the count is applied by
    :func:`apply_torch_threads`, which whatever runs torch next calls first (a render read
    entirely from the cache never loads it; :class:`nuke_colorize.backends.lazy.LazyBackend`)."""
    import cv2

    global _threads
    _threads = max(1, int(threads))
    cv2.setNumThreads(_threads)
    if "torch" in sys.modules:
        apply_torch_threads()


def apply_torch_threads() -> None:
    """Give torch the thread count of the last :func:`fix_threads` (nothing if none)."""
    if _threads is None:
        return
    import torch

    if torch.get_num_threads() != _threads:
        torch.set_num_threads(_threads)


def stack_versions() -> Dict[str, str]:
    """Versions of the numeric libraries whose results the cache keys on."""
    import cv2
    import numpy

    return {"torch": torchinfo.version(), "opencv": str(cv2.__version__), "numpy": str(numpy.__version__)}


def cpu_capability() -> Optional[str]:
    """The instruction set torch's CPU kernels dispatch to (e.g. ``AVX2``), or None when torch
    is not loaded (this process computed nothing with it)."""
    if "torch" not in sys.modules:
        return None
    try:
        return str(sys.modules["torch"].backends.cpu.get_cpu_capability())
    except Exception:  # noqa: BLE001 - informational only
        return "unknown"


def rule(threads: int) -> Dict[str, Any]:
    """What the segment keys include: thread count and library versions."""
    d: Dict[str, Any] = {"threads": max(1, int(threads))}
    d.update(stack_versions())
    return d
