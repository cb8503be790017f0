"""Which key positions each query position may match, block by block: the restriction of
the softmax (Akimoto et al., eq. 6-7) in a form the coarse-to-fine search can evaluate
without building the (N, M) mask.

The keys of one softmax are stacked blocks (references, then the chain's remembered
frames). A block is either free, or restricted by a :class:`Rule`:

* instance labels only (query label == key label; unknown queries, label -1, match the
  whole block): the search's coarse mask comes from per-cell label bit sets, its
  candidate test from two label look-ups; nothing of size (rows, M) is built;
* a mask callable (dense-tracking masks), optionally with labels as well: the block's
  (rows, block size) mask is built for the tile, and only for that block.

Either way the result equals the plain boolean mask of the same rules (what
:meth:`Restriction.__call__` builds for the exhaustive warp): a coarse pair is allowed
when any of its fine pairs is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from .instances import UNKNOWN, allowed_rows

Block = Tuple[int, int, Tuple[int, int]]
MAX_BIT_LABELS = 62        # distinct key labels a bit set of int64 holds (else: built masks)


def _or_pairs(x: torch.Tensor, dim: int) -> torch.Tensor:
    """OR of neighbouring pairs along ``dim`` (size n -> ceil(n/2); the odd end alone); bool
    or integer bit sets. Elementwise on strided slices: fast, unlike a reduction over a
    small axis."""
    n = x.shape[dim]
    even, odd = x.narrow(dim, 0, n - n % 2), x.narrow(dim, n - 1, 1)
    pairs = even.unflatten(dim, (n // 2, 2))
    out = pairs.select(dim + 1, 0) | pairs.select(dim + 1, 1)
    return torch.cat([out, odd], dim) if n % 2 else out


def coarse_of_block(fine: torch.Tensor, rows: int, width: int, grid: Tuple[int, int]) -> torch.Tensor:
    """(tf, Mb) fine mask of one key block on ``grid`` for a tile of ``rows`` whole query rows
    of ``width`` (starting at an even row) -> (tc, Mbc): any allowed fine pair under each
    coarse pair (both grids pooled 2 x 2 as :func:`~.coarse_to_fine.pool2x2`)."""
    m = fine.shape[1]
    g = _or_pairs(_or_pairs(fine.reshape(rows, width, m), 0), 1)          # (hc, wc, Mb)
    per_query = g.reshape(-1, m)
    gh, gw = grid
    k = _or_pairs(_or_pairs(per_query.reshape(-1, gh, gw), 1), 2)
    return k.reshape(per_query.shape[0], -1)


def _coarse_bits(bits: torch.Tensor, rows: int, width: int) -> torch.Tensor:
    """(rows * width,) int64 bit sets on a grid -> (ceil(rows/2) * ceil(width/2),) their
    OR over each 2 x 2 cell."""
    return _or_pairs(_or_pairs(bits.reshape(rows, width), 0), 1).reshape(-1)


@dataclass
class Rule:
    """The restriction of one key block [start, end) on ``grid``.

    mask: callable, query row slice -> (rows, end - start) bool (a fresh tensor), or None.
    labels: (query labels (N,), key labels (end - start,)) int32 arrays, or None.
    Both given: a pair must pass both.
    """

    start: int
    end: int
    grid: Tuple[int, int]
    mask: Optional[Callable[[slice], torch.Tensor]] = None
    labels: Optional[Tuple[np.ndarray, np.ndarray]] = None

    def __post_init__(self) -> None:
        self._bits: Optional[Tuple[np.ndarray, torch.Tensor]] = None
        if self.mask is None and self.labels is not None:
            values = np.unique(self.labels[1])
            if values.size <= MAX_BIT_LABELS:
                key_bits = torch.from_numpy(np.left_shift(1, np.searchsorted(values, self.labels[1])).astype(np.int64))
                self._bits = (values, _coarse_bits(key_bits, *self.grid))

    def fine(self, sl: slice) -> torch.Tensor:
        """(rows, end - start) bool mask of the query rows ``sl``."""
        out = self.mask(sl) if self.mask is not None else None
        if self.labels is not None:
            lab = allowed_rows(self.labels[0], self.labels[1], sl)
            out = lab if out is None else out & lab
        return out

    def coarse(self, sl: slice, rows: int, width: int, fine: Optional[torch.Tensor]) -> torch.Tensor:
        """(tc, coarse cells of the block) for a tile (see :func:`coarse_of_block`); ``fine``
        is this tile's :meth:`fine` when the rule needs it (None for label bit sets)."""
        if self._bits is None:
            return coarse_of_block(fine, rows, width, self.grid)
        values, key_bits = self._bits
        q = np.asarray(self.labels[0][sl], np.int64)
        idx = np.minimum(np.searchsorted(values, q), values.size - 1)
        own = np.where(values[idx] == q, np.left_shift(1, idx), 0)
        every = (1 << values.size) - 1
        q_bits = torch.from_numpy(np.where(q == UNKNOWN, every, own).astype(np.int64))
        return (_coarse_bits(q_bits, rows, width)[:, None] & key_bits[None, :]) != 0

    @property
    def needs_fine(self) -> bool:
        return self._bits is None

    def lookup(self, sl: slice, cand: torch.Tensor, fine: Optional[torch.Tensor]) -> torch.Tensor:
        """(tf, K) bool for candidate key rows ``cand`` (stacked rows, any block): whether
        each is allowed by this rule. Meaningless for candidates outside the block (the
        caller, :meth:`TileRestriction.lookup`, masks them)."""
        local = (cand - self.start).clamp(0, self.end - self.start - 1)
        if fine is not None:
            return fine.gather(1, local)
        t = torch.from_numpy(np.ascontiguousarray(self.labels[0][sl]))[:, None]
        r = torch.from_numpy(np.ascontiguousarray(self.labels[1]))[local]
        return (t == r) | (t == UNKNOWN)


class Restriction:
    """The rules of one target frame over ``m`` stacked keys; blocks without a rule are free.

    Call it with a query row slice for the plain (rows, m) bool mask (the exhaustive warp's
    ``allowed``); the coarse-to-fine search uses :meth:`tile` instead.
    """

    def __init__(self, m: int, rules: Sequence[Rule]):
        self.m = int(m)
        self.rules: Dict[int, Rule] = {r.start: r for r in rules}

    def __call__(self, sl: slice) -> torch.Tensor:
        out: Optional[torch.Tensor] = None
        for r in self.rules.values():
            got = r.fine(sl)
            if out is None:
                out = torch.ones((got.shape[0], self.m), dtype=torch.bool)
            out[:, r.start:r.end] = got
        return out

    def tile(self, sl: slice, rows: int, width: int, blocks: Sequence[Block]) -> "TileRestriction":
        """This restriction on one tile of the coarse-to-fine search: ``sl`` = its query rows,
        ``rows`` whole grid rows of ``width`` starting at an even row; ``blocks`` the keys'
        blocks in stacking order (the coarse keys' order)."""
        return TileRestriction(self, sl, rows, width, blocks)


class TileRestriction:
    """:class:`Restriction` of one tile: the coarse mask (tc, Mc) and candidate look-ups."""

    def __init__(self, parent: Restriction, sl: slice, rows: int, width: int, blocks: Sequence[Block]):
        self.sl, self.rows, self.width, self.blocks = sl, rows, width, blocks
        self.rules = parent.rules
        self.fine = {a: r.fine(sl) for a, r in self.rules.items() if r.needs_fine}
        for a, b, g in blocks:
            r = self.rules.get(a)
            if r is not None and (r.end, r.grid) != (b, g):
                raise ValueError(f"restriction rule {r.start}:{r.end} does not match the key block {a}:{b}")

    def coarse(self) -> torch.Tensor:
        tc = (-(-self.rows // 2)) * (-(-self.width // 2))
        parts = []
        for a, b, (gh, gw) in self.blocks:
            r = self.rules.get(a)
            if r is None:
                parts.append(torch.ones((tc, (-(-gh // 2)) * (-(-gw // 2))), dtype=torch.bool))
            else:
                parts.append(r.coarse(self.sl, self.rows, self.width, self.fine.get(a)))
        return torch.cat(parts, dim=1)

    def lookup(self, cand: torch.Tensor) -> torch.Tensor:
        """(tf, K) candidate key rows (-1 = none) -> (tf, K) bool allowed (False for none)."""
        out = cand >= 0
        for a, r in self.rules.items():
            inside = (cand >= r.start) & (cand < r.end)
            out &= ~inside | r.lookup(self.sl, cand, self.fine.get(a))
        return out
