"""Dense-tracking masks (Akimoto et al., sec. 3.4): which reference positions a target
position can have come from, found by walking frame by frame to the reference frame.

Everything lives on a feature grid of ``gh x gw`` cells (N = gh * gw positions, row-major).

One step (frame t -> the previous frame of the chain, t'): for every position p of t, the
cosine affinity to the positions of t' inside a (2R+1) x (2R+1) window around p is turned
into a softmax (temperature ``temperature``); the positions whose probability exceeds
``threshold`` are kept (at most ``floor(1 / threshold)`` of them, and always the best one).
That is the binarised propagation of a one-hot mask of p one frame back (paper: 0.2).

The optical flow, where it is forward-backward consistent, adds the cell it points to
(:func:`flow_candidates`): in flat or repetitive regions the affinity's peak is arbitrary
and a chain of arbitrary peaks would random-walk away; the union keeps every position
either tracker supports, so the restriction removes only what neither does.

Chaining: ``reach_t(p) = union of reach_t'(q) over the kept q of p``, starting from the
identity at the reference frame, so the mask of frame t+1 reuses frame t's (one step per
frame, not a walk of the whole chain). Masks are bit sets over the reference grid:
``(N, ceil(M / 8))`` uint8 (``numpy.packbits`` order), M = the reference grid's positions.

Sizes: a 64 x 36 grid gives 2304 x 288 bytes = 0.66 MB raw per frame; masks are sparse
and local, so :func:`compress` stores them in a few tens of kB.
"""
from __future__ import annotations

import zlib
from functools import lru_cache
from typing import Tuple

import numpy as np
import torch

#: Grid long side at which the paper's R is given (384 x 216 images, 1/4-resolution features).
PAPER_GRID_LONG_SIDE = 96


def scaled_radius(radius: float, grid_hw: Tuple[int, int]) -> int:
    """The window radius R (given for a 96-cell long side, as in the paper) for this grid."""
    return max(1, int(round(float(radius) * max(grid_hw) / PAPER_GRID_LONG_SIDE)))


def identity(n: int) -> np.ndarray:
    """Masks of the reference frame itself: position p reaches exactly p. (N, ceil(N/8)) uint8."""
    out = np.zeros((n, -(-n // 8)), dtype=np.uint8)
    i = np.arange(n)
    out[i, i // 8] = (1 << (7 - i % 8)).astype(np.uint8)   # packbits order: first bit = MSB
    return out


@lru_cache(maxsize=2)
def _windows(gh: int, gw: int, radius: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The (2R+1)^2 window cells of every position of a (gh, gw) grid, dy-major: (N, K)
    flat indices clamped at the borders, and (N, K) bool, False where the window leaves
    the grid. The same for every frame of a chain, so made once (read only; ~52 MB for
    the 128 x 72 grid at R = 12, hence only the last two grids are kept)."""
    with torch.inference_mode():
        dy, dx = torch.meshgrid(torch.arange(-radius, radius + 1), torch.arange(-radius, radius + 1),
                                indexing="ij")
        dy, dx = dy.reshape(-1), dx.reshape(-1)
        n = gh * gw
        py, px = torch.arange(n) // gw, torch.arange(n) % gw
        yy, xx = py[:, None] + dy[None], px[:, None] + dx[None]
        inside = (yy >= 0) & (yy < gh) & (xx >= 0) & (xx < gw)
        return yy.clamp(0, gh - 1) * gw + xx.clamp(0, gw - 1), inside


@torch.inference_mode()
def step_candidates(f_cur: torch.Tensor, f_prev: torch.Tensor, grid_hw: Tuple[int, int],
                    radius: int, temperature: float, threshold: float) -> np.ndarray:
    """Positions of the previous frame each current position is propagated to.

    Args:
        f_cur, f_prev: (N, C) L2-normalised features of the current and previous frame on
            the same grid ``grid_hw = (gh, gw)`` (row-major).
        radius: window radius R in cells (window (2R+1)^2, clipped at the borders).
        temperature: softmax temperature on cosine similarity.
        threshold: probability a candidate must exceed to be kept (the best is always kept).

    Returns:
        (N, K) int64 flat indices into the previous grid, -1 where unused;
        K = max(1, floor(1 / threshold)).
    """
    k = 2 * radius + 1
    flat_all, inside = _windows(int(grid_hw[0]), int(grid_hw[1]), int(radius))
    aff = window_affinity(f_cur.float(), f_prev.float(), flat_all, grid_hw, radius)   # (N, k*k)
    aff = aff.masked_fill(~inside, float("-inf"))
    prob = torch.softmax(aff / float(temperature), dim=1)
    keep_n = min(k * k, max(1, int(1.0 / max(float(threshold), 1e-6))))
    p_best, i_best = prob.topk(keep_n, dim=1)
    flat = flat_all.gather(1, i_best)
    kept = p_best > float(threshold)
    kept[:, 0] = True
    return torch.where(kept, flat, torch.full_like(flat, -1)).numpy()


DENSE_LIMIT = 8192   # grids up to this many cells use one dense (N, N) product
TILE = 16            # tile side (cells) of the tiled product above it


def window_affinity(f_cur: torch.Tensor, f_prev: torch.Tensor, flat: torch.Tensor,
                    grid_hw: Tuple[int, int], radius: int) -> torch.Tensor:
    """Cosine affinity of each current position with its window cells: (N, C), (N, C) on
    the grid ``grid_hw`` and (N, K) flat window indices into the previous grid (the
    (2R+1)^2 offsets of :func:`step_candidates`, clamped at the borders) -> (N, K) float32.

    Small grids: one dense (N, N) product, far cheaper than N small windowed products.
    Large grids (a 128 x 72 grid at the default feature size): square tiles of ``TILE``
    cells, each multiplied with the band of the previous grid its windows can reach
    (tile + R on every side, clamped), so the work is ~N (TILE + 2R)^2 C instead of N^2 C
    and nothing is gathered feature by feature (the former row-block gather cost ~4.3 s per
    frame at 854x480; the tiles ~0.1 s)."""
    n = f_cur.shape[0]
    gh, gw = grid_hw
    if n * f_prev.shape[0] <= DENSE_LIMIT * DENSE_LIMIT:
        return (f_cur @ f_prev.t()).gather(1, flat)
    prev = f_prev.reshape(gh, gw, -1)
    out = torch.empty(flat.shape, dtype=torch.float32)
    cells = torch.arange(n).reshape(gh, gw)
    for y0 in range(0, gh, TILE):
        for x0 in range(0, gw, TILE):
            y1, x1 = min(gh, y0 + TILE), min(gw, x0 + TILE)
            by0, by1 = max(0, y0 - radius), min(gh, y1 + radius)
            bx0, bx1 = max(0, x0 - radius), min(gw, x1 + radius)
            rows = cells[y0:y1, x0:x1].reshape(-1)
            keys = prev[by0:by1, bx0:bx1].reshape(-1, prev.shape[2])
            idx = flat[rows]                                  # flat indices of the previous grid
            local = (idx // gw - by0) * (bx1 - bx0) + (idx % gw - bx0)
            out[rows] = (f_cur[rows] @ keys.t()).gather(1, local)
    return out


def flow_candidates(flow: np.ndarray, valid: np.ndarray, grid_hw: Tuple[int, int]) -> np.ndarray:
    """The previous-frame cell each cell's centre moves to along a pixel flow.

    Args:
        flow: (H, W, 2) displacement (pixels) of every current pixel to the previous frame.
        valid: (H, W) in [0, 1], forward-backward consistency of that flow.
        grid_hw: (gh, gw) cells covering the H x W frame.

    Returns:
        (N, 1) int64 flat cell indices, -1 where the flow is not trustworthy (valid < 0.5)
        or leaves the frame.
    """
    gh, gw = grid_hw
    h, w = valid.shape
    sy, sx = h / float(gh), w / float(gw)
    cy = np.minimum(((np.arange(gh) + 0.5) * sy).astype(np.int64), h - 1)
    cx = np.minimum(((np.arange(gw) + 0.5) * sx).astype(np.int64), w - 1)
    fl = flow[cy[:, None], cx[None, :]]                               # (gh, gw, 2)
    ok = valid[cy[:, None], cx[None, :]] >= 0.5
    x = (cx[None, :] + 0.5 + fl[..., 0]) / sx
    y = (cy[:, None] + 0.5 + fl[..., 1]) / sy
    ok &= (x >= 0) & (x < gw) & (y >= 0) & (y < gh)
    idx = np.clip(y.astype(np.int64), 0, gh - 1) * gw + np.clip(x.astype(np.int64), 0, gw - 1)
    return np.where(ok, idx, -1).reshape(-1, 1)


def propagate(prev_masks: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Masks of the current frame from the previous frame's: the union over each position's
    candidates. prev_masks (N', B) uint8 bit sets; candidates (N, K) int64 (-1 unused)
    -> (N, B) uint8."""
    out = np.zeros((candidates.shape[0], prev_masks.shape[1]), dtype=np.uint8)
    for j in range(candidates.shape[1]):
        idx = candidates[:, j]
        use = idx >= 0
        out[use] |= prev_masks[idx[use]]
    return out


def unpack_rows(masks: np.ndarray, rows, m: int, grid_hw: Tuple[int, int],
                margin: int = 0) -> torch.Tensor:
    """Boolean (rows, M) restriction for a slice (or index array) of target positions,
    optionally dilated by ``margin`` cells on the reference grid ``grid_hw`` (M = gh * gw)
    to absorb sub-cell drift. Grids whose width is a multiple of 8 are dilated in the
    packed form (:func:`dilate_packed`, 8-64x less memory traffic), others on booleans."""
    part = masks[rows]
    if margin > 0 and grid_hw[1] % 8 == 0:
        part, margin = dilate_packed(part, grid_hw, margin), 0
    bits = np.unpackbits(part, axis=1, count=m).view(bool)
    if margin > 0:
        bits = dilate_bool(bits, grid_hw, margin)
    return torch.from_numpy(np.ascontiguousarray(bits))


def dilate_bool(bits: np.ndarray, grid_hw: Tuple[int, int], margin: int) -> np.ndarray:
    """(rows, M) bool sets on the grid ``grid_hw`` -> the same, each dilated ``margin`` times
    by the 3x3 square (separable shifted ORs)."""
    gh, gw = grid_hw
    g = bits.reshape(-1, gh, gw)
    for _ in range(int(margin)):
        d = g.copy()
        d[:, 1:] |= g[:, :-1]
        d[:, :-1] |= g[:, 1:]
        g = d.copy()
        g[:, :, 1:] |= d[:, :, :-1]
        g[:, :, :-1] |= d[:, :, 1:]
    return g.reshape(bits.shape)


def dilate_packed(masks: np.ndarray, grid_hw: Tuple[int, int], margin: int) -> np.ndarray:
    """:func:`dilate_bool` on packed bit sets: (rows, M / 8) uint8 (``numpy.packbits`` order,
    the grid width a multiple of 8, so every grid row starts on a byte) -> the same.

    Each grid row is taken as words of the widest unsigned type that divides it (uint64
    for a 128-cell row), byte-swapped so that bit order is cell order: a neighbour in x is
    a one-bit shift, with the bit that crosses a word boundary carried from the adjacent
    word; a neighbour in y is the adjacent row of words."""
    gh, gw = grid_hw
    if gw % 8:
        raise ValueError(f"packed dilation needs a grid width that is a multiple of 8, got {gw}")
    row_bytes = gw // 8
    word = next(w for w in (8, 4, 2, 1) if row_bytes % w == 0)
    dt = np.dtype(f"uint{8 * word}")
    one, top = dt.type(1), dt.type(8 * word - 1)
    g = np.ascontiguousarray(masks).reshape(-1, gh, row_bytes).view(dt)
    if word > 1 and np.little_endian:
        g = g.byteswap()                     # most significant bit = first cell of the word
    for _ in range(int(margin)):
        d = g.copy()
        d[:, 1:] |= g[:, :-1]
        d[:, :-1] |= g[:, 1:]
        g = d | (d << one) | (d >> one)
        g[:, :, :-1] |= d[:, :, 1:] >> top           # first cell of the next word
        g[:, :, 1:] |= (d[:, :, :-1] & one) << top   # last cell of the previous word
    if word > 1 and np.little_endian:
        g = g.byteswap()
    return np.ascontiguousarray(g).view(np.uint8).reshape(masks.shape)


_DTYPES = (np.uint8, np.int32)


def _units(a: np.ndarray) -> np.ndarray:
    """The bytes of a C-contiguous array as the widest unsigned units that tile it: uint64
    when its size allows (a non-zero search over 8x fewer elements), else uint8."""
    raw = a.reshape(-1).view(np.uint8)
    return raw.view(np.uint64) if raw.size % 8 == 0 else raw


def compress(a: np.ndarray) -> np.ndarray:
    """A 2-D uint8 (bit-set masks) or int32 (instance map) array -> a 1-D uint8 array, the
    form the shot cache stores.

    Header: rows, columns, format code, count of non-zero units (uint32 each). Format
    ``2 + dtype index``: the masks are local, so few units are non-zero (~25 k of 1.3 M
    uint64 at 854x480); the body is zlib (level 1) of the gaps between the non-zero units
    (uint32) followed by their values (:func:`_units`). Smaller than, and ~4x as fast as,
    zlib over the whole array (format ``dtype index``, 12-byte header, still read by
    :func:`decompress`)."""
    a = np.ascontiguousarray(a)
    code = next(i for i, d in enumerate(_DTYPES) if a.dtype == d)
    n, b = a.shape
    units = _units(a)
    if units.size >= 2 ** 32:                  # gaps might not fit uint32: the whole array
        head = np.array([n, b, code], dtype=np.uint32).view(np.uint8)
        return np.concatenate([head, np.frombuffer(zlib.compress(a.tobytes(), 6), dtype=np.uint8)])
    idx = np.flatnonzero(units)
    gaps = np.diff(idx, prepend=0).astype(np.uint32)
    head = np.array([n, b, 2 + code, idx.size], dtype=np.uint32).view(np.uint8)
    body = zlib.compress(gaps.tobytes() + units[idx].tobytes(), 1)
    return np.concatenate([head, np.frombuffer(body, dtype=np.uint8)])


def decompress(blob: np.ndarray) -> np.ndarray:
    """Inverse of :func:`compress` (both formats)."""
    blob = np.ascontiguousarray(blob, dtype=np.uint8)
    n, b, code = (int(v) for v in blob[:12].view(np.uint32))
    if code < len(_DTYPES):                    # whole-array zlib, 12-byte header
        raw = zlib.decompress(blob[12:].tobytes())
        return np.frombuffer(raw, dtype=_DTYPES[code]).reshape(n, b).copy()
    out = np.zeros((n, b), dtype=_DTYPES[code - 2])
    units = _units(out)
    k = int(blob[12:16].view(np.uint32)[0])
    raw = zlib.decompress(blob[16:].tobytes())
    if len(raw) != k * (4 + units.dtype.itemsize):
        raise ValueError(f"mask blob: {len(raw)} bytes for {k} non-zero units of a {n}x{b} array")
    idx = np.cumsum(np.frombuffer(raw, dtype=np.uint32, count=k), dtype=np.int64)
    if k and idx[-1] >= units.size:
        raise ValueError(f"mask blob: unit {idx[-1]} outside a {n}x{b} array")
    units[idx] = np.frombuffer(raw, dtype=units.dtype, count=k, offset=4 * k)
    return out


def reach_counts(masks: np.ndarray) -> np.ndarray:
    """Number of reference positions each target position may match: (N,) int."""
    return np.unpackbits(masks, axis=1).sum(axis=1)
