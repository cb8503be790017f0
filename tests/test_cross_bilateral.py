"""refine.cross_bilateral: colour read from another frame along a track that landed a
pixel off an edge is re-read from the track's neighbours of this frame's own luminance."""
import numpy as np

from nuke_colorize.refine import cross_bilateral


def _step(width=64, edge=32, lo=30.0, hi=70.0):
    row = np.where(np.arange(width) < edge, lo, hi).astype(np.float32)
    return np.repeat(row[None, :], 24, axis=0)


def test_misregistered_edge_is_reread_from_neighbours_of_the_right_luminance():
    L = _step(edge=32)                       # this frame: the edge at x = 32
    L_t = _step(edge=33)                     # read along a track one pixel off
    ab_t = np.zeros((24, 64, 2), np.float32)
    ab_t[:, :33] = (20.0, -10.0)             # dark side's colour, carried with its L*
    ab_t[:, 33:] = (-15.0, 25.0)
    truth = np.zeros_like(ab_t)
    truth[:, :32] = (20.0, -10.0)
    truth[:, 32:] = (-15.0, 25.0)
    out = cross_bilateral(ab_t, L_t, L, sigma_space=1.5, sigma_range=4.0)
    before = np.abs(ab_t[:, 32] - truth[:, 32]).mean()          # 35 a*b* units off
    after = np.abs(out[:, 32] - truth[:, 32]).mean()
    assert before > 30 and after < 0.01 * before, (before, after)
    # where the track agrees with the frame, nothing moves
    np.testing.assert_allclose(out[:, :31], ab_t[:, :31], atol=1e-4)
    np.testing.assert_allclose(out[:, 34:], ab_t[:, 34:], atol=1e-4)


def test_weights_follow_the_guides_exactly():
    rng = np.random.default_rng(1)
    L = (rng.random((12, 16)) * 100).astype(np.float32)
    L_t = (L + rng.normal(0, 3, L.shape)).astype(np.float32)
    ab = (rng.random((12, 16, 2)) * 40 - 20).astype(np.float32)
    out = cross_bilateral(ab, L_t, L, sigma_space=1.5, sigma_range=4.0)
    y, x = 5, 7                                  # an interior pixel, by hand
    num = np.zeros(2)
    den = 0.0
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            w = np.exp(-(L_t[y + dy, x + dx] - L[y, x]) ** 2 / 32.0 - (dx * dx + dy * dy) / 4.5)
            num += w * ab[y + dy, x + dx]
            den += w
    np.testing.assert_allclose(out[y, x], num / den, rtol=1e-4)


def test_below_one_pixel_it_is_the_identity():
    ab = np.random.default_rng(2).random((8, 8, 2)).astype(np.float32)
    L = np.zeros((8, 8), np.float32)
    np.testing.assert_array_equal(cross_bilateral(ab, L, L + 50, sigma_space=0.9, sigma_range=4.0), ab)


def test_all_neighbours_far_in_luminance_still_gives_their_mean():
    ab = np.full((6, 6, 2), 7.0, np.float32)
    out = cross_bilateral(ab, np.zeros((6, 6), np.float32), np.full((6, 6), 100.0, np.float32),
                          sigma_space=1.5, sigma_range=1.0)
    np.testing.assert_allclose(out, ab, atol=1e-5)
