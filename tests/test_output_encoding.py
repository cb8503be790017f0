"""Output encoding: ``render --out-depth`` / ``--out-compression`` and the shot keys
``out_depth`` / ``out_compression``.

Every combination is written through OpenImageIO and read back: the pixel type (and DPX bits)
and the ``compression`` attribute (a DWA level, a JPEG quality from its quantisation table)
are what was asked for. ``auto`` / unset writes the bytes it always wrote. What a format cannot
hold, and names it does not know, are refused before anything is read or written (exit 2).
The encoding is not part of the shot's key (the cache is reused) but ``cache status`` tells
outputs written in another encoding stale.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from nuke_colorize import color
from nuke_colorize.cli import main
from nuke_colorize.errors import InputError, did_you_mean
from nuke_colorize.io import read_image, write_image
from nuke_colorize.io.encoding import OutputEncoding, check_encoding
from nuke_colorize.render import RefSpec, RenderJob, job_output_colorspace, output_ceiling, run_render
from nuke_colorize.shot import Shot

H, W = 32, 48
FAST = ["--set", "feature_size=64", "--set", "max_working_size=64", "--quiet"]


def _header(path):
    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    try:
        return oiio.ImageSpec(inp.spec())
    finally:
        inp.close()


def _pixels():
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    return np.stack([0.05 + 0.9 * xx / W, 0.1 + 0.8 * yy / H, 0.5 + 0.4 * np.sin(xx / 5)], -1).astype(np.float32)


# libjpeg's luminance quantisation table (quality 50) and its scaling by quality
_JPEG_LUMA = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
              14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
              49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]


def _jpeg_luma_table(path) -> list:
    """The first (luminance) quantisation table of a baseline JPEG, in zigzag order."""
    data = Path(path).read_bytes()
    i = 2
    while i < len(data):
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        if marker == 0xDB:
            return list(data[i + 5:i + 5 + 64])
        i += 2 + length
    raise AssertionError("no DQT in the JPEG")


def _jpeg_quality_table(q: int) -> list:
    scale = 5000 // q if q < 50 else 200 - 2 * q
    return [min(255, max(1, (v * scale + 50) // 100)) for v in _JPEG_LUMA]


# ---------------------------------------------------------------- what each combination writes
EXR_NAMES = ["none", "rle", "zips", "zip", "piz", "pxr24", "b44", "b44a", "dwaa", "dwab"]
LOSSLESS = {"none", "rle", "zips", "zip", "piz"}
CASES = ([("exr", d, c, d, c) for d in ("half", "float") for c in EXR_NAMES]
         + [("exr", "half", "zip:9", "half", "zip"), ("exr", "float", "zips:1", "float", "zips"),
            ("exr", "half", "DWAA:45", "half", "dwaa"), ("exr", "half", "dwab:120", "half", "dwab"),
            ("exr", "auto", "piz", "half", "piz"), ("exr", "float", None, "float", "zip")]
         + [("tif", d, c, {"8": "uint8", "16": "uint16", "float": "float"}[d], c)
            for d in ("8", "16", "float") for c in ("none", "lzw", "zip", "packbits")]
         + [("dpx", d, None, "uint8" if d == "8" else "uint16", None) for d in ("8", "10", "12", "16")]
         + [("png", "8", None, "uint8", None), ("png", "16", None, "uint16", None), ("jpg", "8", None, "uint8", None)])


@pytest.mark.parametrize("ext,depth,comp,fmt,comp_back", CASES)
def test_each_depth_and_compression_reads_back_as_written(tmp_path, ext, depth, comp, fmt, comp_back):
    path = tmp_path / f"o.{ext}"
    enc = check_encoding(str(path), depth, comp)
    px = _pixels()
    write_image(path, px, ["R", "G", "B"], dtype=enc.dtype, compression=enc.compression)
    spec = _header(path)
    assert str(spec.format) == fmt
    if ext == "dpx":
        assert int(spec.getattribute("oiio:BitsPerSample")) == int(depth)
    if comp_back is not None:
        assert spec.getattribute("compression") == comp_back
    if comp and comp.lower().startswith(("dwaa:", "dwab:")):
        assert float(spec.getattribute("openexr:dwaCompressionLevel")) == float(comp.split(":")[1])
    back = read_image(str(path)).rgb
    if ext in ("exr", "tif") and fmt == "float" and (ext == "tif" or comp in LOSSLESS or comp is None):
        np.testing.assert_array_equal(back, px)                                      # exact
    elif ext == "exr" and fmt == "half" and (comp in LOSSLESS or comp in ("pxr24", "zip:9")):
        np.testing.assert_allclose(back, px, rtol=2.0 ** -11)                        # half's rounding
    elif fmt.startswith("uint") and ext != "jpg":
        bits = int(depth) if ext == "dpx" else int(fmt[4:])
        # half a code (a 10/12-bit DPX is read through bit-replicated 16-bit values: + 1.5/65535)
        np.testing.assert_allclose(back, px, atol=0.5 / (2 ** bits - 1) + 1.5 / 65535)
    else:   # lossy: b44(a)/dwa on half, pxr24 on float (24-bit), JPEG
        assert float(np.abs(back - px).mean()) < 0.02


def test_compression_levels_and_jpeg_quality_reach_the_file(tmp_path):
    big = np.repeat(np.repeat(_pixels(), 3, 0), 3, 1)
    sizes = {}
    for comp in ("zip:1", "zip:9"):
        path = tmp_path / comp.replace(":", "_") / "o.exr"
        path.parent.mkdir()
        write_image(path, big, ["R", "G", "B"], compression=check_encoding(str(path), None, comp).compression)
        sizes[comp] = path.read_bytes()
    assert sizes["zip:1"] != sizes["zip:9"] and len(sizes["zip:9"]) <= len(sizes["zip:1"])
    for given, q in (("30", 30), ("jpeg:90", 90), (100, 100)):
        path = tmp_path / f"q{q}.jpg"
        enc = check_encoding(str(path), "auto", given)
        assert enc.compression == f"jpeg:{q}"
        write_image(path, _pixels(), ["R", "G", "B"], compression=enc.compression)
        assert sorted(_jpeg_luma_table(path)) == sorted(_jpeg_quality_table(q))
    write_image(tmp_path / "auto.jpg", _pixels(), ["R", "G", "B"])                  # the default: 95
    assert sorted(_jpeg_luma_table(tmp_path / "auto.jpg")) == sorted(_jpeg_quality_table(95))


def _plate_like(tmp_path, kind):
    """A plate frame as read (``like``): float EXR, 16-bit PNG, 12-bit DPX, 8-bit PNG."""
    px = np.repeat(_pixels()[..., :1], 3, -1)
    path = tmp_path / "plates" / {"float": "p.exr", "png16": "p.png", "dpx12": "p.dpx", "png8": "p8.png"}[kind]
    path.parent.mkdir(exist_ok=True)
    dtype = {"float": "float", "png16": "uint16", "dpx12": "uint12", "png8": "uint8"}[kind]
    write_image(path, px, ["R", "G", "B"], dtype=dtype)
    return read_image(str(path))


@pytest.mark.parametrize("ext,like,depth,comp", [
    ("exr", "float", "auto", None), ("exr", "png8", "auto", "zip"), ("exr", "float", "half", "zip"),
    ("tif", "float", "auto", None), ("tif", "png16", "16", "zip"), ("tif", "float", "float", "zip"),
    ("dpx", "dpx12", "auto", None), ("dpx", "dpx12", "12", None), ("dpx", "png8", "10", None),
    ("png", "png16", "auto", None), ("png", "png16", "16", None), ("png", "png8", "8", None),
    ("jpg", "png8", "auto", None), ("jpg", "png8", "8", "95"), ("jpg", "float", "8", "jpeg:95")])
def test_auto_and_the_defaults_spelled_out_write_the_bytes_write_image_always_wrote(tmp_path, ext, like, depth,
                                                                                       comp):
    """The encoding reaches write_image as dtype/compression; auto gives None for both (its
    defaults, unchanged), and a depth or compression that is the default writes the same bytes."""
    plate = _plate_like(tmp_path, like)
    px = _pixels()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_image(tmp_path / "a" / f"o.{ext}", px, ["R", "G", "B"], like=plate)       # as before the feature
    enc = check_encoding(f"o.{ext}", depth, comp)
    write_image(tmp_path / "b" / f"o.{ext}", px, ["R", "G", "B"], like=plate, dtype=enc.dtype,
                compression=enc.compression)
    assert (tmp_path / "a" / f"o.{ext}").read_bytes() == (tmp_path / "b" / f"o.{ext}").read_bytes()


def test_half_asked_for_is_kept_and_clips_beyond_its_range_where_auto_writes_float(tmp_path):
    px = _pixels()
    px[0, 0] = (1e6, 2e5, -3e5)
    write_image(tmp_path / "auto.exr", px, ["R", "G", "B"])
    write_image(tmp_path / "half.exr", px, ["R", "G", "B"], dtype="half")
    assert str(_header(tmp_path / "auto.exr").format) == "float"                    # promoted, as always
    assert str(_header(tmp_path / "half.exr").format) == "half"
    back = read_image(str(tmp_path / "half.exr")).rgb
    assert back[0, 0].tolist() == [65504.0, 65504.0, -65504.0]                       # finite, not Inf
    np.testing.assert_allclose(back[1:], px[1:], rtol=2.0 ** -11)


# ---------------------------------------------------------------- refusals (no file involved)
@pytest.mark.parametrize("path,depth,comp,fragments", [
    ("o.exr", "8", None, ["--out-depth 8", "EXR", "cannot hold 8-bit", "auto, half, float"]),
    ("o.exr", 16, None, ["--out-depth 16", "EXR", "auto, half, float"]),
    ("o.jpg", "16", None, ["--out-depth 16", "JPEG", "auto, 8"]),
    ("o.png", "10", None, ["--out-depth 10", "PNG", "auto, 8, 16"]),
    ("o.dpx", "half", None, ["--out-depth half", "DPX", "half-float", "auto, 8, 10, 12, 16"]),
    ("o.tif", "half", None, ["--out-depth half", "TIFF", "auto, 8, 16, float"]),
    ("o.hdr", "float", None, ["--out-depth float", "HDR", "cannot be chosen"]),
    ("o.exr", "32", None, ["--out-depth '32' is not a pixel depth", "did you mean float?",
                           "auto, 8, 10, 12, 16, half, float"]),
    ("o.exr", "16f", None, ["did you mean half?"]),
    ("o.exr", None, "dwa", ["--out-compression 'dwa'", "EXR", "did you mean dwaa?", "piz", "dwab"]),
    ("o.exr", None, "pxr42", ["did you mean pxr24?"]),
    ("o.exr", None, "ZIPS:0", ["level of zips", "1 to 9"]),
    ("o.exr", None, "dwab:-1", ["level of dwab", "above 0"]),
    ("o.exr", None, "piz:3", ["piz takes no level"]),
    ("o.exr", None, "lzw", ["'lzw' is not an EXR compression", "lzw is a TIFF compression"]),
    ("o.tif", None, "deflate", ["not a TIFF compression", "did you mean zip?", "none, lzw, zip, packbits"]),
    ("o.tif", None, "zip:9", ["TIFF compression zip takes no level"]),
    ("o.tif", None, "dwaa", ["not a TIFF compression", "dwaa is an EXR compression"]),
    ("o.jpg", None, "jpeg:0", ["JPEG", "quality from 1 to 100"]),
    ("o.jpg", None, "best", ["JPEG", "quality from 1 to 100"]),
    ("o.png", None, "zip", ["does not apply to a PNG output", "always deflate"]),
    ("o.dpx", None, "none", ["does not apply to a DPX output", "uncompressed"]),
])
def test_what_a_format_cannot_take_is_refused_naming_value_format_and_choices(path, depth, comp, fragments):
    with pytest.raises(InputError) as err:
        check_encoding(path, depth, comp)
    text = str(err.value)
    assert "\n" not in text
    for frag in fragments:
        assert frag in text, text


def test_did_you_mean_finds_near_misses_and_aliases_only():
    assert did_you_mean("DWAA", ["dwaa", "dwab"]) == "dwaa"
    assert did_you_mean("pxr-24", ["pxr24", "piz"]) == "pxr24"
    assert did_you_mean("deflate", ["none", "zip"], {"deflate": "zip"}) == "zip"
    assert did_you_mean("jpeg2000", ["none", "lzw", "zip", "packbits"]) is None


def test_encoding_records_are_empty_for_the_default_and_name_the_rest():
    assert OutputEncoding().record("o.exr") == ""
    assert OutputEncoding("auto", "zip").record("o.exr") == ""            # the default, spelled out
    assert OutputEncoding("float", "dwaa:45").record("o.exr") == "depth=float;compression=dwaa:45"
    assert OutputEncoding("auto", "jpeg:95").record("o.jpg") == ""
    assert OutputEncoding("half", None).for_path("conf.png", "o.exr") == OutputEncoding()
    assert OutputEncoding("half", None).for_path("conf.exr", "o.sxr") == OutputEncoding("half", None)


def test_chosen_depth_decides_auto_output_colourspace_and_ceiling(tmp_path):
    float_plate = _plate_like(tmp_path, "float")
    png_plate = _plate_like(tmp_path, "png8")

    def job(out, depth="auto"):
        return RenderJob(plate="p.exr", frames=[1], references=[], output=out, out_depth=depth)
    # as before when auto: TIFF of a float plate float and linear, of an integer plate 16-bit sRGB
    assert job_output_colorspace(job("o.tif"), float_plate, "linear") == "linear"
    assert job_output_colorspace(job("o.tif"), png_plate, "srgb") == "srgb"
    assert output_ceiling(job("o.tif"), float_plate, "linear") is None
    # a 16-bit TIFF of a float plate is display-encoded and clipped at 1.0 like every integer file
    assert job_output_colorspace(job("o.tif", "16"), float_plate, "linear") == "srgb"
    assert output_ceiling(job("o.tif", "16"), float_plate, "linear") == 1.0
    # a float TIFF of an integer plate is linear, as --colorspace auto reads it back
    assert job_output_colorspace(job("o.tif", "float"), png_plate, "srgb") == "linear"
    assert output_ceiling(job("o.tif", "float"), png_plate, "srgb") is None
    # EXR: auto promotes to float (no ceiling); half asked for keeps colour within half's range
    assert output_ceiling(job("o.exr"), float_plate, "linear") is None
    assert output_ceiling(job("o.exr", "half"), float_plate, "linear") == 65504.0
    assert output_ceiling(job("o.exr", "float"), float_plate, "linear") is None


# ---------------------------------------------------------------- renders
def _make_plate(root: Path, bright: bool = False) -> None:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    for f in (1, 2):
        y = 0.04 + 0.8 * xx / W + 0.02 * f + 0.05 * np.sin(yy / 3)
        if bright:
            y[:6, :8] = 2.0e5            # a float plate's sun: beyond what half holds
        write_image(root / "plate" / f"p.{f:04d}.exr", np.repeat(y[..., None], 3, -1), ["R", "G", "B"],
                    dtype="float" if bright else "half")
    ref = np.stack([0.2 + 0.6 * xx / W, np.full_like(xx, 0.35), 0.8 - 0.6 * yy / H], -1)
    write_image(root / "ref.png", ref, ["R", "G", "B"])


@pytest.fixture(scope="module")
def plate(tmp_path_factory):
    root = tmp_path_factory.mktemp("enc")
    (root / "plate").mkdir()
    _make_plate(root)
    return root


def _render(root: Path, out: str, *extra: str, cache: str = "cache") -> int:
    args = ["render", "--plate", str(root / "plate" / "p.####.exr"), "--ref", f"1={root / 'ref.png'}",
            "--out", str(root / out)]
    if cache:
        args += ["--cache", str(root / cache)]
    return main(args + list(extra) + FAST)


def _luminance_of(path, cs: str) -> np.ndarray:
    return color.luminance(color.to_linear(read_image(str(path)).rgb, cs))


@pytest.mark.parametrize("out,depth,comp,fmt,cs,tol", [
    ("exr", "float", "piz", "float", "linear", ("rel", 1e-6)),
    ("exr", "half", "pxr24", "half", "linear", ("rel", 2.0 ** -11)),
    ("exr", "half", "dwaa:45", "half", "linear", ("lossy", 0.005)),  # lossy on R, G, B by design
    ("tif", "float", "none", "float", "linear", ("rel", 1e-6)),
    ("tif", "16", "packbits", "uint16", "srgb", ("codes", 16)),
    ("tif", "8", "lzw", "uint8", "srgb", ("codes", 8)),
    ("dpx", "12", None, "uint16", "srgb", ("codes", 12)),
    ("dpx", "8", None, "uint8", "srgb", ("codes", 8)),
    ("png", "16", None, "uint16", "srgb", ("codes", 16)),
])
def test_render_writes_the_chosen_encoding_keeping_the_plates_luminance(plate, out, depth, comp, fmt, cs, tol):
    """Through the shot cache of an implied shot (the encoding is not in the key: every case
    after the first reads the cache). Tolerances as the README's for each pixel type: float to
    float precision, half to half's rounding, integer files to their code values (the
    luminance of the stored codes within 1.5 codes, as tests/test_output_ceiling.py); DWAA is
    lossy by design (its DCT quantises R, G and B: measured here 0.3% relative on average,
    0.0016 at most in linear, 8% relative on the darkest pixels)."""
    name = f"o_{out}_{depth}_{(comp or 'x').replace(':', '_')}/c.####.{out}"
    extra = ["--out-depth", depth] + (["--out-compression", comp] if comp else [])
    assert _render(plate, name, *extra) == 0
    for f in (1, 2):
        path = plate / name.replace("####", f"{f:04d}")
        spec = _header(path)
        assert str(spec.format) == fmt
        if out == "dpx":
            assert int(spec.getattribute("oiio:BitsPerSample")) == int(depth)
        if comp:
            assert spec.getattribute("compression") == comp.split(":")[0]
        y_plate = _luminance_of(plate / "plate" / f"p.{f:04d}.exr", "linear")
        y_out = _luminance_of(path, cs)
        kind, bound = tol
        if kind == "rel":
            np.testing.assert_allclose(y_out, y_plate, rtol=bound, atol=1e-7)
        elif kind == "lossy":
            assert float(np.mean(np.abs(y_out - y_plate) / y_plate)) < bound
            assert float(np.abs(y_out - y_plate).max()) < 0.005
        else:
            codes = np.abs(color.linear_to_srgb(y_out) - color.linear_to_srgb(y_plate)) * (2 ** bound - 1)
            assert float(codes.max()) < 1.5
        assert float(np.abs(color.chroma_of(color.to_linear(read_image(str(path)).rgb, cs))).mean()) > 1.0


def test_auto_render_writes_the_same_bytes_as_a_render_without_the_options(plate):
    """Plain render and shot cache: no option, ``--out-depth auto``, and the defaults spelled
    out (EXR zip; the confidence PNG's own default) write identical files."""
    conf = ["--confidence-out"]
    assert _render(plate, "b0/c.####.exr", *conf, str(plate / "b0" / "k.####.png"), cache=None) == 0
    assert _render(plate, "b1/c.####.exr", *conf, str(plate / "b1" / "k.####.png"), "--out-depth", "auto",
                   cache=None) == 0
    assert _render(plate, "b2/c.####.exr", *conf, str(plate / "b2" / "k.####.png"), "--out-depth", "auto",
                   "--out-compression", "zip", cache="cache_b") == 0
    assert _render(plate, "b3/c.####.exr", *conf, str(plate / "b3" / "k.####.png"), cache="cache_b") == 0
    for name in ("c.0001.exr", "c.0002.exr", "k.0001.png", "k.0002.png"):
        first = (plate / "b0" / name).read_bytes()
        assert (plate / "b1" / name).read_bytes() == first
        assert (plate / "b2" / name).read_bytes() == (plate / "b3" / name).read_bytes()
    assert str(_header(plate / "b2" / "c.0001.exr").format) == "half"


def test_confidence_output_follows_the_encoding_when_it_has_the_outputs_format(plate):
    assert _render(plate, "k1/c.####.exr", "--out-depth", "float", "--out-compression", "piz", "--confidence-layer",
                   "--confidence-out", str(plate / "k1" / "k.####.exr"), cache=None) == 0
    main_spec, conf_spec = _header(plate / "k1" / "c.0001.exr"), _header(plate / "k1" / "k.0001.exr")
    assert list(main_spec.channelnames) == ["R", "G", "B", "confidence.Y"]
    assert str(main_spec.format) == "float" and not main_spec.channelformats   # the layer too
    assert str(conf_spec.format) == "float" and conf_spec.getattribute("compression") == "piz"
    # another format: its own default (a PNG of a half plate: 8-bit)
    assert _render(plate, "k2/c.####.exr", "--out-depth", "float", "--out-compression", "piz",
                   "--confidence-out", str(plate / "k2" / "k.####.png"), cache=None) == 0
    assert str(_header(plate / "k2" / "k.0001.png").format) == "uint8"


def test_half_asked_for_clips_a_float_plates_sun_once_with_a_note(tmp_path):
    _make_plate(tmp_path, bright=True)
    notes = []

    def job(out, depth):
        return RenderJob(plate=str(tmp_path / "plate" / "p.####.exr"), frames=[1, 2],
                         references=[RefSpec(path=str(tmp_path / "ref.png"), frame=1)],
                         output=str(tmp_path / out), settings={"feature_size": 64, "max_working_size": 64},
                         out_depth=depth)
    run_render(job("h/c.####.exr", "half"), progress=False, warn=notes.append)
    clipped = [n for n in notes if "beyond half's range" in n]
    assert len(clipped) == 1 and "65504" in clipped[0] and "said once" in clipped[0]
    for f in (1, 2):
        spec = _header(tmp_path / "h" / f"c.{f:04d}.exr")
        assert str(spec.format) == "half" and not spec.channelformats
        rgb = read_image(str(tmp_path / "h" / f"c.{f:04d}.exr")).rgb
        assert np.isfinite(rgb).all() and float(rgb.max()) == 65504.0
    notes.clear()
    run_render(job("a/c.####.exr", "auto"), progress=False, warn=notes.append)     # as always: float
    assert not any("beyond half's range" in n for n in notes)
    assert str(_header(tmp_path / "a" / "c.0001.exr").format) == "float"
    assert float(read_image(str(tmp_path / "a" / "c.0001.exr")).rgb.max()) > 1e5


# ---------------------------------------------------------------- refusals (CLI)
@pytest.mark.parametrize("out,extra,fragments", [
    ("o/c.####.exr", ["--out-depth", "8"], ["--out-depth 8", "EXR", "auto, half, float"]),
    ("o/c.####.jpg", ["--out-depth", "16"], ["--out-depth 16", "JPEG", "auto, 8"]),
    ("o/c.####.png", ["--out-depth", "10"], ["--out-depth 10", "PNG", "auto, 8, 16"]),
    ("o/c.####.dpx", ["--out-depth", "half"], ["--out-depth half", "DPX", "auto, 8, 10, 12, 16"]),
    ("o/c.####.exr", ["--out-compression", "dwa"], ["--out-compression 'dwa'", "did you mean dwaa?"]),
    ("o/c.####.png", ["--out-compression", "9"], ["--out-compression '9'", "PNG"]),
])
@pytest.mark.parametrize("cache", [None, "cache_r"])
def test_render_refuses_an_encoding_the_output_cannot_take_before_anything(tmp_path, capsys, out, extra, fragments,
                                                                           cache):
    (tmp_path / "plate").mkdir()
    _make_plate(tmp_path)
    code = _render(tmp_path, out, *extra, cache=cache)
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for frag in fragments:
        assert frag in err, err
    assert not (tmp_path / "o").exists() and not (tmp_path / "cache_r").exists()


def _shot_file(root: Path, **extra) -> Path:
    data = {"plate": "plate/p.####.exr", "frames": [1, 2], "references": [{"frame": 1, "image": "ref.png"}],
            "settings": {"feature_size": 64, "max_working_size": 64}, "output": "out/c.####.exr",
            "cache": "cache"}
    data.update(extra)
    (root / "shot.json").write_text(json.dumps(data))
    return root / "shot.json"


@pytest.mark.parametrize("extra,fragments", [
    ({"out_depth": "8"}, ["'out_depth' 8", "EXR", "auto, half, float"]),
    ({"out_depth": 10, "output": "out/c.####.png"}, ["'out_depth' 10", "PNG", "auto, 8, 16"]),
    ({"out_depth": ["half"]}, ["'out_depth' ['half'] is not a pixel depth"]),
    ({"out_compression": "dwaa:x"}, ["'out_compression' 'dwaa:x'", "level of dwaa"]),
    ({"out_compression": "zip", "output": "out/c.####.dpx"}, ["'out_compression' 'zip'", "DPX"]),
])
def test_shot_file_encoding_keys_are_refused_naming_file_and_key(tmp_path, capsys, extra, fragments):
    (tmp_path / "plate").mkdir()
    _make_plate(tmp_path)
    shot = _shot_file(tmp_path, **extra)
    for argv in (["render", "--shot", str(shot), "--quiet"], ["cache", "status", str(shot)],
                 ["farm", "openjd", str(shot), "-o", str(tmp_path / "job")]):
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        assert len(err.strip().splitlines()) == 1 and err.count(str(shot)) == 1, err
        for frag in fragments:
            assert frag in err, err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()
    assert not (tmp_path / "job").exists()


def test_encoding_options_with_shot_or_suggest_keyframe_are_refused(tmp_path, capsys):
    (tmp_path / "plate").mkdir()
    _make_plate(tmp_path)
    shot = _shot_file(tmp_path)
    assert main(["render", "--shot", str(shot), "--out-depth", "float", "--quiet"]) == 2
    assert "--out-depth cannot be combined with --shot" in capsys.readouterr().err
    assert main(["render", "--shot", str(shot), "--out-compression", "piz", "--quiet"]) == 2
    assert "--out-compression cannot be combined with --shot" in capsys.readouterr().err
    assert main(["suggest-keyframe", "--plate", str(tmp_path / "plate" / "p.####.exr"), "--ref",
                 f"1={tmp_path / 'ref.png'}", "--out-depth", "half", "--quiet"]) == 2
    assert "--out-depth does not apply to suggest-keyframe" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()


# ---------------------------------------------------------------- shot key and cache status
def test_shot_key_is_the_same_whatever_the_encoding(tmp_path):
    (tmp_path / "plate").mkdir()
    _make_plate(tmp_path)
    base = Shot.load(str(_shot_file(tmp_path)))
    assert "out_depth" not in base.to_dict() and "out_compression" not in base.to_dict()
    key = base.key()
    for extra in ({"out_depth": "auto"}, {"out_depth": "half", "out_compression": "zip"},
                  {"out_depth": "float", "out_compression": "dwab:60"}, {"out_compression": "b44a"}):
        shot = Shot.load(str(_shot_file(tmp_path, **extra)))
        assert shot.key() == key, extra
        assert shot.key_description() == base.key_description()
    tif = Shot.load(str(_shot_file(tmp_path, output="out/c.####.tif", out_depth=16, out_compression="LZW")))
    assert (tif.out_depth, tif.out_compression) == ("16", "lzw")
    assert tif.to_dict()["out_depth"] == "16" and tif.to_dict()["out_compression"] == "lzw"
    assert Shot.from_dict(tif.to_dict(), str(tmp_path)).to_dict() == tif.to_dict()     # round trip
    assert tif.key() == key


def _status(shot: Path, capsys):
    assert main(["cache", "status", str(shot), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert main(["cache", "status", str(shot)]) == 0
    return st, capsys.readouterr().out


def test_cache_status_tells_outputs_of_another_encoding_stale_and_keeps_the_cache(tmp_path, capsys):
    (tmp_path / "plate").mkdir()
    _make_plate(tmp_path)
    shot = _shot_file(tmp_path)
    assert main(["cache", "build", str(shot), "--quiet"]) == 0
    capsys.readouterr()
    st, _ = _status(shot, capsys)
    key = st["shot_key"]
    assert st["complete"] and (st["outputs"], st["stale_outputs"]) == (2, [])
    record = json.loads((tmp_path / "cache" / "output_records" / "1.json").read_text())
    assert "encoding" not in record            # the default: records as every earlier version wrote them

    # another depth and compression: same key and segments, the outputs are stale
    _shot_file(tmp_path, out_depth="float", out_compression="dwaa:45")
    st, text = _status(shot, capsys)
    assert st["shot_key"] == key and st["complete"] and not st["stale_segments"]
    assert (st["outputs"], st["stale_outputs"]) == (0, [1, 2])
    assert "in another output depth or compression" in text
    assert main(["render", "--shot", str(shot), "--frames", "1-1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["computed"] == [] and summary["shot_key"] == key                 # read from the cache
    st, _ = _status(shot, capsys)
    assert (st["outputs"], st["stale_outputs"]) == (1, [2])
    spec = _header(tmp_path / "out" / "c.0001.exr")
    assert str(spec.format) == "float" and spec.getattribute("compression") == "dwaa"
    assert json.loads((tmp_path / "cache" / "output_records" / "1.json").read_text())["encoding"] == \
        "depth=float;compression=dwaa:45"

    # only the compression changes: stale again; the default spelled out is the default
    _shot_file(tmp_path, out_depth="float", out_compression="piz")
    assert _status(shot, capsys)[0]["outputs"] == 0
    _shot_file(tmp_path, out_compression="zip")
    st, _ = _status(shot, capsys)
    assert (st["outputs"], st["stale_outputs"]) == (1, [1])                          # frame 2: default
    _shot_file(tmp_path)
    assert main(["render", "--shot", str(shot), "--quiet"]) == 0
    capsys.readouterr()
    st, _ = _status(shot, capsys)
    assert (st["outputs"], st["stale_outputs"]) == (2, [])
    assert str(_header(tmp_path / "out" / "c.0001.exr").format) == "half"


def test_farm_render_chunks_of_a_shot_write_its_encoding(tmp_path, capsys):
    """A plain shot's farm job runs ``render --shot`` per chunk: the shot file's keys decide."""
    from nuke_colorize.farm.plan import build_plan
    (tmp_path / "plate").mkdir()
    _make_plate(tmp_path)
    shot = _shot_file(tmp_path, output="out/c.####.tif", out_depth="8", out_compression="packbits")
    plan = build_plan(str(shot), chunk_size=1)
    args = plan.render_args("2-2")
    assert args[:3] == ["render", "--shot", str(shot)] and not any(a.startswith("--out-") for a in args)
    assert main(plan.cache_build_args(str(shot), "1-2") + ["--quiet"]) == 0
    assert main(args + ["--quiet"]) == 0
    capsys.readouterr()
    spec = _header(tmp_path / "out" / "c.0002.tif")
    assert str(spec.format) == "uint8" and spec.getattribute("compression") == "packbits"
    assert not (tmp_path / "out" / "c.0001.tif").exists()          # the pre-pass writes no output


def test_lossy_compressions_say_which_carried_channels_they_change(tmp_path):
    """The plate's alpha and extra channels pass through EXR bit for bit, but not under every
    compression: b44 is lossy on half channels (a half plate's noisy alpha: up to 0.125 off,
    measured here), pxr24 rounds 32-bit float ones to 24 bits (a float depth of ~1000: up to
    0.0078 off), DWA quantises channels named like colour. Such renders said nothing; a note
    now names the channels (lossless compressions and untouched channels give none)."""
    from nuke_colorize.io.image import compose_channels
    from nuke_colorize.render import lossy_channels_note

    rng = np.random.default_rng(0)
    alpha = rng.random((H, W)).astype(np.float32)
    depth = (1000 + 7 * rng.random((H, W))).astype(np.float32)
    plates = {}
    for fmt in ("half", "float"):
        path = tmp_path / f"{fmt}.exr"
        px = np.dstack([np.repeat((0.18 * alpha)[..., None], 3, 2), alpha, depth, alpha])
        spec = oiio.ImageSpec(W, H, 6, fmt)
        spec.channelnames = ("R", "G", "B", "A", "depth.Z", "matte.R")
        out = oiio.ImageOutput.create(str(path))
        assert out.open(str(path), spec) and out.write_image(px) and out.close()
        plates[fmt] = read_image(str(path))

    def written(fmt, comp):
        img = plates[fmt]
        out = str(tmp_path / f"o_{fmt}_{comp}.exr")
        write_image(out, *compose_channels(img.rgb, img), like=img, compression=comp)
        back = read_image(out)
        return {c: float(np.abs(back.pixels[..., back.channels.index(c)] -
                                img.pixels[..., img.channels.index(c)]).max()) for c in ("A", "depth.Z")}

    assert written("half", "b44")["A"] > 0.05                 # measured 0.125
    assert written("float", "pxr24")["depth.Z"] > 1e-3        # measured 0.0078
    assert written("half", "zip") == {"A": 0.0, "depth.Z": 0.0}

    def note(fmt, comp, depth="auto"):
        job = RenderJob(plate=str(tmp_path / f"{fmt}.exr"), frames=[1], references=[],
                        output=str(tmp_path / "c.####.exr"), out_compression=comp, out_depth=depth)
        return lossy_channels_note(job, plates[fmt])

    assert "b44 is lossy for its half channels: the plate's A, depth.Z, matte.R may change" in note("half", "b44")
    assert note("float", "b44") is None                       # float alpha and depth: untouched
    assert note("half", "b44", "float") is None               # every channel float
    assert "pxr24 is lossy for its 32-bit float channels: the plate's A, depth.Z, matte.R" in note("float", "pxr24")
    assert note("half", "pxr24") is None
    assert "R, G, B, Y, RY or BY: the plate's matte.R may change" in note("half", "dwaa:45")
    assert note("half", "piz") is None and note("half", None) is None
