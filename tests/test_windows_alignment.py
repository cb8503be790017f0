"""Keyframes and mattes line up with a plate by their data and display windows, as in a
compositor: a file with the plate's display window (format) is placed by its data window and
exactly the plate's data window is taken; other files are resampled by shape as before."""
from __future__ import annotations

import numpy as np
import OpenImageIO as oiio
import pytest

from nuke_colorize import color
from nuke_colorize.errors import InputError
from nuke_colorize.io import PlateSource, read_image
from nuke_colorize.io.matte import MatteReader
from nuke_colorize.io.windows import Windows, overlap, place
from nuke_colorize.pipeline import ReferenceInput
from nuke_colorize.render import (PlateLuma, RefSpec, RenderJob, load_reference, make_colorizer,
                                  place_keyframe, run_render)

FORMAT = (0, 0, 128, 72)            # display window of every plate here
CROP = (16, 9, 64, 36)              # a data window inside the format
OVERSCAN = (-16, -9, 160, 90)       # a data window beyond it
FAST = {"feature_size": 96}


def _write(path, px, window, display=FORMAT, fmt="half", channels=("R", "G", "B")):
    """Write (H, W, C) float pixels as the data window ``window`` of ``display`` (OpenImageIO)."""
    px = np.ascontiguousarray(px, np.float32)
    if px.ndim == 2:
        px = px[..., None]
    h, w, c = px.shape
    assert (w, h) == tuple(window[2:])
    spec = oiio.ImageSpec(w, h, c, fmt)
    spec.channelnames = tuple(channels)
    spec.x, spec.y = window[:2]
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = display
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), out.geterror()
    assert out.write_image(px), out.geterror()
    assert out.close()
    return str(path)


def _scene(window, shift=0):
    """(h, w, 3) linear colour of the picture over ``window`` (display coordinates): smooth
    hues that differ everywhere, so colour put in the wrong place shows."""
    x0, y0, w, h = window
    yy, xx = np.mgrid[y0:y0 + h, x0 - shift:x0 + w - shift].astype(np.float32)
    rgb = np.stack([0.35 + 0.25 * np.sin(xx / 11.0), 0.30 + 0.20 * np.cos(yy / 9.0),
                    0.30 + 0.20 * np.sin((xx + yy) / 17.0)], -1)
    return rgb.astype(np.float32)


def _plate(folder, window, frames=(1, 2)):
    """A grey plate: the scene's luminance over ``window`` in the format, moving by 2 px a frame."""
    for f in frames:
        y = color.luminance(_scene(window, shift=2 * (f - 1)))
        _write(folder / f"p.{f:04d}.exr", np.repeat(y[..., None], 3, -1), window)
    return str(folder / "p.####.exr")


def _ab_error(out_path, truth_rgb, region=None):
    """Mean |a*b*| difference (a*b* units) between an output frame and the true colour."""
    ab_out = color.chroma_of(read_image(out_path).rgb)
    ab_true = color.chroma_of(truth_rgb)
    d = np.abs(ab_out - ab_true).sum(-1)
    return float(d[region].mean() if region is not None else d.mean())


def _render(tmp_path, plate, key, notes=None):
    job = RenderJob(plate=plate, frames=[1, 2], references=[RefSpec(path=key, frame=1)],
                    output=str(tmp_path / "out.####.exr"), settings=FAST)
    run_render(job, progress=False, warn=(notes.append if notes is not None else lambda m: None))
    return str(tmp_path / "out.0001.exr")


# ---------------------------------------------------------------- placing pixels
def test_place_takes_the_target_window_in_display_coordinates():
    px = np.arange(12, dtype=np.int32).reshape(3, 4)          # data window 4x3 at (2, 1)
    got = place(px, (2, 1, 4, 3), (1, 0, 6, 5), fill=0)
    assert got.shape == (5, 6)
    np.testing.assert_array_equal(got[1:4, 1:5], px)
    assert (got[0] == 0).all() and (got[4] == 0).all() and (got[:, 0] == 0).all() and (got[:, 5] == 0).all()
    edge = place(px.astype(np.float32), (2, 1, 4, 3), (1, 0, 6, 5))  # no fill: edge pixels repeat
    assert edge[0, 0] == px[0, 0] and edge[4, 5] == px[2, 3] and edge[2, 0] == px[1, 0]
    np.testing.assert_array_equal(place(px, (2, 1, 4, 3), (3, 2, 2, 1)), px[1:2, 1:3])
    assert place(px, (2, 1, 4, 3), (2, 1, 4, 3)) is px
    assert overlap((2, 1, 4, 3), (5, 3, 10, 10)) == 1 and overlap((0, 0, 2, 2), (2, 0, 2, 2)) == 0


# ---------------------------------------------------------------- keyframes
@pytest.mark.parametrize("window", [CROP, OVERSCAN], ids=["cropped", "overscan"])
def test_keyframe_painted_at_the_format_lands_on_the_plates_pixels(tmp_path, window):
    """A keyframe painted on the whole format (EXR, display = data window) of a plate whose data
    window is cropped or overscan: the output of the keyframe's frame has the painted colour at
    the right pixels (a*b* error ~0 where it was painted). Overscan pixels beyond the painting
    repeat its nearest edge pixel."""
    plate = _plate(tmp_path, window)
    key = _write(tmp_path / "key.exr", _scene(FORMAT), FORMAT)
    notes = []
    out = _render(tmp_path, plate, key, notes)
    x0, y0, w, h = window
    img = read_image(out)
    assert img.windows == Windows(window, FORMAT)
    painted = (slice(max(0, -y0), max(0, -y0) + min(h, 72)), slice(max(0, -x0), max(0, -x0) + min(w, 128)))
    err = _ab_error(out, _scene(window), painted)
    assert err < 0.1, err                             # stretched onto the data window: 10.96
    if window == OVERSCAN:
        assert any("holds 9216 of the plate's 14400 pixels" in n for n in notes), notes
        edge_rgb = place(_scene(FORMAT), FORMAT, window)             # what the rule puts there
        outside = np.ones((h, w), bool)
        outside[painted] = False
        assert _ab_error(out, edge_rgb, outside) < 0.5
    else:
        assert notes == [] or not any("holds" in n for n in notes)


def test_png_keyframe_at_the_display_size_is_placed_on_a_cropped_plate(tmp_path):
    """A PNG (no windows: its data window is the format at 0, 0) of the plate's display size."""
    plate = _plate(tmp_path, CROP)
    srgb = np.clip(color.from_linear(_scene(FORMAT), "srgb"), 0, 1)
    key = _write(tmp_path / "key.png", srgb, FORMAT, fmt="uint8")
    out = _render(tmp_path, plate, key)
    painted = read_image(key)
    truth = place(color.to_linear(painted.rgb, "srgb"), FORMAT, CROP)
    assert _ab_error(out, truth) < 0.1


def test_keyframe_painted_on_the_plates_data_window_is_unchanged(tmp_path):
    """An EXR with the plate's own windows, and a PNG of the data window's size (a painting of
    the plate's pixels that lost its windows), both keep lining up pixel for pixel."""
    plate = _plate(tmp_path, CROP)
    truth = _scene(CROP)
    for name, path in (("exr", _write(tmp_path / "key.exr", truth, CROP)),
                       ("png", _write(tmp_path / "key.png", np.clip(color.from_linear(truth, "srgb"), 0, 1),
                                      (0, 0, 64, 36), (0, 0, 64, 36), fmt="uint8"))):
        out = _render(tmp_path, plate, path)
        ref = place(color.to_linear(read_image(path).rgb, "srgb"), (0, 0, 64, 36), (0, 0, 64, 36)) \
            if name == "png" else truth
        assert _ab_error(out, ref) < 0.1, name


def test_place_keyframe_refuses_a_painting_outside_the_plates_data_window():
    plate = Windows(CROP, FORMAT)
    ref = ReferenceInput(rgb=np.ones((8, 8, 3), np.float32), frame=1, path="k.exr",
                         windows=Windows((100, 60, 8, 8), FORMAT))
    with pytest.raises(InputError, match=r"data window 8x8 at \(100, 60\) lies outside the plate's data window "
                                         r"64x36 at \(16, 9\)"):
        place_keyframe(ref, plate)
    other = ReferenceInput(rgb=np.ones((36, 64, 3), np.float32), frame=1, windows=Windows.of_size(64, 36))
    assert place_keyframe(other, plate) is other      # another format: resampled by shape later
    assert place_keyframe(ReferenceInput(rgb=other.rgb, frame=1), plate).windows is None


# ---------------------------------------------------------------- mattes
def _matte_file(path, window, display, box):
    """A float Y matte over ``window`` with 1 inside ``box`` = (x, y, w, h) in display coordinates."""
    x0, y0, w, h = window
    m = np.zeros((h, w), np.float32)
    bx, by, bw, bh = box
    m[max(0, by - y0):max(0, by + bh - y0), max(0, bx - x0):max(0, bx + bw - x0)] = 1.0
    return _write(path, m, window, display, channels=("Y",))


def _expected(plate_window, box):
    x0, y0, w, h = plate_window
    want = np.zeros((h, w), np.int32)
    bx, by, bw, bh = box
    want[max(0, by - y0):max(0, by + bh - y0), max(0, bx - x0):max(0, bx + bw - x0)] = 1
    return want


@pytest.mark.parametrize("plate_window", [(0, 0, 64, 36), (8, 4, 40, 24), (-8, -4, 80, 44)],
                         ids=["full", "cropped", "overscan"])
def test_matte_with_an_offset_data_window_marks_exactly_its_pixels(tmp_path, plate_window):
    """A matte EXR with data window 32x18 at (16, 9) in a 64x36 format (its object 10x6 at
    (20, 12)) on plates with the same format: the object covers 60 pixels at the right place,
    everything outside the matte's data window is background."""
    fmt, box = (0, 0, 64, 36), (20, 12, 10, 6)
    path = _matte_file(tmp_path / "m.0001.exr", (16, 9, 32, 18), fmt, box)
    reader = MatteReader(str(tmp_path / "m.####.exr"), plate_window[2:], lambda f: Windows(plate_window, fmt))
    ids = reader(1)
    np.testing.assert_array_equal(ids, _expected(plate_window, box))
    assert int(ids.sum()) == 60 and reader.read_files == [path]


def test_matte_of_another_format_is_still_resampled(tmp_path):
    """A half-resolution matte (format 32x18, no offset) of a 64x36 plate: resampled as before;
    a PNG matte at the display size on a cropped plate: cropped by the windows."""
    _matte_file(tmp_path / "half.0001.exr", (0, 0, 32, 18), (0, 0, 32, 18), (10, 6, 5, 3))
    reader = MatteReader(str(tmp_path / "half.####.exr"), (64, 36), lambda f: Windows.of_size(64, 36))
    np.testing.assert_array_equal(reader(1), _expected((0, 0, 64, 36), (20, 12, 10, 6)))
    m = np.zeros((36, 64, 1), np.float32)
    m[12:18, 20:30] = 3 / 255.0                      # ID 3 in an 8-bit ID matte
    _write(tmp_path / "png.0001.png", m, (0, 0, 64, 36), (0, 0, 64, 36), fmt="uint8", channels=("Y",))
    crop = (8, 4, 40, 24)
    reader = MatteReader(str(tmp_path / "png.####.png"), crop[2:], lambda f: Windows(crop, (0, 0, 64, 36)))
    np.testing.assert_array_equal(reader(1), 3 * _expected(crop, (20, 12, 10, 6)))


def test_render_reads_mattes_by_the_plates_windows(tmp_path):
    """Through make_colorizer (render --matte): the plate's windows reach the matte reader."""
    plate = _plate(tmp_path, CROP, frames=(1,))
    _matte_file(tmp_path / "m.0001.exr", (32, 18, 64, 36), FORMAT, (40, 20, 20, 12))
    key = _write(tmp_path / "key.exr", _scene(FORMAT), FORMAT)
    job = RenderJob(plate=plate, frames=[1], references=[RefSpec(path=key, frame=1)],
                    output=str(tmp_path / "out.####.exr"), settings=FAST, matte=str(tmp_path / "m.####.exr"))
    with PlateSource(plate, [1]) as source:
        col = make_colorizer(job, source, PlateLuma(source, "auto", lambda m: None), lambda m: None)
        np.testing.assert_array_equal(col.matte_fn(1), _expected(CROP, (40, 20, 20, 12)))
        assert col.inputs[0].rgb.shape == (36, 64, 3)
        np.testing.assert_allclose(col.inputs[0].rgb, load_reference(RefSpec(key, 1)).rgb[9:45, 16:80])


def test_formats_without_the_windows_say_what_they_keep_of_them(tmp_path):
    """What write_image stores of a plate's windows per format is now said in a note, which a
    render gives once: an overscan plate (data 256x144 at (-16, -8) in a 224x128 format) as
    TIFF, PNG or DPX is the data window alone; a cropped one (data 256x144 at (20, 10) in
    296x164) as TIFF keeps its data window but not the format; a DPX of a format at (-30, -20)
    keeps the windows moved together. EXR keeps all, any format a plain frame. Before, these
    outputs were written without a word."""
    from nuke_colorize.io import read_image, write_image
    from nuke_colorize.io.image import describe_window_losses
    from nuke_colorize.io.windows import Windows

    overscan = Windows((-16, -8, 256, 144), (0, 0, 224, 128))
    cropped = Windows((20, 10, 256, 144), (0, 0, 296, 164))
    offset = Windows((-30, -20, 256, 144), (-30, -20, 256, 144))
    for ext in ("tif", "png", "dpx"):
        text = describe_window_losses(f"/o/c.####.{ext}", overscan)
        assert "no place for the plate's data window 256x144 at (-16, -8) in its format 224x128 at (0, 0)" in text
        assert "the output's picture is the data window alone, at (0, 0)" in text
    assert "TIFF keeps the plate's data window 256x144 at (20, 10) but not its format 296x164 at (0, 0)" in \
        describe_window_losses("/o/c.tif", cropped)
    assert "keeps the display window's size, not its origin" in describe_window_losses("/o/c.dpx", offset)
    assert describe_window_losses("/o/c.exr", overscan) is None
    assert describe_window_losses("/o/c.png", Windows((0, 0, 256, 144), (0, 0, 256, 144))) is None
    # the note matches the file written
    like = tmp_path / "plate.exr"
    spec = oiio.ImageSpec(256, 144, 3, "half")
    spec.x, spec.y = 20, 10
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, 296, 164
    out = oiio.ImageOutput.create(str(like))
    assert out.open(str(like), spec) and out.write_image(np.zeros((144, 256, 3), np.float32)) and out.close()
    plate = read_image(str(like))
    write_image(str(tmp_path / "o.tif"), plate.rgb, ["R", "G", "B"], like=plate)
    back = read_image(str(tmp_path / "o.tif")).windows
    assert tuple(back.data) == (20, 10, 256, 144) and tuple(back.display) != (0, 0, 296, 164)
