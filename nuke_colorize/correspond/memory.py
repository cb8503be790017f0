"""The chain's own earlier frames as extra match candidates: a short colour memory.

Matching a target frame only against the references fails where the object has changed
since the keyframe (grown, turned, moved into other light): its grey features no longer
look like the keyframe's, the dense track to the keyframe has been lost, and the colour
fades towards whatever the match finds. A frame colourised a few frames earlier still
looks like the target and still carries the colour the chain tracked. Video colorizers
built on a memory (ColorMNet, after the XMem video object segmenter) keep such frames as
keys and values beside the reference; here a few of the chain's frames (the newest every
``memory_every`` chain steps) join the references' positions in the one softmax.

Their colour is only as good as the chain made it, so each memory position carries its
frame's reported confidence: a memory cell's similarity is lowered by
``penalty * (1 - confidence)``. Colour the chain tracked from the keyframe (confidence
near 1) competes on equal terms with the references; colour it only matched
(confidence ~0.25 of its reliability) must look much more like the target than any
reference position to be chosen, so the memory cannot feed the chain's guesses back into
it.

Keys gain one column for this: references hold 0 there, memory cells ``-penalty * (1 -
confidence)``, and the query holds 1, so the dot product adds the penalty and nothing
else changes. Pure functions on tensors; the backend keeps the memory in the chain's
state (so a chain resumed from the shot cache sees the same memory).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from .coarse_to_fine import pool_keys

Block = Tuple[int, int, Tuple[int, int]]


@dataclass
class MemoryFrame:
    """One remembered frame of the chain.

    keys: (M, C + 1) its features with the reference keys' extra columns and the penalty
        column (:func:`memory_keys`); values: (M, V) float32, what the softmax carries
        (a*b*, and the luminance-keyed tables when in use); grid: its (h, w) match grid,
        M = h * w; labels: (M,) int32 instance IDs of its cells (reference IDs), or None.
    """

    keys: torch.Tensor
    values: torch.Tensor
    grid: Tuple[int, int]
    labels: Optional[np.ndarray] = None


def cell_confidence(confidence: np.ndarray, grid: Tuple[int, int]) -> np.ndarray:
    """(H, W) confidence in [0, 1] -> (h * w,) float32 mean per cell of the (h, w) grid."""
    h, w = grid
    c = cv2.resize(np.ascontiguousarray(confidence, dtype=np.float32), (w, h), interpolation=cv2.INTER_AREA)
    return np.clip(c, 0.0, 1.0).reshape(-1)


def memory_keys(features: torch.Tensor, width: int, confidence: np.ndarray, penalty: float) -> torch.Tensor:
    """Keys of a remembered frame.

    Args:
        features: (M, C') its features with the query-side extra columns the references'
            keys have (e.g. the luminance prior's encoding), C' <= ``width``.
        width: the reference keys' width; missing columns (e.g. positional slots of the
            keyframes, which mean nothing for another frame) are zeros.
        confidence: (M,) in [0, 1] per cell (:func:`cell_confidence`).
        penalty: similarity lost by a cell of confidence 0.
    Returns:
        (M, width + 1): the features, zeros, and ``-penalty * (1 - confidence)``.
    """
    m, c = features.shape
    if c > width:
        raise ValueError(f"memory features have {c} columns, the reference keys {width}")
    bias = torch.from_numpy(-float(penalty) * (1.0 - np.asarray(confidence, np.float32))).to(features.dtype)
    pad = torch.zeros((m, width - c), dtype=features.dtype, device=features.device)
    return torch.cat([features, pad, bias.to(features.device)[:, None]], 1)


def with_query_column(query: torch.Tensor) -> torch.Tensor:
    """(N, C) queries -> (N, C + 1) with the penalty column's 1."""
    return torch.cat([query, torch.ones((query.shape[0], 1), dtype=query.dtype, device=query.device)], 1)


def stack(keys: torch.Tensor, blocks: Sequence[Block], values: torch.Tensor,
          pooled: Optional[Tuple[torch.Tensor, torch.Tensor]], memory: Sequence[MemoryFrame]):
    """The references' keys, blocks, values and pooled coarse keys with the memory appended.

    Args:
        keys: (M, C) reference keys; blocks: their [(start, end, grid)]; values: (M, V);
        pooled: :func:`~.coarse_to_fine.pool_keys` of the references (or None: not needed).
        memory: frames whose keys are (Mi, C + 1) and values (Mi, V).
    Returns:
        keys (M + sum Mi, C + 1) (the references' penalty column 0), blocks, values, and
        pooled keys (references' pooled keys as given, each memory block pooled on its own
        grid; None when ``pooled`` is None).
    """
    width = int(keys.shape[1])
    start = int(keys.shape[0])
    zero = torch.zeros((keys.shape[0], 1), dtype=keys.dtype, device=keys.device)
    k_all: List[torch.Tensor] = [torch.cat([keys, zero], 1)]
    v_all: List[torch.Tensor] = [values]
    b_all: List[Block] = list(blocks)
    mem_blocks: List[Block] = []
    for mem in memory:
        if mem.keys.shape[1] != width + 1 or mem.values.shape[1] != values.shape[1]:
            raise ValueError("memory keys/values do not fit the references'")
        n = int(mem.keys.shape[0])
        k_all.append(mem.keys.to(keys.device))
        v_all.append(mem.values.to(values.device))
        b_all.append((start, start + n, mem.grid))
        mem_blocks.append((start - int(keys.shape[0]), start - int(keys.shape[0]) + n, mem.grid))
        start += n
    out_keys = torch.cat(k_all, 0)
    out_pooled = None
    if pooled is not None:
        kc, kids = pooled
        kc = torch.cat([kc, torch.zeros((kc.shape[0], 1), dtype=kc.dtype, device=kc.device)], 1)
        if memory:
            mc, mkids = pool_keys(out_keys[keys.shape[0]:], mem_blocks)
            mkids = torch.where(mkids >= 0, mkids + int(keys.shape[0]), mkids)
            kc, kids = torch.cat([kc, mc], 0), torch.cat([kids, mkids], 0)
        out_pooled = (kc, kids)
    return out_keys, b_all, torch.cat(v_all, 0), out_pooled
