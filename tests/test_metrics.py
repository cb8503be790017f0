"""Metrics with known numbers: PSNR, SSIM, flicker, colourfulness, CDC, and the report images."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from nuke_colorize import metrics, report


def _texture(h=64, w=96, seed=0):
    """Smooth random texture in L* [20, 80] (good for DIS flow)."""
    rng = np.random.default_rng(seed)
    t = cv2.GaussianBlur(rng.uniform(0, 1, (h, w)).astype(np.float32), (0, 0), 2.0)
    t = (t - t.min()) / (t.max() - t.min())
    return 20.0 + 60.0 * t


# ---------------------------------------------------------------- PSNR
def test_psnr_constant_offset_is_analytic():
    gt = np.full((32, 48, 3), 100, np.uint8)
    for d in (1, 3, 10):
        pred = gt.astype(np.float64) + d
        assert metrics.psnr(pred, gt) == pytest.approx(10 * math.log10(255 ** 2 / d ** 2), abs=1e-12)


def test_psnr_uint8_has_no_wraparound():
    gt = np.full((8, 8, 3), 250, np.uint8)
    pred = np.full((8, 8, 3), 5, np.uint8)       # uint8 subtraction would wrap to 245 or 11
    assert metrics.psnr(pred, gt) == pytest.approx(10 * math.log10(255 ** 2 / 245 ** 2))
    assert metrics.psnr(gt, pred) == metrics.psnr(pred, gt)


def test_psnr_identical_is_inf_and_float_input_exact():
    gt = np.random.default_rng(1).integers(0, 256, (16, 16, 3)).astype(np.uint8)
    assert metrics.psnr(gt, gt) == math.inf
    assert metrics.psnr(gt.astype(np.float32), gt) == math.inf
    pred = gt.astype(np.float64)
    pred[0, 0, 0] += 0.5                         # a fractional error is not rounded away
    mse = 0.25 / gt.size
    assert metrics.psnr(pred, gt) == pytest.approx(10 * math.log10(255 ** 2 / mse))


def test_psnr_shape_mismatch():
    with pytest.raises(ValueError):
        metrics.psnr(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))


# ---------------------------------------------------------------- SSIM
def test_ssim_identical_is_one_and_degrades():
    img = (np.random.default_rng(2).uniform(0, 255, (40, 50, 3))).astype(np.uint8)
    assert metrics.ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    noisy = np.clip(img + np.random.default_rng(3).normal(0, 20, img.shape), 0, 255)
    s = metrics.ssim(noisy, img)
    assert 0.5 < s < 0.99
    assert metrics.ssim(img, noisy) == pytest.approx(s, abs=1e-12)   # symmetric


def _ssim_reference(x, y, peak=255.0):
    """Direct transcription of Wang et al.: explicit 11x11 Gaussian windows, 'valid' positions."""
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5 ** 2))
    w = np.outer(g, g)
    w /= w.sum()
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    vals = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            a, b = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
            ma, mb = (w * a).sum(), (w * b).sum()
            va, vb = (w * (a - ma) ** 2).sum(), (w * (b - mb) ** 2).sum()
            cov = (w * (a - ma) * (b - mb)).sum()
            vals.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_ssim_matches_direct_window_computation():
    rng = np.random.default_rng(12)
    x = rng.uniform(0, 255, (16, 19))
    y = np.clip(x + rng.normal(0, 25, x.shape), 0, 255)
    assert metrics.ssim(y, x) == pytest.approx(_ssim_reference(y, x), abs=1e-9)


def test_ssim_constant_images_match_formula():
    # For flat images sigma = 0, so SSIM = (2 mx my + C1) / (mx^2 + my^2 + C1).
    a = np.full((20, 20, 3), 100.0)
    b = np.full((20, 20, 3), 120.0)
    c1 = (0.01 * 255) ** 2
    expect = (2 * 100 * 120 + c1) / (100 ** 2 + 120 ** 2 + c1)
    assert metrics.ssim(a, b) == pytest.approx(expect, rel=1e-9)


def test_ssim_is_mean_over_channels():
    rng = np.random.default_rng(4)
    gt = rng.uniform(0, 255, (30, 30, 3))
    pred = gt.copy()
    pred[..., 1] = np.clip(pred[..., 1] + rng.normal(0, 30, pred.shape[:2]), 0, 255)
    per = metrics.ssim(pred[..., 1], gt[..., 1])
    assert metrics.ssim(pred, gt) == pytest.approx((1 + per + 1) / 3, abs=1e-12)


# ---------------------------------------------------------------- colourfulness
def test_colourfulness_grey_is_zero_and_known_values():
    grey = np.repeat(np.random.default_rng(5).uniform(0, 255, (10, 10, 1)), 3, axis=-1)
    assert metrics.colourfulness(grey) == pytest.approx(0.0, abs=1e-9)
    red = np.zeros((4, 4, 3))
    red[..., 0] = 200                           # rg = 200, yb = 100, no variance
    assert metrics.colourfulness(red) == pytest.approx(0.3 * math.sqrt(200 ** 2 + 100 ** 2))
    half = np.zeros((2, 2, 3))
    half[0, :, 0] = 100                        # rg in {100, 0}, yb in {50, 0}
    expect = math.sqrt(50 ** 2 + 25 ** 2) + 0.3 * math.sqrt(50 ** 2 + 25 ** 2)
    assert metrics.colourfulness(half) == pytest.approx(expect)


# ---------------------------------------------------------------- flicker
def test_flicker_static_constant_is_zero_and_alternating_is_2d():
    L = [_texture(seed=7)] * 5
    const = [np.full((64, 96, 2), (10.0, -20.0), np.float32)] * 5
    assert metrics.flicker(const, L) == pytest.approx(0.0, abs=1e-6)
    d = 3.0
    alt = [np.full((64, 96, 2), (10.0 + d * (-1) ** t, -20.0 - d * (-1) ** t), np.float32)
           for t in range(5)]
    assert metrics.flicker(alt, L) == pytest.approx(2 * d, abs=1e-4)


def test_flicker_follows_motion_of_the_true_luminance():
    # Texture and its chroma translate by 2 px per frame: chroma that moves with the content
    # has (almost) no flicker, chroma nailed to the screen has a lot.
    big = _texture(64, 120, seed=8)
    rng = np.random.default_rng(9)
    ab_big = cv2.GaussianBlur(rng.normal(0, 30, (64, 120, 2)).astype(np.float32), (0, 0), 3.0)
    L = [big[:, 2 * t:2 * t + 96] for t in range(5)]
    moving = [ab_big[:, 2 * t:2 * t + 96] for t in range(5)]
    still = [ab_big[:, :96]] * 5
    f_moving = metrics.flicker(moving, L)
    raw = np.mean([np.abs(moving[t + 1] - moving[t]).mean() for t in range(4)])
    assert f_moving < 0.1 * raw
    assert metrics.flicker(still, L) > 0.5 * raw


def test_flicker_pair_masks_inconsistent_pixels():
    flow = np.zeros((8, 8, 2), np.float32)
    mask = np.zeros((8, 8), bool)
    mask[:4] = True
    a = np.zeros((8, 8, 2), np.float32)
    b = np.zeros((8, 8, 2), np.float32)
    b[4:] = 50.0                                # only in masked-out pixels
    b[0, 0] = (2.0, 4.0)
    s, n = metrics.flicker_pair(a, b, flow, mask)
    assert n == 32 and s == pytest.approx(3.0)


def test_flicker_needs_two_frames():
    assert math.isnan(metrics.flicker([np.zeros((16, 16, 2))], [np.zeros((16, 16))]))


# ---------------------------------------------------------------- CDC
def test_js_divergence_known_values():
    p = np.array([1.0, 0.0])
    q = np.array([0.0, 1.0])
    assert metrics.js_divergence(p, q) == pytest.approx(math.log(2))
    assert metrics.js_divergence(p, p) == pytest.approx(0.0)
    p = np.array([0.5, 0.5])
    q = np.array([1.0, 0.0])
    m = np.array([0.75, 0.25])
    expect = 0.5 * np.sum(p * np.log(p / m)) + 0.5 * (1.0 * math.log(1 / 0.75))
    assert metrics.js_divergence(p, q) == pytest.approx(expect)


def test_cdc_static_zero_and_gap_average():
    f = np.random.default_rng(10).integers(0, 256, (16, 16, 3)).astype(np.uint8)
    assert metrics.cdc([f] * 6) == pytest.approx(0.0, abs=1e-15)
    a = np.zeros((4, 4, 3), np.uint8)
    b = np.full((4, 4, 3), 255, np.uint8)
    # alternating a, b, a, b, a, b: gap 1 and gap 4? (odd -> ln2, even -> 0)
    clip = [a, b, a, b, a, b]
    assert metrics.cdc(clip) == pytest.approx((math.log(2) + 0.0 + 0.0) / 3)
    assert metrics.cdc(clip, gaps=(1,)) == pytest.approx(math.log(2))
    # gaps that do not fit in a short clip are skipped
    assert metrics.cdc([a, b, a], gaps=(1, 2, 4)) == pytest.approx(math.log(2) / 2)
    assert math.isnan(metrics.cdc([a]))


# ---------------------------------------------------------------- report pictures
def test_report_images_have_content():
    rng = np.random.default_rng(11)
    tiles = [rng.integers(0, 256, (40, 60, 3)).astype(np.uint8) for _ in range(3)]
    sheet = report.contact_sheet([{"frame": i, "psnr": 30.0 + i, "grey": tiles[0], "pred": tiles[1],
                                   "gt": tiles[2], "keyframe": i == 0} for i in range(4)],
                                 tile_width=120, title="t")
    assert sheet.dtype == np.uint8 and sheet.shape[1] > 4 * 120 and sheet.shape[0] > 3 * 80
    plot = report.psnr_plot(list(range(20)), [30 + math.sin(i) for i in range(19)] + [math.inf],
                            keyframes=[0], mean=30.0)
    assert plot.shape == (360, 900, 3)
    assert (plot != 255).any(axis=-1).mean() > 0.02          # axes, ticks and the line were drawn
    assert report.evenly_spaced(50, 6) == [0, 10, 20, 29, 39, 49]
    assert report.evenly_spaced(3, 6) == [0, 1, 2]


def test_psnr_masked_inner_outer_known_values():
    gt = np.full((10, 20, 3), 100.0)
    pred = gt.copy()
    pred[:, :5] += 10.0      # error 10 on the left quarter, 0 elsewhere
    pred[:, 5:10] += 1.0     # error 1 on the next quarter
    mask = np.zeros((10, 20), bool)
    mask[:, :5] = True
    assert metrics.psnr_masked(pred, gt, mask) == pytest.approx(10 * np.log10(255 ** 2 / 100.0))
    # outside: a third of the pixels with error 1, the rest 0 -> MSE 1/3
    assert metrics.psnr_masked(pred, gt, ~mask) == pytest.approx(10 * np.log10(255 ** 2 * 3.0))
    assert math.isnan(metrics.psnr_masked(pred, gt, np.zeros((10, 20), bool)))
    right = np.zeros((10, 20), bool)
    right[:, 10:] = True     # no error there
    assert math.isinf(metrics.psnr_masked(pred, gt, right))
    with pytest.raises(ValueError):
        metrics.psnr_masked(pred, gt, mask[:, :10])

