"""The three DeepExemplar subnets wired together: reference keys once, then one call per frame.

Differences from the official inference script, none of which changes the network itself:

* any size and aspect: images are padded (reflection) to a multiple of :data:`MULTIPLE`
  and the result is cropped back; nothing is centre-cropped;
* the reference side (VGG19 + embedding + phi + pooled ab) is computed once per reference
  (:meth:`DeepExemplarNet.reference_keys`) and reused for every frame;
* several references share one softmax: their keys are stacked;
* the affinity is computed in row tiles under a memory budget
  (:func:`nuke_colorize.correspond.affinity.softmax_warp`); a temperature at or below
  :data:`ARGMAX_TEMPERATURE` (the official 1e-10 is) is evaluated exactly as the winner-takes-
  all it amounts to, without forming the exponentials;
* no saturation boost is applied to the output.

Tensors are (N=1, C, H, W) float32 on the model's device.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..correspond.affinity import softmax_warp
from . import OFFICIAL_TEMPERATURE
from .colornet import ColorNet
from .correspondence import CorrespondenceNet
from .vgg19 import VGG19Features, caffe_input_from_L, caffe_input_from_rgb

MULTIPLE = 8          # image sides are padded to a multiple of this (and to at least MIN_SIDE)
MIN_SIDE = 32         # relu5_2 (stride 16) needs 2 cells for its reflection padding
FEATURE_STRIDE = 4    # the correspondence works at 1/4 of the image size
ARGMAX_TEMPERATURE = 1e-6      # at or below this the softmax is a hard argmax in float32
L_CENTER = 50.0       # the networks see L* - 50


def padded_side(n: int) -> int:
    """Side length after padding ``n`` to the network's multiple (and minimum)."""
    return max(MIN_SIDE, int(math.ceil(n / MULTIPLE)) * MULTIPLE)


def pad_to_multiple(x: torch.Tensor) -> torch.Tensor:
    """Pad (N, C, H, W) on the bottom/right to :func:`padded_side` (reflection when possible)."""
    h, w = x.shape[2:]
    ph, pw = padded_side(h) - h, padded_side(w) - w
    if not (ph or pw):
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _upsample_cells(x: torch.Tensor) -> torch.Tensor:
    """(1, C, h4, w4) per-cell values -> (1, C, 4 h4, 4 w4), nearest (as the original)."""
    return F.interpolate(x, scale_factor=FEATURE_STRIDE, mode="nearest")


@dataclass
class ReferenceKeys:
    """One reference, ready for matching.

    keys: (M, 256) centred, L2-normalised phi embedding of its M cells at 1/4 resolution.
    ab: (M, 2) the reference's a*, b* averaged over each 4x4 cell.
    size: (h4, w4) with M = h4 * w4.
    usable: optional (M,) bool, the cells that may be matched (a reference covering only
        part of its pixels, :mod:`nuke_colorize.coverage`); None: all.
    """

    keys: torch.Tensor
    ab: torch.Tensor
    size: Tuple[int, int]
    usable: Optional[torch.Tensor] = None


class DeepExemplarNet(nn.Module):
    """VGG19 features + correspondence subnet + colorization subnet."""

    def __init__(self) -> None:
        super().__init__()
        self.vgg = VGG19Features()
        self.corr = CorrespondenceNet()
        self.color = ColorNet()

    @property
    def parts(self) -> Dict[str, nn.Module]:
        """role -> submodule (roles as in :data:`nuke_colorize.networks.layout.ROLES`)."""
        return {"correspondence": self.corr, "colorization": self.color, "vgg19": self.vgg}

    def load_official(self, states: Mapping[str, Mapping[str, torch.Tensor]]) -> "DeepExemplarNet":
        """Load role -> state dict with ``strict=True`` (every key, every shape)."""
        for role, module in self.parts.items():
            module.load_state_dict(states[role], strict=True)
        return self

    def _embed(self, caffe_input: torch.Tensor) -> torch.Tensor:
        return self.corr.embed(*self.vgg(caffe_input))

    def reference_keys(self, rgb: torch.Tensor, ab: torch.Tensor) -> ReferenceKeys:
        """Reference as (1, 3, H, W) sRGB in [0, 1] and (1, 2, H, W) ab -> its keys."""
        h, w = rgb.shape[2:]
        hv, wv = math.ceil(h / FEATURE_STRIDE), math.ceil(w / FEATURE_STRIDE)
        emb = self._embed(caffe_input_from_rgb(pad_to_multiple(rgb)))
        phi = self.corr.key(emb, valid=(hv, wv))[:, :, :hv, :wv]
        ab4 = F.avg_pool2d(pad_to_multiple(ab), FEATURE_STRIDE)[:, :, :hv, :wv]
        keys = phi[0].reshape(phi.shape[1], -1).t().contiguous()
        return ReferenceKeys(keys=keys, ab=ab4[0].reshape(2, -1).t().contiguous(), size=(hv, wv))

    def query_cells(self, L: torch.Tensor, valid: Optional[Tuple[int, int]] = None) -> torch.Tensor:
        """Padded target L (1, 1, Hp, Wp) -> (Hp/4 * Wp/4, 256) float32: the centred, normalised
        theta features of every 1/4-resolution cell, row-major (the rows of the affinity)."""
        theta = self.corr.query(self._embed(caffe_input_from_L(L)), valid=valid)
        return theta[0].reshape(theta.shape[1], -1).t().float()

    def warp(self, L: torch.Tensor, references: Sequence[ReferenceKeys],
             temperature: float = OFFICIAL_TEMPERATURE,
             budget_bytes: int = 256 << 20,
             valid: Optional[Tuple[int, int]] = None,
             allowed=None, query: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Padded target L (1, 1, Hp, Wp) -> warped ab (1, 2, Hp, Wp), similarity (1, 1, Hp, Wp).

        ``L`` must already be padded; ``valid`` = (h4, w4) cells at 1/4 that are image (the
        query centring uses only those). The similarity is the best cosine over all references.
        ``allowed``: optional restriction of the stacked softmax (see
        :func:`nuke_colorize.correspond.affinity.softmax_warp`) over the (h4 * w4) query cells.
        ``query``: the target's :meth:`query_cells` when already computed.
        """
        hp, wp = L.shape[2:]
        h4, w4 = hp // FEATURE_STRIDE, wp // FEATURE_STRIDE
        if query is None:
            query = self.query_cells(L, valid)
        keys = torch.cat([r.keys for r in references], dim=0).float()
        values = torch.cat([r.ab for r in references], dim=0).float()
        usable = None
        if any(r.usable is not None for r in references):   # uncovered reference cells: never matched
            usable = torch.cat([r.usable if r.usable is not None else torch.ones(r.keys.shape[0], dtype=torch.bool)
                                for r in references]).to(keys.device)
        topk = 1 if temperature <= ARGMAX_TEMPERATURE else 0
        with torch.autocast(device_type=query.device.type, enabled=False):  # affinity in float32
            warped, sim, _ = softmax_warp(query, keys, values, temperature=max(temperature, 1e-30),
                                          topk=topk, budget_bytes=budget_bytes, allowed=allowed, usable=usable)
        warped = warped.t().reshape(1, 2, h4, w4)
        sim = sim.reshape(1, 1, h4, w4)
        return _upsample_cells(warped), _upsample_cells(sim)

    def forward(self, L: torch.Tensor, references: Sequence[ReferenceKeys],
                previous_lab: Optional[torch.Tensor] = None,
                temperature: float = OFFICIAL_TEMPERATURE,
                budget_bytes: int = 256 << 20,
                allowed=None, query: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Colourise one frame.

        Args:
            L: (1, 1, H, W) target L* in [0, 100].
            references: at least one :class:`ReferenceKeys`.
            previous_lab: (1, 3, H, W) previous frame's (L*, a*, b*), or None at a chain start
                (then zeros are fed, as the official code does without frame propagation).
            temperature: softmax temperature on the cosine affinity.
            budget_bytes: memory bound of one affinity tile.
            allowed: optional restriction of the correspondence (see :meth:`warp`).
            query: the padded target's :meth:`query_cells`, when the caller computed them.

        Returns:
            ab (1, 2, H, W) predicted chroma, warped_ab (1, 2, H, W) the reference colour
            carried by the correspondence alone, similarity (1, 1, H, W) in [-1, 1].
        """
        if not references:
            raise ValueError("at least one reference is needed")
        h, w = L.shape[2:]
        Lp = pad_to_multiple(L)
        valid = (math.ceil(h / FEATURE_STRIDE), math.ceil(w / FEATURE_STRIDE))
        warped, sim = self.warp(Lp, references, temperature, budget_bytes, valid, allowed, query)
        if previous_lab is None:
            prev = torch.zeros((1, 3) + tuple(Lp.shape[2:]), dtype=L.dtype, device=L.device)
        else:
            prev = pad_to_multiple(torch.cat((previous_lab[:, :1] - L_CENTER, previous_lab[:, 1:]), 1))
        x = torch.cat((Lp - L_CENTER, warped, sim, prev), dim=1)
        ab = self.color(x)
        return ab[:, :, :h, :w], warped[:, :, :h, :w], sim[:, :, :h, :w]
