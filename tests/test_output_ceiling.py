"""An integer output (PNG, 8-bit) of a scene-linear plate keeps the plate's luminance: colour
that the file would clip above 1.0 is pulled toward grey of the same luminance first, as for
display-referred plates."""
import numpy as np
import OpenImageIO as oiio

from nuke_colorize.cli import main
from nuke_colorize.color import linear_to_srgb

LUMA = np.array([0.2126, 0.7152, 0.0722])


def _write(path, px, fmt):
    spec = oiio.ImageSpec(px.shape[1], px.shape[0], px.shape[2], fmt)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec)
    out.write_image(np.ascontiguousarray(px, np.float32))
    out.close()


def test_png_output_of_a_linear_plate_keeps_its_luminance(tmp_path):
    h, w = 36, 64
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    colour = np.stack([0.2 + 0.7 * xx / w, 0.15 + 0.5 * yy / h, 0.9 - 0.8 * xx / w], -1)   # bright, saturated
    y = colour @ LUMA.astype(np.float32)
    for f in (1, 2, 3):
        _write(tmp_path / f"plate.{f:04d}.exr", np.repeat(y[..., None], 3, -1), oiio.HALF)
    _write(tmp_path / "key.exr", colour, oiio.HALF)
    rc = main(["render", "--plate", str(tmp_path / "plate.####.exr"), "--ref", f"1={tmp_path / 'key.exr'}",
               "--out", str(tmp_path / "out" / "c.####.png"), "--saturation", "4"])
    assert rc == 0
    plate_y = oiio.ImageBuf(str(tmp_path / "plate.0002.exr")).get_pixels(oiio.FLOAT)[..., 0]
    out = oiio.ImageBuf(str(tmp_path / "out" / "c.0002.png")).get_pixels(oiio.FLOAT)   # sRGB codes / 255
    assert out.max() <= 1.0
    lin = np.where(out <= 0.04045, out / 12.92, ((out + 0.055) / 1.055) ** 2.4)
    codes = np.abs(linear_to_srgb(lin @ LUMA) - linear_to_srgb(plate_y.astype(np.float64))) * 255
    assert codes.max() < 1.5          # 8-bit quantisation of each channel only
