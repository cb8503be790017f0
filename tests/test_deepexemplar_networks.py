"""DeepExemplar networks: strict loading of the official layout and the forward semantics.

The dense reference below restates the official inference formulas (one full affinity
matrix, no tiling, no padding) so the tiled, padded implementation can be checked against it.
"""
from __future__ import annotations

import json
import sys

import pytest
import torch
import torch.nn.functional as F

from nuke_colorize.networks import layout
from nuke_colorize.networks.deepexemplar import DeepExemplarNet, padded_side
from nuke_colorize.networks.vgg19 import caffe_input_from_L, caffe_input_from_rgb

from conftest import LAYOUT_JSON


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _spec_state(role: str, seed: int) -> dict:
    """Random tensors built from the shared spec json itself (not from our modules)."""
    path = LAYOUT_JSON if LAYOUT_JSON.is_file() else layout.LAYOUT_PATH
    spec = json.loads(path.read_text())["files"][layout.ARCHIVE_PATHS[role]]["state_dict"]
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(v, generator=g) * 0.05 for k, v in spec.items()}


@pytest.fixture(scope="module")
def net() -> DeepExemplarNet:
    states = {r: layout.random_state_dict(r, seed=i) for i, r in enumerate(layout.ROLES)}
    return DeepExemplarNet().load_official(states).eval()


def test_official_layout_loads_strictly():
    n = DeepExemplarNet()
    n.load_official({r: _spec_state(r, i) for i, r in enumerate(layout.ROLES)})
    for role, module in n.parts.items():
        got = {k: list(v.shape) for k, v in module.state_dict().items()}
        want = {k: list(v) for k, v in layout.expected_shapes(role).items()}
        assert got == want, role
        assert sum(v.numel() for v in module.state_dict().values()) == layout.file_info(role)["num_parameters"]


@pytest.mark.parametrize("damage", ["missing", "shape"])
def test_strict_loading_rejects_other_layouts(damage):
    states = {r: _spec_state(r, 0) for r in layout.ROLES}
    if damage == "missing":
        del states["colorization"]["conv10_ab.bias"]
    else:
        states["correspondence"]["theta.weight"] = torch.zeros(256, 128, 1, 1)
    with pytest.raises(RuntimeError):
        DeepExemplarNet().load_official(states)


def test_caffe_input_conventions():
    rgb = torch.tensor([1.0, 0.5, 0.0]).view(1, 3, 1, 1)
    x = caffe_input_from_rgb(rgb)[0, :, 0, 0]
    # BGR order, mean (103.939, 116.779, 123.68) subtracted, 0-255 scale
    assert torch.allclose(x, torch.tensor([0 - 103.939, 127.5 - 116.779, 255 - 123.68]), atol=1e-3)
    g = caffe_input_from_L(torch.full((1, 1, 2, 2), 50.0))
    assert torch.allclose(g[0, :, 0, 0], torch.tensor([127.5 - 103.939, 127.5 - 116.779, 127.5 - 123.68]),
                          atol=1e-3)


def _dense_official(net, L, rgb, ab, temperature):
    """Official WarpNet semantics, whole affinity at once (sides multiples of 16)."""
    eps = sys.float_info.epsilon
    fa = net.corr.embed(*net.vgg(caffe_input_from_L(L)))
    fb = net.corr.embed(*net.vgg(caffe_input_from_rgb(rgb)))
    h4, w4 = fa.shape[2:]
    theta = net.corr.theta(fa).view(1, 256, -1)
    theta = theta - theta.mean(dim=-1, keepdim=True)
    theta = theta / (torch.norm(theta, 2, 1, keepdim=True) + eps)
    phi = net.corr.phi(fb).view(1, 256, -1)
    phi = phi - phi.mean(dim=-1, keepdim=True)
    phi = phi / (torch.norm(phi, 2, 1, keepdim=True) + eps)
    f = torch.matmul(theta.permute(0, 2, 1), phi)
    sim = f.max(dim=-1, keepdim=True)[0].view(1, 1, h4, w4)
    w = F.softmax(f / temperature, dim=-1)
    b = F.avg_pool2d(ab, 4).view(1, 2, -1).permute(0, 2, 1)
    y = torch.matmul(w, b).permute(0, 2, 1).reshape(1, 2, h4, w4)
    return F.interpolate(y, scale_factor=4), F.interpolate(sim, scale_factor=4)


@pytest.mark.parametrize("temperature", [0.01, 1e-10])
def test_tiled_warp_matches_dense_official_formula(net, temperature):
    g = torch.Generator().manual_seed(1)
    L = torch.rand(1, 1, 64, 96, generator=g) * 100
    rgb = torch.rand(1, 3, 64, 96, generator=g)
    ab = torch.randn(1, 2, 64, 96, generator=g) * 30
    with torch.inference_mode():
        want_ab, want_sim = _dense_official(net, L, rgb, ab, temperature)
        ref = net.reference_keys(rgb, ab)
        for budget in (8 << 10, 256 << 20):        # many tiles vs one tile
            got_ab, got_sim = net.warp(L, [ref], temperature=temperature, budget_bytes=budget)
            assert torch.allclose(got_sim, want_sim, atol=1e-5)
            assert torch.allclose(got_ab, want_ab, atol=1e-3)
    assert -1.0 <= float(want_sim.min()) <= float(want_sim.max()) <= 1.0


def test_references_share_one_softmax(net):
    g = torch.Generator().manual_seed(2)
    L = torch.rand(1, 1, 48, 64, generator=g) * 100
    rgb1, rgb2 = torch.rand(1, 3, 48, 64, generator=g), torch.rand(1, 3, 40, 80, generator=g)
    ab1, ab2 = torch.randn(1, 2, 48, 64, generator=g) * 30, torch.randn(1, 2, 40, 80, generator=g) * 30
    with torch.inference_mode():
        r1, r2 = net.reference_keys(rgb1, ab1), net.reference_keys(rgb2, ab2)
        assert r2.size == (10, 20) and r2.keys.shape == (200, 256)
        one, _ = net.warp(L, [r1], temperature=0.01)
        dup, _ = net.warp(L, [r1, r1], temperature=0.01)       # duplicated keys: same weights
        assert torch.allclose(one, dup, atol=1e-4)
        _, s1 = net.warp(L, [r1], temperature=1e-10)
        _, s2 = net.warp(L, [r2], temperature=1e-10)
        both_ab, s12 = net.warp(L, [r1, r2], temperature=1e-10)
        assert torch.allclose(s12, torch.maximum(s1, s2), atol=1e-6)  # best over all references
        # every warped colour is one of the references' pooled cell colours
        cells = torch.cat([r1.ab, r2.ab])
        px = both_ab[0].reshape(2, -1).t()
        dist = torch.cdist(px, cells, compute_mode="donot_use_mm_for_euclid_dist")
        assert dist.min(dim=1).values.max() < 1e-4


@pytest.mark.parametrize("hw", [(50, 70), (40, 48), (70, 30), (10, 12)])
def test_any_size_is_padded_never_cropped(net, hw):
    h, w = hw
    g = torch.Generator().manual_seed(3)
    with torch.inference_mode():
        ref = net.reference_keys(torch.rand(1, 3, 32, 48, generator=g), torch.randn(1, 2, 32, 48, generator=g))
        ab, warped, sim = net(torch.rand(1, 1, h, w, generator=g) * 100, [ref])
    assert ab.shape == (1, 2, h, w) and warped.shape == (1, 2, h, w) and sim.shape == (1, 1, h, w)
    assert torch.isfinite(ab).all() and float(ab.abs().max()) <= 128.0
    assert padded_side(h) % 8 == 0 and padded_side(h) >= max(32, h)


def test_previous_frame_enters_the_colorization(net):
    g = torch.Generator().manual_seed(4)
    L = torch.rand(1, 1, 32, 48, generator=g) * 100
    with torch.inference_mode():
        ref = net.reference_keys(torch.rand(1, 3, 32, 48, generator=g), torch.randn(1, 2, 32, 48, generator=g) * 20)
        cold, _, _ = net(L, [ref], None)
        zeros_prev = torch.cat((torch.full_like(L, 50.0), torch.zeros(1, 2, 32, 48)), 1)  # L-50 = 0, ab = 0
        same, _, _ = net(L, [ref], zeros_prev)
        warm, _, _ = net(L, [ref], torch.cat((L, cold), 1))
    assert torch.equal(cold, same)          # a chain start feeds zeros, as the official code does
    assert (warm - cold).abs().max() > 1e-3


def test_fast_rewrites_equal_the_published_layers():
    from nuke_colorize.networks.colornet import subsample_scale, upsample_conv
    g = torch.Generator().manual_seed(5)
    conv = torch.nn.Conv2d(16, 8, 3, 1, 1)
    down = torch.nn.Conv2d(16, 16, 1, stride=2, bias=False, groups=16)
    for h, w in ((6, 10), (7, 5)):
        x = torch.randn(1, 16, h, w, generator=g)
        with torch.inference_mode():
            direct = conv(F.interpolate(x, scale_factor=2, mode="nearest"))
            assert torch.allclose(upsample_conv(x, conv), direct, atol=1e-5)
            assert torch.allclose(subsample_scale(x, down), down(x), atol=1e-6)


def _published_colornet_forward(c, x):
    """ColorVidNet.forward as published: Upsample+conv Sequentials and strided 1x1 convs."""
    inorm, relu = F.instance_norm, F.relu
    x = relu(c.conv1_1(x))
    n1 = inorm(relu(c.conv1_2(x)))
    x = relu(c.conv2_2(relu(c.conv2_1(c.conv1_2norm_ss(n1)))))
    n2 = inorm(x)
    x = relu(c.conv3_3(relu(c.conv3_2(relu(c.conv3_1(c.conv2_2norm_ss(n2)))))))
    n3 = inorm(x)
    x = c.conv3_3norm_ss(n3)
    for i in (4, 5, 6, 7):
        for j in (1, 2, 3):
            x = relu(getattr(c, f"conv{i}_{j}")(x))
        x = inorm(x)
    x = relu(c.conv8_1(x) + c.conv3_3_short(n3))
    x = inorm(relu(c.conv8_3(relu(c.conv8_2(x)))))
    x = relu(c.conv9_1(x) + c.conv2_2_short(n2))
    x = inorm(relu(c.conv9_2(x)))
    x = relu(c.conv10_1(x) + c.conv1_2_short(n1))
    x = F.leaky_relu(c.conv10_2(x), 0.2)
    return torch.tanh(c.conv10_ab(x)) * 128


def test_colornet_equals_published_forward():
    c = DeepExemplarNet().load_official({r: _spec_state(r, 7) for r in layout.ROLES}).color.eval()
    x = torch.randn(1, 7, 32, 48, generator=torch.Generator().manual_seed(6)) * 20
    with torch.inference_mode():
        assert torch.allclose(c(x), _published_colornet_forward(c, x), atol=1e-2)  # outputs span +-128; float summation order varies by CPU


def test_vgg_feature_strides(net):
    with torch.inference_mode():
        r22, r32, r42, r52 = net.vgg(torch.randn(1, 3, 64, 96))
    assert [tuple(t.shape) for t in (r22, r32, r42, r52)] == [
        (1, 128, 32, 48), (1, 256, 16, 24), (1, 512, 8, 12), (1, 512, 4, 6)]
    assert min(float(t.min()) for t in (r22, r32, r42, r52)) >= 0.0      # after ReLU
