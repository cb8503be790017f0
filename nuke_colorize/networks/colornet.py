"""DeepExemplar colorization subnet ("ColorVidNet" with 7 input channels).

Parameter names match the published ``colornet_iter_76000.pth``. A U-Net-like encoder /
decoder: three stride-2 downsamplings by depthwise 1x1 convs (``conv*norm_ss``), dilated
3x3 convs at 1/8 resolution, nearest-upsample + conv decoders with skip connections, instance
norm after every block (no learned parameters), and ``tanh * 128`` on the output.

Two exact rewrites make it cheaper than the published module without changing its function:
the depthwise 1x1 stride-2 convs are a subsample-and-scale (:func:`subsample_scale`), and each
"nearest x2 upsample then 3x3 conv" runs as four 2x2 convs at low resolution
(:func:`upsample_conv`, 4/9 of the arithmetic).

Input (N, 7, H, W), H and W multiples of 8:

====  =================================================================
0     target L* - 50 (so [-50, 50])
1-2   reference ab warped onto the target (CIE a*, b*, unscaled)
3     correspondence confidence (best cosine similarity, [-1, 1])
4     previous frame L* - 50
5-6   previous frame ab (unscaled); all of 4-6 are zero at a chain start
====  =================================================================

Output (N, 2, H, W): predicted a*, b* in (-128, 128).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

IN_CHANNELS = 7


def _conv(cin: int, cout: int, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation)


def _up_conv(cin: int, cout: int) -> nn.Sequential:
    """Nearest x2 upsampling then a 3x3 conv (parameter key ``<name>.1.*``)."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), _conv(cin, cout))


def _down(channels: int) -> nn.Conv2d:
    """Depthwise 1x1 stride-2 subsampling with a learned per-channel scale, no bias."""
    return nn.Conv2d(channels, channels, 1, stride=2, bias=False, groups=channels)


def subsample_scale(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """Same result as ``conv(x)`` for a :func:`_down` conv: keep every other pixel, scale."""
    return x[:, :, ::2, ::2] * conv.weight.view(1, -1, 1, 1).to(x.dtype)


def _phase_kernels(w: torch.Tensor) -> torch.Tensor:
    """3x3 kernels (Co, Ci, 3, 3) -> (4 * Co, Ci, 2, 2): one 2x2 kernel per output phase.

    After nearest x2 upsampling, output pixel (2i + p, 2j + q) of a 3x3 conv only sees the
    low-resolution pixels of rows {i-1, i} (p = 0) or {i, i+1} (p = 1), and likewise for
    columns; the taps that land on the same low-resolution pixel are summed. Phase-major order
    (p, q) = (0,0), (0,1), (1,0), (1,1).
    """
    rows = ((w[:, :, 0], w[:, :, 1] + w[:, :, 2]), (w[:, :, 0] + w[:, :, 1], w[:, :, 2]))
    out = []
    for p in (0, 1):
        r = torch.stack(rows[p], dim=2)                       # (Co, Ci, 2, 3)
        cols = ((r[..., 0], r[..., 1] + r[..., 2]), (r[..., 0] + r[..., 1], r[..., 2]))
        for q in (0, 1):
            out.append(torch.stack(cols[q], dim=3))           # (Co, Ci, 2, 2)
    return torch.cat(out, dim=0)


def upsample_conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(nearest_upsample_x2(x))`` for a 3x3, padding-1 conv, at 4/9 of the cost.

    The four output phases are 2x2 convs of the low-resolution input (one conv with 4 * Co
    outputs over the zero-padded input), interleaved afterwards. Equal to the direct form up
    to float rounding (same zero padding at the borders).
    """
    co = conv.out_channels
    n, _, h, w = x.shape
    k = _phase_kernels(conv.weight).to(x.dtype)
    b = conv.bias.repeat(4).to(x.dtype)
    y = F.conv2d(F.pad(x, (1, 1, 1, 1)), k, b).view(n, 2, 2, co, h + 1, w + 1)
    out = y.new_empty((n, co, h, 2, w, 2))
    for p in (0, 1):
        for q in (0, 1):
            out[:, :, :, p, :, q] = y[:, p, q, :, p:p + h, q:q + w]
    return out.view(n, co, 2 * h, 2 * w)


class ColorNet(nn.Module):
    """The colorization subnet; see the module docstring for input/output."""

    def __init__(self, in_channels: int = IN_CHANNELS) -> None:
        super().__init__()
        self.conv1_1 = nn.Sequential(nn.Conv2d(in_channels, 32, 3, 1, 1), nn.ReLU(), _conv(32, 64))
        self.conv1_2 = _conv(64, 64)
        self.conv1_2norm_ss = _down(64)
        self.conv2_1 = _conv(64, 128)
        self.conv2_2 = _conv(128, 128)
        self.conv2_2norm_ss = _down(128)
        self.conv3_1 = _conv(128, 256)
        self.conv3_2 = _conv(256, 256)
        self.conv3_3 = _conv(256, 256)
        self.conv3_3norm_ss = _down(256)
        self.conv4_1 = _conv(256, 512)
        self.conv4_2 = _conv(512, 512)
        self.conv4_3 = _conv(512, 512)
        for i in (5, 6):
            for j in (1, 2, 3):
                setattr(self, f"conv{i}_{j}", _conv(512, 512, dilation=2))
        for j in (1, 2, 3):
            setattr(self, f"conv7_{j}", _conv(512, 512))
        self.conv8_1 = _up_conv(512, 256)
        self.conv3_3_short = _conv(256, 256)
        self.conv8_2 = _conv(256, 256)
        self.conv8_3 = _conv(256, 256)
        self.conv9_1 = _up_conv(256, 128)
        self.conv2_2_short = _conv(128, 128)
        self.conv9_2 = _conv(128, 128)
        self.conv10_1 = _up_conv(128, 128)
        self.conv1_2_short = _conv(64, 128)
        self.conv10_2 = _conv(128, 128)
        self.conv10_ab = nn.Conv2d(128, 2, 1)

    def _relu_stack(self, x: torch.Tensor, names) -> torch.Tensor:
        for n in names:
            x = F.relu(getattr(self, n)(x), inplace=True)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 7, H, W) -> (N, 2, H, W) ab; H, W multiples of 8."""
        inorm = F.instance_norm
        x = F.relu(self.conv1_1(x), inplace=True)
        n1 = inorm(self._relu_stack(x, ("conv1_2",)))
        n2 = inorm(self._relu_stack(subsample_scale(n1, self.conv1_2norm_ss), ("conv2_1", "conv2_2")))
        n3 = inorm(self._relu_stack(subsample_scale(n2, self.conv2_2norm_ss),
                                    ("conv3_1", "conv3_2", "conv3_3")))
        x = inorm(self._relu_stack(subsample_scale(n3, self.conv3_3norm_ss),
                                   ("conv4_1", "conv4_2", "conv4_3")))
        x = inorm(self._relu_stack(x, ("conv5_1", "conv5_2", "conv5_3")))
        x = inorm(self._relu_stack(x, ("conv6_1", "conv6_2", "conv6_3")))
        x = inorm(self._relu_stack(x, ("conv7_1", "conv7_2", "conv7_3")))
        x = F.relu(upsample_conv(x, self.conv8_1[1]) + self.conv3_3_short(n3), inplace=True)
        del n3
        x = inorm(self._relu_stack(x, ("conv8_2", "conv8_3")))
        x = F.relu(upsample_conv(x, self.conv9_1[1]) + self.conv2_2_short(n2), inplace=True)
        del n2
        x = inorm(self._relu_stack(x, ("conv9_2",)))
        x = F.relu(upsample_conv(x, self.conv10_1[1]) + self.conv1_2_short(n1), inplace=True)
        del n1
        x = F.leaky_relu(self.conv10_2(x), 0.2, inplace=True)
        return torch.tanh(self.conv10_ab(x)) * 128.0
