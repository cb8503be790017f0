"""Log film scans: Cineon printing density read and written as Nuke's Cineon colourspace does."""
from __future__ import annotations

import numpy as np
import pytest

from nuke_colorize import color
from nuke_colorize.io import read_image, write_image
from nuke_colorize.render import RefSpec, RenderJob, output_colorspace, run_render


def test_cineon_known_code_values_and_round_trip():
    cv = np.array([95, 470, 685, 1023], np.float32) / 1023.0
    lin = color.cineon_to_linear(cv)
    np.testing.assert_allclose(lin[:3], [0.0, 0.1832, 1.0], atol=2e-4)
    assert 13.0 < lin[3] < 14.0                       # the top of the 10-bit range: ~13.5
    x = np.linspace(-0.005, 12.0, 1000).astype(np.float32)
    np.testing.assert_allclose(color.cineon_to_linear(color.linear_to_cineon(x)), x, rtol=1e-5, atol=1e-6)
    assert color.linear_to_cineon(np.float32(-1.0)) == pytest.approx(0.0, abs=1e-6)   # below code 0: code 0


def test_auto_reads_a_log_dpx_as_cineon_and_nothing_else():
    assert color.resolve_colorspace("auto", False, log_encoded=True) == "cineon"
    assert color.resolve_colorspace("auto", False) == "srgb"
    assert color.resolve_colorspace("auto", True) == "linear"
    assert color.resolve_colorspace("srgb", False, log_encoded=True) == "srgb"   # explicit wins


def _dpx(path, px, transfer):
    write_image(str(path), px, ["R", "G", "B"], attributes={"dpx:Transfer": transfer} if transfer else None)


@pytest.mark.parametrize("transfer,log", [("Printing density", True), ("Logarithmic", True),
                                          ("Linear", False), (None, False)])
def test_dpx_header_decides(tmp_path, transfer, log):
    _dpx(tmp_path / "a.dpx", np.full((4, 6, 3), 0.5, np.float32), transfer)
    assert read_image(str(tmp_path / "a.dpx")).log_encoded is log


def test_output_colourspace_of_a_log_plate():
    assert output_colorspace("auto", "o.####.dpx", "cineon") == "cineon"
    assert output_colorspace("auto", "o.####.exr", "cineon") == "linear"
    assert output_colorspace("auto", "o.####.png", "cineon") == "srgb"
    # a .sxr is written as EXR (half float): linear, as --colorspace auto reads it back
    assert output_colorspace("auto", "o.####.sxr", "srgb") == "linear"
    assert output_colorspace("auto", "o.####.dpx", "srgb") == "srgb"


def test_log_dpx_plate_renders_to_log_dpx_keeping_luminance(tmp_path):
    """A 10-bit printing-density DPX plate and a colour still: the output DPX is Cineon log
    again (tagged so), and its decoded luminance is the plate's (to 10-bit precision)."""
    rng = np.random.default_rng(1)
    h, w = 40, 56
    import cv2
    still = np.clip(cv2.GaussianBlur(rng.uniform(0, 1, (h, w, 3)).astype(np.float32), (0, 0), 3.0)
                    * np.array([1.5, 0.9, 0.4], np.float32), 0.02, 1.0)
    write_image(str(tmp_path / "still.exr"), still, ["R", "G", "B"])
    notes = []
    for f in (1, 2):
        y = color.luminance(np.roll(still, 2 * f, axis=1))
        log = color.linear_to_cineon(np.repeat(y[..., None], 3, -1))
        _dpx(tmp_path / f"plate.{f:04d}.dpx", log, "Printing density")
    job = RenderJob(plate=str(tmp_path / "plate.####.dpx"), frames=[1, 2],
                    references=[RefSpec(path=str(tmp_path / "still.exr"))], output=str(tmp_path / "out.####.dpx"),
                    settings={"feature_size": 128})
    run_render(job, progress=False, warn=notes.append)
    assert any("printing-density log" in n for n in notes)
    for f in (1, 2):
        out = read_image(str(tmp_path / f"out.{f:04d}.dpx"))
        plate = read_image(str(tmp_path / f"plate.{f:04d}.dpx"))
        assert out.log_encoded and str(out.spec.getattribute("dpx:Transfer")) == "Printing density"
        y_out = color.luminance(color.cineon_to_linear(out.rgb))
        y_in = color.luminance(color.cineon_to_linear(plate.rgb))
        # 10-bit Cineon steps are ~0.77% in linear: within two steps
        np.testing.assert_allclose(y_out, y_in, rtol=0.016, atol=2e-3)
        assert float(np.abs(color.chroma_of(color.cineon_to_linear(out.rgb))).mean()) > 1.0
