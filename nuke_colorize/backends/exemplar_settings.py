"""Settings of the default backend (:mod:`nuke_colorize.backends.exemplar`): defaults,
ranges, validation, version and cache identity, without torch (see
:class:`nuke_colorize.backends.base.BackendSettings`)."""
from __future__ import annotations

from typing import Any, Dict

from ..flow import PRESETS as FLOW_PRESETS
from .base import MATTE_CHOICES, MATTE_DEFAULTS, MATTE_RANGES, BackendSettings, check_settings


class ExemplarSettings(BackendSettings):
    name = "exemplar"
    # 18: keyframe-anchored chains also match against two of their own earlier frames (one
    # every 10 chain steps), whose colour counts as far as it was confident (memory);
    # 17: with keyframes, matched colour upsampled from its grid with a guided filter of
    # radius 1 cell instead of 4 (keyed_refine_radius); tracked colour re-read from the
    # track's neighbours of the target's L* (track_bilateral);
    # 16: reported confidence of untracked colour scaled by untracked_confidence (0.25;
    # colour unchanged at working resolution);
    # 15: the track reads the keyframe's chroma blurred by 1 pixel per 1000 of the long
    # side (track_chroma_blur); 14: tracking masks' fallback slack, dilation and fallback
    # reliability 0.8 (colour unchanged without dense masks);
    # 13: dense-tracking masks' window affinity computed by tiles (10x faster; low bits of
    # the affinity, and so rarely a mask bit, may differ); nothing else changed;
    # 12: where the flow fails, the match replaces propagation only as far as it is reliable;
    # 11: "fine" DIS flow (full-resolution search, no variational refinement);
    # 10: luminance-keyed colour of keyframe matches; 9: luminance prior on keyframe
    # matches; 8: v7, faster search and colour maths (low bits differ); 7: reanchor 0.3;
    # 6: positional prior on keyframe matches; 5: channels-last
    # 19: with mattes, an object coming back into view keeps its matte ID when the keyframe's
    # matte has it (it was left unrestricted; colour unchanged without mattes)
    # 20: matte_ids: Cryptomatte and object-channel mattes (IDs that name the object) are taken
    # as given, not associated by IoU (auto); object channels' IDs are hashes of their names
    # (colour unchanged without such mattes)
    # 21: matte IDs that differ stay apart: float IDs from 2^30 up, fractional or negative ones,
    # Cryptomatte hashes and channel-name hashes beyond 30 bits are folded into [2^30, 2^31)
    # (they were clipped or masked, merging objects); 32-bit integer and double ID channels are
    # read exactly (cached instance maps hold the old IDs; colour unchanged for other mattes)
    version = "21"
    #: reported confidence falls where the track to the keyframe is lost (engine.blend_weight)
    blend_distance_power = 0.5

    @classmethod
    def default_settings(cls) -> Dict[str, Any]:
        return {
            "max_working_size": 1024,   # long side of the working resolution (pixels)
            "feature_size": 1024,       # long side of the image the features are computed on
            "temperature": 0.01,        # softmax temperature on cosine similarity
            "topk": 32,                 # candidates per target position entering the softmax
            "search": "coarse_to_fine",  # exhaustive | coarse_to_fine (candidates from a 2x2-pooled grid)
            "coarse_k": 8,              # coarse cells kept per coarse target cell (coarse_to_fine)
            "tap_weights": [1.0, 1.0, 1.0],  # strides 8 / 16 / 32
            "flow_preset": "fine",      # DIS flow: fine (default) | medium | fast | ultrafast
            "reanchor": 0.3,            # fraction of matched colour blended in per frame
            "conf_floor": 0.5,          # similarity mapped to zero reliability
            "untracked_confidence": 0.25,  # reported confidence of colour not tracked from a
                                           # keyframe, as a fraction of its reliability
            "refine_radius": 4,         # guided upsampling of the matched colour from the match
                                        # grid (radius in cells), stills only
            "keyed_refine_radius": 1,   # the same with keyframes (luminance-keyed colour; v16: 4)
            "refine_eps": 2e-3,
            "track": True,              # dense track to the chain's keyframe
            "track_sigma": 8.0,         # L* difference at which the track confidence falls to 1/e
            "track_keep": 0.7,          # track confidence kept through a flow-inconsistent frame
            "track_chroma_blur": 1.0,   # Gaussian sigma of the keyframe chroma the track reads, in
                                        # pixels per 1000 of the long side (0 = as it is)
            "track_bilateral": 1.75,    # tracked colour re-read from the track's neighbours of the
                                        # target's own L* (cross bilateral): spatial sigma in pixels
                                        # per 1000 of the long side (window radius floor(sigma);
                                        # off below 1 pixel, i.e. long sides under ~570)
            "track_bilateral_L": 4.0,   # its range sigma, L*
            "track_reacquire": 0.0,     # trust of a track re-found by flow straight to the keyframe
                                        # where the chain's track is less trusted (0 = off; opt-in
                                        # for long shots that return to the keyframe's view)
            # spatiotemporal restriction of the matching (Akimoto et al.)
            "restrict": "instance",     # none | dense | instance | both (dense: opt-in, see README)
            "mask_radius": 9,           # R of the tracking window, in cells of a 96-cell grid
            "mask_threshold": 0.2,      # softmax probability kept by the tracking step
            "mask_margin": 3,           # dilation (cells) of the tracking masks when used
            "mask_slack": 0.05,         # where the tracking masks restrict: fall back to the free
                                        # match when the best allowed one is this much less similar
            # matte_ids: how a frame's matte IDs become the keyframe's: stable (taken as given: the
            # same ID is the same object on every frame) | associate (with the previous frame's,
            # carried along the flow, by IoU: numbering may be arbitrary per frame) | auto (stable
            # for Cryptomatte and object-channel mattes, whose IDs name the object; associate for
            # ID, colour-coded and single-object mattes); instance_iou: IoU needed to associate
            # matte IDs across frames (shared with deepexemplar: base.MATTE_DEFAULTS)
            **MATTE_DEFAULTS,
            "instance_gate": True,      # with mattes: no propagation / track across instances
            "fallback_confidence": 0.8,  # reliability factor where a restriction left no candidate
            "position_prior": 0.05,     # weight of the positional prior on keyframe matches (0 = off)
            "position_sigma": 0.3,      # its width, as a fraction of the frame's long side
            "luma_prior": 0.15,         # weight of the luminance prior on keyframe matches (0 = off)
            "luma_sigma": 8.0,          # its width, in L*
            "luma_key": True,           # keyframe matches carry colour per L* (not per cell)
            "luma_key_spacing": 8.0,    # L* between the bins of the luminance-keyed colour
            "luma_key_prior": 0.1,      # weight (cell fraction) of the plain matched colour
            "memory_every": 10,         # chain steps between remembered frames (0 = no memory)
            "memory_count": 2,          # remembered frames matched beside the references
            "memory_penalty": 0.2,      # similarity lost by remembered colour of confidence 0
            "restrict_slack": 0.0,      # > 0: also fall back where the best allowed match is this
                                        # much less similar than the best overall (0 = paper: off)
        }

    CHOICES = {"flow_preset": FLOW_PRESETS, "search": ("exhaustive", "coarse_to_fine"),
               "restrict": ("none", "dense", "instance", "both"), **MATTE_CHOICES}
    #: (low, high) bounds of the numeric settings (inclusive; None = unbounded).
    RANGES = {"max_working_size": (16, 16384), "feature_size": (64, 2048),
              "temperature": (1e-4, 10.0), "topk": (0, 4096), "coarse_k": (1, 4096), "reanchor": (0.0, 1.0),
              "conf_floor": (-1.0, 0.999), "untracked_confidence": (0.0, 1.0), "refine_radius": (0, 64), "keyed_refine_radius": (0, 64), "refine_eps": (1e-8, 1.0),
              "track_sigma": (1e-3, 100.0), "track_keep": (0.0, 1.0),
              "track_chroma_blur": (0.0, 100.0), "track_bilateral": (0.0, 100.0), "track_bilateral_L": (0.1, 100.0), "track_reacquire": (0.0, 1.0),
              "mask_radius": (1, 64), "mask_threshold": (0.01, 1.0),
              "mask_margin": (0, 8), "mask_slack": (0.0, 2.0), **MATTE_RANGES, "fallback_confidence": (0.0, 1.0),
              "restrict_slack": (0.0, 2.0), "luma_prior": (0.0, 1.0), "luma_sigma": (0.5, 100.0),
              "luma_key_spacing": (2.0, 100.0), "luma_key_prior": (1e-3, 100.0),
              "memory_every": (0, 100000), "memory_count": (1, 16), "memory_penalty": (0.0, 10.0),
              # position_sigma: below 0.05 of the long side the anchor lattice (1 / (sigma / sqrt 2)
              # per axis) grows the keys by thousands of columns per cell; 0 divides by zero
              "position_prior": (0.0, 1.0), "position_sigma": (0.05, 10.0)}
    #: lists of numbers: (length, low, high) of each element
    LIST_RANGES = {"tap_weights": (3, 0.0, 100.0)}   # + a positive sum (see __init__)


    def __init__(self, settings=None, device: str = "cpu"):
        super().__init__(settings, device)
        defaults = self.default_settings()
        check_settings(self.name, self.settings, self.CHOICES, self.RANGES,
                       integers=[k for k in self.RANGES if type(defaults.get(k)) is int],
                       list_ranges=self.LIST_RANGES)
        if not sum(float(w) for w in self.settings["tap_weights"]) > 0:
            from ..errors import InputError
            raise InputError(f"backend '{self.name}' setting tap_weights={list(self.settings['tap_weights'])!r} "
                             f"weighs no feature tap (all 0)", hint="give at least one weight above 0, "
                                                                    "e.g. --set tap_weights=[1,1,1]")
