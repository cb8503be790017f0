"""VGG19 convolutional feature extractor, Caffe-style input (BGR, 0-255, mean subtracted).

Parameter names ``conv1_1`` ... ``conv5_4`` (weight and bias) match the published
``vgg19_conv.pth`` of DeepExemplar; conv5_3/conv5_4 exist only so that file loads strictly
(the features used stop at relu5_2 and those layers are never run).

Input conventions (tensors N x C x H x W, float32):

* colour image: sRGB-encoded RGB in [0, 1] -> :func:`caffe_input_from_rgb`;
* grey target: CIE L* in [0, 100] fed as L/100 on all three channels -> :func:`caffe_input_from_L`.

Outputs at strides 2, 4, 8, 16: relu2_2 (128 ch), relu3_2 (256 ch), relu4_2 (512 ch),
relu5_2 (512 ch); each spatial size is the floor of the previous one halved.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

# Caffe VGG mean of the B, G, R channels on a [0, 1] scale (103.939, 116.779, 123.68 / 255).
CAFFE_BGR_MEAN = (0.40760392, 0.45795686, 0.48501961)

_CHANNELS = (
    ("conv1_1", 3, 64), ("conv1_2", 64, 64),
    ("conv2_1", 64, 128), ("conv2_2", 128, 128),
    ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256), ("conv3_4", 256, 256),
    ("conv4_1", 256, 512), ("conv4_2", 512, 512), ("conv4_3", 512, 512), ("conv4_4", 512, 512),
    ("conv5_1", 512, 512), ("conv5_2", 512, 512), ("conv5_3", 512, 512), ("conv5_4", 512, 512),
)


def caffe_input_from_rgb(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) sRGB in [0, 1] -> (N, 3, H, W) BGR, mean-subtracted, 0-255 scale."""
    mean = torch.tensor(CAFFE_BGR_MEAN, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return (rgb.flip(1) - mean) * 255.0


def caffe_input_from_L(L: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) L* in [0, 100] -> Caffe input of the grey image L/100 on three channels."""
    grey = L / 100.0
    return caffe_input_from_rgb(grey.expand(-1, 3, -1, -1))


class VGG19Features(nn.Module):
    """VGG19 conv layers (3x3, padding 1, ReLU; 2x2 max-pool between blocks)."""

    def __init__(self) -> None:
        super().__init__()
        for name, cin, cout in _CHANNELS:
            setattr(self, name, nn.Conv2d(cin, cout, kernel_size=3, padding=1))

    def _block(self, x: torch.Tensor, names: Tuple[str, ...]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Run convs ``names`` with ReLU; return (output of the second conv, last output)."""
        second = x
        for i, n in enumerate(names):
            x = F.relu(getattr(self, n)(x), inplace=True)
            if i == 1:
                second = x
        return second, x

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, 3, H, W) Caffe input -> (relu2_2, relu3_2, relu4_2, relu5_2)."""
        _, x = self._block(x, ("conv1_1", "conv1_2"))
        x = F.max_pool2d(x, 2)
        r22, x = self._block(x, ("conv2_1", "conv2_2"))
        x = F.max_pool2d(x, 2)
        r32, x = self._block(x, ("conv3_1", "conv3_2", "conv3_3", "conv3_4"))
        # relu3_2 is also an output: the in-place ReLUs of conv3_3/3_4 write new tensors,
        # so r32 is not overwritten.
        x = F.max_pool2d(x, 2)
        r42, x = self._block(x, ("conv4_1", "conv4_2", "conv4_3", "conv4_4"))
        x = F.max_pool2d(x, 2)
        r52, _ = self._block(x, ("conv5_1", "conv5_2"))
        return r22, r32, r42, r52
