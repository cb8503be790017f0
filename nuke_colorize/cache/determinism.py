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

from typing import Any, Dict


def fix_threads(threads: int) -> None:
    """Set PyTorch's intra-op and OpenCV's thread counts to ``threads`` (>= 1)."""
    import cv2
    import torch

    n = max(1, int(threads))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    cv2.setNumThreads(n)


def stack_versions() -> Dict[str, str]:
    """Versions of the numeric libraries whose results the cache keys on."""
    import cv2
    import numpy
    import torch

    return {"torch": str(torch.__version__), "opencv": str(cv2.__version__), "numpy": str(numpy.__version__)}


def cpu_capability() -> str:
    try:
        import torch
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # noqa: BLE001 - informational only
        return "unknown"


def rule(threads: int) -> Dict[str, Any]:
    """What the segment keys include: thread count and library versions."""
    d: Dict[str, Any] = {"threads": max(1, int(threads))}
    d.update(stack_versions())
    return d
