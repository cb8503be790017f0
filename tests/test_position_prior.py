"""Positional prior on keyframe matches: the encoding's kernel, the smoothed track
displacement, and a known ambiguous match resolved by position."""
import numpy as np
import torch

from nuke_colorize.backends.base import Reference
from nuke_colorize.backends.exemplar import ExemplarBackend
from nuke_colorize.correspond import position
from nuke_colorize.correspond.affinity import normalize, softmax_warp


def test_encoding_products_are_the_gaussian_kernel_inside_the_frame_and_vanish_outside():
    sigma = 0.15
    anchors = position.anchors(0.5625, sigma)
    a = np.array([[0.5, 0.28]])
    others = np.array([[0.5, 0.28], [0.55, 0.3], [0.65, 0.2], [0.8, 0.28], [0.1, 0.5]])
    e_a, e_o = position.encode(a, anchors, sigma), position.encode(others, anchors, sigma)
    want = np.exp(-((others - a) ** 2).sum(1) / (2 * sigma ** 2))
    np.testing.assert_allclose(e_o @ e_a[0], want, atol=2e-3)
    far = position.encode(np.array([[1.5, 0.28], [-0.6, 0.0]]), anchors, sigma)
    assert np.abs(far @ e_o.T).max() < 1e-3


def test_smoothed_displacement_fills_untracked_cells_from_tracked_neighbours():
    h, w = 40, 80
    disp = np.zeros((h, w, 2), np.float32)
    disp[..., 0] = 6.0
    disp[..., 1] = -2.0
    weight = np.zeros((h, w), np.float32)
    weight[:, :40] = 1.0                           # only the left half is tracked
    disp[:, 40:] = 100.0                           # garbage where the track was lost
    out = position.smooth_displacement(disp, weight, (10, 20), 2.0)
    np.testing.assert_allclose(out, np.tile([6.0, -2.0], (200, 1)), atol=1e-4)
    assert np.all(position.smooth_displacement(disp, np.zeros_like(weight), (10, 20), 2.0) == 0)


def test_prior_picks_the_candidate_at_the_predicted_position_among_identical_ones():
    """Two reference cells with the same feature and different colours: plain cosine
    matching averages them; with the prior each query takes the colour of the one at its
    own position."""
    sigma, weight = 0.15, 0.05
    anchors = position.anchors(0.5, sigma)
    feat = normalize(torch.tensor([[1.0, 0.2, 0.0], [1.0, 0.2, 0.0]]), dim=1)
    key_pos = np.array([[0.2, 0.25], [0.8, 0.25]])
    values = torch.tensor([[40.0, 0.0], [-40.0, 0.0]])
    query = feat.clone()
    plain, _, _ = softmax_warp(query, feat, values, temperature=0.01)
    np.testing.assert_allclose(plain[:, 0].numpy(), [0.0, 0.0], atol=1e-3)
    enc = lambda p: torch.from_numpy(position.encode(p, anchors, sigma) * np.float32(np.sqrt(weight)))
    keys = torch.cat([feat, enc(key_pos)], 1)
    q_pos = np.array([[0.22, 0.25], [0.75, 0.3]])
    q = torch.cat([query, enc(q_pos)], 1)
    warped, _, _ = softmax_warp(q, keys, values, temperature=0.01)
    # the similarities gain weight * kernel(distance): the softmax of that alone
    bias = weight * np.exp(-((q_pos[:, None] - key_pos[None]) ** 2).sum(-1) / (2 * sigma ** 2)) / 0.01
    p = np.exp(bias - bias.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(warped[:, 0].numpy(), p @ np.array([40.0, -40.0]), atol=0.2)
    assert warped[0, 0] > 35 and warped[1, 0] < -35


def test_backend_encodes_keyframes_only_and_moves_queries_by_the_track():
    h, w = 48, 96
    lab = np.zeros((h, w, 3), np.float32)
    lab[..., 0] = np.linspace(20, 80, w)[None]
    b = ExemplarBackend({"feature_size": 96, "position_prior": 0.05, "luma_prior": 0.0})
    b.set_references([Reference(lab=lab, frame=0), Reference(lab=lab[:, :64].copy())])
    (a0, b0, grid), (a1, b1, _) = b._blocks
    c = int(b._features(lab[..., 0]).shape[1])
    keys = b._keys
    assert keys.shape[1] > c and torch.all(keys[a1:b1, c:] == 0)      # the still: no prior
    # each keyframe cell's encoding, dotted with itself, is the prior's weight (~)
    self_dot = (keys[a0:b0, c:] ** 2).sum(1)
    assert float(self_dot.min()) > 0.9 * 0.05 and float(self_dot.max()) < 1.1 * 0.05
    # a query moved by the track's displacement lands on the shifted key cell
    L = lab[..., 0]
    q = b._features(L)
    gh, gw = grid
    shift = 3 * (w / gw)                                           # three cells to the right
    prev = type("P", (), {})()
    prev.state = {"disp": np.tile(np.float32([shift, 0.0]), (h, w, 1)), "tconf": np.ones((h, w), np.float32)}
    qa = b._query_positions(q, grid, L, 0, prev)
    prior = qa[:, c:] @ keys[a0:b0, c:].T                              # (cells, cells)
    best = prior.argmax(1).numpy()
    rows = np.arange(gh * gw)
    inner = (rows % gw) < gw - 3
    np.testing.assert_array_equal(best[inner], rows[inner] + 3)
    # no anchor (a chain started cold): no prior
    assert torch.all(b._query_positions(q, grid, L, None, None)[:, c:] == 0)
