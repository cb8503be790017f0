"""What an output frame's header says about its pixels' encoding (render.write_frame): the
primaries (EXR ``chromaticities``) and a PNG's transfer chunks match what the file holds."""
from __future__ import annotations

import numpy as np
import OpenImageIO as oiio
import pytest

from nuke_colorize.io import read_image
from nuke_colorize.pipeline import FrameOutput
from nuke_colorize.render import REC709_CHROMATICITIES, RenderJob, write_frame

AP1 = (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767)   # ACEScg primaries, ACES white


def _plate(tmp_path, chromaticities=AP1, colorspace=None):
    """A 6x4 grey half EXR plate frame, declaring ``chromaticities`` (None: no attribute) and
    the colourspace ``colorspace`` (OpenImageIO's name, written as ``colorInteropID``)."""
    path = str(tmp_path / "plate.0001.exr")
    spec = oiio.ImageSpec(6, 4, 3, "half")
    if chromaticities is not None:
        spec.attribute("chromaticities", oiio.TypeDesc("float[8]"), chromaticities)
    if colorspace is not None:
        spec.attribute("oiio:ColorSpace", colorspace)
    out = oiio.ImageOutput.create(path)
    assert out.open(path, spec), out.geterror()
    assert out.write_image(np.full((4, 6, 3), 0.18, np.float32))
    assert out.close()
    return read_image(path)


def _write(tmp_path, plate, out_name, out_cs="auto", plate_cs="linear"):
    """write_frame of one colour frame (a warm tone of the plate's luminance) -> its path."""
    job = RenderJob(plate=str(tmp_path / "plate.####.exr"), frames=[1], references=[],
                    output=str(tmp_path / out_name), out_colorspace=out_cs)
    rgb = np.empty((4, 6, 3), np.float32)
    rgb[:] = (0.25, 0.165, 0.12)
    out = FrameOutput(frame=1, rgb=rgb, ab=np.zeros((4, 6, 2), np.float32),
                      confidence=np.ones((4, 6), np.float32))
    return write_frame(job, out, plate, plate_cs, [], {})[0]


def _chromaticities(path):
    value = read_image(path).spec.getattribute("chromaticities")
    return None if value is None else tuple(float(v) for v in value)


def test_exr_output_states_the_primaries_it_holds_not_the_plates(tmp_path):
    """A plate declaring ACEScg (AP1) primaries, read as linear Rec.709 (auto): the output's
    pixels are linear Rec.709, and its header now says so. Before, the plate's AP1
    chromaticities were copied onto Rec.709 pixels: a reader honouring them saw other colours."""
    plate = _plate(tmp_path)
    path = _write(tmp_path, plate, "colour.####.exr")
    assert _chromaticities(path) == pytest.approx(REC709_CHROMATICITIES, abs=1e-6)
    # the output in the plate's own OCIO colourspace keeps the plate's primaries; another
    # OCIO colourspace (primaries not known here) states none
    assert _chromaticities(_write(tmp_path, plate, "aces.####.exr", "ACEScg", "ACEScg")) == \
        pytest.approx(AP1, abs=1e-6)
    assert _chromaticities(_write(tmp_path, plate, "cct.####.exr", "ACEScct", "ACEScg")) is None
    # a plate without chromaticities gives an output without (headers as before)
    assert _chromaticities(_write(tmp_path, _plate(tmp_path, None), "plain.####.exr")) is None


def _interop_id(path):
    return read_image(path).spec.getattribute("colorInteropID")


def test_exr_output_states_the_colourspace_it_holds_not_the_plates(tmp_path):
    """An ACEScg-tagged EXR plate (colorInteropID lin_ap1_scene, as OpenImageIO and Nuke 16
    write it) read as linear Rec.709 (auto): the output's header said lin_ap1_scene (copied
    from the plate) beside Rec.709 chromaticities; it now says lin_rec709_scene, what it holds."""
    plate = _plate(tmp_path, AP1, "ACEScg")
    assert plate.spec.getattribute("colorInteropID") == "lin_ap1_scene"
    assert _interop_id(_write(tmp_path, plate, "colour.####.exr")) == "lin_rec709_scene"
    assert _interop_id(_write(tmp_path, plate, "srgb.####.exr", "srgb")) == "srgb_rec709_scene"
    # the plate's own OCIO colourspace keeps its tag; one without an interop ID says none
    assert _interop_id(_write(tmp_path, plate, "aces.####.exr", "ACEScg", "ACEScg")) == "lin_ap1_scene"
    assert _interop_id(_write(tmp_path, plate, "cct.####.exr", "ACEScct", "ACEScg")) is None
    assert _interop_id(_write(tmp_path, plate, "r709.####.exr", "rec709")) is None
    # a plate without a tag gives an output without (headers as before)
    assert _interop_id(_write(tmp_path, _plate(tmp_path, None), "plain.####.exr")) is None


def _png_chunks(path):
    raw = open(path, "rb").read()
    chunks, i = {}, 8
    while i < len(raw):
        n = int.from_bytes(raw[i:i + 4], "big")
        chunks[raw[i + 4:i + 8].decode("latin-1")] = raw[i + 8:i + 8 + n]
        i += 12 + n
    return chunks


@pytest.mark.parametrize("out_cs, srgb_chunk, gamma", [
    ("srgb", True, 45455),      # the default: sRGB, gAMA 1/2.2
    ("linear", False, 100000),  # before: sRGB and gAMA 1/2.2 on linear pixels
    ("rec709", False, None),    # no PNG tag for the Rec.709 OETF: none rather than sRGB's
])
def test_png_output_transfer_chunks_match_its_encoding(tmp_path, out_cs, srgb_chunk, gamma):
    path = _write(tmp_path, _plate(tmp_path, None), "colour.####.png", out_cs)
    chunks = _png_chunks(path)
    assert ("sRGB" in chunks) == srgb_chunk
    assert (int.from_bytes(chunks["gAMA"], "big") if "gAMA" in chunks else None) == gamma


def test_auto_says_when_it_reads_a_tagged_plate_as_linear_rec709(tmp_path):
    """An EXR plate tagged ACEScg (colorInteropID lin_ap1_scene) with --colorspace auto is read
    as linear Rec.709, as every float file: before, without a word (its AP1 values weighted
    as Rec.709's for the luminance); now a note names the tag and the option, once per
    render. A plate tagged lin_rec709_scene, an untagged one, or a colourspace given: no note."""
    from nuke_colorize.io import PlateSource
    from nuke_colorize.render import PlateLuma

    def notes(tag, colourspace="auto"):
        folder = tmp_path / f"{tag}_{colourspace}"
        folder.mkdir()
        for f in (1, 2):
            spec = oiio.ImageSpec(6, 4, 3, "half")
            if tag:
                spec.attribute("oiio:ColorSpace", tag)
            out = oiio.ImageOutput.create(str(folder / f"p.{f:04d}.exr"))
            assert out.open(str(folder / f"p.{f:04d}.exr"), spec) and out.write_image(np.full((4, 6, 3), 0.18, np.float32))
            assert out.close()
        said = []
        luma = PlateLuma(PlateSource(str(folder / "p.####.exr")), colourspace, said.append)
        luma(1), luma(2)
        return said

    said = notes("ACEScg")
    assert len(said) == 1
    assert "declares colourspace lin_ap1_scene (colorInteropID), but --colorspace auto reads float files " \
           "as linear Rec.709 (lin_rec709_scene): give --colorspace lin_ap1_scene" in said[0]
    assert notes("lin_rec709_scene") == [] and notes(None) == []
    assert notes("ACEScg", "ACEScg") == []


def test_auto_says_when_it_reads_a_tagged_reference_as_linear_rec709(tmp_path):
    """The same for a reference: an ACEScg-tagged EXR still read through --ref-colorspace auto
    is noted (its colour would be taken as Rec.709's); given its colourspace, no note."""
    from nuke_colorize.render import RefSpec, load_reference

    path = str(tmp_path / "ref.exr")
    spec = oiio.ImageSpec(6, 4, 3, "half")
    spec.attribute("oiio:ColorSpace", "ACEScg")
    out = oiio.ImageOutput.create(path)
    px = np.empty((4, 6, 3), np.float32)
    px[:] = (0.4, 0.2, 0.05)
    assert out.open(path, spec) and out.write_image(px) and out.close()
    said = []
    load_reference(RefSpec(path=path), "auto", said.append)
    assert len(said) == 1 and "declares colourspace lin_ap1_scene" in said[0] and \
        "give --ref-colorspace lin_ap1_scene" in said[0]
    said.clear()
    load_reference(RefSpec(path=path), "lin_ap1_scene", said.append)
    assert said == []


def _icc_profile(description, colorants):
    """Pillow's sRGB profile renamed (its 'mluc' description) and given other primaries."""
    import struct

    from PIL import ImageCms

    b = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    for k in range(struct.unpack(">I", b[128:132])[0]):
        sig, off, _ = struct.unpack(">4sII", b[132 + 12 * k:144 + 12 * k])
        if sig == b"desc":
            assert b[off:off + 4] == b"mluc"
            rec = struct.unpack(">I", b[off + 24:off + 28])[0]   # the first record's text offset
            text = description.encode("utf-16-be")   # at most 13 characters: the room there is
            b[off + rec:off + rec + len(text)] = text
            struct.pack_into(">I", b, off + 20, len(text))
        elif sig in (b"rXYZ", b"gXYZ", b"bXYZ"):
            xyz = colorants[(b"rXYZ", b"gXYZ", b"bXYZ").index(sig)]
            struct.pack_into(">3i", b, off + 8, *[round(v * 65536) for v in xyz])
    return bytes(b)


def test_auto_says_when_a_reference_embeds_a_wide_gamut_icc_profile(tmp_path):
    """A Display P3 still (a phone's, a photographer's) read through auto is read as sRGB, its
    profile ignored as Nuke's Read ignores it: its colours come out less saturated than the
    still shows them. That was silent; a note now names the profile and the colourspace to
    give. An sRGB profile, whatever its name (Facebook's tiny 'c2'), gives no note."""
    from PIL import Image

    from nuke_colorize.render import RefSpec, load_reference

    srgb = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7139))
    p3 = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))
    px = np.zeros((8, 8, 3), np.uint8)
    px[:, :4] = (220, 30, 30)
    px[:, 4:] = (30, 200, 60)

    def notes(name, colorants, colorspace="auto"):
        path = str(tmp_path / f"{name}.png")
        Image.fromarray(px).save(path, icc_profile=_icc_profile(name, colorants))
        said = []
        load_reference(RefSpec(path=path), colorspace, said.append)
        return said

    said = notes("Display P3", p3)
    assert len(said) == 1 and "embedded ICC profile 'Display P3' has other primaries than sRGB" in said[0] \
        and "--ref-colorspace 'sRGB Encoded P3-D65'" in said[0]
    assert notes("c2", srgb) == [] and notes("sRGB IEC61966", srgb) == []
    assert notes("Display P3", p3, "sRGB Encoded P3-D65") == []
    p3_read = load_reference(RefSpec(path=str(tmp_path / "Display P3.png")), "sRGB Encoded P3-D65")
    as_srgb = load_reference(RefSpec(path=str(tmp_path / "Display P3.png")), "srgb")
    assert p3_read.rgb[0, 0, 0] > as_srgb.rgb[0, 0, 0] * 1.05   # the red named P3 is redder


def test_auto_says_when_it_reads_a_png_tagged_linear_as_srgb(tmp_path):
    """A PNG whose gAMA chunk says linear (1.0; as this tool writes a PNG with --out-colorspace
    linear) is read by auto as sRGB, as Nuke's Read reads it: used as a reference or a plate,
    its values were taken for sRGB codes without a word (a linear 0.18 grey as 0.03). A note
    now names the tag and the option, once per render; an untagged PNG or a colourspace
    given: no note."""
    from nuke_colorize.io import PlateSource
    from nuke_colorize.render import PlateLuma, RefSpec, load_reference

    px = np.zeros((4, 6, 3), np.float32)
    px[..., 0], px[..., 1], px[..., 2] = 0.5, 0.18, 0.05

    def png(name, tag):
        spec = oiio.ImageSpec(6, 4, 3, "uint8")
        if tag:
            spec.attribute("oiio:ColorSpace", tag)
        buf = oiio.ImageBuf(spec)
        buf.set_pixels(oiio.ROI(), px)
        assert buf.write(str(tmp_path / name))
        return str(tmp_path / name)

    lin, plain = png("lin.0001.png", "lin_rec709_scene"), png("plain.0001.png", None)
    png("lin.0002.png", "lin_rec709_scene")
    said = []
    load_reference(RefSpec(path=lin), "auto", said.append)
    assert len(said) == 1 and "declares linear values (a PNG's gAMA 1.0" in said[0] \
        and "give --ref-colorspace linear" in said[0]
    for path, cs in ((lin, "linear"), (plain, "auto")):
        said.clear()
        load_reference(RefSpec(path=path), cs, said.append)
        assert said == []
    said.clear()
    luma = PlateLuma(PlateSource(str(tmp_path / "lin.####.png")), "auto", said.append)
    luma(1), luma(2)
    assert [m for m in said if "declares linear" in m and "give --colorspace linear" in m] == [said[0]]
    assert sum("declares linear" in m for m in said) == 1
