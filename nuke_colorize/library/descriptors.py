"""Global descriptors of an image's luminance, for retrieving colour references.

Everything is computed on CIE L* only, so a colour still (through its Rec.709 luminance) and
a grey plate frame are described on equal terms. One descriptor is a dict of parts, each a
1-D float32 vector with unit L2 norm, compared by cosine (:mod:`.query`):

* ``cnn``    (1280,) GeM pooling (p = 3) of the last MobileNetV2 layer (stride 32, ReLU6,
  the classifier's input): what is in the picture. Same ImageNet weights as the default
  backend (:func:`nuke_colorize.correspond.features.load_mobilenetv2`).
* ``mid``    (192,) mean and standard deviation over positions of the stride-16 tap
  (96 channels, each position's vector L2-normalised first): textures and parts.
* ``layout`` (32,) 8x4 grid (columns x rows) of mean L*, mean-free: where light and dark
  are (the picture's composition), independent of exposure.
* ``hist``   (16,) square root of the 16-bin L* histogram on [0, 100] (cosine of square
  roots = Bhattacharyya coefficient): tonal distribution.

and a local part for re-ranking (:mod:`.query`): ``local`` (40, 256) = the stride-16 and
stride-32 taps (96 + 160 channels, each position L2-normalised), average-pooled to an 8x5
grid of cells, concatenated and L2-normalised per cell: what is where, at the scale of
regions (sky, grass, a car), as the default backend's matching sees it.

The image is resized (area filter) so its long side is :data:`FEATURE_SIZE` before the
network runs; the network sees the image's own aspect (padded to a multiple of 32 by the
feature stack, outputs cropped back).
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..correspond import features as feats

DESCRIPTOR_VERSION = 2
FEATURE_SIZE = 320            # long side (pixels) of the image the network sees
GEM_P = 3.0
LAYOUT_GRID = (8, 4)          # (columns, rows)
HIST_BINS = 16
MID_TAP, TAP32, LAST_TAP = 13, 16, 18   # MobileNetV2 blocks: stride 16 (96 ch), 32 (160), 32 (1280)
LOCAL_GRID = (8, 5)           # (columns, rows) of the local part
LOCAL_SHAPE = (LOCAL_GRID[0] * LOCAL_GRID[1], 96 + 160)
PARTS: Dict[str, int] = {"cnn": 1280, "mid": 192, "layout": LAYOUT_GRID[0] * LAYOUT_GRID[1],
                         "hist": HIST_BINS}


def feature_size(width: int, height: int, long_side: int = FEATURE_SIZE):
    """(w, h) of the network input for an image of ``width`` x ``height`` (long side
    ``long_side``, never upscaled below 32 on the short side)."""
    s = float(long_side) / max(width, height)
    return max(32, int(round(width * s))), max(32, int(round(height * s)))


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32)
    n = float(np.linalg.norm(v))
    return (v / n).astype(np.float32) if n > 1e-12 else np.zeros_like(v)


def cheap_parts(L: np.ndarray) -> Dict[str, np.ndarray]:
    """(H, W) L* in [0, 100] -> {"layout": (32,), "hist": (16,)}, each unit length.

    A flat image has a zero layout vector (cosine 0 with everything)."""
    L = np.asarray(L, np.float32)
    grid = cv2.resize(L, LAYOUT_GRID, interpolation=cv2.INTER_AREA).reshape(-1)
    hist, _ = np.histogram(np.clip(L, 0.0, 100.0), bins=HIST_BINS, range=(0.0, 100.0))
    hist = hist.astype(np.float64) / max(1, hist.sum())
    return {"layout": _unit(grid - grid.mean()), "hist": _unit(np.sqrt(hist))}


@torch.inference_mode()
def cnn_parts(net: torch.nn.Module, Ls: Sequence[np.ndarray], device: str = "cpu") -> List[Dict[str, np.ndarray]]:
    """Network parts for a batch of same-size (h, w) L* images -> [{"cnn", "mid"}] per image."""
    x = torch.from_numpy(np.stack([np.asarray(L, np.float32) for L in Ls]))[:, None].to(device)
    taps = feats.pyramid(net, x, (MID_TAP, TAP32, LAST_TAP))   # {13:, 16:, 18:}, cropped to the image
    last = taps[LAST_TAP].clamp_min(1e-6)
    gem = last.pow(GEM_P).mean(dim=(2, 3)).pow(1.0 / GEM_P)                      # (B, 1280)
    mid = taps[MID_TAP]
    mid = mid / mid.norm(dim=1, keepdim=True).clamp_min(1e-6)
    t32 = taps[TAP32]
    t32 = t32 / t32.norm(dim=1, keepdim=True).clamp_min(1e-6)
    cells = (LOCAL_GRID[1], LOCAL_GRID[0])
    local = torch.cat([F.adaptive_avg_pool2d(mid, cells), F.adaptive_avg_pool2d(t32, cells)], 1)
    local = local / local.norm(dim=1, keepdim=True).clamp_min(1e-6)
    local = local.flatten(2).transpose(1, 2)                                      # (B, 40, 256)
    mid = torch.cat([mid.mean(dim=(2, 3)), mid.std(dim=(2, 3), unbiased=False)], 1)  # (B, 192)
    gem, mid, local = gem.cpu().numpy(), mid.cpu().numpy(), local.cpu().numpy().astype(np.float32)
    return [{"cnn": _unit(gem[i]), "mid": _unit(mid[i]), "local": local[i]} for i in range(len(Ls))]


def small_L_from_linear_y(y: np.ndarray, long_side: int = FEATURE_SIZE) -> np.ndarray:
    """(H, W) linear luminance (a plate frame) -> L* resized (area) to the feature size."""
    y = np.asarray(y, np.float32)
    w, h = feature_size(y.shape[1], y.shape[0], long_side)
    ys = cv2.resize(y, (w, h), interpolation=cv2.INTER_AREA) if (w, h) != (y.shape[1], y.shape[0]) else y
    from ..color import y_to_L
    return y_to_L(np.maximum(ys, 0.0))


def describe_L(net: torch.nn.Module, Ls: Sequence[np.ndarray], device: str = "cpu") -> List[Dict[str, np.ndarray]]:
    """Full descriptors of L* images already at feature size (any sizes: same-size runs
    are batched). -> one dict of parts (see :data:`PARTS`) per image."""
    out: List[Dict[str, np.ndarray]] = [None] * len(Ls)  # type: ignore[list-item]
    by_shape: Dict[tuple, List[int]] = {}
    for i, L in enumerate(Ls):
        by_shape.setdefault(tuple(L.shape), []).append(i)
    for idx in by_shape.values():
        for b in range(0, len(idx), 16):
            chunk = idx[b:b + 16]
            for i, d in zip(chunk, cnn_parts(net, [Ls[j] for j in chunk], device)):
                d.update(cheap_parts(Ls[i]))
                out[i] = d
    return out


def shapes() -> Dict[str, tuple]:
    """Shape of each part of one descriptor (global parts 1-D, ``local`` 2-D)."""
    return dict({p: (n,) for p, n in PARTS.items()}, local=LOCAL_SHAPE)


def stack(descs: Sequence[Dict[str, np.ndarray]]) -> Dict[str, np.ndarray]:
    """List of descriptors -> {part: (N, ...) float32} (``local``: (N, 40, 256))."""
    return {p: (np.stack([d[p] for d in descs]).astype(np.float32) if descs
                else np.zeros((0,) + shp, np.float32)) for p, shp in shapes().items()}
