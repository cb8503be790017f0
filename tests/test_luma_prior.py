"""Luminance prior on keyframe matches: the encoding's kernel, a known ambiguous match
resolved by luminance, and the backend's wiring (keyframes only, off at weight 0)."""
import numpy as np
import torch

from nuke_colorize.backends.base import Reference
from nuke_colorize.backends.exemplar import ExemplarBackend
from nuke_colorize.correspond import luma_prior
from nuke_colorize.correspond.affinity import normalize, softmax_warp


def test_encoding_products_are_the_weighted_gaussian_kernel_and_clip_at_the_range():
    sigma, weight = 8.0, 0.15
    a = np.array([50.0])
    others = np.array([0.0, 3.0, 42.0, 50.0, 58.0, 75.0, 100.0])
    e_a, e_o = luma_prior.encode(a, sigma, weight), luma_prior.encode(others, sigma, weight)
    want = weight * np.exp(-(others - 50.0) ** 2 / (2 * sigma ** 2))
    np.testing.assert_allclose(e_o @ e_a[0], want, atol=2e-3 * weight)
    # at the ends of the range too, self-similarity is the weight
    ends = luma_prior.encode(np.array([0.0, 100.0]), sigma, weight)
    np.testing.assert_allclose((ends ** 2).sum(1), [weight, weight], rtol=0.02)
    # scene-linear highlights above L* 100 and negative values are clipped into the range
    np.testing.assert_array_equal(luma_prior.encode(np.array([130.0, -5.0]), sigma),
                                  luma_prior.encode(np.array([100.0, 0.0]), sigma))


def test_cell_luminance_is_the_mean_of_each_cell():
    L = np.zeros((8, 16), np.float32)
    L[:, 8:] = 60.0
    L[4:, :8] = 20.0
    np.testing.assert_allclose(luma_prior.cell_luminance(L, (2, 2)), [0.0, 60.0, 20.0, 60.0])


def test_prior_picks_the_candidate_of_the_same_luminance_among_identical_features():
    """Two reference cells with the same feature, a dark one coloured +40 a* and a bright one
    -40: plain cosine matching averages them; with the prior a dark query takes the dark
    cell's colour and a bright query the bright one's, by the softmax of the bias."""
    sigma, weight, temp = 8.0, 0.15, 0.01
    feat = normalize(torch.tensor([[1.0, 0.3, 0.1], [1.0, 0.3, 0.1]]), dim=1)
    values = torch.tensor([[40.0, 5.0], [-40.0, 5.0]])
    plain, _, _ = softmax_warp(feat.clone(), feat, values, temperature=temp)
    np.testing.assert_allclose(plain[:, 0].numpy(), [0.0, 0.0], atol=1e-3)
    key_L, q_L = np.array([30.0, 70.0]), np.array([33.0, 64.0])
    enc = lambda v: torch.from_numpy(luma_prior.encode(v, sigma, weight))
    keys = torch.cat([feat, enc(key_L)], 1)
    q = torch.cat([feat.clone(), enc(q_L)], 1)
    warped, conf, _ = softmax_warp(q, keys, values, temperature=temp)
    bias = weight * np.exp(-(q_L[:, None] - key_L[None]) ** 2 / (2 * sigma ** 2)) / temp
    p = np.exp(bias - bias.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(warped[:, 0].numpy(), p @ np.array([40.0, -40.0]), atol=0.5)
    assert warped[0, 0] > 39 and warped[1, 0] < -39
    np.testing.assert_allclose(warped[:, 1].numpy(), [5.0, 5.0], atol=1e-4)
    # the confidence is the best biased similarity: cosine 1 plus at most the weight
    assert float(conf.max()) <= 1.0 + weight + 1e-5 and float(conf.min()) > 1.0


def test_backend_encodes_keyframes_only_and_appends_the_query_luminance():
    h, w = 48, 96
    lab = np.zeros((h, w, 3), np.float32)
    lab[..., 0] = np.linspace(10, 90, w)[None]
    b = ExemplarBackend({"feature_size": 96, "position_prior": 0.0, "luma_prior": 0.15})
    b.set_references([Reference(lab=lab, frame=0), Reference(lab=lab[:, :64].copy())])
    (a0, b0, grid), (a1, b1, _) = b._blocks
    c = int(b._features(lab[..., 0]).shape[1])
    keys = b._keys
    assert keys.shape[1] == c + len(luma_prior.anchors(8.0))
    assert torch.all(keys[a1:b1, c:] == 0)                           # the still: no prior
    np.testing.assert_allclose((keys[a0:b0, c:] ** 2).sum(1).numpy(), 0.15, rtol=0.03)
    # the keyframe's own luminance as a query: each cell's prior peaks on its own column
    L = lab[..., 0]
    q = b._query_luma(b._features(L), L, grid)
    prior = (q[:, c:] @ keys[a0:b0, c:].T).numpy()
    gh, gw = grid
    cols = np.arange(gh * gw) % gw
    np.testing.assert_array_equal(prior.argmax(1) % gw, cols)
    off = ExemplarBackend({"feature_size": 96, "position_prior": 0.0, "luma_prior": 0.0})
    off.set_references([Reference(lab=lab, frame=0)])
    assert off._keys.shape[1] == c and off._query_luma(q[:, :c], L, grid).shape[1] == c
