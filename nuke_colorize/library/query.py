"""Rank the stills of a :class:`~.index.LibraryIndex` against a few plate frames.

Score of still j for query frames q_1..q_n (descriptors of :mod:`.descriptors`):

    score_j = mean_i  sum_p w_p * cos(q_i[p], s_j[p]) / sum_p w_p

with part weights :data:`WEIGHTS` (the network's global feature dominates; the mid-level
statistics, the 8x4 layout and the luminance histogram break ties between stills that show
the same kind of scene). Scores lie in [-1, 1]; 1 = identical luminance image.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Dict, List, Optional, Sequence

import numpy as np

from . import descriptors as D
from .index import LibraryIndex

WEIGHTS: Dict[str, float] = {"cnn": 0.6, "mid": 0.2, "layout": 0.1, "hist": 0.1}
SHORTLIST = 64


@dataclass
class Match:
    """One retrieved still: ``score`` (see module doc) and its per-part cosines."""

    path: str
    score: float
    group: str
    parts: Dict[str, float]
    coverage: Optional[float] = None   # coverage of the set up to this still (method "coverage")

    def to_dict(self) -> Dict[str, object]:
        d = {"image": self.path, "score": round(self.score, 4), "group": self.group,
             "parts": {k: round(v, 4) for k, v in self.parts.items()}}
        if self.coverage is not None:
            d["coverage"] = round(self.coverage, 4)
        return d


def part_similarities(index: LibraryIndex, queries: Sequence[Dict[str, np.ndarray]]) -> Dict[str, np.ndarray]:
    """{part: (N,) mean cosine over the query frames} for every still of the index."""
    out = {}
    for p in D.PARTS:
        q = np.stack([d[p] for d in queries]).astype(np.float32)      # (n, D)
        out[p] = (index.parts[p] @ q.T).mean(axis=1)                   # (N,)
    return out


def global_scores(sims: Dict[str, np.ndarray], weights: Optional[Dict[str, float]] = None) -> np.ndarray:
    """(N,) score of every still (see the module doc), in [-1, 1], from
    :func:`part_similarities`' per-part cosines and the part weights (default :data:`WEIGHTS`)."""
    w = dict(WEIGHTS if weights is None else weights)
    total = sum(w.values()) or 1.0
    return sum(w[p] * sims[p] for p in w) / total


def local_coverage(index: LibraryIndex, rows: Sequence[int],
                   queries: Sequence[Dict[str, np.ndarray]]) -> np.ndarray:
    """(M, n*40) best cosine, over each candidate still's cells, of every query cell."""
    q = np.concatenate([d["local"] for d in queries]).astype(np.float32)        # (Q, C)
    cand = index.parts["local"][list(rows)].astype(np.float32)                  # (M, 40, C)
    return np.einsum("mkc,qc->mqk", cand, q, optimize=True).max(axis=2)        # (M, Q)


def greedy_cover(cov: np.ndarray, k: int) -> List[tuple]:
    """Pick ``k`` rows of ``cov`` (M, Q) maximising the mean over Q of the max over picked rows
    (facility location: each query region is served by its best reference), greedily.
    Returns [(row, coverage of the set after adding it)] in pick order."""
    picked: List[tuple] = []
    cur = np.full(cov.shape[1], -1.0, np.float32)
    free = np.ones(cov.shape[0], bool)
    for _ in range(min(k, cov.shape[0])):
        gain = np.maximum(cov, cur[None]).mean(axis=1)
        gain[~free] = -np.inf
        j = int(np.argmax(gain))
        free[j] = False
        cur = np.maximum(cur, cov[j])
        picked.append((j, float(gain[j])))
    return picked


def rank(index: LibraryIndex, queries: Sequence[Dict[str, np.ndarray]], top: int = 3, *,
         exclude_groups: Optional[Collection[str]] = None, exclude_paths: Optional[Collection[str]] = None,
         weights: Optional[Dict[str, float]] = None, method: str = "coverage",
         shortlist: int = SHORTLIST) -> List[Match]:
    """The ``top`` best stills for the query frames, best first (fewer if the index is small).

    ``method`` "global": by the global score alone. "coverage" (default): the ``shortlist``
    best by global score are re-ranked on their local cells: stills are added one at a time,
    each time the one that most raises the mean, over the query frames' cells, of the best
    cell similarity among the stills chosen so far, so the set covers the plate's regions
    (one still may serve the sky, another the car). ``exclude_groups`` / ``exclude_paths``
    remove stills from the candidates (e.g. the frames of the clip being evaluated).
    """
    if not queries or not len(index):
        return []
    sims = part_similarities(index, queries)
    score = global_scores(sims, weights)
    ok = np.ones(len(index), bool)
    if exclude_groups:
        ex = set(exclude_groups)
        ok &= np.array([g not in ex for g in index.groups], bool)
    if exclude_paths:
        ex = {str(p) for p in exclude_paths}
        ok &= np.array([e.path not in ex for e in index.entries], bool)
    order = [int(i) for i in np.argsort(-score, kind="stable") if ok[i]]
    coverage: Dict[int, float] = {}
    if method == "coverage" and order:
        rows = order[:max(int(shortlist), int(top))]
        cov = local_coverage(index, rows, queries)
        picked = greedy_cover(cov, int(top))
        order = [rows[j] for j, _ in picked]
        coverage = {rows[j]: c for j, c in picked}
    else:
        order = order[:max(0, int(top))]
    return [Match(path=index.entries[i].path, score=float(score[i]), group=index.entries[i].group,
                  parts={p: float(sims[p][i]) for p in D.PARTS}, coverage=coverage.get(i))
            for i in order]
