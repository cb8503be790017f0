"""Output metadata is the same whether a frame was rendered through the shot cache or not."""
import json

import numpy as np

from conftest import write_oiio
from nuke_colorize.cli import main

W, H, N = 48, 32, 3


def _attr(path, name):
    import OpenImageIO as oiio
    return oiio.ImageInput.open(str(path)).spec().getattribute(name)


def test_relative_reference_paths_are_recorded_as_the_cache_records_them(tmp_path, monkeypatch):
    """A plain render recorded ``--ref`` as typed ("ref.png") while ``render --cache`` (its
    implied shot) recorded the absolute path, so the two wrote different bytes for the same
    pixels. Both record the absolute path now."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    for f in range(1, N + 1):
        y = 0.2 + 0.1 * np.sin(xx / 5 + f) * np.cos(yy / 4)
        write_oiio(tmp_path / "plate" / f"p.{f:04d}.exr", np.repeat(y[..., None], 3, -1), "half")
    write_oiio(tmp_path / "ref.png", np.full((H, W, 3), (200, 90, 40), np.uint8), "uint8")
    monkeypatch.chdir(tmp_path)
    common = ["--plate", "plate/p.####.exr", "--ref", "1=ref.png", "--set", "feature_size=64", "--quiet"]
    assert main(["render", *common, "--out", "plain/c.####.exr"]) == 0
    assert main(["render", *common, "--out", "cached/c.####.exr", "--cache", "cache", "--frames", "2-2"]) == 0
    want = [{"frame": 1, "image": str(tmp_path / "ref.png")}]
    assert json.loads(_attr(tmp_path / "plain/c.0002.exr", "nuke_colorize:references")) == want
    assert json.loads(_attr(tmp_path / "cached/c.0002.exr", "nuke_colorize:references")) == want
