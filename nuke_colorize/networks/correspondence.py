"""DeepExemplar correspondence subnet (the "non-local" / WarpNet part), without the warp.

Parameter names match the published ``nonlocal_net_iter_76000.pth`` (keys ``layer2_1.*``,
``layer3_1.*``, ``layer4_1.*``, ``layer5_1.*``, ``layer.{0,1,2}.*``, ``theta.*``, ``phi.*``).

Semantics (Zhang et al. 2019, official inference code):

1. VGG19 relu2_2 / relu3_2 / relu4_2 / relu5_2 features are each L2-normalised over channels
   (:func:`channel_normalize`).
2. Four branches bring them to 1/4 of the image size with 64 channels each (reflection-padded
   3x3 convs, instance norm, PReLU; relu2_2 by a stride-2 conv, relu4_2 / relu5_2 by nearest
   upsampling); when relu5_2's branch comes out two cells short (image side = 8 mod 16) it is
   replicate-padded by one cell on each side, as the original does.
3. The 256-channel concatenation goes through three residual blocks -> the embedding.
4. ``theta`` (target) and ``phi`` (reference) 1x1 projections; each is centred over the image's
   positions and L2-normalised over channels (:func:`center_normalize`), so their dot product
   is a cosine similarity in [-1, 1].

The affinity / softmax warp itself is done by :mod:`nuke_colorize.correspond.affinity` in
memory-bounded tiles.
"""
from __future__ import annotations

import sys
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = sys.float_info.epsilon  # the original adds the float64 machine epsilon to every norm
FEATURE_CHANNELS = 64
EMBED_CHANNELS = 256


def channel_normalize(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> same, each position's C-vector divided by its L2 norm (+ eps)."""
    return x / (torch.linalg.vector_norm(x, dim=1, keepdim=True) + EPS)


def center_normalize(x: torch.Tensor, valid: Optional[Tuple[int, int]] = None) -> torch.Tensor:
    """Centre (N, C, h, w) over positions, then L2-normalise each position over channels.

    ``valid`` = (hv, wv): only the top-left hv x wv cells are image (the rest is padding); the
    mean is taken over them only. Returns (N, C, h, w).
    """
    ref = x if valid is None else x[:, :, :valid[0], :valid[1]]
    x = x - ref.mean(dim=(2, 3), keepdim=True)
    return x / (torch.linalg.vector_norm(x, dim=1, keepdim=True) + EPS)


def _conv_in_prelu(cin: int, cout: int, stride: int = 1):
    """[ReflectionPad(1), Conv3x3, InstanceNorm, PReLU] as a list of modules."""
    return [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3, stride=stride, padding=0),
            nn.InstanceNorm2d(cout), nn.PReLU()]


class ResidualBlock(nn.Module):
    """x + IN(conv(PReLU(IN(conv(x))))), then PReLU (one PReLU shared by both places)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=0)
        self.norm1 = nn.InstanceNorm2d(channels)
        self.prelu = nn.PReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=0)
        self.norm2 = nn.InstanceNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.prelu(self.norm1(self.conv1(self.pad(x))))
        out = self.norm2(self.conv2(self.pad(out)))
        return self.prelu(out + x)


class CorrespondenceNet(nn.Module):
    """Feature fusion + residual blocks + theta/phi projections (see module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        c = FEATURE_CHANNELS
        self.layer2_1 = nn.Sequential(*_conv_in_prelu(128, 128), *_conv_in_prelu(128, c, stride=2))
        self.layer3_1 = nn.Sequential(*_conv_in_prelu(256, 128), *_conv_in_prelu(128, c))
        self.layer4_1 = nn.Sequential(*_conv_in_prelu(512, 256), *_conv_in_prelu(256, c),
                                      nn.Upsample(scale_factor=2))
        self.layer5_1 = nn.Sequential(*_conv_in_prelu(512, 256), nn.Upsample(scale_factor=2),
                                      *_conv_in_prelu(256, c), nn.Upsample(scale_factor=2))
        self.layer = nn.Sequential(ResidualBlock(4 * c), ResidualBlock(4 * c), ResidualBlock(4 * c))
        self.theta = nn.Conv2d(EMBED_CHANNELS, EMBED_CHANNELS, 1)
        self.phi = nn.Conv2d(EMBED_CHANNELS, EMBED_CHANNELS, 1)

    def embed(self, relu2_2: torch.Tensor, relu3_2: torch.Tensor, relu4_2: torch.Tensor,
              relu5_2: torch.Tensor) -> torch.Tensor:
        """VGG features of one image (strides 2/4/8/16) -> (N, 256, H/4, W/4) embedding.

        The image side must be a multiple of 8 (see :data:`MULTIPLE` in
        :mod:`nuke_colorize.networks.deepexemplar`).
        """
        f2 = self.layer2_1(channel_normalize(relu2_2))
        f3 = self.layer3_1(channel_normalize(relu3_2))
        f4 = self.layer4_1(channel_normalize(relu4_2))
        f5 = self.layer5_1(channel_normalize(relu5_2))
        dh, dw = f2.shape[2] - f5.shape[2], f2.shape[3] - f5.shape[3]
        if dh or dw:
            f5 = F.pad(f5, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2), mode="replicate")
        if not (f2.shape[2:] == f3.shape[2:] == f4.shape[2:] == f5.shape[2:]):
            raise ValueError(f"feature sizes differ: {[tuple(t.shape[2:]) for t in (f2, f3, f4, f5)]}"
                             " (image side not a multiple of 8?)")
        return self.layer(torch.cat((f2, f3, f4, f5), dim=1))

    def query(self, embedding: torch.Tensor, valid: Optional[Tuple[int, int]] = None) -> torch.Tensor:
        """Target embedding -> centred, normalised theta projection (N, 256, h, w), float32."""
        return center_normalize(self.theta(embedding).float(), valid)

    def key(self, embedding: torch.Tensor, valid: Optional[Tuple[int, int]] = None) -> torch.Tensor:
        """Reference embedding -> centred, normalised phi projection (N, 256, h, w), float32."""
        return center_normalize(self.phi(embedding).float(), valid)
