"""``--backend deepexemplar``: the published DeepExemplar networks (Zhang et al., CVPR 2019).

Needs the official weights, installed once with ``nuke-colorize models install`` (see
:mod:`nuke_colorize.weights`); a missing or wrong file is a one-line ModelError.

Behaviour compared with the official test script: any size and aspect (padding, never
cropping); the frame is processed at :meth:`working_size` (short side ``working_size``
setting, default 216 as in training) and the engine brings ab back to plate resolution; the
reference side is computed once per reference in :meth:`set_references`; several references
share one softmax; the affinity is tiled under ``affinity_mb``; CPU or CUDA; no 1.25x
saturation boost. The previous frame of the chain (``Previous.state``: L and the *raw*
predicted ab, as the official recurrence uses) is fed back; a chain start feeds zeros.

Settings:
    working_size: short side of the working resolution in pixels (default 216; never
        upscales a smaller plate).
    temperature: softmax temperature on the cosine affinity (default 1e-10, the official
        inference value: effectively winner-takes-all).
    affinity_mb: memory budget of one affinity tile in MiB (default 256).
    precision: "float32" (default, the published behaviour) or "bfloat16" (CPUs with
        AVX512-BF16/AMX or recent GPUs: about twice as fast, small numerical differences).
"""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import InputError
from .base import Backend, Previous, Reference, Result, TargetFrame

_NET_CACHE: Dict[Tuple[str, str, str], Any] = {}   # (folder, fingerprint, device) -> net


def _resolve_device(device: str) -> str:
    import torch

    d = (device or "cpu").lower()
    if d == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if d.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("device 'cuda' was asked for but no CUDA GPU is available",
                         hint="use --device cpu")
    if d != "cpu" and not d.startswith("cuda"):
        raise InputError(f"unknown device '{device}'", hint="use cpu, cuda or auto")
    return d


def _load_net(device: str):
    """The DeepExemplar network with the installed weights on ``device`` (cached per process)."""
    import torch

    from .. import weights
    from ..networks.deepexemplar import DeepExemplarNet

    folder = weights.models_dir()
    files_present = all((folder / f["name"]).is_file() for f in weights.model_files())
    fp = weights.weights_fingerprint(weights.DEEPEXEMPLAR, folder) if files_present else ""
    key = (str(folder), fp, device)
    net = _NET_CACHE.get(key) if fp else None
    if net is None:
        states = weights.load_model_states(weights.DEEPEXEMPLAR, folder)   # ModelError if unusable
        net = DeepExemplarNet().load_official(states).eval().to(device)
        del states
        if device == "cpu":
            net = net.to(memory_format=torch.channels_last)
        for p in net.parameters():
            p.requires_grad_(False)
        _NET_CACHE.clear()
        _NET_CACHE[key] = net
    return net, fp


def working_size_for(width: int, height: int, short_side: int) -> Tuple[int, int]:
    """(w, h) with the plate's aspect and short side ``short_side`` (never upscaled)."""
    short = min(width, height)
    s = min(1.0, float(short_side) / float(short)) if short > 0 else 1.0
    return max(1, int(round(width * s))), max(1, int(round(height * s)))


class DeepExemplarBackend(Backend):
    """The official DeepExemplar networks at any aspect, reference side cached."""

    name = "deepexemplar"
    version = "2"

    @classmethod
    def default_settings(cls) -> Dict[str, Any]:
        from ..networks.deepexemplar import OFFICIAL_TEMPERATURE
        return {"working_size": 216, "temperature": OFFICIAL_TEMPERATURE, "affinity_mb": 256,
                "precision": "float32", "restrict": "instance"}

    def __init__(self, settings: Optional[Dict[str, Any]] = None, device: str = "cpu"):
        super().__init__(settings, device)
        s = self.settings
        try:
            s["working_size"] = int(s["working_size"])
            s["temperature"] = float(s["temperature"])
            s["affinity_mb"] = float(s["affinity_mb"])
        except (TypeError, ValueError):
            raise InputError("deepexemplar settings working_size, temperature and affinity_mb "
                             "must be numbers") from None
        if s["working_size"] < 16:
            raise InputError(f"working_size {s['working_size']} is too small (minimum 16)")
        if not s["temperature"] > 0:
            raise InputError("temperature must be > 0")
        if s["affinity_mb"] < 1:
            raise InputError("affinity_mb must be at least 1")
        if s["restrict"] not in ("none", "instance"):
            raise InputError(f"deepexemplar setting restrict='{s['restrict']}' is not none or instance",
                             hint="dense-tracking masks are an exemplar-backend feature")
        if s["precision"] not in ("float32", "bfloat16"):
            raise InputError(f"precision '{s['precision']}' is not float32 or bfloat16")
        self.device = _resolve_device(device)
        self.net, self.weights_id = _load_net(self.device)
        self._keys: List[Any] = []
        self._ref_labels: List[Tuple[int, Optional[np.ndarray]]] = []

    # ------------------------------------------------------------------ interface
    def settings_key(self) -> Dict[str, Any]:
        key = super().settings_key()
        key["weights"] = self.weights_id
        return key

    def working_size(self, width: int, height: int) -> Tuple[int, int]:
        return working_size_for(width, height, self.settings["working_size"])

    def _autocast(self):
        import contextlib

        import torch
        if self.settings["precision"] == "bfloat16":
            return torch.autocast(device_type="cuda" if self.device.startswith("cuda") else "cpu",
                                  dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _tensor(self, a: np.ndarray):
        """(H, W, C) or (H, W) numpy -> (1, C, H, W) float32 tensor on the device."""
        import torch
        a = np.asarray(a, dtype=np.float32)
        if a.ndim == 2:
            a = a[..., None]
        t = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]
        t = t.to(self.device)
        return t.contiguous(memory_format=torch.channels_last) if self.device == "cpu" else t

    def set_references(self, references: List[Reference]) -> None:
        """Compute each reference's keys (VGG19 + embedding + phi + pooled ab) once."""
        import torch

        from ..color import lab_to_rgb, linear_to_srgb

        super().set_references(references)
        keys = []
        with torch.inference_mode(), self._autocast():
            for ref in self.references:
                lab = np.asarray(ref.lab, dtype=np.float32)
                if lab.ndim != 3 or lab.shape[2] != 3:
                    raise InputError(f"reference must be (H, W, 3) Lab, got {lab.shape}", file=ref.path)
                rgb = np.clip(linear_to_srgb(lab_to_rgb(lab)), 0.0, 1.0)
                k = self.net.reference_keys(self._tensor(rgb), self._tensor(lab[..., 1:]))
                k.keys, k.ab = k.keys.float(), k.ab.float()
                keys.append(k)
        self._keys = keys
        # per reference: (cells, instance IDs on its 1/4-resolution grid or None), for the restriction
        from ..correspond import instances
        self._ref_labels = [(int(k.keys.shape[0]),
                             instances.to_grid(r.matte, k.size) if r.matte is not None else None)
                            for r, k in zip(self.references, keys)]

    def _instance_restriction(self, target: TargetFrame):
        """Instance restriction of the stacked softmax from this frame's matte and the
        keyframes' mattes (IDs taken as given: this backend carries no tracking state), or None."""
        from ..correspond import instances
        from ..networks.deepexemplar import FEATURE_STRIDE, padded_side
        if self.settings["restrict"] != "instance" or target.matte is None \
                or all(labels is None for _, labels in self._ref_labels):
            return None
        h, w = target.matte.shape
        hp, wp = padded_side(h), padded_side(w)                  # the network's padded frame
        h4, w4 = hp // FEATURE_STRIDE, wp // FEATURE_STRIDE
        padded = np.pad(target.matte, ((0, hp - h), (0, wp - w)), mode="edge")
        t_grid = instances.to_grid(padded, (h4, w4))

        def allowed(sl):
            import torch
            parts = []
            for n, labels in self._ref_labels:
                parts.append(instances.allowed_rows(t_grid, labels, sl) if labels is not None
                             else torch.ones((len(range(*sl.indices(t_grid.size))), n), dtype=torch.bool))
            return torch.cat(parts, dim=1)
        return allowed

    def colorize(self, target: TargetFrame, previous: Optional[Previous]) -> Result:
        import torch
        import torch.nn.functional as F

        if not self._keys:
            raise InputError("the deepexemplar backend needs at least one reference", frame=target.frame)
        t0 = time.perf_counter()
        L = np.clip(np.asarray(target.L, dtype=np.float32), 0.0, 100.0)
        h, w = L.shape
        with torch.inference_mode(), self._autocast():
            Lt = self._tensor(L)
            prev = None
            if previous is not None:
                pl = np.asarray(previous.state["L"], dtype=np.float32)
                pab = np.asarray(previous.state["ab"], dtype=np.float32)
                prev = torch.cat((self._tensor(pl), self._tensor(pab)), dim=1)
                if prev.shape[2:] != (h, w):
                    prev = F.interpolate(prev, size=(h, w), mode="bilinear", align_corners=False)
            ab, _warped, sim = self.net(Lt, self._keys, prev,
                                        temperature=self.settings["temperature"],
                                        budget_bytes=int(self.settings["affinity_mb"] * (1 << 20)),
                                        allowed=self._instance_restriction(target))
            ab = ab.float()[0].permute(1, 2, 0).cpu().numpy()
            sim = sim.float()[0, 0].cpu().numpy()
        ab = np.ascontiguousarray(ab, dtype=np.float32)
        conf = np.clip(sim, 0.0, 1.0).astype(np.float32)
        info = {"seconds": round(time.perf_counter() - t0, 4),
                "similarity_mean": round(float(sim.mean()), 4)}
        return Result(ab=ab, confidence=conf, state={"ab": ab, "L": L}, info=info)
