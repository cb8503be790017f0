"""The default backend: semantic matching + flow propagation, nothing downloaded.

Per frame t (all at working resolution, L in [0, 100], ab in CIE units):

1. *Match*: grey-image MobileNetV2 features of the target (taps at strides 8/16/32, each
   L2-normalised, concatenated) against the features of every reference's luminance,
   stacked into one softmax (cosine affinity, low temperature); the references' ab is
   warped onto the target grid and upsampled edge-aware. Confidence = best similarity.
2. *Propagate*: the previous frame's ab is warped along DIS flow (target -> previous);
   a forward-backward check marks where that flow is trustworthy.
3. *Fuse*: where propagation is trustworthy it dominates, but each frame blends in a
   fraction of the matched colour weighted by match confidence (re-anchoring, so drift
   decays geometrically instead of piling up); where it is not (occlusions,
   disocclusions) the matched colour is used.

Keyframe references (colour versions of plate frames) are the chain anchors; external
stills only take part in matching.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..correspond import features as feats
from ..correspond.affinity import normalize, softmax_warp
from ..flow import L_to_u8, dis_flow, fb_consistent, warp
from ..refine import upsample_guided
from .base import Backend, Previous, Reference, Result, TargetFrame


class ExemplarBackend(Backend):
    name = "exemplar"
    version = "1"

    @classmethod
    def default_settings(cls) -> Dict[str, Any]:
        return {
            "max_working_size": 1024,   # long side of the working resolution (pixels)
            "feature_size": 512,        # long side of the image the features are computed on
            "temperature": 0.01,        # softmax temperature on cosine similarity
            "topk": 32,                 # candidates per target position entering the softmax
            "tap_weights": [1.0, 1.0, 1.0],  # strides 8 / 16 / 32
            "flow_preset": "medium",
            "reanchor": 0.1,            # fraction of matched colour blended in per frame
            "conf_floor": 0.5,          # similarity mapped to zero reliability
            "refine_radius": 4,
            "refine_eps": 2e-3,
            "track": True,              # dense track to the chain's keyframe
            "track_sigma": 8.0,         # L* difference at which the track confidence falls to 1/e
        }

    TAP_IDS = (6, 13, 16)

    def __init__(self, settings=None, device: str = "cpu"):
        super().__init__(settings, device)
        self.net = feats.load_mobilenetv2(device)
        self._keys: Optional[torch.Tensor] = None
        self._values: Optional[torch.Tensor] = None

    # ------------------------------------------------------------------ features
    def _grid_size(self, w: int, h: int):
        s = float(self.settings["feature_size"]) / max(w, h)
        fw, fh = max(32, int(round(w * s))), max(32, int(round(h * s)))
        return fw, fh, (-(-fw // 8), -(-fh // 8))

    @torch.inference_mode()
    def _features(self, L: np.ndarray) -> torch.Tensor:
        """(H, W) L* -> (gh * gw, C) normalised features on the stride-8 grid of the
        feature image (long side ``feature_size``)."""
        h, w = L.shape
        fw, fh, (gw, gh) = self._grid_size(w, h)
        Lr = cv2.resize(L.astype(np.float32), (fw, fh), interpolation=cv2.INTER_AREA)
        x = torch.from_numpy(Lr)[None, None].to(self.device)
        pyr = feats.pyramid(self.net, x, self.TAP_IDS)
        parts = []
        for wgt, tap in zip(self.settings["tap_weights"], self.TAP_IDS):
            f = pyr[tap]
            if f.shape[-2:] != (gh, gw):
                f = F.interpolate(f, size=(gh, gw), mode="bilinear", align_corners=False)
            parts.append(normalize(f, dim=1) * float(wgt))
        f = normalize(torch.cat(parts, dim=1), dim=1)
        return f[0].permute(1, 2, 0).reshape(gh * gw, -1).contiguous()

    def set_references(self, references: List[Reference]) -> None:
        super().set_references(references)
        keys, vals = [], []
        for ref in references:
            L = ref.lab[..., 0]
            h, w = L.shape
            _, _, (gw, gh) = self._grid_size(w, h)
            keys.append(self._features(L))
            ab = cv2.resize(ref.lab[..., 1:].astype(np.float32), (gw, gh), interpolation=cv2.INTER_AREA)
            vals.append(torch.from_numpy(ab.reshape(-1, 2)))
        self._keys = torch.cat(keys, 0) if keys else None
        self._values = torch.cat(vals, 0).to(self.device) if vals else None

    # ------------------------------------------------------------------ per frame
    @torch.inference_mode()
    def _match(self, L: np.ndarray):
        h, w = L.shape
        _, _, (gw, gh) = self._grid_size(w, h)
        q = self._features(L)
        ab, conf, _ = softmax_warp(q, self._keys, self._values,
                                   temperature=float(self.settings["temperature"]),
                                   topk=int(self.settings["topk"]))
        ab = ab.cpu().numpy().reshape(gh, gw, 2).astype(np.float32)
        conf = conf.cpu().numpy().reshape(gh, gw).astype(np.float32)
        guide = np.clip(L / 100.0, 0, 1).astype(np.float32)
        ab_up = upsample_guided(ab, guide, radius=int(self.settings["refine_radius"]),
                                eps=float(self.settings["refine_eps"]))
        conf_up = cv2.resize(conf, (w, h), interpolation=cv2.INTER_LINEAR)
        return ab_up, conf_up

    def _reliability(self, conf: np.ndarray) -> np.ndarray:
        lo = float(self.settings["conf_floor"])
        return np.clip((conf - lo) / max(1e-6, 1.0 - lo), 0.0, 1.0).astype(np.float32)

    def _track(self, prev_state: Dict[str, np.ndarray], f_tp: np.ndarray, valid: np.ndarray,
               L: np.ndarray):
        """Carry the dense track to the chain's keyframe one more frame.

        ``disp`` (H, W, 2) is, for every pixel of the current frame, the displacement to
        its position in the keyframe; it is composed with the flow to the previous frame,
        so the keyframe's colour is sampled once (no blur accumulates along the chain).
        Track confidence decays where the flow is inconsistent and where the luminance
        at the tracked position disagrees with the target's (drift detection).
        Returns (ab_track, conf_track, disp) or None when the chain has no keyframe.
        """
        if "disp" not in prev_state:
            return None
        ref = self.references[int(prev_state["anchor"][0])]
        h, w = L.shape
        disp = warp(prev_state["disp"], f_tp) + f_tp
        conf = warp(prev_state["tconf"], f_tp) * valid
        ab_t = warp(ref.lab[..., 1:], disp)
        L_t = warp(ref.lab[..., 0], disp)
        dL = cv2.GaussianBlur(np.abs(L_t - L), (0, 0), 2.0)
        sigma = float(self.settings["track_sigma"])
        conf = conf * np.exp(-(dL / sigma) ** 2)
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        x, y = gx + disp[..., 0], gy + disp[..., 1]
        inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
        conf = (conf * inside).astype(np.float32)
        return ab_t.astype(np.float32), conf, disp.astype(np.float32)

    def colorize(self, target: TargetFrame, previous: Optional[Previous]) -> Result:
        if self._keys is None:
            raise RuntimeError("set_references() must be called before colorize()")
        L = target.L.astype(np.float32)
        ab_m, conf_m = self._match(L)
        rel = self._reliability(conf_m)
        state: Dict[str, np.ndarray] = {}
        if previous is None:
            ab, conf = ab_m, rel
        else:
            u_t, u_p = L_to_u8(L), L_to_u8(previous.state["L"])
            preset = str(self.settings["flow_preset"])
            f_tp = dis_flow(u_t, u_p, preset)
            f_pt = dis_flow(u_p, u_t, preset)
            valid = fb_consistent(f_tp, f_pt).astype(np.float32)
            valid = cv2.GaussianBlur(valid, (0, 0), 1.5)
            ab_p = warp(previous.state["ab"], f_tp)
            conf_p = warp(previous.state["conf"], f_tp) if "conf" in previous.state else valid
            lam = float(self.settings["reanchor"])
            w_m = valid * lam * rel + (1.0 - valid)
            ab = (1.0 - w_m)[..., None] * ab_p + w_m[..., None] * ab_m
            conf = valid * np.maximum(conf_p * (1 - lam), rel) + (1 - valid) * rel
            tracked = self._track(previous.state, f_tp, valid, L) if self.settings["track"] else None
            if tracked is not None:
                ab_t, c_t, disp = tracked
                ab = c_t[..., None] * ab_t + (1.0 - c_t)[..., None] * ab
                conf = np.maximum(conf, c_t)
                state.update(disp=disp, tconf=c_t, anchor=previous.state["anchor"])
        ab = ab.astype(np.float32)
        conf = np.clip(conf, 0, 1).astype(np.float32)
        state.update(ab=ab, L=L, conf=conf)
        return Result(ab=ab, confidence=conf, state=state)

    def keyframe_result(self, target: TargetFrame, reference: Reference) -> Result:
        res = super().keyframe_result(target, reference)
        res.state["conf"] = res.confidence
        if reference.lab.shape[:2] == target.L.shape:
            idx = next(i for i, r in enumerate(self.references) if r.frame == reference.frame)
            res.state["disp"] = np.zeros(target.L.shape + (2,), np.float32)
            res.state["tconf"] = np.ones(target.L.shape, np.float32)
            res.state["anchor"] = np.array([idx], np.int32)
        return res
