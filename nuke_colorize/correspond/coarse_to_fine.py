"""Softmax warp with a two-level candidate search: the same result as the exhaustive
:func:`~nuke_colorize.correspond.affinity.softmax_warp` for the candidates that matter, at a
fraction of the cost on fine grids.

The exhaustive warp costs O(N * M * C) for N query and M key cells; doubling the grid's
resolution multiplies it by 16. Here both grids are pooled 2 x 2 (mean of the cells'
features, re-normalised). Each coarse query cell keeps its ``coarse_k`` best coarse key
cells; every fine query cell then scores only the fine children of its parent's candidates
(4 * coarse_k keys) and the temperature softmax runs over the ``topk`` best of those. With
``coarse_k`` at least the number of coarse key cells every key is a candidate and the
result equals the exhaustive warp exactly.

Restriction masks (``allowed``, Akimoto et al. eq. 6-7) act at both levels: a coarse pair
is allowed when any of its fine pairs is, and the restricted search runs beside an
unrestricted one, so a row whose candidates are all excluded falls back to the unrestricted
match (flagged), as in the exhaustive warp. Coarse cells whose free candidates are all
allowed reuse the free search's scores (:func:`_restricted_scores`).

Grids are row-major: fine cell (y, x) of a (h, w) grid is row ``y * w + x``; several key
grids (references) are stacked along M as ``blocks`` = [(start, end, (h, w)), ...].
"""
from __future__ import annotations

import warnings
from typing import Callable, Optional, Sequence, Tuple

import numpy as np
import torch

from .affinity import UNUSABLE, normalize
from .restriction import Restriction, coarse_of_block


def pool2x2(feat: torch.Tensor, grid: Tuple[int, int]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Pool a row-major grid of features 2 x 2.

    Args:
        feat: (h * w, C) L2-normalised features of a (h, w) grid.
    Returns:
        coarse (ceil(h/2) * ceil(w/2), C) L2-normalised features and children
        (ceil(h/2) * ceil(w/2), 4) long: the fine rows of each coarse cell, -1 where the
        grid's odd edge leaves fewer than four.
    """
    h, w = grid
    hc, wc = -(-h // 2), -(-w // 2)
    ys, xs = np.meshgrid(np.arange(hc), np.arange(wc), indexing="ij")
    kids = []
    for dy in (0, 1):
        for dx in (0, 1):
            y, x = 2 * ys + dy, 2 * xs + dx
            kids.append(np.where((y < h) & (x < w), y * w + x, -1))
    children = torch.from_numpy(np.stack(kids, -1).reshape(-1, 4)).to(feat.device)
    ok = (children >= 0).to(feat.dtype)
    summed = (feat[children.clamp_min(0)] * ok[..., None]).sum(1)
    return normalize(summed, dim=1), children


def pool_keys(keys: torch.Tensor, blocks: Sequence[Tuple[int, int, Tuple[int, int]]]):
    """Pool every key block; returns coarse keys (Mc, C) and children (Mc, 4) as rows of
    ``keys`` (-1 = none). Depends on the references only: callers matching many frames
    against the same keys compute it once and pass it as ``pooled``."""
    coarse, kids = [], []
    for a, b, g in blocks:
        c, ch = pool2x2(keys[a:b], g)
        coarse.append(c)
        kids.append(torch.where(ch >= 0, ch + a, ch))
    return torch.cat(coarse, 0), torch.cat(kids, 0)


def _coarse_mask(fine: torch.Tensor, rows: int, width: int,
                 blocks: Sequence[Tuple[int, int, Tuple[int, int]]]) -> torch.Tensor:
    """(tf, M) fine allowed mask of a tile -> (tc, Mc): any allowed fine pair under a coarse
    pair. The tile's tf = rows * width query cells are whole rows of the query grid starting
    at an even row; each key block is pooled on its own grid (the order of
    :func:`pool_keys`)."""
    return torch.cat([coarse_of_block(fine[:, a:b], rows, width, g) for a, b, g in blocks], dim=1)


def _scores(q: torch.Tensor, qkids: torch.Tensor, keys: torch.Tensor, kids: torch.Tensor,
            coarse_idx: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Fine scores of every fine query against the children of its parent's candidates.

    The (up to) four fine queries of a coarse cell share its candidates, so the keys are
    gathered once per coarse cell and scored with one batched product.

    Args:
        q: (tf, C) the tile's fine queries; qkids: (tc, 4) their rows in ``q`` per coarse
            query cell (-1 = none); kids: (Mc, 4) fine key rows per coarse key cell;
            coarse_idx: (tc, K) coarse candidates of each coarse query cell.
    Returns:
        scores (tf, 4K) cosine (-3 for missing candidates: never chosen before a real or
        masked one) and the candidates' key rows (tf, 4K) (-1 = none).
    """
    ck = kids[coarse_idx].reshape(coarse_idx.shape[0], -1)                  # (tc, 4K)
    qg = q[qkids.clamp_min(0)]                                              # (tc, 4, C)
    s = torch.bmm(qg, keys[ck.clamp_min(0)].transpose(1, 2))                # (tc, 4, 4K)
    s = s.masked_fill(ck[:, None, :] < 0, -3.0)
    have = qkids >= 0
    rows = qkids[have]
    scores = torch.empty((q.shape[0], ck.shape[1]), dtype=s.dtype, device=s.device)
    cand = torch.empty((q.shape[0], ck.shape[1]), dtype=ck.dtype, device=ck.device)
    scores[rows] = s[have]
    cand[rows] = ck[:, None, :].expand(-1, 4, -1)[have]
    return scores, cand


def _restricted_scores(q: torch.Tensor, qkids: torch.Tensor, keys: torch.Tensor, kids: torch.Tensor,
                       a_c: torch.Tensor, m_c: torch.Tensor, top_c: torch.Tensor,
                       free_scores: torch.Tensor, free_cand: torch.Tensor
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
    """The restricted search's fine scores and candidates, (tf, 4K) each, as
    :func:`_scores` of the restricted coarse top-k.

    A coarse query cell whose free candidates ``top_c`` (tc, K) are all allowed by the
    coarse mask ``m_c`` (tc, Mc) has the same restricted candidates (the allowed scores are
    unchanged and every one left out was below them), so its fine queries reuse the free
    search's ``free_scores`` / ``free_cand`` and only the other cells are scored again.
    ``a_c`` (tc, Mc): the coarse scores.
    """
    redo = ~m_c.gather(1, top_c).all(dim=1)                               # (tc,)
    if not bool(redo.any()):
        return free_scores, free_cand
    idx = a_c[redo].masked_fill(~m_c[redo], -2.0).topk(top_c.shape[1], dim=1).indices
    sub_kids = qkids[redo]
    a_s, cand_s = _scores(q, sub_kids, keys, kids, idx)
    rows = sub_kids[sub_kids >= 0]
    scores, cand = free_scores.clone(), free_cand.clone()
    scores[rows] = a_s[rows]
    cand[rows] = cand_s[rows]
    return scores, cand


def _mask_unusable(scores: torch.Tensor, cand: torch.Tensor, usable: torch.Tensor) -> torch.Tensor:
    """(tf, K) scores of candidate key rows ``cand`` (-1 = none, already below) with the
    keys that are never candidates (``usable`` (M,) bool False) set to ``UNUSABLE``."""
    bad = ~usable[cand.clamp_min(0)] & (cand >= 0)
    return scores.masked_fill(bad, UNUSABLE)


def _lookup(fine_ok: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
    """(tf, M) bool mask, (tf, K) candidate rows (-1 = none) -> (tf, K) bool (False for none)."""
    return fine_ok.gather(1, cand.clamp_min(0)) & (cand >= 0)


def weighted_rows(weights: torch.Tensor, index: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``out[t] = sum_k weights[t, k] * values[index[t, k]]``: (T, K), (T, K) int64 in [0, M),
    (M, V) -> (T, V).

    Two values (plain a*b*) are gathered; wider values (the luminance-keyed tables, V ~ 44)
    go through a sparse CSR product on CPU, which reads each value row once instead of
    materialising (T, K, V) (about 10x faster at 9216 x 32 x 44).
    """
    if values.shape[1] <= 4 or values.device.type != "cpu":
        return torch.einsum("tk,tkv->tv", weights, values[index])
    t, k = index.shape
    cols, order = index.sort(dim=1)
    crow = torch.arange(0, t * k + 1, k, dtype=torch.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # "sparse CSR support is in beta"
        s = torch.sparse_csr_tensor(crow, cols.reshape(-1), weights.gather(1, order).reshape(-1),
                                    size=(t, values.shape[0]), dtype=values.dtype)
        return s @ values


def softmax_warp_c2f(query: torch.Tensor, query_grid: Tuple[int, int], keys: torch.Tensor,
                     blocks: Sequence[Tuple[int, int, Tuple[int, int]]], values: torch.Tensor,
                     temperature: float = 0.01, topk: int = 32, coarse_k: int = 16,
                     allowed: Optional[Callable[[slice], torch.Tensor]] = None,
                     slack: Optional[float] = None, tile_cells: int = 512,
                     pooled: Optional[Tuple[torch.Tensor, torch.Tensor]] = None,
                     usable: Optional[torch.Tensor] = None
                     ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Warp ``values`` onto the queries like :func:`affinity.softmax_warp`, searching coarse
    to fine.

    Args:
        query: (N, C) L2-normalised target features on ``query_grid`` = (h, w), N = h * w.
        keys: (M, C) L2-normalised reference features, stacked blocks.
        blocks: [(start, end, (h, w))] per reference: its rows of ``keys`` and its grid.
        values: (M, V) what to carry (reference ab, V = 2).
        temperature: softmax temperature on cosine similarity.
        topk: fine candidates entering the softmax (<= 4 * coarse_k; 0 = all searched).
        coarse_k: coarse key cells kept per coarse query cell (per search).
        allowed: optional callable, fine query row slice -> (rows, M) bool restriction, or
            a :class:`~.restriction.Restriction` (same result, cheaper).
        slack: as in :func:`affinity.softmax_warp`.
        tile_cells: coarse query cells per tile (memory bound).
        pooled: :func:`pool_keys` of ``keys`` and ``blocks``, when already computed.
        usable: as in :func:`affinity.softmax_warp`, (M,) bool; a coarse key cell none of
            whose children is usable is never a coarse candidate either.

    Returns:
        warped (N, V), confidence (N,) = best searched (allowed) cosine similarity,
        fallback (N,) bool = True where no searched candidate was allowed.
    """
    h, w = query_grid
    n = query.shape[0]
    if n != h * w:
        raise ValueError(f"query has {n} rows, grid {h}x{w} has {h * w}")
    kc, kids = pooled if pooled is not None else pool_keys(keys, blocks)
    qc, qkids_all = pool2x2(query, query_grid)
    mc = kc.shape[0]
    k = max(1, min(int(coarse_k), mc))
    wc = -(-w // 2)
    rows_c = max(1, int(tile_cells) // max(1, wc))             # coarse grid rows per tile
    out = torch.empty((n, values.shape[1]), dtype=values.dtype, device=values.device)
    conf = torch.empty((n,), dtype=query.dtype, device=query.device)
    fallback = torch.zeros((n,), dtype=torch.bool, device=query.device)
    kt = kc.t().contiguous()
    hc = -(-h // 2)
    usable_c = None
    if usable is not None:
        usable_c = (usable[kids.clamp_min(0)] & (kids >= 0)).any(dim=1)        # (Mc,)
        usable = usable.to(keys.device)
    for r0 in range(0, hc, rows_c):
        r1 = min(hc, r0 + rows_c)
        sl_c = slice(r0 * wc, r1 * wc)
        sl_f = slice(2 * r0 * w, min(h, 2 * r1) * w)
        a_c = qc[sl_c] @ kt                                      # (tc, Mc)
        if usable_c is not None:
            a_c = a_c.masked_fill(~usable_c[None, :], UNUSABLE)
        q = query[sl_f]
        qkids = torch.where(qkids_all[sl_c] >= 0, qkids_all[sl_c] - sl_f.start, -1)
        top_c = a_c.topk(k, dim=1).indices
        a, cand = _scores(q, qkids, keys, kids, top_c)
        if usable is not None:
            a = _mask_unusable(a, cand, usable)
        if allowed is not None:
            # the restricted search; rows with no allowed candidate keep the free one
            rows = (sl_f.stop - sl_f.start) // w
            if isinstance(allowed, Restriction):
                tile = allowed.tile(sl_f, rows, w, blocks)
                m_c, lookup = tile.coarse(), tile.lookup
            else:
                fine_ok = allowed(sl_f)
                m_c, lookup = _coarse_mask(fine_ok, rows, w, blocks), (lambda c, f=fine_ok: _lookup(f, c))
            if usable is not None:
                m_c = m_c & usable_c[None, :]
            a_r, cand_r = _restricted_scores(q, qkids, keys, kids, a_c, m_c, top_c, a, cand)
            if usable is not None:
                a_r = _mask_unusable(a_r, cand_r, usable)
            mask = lookup(cand_r)
            if usable is not None:
                mask = mask & usable[cand_r.clamp_min(0)]
            empty = ~mask.any(dim=1)
            if slack is not None:
                best_free = torch.maximum(a.max(dim=1).values, a_r.max(dim=1).values)
                best_ok = a_r.masked_fill(~mask, -2.0).max(dim=1).values
                empty |= best_ok < best_free - float(slack)
            fallback[sl_f] = empty
            keep = ~empty[:, None]
            a = torch.where(keep, a_r.masked_fill(~mask, -2.0), a)
            cand = torch.where(keep, cand_r, cand)
        if topk and int(topk) < a.shape[1]:
            a, idx = a.topk(int(topk), dim=1)
            cand = cand.gather(1, idx)
        wgt = torch.softmax(a / temperature, dim=1)   # (missing candidates: weight ~0)
        out[sl_f] = weighted_rows(wgt, cand.clamp_min(0), values)
        conf[sl_f] = a.max(dim=1).values
    return out, conf, fallback
