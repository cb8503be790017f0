"""Plates with non-square pixels (anamorphic scans): read, seen desqueezed, written as they came."""
from __future__ import annotations

import types

import cv2
import numpy as np
import pytest

from nuke_colorize import color
from nuke_colorize.backends.deepexemplar import DeepExemplarBackend
from nuke_colorize.backends.exemplar import ExemplarBackend
from nuke_colorize.errors import InputError
from nuke_colorize.io import PlateSource, read_image, write_image
from nuke_colorize.pipeline import ReferenceInput, prepare_references
from nuke_colorize.render import RefSpec, RenderJob, check_keyframe_shape, run_render
from nuke_colorize.resample import clean_aspect, display_width, resample


def test_clean_aspect_and_display_width():
    for bad in (None, 0, -2.0, float("nan"), float("inf"), "wide", 1e9):
        assert clean_aspect(bad) == 1.0
    assert clean_aspect(2.0) == 2.0 and clean_aspect("0.9") == 0.9
    assert display_width(427, 2.0) == 854 and display_width(720, 0.9) == 648
    assert display_width(640, float("nan")) == 640


def test_resample_averages_the_shrinking_axis_and_interpolates_the_growing_one():
    # (4, 6): rows alternate 0 / 1 (averaged away when halving the height), columns ramp 0..5
    img = np.tile(np.arange(6, dtype=np.float32), (4, 1)) + np.array([[0.0], [1.0], [0.0], [1.0]], np.float32)
    out = resample(img, (11, 2))
    assert out.shape == (2, 11)
    # height halved by area: each output row is the mean of a 0-row and a 1-row
    # width enlarged linearly: the ramp stays a ramp of the same range
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)
    assert np.all(np.diff(out[0]) >= -1e-6) and out[0, 0] == pytest.approx(0.5, abs=1e-5)
    assert out[0, -1] == pytest.approx(5.5, abs=1e-5)
    flat = resample(np.full((6, 4, 3), 0.25, np.float32), (16, 3))
    assert flat.shape == (3, 16, 3) and np.allclose(flat, 0.25)
    same = np.ones((5, 5), np.float32)
    assert resample(same, (5, 5)) is same


def test_plate_source_reads_the_pixel_aspect(tmp_path):
    px = np.full((6, 8, 3), 0.2, np.float32)
    for f in (1, 2):
        write_image(str(tmp_path / f"ana.{f:04d}.exr"), px, ["R", "G", "B"], attributes={"PixelAspectRatio": 2.0})
        write_image(str(tmp_path / f"sq.{f:04d}.png"), px, ["R", "G", "B"])
    assert PlateSource(str(tmp_path / "ana.####.exr")).pixel_aspect == 2.0
    assert PlateSource(str(tmp_path / "sq.####.png")).pixel_aspect == 1.0


def test_exemplar_features_see_the_plate_desqueezed():
    """A 2x-squeezed plate at pixel aspect 2 gets the grid and, cell for cell, nearly the
    features of the unsqueezed picture; stills are never desqueezed."""
    rng = np.random.default_rng(3)
    blobs = cv2.GaussianBlur(rng.uniform(0, 100, (96, 192)).astype(np.float32), (0, 0), 6.0)
    L = np.clip((blobs - blobs.mean()) * 8.0 + 50.0, 0, 100).astype(np.float32)
    squeezed = cv2.resize(L, (96, 96), interpolation=cv2.INTER_AREA)
    settings = {"feature_size": 192}
    square, ana = ExemplarBackend(settings), ExemplarBackend(settings)
    ana.pixel_aspect = 2.0
    assert ana._grid_size(96, 96) == square._grid_size(192, 96)
    assert ana._grid_size(96, 96, plate=False) == square._grid_size(96, 96)
    f_true = square._features(L)
    f_desq = ana._features(squeezed)
    f_sq = square._features(squeezed)
    assert f_desq.shape == f_true.shape and f_sq.shape != f_true.shape
    cos = (f_true * f_desq).sum(-1).mean().item()
    assert cos > 0.8, cos
    # the plain (squeezed) grid, resampled onto the true one, agrees less
    gh, gw = square._grid_size(192, 96)[2][::-1]
    g = f_sq.reshape(square._grid_size(96, 96)[2][1], square._grid_size(96, 96)[2][0], -1).numpy()
    g = np.stack([cv2.resize(np.ascontiguousarray(g[..., c]), (gw, gh), interpolation=cv2.INTER_LINEAR)
                  for c in range(g.shape[-1])], -1).reshape(gh * gw, -1)
    g /= np.linalg.norm(g, axis=1, keepdims=True) + 1e-8
    plain = float((f_true.numpy() * g).sum(-1).mean())
    assert cos > plain + 0.1, (cos, plain)      # measured 0.90 against 0.64


def test_settings_key_names_a_pixel_aspect_other_than_one():
    b = ExemplarBackend()
    key = b.settings_key()
    assert "pixel_aspect" not in key
    b.pixel_aspect = 2.0
    assert b.settings_key()["pixel_aspect"] == 2.0 and b.settings_key()["settings"] == key["settings"]


def test_deepexemplar_works_at_the_display_aspect():
    fake = types.SimpleNamespace(settings={"working_size": 216}, pixel_aspect=2.0)
    assert DeepExemplarBackend.working_size(fake, 1024, 858) == (516, 216)
    fake.pixel_aspect = 1.0
    assert DeepExemplarBackend.working_size(fake, 1024, 858) == (258, 216)


def test_a_still_with_its_own_pixel_aspect_is_desqueezed():
    rgb = np.full((100, 50, 3), 0.3, np.float32)
    rgb[..., 0] = 0.6
    (ref,) = prepare_references([ReferenceInput(rgb=rgb, pixel_aspect=2.0)], 200, 100)
    assert ref.lab.shape[:2] == (200, 200)       # 100x100 picture, long side = working long side
    (key,) = prepare_references([ReferenceInput(rgb=rgb, frame=1)], 200, 100)
    assert key.lab.shape[:2] == (100, 200)       # a keyframe takes the plate's pixels


def test_keyframe_shape_accepts_the_plate_pixels_or_the_desqueezed_picture():
    plate = (1024, 858)
    ok_pixels = ReferenceInput(rgb=np.zeros((858, 1024, 3), np.float32), frame=1)
    ok_picture = ReferenceInput(rgb=np.zeros((429, 1024, 3), np.float32), frame=1)
    check_keyframe_shape(ok_pixels, plate, 2.0)
    check_keyframe_shape(ok_picture, plate, 2.0)
    with pytest.raises(InputError, match="another shape"):
        check_keyframe_shape(ReferenceInput(rgb=np.zeros((600, 1000, 3), np.float32), frame=1), plate, 2.0)


def test_anamorphic_render_keeps_pixels_aspect_and_luminance(tmp_path):
    """An EXR plate at pixel aspect 2 with a square-pixel still: the output has the plate's
    pixels and pixel aspect, and the plate's luminance."""
    rng = np.random.default_rng(0)
    h, w = 48, 40
    base = cv2.GaussianBlur(rng.uniform(0, 1, (h, 2 * w, 3)).astype(np.float32), (0, 0), 3.0)
    still = np.clip(base * np.array([1.4, 0.8, 0.5], np.float32), 0, 1)
    write_image(str(tmp_path / "still.exr"), still, ["R", "G", "B"])
    for f in (1, 2, 3):
        y = color.luminance(np.roll(still, f, axis=1))
        squeezed = cv2.resize(y, (w, h), interpolation=cv2.INTER_AREA)
        write_image(str(tmp_path / f"plate.{f:04d}.exr"), np.repeat(squeezed[..., None], 3, -1), ["R", "G", "B"],
                    attributes={"PixelAspectRatio": 2.0})
    job = RenderJob(plate=str(tmp_path / "plate.####.exr"), frames=[1, 2, 3],
                    references=[RefSpec(path=str(tmp_path / "still.exr"))], output=str(tmp_path / "out.####.exr"),
                    settings={"feature_size": 128})
    run_render(job, progress=False, warn=lambda m: None)
    for f in (1, 2, 3):
        out = read_image(str(tmp_path / f"out.{f:04d}.exr"))
        plate = read_image(str(tmp_path / f"plate.{f:04d}.exr"))
        assert (out.width, out.height) == (w, h) and out.pixel_aspect == 2.0
        y_out = color.luminance(out.rgb)
        y_in = plate.rgb[..., 0]
        np.testing.assert_allclose(y_out, y_in, rtol=3e-3, atol=1e-4)   # half-float output
        assert float(np.abs(color.chroma_of(out.rgb)).mean()) > 1.0      # it was coloured
