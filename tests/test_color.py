"""Colour science: transfer functions, Lab round trip, luminance-keeping recombination."""
import numpy as np
import pytest

from nuke_colorize import color


def test_srgb_round_trip_and_known_values():
    v = np.linspace(-0.2, 1.5, 101, dtype=np.float32)
    assert np.allclose(color.linear_to_srgb(color.srgb_to_linear(v)), v, atol=1e-5)
    assert color.srgb_to_linear(np.float32(0.5)) == pytest.approx(0.21404, abs=1e-4)
    assert color.linear_to_rec709(np.float32(0.01)) == pytest.approx(0.045, abs=1e-6)


def test_lab_known_values():
    white = color.rgb_to_lab(np.ones((1, 1, 3), np.float32))[0, 0]
    assert white == pytest.approx([100.0, 0.0, 0.0], abs=1e-3)
    red = color.rgb_to_lab(np.array([[[1.0, 0.0, 0.0]]], np.float32))[0, 0]
    assert red == pytest.approx([53.24, 80.09, 67.20], abs=0.05)   # sRGB red, D65
    assert color.y_to_L(np.float32(0.18)) == pytest.approx(49.496, abs=1e-2)


def test_recombine_keeps_luminance_and_pulls_out_of_gamut_colours_in():
    rng = np.random.default_rng(1)
    y = rng.uniform(0.001, 4.0, (64, 64)).astype(np.float32)      # scene-linear, above 1 too
    ab = rng.normal(0, 90, (64, 64, 2)).astype(np.float32)          # mostly out of gamut
    out = color.recombine(y, ab)
    rel = np.abs(color.luminance(out) - y) / y
    assert rel.max() <= 1e-3
    assert out.min() >= -1e-6                                       # gamut: no negative light
    # in-gamut colours come back unchanged
    rgb = rng.uniform(0.05, 1.0, (32, 32, 3)).astype(np.float32)
    back = color.recombine(color.luminance(rgb), color.chroma_of(rgb))
    assert np.abs(back - rgb).max() < 1e-4


def test_recombine_display_referred_bound_and_saturation_zero_is_grey():
    y = np.full((4, 4), 0.9, np.float32)
    ab = np.full((4, 4, 2), 60.0, np.float32)
    out = color.recombine(y, ab, max_value=1.0)
    assert out.max() <= 1.0 + 1e-6
    assert np.abs(color.luminance(out) - y).max() < 1e-5
    grey = color.recombine(y, ab, saturation=0.0)
    assert np.allclose(grey, 0.9, atol=1e-5)


def test_recombine_on_premultiplied_luminance_colours_the_unpremultiplied_pixel():
    """A premultiplied plate's edge pixel (alpha 0.5, 0.2) gets, once unpremultiplied, the same
    colour as an opaque pixel of the same content: chroma (20, 10) stays (20, 10). Put on the
    premultiplied luminance itself, it came out (25.2, 12.6) at alpha 0.5 and (34.2, 17.1) at
    0.2. The luminance is still the plate's; alpha 0 and 1 change nothing."""
    alpha = np.array([[1.0, 0.5, 0.2, 0.0]], np.float32)
    y = np.float32(0.4) * alpha
    y[0, 3] = 0.05                                      # an emissive pixel of alpha 0
    ab = np.tile(np.array([20.0, 10.0], np.float32), (1, 4, 1))
    out = color.recombine(y, ab, alpha=alpha)
    unpremultiplied = out[0, :3] / alpha[0, :3, None]
    assert color.chroma_of(unpremultiplied[None]) == pytest.approx(np.tile([20.0, 10.0], (1, 3, 1)), abs=1e-3)
    np.testing.assert_allclose(unpremultiplied, np.repeat(unpremultiplied[:1], 3, axis=0), rtol=1e-6)
    np.testing.assert_allclose(color.luminance(out), y, rtol=1e-6)
    np.testing.assert_array_equal(out[0, [0, 3]], color.recombine(y, ab)[0, [0, 3]])
    # bounded output: the unpremultiplied colour is kept below the bound, so the pixel too
    assert color.recombine(y, ab * 4, alpha=alpha, max_value=1.0).max() <= 1.0 + 1e-6
