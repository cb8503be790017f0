"""A reference precomp carries the reference's alpha (which pixels carry colour) only when the
stream has one: a missing alpha must not reach the engine as a black one."""
from __future__ import annotations

import numpy as np

from hostkit import fake_nuke, make_ref, write_png  # noqa: F401  (fixture)


def test_reference_precomp_channels_follow_the_stream(fake_nuke, tmp_path):
    from nuke_colorize.host.nuke import sources
    rgb = tmp_path / "ref_rgb.png"
    make_ref(str(rgb))
    rgba = tmp_path / "ref_rgba.png"
    px = np.zeros((12, 16, 4), np.uint8)
    px[..., 0], px[..., 3] = 200, 255
    px[:, 8:, 3] = 0
    write_png(str(rgba), px)
    with_alpha = fake_nuke.nodes.Read(file=str(rgba))
    no_alpha = fake_nuke.nodes.Remove(operation="remove", channels="alpha")    # a stream without alpha
    no_alpha.setInput(0, fake_nuke.nodes.Read(file=str(rgb)))
    assert sources.precomp_channels(sources.REFERENCE, no_alpha) == "rgb"
    assert sources.precomp_channels(sources.REFERENCE, with_alpha) == "rgba"
    assert sources.precomp_channels(sources.PLATE, no_alpha) == "rgba"      # the plate as before
    assert sources.precomp_channels(sources.MATTE, with_alpha) == "all"
