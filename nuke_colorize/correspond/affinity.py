"""Cosine affinity and softmax warp of reference values, computed in memory-bounded tiles.

For query features ``q`` (N, C) and key features ``k`` (M, C), both L2-normalised along C,
the affinity is ``A = q @ k.T`` (N, M) in [-1, 1]. The warp is

    out[n] = sum_m softmax_m(A[n, m] / temperature) * values[m]        (N, V)

and the confidence is ``max_m A[n, m]`` (N,). An optional boolean ``allowed`` (N, M) mask
restricts the softmax to permitted candidates (Akimoto et al., eq. 6-7); rows with no
allowed candidate (or, with ``slack``, no plausible one) fall back to the unrestricted
softmax and are flagged. Keys that are never candidates (``usable`` False: reference cells
that carry no colour, :mod:`nuke_colorize.coverage`) are out of every row's softmax, its
fallback and its confidence alike.

Rows are processed in tiles so the (tile, M) block stays under ``budget_bytes``; the result
does not depend on the tile size (each row is computed independently).
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch


#: the score of a key that is never a candidate (below every cosine, and below the -2 of a
#: restricted one, so a row's fallback never takes it either)
UNUSABLE = -3.0


def rows_per_tile(m: int, budget_bytes: int = 256 << 20, bytes_per_elem: int = 4) -> int:
    """Number of query rows whose (rows, m) float block fits ``budget_bytes`` (>= 1).

    Three blocks of that size are live at once (affinity, exp, mask/temporary).
    """
    return max(1, int(budget_bytes // max(1, 3 * m * bytes_per_elem)))


def normalize(feat: torch.Tensor, dim: int = -1, eps: float = 1e-6) -> torch.Tensor:
    """L2-normalise ``feat`` along ``dim`` after removing nothing else (cosine space)."""
    return feat / feat.norm(dim=dim, keepdim=True).clamp_min(eps)


def softmax_warp(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                 temperature: float = 0.01,
                 allowed: Optional[Callable[[slice], torch.Tensor]] = None,
                 topk: int = 0,
                 budget_bytes: int = 256 << 20,
                 slack: Optional[float] = None,
                 usable: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Warp ``values`` of the keys onto the queries by a temperature softmax of cosine affinity.

    Args:
        query: (N, C) L2-normalised query (target) features.
        keys: (M, C) L2-normalised key (reference) features; several references are
            simply stacked along M so they share one softmax.
        values: (M, V) what to carry (e.g. reference ab, V = 2).
        temperature: softmax temperature on cosine similarity (smaller = sharper).
        allowed: optional callable giving the boolean (rows, M) restriction mask for a
            row slice of the queries (so the full N x M mask is never materialised).
        topk: if > 0, only the k best candidates of each row enter the softmax.
        slack: if given, a row whose best allowed similarity is more than ``slack`` below its
            best unrestricted similarity also falls back (the restriction excludes what the
            row plainly looks like, e.g. content that entered the frame after the reference).
        budget_bytes: memory bound for one tile of the affinity.
        usable: optional (M,) bool: keys that may be candidates at all (None: every key).
            The others score :data:`UNUSABLE`, below any real similarity, so they take no
            weight (exp of -200 at the default temperature underflows to 0), whatever the
            restriction; at least one key must be usable.

    Returns:
        warped (N, V), confidence (N,) = best (allowed) cosine similarity in [-1, 1],
        fallback (N,) bool = True where the restriction left no candidate.
    """
    n, m = query.shape[0], keys.shape[0]
    step = rows_per_tile(m, budget_bytes)
    out = torch.empty((n, values.shape[1]), dtype=values.dtype, device=values.device)
    conf = torch.empty((n,), dtype=query.dtype, device=query.device)
    fallback = torch.zeros((n,), dtype=torch.bool, device=query.device)
    kt = keys.t().contiguous()
    for s in range(0, n, step):
        sl = slice(s, min(n, s + step))
        a = query[sl] @ kt                                   # (t, M)
        if usable is not None:
            a = a.masked_fill(~usable[None, :], UNUSABLE)
        if allowed is not None:
            mask = allowed(sl)
            if usable is not None:
                mask = mask & usable[None, :]
            empty = ~mask.any(dim=1)
            if slack is not None:
                best_free = a.max(dim=1).values
                best_ok = a.masked_fill(~mask, -2.0).max(dim=1).values
                empty |= best_ok < best_free - float(slack)
            fallback[sl] = empty
            mask = mask | empty[:, None]
            a = a.masked_fill(~mask, -2.0)
        if topk and topk < m:
            best, idx = a.topk(topk, dim=1)
            w = torch.softmax(best / temperature, dim=1)
            out[sl] = torch.einsum("tk,tkv->tv", w, values[idx])
            conf[sl] = best[:, 0]
        else:
            best = a.max(dim=1).values
            w = torch.softmax(a / temperature, dim=1)
            out[sl] = w @ values
            conf[sl] = best
    return out, conf, fallback
