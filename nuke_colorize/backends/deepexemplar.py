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
    restrict: none | instance (default: active with mattes; see ``matte_ids``) | dense | both
        (Akimoto et al.): dense-tracking masks on the 1/4-resolution affinity grid, one
        windowed step per frame on this backend's own query features (``mask_radius`` cells
        on a 96-cell grid, scaled; probabilities of a softmax at ``mask_temperature`` kept
        above ``mask_threshold``; used dilated by ``mask_margin``), carried in the chain
        state (the shot cache keeps them). They restrict the chain's keyframe only.
    matte_ids: how a frame's matte IDs become the keyframe's, as for the exemplar backend
        (:func:`nuke_colorize.correspond.instances.next_map`): stable (taken as given: the same
        ID is the same object on every frame) | associate (with the previous frame's,
        carried along the flow, by IoU: numbering may be arbitrary per frame) | auto
        (default: stable for Cryptomatte and object-channel mattes, whose IDs name the
        object; associate for ID, colour-coded and single-object mattes). The instance map
        in the keyframe's IDs rides along the chain in its state (``inst``, with ``anchor``;
        the shot cache keeps it) and restricts the chain's keyframe; other keyframes are
        restricted by the frame's own IDs. The flow only carries the map (DIS, this frame to
        the previous one, on the working-resolution luminance; the colour path does not use
        it): computed on frames whose IDs are associated or that lack a matte, never with
        ``stable`` IDs on every frame nor without mattes (12-30 ms a frame at 384x216 on a
        shared 2-core CPU, flow and IoU; the networks take seconds). Before version 5 the
        IDs were always taken as given.
    instance_iou: the IoU a frame's matte ID needs with the previous frame's map, carried
        along the flow, to take that map's ID when IDs are associated (default 0.3, 0..1: the
        exemplar backend's setting; before version 6 fixed at 0.3). Higher: fewer, surer
        associations; an ID left without one is not restricted (unless the keyframe's matte
        has it).
    precision: "float32" (default, the published behaviour) or "bfloat16" (CPUs with
        AVX512-BF16/AMX or recent GPUs: about twice as fast, small numerical differences).

working_size, mask_radius and mask_margin take whole numbers only (300.0 passes, 2.7 is
refused rather than truncated), as the exemplar backend's integer settings do.
"""
from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .. import coverage, torchinfo
from ..errors import InputError
from .base import (MATTE_CHOICES, MATTE_DEFAULTS, MATTE_RANGES, Backend, BackendSettings, Previous, Reference,
                   Result, TargetFrame, check_settings, half_round_trip)

_NET_CACHE: Dict[Tuple[str, str, str], Any] = {}   # (folder, fingerprint, device) -> net
RESTRICT_CHOICES = ("none", "instance", "dense", "both")
MASK_RANGES = {"mask_radius": (1, 64), "mask_threshold": (0.01, 1.0), "mask_margin": (0, 8),
               "mask_temperature": (1e-4, 10.0)}
MASK_INTEGERS = ("mask_radius", "mask_margin")   # whole numbers: 1.5 would be truncated where used
#: DIS preset of the flow that carries the instance map to the next frame (the exemplar
#: backend's default ``flow_preset``)
LABEL_FLOW_PRESET = "fine"


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
        torchinfo.check_numpy_bridge()   # torch < 2.3 next to NumPy 2: one line, not mid-render
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


#: peak memory of one frame on the CPU per pixel of the padded working size, beyond the
#: networks themselves (bench/deepexemplar.py, 2 threads: peak RSS 1043 MB at 384x216, 1734 MB
#: at 768x432 = 2.8 KB per added pixel; 5.82 GB for a 2048x1080 plate worked at full size)
PEAK_BYTES_PER_PIXEL = 2800


def available_memory() -> Optional[int]:
    """Bytes this process may still allocate, or None when not known (not Linux).

    The smaller of the machine's ``MemAvailable`` and what the memory cgroup (a farm slot,
    a container: v2 ``memory.max`` - ``memory.current``, v1 ``limit_in_bytes`` -
    ``usage_in_bytes``) leaves."""
    def read(path: str) -> Optional[int]:
        try:
            with open(path, "r", encoding="ascii") as fh:
                text = fh.read().strip()
        except (OSError, ValueError):
            return None
        return int(text) if text.isdigit() else None

    found = []
    try:
        with open("/proc/meminfo", "r", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError, IndexError):
        pass
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                          "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        lim, used = read(limit), read(usage)
        if lim is not None and used is not None and lim < (1 << 60):   # "max" / unlimited: no bound
            found.append(max(0, lim - used))
    return min(found) if found else None


def check_memory(h: int, w: int, short_side: int) -> None:
    """Refuse a working size whose frame would not fit in memory on the CPU, before running.

    ``h`` x ``w``: the working size of the frame; ``short_side``: the ``working_size`` setting
    (for the hint). The networks run whole frames (the affinity alone is tiled): at
    ``working_size=1080`` a frame needs about 5.8 GB, at 2160 about 24 GB, and past what the
    machine or the farm slot's cgroup has left the kernel kills the process without a word.
    InputError (exit 2) naming the need, what is available and a working size that fits."""
    from ..networks.deepexemplar import padded_side
    avail = available_memory()
    need = PEAK_BYTES_PER_PIXEL * padded_side(h) * padded_side(w)
    if avail is None or need <= avail:
        return
    fit = max(16, int(min(h, w) * math.sqrt(0.9 * avail / need)) // 8 * 8)
    raise InputError(f"deepexemplar at working size {w}x{h} needs about {need / 2**30:.1f} GB for a frame "
                     f"on the CPU; {avail / 2**30:.1f} GB is available (machine or farm slot)",
                     hint=f"--set working_size={min(fit, short_side)} (or run where more memory is free)")


def working_size_for(width: int, height: int, short_side: int) -> Tuple[int, int]:
    """(w, h) with the plate's aspect and short side ``short_side`` (never upscaled)."""
    short = min(width, height)
    s = min(1.0, float(short_side) / float(short)) if short > 0 else 1.0
    return max(1, int(round(width * s))), max(1, int(round(height * s)))


class DeepExemplarSettings(BackendSettings):
    """Settings, validation, working size and cache identity of the deepexemplar backend,
    without loading the networks (or torch, for device ``cpu``). A missing weights file is
    refused here, with the message :func:`nuke_colorize.weights.check_model_files` gives."""

    name = "deepexemplar"
    # 4: dense-tracking masks of large grids scored by tiles (low bits may differ)
    # 5: matte_ids (auto|stable|associate): with a plain ID matte (auto) a frame's IDs are
    # associated with the chain's instance map carried along DIS flow, as the exemplar
    # backend does, and a frame without a matte is restricted by that map (before: IDs
    # always taken as given, a frame without a matte not restricted; unchanged without mattes)
    # 6: matte IDs that differ stay apart (as the exemplar backend's v21; cached instance maps
    # hold the old IDs); instance_iou setting (its default, 0.3, the IoU used before)
    version = "6"

    @classmethod
    def default_settings(cls) -> Dict[str, Any]:
        from ..networks import OFFICIAL_TEMPERATURE
        return {"working_size": 216, "temperature": OFFICIAL_TEMPERATURE, "affinity_mb": 256,
                "precision": "float32", "restrict": "instance", "mask_radius": 9,
                "mask_threshold": 0.2, "mask_margin": 1, "mask_temperature": 0.01, **MATTE_DEFAULTS}

    def __init__(self, settings: Optional[Dict[str, Any]] = None, device: str = "cpu"):
        super().__init__(settings, device)
        s = self.settings
        ws = s["working_size"]
        if isinstance(ws, float) and math.isfinite(ws) and ws != int(ws):
            # refused, not truncated (2.7 would silently become 2), as for the exemplar backend
            raise InputError(f"backend '{self.name}' setting working_size={ws!r} must be a whole number",
                             hint=f"e.g. --set working_size={max(16, round(ws))}")
        try:
            s["working_size"] = int(ws)
            s["temperature"] = float(s["temperature"])
            s["affinity_mb"] = float(s["affinity_mb"])
        except (TypeError, ValueError, OverflowError):
            raise InputError("deepexemplar settings working_size, temperature and affinity_mb "
                             "must be finite numbers") from None
        if not (math.isfinite(s["temperature"]) and math.isfinite(s["affinity_mb"])):
            raise InputError("deepexemplar settings working_size, temperature and affinity_mb "
                             "must be finite numbers")
        if s["working_size"] < 16:
            raise InputError(f"working_size {s['working_size']} is too small (minimum 16)")
        if not s["temperature"] > 0:
            raise InputError("temperature must be > 0")
        if s["affinity_mb"] < 1:
            raise InputError("affinity_mb must be at least 1")
        check_settings(self.name, s, {"restrict": RESTRICT_CHOICES, **MATTE_CHOICES}, {**MASK_RANGES, **MATTE_RANGES},
                       integers=MASK_INTEGERS)
        if s["precision"] not in ("float32", "bfloat16"):
            raise InputError(f"precision '{s['precision']}' is not float32 or bfloat16")
        self.device = torchinfo.torch_device(device)
        from .. import weights
        weights.check_model_files(weights.DEEPEXEMPLAR)   # ModelError naming the missing file
        self._fingerprint: Optional[str] = None

    def settings_key(self) -> Dict[str, Any]:
        key = super().settings_key()
        key["weights"] = self.weights_id
        return key

    @property
    def weights_id(self) -> str:
        """Fingerprint of the installed weights (:func:`nuke_colorize.weights.weights_fingerprint`)."""
        if self._fingerprint is None:
            from .. import weights
            self._fingerprint = weights.weights_fingerprint(weights.DEEPEXEMPLAR)
        return self._fingerprint

    def working_size(self, width: int, height: int) -> Tuple[int, int]:
        return working_size_for(width, height, self.settings["working_size"])


class DeepExemplarBackend(DeepExemplarSettings, Backend):
    """The official DeepExemplar networks at any aspect, reference side cached."""

    def __init__(self, settings: Optional[Dict[str, Any]] = None, device: str = "cpu"):
        super().__init__(settings, device)
        self.net, self._fingerprint = _load_net(self.device)
        self._keys: List[Any] = []
        self._ref_labels: List[Tuple[int, Optional[np.ndarray]]] = []
        self._memo: "OrderedDict[Tuple[int, str], Any]" = OrderedDict()   # (frame, L digest) -> cells
        self._memory_checked: set = set()   # working sizes (h, w) found to fit (check_memory)

    # ------------------------------------------------------------------ interface
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
                if ref.coverage is not None:
                    self._cover_keys(k, lab[..., 1:], ref.coverage,
                                     grey=ref.is_keyframe and coverage.unpainted_is_grey(self.references))
                keys.append(k)
        self._keys = keys
        # per reference: (cells, instance IDs on its 1/4-resolution grid or None), for the restriction
        from ..correspond import instances
        self._ref_labels = [(int(k.keys.shape[0]),
                             instances.to_grid(r.matte, k.size) if r.matte is not None else None)
                            for r, k in zip(self.references, keys)]

    @staticmethod
    def _cover_keys(k, ab: np.ndarray, cover: np.ndarray, grey: bool = False) -> None:
        """A reference painted in part (``cover`` (H, W) bool): its keys ``k`` (a
        :class:`~nuke_colorize.networks.deepexemplar.ReferenceKeys`) get the cells that may
        be matched (mostly covered) and each cell's a*b* (``ab`` (H, W, 2)) averaged over its
        covered pixels only (the image padded at its edge to whole 4 x 4 cells). With
        ``grey`` (a keyframe, and no reference is whole: :func:`coverage.unpainted_is_grey`)
        the other cells stay candidates, standing for grey (a*b* 0)."""
        import torch

        from ..networks.deepexemplar import FEATURE_STRIDE
        hv, wv = k.size
        h, w = cover.shape
        pad = ((0, hv * FEATURE_STRIDE - h), (0, wv * FEATURE_STRIDE - w))
        c = np.pad(cover, pad, mode="edge")
        cells = coverage.cells(c, (hv, wv))
        cell_ab = coverage.weighted_resize(np.pad(ab, pad + ((0, 0),), mode="edge"), c, (wv, hv)).reshape(-1, 2)
        if grey:
            cell_ab[~cells] = 0.0
        else:
            k.usable = torch.from_numpy(cells).to(k.keys.device)
        k.ab = torch.from_numpy(np.ascontiguousarray(cell_ab)).to(k.ab.device)

    def _restriction(self, target: TargetFrame, padded: Tuple[int, int], valid: Tuple[int, int],
                     anchor: Optional[int], masks: Optional[np.ndarray], inst: Optional[np.ndarray] = None):
        """The ``allowed`` callable of the stacked softmax over the (h4 * w4) cells of the padded
        frame, or None. Instance restriction: the chain's keyframe (block ``anchor``) by the
        chain's instance map ``inst`` ((H, W) keyframe IDs, :meth:`_instance_map`), the other
        references with a matte by this frame's own matte IDs (the anchor too when the chain
        carries no map); the chain's keyframe also by the dense-tracking ``masks`` (rows =
        the hv * wv image cells; padding cells are not restricted)."""
        import torch

        from ..correspond import instances, tracking
        from ..networks.deepexemplar import FEATURE_STRIDE
        h4, w4 = padded
        hv, wv = valid
        tests = [[] for _ in self._ref_labels]
        if self._instance and any(lab is not None for _, lab in self._ref_labels):
            hp, wp = h4 * FEATURE_STRIDE, w4 * FEATURE_STRIDE

            def cells(ids: Optional[np.ndarray]) -> Optional[np.ndarray]:
                if ids is None:
                    return None
                h, w = ids.shape
                return instances.to_grid(np.pad(ids, ((0, hp - h), (0, wp - w)), mode="edge"), (h4, w4))
            raw, own = cells(target.matte), cells(inst)
            for i, (_, labels) in enumerate(self._ref_labels):
                t_grid = own if i == anchor and own is not None else raw
                if labels is not None and t_grid is not None:
                    tests[i].append(lambda sl, t=t_grid, r=labels: instances.allowed_rows(t, r, sl))
        if masks is not None and anchor is not None:
            n, margin = self._ref_labels[anchor][0], int(self.settings["mask_margin"])

            def dense(sl):
                rows = np.arange(*sl.indices(h4 * w4))
                y, x = rows // w4, rows % w4
                inside = (y < hv) & (x < wv)
                out = torch.ones((rows.size, n), dtype=torch.bool)
                if inside.any():
                    out[torch.from_numpy(inside)] = tracking.unpack_rows(masks, (y * wv + x)[inside], n,
                                                                         (hv, wv), margin)
                return out
            tests[anchor].append(dense)
        if not any(tests):
            return None

        def allowed(sl):
            rows = len(range(*sl.indices(h4 * w4)))
            parts = []
            for (n, _), block in zip(self._ref_labels, tests):
                part = torch.ones((rows, n), dtype=torch.bool)
                for test in block:
                    part &= test(sl)
                parts.append(part)
            return torch.cat(parts, dim=1)
        return allowed

    def _cells(self, frame: int, L: np.ndarray, query=None):
        """This frame's query features on its image cells, (hv * wv, 256) float32: from
        ``query`` (the padded frame's cells) or recomputed from ``L``, memoised by frame and
        content (the next frame's tracking step needs them again)."""
        from ..networks.deepexemplar import FEATURE_STRIDE, pad_to_multiple
        key = (int(frame), hashlib.blake2b(np.ascontiguousarray(L, dtype=np.float32).tobytes(),
                                           digest_size=16).hexdigest())
        if key in self._memo:
            return self._memo[key]
        h, w = L.shape
        valid = (math.ceil(h / FEATURE_STRIDE), math.ceil(w / FEATURE_STRIDE))
        Lp = pad_to_multiple(self._tensor(L))
        if query is None:
            query = self.net.query_cells(Lp, valid)
        h4, w4 = Lp.shape[2] // FEATURE_STRIDE, Lp.shape[3] // FEATURE_STRIDE
        cells = query.reshape(h4, w4, -1)[:valid[0], :valid[1]].reshape(valid[0] * valid[1], -1).float()
        self._memo[key] = cells
        while len(self._memo) > 2:
            self._memo.popitem(last=False)
        return cells

    def _track_masks(self, frame: int, L: np.ndarray, query, valid: Tuple[int, int],
                     previous: Previous) -> Optional[np.ndarray]:
        """This frame's dense-tracking masks to the chain's keyframe, one step from the previous
        frame's (None when the chain carries none or the grids differ)."""
        from ..correspond import tracking
        if not self._dense or "tmask" not in previous.state or "anchor" not in previous.state:
            return None
        hv, wv = valid
        if self._ref_labels[int(previous.state["anchor"][0])][0] != hv * wv:
            return None
        prev = self._cells(previous.frame, np.asarray(previous.state["L"], np.float32))
        cur = self._cells(frame, L, query)   # after: the memo keeps the two newest
        if prev.shape != cur.shape:
            return None
        cand = tracking.step_candidates(cur, prev, valid, tracking.scaled_radius(self.settings["mask_radius"], valid),
                                        float(self.settings["mask_temperature"]),
                                        float(self.settings["mask_threshold"]))
        return tracking.propagate(tracking.decompress(previous.state["tmask"]), cand)

    def _instance_map(self, target: TargetFrame, L: np.ndarray, previous: Optional[Previous],
                      anchor: Optional[int], info: Dict[str, Any]) -> Optional[np.ndarray]:
        """This frame's instance map in the IDs of the chain's keyframe, (H, W) int32, or None
        (the chain carries none: no keyframe matte, or ``restrict`` without instances).

        :func:`~nuke_colorize.correspond.instances.next_map` from the previous frame's map
        (the chain state's ``inst``) and this frame's matte by the ``matte_ids`` rule and
        ``instance_iou``, as the exemplar backend does. IDs taken as given need no flow; IDs to
        associate by IoU, or a frame without a matte, carry the previous map to this frame
        along DIS flow (this frame to the previous one, on the working-resolution luminance
        ``L`` and the state's ``L``: a resumed chain computes the same flow). Its time goes to
        ``info["matte_flow_seconds"]``."""
        if not self._instance or previous is None or "inst" not in previous.state:
            return None
        from ..correspond import tracking
        from ..flow import L_to_u8, dis_flow
        stable = self._stable_ids(target, anchor)
        prev_inst = tracking.decompress(previous.state["inst"])
        prev_L = np.asarray(previous.state["L"], np.float32)
        flow = None
        if (target.matte is None or not stable) and prev_L.shape == L.shape == prev_inst.shape:
            t0 = time.perf_counter()
            flow = dis_flow(L_to_u8(L), L_to_u8(prev_L), LABEL_FLOW_PRESET)
            info["matte_flow_seconds"] = round(time.perf_counter() - t0, 4)
        inst = self._next_instance_map(prev_inst, flow, target, anchor)
        return None if inst is None else np.asarray(inst, np.int32)

    def keyframe_result(self, target: TargetFrame, reference: Reference) -> Result:
        res = super().keyframe_result(target, reference)
        if reference.lab.shape[:2] != target.L.shape:
            return res
        from ..correspond import tracking
        idx = self.reference_index(reference)
        matte = reference.matte if reference.matte is not None else target.matte
        inst = self._instance and matte is not None and matte.shape == target.L.shape
        if self._dense or inst:
            res.state["anchor"] = np.array([idx], np.int32)
        if self._dense:
            res.state["tmask"] = tracking.compress(tracking.identity(self._ref_labels[idx][0]))
        if inst:   # the chain's instance map starts as the keyframe's matte (matte_ids)
            res.state["inst"] = tracking.compress(np.asarray(matte, np.int32))
        return res

    def colorize(self, target: TargetFrame, previous: Optional[Previous]) -> Result:
        import torch
        import torch.nn.functional as F

        if not self._keys:
            raise InputError("the deepexemplar backend needs at least one reference", frame=target.frame)
        t0 = time.perf_counter()
        L = np.clip(np.asarray(target.L, dtype=np.float32), 0.0, 100.0)
        if self._dense:
            # the state's precision from the start (the engine stores states as float16): the next
            # frame's tracking step finds these features again, in memory or after a resume
            L = half_round_trip(L)
        h, w = L.shape
        if self.device == "cpu" and (h, w) not in self._memory_checked:
            # once per size: later frames reuse the memory the first one freed, which the
            # machine's MemAvailable does not count
            check_memory(h, w, int(self.settings["working_size"]))
            self._memory_checked.add((h, w))
        from ..correspond import tracking
        from ..networks.deepexemplar import FEATURE_STRIDE, pad_to_multiple
        state: Dict[str, np.ndarray] = {}
        info: Dict[str, Any] = {}
        anchor = int(previous.state["anchor"][0]) if previous is not None and "anchor" in previous.state else None
        inst = self._instance_map(target, L, previous, anchor, info)
        if inst is not None:
            state["inst"] = tracking.compress(inst)
        with torch.inference_mode(), self._autocast():
            Lt = self._tensor(L)
            Lp = pad_to_multiple(Lt)
            padded = (Lp.shape[2] // FEATURE_STRIDE, Lp.shape[3] // FEATURE_STRIDE)
            valid = (math.ceil(h / FEATURE_STRIDE), math.ceil(w / FEATURE_STRIDE))
            query = self.net.query_cells(Lp, valid)
            masks = None
            if anchor is not None:
                state["anchor"] = previous.state["anchor"]
                masks = self._track_masks(target.frame, L, query, valid, previous)
                if masks is not None:
                    state["tmask"] = tracking.compress(masks)
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
                                        allowed=self._restriction(target, padded, valid, anchor, masks, inst),
                                        query=query)
            ab = ab.float()[0].permute(1, 2, 0).cpu().numpy()
            sim = sim.float()[0, 0].cpu().numpy()
        ab = np.ascontiguousarray(ab, dtype=np.float32)
        conf = np.clip(sim, 0.0, 1.0).astype(np.float32)
        info.update(seconds=round(time.perf_counter() - t0, 4), similarity_mean=round(float(sim.mean()), 4))
        state.update(ab=ab, L=L)
        return Result(ab=ab, confidence=conf, state=state, info=info)
