"""Image and video quality metrics for colorization: PSNR, SSIM, flicker, colourfulness, CDC.

Pure numpy / OpenCV functions. Conventions:

* "sRGB 0-255" images are (H, W, 3) arrays of sRGB-encoded values on the 0-255 scale, uint8
  or float (float values are used as they are: no rounding, no 8-bit wraparound). Channel
  order does not matter for any metric here except :func:`colourfulness` and, nominally,
  the per-channel histograms of :func:`cdc`, which expect R, G, B.
* ``ab`` is (H, W, 2) CIE a*, b* (D65), float, as produced by
  :func:`nuke_colorize.color.chroma_of`; ``L`` is (H, W) CIE L* in [0, 100].
"""
from __future__ import annotations

import math
from typing import Iterable, List, Sequence, Tuple

import cv2
import numpy as np

from .flow import L_to_u8, dis_flow_pair, fb_consistent, warp

# SSIM constants of Wang, Bovik, Sheikh & Simoncelli (IEEE TIP 2004).
SSIM_K1 = 0.01
SSIM_K2 = 0.03
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5

# CDC protocol of Liu et al. (TCVC), as in their released ``compute_hist.py``:
# 256-bin histograms per channel of the 8-bit frames, JS divergence (natural log) between
# frames t and t+d, averaged over t, then over the gaps d in (1, 2, 4) with equal weights,
# then over the three channels.
CDC_GAPS = (1, 2, 4)


# ---------------------------------------------------------------- PSNR
def psnr(pred: np.ndarray, gt: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB on the 0-255 scale.

    Args:
        pred: (H, W[, C]) uint8 or float, 0-255 scale (e.g. float sRGB * 255 clipped).
        gt: same shape, 0-255 scale.
        peak: the maximum signal value (255).

    Both are converted to float64 *before* subtracting, so uint8 inputs never wrap around.
    MSE is the mean over all pixels and channels. Returns ``inf`` for identical images.
    Equal to ``skimage.metrics.peak_signal_noise_ratio(gt, pred, data_range=255)``.
    """
    a = np.asarray(pred, dtype=np.float64)
    b = np.asarray(gt, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ {a.shape} vs {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(peak * peak / mse)


def psnr_masked(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB over the pixels where ``mask`` is True only (the paper's inner/outer PSNR).

    Args:
        pred, gt: (H, W[, C]) 0-255 scale as in :func:`psnr`.
        mask: (H, W) bool.

    MSE is the mean over the masked pixels and all channels. Returns NaN when the mask is
    empty and ``inf`` when the masked pixels are identical.
    """
    a = np.asarray(pred, dtype=np.float64)
    b = np.asarray(gt, dtype=np.float64)
    m = np.asarray(mask, bool)
    if a.shape != b.shape or a.shape[:2] != m.shape:
        raise ValueError(f"psnr_masked: shapes differ {a.shape} vs {b.shape} vs mask {m.shape}")
    if not m.any():
        return math.nan
    mse = float(np.mean((a[m] - b[m]) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(peak * peak / mse)


# ---------------------------------------------------------------- SSIM
def _ssim_channel(x: np.ndarray, y: np.ndarray, peak: float) -> float:
    c1 = (SSIM_K1 * peak) ** 2
    c2 = (SSIM_K2 * peak) ** 2

    def blur(im: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(im, (SSIM_WINDOW, SSIM_WINDOW), SSIM_SIGMA,
                                borderType=cv2.BORDER_REFLECT)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    m = num / den
    r = SSIM_WINDOW // 2  # keep only windows fully inside the image ("valid", as Wang et al.)
    return float(np.mean(m[r:-r, r:-r]))


def ssim(pred: np.ndarray, gt: np.ndarray, peak: float = 255.0) -> float:
    """Mean structural similarity (Wang et al. 2004), averaged over the RGB channels.

    Args:
        pred, gt: (H, W, 3) or (H, W), 0-255 scale, uint8 or float; H, W >= 11.
        peak: dynamic range L (255).

    Gaussian window 11x11, sigma 1.5, K1 = 0.01, K2 = 0.03, computed in float64 per channel
    on the sRGB values (not on luminance: luminance is the plate's own and would hide
    chroma errors), mean over the windows lying fully inside the image, then the mean over
    channels. Identical images give exactly 1. Range [-1, 1]. Equal (to ~1e-9) to
    ``skimage.metrics.structural_similarity(gt, pred, data_range=255, channel_axis=2,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``; skimage's defaults (7x7
    uniform window, sample covariance) are not Wang et al.'s and read a little lower (blackswan,
    frames 1-11 of P1 at 384x216: 0.98711 against 0.98745).
    """
    a = np.asarray(pred, dtype=np.float64)
    b = np.asarray(gt, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"ssim: shapes differ {a.shape} vs {b.shape}")
    if min(a.shape[:2]) < SSIM_WINDOW:
        raise ValueError(f"ssim: image {a.shape[:2]} smaller than the {SSIM_WINDOW}px window")
    if a.ndim == 2:
        return _ssim_channel(a, b, peak)
    return float(np.mean([_ssim_channel(np.ascontiguousarray(a[..., c]),
                                        np.ascontiguousarray(b[..., c]), peak)
                          for c in range(a.shape[-1])]))


# ---------------------------------------------------------------- flicker
def flicker_flow(L_a: np.ndarray, L_b: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Flow for the flicker metric from frame t+1 (``L_b``) back to frame t (``L_a``).

    Args:
        L_a, L_b: (H, W) CIE L* in [0, 100] of the TRUE frames t and t+1.

    Returns:
        flow: (H, W, 2) float32 DIS flow (preset "medium") with ``b(x) ~ a(x + flow(x))``.
        mask: (H, W) bool, pixels of frame t+1 whose forward-backward round trip closes
            (:func:`nuke_colorize.flow.fb_consistent`) and that land inside frame t.
    """
    ua, ub = L_to_u8(L_a), L_to_u8(L_b)
    f_ba, f_ab = dis_flow_pair(ub, ua)
    return f_ba, fb_consistent(f_ba, f_ab)


def flicker_pair(ab_a: np.ndarray, ab_b: np.ndarray, flow: np.ndarray,
                 mask: np.ndarray) -> Tuple[float, int]:
    """Sum and count of |ab(t+1) - warped ab(t)| over the masked pixels of one pair.

    Args:
        ab_a, ab_b: (H, W, 2) chroma of frames t and t+1.
        flow, mask: from :func:`flicker_flow` on the true luminance of the same frames.

    Returns:
        (sum over masked pixels of the per-pixel mean over a*, b* of the absolute
        difference, number of masked pixels). Pixels where either ab is not finite are
        skipped.
    """
    warped = warp(np.asarray(ab_a, np.float32), flow)
    d = np.mean(np.abs(np.asarray(ab_b, np.float64) - warped.astype(np.float64)), axis=-1)
    m = mask & np.isfinite(d)
    return float(d[m].sum()), int(m.sum())


def flicker(ab_frames: Sequence[np.ndarray], true_L_frames: Sequence[np.ndarray]) -> float:
    """Temporal flicker of chroma: mean |ab(t+1) - ab(t) warped to t+1| in a*b* units.

    Args:
        ab_frames: T arrays (H, W, 2) of chroma (prediction, or the ground truth's own).
        true_L_frames: T arrays (H, W) of the TRUE luminance as CIE L* [0, 100]; the motion
            comes from DIS flow on these, so prediction and ground truth are measured along
            the same trajectories.

    The absolute difference is averaged over a* and b*, then over every forward-backward
    consistent pixel of every pair (t, t+1) pooled together (pairs weigh by their number
    of consistent pixels). A static video with constant chroma gives 0; chroma that
    alternates between c + d and c - d gives 2 |d|. Applied to the ground truth's chroma
    this is the flicker the footage itself has (motion blur, lighting, flow error).
    Returns NaN for fewer than two frames or no consistent pixel.
    """
    if len(ab_frames) != len(true_L_frames):
        raise ValueError("flicker: ab_frames and true_L_frames differ in length")
    total, count = 0.0, 0
    for t in range(len(ab_frames) - 1):
        flow, mask = flicker_flow(true_L_frames[t], true_L_frames[t + 1])
        s, n = flicker_pair(ab_frames[t], ab_frames[t + 1], flow, mask)
        total += s
        count += n
    return total / count if count else math.nan


# ---------------------------------------------------------------- colourfulness
def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colourfulness M of an sRGB image on the 0-255 scale.

    Args:
        rgb: (H, W, 3) R, G, B order (not OpenCV's BGR), uint8 or float 0-255.

    rg = R - G, yb = (R + G) / 2 - B;
    M = sqrt(sd(rg)^2 + sd(yb)^2) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2).
    0 for any grey image; about 15 "slightly", 33 "moderately", 59 "quite" colourful.
    """
    x = np.asarray(rgb, dtype=np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(math.sqrt(rg.var() + yb.var()) + 0.3 * math.sqrt(rg.mean() ** 2 + yb.mean() ** 2))


# ---------------------------------------------------------------- CDC
def channel_histograms(img_u8: np.ndarray) -> np.ndarray:
    """(H, W, C) uint8 -> (C, 256) float64 per-channel histograms normalised to sum 1."""
    img = np.asarray(img_u8)
    if img.dtype != np.uint8:
        raise ValueError("channel_histograms expects uint8 (an 8-bit deliverable)")
    if img.ndim == 2:
        img = img[..., None]
    n = img.shape[0] * img.shape[1]
    return np.stack([np.bincount(img[..., c].ravel(), minlength=256)[:256] / float(n)
                     for c in range(img.shape[-1])]).astype(np.float64)


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (natural log, range [0, ln 2]) along the last axis.

    p, q: (..., K) non-negative, each normalised to sum 1 along the last axis first.
    """
    p = np.asarray(p, np.float64)
    q = np.asarray(q, np.float64)
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = 0.5 * (p + q)

    def kl(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(x > 0, x * np.log(x / np.where(y > 0, y, 1.0)), 0.0)
        return t.sum(axis=-1)

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def cdc_from_histograms(hists: Sequence[np.ndarray], gaps: Iterable[int] = CDC_GAPS) -> float:
    """Colour Distribution Consistency from per-frame (C, 256) histograms (in frame order).

    For each gap d: mean over t of JS(h_t, h_{t+d}) per channel; the per-gap means are
    averaged with equal weights over the gaps that fit in the clip, then over channels.
    Lower is more consistent. NaN for fewer than two frames.
    """
    h = np.stack([np.asarray(x, np.float64) for x in hists]) if len(hists) else None
    if h is None or len(h) < 2:
        return math.nan
    per_gap: List[np.ndarray] = []
    for d in gaps:
        if d < len(h):
            per_gap.append(js_divergence(h[:-d], h[d:]).mean(axis=0))  # (C,)
    return float(np.mean(np.mean(per_gap, axis=0)))


def cdc(frames_u8: Sequence[np.ndarray], gaps: Iterable[int] = CDC_GAPS) -> float:
    """Colour Distribution Consistency (Liu et al., TCVC) of a clip of 8-bit frames.

    Args:
        frames_u8: T arrays (H, W, 3) uint8 in frame order (the 8-bit deliverable).
        gaps: frame gaps to average over; (1, 2, 4) as in the authors' released code
            (``calculate_folders_multiple`` in ``compute_hist.py``, equal weights 1/3).

    Per-channel 256-bin histograms, Jensen-Shannon divergence (natural log) between frames
    t and t+d, mean over t, mean over gaps, mean over channels. Lower is more consistent;
    the ground truth's own CDC is the natural floor.
    """
    return cdc_from_histograms([channel_histograms(f) for f in frames_u8], gaps)


__all__ = ["psnr", "ssim", "flicker", "flicker_flow", "flicker_pair", "colourfulness",
           "channel_histograms", "js_divergence", "cdc", "cdc_from_histograms", "CDC_GAPS"]
