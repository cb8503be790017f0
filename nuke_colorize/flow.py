"""Dense optical flow (OpenCV DIS) on luminance, warping, forward-backward consistency.

Flow convention: ``flow[y, x] = (dx, dy)`` maps a pixel of image A to its position in
image B, i.e. ``A(x) ~ B(x + flow(x))``. :func:`warp` samples an image of B at
``x + flow(x)`` and so brings B's content onto A's grid.
"""
from __future__ import annotations

import threading
from functools import lru_cache
from typing import Tuple

import cv2
import numpy as np

_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    "fine": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
#: presets that change OpenCV's. "fine" is "medium" (8x8 patches, 25 gradient-descent
#: iterations) searched down to full resolution (finest scale 0 instead of 1, patch stride
#: 4) without the variational refinement, which smooths the flow across motion boundaries
#: and costs most of the time at full resolution. Flow that follows thin structures and
#: object edges (test_flow.py: end-point error at a moving square's edges 0.74 px vs 0.93)
#: for ~1.4x the time of "medium" (about 0.085 s vs 0.06 s per direction at 854x480 on
#: this 2-core CPU).
_TUNED = {"fine": dict(FinestScale=0, PatchSize=8, PatchStride=4, VariationalRefinementIterations=0)}

PRESETS = tuple(_PRESETS)


def L_to_u8(L: np.ndarray) -> np.ndarray:
    """(H, W) CIE L* in [0, 100] -> uint8 image for flow (perceptually uniform steps)."""
    return np.clip(np.asarray(L, np.float32) * 2.55 + 0.5, 0, 255).astype(np.uint8)


#: OpenCV's DIS picks its pyramid depth from the image's longer side and then fails (or,
#: for some presets, crashes the process) when the shorter side vanishes at the coarsest
#: scale: 7x5 raises, 64x8 and 1024x12 segfault. Smaller images are padded (edge pixels
#: repeated) to at least MIN_SIDE on each side and 1/MAX_ASPECT of the longer side, and the
#: flow cropped back; 1,008 sizes from 1x1 to 4000x120 and 120x4000, four presets, ran clean
#: this way (each in a forked process, 2026-12-07).
MIN_SIDE = 32
MAX_ASPECT = 8


def dis_flow(a_u8: np.ndarray, b_u8: np.ndarray, preset: str = "medium") -> np.ndarray:
    """DIS flow from A to B: (H, W) uint8 each -> (H, W, 2) float32 with A(x) ~ B(x + flow).

    Deterministic for identical inputs (single-threaded inside OpenCV's DIS). Any size from
    1x1 up (small or very elongated images are padded for DIS, see MIN_SIDE).
    """
    dis = cv2.DISOpticalFlow_create(_PRESETS[preset])
    for name, value in _TUNED.get(preset, {}).items():
        getattr(dis, "set" + name)(value)
    h, w = a_u8.shape[:2]
    ph = max(h, MIN_SIDE, -(-w // MAX_ASPECT)) - h
    pw = max(w, MIN_SIDE, -(-h // MAX_ASPECT)) - w
    if ph or pw:
        a_u8, b_u8 = (cv2.copyMakeBorder(np.ascontiguousarray(x), 0, ph, 0, pw, cv2.BORDER_REPLICATE)
                      for x in (a_u8, b_u8))
        return np.ascontiguousarray(dis.calc(a_u8, b_u8, None)[:h, :w])
    return dis.calc(np.ascontiguousarray(a_u8), np.ascontiguousarray(b_u8), None)


class _Side(threading.Thread):
    """One call run on its own thread; :meth:`result` joins it and returns or re-raises.

    A thread per call rather than a pool: a Ctrl-C / SIGTERM landing between a
    ``ThreadPoolExecutor`` starting its worker and registering it for shutdown left the
    interpreter's exit waiting for that idle worker forever. This thread ends with its call
    (milliseconds). Not a daemon: a daemon thread still inside OpenCV at interpreter shutdown
    is killed mid-C++ and aborts the process."""

    def __init__(self, fn, *args):
        super().__init__(name="dis")
        self._call, self._value, self._error = (fn, args), None, None

    def run(self):
        fn, args = self._call
        try:
            self._value = fn(*args)
        except BaseException as err:  # noqa: BLE001 - handed to the caller by result()
            self._error = err

    def result(self):
        self.join()
        if self._error is not None:
            raise self._error
        return self._value


def dis_flow_pair(a_u8: np.ndarray, b_u8: np.ndarray, preset: str = "medium") -> Tuple[np.ndarray, np.ndarray]:
    """(flow A -> B, flow B -> A), as two :func:`dis_flow` calls run side by side on two
    threads (OpenCV releases the GIL; DIS itself hardly parallelises, so this halves the
    wall time on two cores). Each flow is the same bits as a lone :func:`dis_flow` call."""
    back = _Side(dis_flow, b_u8, a_u8, preset)
    back.start()
    try:
        forward = dis_flow(a_u8, b_u8, preset)
    finally:  # never leave the side thread behind, whatever the forward call raised
        back.join()
    return forward, back.result()


def warp(image: np.ndarray, flow: np.ndarray, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """Sample ``image`` (H, W[, C]) at ``x + flow(x)`` (bilinear). Returns the same shape."""
    gx, gy = pixel_grid(*flow.shape[:2])
    mx = gx + flow[..., 0]
    my = gy + flow[..., 1]
    img = np.ascontiguousarray(image, dtype=np.float32)
    out = cv2.remap(img, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=border)
    return out.reshape(img.shape)


def fb_error(flow_ab: np.ndarray, flow_ba: np.ndarray) -> np.ndarray:
    """Forward-backward error |f_ab(x) + f_ba(x + f_ab(x))| in pixels, (H, W) float32."""
    back = warp(flow_ba, flow_ab)
    return np.linalg.norm(flow_ab + back, axis=-1).astype(np.float32)


def fb_consistent(flow_ab: np.ndarray, flow_ba: np.ndarray, alpha: float = 0.01,
                  beta: float = 0.5) -> np.ndarray:
    """Occlusion test of Sundaram et al.: True where the round trip A->B->A closes.

    |f + f'|^2 < alpha (|f|^2 + |f'|^2) + beta, with f' = f_ba(x + f_ab(x)). (H, W) bool.
    """
    back = warp(flow_ba, flow_ab)
    fx, fy, bx, by = flow_ab[..., 0], flow_ab[..., 1], back[..., 0], back[..., 1]
    lhs = (fx + bx) ** 2 + (fy + by) ** 2
    rhs = alpha * (fx * fx + fy * fy + bx * bx + by * by) + beta
    inside = _inside(flow_ab)
    return (lhs < rhs) & inside


def _inside(flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    gx, gy = pixel_grid(h, w)
    x = gx + flow[..., 0]
    y = gy + flow[..., 1]
    return (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)


@lru_cache(maxsize=8)
def pixel_grid(h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
    """(x, y) pixel coordinates of an (h, w) image, two (h, w) float32 arrays (read-only,
    shared between calls)."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx.flags.writeable = False
    gy.flags.writeable = False
    return gx, gy
