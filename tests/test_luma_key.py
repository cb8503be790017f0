"""Luminance-keyed matched colour: the per-cell tables, slicing at a pixel's own luminance
(known two-tone cells give each tone its own colour), bilinear reading between cells, the
sparse weighted sum, and the backend's wiring (keyframes only; off = plain cell colour)."""
import cv2
import numpy as np
import torch

from nuke_colorize.backends.base import Reference, TargetFrame
from nuke_colorize.backends.exemplar import ExemplarBackend
from nuke_colorize.correspond import luma_key
from nuke_colorize.correspond.coarse_to_fine import weighted_rows


def test_bin_centres_cover_the_range_at_most_spacing_apart():
    for spacing in (4.0, 8.0, 12.5, 30.0):
        c = luma_key.bin_centres(spacing)
        assert c[0] == 0.0 and c[-1] == 100.0
        assert np.diff(c).max() <= spacing + 1e-5 and np.diff(c).min() > 0


def test_tables_hold_fractions_and_sum_to_the_cell_mean():
    rng = np.random.default_rng(1)
    L = rng.uniform(-5, 110, (48, 64)).astype(np.float32)      # also outside [0, 100]
    ab = rng.normal(0, 20, (48, 64, 2)).astype(np.float32)
    c = luma_key.bin_centres(8.0)
    B = len(c)
    t = luma_key.cell_tables(L, ab, (6, 8), c)
    assert t.shape == (48, 3 * B)
    np.testing.assert_allclose(t[:, :B].sum(1), 1.0, atol=1e-5)
    mean = cv2.resize(ab, (8, 6), interpolation=cv2.INTER_AREA).reshape(-1, 2)
    np.testing.assert_allclose(t[:, B:2 * B].sum(1), mean[:, 0], atol=1e-4)
    np.testing.assert_allclose(t[:, 2 * B:].sum(1), mean[:, 1], atol=1e-4)


def _two_tone(h=16, w=16):
    L = np.full((h, w), 20.0, np.float32)
    L[:, w // 2:] = 80.0
    ab = np.zeros((h, w, 2), np.float32)
    ab[:, : w // 2] = (40.0, 10.0)
    ab[:, w // 2:] = (-30.0, -20.0)
    return L, ab


def test_each_tone_reads_its_own_colour_and_unseen_luminance_the_fallback():
    """One cell holding a dark red half (L* 20) and a bright blue half (L* 80): its plain
    colour is the average; keyed, a dark pixel reads the red, a bright one the blue, and a
    pixel of a luminance the cell does not hold (L* 50) keeps the fallback exactly."""
    L, ab = _two_tone()
    c = luma_key.bin_centres(8.0)
    t = luma_key.cell_tables(L, ab, (1, 1), c)
    target = np.array([[20.0, 80.0, 50.0]], np.float32)
    fallback = np.full((1, 3, 2), (5.0, -5.0), np.float32)
    sharp = luma_key.slice_tables(t, (1, 1), target, c, fallback, prior=1e-3)
    np.testing.assert_allclose(sharp[0, 0], (40.0, 10.0), atol=0.3)
    np.testing.assert_allclose(sharp[0, 1], (-30.0, -20.0), atol=0.3)
    np.testing.assert_allclose(sharp[0, 2], (5.0, -5.0), atol=1e-5)
    # with a real prior, the exact blend: den = sum_b t_b(L) n_b, n_b = 0.5 t_b(20)
    i0, w0, w1 = luma_key.tent_weights(np.float32(20.0), c)
    den = 0.5 * (float(w0) ** 2 + float(w1) ** 2)
    soft = luma_key.slice_tables(t, (1, 1), target, c, fallback, prior=0.1)
    np.testing.assert_allclose(soft[0, 0], (den * np.array([40.0, 10.0]) + 0.1 * np.array([5.0, -5.0])) / (den + 0.1),
                               atol=1e-4)


def test_slicing_interpolates_bilinearly_between_cells_like_cv2_resize():
    rng = np.random.default_rng(2)
    gh, gw, h, w = 5, 7, 37, 53
    c = luma_key.bin_centres(10.0)
    B = len(c)
    tables = rng.uniform(0.1, 1.0, (gh * gw, 3 * B)).astype(np.float32)
    L = rng.uniform(0, 100, (h, w)).astype(np.float32)
    fb = rng.normal(0, 10, (h, w, 2)).astype(np.float32)
    got = luma_key.slice_tables(tables, (gh, gw), L, c, fb, 0.2)
    up = np.concatenate([cv2.resize(np.ascontiguousarray(tables.reshape(gh, gw, -1)[..., s:s + 4]), (w, h),
                                    interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)
                         for s in range(0, 3 * B, 4)], 2)
    i0, w0, w1 = luma_key.tent_weights(L, c)
    r, cc = np.indices((h, w), sparse=True)

    def read(o):
        return w0 * up[r, cc, o + i0] + w1 * up[r, cc, o + i0 + 1]

    den = read(0) + 0.2
    want = np.stack([(read(B) + 0.2 * fb[..., 0]) / den, (read(2 * B) + 0.2 * fb[..., 1]) / den], -1)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_weighted_rows_sparse_equals_the_gathered_sum():
    g = torch.Generator().manual_seed(3)
    values = torch.randn(400, 44, generator=g)
    index = torch.randint(0, 400, (250, 32), generator=g)
    index[:, :4] = 0                                   # repeated columns in a row
    w = torch.softmax(torch.randn(250, 32, generator=g), 1)
    want = torch.einsum("tk,tkv->tv", w, values[index])
    torch.testing.assert_close(weighted_rows(w, index, values), want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weighted_rows(w, index, values[:, :2]), want[:, :2], atol=0, rtol=0)


def _stripes(h=64, w=96, period=10):
    """Vertical stripes, ``period`` pixels (not a multiple of the 8-pixel cells): dark red
    and bright green."""
    x = np.arange(w)
    dark = (x % period) < period // 2
    lab = np.zeros((h, w, 3), np.float32)
    lab[..., 0] = np.where(dark, 35.0, 75.0)[None]
    lab[..., 1] = np.where(dark, 45.0, -35.0)[None]
    lab[..., 2] = np.where(dark, 20.0, 30.0)[None]
    return lab


def test_backend_keyed_match_restores_stripes_the_cells_average():
    lab = _stripes()
    err = {}
    for on in (False, True):
        b = ExemplarBackend({"feature_size": 96, "max_working_size": 96, "luma_key": on,
                             "position_prior": 0.0, "luma_prior": 0.0, "refine_radius": 1})
        b.set_references([Reference(lab=lab, frame=0)])
        res = b.colorize(TargetFrame(frame=1, L=lab[..., 0].copy()), None)
        err[on] = float(np.abs(res.ab - lab[..., 1:]).mean())
    assert err[True] < 6.0 and err[False] > 3 * err[True], err


def test_backend_tables_for_keyframes_only():
    lab = _stripes()
    b = ExemplarBackend({"feature_size": 96})
    b.set_references([Reference(lab=lab, frame=0), Reference(lab=lab.copy())])
    (a0, b0, _), (a1, b1, _) = b._blocks
    B = len(luma_key.bin_centres(8.0))
    assert b._values.shape[1] == 2 + 3 * B
    assert torch.all(b._values[a1:b1, 2:] == 0)                       # the still: plain colour
    np.testing.assert_allclose(b._values[a0:b0, 2:2 + B].sum(1).numpy(), 1.0, atol=1e-5)
    off = ExemplarBackend({"feature_size": 96, "luma_key": False})
    off.set_references([Reference(lab=lab, frame=0)])
    assert off._values.shape[1] == 2


def test_stills_only_carry_the_plain_colour_unchanged():
    """Automatic mode (external stills, no keyframe): no tables, and the match is exactly
    the plain matched colour of the backend with the keying off."""
    lab = _stripes()
    got = {}
    for on in (False, True):
        b = ExemplarBackend({"feature_size": 96, "max_working_size": 96, "luma_key": on})
        b.set_references([Reference(lab=lab)])
        assert b._values.shape[1] == 2
        got[on] = b.colorize(TargetFrame(frame=1, L=lab[..., 0].copy()), None).ab
    np.testing.assert_array_equal(got[True], got[False])
