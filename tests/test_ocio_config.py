"""An explicit OCIO config (shot key ``ocio_config``, ``render --ocio-config``): OCIO colourspace
names are converted through it whatever ``$OCIO`` says, a config that cannot be loaded is
refused (OpenImageIO would silently fall back to its built-in one), and the shot's key follows
the config."""
from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from nuke_colorize import color
from nuke_colorize.cli import main
from nuke_colorize.errors import InputError
from nuke_colorize.io import read_image, write_image
from nuke_colorize.shot import Shot

# an ACES 1.x-style config (linear Rec.709 is "Utility - Linear - sRGB", which OpenImageIO does
# not take for ``lin_rec709`` by itself) with a studio working space: wider primaries than
# Rec.709, same white (rows sum to 1)
WIDE_TO_709 = np.array([[0.70, 0.20, 0.10], [0.05, 0.90, 0.05], [0.02, 0.08, 0.90]], np.float64)

CONFIG = """ocio_profile_version: 2

roles:
  default: Utility - Linear - sRGB
  scene_linear: Utility - Linear - sRGB
  reference: Utility - Linear - sRGB

displays:
  sRGB:
    - !<View> {name: Raw, colorspace: Utility - Linear - sRGB}

colorspaces:
  - !<ColorSpace>
    name: Utility - Linear - sRGB
    encoding: scene-linear
    isdata: false

  - !<ColorSpace>
    name: studio_wide
    encoding: scene-linear
    isdata: false
    to_scene_reference: !<MatrixTransform> {matrix: [%s, 0, 0, 0, 1]}
"""


@pytest.fixture
def config(tmp_path):
    m = WIDE_TO_709
    values = []
    for r in m:
        values += [float(v) for v in r] + [0.0]
    text = CONFIG % ", ".join(repr(v) for v in values[:12])
    path = tmp_path / "studio" / "config.ocio"
    path.parent.mkdir()
    path.write_text(text)
    return str(path)


def test_names_of_the_given_config_convert_through_it(config):
    wide = np.array([[[0.2, 0.5, 0.1], [1.0, 0.0, 0.0]]], np.float32)
    lin = color.to_linear(wide, "studio_wide", config=config)
    np.testing.assert_allclose(lin, wide @ WIDE_TO_709.T.astype(np.float32), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(color.from_linear(lin, "studio_wide", config=config), wide, rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="studio_wide"):   # OpenImageIO's built-in config has no such name
        color.to_linear(wide, "studio_wide", file="plate.0001.exr")


def test_a_config_that_cannot_be_loaded_is_refused(tmp_path):
    with pytest.raises(InputError, match="OCIO config not found"):
        color.check_ocio_config(str(tmp_path / "missing.ocio"))
    bad = tmp_path / "bad.ocio"
    bad.write_text("this is not an OCIO config\n")
    with pytest.raises(InputError, match="cannot load OCIO config"):
        color.check_ocio_config(str(bad))
    color.check_ocio_config("ocio://cg-config-v1.0.0_aces-v1.3_ocio-v2.1")   # OCIO's built-in configs
    color.check_ocio_config(None)


def test_an_ocio_env_that_does_not_load_is_named(tmp_path, config, monkeypatch, capsys):
    """$OCIO naming a config that does not load (a typo, a broken file): OpenImageIO falls back
    to a few names of its own, none of which converts, and the error said only that the name
    could not be converted, suggesting those names. It now says $OCIO does not load, and why."""
    grey = np.full((1, 1, 3), 0.5, np.float32)
    monkeypatch.setenv("OCIO", str(tmp_path / "mistyped" / "config.ocio"))
    with pytest.raises(InputError) as ei:
        color.to_linear(grey, "ACEScg", file="plate.0001.exr")
    assert "$OCIO does not load" in ei.value.problem and "mistyped" in str(ei.value)
    write_image(str(tmp_path / "p.0001.exr"), np.full((4, 6, 3), 0.2, np.float32), ["R", "G", "B"])
    cv2.imwrite(str(tmp_path / "still.png"), np.full((4, 6, 3), (10, 120, 200), np.uint8))
    code = main(["render", "--plate", str(tmp_path / "p.####.exr"), "--ref", str(tmp_path / "still.png"),
                 "--out", str(tmp_path / "out.####.exr"), "--colorspace", "ACEScg", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "$OCIO does not load" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out.0001.exr").exists()
    # a config that loads but lacks the name keeps the usual message (the config's own names)
    monkeypatch.setenv("OCIO", config)
    with pytest.raises(InputError, match="cannot convert colourspace 'ACEScg' to .* with OCIO"):
        color.to_linear(grey, "ACEScg")
    monkeypatch.delenv("OCIO")   # OpenImageIO's built-in config has it
    np.testing.assert_allclose(color.to_linear(grey, "ACEScg"), grey, atol=1e-6)


def _shot(tmp_path, **extra):
    data = {"plate": "p.####.exr", "frames": [1, 2], "references": [{"image": "still.png"}],
            "cache": "cache"}
    data.update(extra)
    return Shot.from_dict(data, str(tmp_path))


def test_shot_key_resolves_checks_and_follows_the_config(tmp_path, config, monkeypatch):
    for f in (1, 2):
        write_image(str(tmp_path / f"p.{f:04d}.exr"), np.full((4, 6, 3), 0.2, np.float32), ["R", "G", "B"])
    cv2.imwrite(str(tmp_path / "still.png"), np.full((4, 6, 3), (10, 120, 200), np.uint8))
    rel = os.path.relpath(config, str(tmp_path))
    shot = _shot(tmp_path, colorspace="studio_wide", ocio_config=rel)
    assert shot.ocio_config == config and shot.job().ocio_config == config
    assert shot.to_dict()["ocio_config"] == config
    with pytest.raises(InputError, match="OCIO config not found"):
        _shot(tmp_path, colorspace="studio_wide", ocio_config="nowhere/config.ocio")
    with pytest.raises(InputError, match="'ocio_config' must be"):
        _shot(tmp_path, ocio_config=3)

    key = shot.key()
    # the same config at another path with another mtime (a farm machine's copy): same key
    import shutil
    (tmp_path / "farm").mkdir()
    copy = shutil.copy(config, str(tmp_path / "farm" / "config.ocio"))
    os.utime(copy, ns=(10 ** 9, 10 ** 9))
    assert _shot(tmp_path, colorspace="studio_wide", ocio_config=copy).key() == key
    with open(config, "a") as fh:   # an edited config gives another result: another key
        fh.write("\n# edited\n")
    assert shot.key() != key
    # a shot without OCIO names does not depend on any config, not even $OCIO's
    plain = _shot(tmp_path)
    plain_key = plain.key()
    monkeypatch.setenv("OCIO", config)
    assert plain.key() == plain_key
    # OCIO names without a config of the shot's own go through $OCIO: its identity is in the key
    by_env = _shot(tmp_path, colorspace="studio_wide")
    env_key = by_env.key()
    with open(config, "a") as fh:
        fh.write("# edited again\n")
    assert by_env.key() != env_key


def test_render_with_a_studio_config_keeps_the_plates_luminance(tmp_path, config, monkeypatch):
    """Plate, still and output in the config's ``studio_wide`` space, $OCIO unset: the output's
    luminance decoded through the config is the plate's; without --ocio-config the name is
    unknown and the render stops with a clear line before writing anything."""
    monkeypatch.delenv("OCIO", raising=False)
    rng = np.random.default_rng(5)
    h, w = 36, 48
    lin709 = np.clip(cv2.GaussianBlur(rng.uniform(0, 1, (h, w, 3)).astype(np.float32), (0, 0), 3.0)
                     * np.array([1.5, 0.9, 0.4], np.float32), 0.01, 1.0)
    wide = color.from_linear(lin709, "studio_wide", config=config)
    write_image(str(tmp_path / "still.exr"), wide, ["R", "G", "B"])
    for f in (1, 2):
        y = color.luminance(np.roll(lin709, f, axis=0))
        write_image(str(tmp_path / f"plate.{f:04d}.exr"), np.repeat(y[..., None], 3, -1), ["R", "G", "B"])
    args = ["render", "--plate", str(tmp_path / "plate.####.exr"), "--frames", "1-2",
            "--ref", str(tmp_path / "still.exr"), "--out", str(tmp_path / "out.####.exr"),
            "--colorspace", "studio_wide", "--ref-colorspace", "studio_wide",
            "--out-colorspace", "studio_wide", "--set", "feature_size=128", "--quiet"]
    assert main(args) != 0                                   # no config: 'studio_wide' is unknown
    assert not (tmp_path / "out.0001.exr").exists()
    assert main(args + ["--ocio-config", str(tmp_path / "nope.ocio")]) != 0
    assert main(args + ["--ocio-config", config, "--json"]) == 0
    for f in (1, 2):
        out = read_image(str(tmp_path / f"out.{f:04d}.exr")).rgb
        plate = read_image(str(tmp_path / f"plate.{f:04d}.exr")).rgb
        lin = color.to_linear(out, "studio_wide", config=config)
        y_plate = color.luminance(color.to_linear(plate, "studio_wide", config=config))
        np.testing.assert_allclose(color.luminance(lin), y_plate, rtol=4e-3, atol=2e-4)
        coloured = np.abs(color.chroma_of(lin)).sum(-1) > 20
        assert coloured.mean() > 0.2
        # the numbers on disk are studio_wide ones: read as Rec.709 their luminance would be off
        off = np.abs(color.luminance(out) - y_plate)[coloured] / y_plate[coloured]
        assert float(np.median(off)) > 0.01


def test_shot_file_render_uses_its_config(tmp_path, config, monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    lin = np.zeros((24, 32, 3), np.float32)
    lin[:, :16] = (0.6, 0.1, 0.05)
    lin[:, 16:] = (0.05, 0.2, 0.6)
    cv2.imwrite(str(tmp_path / "still.png"), (np.clip(color.linear_to_srgb(lin), 0, 1)[..., ::-1] * 255).astype(np.uint8))
    y = color.luminance(lin)
    plate_wide = color.from_linear(np.repeat(y[..., None], 3, -1), "studio_wide", config=config)
    for f in (1, 2):
        write_image(str(tmp_path / f"plate.{f:04d}.exr"), plate_wide, ["R", "G", "B"])
    shot = {"plate": "plate.####.exr", "frames": [1, 2], "references": [{"image": "still.png"}],
            "colorspace": "studio_wide", "ocio_config": os.path.relpath(config, str(tmp_path)),
            "output": "out.####.exr", "settings": {"feature_size": 128}}
    (tmp_path / "shot.json").write_text(json.dumps(shot))
    assert main(["render", "--shot", str(tmp_path / "shot.json"), "--quiet"]) == 0
    out = read_image(str(tmp_path / "out.0001.exr")).rgb                # EXR auto: scene-linear Rec.709
    np.testing.assert_allclose(color.luminance(out), y, rtol=4e-3, atol=2e-4)
