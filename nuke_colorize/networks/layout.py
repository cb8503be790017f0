"""The parameter layout of the published DeepExemplar checkpoint files.

``deepexemplar_layout.json`` (shipped beside this module) lists, for each file of
``colorization_checkpoint.zip`` (zhangmozhe/Deep-Exemplar-based-Video-Colorization), every
parameter name and shape. This module reads it, checks loaded state dicts against it and
builds random tensors of exactly that layout (tests and benchmarks: no weights are shipped).
"""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Dict, List, Mapping, Tuple

LAYOUT_PATH = Path(__file__).with_name("deepexemplar_layout.json")

# role -> path of the file inside the official release (and the original repository).
ARCHIVE_PATHS = {
    "correspondence": "checkpoints/video_moredata_l1/nonlocal_net_iter_76000.pth",
    "colorization": "checkpoints/video_moredata_l1/colornet_iter_76000.pth",
    "vgg19": "data/vgg19_conv.pth",
}
ROLES = tuple(ARCHIVE_PATHS)

Shape = Tuple[int, ...]


@functools.lru_cache(maxsize=1)
def load_layout() -> Dict[str, dict]:
    """The parsed layout json: {"about": str, "files": {archive path: {...}}}."""
    with open(LAYOUT_PATH, "r", encoding="utf-8") as fh:
        return json.load(fh)


def expected_shapes(role: str) -> Dict[str, Shape]:
    """Parameter name -> shape for the file of ``role`` (see :data:`ROLES`), in file order."""
    entry = load_layout()["files"][ARCHIVE_PATHS[role]]
    return {k: tuple(int(d) for d in v) for k, v in entry["state_dict"].items()}


def file_info(role: str) -> dict:
    """Layout metadata of ``role``'s file (original module, tensor and parameter counts)."""
    entry = load_layout()["files"][ARCHIVE_PATHS[role]]
    return {k: v for k, v in entry.items() if k != "state_dict"}


def check_state_dict(state: Mapping, role: str, limit: int = 3) -> List[str]:
    """Problems of ``state`` against the official layout of ``role``; [] when it matches.

    Checks: it is a mapping of floating-point tensors, no key missing, no extra key, every
    shape equal. At most ``limit`` examples are named per kind of problem.
    """
    import torch

    if not isinstance(state, Mapping):
        return [f"holds a {type(state).__name__}, not a dictionary of parameters"]
    want = expected_shapes(role)
    problems: List[str] = []
    missing = [k for k in want if k not in state]
    extra = [k for k in state if k not in want]
    if missing:
        problems.append(f"{len(missing)} parameter(s) missing, e.g. {', '.join(missing[:limit])}")
    if extra:
        problems.append(f"{len(extra)} unexpected parameter(s), e.g. {', '.join(map(str, extra[:limit]))}")
    bad_type, bad_shape = [], []
    for k, shape in want.items():
        if k not in state:
            continue
        v = state[k]
        if not isinstance(v, torch.Tensor) or not v.is_floating_point():
            bad_type.append(k)
        elif tuple(v.shape) != shape:
            bad_shape.append(f"{k} is {list(v.shape)}, expected {list(shape)}")
    if bad_type:
        problems.append(f"not floating-point tensors: {', '.join(bad_type[:limit])}")
    if bad_shape:
        problems.append(f"{len(bad_shape)} wrong shape(s): {'; '.join(bad_shape[:limit])}")
    return problems


def random_state_dict(role: str, seed: int = 0) -> Dict[str, "object"]:
    """Random float32 tensors with exactly the official layout of ``role``.

    Convolution weights are He-scaled (std = sqrt(2 / fan_in)) so activations stay finite,
    biases are small, PReLU slopes 0.25: numerically sane, semantically meaningless.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, shape in expected_shapes(role).items():
        if k.endswith("bias"):
            t = torch.randn(shape, generator=g) * 0.01
        elif len(shape) == 1 and shape[0] == 1:  # PReLU slope
            t = torch.full(shape, 0.25)
        else:
            fan_in = max(1, math.prod(shape[1:]))
            t = torch.randn(shape, generator=g) * math.sqrt(2.0 / fan_in)
        out[k] = t.float().contiguous()
    return out


def save_random_checkpoints(folder, seed: int = 0) -> Dict[str, Path]:
    """Write one random file per role, named as in the official release, into ``folder``.

    For tests and benchmarks (speed and memory do not depend on the values). Saved with
    ``torch.save`` of a plain state dict, as the published files are. Returns role -> path.
    """
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, role in enumerate(ROLES):
        p = folder / Path(ARCHIVE_PATHS[role]).name
        torch.save(random_state_dict(role, seed + i), str(p))
        out[role] = p
    return out
