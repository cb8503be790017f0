"""Every supported format round-trips through read_image / write_image with its metadata."""
from __future__ import annotations

import os

import numpy as np
import OpenImageIO as oiio
import pytest

from nuke_colorize.errors import InputError
from nuke_colorize.io import (OutputError, channel_layout, compose_channels, default_dtype, image_size,
                              read_image, write_image)


def _oiio_write(path, pixels, fmt, channels=None, origin=(0, 0), full=None, attrs=None):
    """Write with OpenImageIO directly (independent of the code under test)."""
    h, w, c = pixels.shape
    spec = oiio.ImageSpec(w, h, c, fmt)
    if channels:
        spec.channelnames = tuple(channels)
    spec.x, spec.y = origin
    if full:
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = full
    for k, v in (attrs or {}).items():
        if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], oiio.TypeDesc):
            spec.attribute(k, v[0], v[1])
        else:
            spec.attribute(k, v)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), out.geterror()
    assert out.write_image(np.ascontiguousarray(pixels, dtype=np.float32)), out.geterror()
    assert out.close()


def _ramp(h, w, c, lo=0.0, hi=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(lo, hi, size=(h, w, c)).astype(np.float32)


def test_exr_half_rgba_extra_channel_windows_and_metadata_round_trip(tmp_path):
    src = tmp_path / "in.exr"
    px = _ramp(6, 8, 5, -0.5, 4.0)          # scene-linear: negatives and values above 1
    px[..., 3] = np.linspace(0, 1, 48, dtype=np.float32).reshape(6, 8)
    px[..., 4] = np.inf                      # depth of empty background: allowed in extra channels
    tc = (0x01020304, 0)
    _oiio_write(src, px, "half", ["R", "G", "B", "A", "depth.Z"], origin=(10, 20), full=(0, 0, 64, 48),
                attrs={"nuke/shot": "sh010", "PixelAspectRatio": 2.0,
                       "smpte:TimeCode": (oiio.TypeTimeCode, tc), "compression": "zip"})
    img = read_image(str(src))
    assert img.pixels.shape == (6, 8, 5) and img.pixels.dtype == np.float32
    assert img.channels == ["R", "G", "B", "A", "depth.Z"]
    assert img.is_float_format and str(img.spec.format) == "half"
    assert img.origin == (10, 20) and img.display_window == (0, 0, 64, 48)
    assert img.pixel_aspect == 2.0 and image_size(str(src)) == (8, 6)
    assert img.extra_channel_names == ["depth.Z"]
    half = px.astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(img.rgb, half[..., :3])
    np.testing.assert_array_equal(img.alpha, half[..., 3])

    # Write a new colour on top, passing alpha + depth through, "like" the input.
    new_rgb = img.rgb[..., ::-1] * 0.5
    pixels, channels = compose_channels(new_rgb, img)
    assert channels == ["R", "G", "B", "A", "depth.Z"]
    out = tmp_path / "out.exr"
    write_image(str(out), pixels, channels, like=img, protected=[str(src)])
    back = read_image(str(out))
    assert back.channels == channels and str(back.spec.format) == "half"
    assert back.spec.getattribute("compression") == "zip"
    assert back.origin == (10, 20) and back.display_window == (0, 0, 64, 48) and back.pixel_aspect == 2.0
    assert back.spec.getattribute("nuke/shot") == "sh010"
    assert tuple(back.spec.getattribute("smpte:TimeCode")) == tc
    np.testing.assert_allclose(back.rgb, new_rgb, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(back.alpha, img.alpha)
    assert np.isinf(back.pixels[..., 4]).all()
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == []


def test_exr_float_on_request_and_attributes(tmp_path):
    px = _ramp(4, 5, 3, -1, 10)
    out = tmp_path / "f.exr"
    write_image(str(out), px, ["R", "G", "B"], dtype="float", compression="piz",
                attributes={"nuke_colorize:version": "0.1.0", "nuke_colorize:strength": 0.75})
    back = read_image(str(out))
    np.testing.assert_array_equal(back.pixels, px)
    assert str(back.spec.format) == "float" and back.spec.getattribute("compression") == "piz"
    assert back.spec.getattribute("nuke_colorize:version") == "0.1.0"
    assert back.spec.getattribute("nuke_colorize:strength") == pytest.approx(0.75)


def test_a_far_depth_beyond_half_range_leaves_the_colour_half(tmp_path):
    """Only the channels half cannot hold become float: a depth of 1e10 (the sky) no longer
    makes the colour 32-bit; a highlight in one colour channel makes all three float."""
    px = _ramp(4, 5, 5, 0, 2)
    px[..., 4] = 1e10
    write_image(str(tmp_path / "d.exr"), px, ["R", "G", "B", "A", "depth.Z"])
    spec = oiio.ImageInput.open(str(tmp_path / "d.exr")).spec()
    fmt = {n: str(spec.channelformat(i)) for i, n in enumerate(spec.channelnames)}
    assert fmt == {"R": "half", "G": "half", "B": "half", "A": "half", "depth.Z": "float"}
    back = read_image(str(tmp_path / "d.exr"))
    assert (back.pixels[..., back.channels.index("depth.Z")] == 1e10).all()
    px[..., 4] = 1.0
    px[0, 0, 1] = 7.0e4
    write_image(str(tmp_path / "g.exr"), px, ["R", "G", "B", "A", "depth.Z"])
    spec = oiio.ImageInput.open(str(tmp_path / "g.exr")).spec()
    fmt = {n: str(spec.channelformat(i)) for i, n in enumerate(spec.channelnames)}
    assert fmt == {"R": "float", "G": "float", "B": "float", "A": "half", "depth.Z": "half"}


def test_exr_default_is_half_unless_the_frame_exceeds_half_range(tmp_path):
    px = _ramp(4, 5, 3, 0, 2)
    write_image(str(tmp_path / "h.exr"), px, ["R", "G", "B"])
    assert str(read_image(str(tmp_path / "h.exr")).spec.format) == "half"
    px[1, 2] = (1.0e5, 7.0e4, -9.0e4)           # a float plate's highlight: Inf as half
    write_image(str(tmp_path / "f.exr"), px, ["R", "G", "B"])
    back = read_image(str(tmp_path / "f.exr"))
    assert str(back.spec.format) == "float" and np.isfinite(back.pixels).all()
    np.testing.assert_array_equal(back.pixels, px)


def test_writes_are_byte_identical_whatever_the_clock(tmp_path):
    """The EXR and TIFF writers stamp DateTime when none is given, and the DPX writer the path
    it writes to (our temporary file): a frame written again a second later (another farm
    task, a resumed render) must still be the same bytes."""
    import time
    px = _ramp(6, 5, 3, 0, 1)
    exts = ("exr", "tif", "dpx", "png")
    for ext in exts:
        write_image(str(tmp_path / "a" / ("f." + ext)), px, ["R", "G", "B"])
    time.sleep(1.1)
    for ext in exts:
        write_image(str(tmp_path / "b" / ("f." + ext)), px, ["R", "G", "B"])
        first = (tmp_path / "a" / ("f." + ext)).read_bytes()
        assert first == (tmp_path / "b" / ("f." + ext)).read_bytes(), ext
        assert not read_image(str(tmp_path / "a" / ("f." + ext))).spec.getattribute("DateTime")
        assert b".tmp-" not in first     # DPX keeps a file name in its header: the final one


def test_float_tiff_output_is_linear_like_exr():
    from nuke_colorize.render import output_colorspace
    assert output_colorspace("auto", "/o/c.####.tif", "linear", plate_is_float=True) == "linear"
    assert output_colorspace("auto", "/o/c.####.tiff", "srgb", plate_is_float=False) == "srgb"
    assert output_colorspace("auto", "/o/c.####.exr", "srgb") == "linear"


def test_multipart_exr_parts_become_extra_channels(tmp_path):
    path = str(tmp_path / "mp.exr")
    s1 = oiio.ImageSpec(5, 4, 3, "half")
    s1.attribute("name", "rgba")
    s2 = oiio.ImageSpec(5, 4, 1, "float")
    s2.channelnames = ("Z",)
    s2.attribute("name", "depth")
    out = oiio.ImageOutput.create(path)
    assert out.open(path, (s1, s2)), out.geterror()
    assert out.write_image(np.full((4, 5, 3), 0.5, np.float32))
    assert out.open(path, s2, "AppendSubimage"), out.geterror()
    assert out.write_image(np.full((4, 5, 1), 7.0, np.float32))
    assert out.close()
    img = read_image(path)
    assert img.channels == ["R", "G", "B", "depth.Z"]
    assert img.alpha is None and img.extra_channel_names == ["depth.Z"]
    assert (img.pixels[..., 3] == 7.0).all() and (img.rgb == 0.5).all()


def test_luminance_chroma_exr_chroma_is_colour_not_an_extra_channel(tmp_path):
    """A luminance/chroma EXR (Y RY BY, as OpenEXR writes YC images) with alpha and depth: its
    colour is Y, and RY / BY (its old chroma) are replaced by the output's RGB. Before, they
    were carried as extra channels: the output held R G B and the plate's RY = BY = -0.25
    beside them."""
    path = str(tmp_path / "yc.exr")
    px = np.zeros((4, 5, 5), np.float32)
    px[..., 0] = 0.18      # Y
    px[..., 1] = -0.25     # RY
    px[..., 2] = -0.25     # BY
    px[..., 3] = 1.0       # A
    px[..., 4] = 12.5      # depth.Z
    _oiio_write(path, px, "half", ["Y", "RY", "BY", "A", "depth.Z"])
    img = read_image(path)
    assert sorted(img.channels) == ["A", "BY", "RY", "Y", "depth.Z"]
    assert sorted(img.channels[i] for i in img.chroma_indices) == ["BY", "RY"]
    assert img.extra_channel_names == ["depth.Z"]
    pixels, names = compose_channels(np.full((4, 5, 3), 0.18, np.float32), img)
    assert names == ["R", "G", "B", "A", "depth.Z"]
    assert pixels.shape == (4, 5, 5) and (pixels[..., 4] == 12.5).all()
    # RY / BY beside R G B are no chroma of a Y: an RGB image's channels of those names stay extras
    _oiio_write(path, px[..., :5], "half", ["R", "G", "B", "RY", "BY"])
    assert read_image(path).extra_channel_names == ["BY", "RY"]


def _write_parts(path, parts):
    """A multi-part half EXR of ``parts``: (name, (H, W, C) pixels, channel names, (x, y))."""
    specs = []
    for name, px, chans, (x, y) in parts:
        spec = oiio.ImageSpec(px.shape[1], px.shape[0], px.shape[2], "half")
        spec.channelnames = tuple(chans)
        spec.x, spec.y = x, y
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, 8, 6
        spec.attribute("name", name)
        specs.append(spec)
    out = oiio.ImageOutput.create(path)
    assert out.open(path, tuple(specs)), out.geterror()
    for i, (_, px, _, _) in enumerate(parts):
        if i:
            assert out.open(path, specs[i], "AppendSubimage"), out.geterror()
        assert out.write_image(np.ascontiguousarray(px, dtype=np.float32)), out.geterror()
    assert out.close()


def test_multipart_exr_colour_is_the_part_naming_colour_and_skipped_parts_are_named(tmp_path):
    """A depth part written first: the colour is the rgba part's. Before, a depth part of its
    own data window (5x4 at 1,1) was read as the plate: its Z (50.0) taken for luminance and
    the colour part dropped; with one data window, depth's Z came out unnamed (``Z``). A part
    of another data window than the colour part's is not read, and is now named."""
    from nuke_colorize.render import skipped_parts_note

    path = str(tmp_path / "mp.exr")
    rgb = np.full((6, 8, 3), 0.18, np.float32)
    _write_parts(path, [("depth", np.full((4, 5, 1), 50.0, np.float32), ["Z"], (1, 1)),
                        ("rgba", rgb, ["R", "G", "B"], (0, 0))])
    img = read_image(path)
    assert img.size == (8, 6) and img.origin == (0, 0)
    assert img.channels == ["R", "G", "B"] and (img.rgb == np.float32(np.float16(0.18))).all()
    assert img.skipped_parts == ["depth (data window 5x4 at (1, 1))"]
    note = skipped_parts_note(img)
    assert "part depth (data window 5x4 at (1, 1)) of the multi-part plate is not carried" in note
    assert "colour part's data window 8x6 at (0, 0)" in note
    from nuke_colorize.io import read_spec
    assert (read_spec(path).width, read_spec(path).height) == (8, 6)   # the plate's size is the colour's

    _write_parts(path, [("depth", np.full((6, 8, 1), 50.0, np.float32), ["Z"], (0, 0)),
                        ("rgba", rgb, ["R", "G", "B"], (0, 0))])
    img = read_image(path)
    assert img.extra_channel_names == ["depth.Z"] and img.skipped_parts == []
    assert skipped_parts_note(img) is None
    assert compose_channels(img.rgb, img)[1] == ["R", "G", "B", "depth.Z"]


def test_32bit_integer_channels_are_read_exactly_on_request(tmp_path):
    """The float32 pixels hold a 32-bit integer to 24 bits (normalised to [0, 1]: 5 and 6 are
    1e-9 apart, 2^31 + 1 and 2^31 + 2 one value); ``exact=True`` reads such a channel, here
    in the second part of an EXR, at its own type: :meth:`stored_values` gives the integers,
    as it gives half channels' values as stored."""
    path = str(tmp_path / "ids.exr")
    s1 = oiio.ImageSpec(3, 1, 2, "half")
    s1.channelnames = ("R", "G")
    s2 = oiio.ImageSpec(3, 1, 1, "uint")
    s2.channelnames = ("id",)
    s2.attribute("name", "ids")
    ids = np.array([[[5], [2 ** 31 + 1], [2 ** 31 + 2]]], np.uint32)
    out = oiio.ImageOutput.create(path)
    assert out.open(path, (s1, s2)), out.geterror()
    assert out.write_image(np.array([[[7, 0], [2049, 0], [0.25, 0]]], np.float32))
    assert out.open(path, s2, "AppendSubimage"), out.geterror()
    assert out.write_image(ids)
    assert out.close()
    img = read_image(path, exact=True)
    assert img.channels == ["R", "G", "ids.id"] and img.stored_format(2) == "uint"
    assert img.stored_values(2).tolist() == [[5, 2 ** 31 + 1, 2 ** 31 + 2]]
    assert img.stored_values(0).tolist() == [[7, 2048, 0.25]]                # half: 2049 is 2048
    assert img.pixels[0, 1, 2] == img.pixels[0, 2, 2]                    # float32: one value
    with pytest.raises(ValueError, match="not read exactly"):
        read_image(path).stored_values(2)



def test_half_exr_output_keeps_float_alpha_and_extra_channels_bit_identical(tmp_path):
    """A float plate's alpha and a float depth (in the plate's part or a part of its own) pass
    through the default half EXR bit for bit; the new colour and a new layer are half. Before,
    every channel was written half: alpha off by up to 2.4e-4, depth (values ~1000) by 0.25."""
    src = str(tmp_path / "plate.exr")
    rgba_z = _ramp(6, 8, 5, 0.0, 1.0, seed=3)
    rgba_z[..., 4] = 1000.0 + 7.0 * rgba_z[..., 4]     # depth: needs float precision
    spec = oiio.ImageSpec(8, 6, 5, "float")
    spec.channelnames = ("R", "G", "B", "A", "depth.Z")
    spec.channelformats = tuple(oiio.TypeDesc(t) for t in ("half", "half", "half", "float", "float"))
    spec.attribute("name", "rgba")
    motion = oiio.ImageSpec(8, 6, 2, "float")
    motion.channelnames = ("u", "v")
    motion.attribute("name", "motion")
    uv = _ramp(6, 8, 2, -3.0, 3.0, seed=4)
    out = oiio.ImageOutput.create(src)
    assert out.open(src, (spec, motion)), out.geterror()
    assert out.write_image(rgba_z)
    assert out.open(src, motion, "AppendSubimage"), out.geterror()
    assert out.write_image(uv)
    assert out.close()
    img = read_image(src)
    assert img.channels == ["R", "G", "B", "A", "depth.Z", "motion.u", "motion.v"]
    assert [img.stored_format(i) for i in range(7)] == ["half"] * 3 + ["float"] * 4

    pixels, names = compose_channels(img.rgb * 0.5, img)
    pixels = np.concatenate([pixels, np.full((6, 8, 1), 0.3, np.float32)], axis=2)
    write_image(str(tmp_path / "out.exr"), pixels, names + ["confidence.Y"], like=img)
    back = read_image(str(tmp_path / "out.exr"))
    stored = {c: back.stored_format(i) for i, c in enumerate(back.channels)}   # EXR sorts layers
    assert stored == {"R": "half", "G": "half", "B": "half", "A": "float", "depth.Z": "float",
                      "motion.u": "float", "motion.v": "float", "confidence.Y": "half"}
    at = {c: back.pixels[..., i] for i, c in enumerate(back.channels)}
    np.testing.assert_array_equal(at["A"], rgba_z[..., 3])
    np.testing.assert_array_equal(at["depth.Z"], rgba_z[..., 4])
    np.testing.assert_array_equal(np.dstack([at["motion.u"], at["motion.v"]]), uv)
    np.testing.assert_array_equal(at["confidence.Y"], 0.3 * np.ones((6, 8), np.float16))

    # an 8-bit PNG's alpha (k/255, not a half value) into EXR: float, the values read exactly
    png = str(tmp_path / "p.png")
    _oiio_write(png, np.dstack([_ramp(6, 8, 3), np.arange(48, dtype=np.float32).reshape(6, 8) / 255]),
                "uint8", ["R", "G", "B", "A"])
    pimg = read_image(png)
    write_image(str(tmp_path / "p.exr"), *compose_channels(pimg.rgb, pimg), like=pimg)
    np.testing.assert_array_equal(read_image(str(tmp_path / "p.exr")).alpha, pimg.alpha)

def test_png_16bit_round_trip_keeps_bit_depth(tmp_path):
    src = tmp_path / "in.png"
    vals = (np.arange(4 * 6 * 3).reshape(4, 6, 3) * 911 % 65536).astype(np.float32) / 65535
    _oiio_write(src, vals, "uint16")
    img = read_image(str(src))
    assert not img.is_float_format and str(img.spec.format) == "uint16"
    np.testing.assert_allclose(img.pixels, vals, atol=1e-7)
    assert default_dtype("x.png", img) == "uint16"
    out = tmp_path / "out.png"
    write_image(str(out), img.pixels, img.channels, like=img)
    back = read_image(str(out))
    assert str(back.spec.format) == "uint16"
    np.testing.assert_allclose(back.pixels, vals, atol=1e-7)


def test_png_8bit_default_luminance_and_luminance_alpha(tmp_path):
    ya = _ramp(3, 4, 2)
    p = tmp_path / "ya.png"
    write_image(str(p), ya, ["Y", "A"])
    img = read_image(str(p))
    assert img.channels == ["Y", "A"] and str(img.spec.format) == "uint8"
    assert not img.premultiplied  # PNG alpha is unassociated; the values come back as written
    np.testing.assert_allclose(img.rgb, np.repeat(ya[..., :1], 3, axis=2), atol=0.5 / 255 + 1e-6)
    np.testing.assert_allclose(img.alpha, ya[..., 1], atol=0.5 / 255 + 1e-6)
    # PNG cannot hold extra channels: RGBA + 3 extras -> RGBA.
    seven = _ramp(3, 4, 7)
    write_image(str(tmp_path / "seven.png"), seven, ["R", "G", "B", "A", "x", "y", "z"])
    back = read_image(str(tmp_path / "seven.png"))
    assert back.channels == ["R", "G", "B", "A"]
    np.testing.assert_allclose(back.pixels, seven[..., :4], atol=0.5 / 255 + 1e-6)


def test_jpeg_8bit_round_trip(tmp_path):
    y, x = np.mgrid[0:32, 0:48].astype(np.float32)
    px = np.stack([x / 47, y / 31, 0.5 + 0 * x], axis=2)   # smooth: JPEG keeps it closely
    p = tmp_path / "a.jpg"
    write_image(str(p), np.concatenate([px, np.ones_like(px[..., :1])], 2), ["R", "G", "B", "A"])
    img = read_image(str(p))
    assert img.channels == ["R", "G", "B"] and str(img.spec.format) == "uint8" and not img.is_float_format
    assert np.abs(img.rgb - px).max() < 0.03


def test_tiff_float_round_trip_with_seven_channels(tmp_path):
    src = tmp_path / "in.tif"
    px = _ramp(5, 7, 7, -2, 8)
    _oiio_write(src, px, "float")
    img = read_image(str(src))
    assert img.is_float_format and str(img.spec.format) == "float"
    assert img.channels[:4] == ["R", "G", "B", "A"] and len(img.extra_channel_names) == 3
    np.testing.assert_array_equal(img.pixels, px)
    assert default_dtype("x.tif", img) == "float"
    out = tmp_path / "out.tif"
    write_image(str(out), img.pixels, img.channels, like=img)
    back = read_image(str(out))
    np.testing.assert_array_equal(back.pixels, px)
    assert back.channels == img.channels


def _read_premultiplied(path):
    """Pixels as an application honouring the file's alpha flag sees them (OpenImageIO's default
    read premultiplies unassociated alpha)."""
    inp = oiio.ImageInput.open(str(path))
    px = inp.read_image(oiio.FLOAT)
    inp.close()
    return np.asarray(px)


@pytest.mark.parametrize("unassociated", [0, 1])
def test_tiff_output_keeps_the_plates_alpha_association(tmp_path, unassociated):
    """A premultiplied TIFF plate (ExtraSamples "associated", what Nuke writes) gives a TIFF
    output that says premultiplied too, and an unassociated one stays unassociated. Before,
    every TIFF output said unassociated: readers multiplied the premultiplied colour by alpha
    again (here 0.575 under alpha 0.58 read back as 0.333)."""
    rgb = _ramp(6, 8, 3, 0.2, 1.0, seed=5)
    a = np.linspace(0.1, 1.0, 48, dtype=np.float32).reshape(6, 8)
    src = tmp_path / "plate.tif"
    _oiio_write(src, np.dstack([rgb * a[..., None], a]), "uint16", ["R", "G", "B", "A"],
                attrs={"oiio:UnassociatedAlpha": unassociated})
    img = read_image(str(src))
    assert img.premultiplied == (not unassociated)
    out = tmp_path / "out.tif"
    write_image(str(out), *compose_channels(img.rgb, img), like=img)
    back = read_image(str(out))
    assert back.premultiplied == img.premultiplied
    np.testing.assert_array_equal(back.pixels, img.pixels)
    np.testing.assert_allclose(_read_premultiplied(out), _read_premultiplied(src), atol=1e-6)

    # an EXR plate is premultiplied: its TIFF output says so
    exr = tmp_path / "plate.exr"
    _oiio_write(exr, np.dstack([rgb * a[..., None], a]), "float", ["R", "G", "B", "A"])
    eimg = read_image(str(exr))
    write_image(str(tmp_path / "e.tif"), *compose_channels(eimg.rgb, eimg), like=eimg)
    assert read_image(str(tmp_path / "e.tif")).premultiplied


def test_tiff_8_and_16_bit(tmp_path):
    px = _ramp(3, 4, 3)
    for dtype, step in (("uint8", 255), ("uint16", 65535)):
        p = tmp_path / f"{dtype}.tif"
        write_image(str(p), px, ["R", "G", "B"], dtype=dtype)
        back = read_image(str(p))
        assert str(back.spec.format) == dtype
        np.testing.assert_allclose(back.pixels, np.round(px * step) / step, atol=1e-6)
    assert default_dtype("x.tif") == "uint16"


def test_dpx_10bit_round_trip(tmp_path):
    codes = (np.arange(4 * 6 * 3).reshape(4, 6, 3) * 37 % 1024).astype(np.float32)
    px = codes / 1023
    p = tmp_path / "a.dpx"
    write_image(str(p), px, ["R", "G", "B"])      # default for .dpx: 10 bit
    img = read_image(str(p))
    assert img.spec.getattribute("oiio:BitsPerSample") == 10 and not img.is_float_format
    # OpenImageIO widens 10-bit codes to 16 bits by bit replication: exact after rounding.
    np.testing.assert_array_equal(np.round(img.pixels * 1023), codes)
    assert np.abs(img.pixels * 1023 - codes).max() < 0.02
    # 10-bit quantisation of arbitrary values: error at most half a code.
    q = _ramp(4, 6, 3)
    write_image(str(tmp_path / "q.dpx"), q, ["R", "G", "B"])
    assert np.abs(read_image(str(tmp_path / "q.dpx")).pixels - q).max() <= 0.52 / 1023   # rounded to the nearest code


@pytest.mark.parametrize("bits", [12, 16])
def test_dpx_output_keeps_a_12_or_16_bit_plates_precision(tmp_path, bits):
    """A 12- or 16-bit DPX plate's DPX output keeps its bit depth, so pixels that are the
    plate's come back as the same codes. Before, every DPX was written 10-bit: a 16-bit grey
    plate's values moved by up to half a 10-bit code (4.9e-4), 32 of its 16-bit codes."""
    codes = (np.arange(6 * 8 * 3).reshape(6, 8, 3) * 997 % (1 << bits)).astype(np.float32)
    src = tmp_path / "plate.dpx"
    _oiio_write(src, codes / ((1 << bits) - 1), "uint16", ["R", "G", "B"], attrs={"oiio:BitsPerSample": bits})
    img = read_image(str(src))
    assert default_dtype(str(tmp_path / "o.dpx"), img) == f"uint{bits}"
    write_image(str(tmp_path / "o.dpx"), img.rgb, ["R", "G", "B"], like=img)
    back = read_image(str(tmp_path / "o.dpx"))
    assert back.spec.getattribute("oiio:BitsPerSample") == bits
    np.testing.assert_array_equal(back.pixels, img.pixels)
    # 8-bit and float plates still give the 10-bit default
    assert default_dtype("o.dpx", _as_image(tmp_path, "uint8")) == "uint10"
    assert default_dtype("o.dpx", _as_image(tmp_path, "half")) == "uint10"


def _as_image(tmp_path, fmt):
    path = tmp_path / ("x.exr" if fmt == "half" else "x.png")
    _oiio_write(path, _ramp(2, 3, 3), fmt)
    return read_image(str(path))


@pytest.mark.parametrize("origin, display, want_data, want_display", [
    ((5, 3), (0, 0, 40, 30), (5, 3, 30, 20), (0, 0, 40, 30)),     # crop: kept
    ((-5, -3), (0, 0, 20, 14), (0, 0, 30, 20), (0, 0, 30, 20)),   # overscan: the data is the picture
    ((7, 9), (2, 4, 30, 20), (5, 5, 30, 20), (0, 0, 30, 20)),     # display origin: both moved
])
def test_dpx_output_keeps_the_data_window_in_its_place_in_the_format(tmp_path, origin, display,
                                                                       want_data, want_display):
    """DPX stores a data window origin (not a negative one) and the display window's size (not
    its origin). Before, an overscan plate's data window was put at 0, 0 in the kept 20x14
    format (the picture shifted 5, 3 pixels against it), and a display window at (2, 4) was
    put at 0, 0 under a data window left at (7, 9) (shifted 2, 4)."""
    src = tmp_path / "plate.exr"
    _oiio_write(src, _ramp(20, 30, 3), "half", origin=origin, full=display)
    img = read_image(str(src))
    write_image(str(tmp_path / "o.dpx"), img.rgb, ["R", "G", "B"], like=img)
    back = read_image(str(tmp_path / "o.dpx"))
    assert back.windows.data == want_data and back.windows.display == want_display
    np.testing.assert_allclose(back.pixels, img.pixels, atol=0.52 / 1023)


def _gray_icc_profile() -> np.ndarray:
    """A minimal ICC v2 Gray profile (gamma 2.2, D50 white), as a grey scan carries, as bytes."""
    import struct

    def s15(*v):
        return b"".join(struct.pack(">i", round(x * 65536)) for x in v)
    tags = [(b"wtpt", b"XYZ \0\0\0\0" + s15(0.9642, 1.0, 0.8249)),
            (b"kTRC", b"curv\0\0\0\0" + struct.pack(">IH", 1, 563) + b"\0\0")]
    table, data, off = struct.pack(">I", len(tags)), b"", 128 + 4 + 12 * len(tags)
    for sig, body in tags:
        table += sig + struct.pack(">II", off + len(data), len(body))
        data += body
    size = off + len(data)
    head = (struct.pack(">I", size) + b"none" + struct.pack(">I", 0x02100000) + b"mntrGRAYXYZ "
            + b"\0" * 12 + b"acspAPPL" + b"\0" * 24 + s15(0.9642, 1.0, 0.8249) + b"none" + b"\0" * 44)
    assert len(head) == 128
    return np.frombuffer(head + table + data, np.uint8)


@pytest.mark.parametrize("ext", ["tif", "jpg"])
def test_output_does_not_carry_the_plates_icc_profile(tmp_path, ext):
    """A grey scan's Gray ICC profile describes its encoding, not the output's (RGB, in the
    output colourspace). Before, it was copied: an RGB TIFF/JPEG with a 'GRAY' profile, which
    colour-managed applications refuse or misread."""
    prof = _gray_icc_profile()
    src = tmp_path / "plate.tif"
    _oiio_write(src, _ramp(6, 8, 1), "uint16", ["Y"],
                attrs={"ICCProfile": (oiio.TypeDesc(f"uint8[{len(prof)}]"), prof), "Artist": "scan dept"})
    img = read_image(str(src))
    assert len(img.spec.getattribute("ICCProfile")) == len(prof)
    write_image(str(tmp_path / f"o.{ext}"), img.rgb * np.float32([1.0, 0.8, 0.6]), ["R", "G", "B"], like=img)
    back = read_image(str(tmp_path / f"o.{ext}"))
    assert back.spec.getattribute("ICCProfile") is None
    assert back.spec.getattribute("Artist") == "scan dept"      # other metadata still carried


def test_integer_write_clips_and_zeroes_nan(tmp_path):
    px = np.array([[[-0.5, 1.5, np.nan]]], np.float32)
    p = tmp_path / "c.png"
    write_image(str(p), px, ["R", "G", "B"])
    np.testing.assert_array_equal(read_image(str(p)).pixels, [[[0.0, 1.0, 0.0]]])


def test_write_refuses_protected_inputs(tmp_path):
    src_dir = tmp_path / "plate"
    src_dir.mkdir()
    frame = src_dir / "p.0003.exr"
    px = _ramp(2, 2, 3)
    write_image(str(frame), px, ["R", "G", "B"])
    before = frame.read_bytes()
    os.symlink(src_dir, tmp_path / "alias")
    cases = [
        (str(frame), [str(frame)]),
        (str(frame), [str(src_dir / "p.####.exr")]),                 # any frame of a protected pattern
        (str(tmp_path / "alias" / "p.0003.exr"), [str(src_dir / "p.%04d.exr")]),
        (str(src_dir / "p.0003.exr"), [str(tmp_path / "alias" / "p.0003.exr")]),
        (str(src_dir / ".." / "plate" / "p.0003.exr"), [str(frame)]),
    ]
    for target, protected in cases:
        with pytest.raises(OutputError) as err:
            write_image(target, px * 0, ["R", "G", "B"], protected=protected)
        assert isinstance(err.value, InputError) and "refusing to write over an input" in str(err.value)
    assert frame.read_bytes() == before
    # Other frames / names are fine.
    write_image(str(src_dir / "p.0003.col.exr"), px, ["R", "G", "B"], protected=[str(src_dir / "p.####.exr")])
    write_image(str(src_dir / "p.003.exr"), px, ["R", "G", "B"], protected=[str(src_dir / "p.####.exr")])


def test_failing_writer_leaves_no_temp_and_no_final_file(tmp_path, monkeypatch):
    """The OpenImageIO writer dies half way (here: Ctrl-C): no temp file, previous file intact."""
    final = tmp_path / "out.exr"
    final.write_bytes(b"previous render")

    class _DyingOutput:
        @staticmethod
        def create(path):
            return _DyingOutput()

        def supports(self, what):
            return True

        def open(self, path, spec):
            with open(path, "wb") as fh:
                fh.write(b"\x76\x2f\x31\x01partial")
            return True

        def write_image(self, pixels):
            raise KeyboardInterrupt

        def geterror(self):
            return ""

        def close(self):
            return True

    monkeypatch.setattr(oiio, "ImageOutput", _DyingOutput)
    with pytest.raises(KeyboardInterrupt):
        write_image(str(final), _ramp(2, 2, 3), ["R", "G", "B"])
    assert os.listdir(tmp_path) == ["out.exr"] and final.read_bytes() == b"previous render"
    with pytest.raises(KeyboardInterrupt):
        write_image(str(tmp_path / "new.exr"), _ramp(2, 2, 3), ["R", "G", "B"])
    assert os.listdir(tmp_path) == ["out.exr"]


def test_write_errors_are_reported(tmp_path):
    with pytest.raises(OutputError, match="no writer"):
        write_image(str(tmp_path / "x.unknownext"), _ramp(2, 2, 3), ["R", "G", "B"])
    with pytest.raises(ValueError):
        write_image(str(tmp_path / "x.exr"), _ramp(2, 2, 3), ["R", "G"])
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("names, rgb, alpha", [
    (["Y"], [0, 0, 0], None),
    (["Y", "A"], [0, 0, 0], 1),
    (["R", "G", "B"], [0, 1, 2], None),
    (["R", "G", "B", "A"], [0, 1, 2], 3),
    (["A", "B", "G", "R"], [3, 2, 1], 0),
    (["R", "G", "B", "depth.Z"], [0, 1, 2], None),
    (["channel0", "channel1"], [0, 0, 0], 1),
    (["c0", "c1", "c2", "c3", "c4", "c5", "c6"], [0, 1, 2], 3),
    (["rgba.R", "rgba.G", "rgba.B", "rgba.A"], [0, 1, 2], 3),
])
def test_channel_layout(names, rgb, alpha):
    assert channel_layout(names) == (rgb, alpha)


def test_read_image_with_pattern_and_frame(tmp_path):
    write_image(str(tmp_path / "p.0007.exr"), _ramp(2, 3, 3), ["R", "G", "B"])
    img = read_image(str(tmp_path / "p.####.exr"), 7)
    assert img.frame == 7 and img.path == str(tmp_path / "p.0007.exr")
    with pytest.raises(InputError) as err:
        read_image(str(tmp_path / "p.####.exr"), 8)
    assert "frame 8" in str(err.value) and "p.0008.exr" in str(err.value) and "missing frame" in str(err.value)


def test_colour_only_in_a_named_layer_is_read_by_name_not_position(tmp_path):
    """An EXR whose colour is only in a layer (``beauty.R/G/B`` beside ``depth.Z``): read by
    name. By position, a file listing ``beauty.B`` first read it as red, and ``depth.Z`` as
    the 4th channel became the alpha (then divided into premultiplied colour)."""
    import OpenImageIO as oiio
    from nuke_colorize.io.image import channel_layout, read_image

    assert channel_layout(["beauty.B", "beauty.G", "beauty.R"]) == ([2, 1, 0], None)
    assert channel_layout(["beauty.R", "beauty.G", "beauty.B", "depth.Z"]) == ([0, 1, 2], None)
    assert channel_layout(["diffuse.Z", "beauty.R", "beauty.G", "beauty.B", "beauty.A"]) == ([1, 2, 3], 4)
    assert channel_layout(["R", "G", "B", "A"]) == ([0, 1, 2], 3)        # unchanged
    assert channel_layout(["R", "G", "B", "channel3"]) == ([0, 1, 2], 3)
    rng = np.random.default_rng(1)
    px = rng.random((6, 10, 4)).astype(np.float32)
    px[..., 3] = 0.5 + 1000 * px[..., 3]                     # depth, never an alpha
    spec = oiio.ImageSpec(10, 6, 4, oiio.FLOAT)
    spec.channelnames = ("beauty.R", "beauty.G", "beauty.B", "depth.Z")
    path = tmp_path / "layered.exr"
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), spec)
    out.write_image(px)
    out.close()
    img = read_image(str(path))
    names = list(img.channels)
    want = px[..., [("beauty.R", "beauty.G", "beauty.B", "depth.Z").index(n) for n in names]]
    assert np.array_equal(img.pixels, want)
    assert np.array_equal(img.rgb, px[..., :3]) and img.alpha is None


def test_luminance_only_in_a_named_layer_is_read_by_name_not_position(tmp_path):
    """A B&W scan whose luminance is a layer (``scan.Y``, ``scan.A``) beside ``depth.Z``: EXR
    lists channels by name, so depth.Z came first and was read by position as the luminance
    (``scan.Y scan.A depth.Z`` even as R G B), and ``scan.A`` was no alpha. Now the layer's Y
    is the colour and its A the alpha."""
    assert channel_layout(["depth.Z", "scan.A", "scan.Y"]) == ([2, 2, 2], 1)
    assert channel_layout(["scan.A", "scan.Y"]) == ([1, 1, 1], 0)
    assert channel_layout(["beauty.R", "beauty.G", "beauty.B", "scan.Y"]) == ([0, 1, 2], None)  # RGB first
    assert channel_layout(["depth.Z", "id.X"]) == ([0, 0, 0], None)       # no colour name: position
    px = np.stack([np.full((4, 5), 0.18), np.full((4, 5), 0.5), np.full((4, 5), 40.0)], -1).astype(np.float32)
    path = str(tmp_path / "scan.exr")
    _oiio_write(path, px, "half", ["scan.Y", "scan.A", "depth.Z"])
    img = read_image(path)
    assert img.channels[0] == "depth.Z"                 # as EXR lists them
    assert (img.rgb == np.float32(np.float16(0.18))).all() and (img.alpha == 0.5).all()
    assert img.extra_channel_names == ["depth.Z"]
    assert compose_channels(img.rgb, img)[1] == ["R", "G", "B", "A", "depth.Z"]


# ---------------------------------------------------------------- what a format keeps of the channels
@pytest.mark.parametrize("ext", ["exr", "tif", "png", "jpg", "dpx"])
@pytest.mark.parametrize("channels", [["R", "G", "B", "depth.Z"], ["R", "G", "B", "A", "depth.Z", "confidence.Y"],
                                      ["R", "G", "B", "A"], ["R", "G", "B"]])
def test_channel_losses_say_what_a_written_file_reads_back(tmp_path, ext, channels):
    """channel_losses predicts, for each output format, the channels a file written by
    write_image (through OpenImageIO) reads back under another name or not at all. A TIFF keeps
    an extra channel's values but OpenImageIO's TIFF writer cannot store its name: ``depth.Z``
    comes back as ``channel3`` (and, beside R G B alone, is then taken for alpha)."""
    from nuke_colorize.io.image import channel_losses, describe_channel_losses
    px = np.stack([np.full((4, 6), v, np.float32) for v in (0.1, 0.2, 0.3, 0.6, 0.7, 0.8)[:len(channels)]], -1)
    path = tmp_path / f"out.{ext}"
    write_image(str(path), px, channels, dtype="float" if ext in ("exr", "tif") else None)
    config = oiio.ImageSpec()
    config.attribute("oiio:UnassociatedAlpha", 1)   # the values as stored (not multiplied by alpha)
    inp = oiio.ImageInput.open(str(path), config)
    back = list(inp.spec().channelnames)
    values = inp.read_image(oiio.FLOAT)
    inp.close()
    dropped, renamed = channel_losses(str(path), channels)
    if ext == "exr":
        assert (dropped, renamed) == ([], {}) and sorted(back) == sorted(channels)
    elif ext == "tif":
        assert dropped == [] and back == [renamed.get(c, c) for c in channels]
        moved = [channels.index(c) for c in renamed]
        np.testing.assert_allclose(values[0, 0, moved], px[0, 0, moved])   # their values are kept
    else:
        kept = [c for c in channels if c not in dropped]
        assert len(back) == len(kept) and not renamed
    note = describe_channel_losses(str(path), channels)
    assert (note is None) == (not dropped and not renamed)
    for c in dropped + list(renamed):
        assert c in note
    if renamed:
        assert note.startswith("TIFF cannot store channel names: it writes depth.Z as channel")
        assert ("read as alpha" in note) == ("A" not in channels)
    if dropped:
        fmt = {"png": "PNG", "jpg": "JPEG", "dpx": "DPX"}[ext]
        assert f"{fmt} has no place for {', '.join(dropped)}" in note
    if note:
        assert note.endswith("write EXR (.exr) to keep every channel with its name")


def test_render_to_tiff_notes_once_the_channels_that_lose_their_names(tmp_path, capsys):
    """A plate with depth.Z rendered to TIFF: the output keeps depth.Z's values as a 4th channel
    that the file cannot name (read back as channel3, which readers take for alpha). Before,
    that happened without a word; now one note before the frames names depth.Z, the format and
    EXR as the way to keep it, rendered directly or through the shot cache. An EXR output keeps
    the name and gives no note."""
    from conftest import write_channels
    from nuke_colorize.cli import main
    h, w = 48, 64
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    (tmp_path / "plate").mkdir()
    for f in (1, 2):
        y = 0.1 + 0.7 * xx / w
        write_channels(tmp_path / "plate" / f"p.{f:04d}.exr", [y, y, y, 1000.0 + yy + f], ["R", "G", "B", "depth.Z"])
    ref = np.stack([0.2 + 0.6 * xx / w, np.full_like(xx, 0.35), 0.8 - 0.6 * yy / h], -1)
    write_image(str(tmp_path / "ref.png"), ref, ["R", "G", "B"])
    base = ["render", "--plate", str(tmp_path / "plate/p.####.exr"), "--ref", f"1={tmp_path / 'ref.png'}",
            "--set", "feature_size=64", "--set", "max_working_size=64", "--quiet"]
    capsys.readouterr()
    assert main(base + ["--out", str(tmp_path / "tif/c.####.tif")]) == 0
    notes = [ln for ln in capsys.readouterr().err.splitlines() if "note:" in ln]
    assert len(notes) == 1, notes
    assert "c.####.tif: TIFF cannot store channel names: it writes depth.Z as channel3" in notes[0]
    assert "read as alpha" in notes[0] and "write EXR (.exr)" in notes[0]
    for f in (1, 2):
        inp = oiio.ImageInput.open(str(tmp_path / f"tif/c.{f:04d}.tif"))
        assert list(inp.spec().channelnames) == ["R", "G", "B", "channel3"]
        np.testing.assert_array_equal(inp.read_image(oiio.FLOAT)[..., 3], 1000.0 + yy + f)   # values kept
        inp.close()
    # through the shot cache (render --cache, cache build, the Nuke bridge): the same one note
    assert main(base + ["--out", str(tmp_path / "cached/c.####.tif"), "--cache", str(tmp_path / "cache")]) == 0
    notes = [ln for ln in capsys.readouterr().err.splitlines() if "note:" in ln]
    assert len(notes) == 1 and "TIFF cannot store channel names: it writes depth.Z as channel3" in notes[0]
    assert main(base + ["--out", str(tmp_path / "exr/c.####.exr")]) == 0
    assert "note:" not in capsys.readouterr().err
    assert "depth.Z" in read_image(str(tmp_path / "exr/c.0001.exr")).channels


def test_luminance_chroma_exr_with_colour_is_noted_as_a_colour_plate(tmp_path):
    """A colour luminance/chroma EXR (RY, BY not 0) is used through its Y as any colour plate,
    and now says so; before, its colour (held in RY / BY) went unmentioned. A YC plate whose
    chroma is 0 (a B&W scan written YC) is grey: no note."""
    from nuke_colorize.io import PlateSource
    from nuke_colorize.render import PlateLuma, has_chroma

    px = np.zeros((4, 5, 3), np.float32)
    px[..., 0] = 0.18
    _oiio_write(tmp_path / "grey.0001.exr", px, "half", ["Y", "RY", "BY"])
    px[..., 1], px[..., 2] = 0.4, -0.1
    _oiio_write(tmp_path / "warm.0001.exr", px, "half", ["Y", "RY", "BY"])
    assert not has_chroma(read_image(str(tmp_path / "grey.0001.exr")))
    assert has_chroma(read_image(str(tmp_path / "warm.0001.exr")))
    for name, said in (("grey", []), ("warm", ["colour plate: only its luminance is used"])):
        notes = []
        y = PlateLuma(PlateSource(str(tmp_path / f"{name}.####.exr")), "auto", notes.append)(1)
        np.testing.assert_allclose(y, 0.18, rtol=1e-3)   # the Y channel (half 0.18)
        assert [n.split(": ", 1)[1].split(" (")[0] for n in notes] == said


def test_stereo_exr_other_views_are_not_carried_and_are_named(tmp_path):
    """A single-part stereo EXR (multiView left, right; the right view's channels right.R ...):
    only the default view is colourised. Before, right.R/G/B were carried as extra channels and
    multiView kept: the output was a stereo image with a grey right eye, without a word. Now
    they are neither colour nor extras, multiView is not written and a note says so; a
    multi-part stereo EXR's other view's part is named in skipped_parts."""
    from nuke_colorize.render import other_views_note, skipped_parts_note

    path = str(tmp_path / "stereo.exr")
    px = np.concatenate([np.full((4, 5, 3), 0.18, np.float32), np.full((4, 5, 3), 0.5, np.float32),
                         np.full((4, 5, 1), 9.0, np.float32)], axis=2)
    _oiio_write(path, px, "half", ["R", "G", "B", "right.R", "right.G", "right.B", "depth.Z"],
                attrs={"multiView": (oiio.TypeDesc("string[2]"), ("left", "right"))})
    img = read_image(path)
    assert img.views == ["left", "right"]
    assert sorted(img.channels[i] for i in img.other_view_indices) == ["right.B", "right.G", "right.R"]
    assert img.extra_channel_names == ["depth.Z"]
    assert (img.rgb == np.float32(np.float16(0.18))).all()
    assert "only its default view left is colourised and written, not right" in other_views_note(img)
    out = str(tmp_path / "out.exr")
    write_image(out, *compose_channels(img.rgb, img), like=img)
    back = read_image(out)
    assert back.channels == ["R", "G", "B", "depth.Z"] and back.views == []
    assert other_views_note(back) is None

    # multi-part: one part per view, each with its "view"
    specs = []
    for view in ("left", "right"):
        spec = oiio.ImageSpec(5, 4, 3, "half")
        spec.attribute("name", f"rgba_{view}")
        spec.attribute("view", view)
        specs.append(spec)
    mp = str(tmp_path / "stereo_mp.exr")
    o = oiio.ImageOutput.create(mp)
    assert o.open(mp, tuple(specs)), o.geterror()
    assert o.write_image(px[..., :3])
    assert o.open(mp, specs[1], "AppendSubimage"), o.geterror()
    assert o.write_image(np.ascontiguousarray(px[..., 3:6]))
    assert o.close()
    img = read_image(mp)
    assert img.channels == ["R", "G", "B"] and img.skipped_parts == ["rgba_right (view right)"]
    assert "part rgba_right (view right) of the multi-part plate is not carried" in skipped_parts_note(img)


def test_a_part_skipped_on_later_frames_only_is_named_when_first_skipped(tmp_path):
    """A depth part with the colour's data window on frame 1 but cropped to its content on
    frame 2 (5x4 at (1, 1)): frame 2's output lacks depth.Z. The note was made from the first
    frame only, so nothing was said; SkippedPartsNotes, which the render calls on every frame
    it writes, names it on frame 2, once (frame 3, cropped otherwise, says nothing more)."""
    from nuke_colorize.render import SkippedPartsNotes

    rgb = np.full((6, 8, 3), 0.18, np.float32)
    _write_parts(str(tmp_path / "p.0001.exr"), [("rgba", rgb, ["R", "G", "B"], (0, 0)),
                                                ("depth", np.full((6, 8, 1), 9.0, np.float32), ["Z"], (0, 0))])
    _write_parts(str(tmp_path / "p.0002.exr"), [("rgba", rgb, ["R", "G", "B"], (0, 0)),
                                                ("depth", np.full((4, 5, 1), 9.0, np.float32), ["Z"], (1, 1))])
    _write_parts(str(tmp_path / "p.0003.exr"), [("rgba", rgb, ["R", "G", "B"], (0, 0)),
                                                ("depth", np.full((3, 3, 1), 9.0, np.float32), ["Z"], (2, 2))])
    said = []
    notes = SkippedPartsNotes(said.append)
    for f in (1, 2, 3):
        img = read_image(str(tmp_path / f"p.{f:04d}.exr"))
        assert ("depth.Z" in img.channels) == (f == 1)
        notes(img)
    assert len(said) == 1 and "p.0002.exr: part depth (data window 5x4 at (1, 1))" in said[0]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_openimageio_reorients(tmp_path, orientation):
    from nuke_colorize.io.image import apply_orientation

    px = _ramp(6, 10, 3, seed=orientation)
    path = tmp_path / f"o{orientation}.tif"
    _oiio_write(path, px, oiio.FLOAT, attrs={"Orientation": orientation})
    want = oiio.ImageBufAlgo.reorient(oiio.ImageBuf(str(path))).get_pixels(oiio.FLOAT)
    got = apply_orientation(read_image(path))
    np.testing.assert_array_equal(got.pixels, want)
    assert got.windows.data == got.windows.display == (0, 0, want.shape[1], want.shape[0])
    assert got.spec.get_int_attribute("Orientation") == 1


def test_a_sideways_phone_photo_reference_and_library_still_are_read_upright(tmp_path):
    """A JPEG stored sideways with EXIF orientation 6 (rotated 90 degrees clockwise for
    viewing) was read as stored: a 144x256 keyframe for a 256x144 plate, its colours turned."""
    from PIL import Image

    from nuke_colorize.library.index import still_L
    from nuke_colorize.render import RefSpec, load_reference

    rng = np.random.default_rng(3)
    upright = np.zeros((72, 128, 3), np.uint8)
    upright[:, :64] = (200, 40, 40)   # red left half, blue right half, as viewers show it
    upright[:, 64:] = (40, 40, 200)
    upright[:36] += rng.integers(0, 20, (36, 128, 3), dtype=np.uint8)
    stored = np.rot90(upright, k=1)   # 90 degrees counter-clockwise: tag 6 turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    path = str(tmp_path / "phone.jpg")
    Image.fromarray(np.ascontiguousarray(stored)).save(path, exif=exif.tobytes(), quality=98)
    ref = load_reference(RefSpec(path=path, frame=0))
    assert ref.rgb.shape == (72, 128, 3)
    assert ref.windows.display == (0, 0, 128, 72)
    left, right = ref.rgb[:, :60].mean((0, 1)), ref.rgb[:, 68:].mean((0, 1))
    assert left[0] > 4 * left[2] and right[2] > 4 * right[0]
    L, w, h = still_L(path)
    assert L.shape[1] > L.shape[0]   # landscape, as shown
