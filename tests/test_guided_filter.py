"""The guided filter and the confidence-gated refinement against a direct float64 reading of
He, Sun and Tang's definition (the implementation works in place, one channel at a time)."""
import cv2
import numpy as np
import pytest

from nuke_colorize.refine import guided_filter, refine_unsure


def _mean(x, r):
    """Window mean over (2r+1)^2 with mirrored borders (BORDER_REFLECT: ...cba|abc...)."""
    x = np.asarray(x, np.float64)
    pad = [(r, r), (r, r)] + [(0, 0)] * (x.ndim - 2)
    xp = np.pad(x, pad, mode="symmetric")
    h, w = x.shape[:2]
    acc = np.zeros_like(x)
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            acc += xp[dy:dy + h, dx:dx + w]
    return acc / (2 * r + 1) ** 2


def _reference(I, p, r, eps):
    I = np.asarray(I, np.float64)
    p = np.asarray(p, np.float64)
    Ie = I[..., None] if p.ndim == 3 else I
    mI, mp = _mean(I, r), _mean(p, r)
    mIe = mI[..., None] if p.ndim == 3 else mI
    var = _mean(I * I, r) - mI * mI
    var = var[..., None] if p.ndim == 3 else var
    a = (_mean(Ie * p, r) - mIe * mp) / (var + eps)
    b = mp - a * mIe
    return _mean(a, r) * Ie + _mean(b, r)


@pytest.mark.parametrize("channels", [None, 1, 2, 3])
@pytest.mark.parametrize("radius", [1, 2, 5])
def test_guided_filter_matches_the_definition(channels, radius):
    rng = np.random.default_rng(radius)
    I = cv2.GaussianBlur(rng.random((37, 53)).astype(np.float32), (0, 0), 1.0)
    shape = (37, 53) if channels is None else (37, 53, channels)
    p = (rng.random(shape).astype(np.float32) - 0.5) * 80.0
    got = guided_filter(I, p, radius, 1e-3)
    assert got.shape == p.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, _reference(I, p, radius, 1e-3), atol=2e-3)


def test_chroma_linear_in_the_guide_passes_unchanged():
    I = np.tile(np.linspace(0.1, 0.9, 64, dtype=np.float32), (48, 1))
    I[20:30] = 0.3                                         # a flat band: a = 0 there
    p = np.dstack([40.0 * I - 10.0, -25.0 * I + 5.0]).astype(np.float32)
    np.testing.assert_allclose(guided_filter(I, p, 3, 1e-6), p, atol=1e-2)


def test_refine_unsure_blends_by_confidence():
    rng = np.random.default_rng(7)
    I = rng.random((40, 60)).astype(np.float32)
    ab = ((rng.random((20, 30, 2)) - 0.5) * 60).astype(np.float32)
    before = ab.copy()
    up = cv2.resize(ab, (60, 40), interpolation=cv2.INTER_LINEAR)
    filt = _reference(I, up, 2, 1e-3)
    ones, zeros = np.ones((20, 30), np.float32), np.zeros((20, 30), np.float32)
    np.testing.assert_array_equal(refine_unsure(ab, I, ones, 2, 1e-3), up)   # confident: bilinear
    np.testing.assert_allclose(refine_unsure(ab, I, zeros, 2, 1e-3), filt, atol=2e-3)
    half = np.full((40, 60), 0.25, np.float32)
    np.testing.assert_allclose(refine_unsure(ab, I, half, 2, 1e-3), 0.25 * up + 0.75 * filt, atol=2e-3)
    np.testing.assert_array_equal(ab, before)               # input untouched
    same = refine_unsure(up, I, np.zeros((40, 60), np.float32), 2, 1e-3)
    assert same is not up
    np.testing.assert_array_equal(up, cv2.resize(before, (60, 40), interpolation=cv2.INTER_LINEAR))
