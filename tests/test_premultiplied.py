"""A premultiplied plate with alpha (an EXR of a keyed element): the output is premultiplied as
the plate was, with the colour of each pixel's unpremultiplied content, its alpha unchanged."""
from __future__ import annotations

import numpy as np
import OpenImageIO as oiio
import pytest

from nuke_colorize import color
from nuke_colorize.io import read_image
from nuke_colorize.render import RefSpec, RenderJob, run_render

W, H = 64, 36


def _scene():
    """(H, W, 3) linear colour: smooth hues that differ everywhere."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    return np.stack([0.35 + 0.25 * np.sin(xx / 11.0), 0.30 + 0.20 * np.cos(yy / 9.0),
                     0.30 + 0.20 * np.sin((xx + yy) / 17.0)], -1).astype(np.float32)


def _write(path, px, channels, fmt="half"):
    spec = oiio.ImageSpec(px.shape[1], px.shape[0], px.shape[2], fmt)
    spec.channelnames = tuple(channels)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), out.geterror()
    assert out.write_image(np.ascontiguousarray(px, np.float32))
    assert out.close()


@pytest.mark.parametrize("key_premultiplied", [False, True])
def test_keyframe_colour_on_a_premultiplied_plate_is_the_painted_colour_at_every_alpha(
        tmp_path, key_premultiplied):
    """Keyframe frame (its painted chroma is used as it is): where the plate's alpha is 0.5 or
    0.25, the unpremultiplied output has the keyframe's chroma, as where it is 1, whether the
    keyframe is opaque or premultiplied with the plate's alpha (painted over the keyed plate
    in a compositor). Before, the chroma went on the premultiplied luminance: for an opaque
    keyframe 1.26x the painted chroma at alpha 0.5 (mean a*b* error 7.6 there against 0.015
    at alpha 1), 1.59x at alpha 0.25 (error 15.0)."""
    rgb = _scene()
    alpha = np.ones((H, W), np.float32)
    alpha[:, 20:40] = 0.5
    alpha[:, 40:] = 0.25
    y = color.luminance(rgb) * alpha
    for f in (1, 2):
        _write(tmp_path / f"p.{f:04d}.exr", np.dstack([y, y, y, alpha]), ["R", "G", "B", "A"])
    if key_premultiplied:
        _write(tmp_path / "key.exr", np.dstack([rgb * alpha[..., None], alpha]), ["R", "G", "B", "A"], "float")
    else:
        _write(tmp_path / "key.exr", rgb, ["R", "G", "B"], "float")
    job = RenderJob(plate=str(tmp_path / "p.####.exr"), frames=[1, 2],
                    references=[RefSpec(path=str(tmp_path / "key.exr"), frame=1)],
                    output=str(tmp_path / "o.####.exr"), settings={"feature_size": 96})
    run_render(job, progress=False, warn=lambda m: None)
    out = read_image(str(tmp_path / "o.0001.exr"))
    np.testing.assert_array_equal(out.alpha, alpha)
    ab_out = color.chroma_of(np.maximum(out.rgb / out.alpha[..., None], 0))
    err = np.abs(ab_out - color.chroma_of(rgb)).sum(-1)
    for region in (np.s_[:, :20], np.s_[:, 20:40], np.s_[:, 40:]):
        assert err[region].mean() < 0.1, region
    # the luminance is the plate's (premultiplied), to half precision
    np.testing.assert_allclose(color.luminance(out.rgb), y, rtol=2e-3, atol=1e-4)
