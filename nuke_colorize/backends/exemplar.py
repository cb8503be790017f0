"""The default backend: semantic matching + flow propagation, nothing downloaded.

Per frame t (all at working resolution, L in [0, 100], ab in CIE units):

1. *Match*: grey-image MobileNetV2 features of the target (taps at strides 8/16/32, each
   L2-normalised, concatenated, on an image of long side ``feature_size``) against the
   features of every reference's luminance, stacked into one softmax (cosine affinity, low
   temperature, candidates found coarse to fine); the references' ab is warped onto the
   target grid and upsampled edge-aware. Confidence = best similarity. Matches against the
   chain's own keyframe are biased towards where the dense track (smoothed, filled in
   where it was lost) predicts each cell to be (:mod:`..correspond.position`), and matches
   against every keyframe towards cells of similar luminance
   (:mod:`..correspond.luma_prior`). A keyframe cell carries its colour per L* bin, not
   only its mean, so each target pixel reads the matched colour of its own luminance
   (:mod:`..correspond.luma_key`: a dark collar in a bright cell stays dark-coloured).
   A chain anchored on a keyframe also matches against a few of its own earlier frames
   (:mod:`..correspond.memory`), each position handicapped by how unsure its colour was.
2. *Propagate*: the previous frame's ab is warped along DIS flow (target -> previous);
   a forward-backward check marks where that flow is trustworthy.
3. *Track*: with a keyframe reference, every pixel's position in the keyframe is carried
   along the flow and the keyframe's colour sampled there directly, where the track holds
   (the keyframe's chroma blurred by ~1 pixel per 1000: its pixel-scale detail does not
   carry over to other frames).
4. *Fuse*: where propagation is trustworthy it dominates, but each frame blends in a
   fraction of the matched colour weighted by match confidence (re-anchoring, so drift
   decays geometrically instead of piling up); where it is not (occlusions,
   disocclusions, flow failures) the matched colour takes over as far as the match is
   reliable and the propagated colour keeps the rest (:func:`match_weight`).

Keyframe references (colour versions of plate frames) are the chain anchors; external
stills only take part in matching.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .. import coverage
from ..correspond import features as feats
from ..correspond import instances, luma_key, luma_prior, memory, position, restriction, tracking
from ..correspond.affinity import normalize, softmax_warp
from ..correspond.coarse_to_fine import pool_keys, softmax_warp_c2f
from ..flow import L_to_u8, dis_flow_pair, fb_consistent, pixel_grid, warp
from ..refine import cross_bilateral, upsample_guided
from .base import Backend, Previous, Reference, Result, TargetFrame, half_round_trip
from .exemplar_settings import ExemplarSettings


def match_weight(valid: np.ndarray, reliability: np.ndarray, reanchor: float) -> np.ndarray:
    """Weight of the matched colour against the propagated one, (H, W) in [0, 1].

    ``valid`` (H, W) in [0, 1]: trust in the flow to the previous frame (forward-backward
    check, softened); ``reliability`` (H, W) in [0, 1]: the match's. Where the flow holds,
    ``reanchor * reliability`` (re-anchoring); where it fails, ``reliability``: a
    confident match replaces the propagated colour, an unsure one leaves it (a failed
    check is often a flow error, not an occlusion, and then the propagated colour is right;
    against taking the match whatever its reliability, DAVIS P1 gained 0.10 dB, P3 0.06).
    """
    return (valid * reanchor + (1.0 - valid)) * reliability


def reported_confidence(conf: np.ndarray, tracked: Optional[np.ndarray], untracked: float) -> np.ndarray:
    """The confidence a frame reports, (H, W) float32 in [0, 1].

    ``conf`` (H, W) in [0, 1]: the chain's own confidence (the matched colour's
    reliability, carried along the flow, and the track's); ``tracked`` (H, W) in [0, 1]
    or None: the dense track's confidence (keyframe colour read where the track holds).
    Colour tracked from a keyframe is reported as the track trusts it; any other colour
    (matched, or propagated from matched frames) at ``untracked`` times its reliability.
    On DAVIS (P1, native) the squared a*b* error of untracked colour is ~10x that of
    tracked colour, while the raw reliability of a match is rarely below 0.6: unscaled,
    the confidence barely tells them apart. It weighs the chains between two keyframes
    (:func:`nuke_colorize.engine.blend_results`) and gates the plate-resolution
    refinement (:meth:`nuke_colorize.pipeline.Colorizer.finish`); the chain's state keeps
    ``conf`` unscaled. Without a track (a chain with no keyframe, or ``track`` off) all
    colour is of one kind and ``conf`` is reported as it is.
    """
    if tracked is None:
        return conf
    return np.clip(np.maximum(np.float32(untracked) * conf, tracked), 0.0, 1.0).astype(np.float32)


class ExemplarBackend(ExemplarSettings, Backend):
    """The default backend (see the module documentation); its settings, version and
    validation are :class:`ExemplarSettings`."""

    TAP_IDS = (6, 13, 16)
    #: width of the smoothing of the track's displacement for the positional prior, as a
    #: fraction of the grid's width
    PRIOR_SMOOTHING = 0.1

    def __init__(self, settings=None, device: str = "cpu"):
        super().__init__(settings, device)   # validates the settings (ExemplarSettings)
        self.net = feats.load_mobilenetv2(device)
        self._keys: Optional[torch.Tensor] = None
        self._pooled: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
        self._values: Optional[torch.Tensor] = None
        self._blocks: List[Tuple[int, int, Tuple[int, int]]] = []   # per reference: rows, grid
        self._ref_labels: List[Optional[np.ndarray]] = []
        self._keyed: Optional[np.ndarray] = None     # L* bins of the keyed colour, when in use
        self._track_ab: List[Optional[np.ndarray]] = []   # per reference: chroma the track reads
        self._usable: Optional[torch.Tensor] = None        # (M,) bool reference cells that carry colour
        self._memo: "OrderedDict[Tuple[int, str], torch.Tensor]" = OrderedDict()
        self._mem_memo: "OrderedDict[str, torch.Tensor]" = OrderedDict()
        # remembered frames by content, and the references stacked with the last ones used
        # (the memory changes every ``memory_every`` frames, the stacking is not free)
        self._mem_frames: "OrderedDict[str, memory.MemoryFrame]" = OrderedDict()
        self._stacked: Optional[tuple] = None

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

    def _features_of(self, frame: int, L: np.ndarray) -> torch.Tensor:
        """Features of a chain frame, memoised by frame and content (the previous frame's
        features are needed again by the tracking step of the next frame)."""
        key = (int(frame), hashlib.blake2b(np.ascontiguousarray(L).tobytes(), digest_size=16).hexdigest())
        if key in self._memo:
            return self._memo[key]
        f = self._features(L)
        self._memo[key] = f
        while len(self._memo) > 3:
            self._memo.popitem(last=False)
        return f

    def set_references(self, references: List[Reference]) -> None:
        super().set_references(references)
        keys, vals, self._blocks, self._ref_labels = [], [], [], []
        start = 0
        # tables only when a keyframe is there to fill them (stills carry the plain colour)
        self._keyed = self._key_centres if any(r.is_keyframe for r in references) else None
        usable = []
        grey = coverage.unpainted_is_grey(references)
        for ref in references:
            L = ref.lab[..., 0]
            h, w = L.shape
            _, _, (gw, gh) = self._grid_size(w, h)
            keys.append(self._features(L))
            v = self._cell_values(L, ref.lab[..., 1:], (gh, gw), tables=ref.is_keyframe, cover=ref.coverage)
            cells = coverage.cells(ref.coverage, (gh, gw))
            if cells is not None and grey and ref.is_keyframe:
                # unpainted cells: candidates standing for grey, their luminance tables those of
                # grey pixels (the keyed read divides by a table's weight: zeroed tables would let
                # the smallest share of a painted cell give its full colour)
                unpainted = np.where(ref.coverage[..., None], ref.lab[..., 1:], 0.0).astype(np.float32)
                v[~cells] = self._cell_values(L, unpainted, (gh, gw), tables=True)[~cells]
                cells = None
            vals.append(torch.from_numpy(np.ascontiguousarray(v)))
            self._blocks.append((start, start + gh * gw, (gh, gw)))
            start += gh * gw
            self._ref_labels.append(instances.to_grid(ref.matte, (gh, gw))
                                    if ref.matte is not None else None)
            usable.append(torch.ones(gh * gw, dtype=torch.bool) if cells is None else torch.from_numpy(cells))
        # reference cells that may be matched (None: all): mostly uncovered ones never are,
        # but where no reference is whole (coverage.unpainted_is_grey) a keyframe's are, as grey
        self._usable = torch.cat(usable) if any(not bool(u.all()) for u in usable) else None
        self._track_ab = [self._tracked_chroma(ref) for ref in references]
        self._key_u8: Dict[int, np.ndarray] = {}   # per keyframe reference: its L* as DIS reads it
        self._slots = {}
        if self._luma_weight > 0:
            keys = self._with_luma(keys)
        if float(self.settings["position_prior"]) > 0:
            keys = self._with_positions(keys)
        self._keys = torch.cat(keys, 0) if keys else None
        self._values = torch.cat(vals, 0).to(self.device) if vals else None
        self._mem_frames.clear()
        self._stacked = None
        self._pooled = None     # coarse keys of the coarse-to-fine search, made on first use

    def _cell_values(self, L: np.ndarray, ab: np.ndarray, grid: Tuple[int, int], tables: bool = True,
                     cover: Optional[np.ndarray] = None) -> np.ndarray:
        """What the softmax carries from an image's cells, (h * w, V) float32: its a*b*
        (H, W, 2) averaged per cell of ``grid``, then, when the luminance-keyed colour is in
        use, its per-L* tables (:func:`luma_key.cell_tables`; zeros with ``tables`` off: a
        still's luminance is not the plate's). With ``cover`` ((H, W) bool coverage of a
        reference) both come from covered pixels only."""
        gh, gw = grid
        if cover is None:
            v = cv2.resize(ab.astype(np.float32), (gw, gh), interpolation=cv2.INTER_AREA).reshape(-1, 2)
        else:
            v = coverage.weighted_resize(ab, cover, (gw, gh)).reshape(-1, 2)
        if self._keyed is None:
            return v
        t = (luma_key.cell_tables(L, ab, grid, self._keyed, cover) if tables
             else np.zeros((gh * gw, 3 * len(self._keyed)), np.float32))
        return np.concatenate([v, t], 1)

    def _tracked_chroma(self, ref: Reference) -> Optional[np.ndarray]:
        """The a*b* (H, W, 2) float32 the dense track reads from a keyframe (None for stills).

        The keyframe's chroma blurred by a Gaussian of ``track_chroma_blur`` pixels per 1000
        pixels of its long side. The track names one pixel of the keyframe, but detail of
        the keyframe's chroma at the scale of a pixel (compression artefacts, 4:2:0 chroma
        that does not sit exactly on the luminance edges, the track's own sub-pixel error)
        does not carry over to other frames, and read pixel by pixel it becomes error and
        flicker. The blur helps from the first tracked frame on: one that instead grew with
        the track's accumulated uncertainty, from none, did worse (-0.035 dB on six clips).
        The blur scales with the long side (0.85 px at 854x480, 0.19 px at 192x108) as a
        rule of thumb: a small picture is usually a downsampled one, where that detail is
        already averaged away and what is left is real.
        On the 20 DAVIS-2016 val clips: P1 (854x480, 0.85 px) +0.035 dB, all 20 up, flicker
        lower on all; P3 (384x216, 0.38 px) +0.009, 19 of 20 up. A fixed 1-pixel blur gained
        a little more at 854x480 but lost 0.68 dB on a 192x108 clip (0.19 px: unchanged).
        A keyframe painted in part (:attr:`Reference.coverage`) is blurred over its covered
        pixels only; the track reads nothing from the others (:meth:`_track`).
        """
        if not ref.is_keyframe:
            return None
        ab = np.ascontiguousarray(ref.lab[..., 1:], dtype=np.float32)
        sigma = float(self.settings["track_chroma_blur"]) * max(ab.shape[:2]) / 1000.0
        if sigma <= 0:
            return ab
        if ref.coverage is not None:
            return coverage.weighted_blur(ab, ref.coverage, sigma)
        return cv2.GaussianBlur(ab, (0, 0), sigma)

    @property
    def _key_centres(self) -> Optional[np.ndarray]:
        """L* bins of the luminance-keyed matched colour, or None when it is off."""
        if not self.settings["luma_key"]:
            return None
        return luma_key.bin_centres(float(self.settings["luma_key_spacing"]))

    # ------------------------------------------------------------------ luminance prior
    @property
    def _luma_weight(self) -> float:
        return float(self.settings["luma_prior"])

    def _with_luma(self, keys: List[torch.Tensor]) -> List[torch.Tensor]:
        """Append the luminance prior's encodings of every keyframe block's cells (zeros for
        external stills: their luminance is not the plate's)."""
        sigma = float(self.settings["luma_sigma"])
        dim = len(luma_prior.anchors(sigma))
        out = []
        for ref, (_, _, grid), k in zip(self.references, self._blocks, keys):
            if ref.is_keyframe:
                L = ref.lab[..., 0]
                cells = (luma_prior.cell_luminance(L, grid) if ref.coverage is None else
                         coverage.weighted_resize(L, ref.coverage, grid[::-1]).reshape(-1))
                enc = torch.from_numpy(luma_prior.encode(cells, sigma, self._luma_weight))
            else:
                enc = torch.zeros((k.shape[0], dim), dtype=k.dtype)
            out.append(torch.cat([k, enc.to(k.device)], 1))
        return out

    def _query_luma(self, q: torch.Tensor, L: np.ndarray, grid: Tuple[int, int]) -> torch.Tensor:
        """``q`` (N, C) with the luminance prior's encoding of each cell's mean L* appended
        (unchanged when the prior is off)."""
        if self._luma_weight <= 0:
            return q
        enc = luma_prior.encode(luma_prior.cell_luminance(L, grid), float(self.settings["luma_sigma"]),
                                self._luma_weight)
        return torch.cat([q, torch.from_numpy(enc).to(q.device)], 1)

    # ------------------------------------------------------------------ positional prior
    def _anchors(self, h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
        return position.anchors(min(h, w) / max(h, w), float(self.settings["position_sigma"]))

    def _prior_dim(self, h: int, w: int) -> int:
        xs, ys = self._anchors(h, w)
        return len(xs) * len(ys)

    def _encode(self, pos: np.ndarray, h: int, w: int) -> torch.Tensor:
        """(N, 2) pixel positions in an (h, w) image -> (N, P) weighted encodings."""
        pe = position.encode(pos / max(h, w), self._anchors(h, w), float(self.settings["position_sigma"]))
        return torch.from_numpy(pe * np.float32(np.sqrt(float(self.settings["position_prior"]))))

    def _with_positions(self, keys: List[torch.Tensor]) -> List[torch.Tensor]:
        """Append each keyframe block's position encodings in a slot of its own (zeros for
        stills and for the other slots); ``self._slots`` maps the encoded references to
        their slots."""
        kf = [i for i, r in enumerate(self.references) if r.is_keyframe]
        if not kf:
            return keys
        h, w = self.references[kf[0]].lab.shape[:2]      # keyframes share the working size
        kf = [i for i in kf if self.references[i].lab.shape[:2] == (h, w)]
        self._slots = {i: n for n, i in enumerate(kf)}
        p = self._prior_dim(h, w)
        out = []
        for i, k in enumerate(keys):
            extra = torch.zeros((k.shape[0], p * len(kf)), dtype=k.dtype)
            if i in self._slots:
                s = self._slots[i]
                extra[:, s * p:(s + 1) * p] = self._encode(position.cell_centres(self._blocks[i][2], (h, w)), h, w)
            out.append(torch.cat([k, extra.to(k.device)], 1))
        return out

    def _query_positions(self, q: torch.Tensor, grid: Tuple[int, int], L: np.ndarray,
                         anchor: Optional[int], previous: Optional[Previous]) -> torch.Tensor:
        """``q`` (N, C) with the prior's slots appended: the anchor keyframe's slot holds the
        encoding of each cell's predicted position in the keyframe (its centre moved by the
        smoothed track displacement), the other slots zeros. The match's confidence is then
        the best *biased* similarity: at most ``position_prior + luma_prior`` above the
        plain cosine."""
        extra_dim = int(self._keys.shape[1]) - int(q.shape[1])
        if extra_dim <= 0:
            return q
        extra = torch.zeros((q.shape[0], extra_dim), dtype=q.dtype)
        h, w = L.shape
        if anchor in self._slots and self.references[anchor].lab.shape[:2] == (h, w):
            cells = position.cell_centres(grid, (h, w))
            if previous is not None and "disp" in previous.state:
                cells = cells + position.smooth_displacement(
                    previous.state["disp"], previous.state["tconf"], grid, self.PRIOR_SMOOTHING * grid[1])
            p = self._prior_dim(h, w)
            s = self._slots[anchor]
            extra[:, s * p:(s + 1) * p] = self._encode(cells, h, w)
        return torch.cat([q, extra.to(q.device)], 1)

    # ------------------------------------------------------------------ per frame
    # ------------------------------------------------------------------ restriction
    def _restriction(self, grid: Tuple[int, int], anchor: Optional[int],
                     masks: Optional[np.ndarray], labels: Optional[np.ndarray],
                     raw_labels: Optional[np.ndarray], remembered: "List[memory.MemoryFrame]" = ()
                     ) -> Tuple[Optional[restriction.Restriction], Optional[float]]:
        """The ``allowed`` restriction of the softmax for one target frame (or None)
        and the slack of its fallback (None: only rows with no allowed candidate fall back).

        Per reference block (stacked in one softmax): the chain's anchor keyframe is
        restricted by the dense-tracking masks and by the instance map carried along the
        chain (``labels``, reference IDs); other references with a matte by this frame's own
        matte IDs (``raw_labels``); external stills are not restricted. Remembered frames
        (stacked after the references) by the instance map they had, in the same reference
        IDs, when the chain carries one; tracking masks lead to the keyframe only and do not
        restrict them.

        Instance IDs come from the compositor and are hard: ``restrict_slack`` (default off).
        Tracking masks are estimates: a chain of windowed matches can lose a deforming or
        fast object, so where they take part the stricter ``mask_slack`` also applies (on
        six DAVIS clips, first 30 frames, P1 at 384x216: dense masks -0.18 dB against no
        restriction without it, +0.12 with it, dilated by 3 cells and the fallback at 0.8).
        """
        slack = float(self.settings["restrict_slack"]) or None
        m_total = int(self._keys.shape[0])
        margin = int(self.settings["mask_margin"])
        rules: List[restriction.Rule] = []
        for mem in remembered:
            n = int(mem.keys.shape[0])
            if labels is not None and mem.labels is not None:
                rules.append(restriction.Rule(m_total, m_total + n, mem.grid, labels=(labels, mem.labels)))
            m_total += n
        for i, (a, b, ref_grid) in enumerate(self._blocks):
            dense = None
            if i == anchor and masks is not None and ref_grid == grid:
                if float(self.settings["mask_slack"]) > 0:
                    slack = min(slack or 2.0, float(self.settings["mask_slack"]))
                dense = (lambda sl, m=masks, n=b - a, g=ref_grid: tracking.unpack_rows(m, sl, n, g, margin))
            ref_lab = self._ref_labels[i] if self._instance else None
            own = labels if i == anchor else raw_labels
            ids = (own, ref_lab) if ref_lab is not None and own is not None else None
            if dense is not None or ids is not None:
                rules.append(restriction.Rule(a, b, ref_grid, mask=dense, labels=ids))
        if not rules:
            return None, None
        return restriction.Restriction(m_total, rules), slack

    @torch.inference_mode()
    def _match(self, L: np.ndarray, q: torch.Tensor,
               allowed: Optional[Callable[[slice], torch.Tensor]] = None, slack: Optional[float] = None,
               remembered: "List[memory.MemoryFrame]" = ()):
        """Matched ab (H, W, 2), similarity (H, W) in [-1, 1] and the fallback map (H, W)
        in [0, 1] (1 where the restriction left no candidate, or none within ``slack``).
        ``remembered`` frames join the references in the softmax (:mod:`..correspond.memory`)."""
        h, w = L.shape
        _, _, (gw, gh) = self._grid_size(w, h)
        common = dict(temperature=float(self.settings["temperature"]), allowed=allowed,
                      topk=int(self.settings["topk"]),
                      slack=slack)
        c2f = self.settings["search"] == "coarse_to_fine"
        if c2f and self._pooled is None:
            self._pooled = pool_keys(self._keys, self._blocks)
        keys, blocks, values, pooled = self._keys, self._blocks, self._values, self._pooled
        usable = self._usable
        if remembered:
            memo = self._stacked
            if memo is not None and len(memo[0]) == len(remembered) and all(a is b for a, b in zip(memo[0], remembered)):
                keys, blocks, values, pooled = memo[1]
            else:
                keys, blocks, values, pooled = memory.stack(keys, blocks, values, pooled if c2f else None, remembered)
                self._stacked = (tuple(remembered), (keys, blocks, values, pooled))
            q = memory.with_query_column(q)
            if usable is not None:   # remembered frames are not restricted by coverage
                usable = torch.cat([usable, torch.ones(int(keys.shape[0]) - int(usable.shape[0]), dtype=torch.bool)])
        if usable is not None:
            common["usable"] = usable.to(keys.device)
        if c2f:
            ab, conf, fallback = softmax_warp_c2f(q, (gh, gw), keys, blocks, values,
                                                  coarse_k=int(self.settings["coarse_k"]),
                                                  pooled=pooled, **common)
        else:
            ab, conf, fallback = softmax_warp(q, keys, values, **common)
        out = ab.cpu().numpy().astype(np.float32)
        ab = np.ascontiguousarray(out[:, :2]).reshape(gh, gw, 2)
        conf = conf.cpu().numpy().reshape(gh, gw).astype(np.float32)
        fb = fallback.cpu().numpy().reshape(gh, gw).astype(np.float32)
        guide = np.clip(L / 100.0, 0, 1).astype(np.float32)
        centres = self._keyed
        # with keyframe tables the plain colour is only their fallback: it keeps the grid's
        # detail as the tables do (bilinear between cells); stills' colour alone is smoothed
        radius = self.settings["refine_radius" if centres is None else "keyed_refine_radius"]
        ab_up = upsample_guided(ab, guide, radius=int(radius), eps=float(self.settings["refine_eps"]))
        if centres is not None:
            ab_up = luma_key.slice_tables(out[:, 2:], (gh, gw), L, centres, ab_up,
                                          float(self.settings["luma_key_prior"]))
        conf_up = cv2.resize(conf, (w, h), interpolation=cv2.INTER_LINEAR)
        fb_up = cv2.resize(fb, (w, h), interpolation=cv2.INTER_LINEAR)
        return ab_up, conf_up, fb_up

    def _reliability(self, conf: np.ndarray) -> np.ndarray:
        lo = float(self.settings["conf_floor"])
        return np.clip((conf - lo) / max(1e-6, 1.0 - lo), 0.0, 1.0).astype(np.float32)

    def _track(self, prev_state: Dict[str, np.ndarray], f_tp: np.ndarray, valid: np.ndarray,
               L: np.ndarray, inst: Optional[np.ndarray] = None):
        """Carry the dense track to the chain's keyframe one more frame.

        ``disp`` (H, W, 2) is, for every pixel of the current frame, the displacement to
        its position in the keyframe; it is composed with the flow to the previous frame,
        so the keyframe's colour is sampled once (no blur accumulates along the chain);
        the colour read is :meth:`_tracked_chroma`'s.
        Two confidences: the *geometric* one is carried along the chain — it drops to
        ``track_keep`` of its value on a frame where the flow fails the forward-backward
        check, to 0 where the track leaves the keyframe or (with an instance map ``inst``,
        (H, W) reference IDs) lands on another instance of the keyframe's matte. The
        *photometric* one is this frame's own check — the keyframe's luminance at the
        tracked position against the target's (drift detection) — and is not accumulated:
        a track that agrees again after a lighting change is trusted again.
        Returns (ab_track, conf_track = geometric * photometric, disp, geometric), or None
        when the chain has no keyframe.
        """
        if "disp" not in prev_state:
            return None
        anchor = int(prev_state["anchor"][0])
        ref = self.references[anchor]
        h, w = L.shape
        disp = warp(prev_state["disp"], f_tp) + f_tp
        keep = float(self.settings["track_keep"])
        geo = warp(prev_state["tconf"], f_tp) * (keep + (1.0 - keep) * valid)
        disp, geo = self._reacquire(anchor, L, disp, geo)
        ab_t = warp(self._track_ab[anchor], disp)
        L_t = warp(ref.lab[..., 0], disp)
        ab_t = cross_bilateral(ab_t, L_t, L, float(self.settings["track_bilateral"]) * max(h, w) / 1000.0,
                               float(self.settings["track_bilateral_L"]))   # identity below 1 pixel
        dL = cv2.GaussianBlur(np.abs(L_t - L), (0, 0), 2.0)
        sigma = float(self.settings["track_sigma"])
        photo = np.exp(-(dL / sigma) ** 2)
        gx, gy = pixel_grid(h, w)
        x, y = gx + disp[..., 0], gy + disp[..., 1]
        inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
        geo = geo * inside
        if inst is not None and ref.matte is not None and ref.matte.shape == (h, w):
            geo = geo * instances.same_instance(instances.warp_labels(ref.matte, disp), inst)
        conf = geo * photo
        if ref.coverage is not None and ref.coverage.shape == (h, w):
            # no keyframe colour where the keyframe is not painted: as a lost track there (the
            # carried geometric trust is kept: the track may reach painted pixels again)
            conf = conf * (warp(ref.coverage.astype(np.float32), disp) >= coverage.THRESHOLD)
        return ab_t.astype(np.float32), conf.astype(np.float32), disp.astype(np.float32), geo.astype(np.float32)

    def _reacquire(self, anchor: int, L: np.ndarray, disp: np.ndarray, geo: np.ndarray):
        """Re-find the keyframe where the track has lost it: DIS flow straight from this frame
        to the keyframe; pixels whose track trust is below ``track_reacquire`` and whose direct
        flow passes the forward-backward check take it, at that trust. Off at 0, and skipped
        when under 2% of the frame is lost. Returns (disp, geo), (H, W, 2) and (H, W)."""
        trust = float(self.settings["track_reacquire"])
        lost = geo < trust
        if trust <= 0 or lost.mean() < 0.02:
            return disp, geo
        key_u8 = self._key_u8.get(anchor)
        if key_u8 is None:
            key_u8 = self._key_u8[anchor] = L_to_u8(half_round_trip(self.references[anchor].lab[..., 0]))
        if key_u8.shape != L.shape:
            return disp, geo
        f_tk, f_kt = dis_flow_pair(L_to_u8(L), key_u8, str(self.settings["flow_preset"]))
        take = lost & fb_consistent(f_tk, f_kt)
        return (np.where(take[..., None], f_tk, disp).astype(np.float32),
                np.where(take, np.float32(trust), geo).astype(np.float32))

    def _track_masks(self, q: torch.Tensor, grid: Tuple[int, int], previous: Previous,
                     flow: np.ndarray, valid: np.ndarray) -> Optional[np.ndarray]:
        """This frame's dense-tracking masks to the chain's anchor, one step from the
        previous frame's (None when the chain carries none)."""
        if not self._dense or "tmask" not in previous.state:
            return None
        f_prev = self._features_of(previous.frame, previous.state["L"])
        if f_prev.shape[0] != q.shape[0]:
            return None
        cand = tracking.step_candidates(
            q, f_prev, grid, tracking.scaled_radius(self.settings["mask_radius"], grid),
            float(self.settings["temperature"]), float(self.settings["mask_threshold"]))
        cand = np.concatenate([cand, tracking.flow_candidates(flow, valid, grid)], axis=1)
        return tracking.propagate(tracking.decompress(previous.state["tmask"]), cand)

    def colorize(self, target: TargetFrame, previous: Optional[Previous]) -> Result:
        if self._keys is None:
            raise RuntimeError("set_references() must be called before colorize()")
        # the state's precision from the start: a resumed chain recomputes these features
        # from the cached L and must get the same bits
        L = half_round_trip(target.L)
        h, w = L.shape
        _, _, (gw, gh) = self._grid_size(w, h)
        grid = (gh, gw)
        q = self._features_of(target.frame, L)
        state: Dict[str, np.ndarray] = {}
        anchor = int(previous.state["anchor"][0]) if previous is not None and "anchor" in previous.state else None
        masks = labels = inst = None
        if previous is not None:
            u_t, u_p = L_to_u8(L), L_to_u8(previous.state["L"])
            preset = str(self.settings["flow_preset"])
            f_tp, f_pt = dis_flow_pair(u_t, u_p, preset)
            valid = fb_consistent(f_tp, f_pt).astype(np.float32)
            masks = self._track_masks(q, grid, previous, f_tp, valid)
            if masks is not None:
                state["tmask"] = tracking.compress(masks)
            if self._instance and "inst" in previous.state:
                prev_inst = tracking.decompress(previous.state["inst"])
                inst = self._next_instance_map(prev_inst, f_tp, target, anchor)
                if inst is not None:
                    state["inst"] = tracking.compress(inst.astype(np.int32))
                    labels = instances.to_grid(inst, grid)
                    if target.matte is not None and self.settings["instance_gate"]:
                        # flow that carries colour from one instance into another is not trusted
                        valid = valid * instances.same_instance(instances.warp_labels(prev_inst, f_tp), inst)
                if not self.settings["instance_gate"]:
                    inst = None
        raw = instances.to_grid(target.matte, grid) if target.matte is not None and self._instance else None
        remembered = self._recall(previous, L.shape, grid) if anchor is not None else []
        allowed, slack = self._restriction(grid, anchor, masks, labels, raw, remembered)
        ab_m, conf_m, fallback = self._match(
            L, self._query_positions(self._query_luma(q, L, grid), grid, L, anchor, previous), allowed, slack,
            remembered)
        rel = self._reliability(conf_m) * (1.0 - (1.0 - float(self.settings["fallback_confidence"])) * fallback)
        c_t: Optional[np.ndarray] = None
        if previous is None:
            ab, conf = ab_m, rel
        else:
            valid = cv2.GaussianBlur(valid, (0, 0), 1.5)
            ab_p = warp(previous.state["ab"], f_tp)
            conf_p = warp(previous.state["conf"], f_tp) if "conf" in previous.state else valid
            lam = float(self.settings["reanchor"])
            w_m = match_weight(valid, rel, lam)
            ab = (1.0 - w_m)[..., None] * ab_p + w_m[..., None] * ab_m
            conf = valid * np.maximum(conf_p * (1 - lam), rel) + (1 - valid) * rel
            tracked = self._track(previous.state, f_tp, valid, L, inst) if self.settings["track"] else None
            if tracked is not None:
                ab_t, c_t, disp, geo = tracked
                ab = c_t[..., None] * ab_t + (1.0 - c_t)[..., None] * ab
                conf = np.maximum(conf, c_t)
                state.update(disp=disp, tconf=geo)
            if anchor is not None:
                state["anchor"] = previous.state["anchor"]
        ab = ab.astype(np.float32)
        conf = np.clip(conf, 0, 1).astype(np.float32)
        state.update(ab=ab, L=L, conf=conf)
        info = {"fallback": float(fallback.mean())} if allowed is not None else {}
        reported = reported_confidence(conf, c_t, float(self.settings["untracked_confidence"]))
        if anchor is not None and previous is not None:
            state.update(self._remember(previous, q, L, ab, reported, grid, labels))
        return Result(ab=ab, confidence=reported, state=state, info=info)

    # ------------------------------------------------------------------ memory
    def _recall(self, previous: Optional[Previous], shape: Tuple[int, int],
                grid: Tuple[int, int]) -> "List[memory.MemoryFrame]":
        """The remembered frames the previous frame's state carries (newest first), as
        match candidates; none when the memory is off or the frames are of another size.

        Each slot ``mem<i>_*`` holds a frame's luminance ``L`` (H, W) (its features are
        recomputed from it, memoised: the same bits as when it was colourised), the values
        the softmax carries ``v`` (h * w, V), its cells' reported confidence ``c`` (h * w,)
        and, with instance mattes, its cells' instance IDs ``lab`` (h * w,)."""
        if previous is None or int(self.settings["memory_every"]) <= 0:
            return []
        width = int(self._keys.shape[1])
        penalty = float(self.settings["memory_penalty"])
        out = []
        for i in range(int(self.settings["memory_count"])):
            st = previous.state
            if f"mem{i}_L" not in st:
                break
            Lm = st[f"mem{i}_L"]
            if Lm.shape != tuple(shape):
                break
            parts = [Lm, st[f"mem{i}_c"], st[f"mem{i}_v"]] + ([st[f"mem{i}_lab"]] if f"mem{i}_lab" in st else [])
            h = hashlib.blake2b(digest_size=16)
            for a in parts:
                h.update(np.ascontiguousarray(a).tobytes())
            key = h.hexdigest()
            if key not in self._mem_frames:
                f = self._query_luma(self._memory_features(Lm), Lm, grid)
                self._mem_frames[key] = memory.MemoryFrame(
                    keys=memory.memory_keys(f, width, st[f"mem{i}_c"], penalty),
                    values=torch.from_numpy(np.ascontiguousarray(st[f"mem{i}_v"], dtype=np.float32)),
                    grid=grid, labels=st.get(f"mem{i}_lab"))
                while len(self._mem_frames) > int(self.settings["memory_count"]) + 1:
                    self._mem_frames.popitem(last=False)
            out.append(self._mem_frames[key])
        return out

    def _memory_features(self, L: np.ndarray, features: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Features of a remembered frame's luminance, memoised by content (``features``:
        already computed, to store)."""
        key = hashlib.blake2b(np.ascontiguousarray(L).tobytes(), digest_size=16).hexdigest()
        if key not in self._mem_memo:
            self._mem_memo[key] = features if features is not None else self._features(L)
            while len(self._mem_memo) > int(self.settings["memory_count"]) + 1:
                self._mem_memo.popitem(last=False)
        return self._mem_memo[key]

    def _remember(self, previous: Previous, q: torch.Tensor, L: np.ndarray, ab: np.ndarray,
                  reported: np.ndarray, grid: Tuple[int, int], labels: Optional[np.ndarray]
                  ) -> Dict[str, np.ndarray]:
        """The memory this frame hands on: the previous frame's slots, and every
        ``memory_every`` chain steps this frame pushed in front (the oldest dropped)."""
        every = int(self.settings["memory_every"])
        if every <= 0:
            return {}
        step = int(previous.state["mem_step"][0]) + 1 if "mem_step" in previous.state else 1
        count = int(self.settings["memory_count"])
        slots = [{k[len(f"mem{i}_"):]: v for k, v in previous.state.items() if k.startswith(f"mem{i}_")}
                 for i in range(count)]
        slots = [sl for sl in slots if sl]
        if step % every == 0:
            new = {"L": L, "v": self._cell_values(L, ab, grid), "c": memory.cell_confidence(reported, grid)}
            if labels is not None:
                new["lab"] = np.asarray(labels, np.int32)
            self._memory_features(L, q)
            slots = ([new] + slots)[:count]
        out: Dict[str, np.ndarray] = {"mem_step": np.array([step], np.int32)}
        for i, sl in enumerate(slots):
            out.update({f"mem{i}_{k}": v for k, v in sl.items()})
        return out

    def keyframe_result(self, target: TargetFrame, reference: Reference) -> Result:
        res = super().keyframe_result(target, reference)
        res.state["L"] = half_round_trip(target.L)
        res.state["conf"] = res.confidence
        if reference.lab.shape[:2] == target.L.shape:
            idx = self.reference_index(reference)
            res.state["disp"] = np.zeros(target.L.shape + (2,), np.float32)
            res.state["tconf"] = np.ones(target.L.shape, np.float32)
            res.state["anchor"] = np.array([idx], np.int32)
            if self._dense:
                gh, gw = self._blocks[idx][2]
                res.state["tmask"] = tracking.compress(tracking.identity(gh * gw))
            matte = reference.matte if reference.matte is not None else target.matte
            if self._instance and matte is not None:
                res.state["inst"] = tracking.compress(np.asarray(matte, np.int32))
        return res

