"""The chain's colour memory: remembered frames join the references in the softmax, each
position handicapped by how unsure its colour was."""
import numpy as np
import pytest
import torch

from nuke_colorize.correspond import memory
from nuke_colorize.correspond.affinity import normalize
from nuke_colorize.correspond.coarse_to_fine import pool_keys, softmax_warp_c2f

GRID = (6, 8)
N = GRID[0] * GRID[1]


def _unit(n, c, seed):
    g = torch.Generator().manual_seed(seed)
    return normalize(torch.randn((n, c), generator=g), dim=1)


def test_memory_keys_pad_the_references_extra_columns_and_carry_the_penalty():
    f = _unit(4, 5, 0)
    k = memory.memory_keys(f, 7, np.array([1.0, 0.5, 0.0, 0.25], np.float32), 0.4)
    assert k.shape == (4, 8)
    assert torch.equal(k[:, :5], f)
    assert torch.equal(k[:, 5:7], torch.zeros((4, 2)))
    assert torch.allclose(k[:, 7], torch.tensor([0.0, -0.2, -0.4, -0.3]))
    with pytest.raises(ValueError):
        memory.memory_keys(f, 4, np.ones(4, np.float32), 0.4)


def test_cell_confidence_is_the_mean_per_cell():
    c = np.zeros((12, 16), np.float32)
    c[:2, :2] = 1.0                         # one whole cell of a 6x8 grid
    cells = memory.cell_confidence(c, GRID)
    assert cells.shape == (N,)
    assert cells[0] == pytest.approx(1.0) and np.abs(cells[1:]).max() == 0.0


def test_stack_appends_blocks_and_pools_each_memory_block_on_its_grid():
    ref = _unit(N, 6, 1)
    blocks = [(0, N, GRID)]
    values = torch.rand((N, 3))
    mems = [memory.MemoryFrame(memory.memory_keys(_unit(N, 6, s), 6, np.full(N, 0.5, np.float32), 0.3),
                               torch.rand((N, 3)), GRID) for s in (2, 3)]
    keys, bl, vals, pooled = memory.stack(ref, blocks, values, pool_keys(ref, blocks), mems)
    assert keys.shape == (3 * N, 7) and vals.shape == (3 * N, 3)
    assert bl == [(0, N, GRID), (N, 2 * N, GRID), (2 * N, 3 * N, GRID)]
    assert torch.equal(keys[:N, 6], torch.zeros(N))
    assert torch.equal(vals[2 * N:], mems[1].values)
    # the same coarse keys and children as pooling the whole stack at once
    kc, kids = pool_keys(keys, bl)
    assert torch.allclose(pooled[0], kc, atol=1e-6) and torch.equal(pooled[1], kids)


def _match_with_memory(confidence, penalty):
    """Reference colour a* = 10 on features unlike the target; a remembered frame whose
    features are the target's own, colour a* = -20."""
    target = _unit(N, 16, 7)
    ref = _unit(N, 16, 8)
    ref_vals = torch.tensor([[10.0, 0.0]]).repeat(N, 1)
    mem = memory.MemoryFrame(memory.memory_keys(target, 16, np.full(N, confidence, np.float32), penalty),
                             torch.tensor([[-20.0, 0.0]]).repeat(N, 1), GRID)
    keys, blocks, vals, pooled = memory.stack(ref, [(0, N, GRID)], ref_vals, pool_keys(ref, [(0, N, GRID)]), [mem])
    ab, conf, _ = softmax_warp_c2f(memory.with_query_column(target), GRID, keys, blocks, vals,
                                   temperature=0.01, topk=8, coarse_k=4, pooled=pooled)
    return ab, conf


def test_confident_memory_gives_its_colour():
    ab, conf = _match_with_memory(confidence=1.0, penalty=0.3)
    assert torch.allclose(ab[:, 0], torch.full((N,), -20.0), atol=1e-3)
    assert torch.allclose(conf, torch.ones(N), atol=1e-5)     # the best similarity: itself


def test_unsure_memory_loses_to_the_reference_by_its_penalty():
    ab, conf = _match_with_memory(confidence=0.0, penalty=2.0)   # memory similarity 1 - 2 = -1
    assert torch.allclose(ab[:, 0], torch.full((N,), 10.0), atol=1e-3)
    # partly unsure memory: its similarity is exactly 1 - penalty * (1 - confidence)
    _, conf = _match_with_memory(confidence=0.5, penalty=0.1)
    assert torch.allclose(conf, torch.full((N,), 0.95), atol=1e-5)


def _chain(settings, n=25):
    """A keyframe-anchored chain of ``n`` frames of a slowly panning texture; returns each
    frame's state."""
    import cv2

    from nuke_colorize import color
    from nuke_colorize.backends.base import Previous, Reference, TargetFrame
    from nuke_colorize.backends.exemplar import ExemplarBackend
    from nuke_colorize.engine import canonical_state

    rng = np.random.default_rng(5)
    h, w = 36, 48
    big = cv2.resize(rng.random((8, 8 + n, 3)).astype(np.float32), (w + n * 6, h), interpolation=cv2.INTER_CUBIC)
    frames = [np.clip(big[:, i: i + w], 0.02, 1.0) for i in range(n)]
    lab = [color.rgb_to_lab(f) for f in frames]
    b = ExemplarBackend(dict({"feature_size": 64}, **settings))
    ref = Reference(lab=lab[0], frame=0)
    b.set_references([ref])
    res = canonical_state(b.keyframe_result(TargetFrame(0, lab[0][..., 0]), ref))
    states = [res.state]
    for t in range(1, n):
        res = canonical_state(b.colorize(TargetFrame(t, lab[t][..., 0]), Previous(t - 1, res.state)))
        states.append(res.state)
    return states


def test_chain_remembers_every_nth_frame_newest_first():
    states = _chain({"memory_every": 4, "memory_count": 2}, n=13)
    assert "mem0_L" not in states[3] and int(states[3]["mem_step"][0]) == 3
    assert np.array_equal(states[4]["mem0_L"], states[4]["L"]) and "mem1_L" not in states[4]
    assert np.array_equal(states[7]["mem0_L"], states[4]["L"])              # carried on
    assert np.array_equal(states[8]["mem0_L"], states[8]["L"])
    assert np.array_equal(states[8]["mem1_L"], states[4]["L"])
    assert np.array_equal(states[12]["mem1_L"], states[8]["L"])             # the oldest dropped
    assert "mem2_L" not in states[12]
    v = states[8]["mem0_v"]
    assert v.shape[0] == states[8]["mem0_c"].shape[0] and v.shape[1] > 2  # luminance-keyed tables
    assert not any(k.startswith("mem") for k in _chain({"memory_every": 0}, n=6)[5])
