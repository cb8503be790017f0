"""Colour spaces per reference and OCIO working spaces (ACEScg) end to end."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from nuke_colorize import color
from nuke_colorize.errors import InputError
from nuke_colorize.io import read_image, write_image
from nuke_colorize.render import RefSpec, RenderJob, run_render
from nuke_colorize.shot import Shot


def test_a_reference_may_carry_its_own_colourspace(tmp_path):
    for f in (1, 2, 3):   # job() checks the plate has the shot's frames
        write_image(str(tmp_path / f"p.{f:04d}.exr"), np.full((4, 6, 3), 0.2, np.float32), ["R", "G", "B"])
    data = {"plate": str(tmp_path / "p.####.exr"), "frames": [1, 3],
            "references": [{"frame": 1, "image": "key.exr", "colorspace": "ACEScg"}, {"image": "still.png"}],
            "cache": str(tmp_path / "cache")}
    shot = Shot.from_dict(data, str(tmp_path))
    key, still = shot.job().references
    assert key.colorspace == "ACEScg" and still.colorspace is None
    assert shot.to_dict()["references"][0]["colorspace"] == "ACEScg"
    data["references"][0]["colorspace"] = 7
    with pytest.raises(InputError, match="'colorspace' must be a colourspace name"):
        Shot.from_dict(data, str(tmp_path))


def test_acescg_plate_and_reference_render_back_to_acescg(tmp_path):
    """Plate, still and output in ACEScg (OpenImageIO's built-in OCIO config): the output's
    luminance, decoded from ACEScg, is the plate's; written in ACEScg numbers, not Rec.709 ones."""
    import OpenImageIO as oiio
    if "ACEScg" not in oiio.ColorConfig().getColorSpaceNames():
        pytest.skip("the OCIO config in use ($OCIO) has no colourspace named ACEScg")
    rng = np.random.default_rng(2)
    h, w = 36, 48
    lin709 = np.clip(cv2.GaussianBlur(rng.uniform(0, 1, (h, w, 3)).astype(np.float32), (0, 0), 3.0)
                     * np.array([1.6, 0.8, 0.4], np.float32), 0.01, 1.0)
    write_image(str(tmp_path / "still.exr"), color.from_linear(lin709, "ACEScg"), ["R", "G", "B"])
    for f in (1, 2):
        y = color.luminance(np.roll(lin709, f, axis=0))
        grey = np.repeat(y[..., None], 3, -1)               # a grey is the same in ACEScg and Rec.709
        write_image(str(tmp_path / f"plate.{f:04d}.exr"), grey, ["R", "G", "B"])
    job = RenderJob(plate=str(tmp_path / "plate.####.exr"), frames=[1, 2],
                    references=[RefSpec(path=str(tmp_path / "still.exr"), colorspace="ACEScg")],
                    output=str(tmp_path / "out.####.exr"), colorspace="ACEScg", out_colorspace="ACEScg",
                    settings={"feature_size": 128})
    run_render(job, progress=False, warn=lambda m: None)
    for f in (1, 2):
        out = read_image(str(tmp_path / f"out.{f:04d}.exr")).rgb
        plate = read_image(str(tmp_path / f"plate.{f:04d}.exr")).rgb
        lin = color.to_linear(out, "ACEScg")
        np.testing.assert_allclose(color.luminance(lin), plate[..., 0], rtol=4e-3, atol=2e-4)
        # the numbers on disk are ACEScg: taken as Rec.709 their luminance would be off
        coloured = np.abs(color.chroma_of(lin)).sum(-1) > 20
        assert coloured.mean() > 0.2
        off = np.abs(color.luminance(out) - plate[..., 0])[coloured] / plate[..., 0][coloured]
        assert float(np.median(off)) > 0.01
