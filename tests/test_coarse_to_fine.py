"""Coarse-to-fine softmax warp: equals the exhaustive warp when every coarse cell is a
candidate, finds a planted match when only a few are, and honours restriction masks."""
import numpy as np
import pytest
import torch

from nuke_colorize.correspond.affinity import normalize, softmax_warp
from nuke_colorize.correspond.coarse_to_fine import _coarse_mask, pool_keys, pool2x2, softmax_warp_c2f


def parents(grid):
    """(h * w,) long: the coarse cell (row of the 2 x 2 pooled grid) of every fine cell."""
    h, w = grid
    ys, xs = np.divmod(np.arange(h * w), w)
    return torch.from_numpy((ys // 2) * -(-w // 2) + xs // 2)


def _feats(n, c=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return normalize(torch.randn(n, c, generator=g), dim=1)


def _blocks(grids):
    blocks, start = [], 0
    for g in grids:
        blocks.append((start, start + g[0] * g[1], g))
        start += g[0] * g[1]
    return blocks, start


@pytest.mark.parametrize("grid", [(6, 8), (5, 7)])
def test_pool_children_cover_every_cell_once(grid):
    h, w = grid
    f = _feats(h * w)
    coarse, kids = pool2x2(f, grid)
    assert coarse.shape == (-(-h // 2) * -(-w // 2), f.shape[1])
    got = sorted(int(k) for k in kids.flatten() if k >= 0)
    assert got == list(range(h * w))
    # a coarse cell's feature is the normalised mean of its children
    c0 = normalize(f[kids[0][kids[0] >= 0]].sum(0, keepdim=True), dim=1)[0]
    assert torch.allclose(coarse[0], c0, atol=1e-6)
    # every fine cell's parent lists it as a child
    par = parents(grid)
    for i in range(h * w):
        assert i in kids[par[i]].tolist()


@pytest.mark.parametrize("qgrid,kgrids", [((6, 8), [(6, 8)]), ((5, 7), [(4, 6), (3, 5)])])
def test_all_candidates_equals_exhaustive(qgrid, kgrids):
    q = _feats(qgrid[0] * qgrid[1], seed=1)
    blocks, start = _blocks(kgrids)
    keys = _feats(start, seed=2)
    values = torch.randn(start, 2, generator=torch.Generator().manual_seed(3)) * 40
    for topk in (0, 8):
        ref = softmax_warp(q, keys, values, temperature=0.05, topk=topk)
        got = softmax_warp_c2f(q, qgrid, keys, blocks, values, temperature=0.05, topk=topk,
                               coarse_k=10 ** 6, tile_cells=3)
        for a, b in zip(ref[:2], got[:2]):
            assert torch.allclose(a, b, atol=1e-4)


def test_restricted_all_candidates_equals_exhaustive():
    qgrid, kgrid = (6, 6), (6, 6)
    n = 36
    q, keys = _feats(n, seed=4), _feats(n, seed=5)
    values = torch.randn(n, 2, generator=torch.Generator().manual_seed(6))
    rng = np.random.default_rng(0)
    allowed = torch.from_numpy(rng.random((n, n)) < 0.2)
    allowed[3] = False                                   # one row with no candidate at all
    ref = softmax_warp(q, keys, values, temperature=0.02, allowed=lambda sl: allowed[sl])
    got = softmax_warp_c2f(q, qgrid, keys, [(0, n, kgrid)], values, temperature=0.02, topk=0,
                           coarse_k=10 ** 6, allowed=lambda sl: allowed[sl], tile_cells=2)
    assert torch.equal(ref[2], got[2]) and bool(got[2][3])
    assert torch.allclose(ref[0], got[0], atol=1e-4)
    assert torch.allclose(ref[1], got[1], atol=1e-6)


def test_planted_match_is_found_with_few_candidates():
    """A target that is the reference shifted by two cells gets each reference cell's value
    back (values: a known colour per cell), searching only 2 coarse cells per coarse cell."""
    h, w = 16, 20
    g = torch.Generator().manual_seed(7)
    # smooth-ish features so a coarse cell resembles its children
    base = torch.randn(1, 32, h // 4 + 2, w // 4 + 2, generator=g)
    smooth = torch.nn.functional.interpolate(base, size=(h + 2, w + 2), mode="bilinear", align_corners=False)
    fine = smooth + 0.3 * torch.randn(smooth.shape, generator=g)
    ref = normalize(fine[0, :, :h, :w].reshape(32, -1).t(), dim=1)
    tgt = normalize(fine[0, :, 2:h + 2, 2:w + 2].reshape(32, -1).t(), dim=1)
    ys, xs = np.divmod(np.arange(h * w), w)
    values = torch.from_numpy(np.stack([ys, xs], 1).astype(np.float32))
    out, conf, _ = softmax_warp_c2f(tgt, (h, w), ref, [(0, h * w, (h, w))], values,
                                    temperature=1e-3, topk=4, coarse_k=2)
    out = out.numpy().reshape(h, w, 2)
    inner = out[: h - 2, : w - 2]                        # cells whose match is in the reference
    want = np.stack(np.meshgrid(np.arange(2, h), np.arange(2, w), indexing="ij"), -1)
    hit = np.all(np.abs(inner - want) < 0.5, axis=-1).mean()
    assert hit > 0.95
    assert float(conf.reshape(h, w)[: h - 2, : w - 2].min()) > 0.99


def test_grid_mismatch_is_an_error():
    q = _feats(12)
    with pytest.raises(ValueError, match="grid"):
        softmax_warp_c2f(q, (3, 5), q, [(0, 12, (3, 4))], torch.zeros(12, 2))


@pytest.mark.parametrize("qgrid,kgrids", [((6, 8), [(6, 8)]), ((5, 7), [(4, 6), (3, 5)])])
def test_coarse_mask_is_any_fine_pair_under_each_coarse_pair(qgrid, kgrids):
    """The pooled restriction equals its definition, spelt out through parents/children."""
    h, w = qgrid
    blocks, start = _blocks(kgrids)
    fine = torch.rand((h * w, start), generator=torch.Generator().manual_seed(3)) < 0.02
    _, kids = pool_keys(_feats(start), blocks)
    par = parents(qgrid)
    expect = torch.zeros((int(par.max()) + 1, kids.shape[0]), dtype=torch.bool)
    for i in range(h * w):
        for j in range(kids.shape[0]):
            expect[par[i], j] |= bool(any(fine[i, k] for k in kids[j].tolist() if k >= 0))
    assert torch.equal(_coarse_mask(fine, h, w, blocks), expect)
    # a tile of whole rows from an even row on: the rows of that tile only
    tile = slice(2 * w, h * w)
    assert torch.equal(_coarse_mask(fine[tile], h - 2, w, blocks), expect[-(-w // 2):])


@pytest.mark.parametrize("qgrid,kgrids,n_labels", [((6, 8), [(6, 8), (5, 7), (6, 8)], 3),
                                                    ((7, 9), [(5, 7), (7, 9), (4, 4)], 2),
                                                    ((6, 8), [(6, 8), (5, 7), (6, 8)], 70)])
def test_restriction_rules_search_as_their_plain_mask(qgrid, kgrids, n_labels):
    """A :class:`Restriction` (a block restricted by tracking masks and labels, one by labels
    only, one free) gives bit for bit what its plain (rows, M) mask gives in the
    coarse-to-fine search, with few candidates and with all, with and without slack; and
    with more labels than a bit set holds. Unknown query labels match a whole block."""
    from nuke_colorize.correspond.restriction import Restriction, Rule

    blocks, m = _blocks(kgrids)
    n = qgrid[0] * qgrid[1]
    rng = np.random.default_rng(2)
    q, keys = _feats(n, seed=11), _feats(m, seed=12)
    values = torch.randn(m, 2, generator=torch.Generator().manual_seed(13))
    qlab = rng.integers(0, n_labels, n).astype(np.int32)
    qlab[:4] = -1
    klab = [rng.integers(0, n_labels, b - a).astype(np.int32) for a, b, _ in blocks]
    tmask = torch.from_numpy(rng.random((n, blocks[0][1])) < 0.3)
    rules = [Rule(*blocks[0], mask=lambda sl: tmask[sl].clone(), labels=(qlab, klab[0])),
             Rule(*blocks[1], labels=(qlab, klab[1]))]
    r = Restriction(m, rules)
    plain = r(slice(0, n))
    want = torch.ones((n, m), dtype=torch.bool)
    want[:, :blocks[0][1]] = tmask & ((torch.from_numpy(qlab)[:, None] == torch.from_numpy(klab[0])[None])
                                      | torch.from_numpy(qlab == -1)[:, None])
    want[:, blocks[1][0]:blocks[1][1]] = ((torch.from_numpy(qlab)[:, None] == torch.from_numpy(klab[1])[None])
                                          | torch.from_numpy(qlab == -1)[:, None])
    assert torch.equal(plain, want)
    for coarse_k in (2, 10 ** 6):
        for slack in (None, 0.1):
            got = softmax_warp_c2f(q, qgrid, keys, blocks, values, temperature=0.05, topk=8, coarse_k=coarse_k,
                                   allowed=r, slack=slack, tile_cells=5)
            ref = softmax_warp_c2f(q, qgrid, keys, blocks, values, temperature=0.05, topk=8, coarse_k=coarse_k,
                                   allowed=lambda sl: plain[sl], slack=slack, tile_cells=5)
            for x, y in zip(got, ref):
                assert torch.equal(x, y)
    # tile by tile, the coarse mask and the candidate look-ups themselves are the plain mask's
    w = qgrid[1]
    for r0 in range(0, qgrid[0], 2):
        sl = slice(r0 * w, min(qgrid[0], r0 + 2) * w)
        rows = (sl.stop - sl.start) // w
        tile = r.tile(sl, rows, w, blocks)
        assert torch.equal(tile.coarse(), _coarse_mask(plain[sl], rows, w, blocks))
        cand = torch.from_numpy(rng.integers(-1, m, (sl.stop - sl.start, 12)))
        assert torch.equal(tile.lookup(cand), plain[sl].gather(1, cand.clamp_min(0)) & (cand >= 0))


@pytest.mark.parametrize("coarse_k,slack", [(3, None), (5, 0.1)])
def test_reused_free_candidates_equal_a_second_search(monkeypatch, coarse_k, slack):
    """Coarse cells whose free candidates the restriction keeps reuse the free search; the
    result equals scoring every cell's restricted candidates again, bit for bit. The mask
    keeps everything for the left half of the query grid (reused) and, for the right half,
    half of the first reference's cells and none of the second's (searched again)."""
    import nuke_colorize.correspond.coarse_to_fine as c2f
    qgrid, kgrids = (10, 12), [(8, 10), (7, 9)]
    n = qgrid[0] * qgrid[1]
    q = _feats(n, seed=11)
    blocks, m = _blocks(kgrids)
    keys = _feats(m, seed=12)
    values = torch.randn(m, 2, generator=torch.Generator().manual_seed(13)) * 30
    rng = np.random.default_rng(5)
    allowed = torch.from_numpy(rng.random((n, m)) < 0.5)
    allowed[:, blocks[1][0]:] = False
    xs = torch.arange(n) % qgrid[1]
    allowed[xs < qgrid[1] // 2] = True
    calls = []
    real = c2f._restricted_scores

    def counted(q_, qkids, keys_, kids, a_c, m_c, top_c, fs, fc):
        calls.append(int((~m_c.gather(1, top_c).all(dim=1)).sum()))
        return real(q_, qkids, keys_, kids, a_c, m_c, top_c, fs, fc)

    def always_again(q_, qkids, keys_, kids, a_c, m_c, top_c, fs, fc):
        idx = a_c.masked_fill(~m_c, -2.0).topk(top_c.shape[1], dim=1).indices
        return c2f._scores(q_, qkids, keys_, kids, idx)

    kw = dict(temperature=0.03, topk=6, coarse_k=coarse_k, allowed=lambda sl: allowed[sl],
              slack=slack, tile_cells=7)
    monkeypatch.setattr(c2f, "_restricted_scores", counted)
    got = c2f.softmax_warp_c2f(q, qgrid, keys, blocks, values, **kw)
    monkeypatch.setattr(c2f, "_restricted_scores", always_again)
    want = c2f.softmax_warp_c2f(q, qgrid, keys, blocks, values, **kw)
    coarse_cells = -(-qgrid[0] // 2) * -(-qgrid[1] // 2)
    assert 0 < sum(calls) <= coarse_cells // 2      # the right half at most is searched again
    for a, b in zip(got, want):
        assert torch.equal(a, b)


@pytest.mark.parametrize("restricted", [False, True])
def test_unusable_keys_are_never_candidates_as_if_they_were_not_there(restricted):
    """Keys that carry no colour (a reference's uncovered cells): both warps give what they give
    with those keys left out, their fallback included (a row whose allowed candidates are all
    unusable falls back to the usable ones), whatever the restriction."""
    qgrid, kgrid = (6, 6), (6, 6)
    n = 36
    q, keys = _feats(n, seed=4), _feats(n, seed=5)
    values = torch.randn(n, 2, generator=torch.Generator().manual_seed(6))
    usable = torch.from_numpy(np.random.default_rng(1).random(n) < 0.6)
    allowed = torch.from_numpy(np.random.default_rng(0).random((n, n)) < 0.3) if restricted else None
    if restricted:
        allowed[5] = ~usable                              # only unusable keys allowed: falls back
    kept = torch.nonzero(usable).flatten()
    cut = (lambda sl: allowed[sl][:, kept]) if restricted else None
    want = softmax_warp(q, keys[kept], values[kept], temperature=0.02, allowed=cut)
    full = (lambda sl: allowed[sl]) if restricted else None
    exh = softmax_warp(q, keys, values, temperature=0.02, allowed=full, usable=usable)
    c2f = softmax_warp_c2f(q, qgrid, keys, [(0, n, kgrid)], values, temperature=0.02, topk=0,
                           coarse_k=10 ** 6, allowed=full, tile_cells=2, usable=usable)
    for got in (exh, c2f):
        assert torch.allclose(got[0], want[0], atol=1e-4)
        assert torch.allclose(got[1], want[1], atol=1e-6)
        assert torch.equal(got[2], want[2])
    if restricted:
        assert bool(want[2][5])
