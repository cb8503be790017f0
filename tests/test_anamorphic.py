"""Plates with non-square pixels (anamorphic scans): the pixel aspect is read and kept, and a
keyframe may be painted on the plate's pixels or on the desqueezed picture."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from nuke_colorize import color
from nuke_colorize.errors import InputError
from nuke_colorize.io import PlateSource, read_image, write_image
from nuke_colorize.io.image import spec_pixel_aspect
from nuke_colorize.pipeline import ReferenceInput
from nuke_colorize.render import RefSpec, RenderJob, check_keyframe_shape, run_render


def test_plate_source_reads_the_pixel_aspect(tmp_path):
    px = np.full((6, 8, 3), 0.2, np.float32)
    for f in (1, 2):
        write_image(str(tmp_path / f"ana.{f:04d}.exr"), px, ["R", "G", "B"], attributes={"PixelAspectRatio": 2.0})
        write_image(str(tmp_path / f"sq.{f:04d}.png"), px, ["R", "G", "B"])
    assert PlateSource(str(tmp_path / "ana.####.exr")).pixel_aspect == 2.0
    assert PlateSource(str(tmp_path / "sq.####.png")).pixel_aspect == 1.0


def test_a_broken_pixel_aspect_attribute_reads_as_square():
    class Spec:
        def __init__(self, v):
            self.v = v

        def getattribute(self, name):
            return self.v if name == "PixelAspectRatio" else None

    for bad in (None, 0.0, -2.0, float("nan"), float("inf"), "wide", 1e9):
        assert spec_pixel_aspect(Spec(bad)) == 1.0
    assert spec_pixel_aspect(Spec(2.0)) == 2.0 and spec_pixel_aspect(Spec(0.9)) == 0.9


def test_keyframe_shape_accepts_the_plate_pixels_or_the_desqueezed_picture():
    plate = (1024, 858)
    on_pixels = ReferenceInput(rgb=np.zeros((858, 1024, 3), np.float32), frame=1)
    desqueezed = ReferenceInput(rgb=np.zeros((858, 2048, 3), np.float32), frame=1)
    check_keyframe_shape(on_pixels, plate, 2.0)
    check_keyframe_shape(desqueezed, plate, 2.0)
    check_keyframe_shape(ReferenceInput(rgb=np.zeros((429, 512, 3), np.float32), frame=1, pixel_aspect=2.0),
                         plate, 2.0)
    with pytest.raises(InputError, match="another shape"):
        check_keyframe_shape(desqueezed, plate, 1.0)          # a square-pixel plate: really another shape
    with pytest.raises(InputError, match="another shape"):
        check_keyframe_shape(ReferenceInput(rgb=np.zeros((600, 1000, 3), np.float32), frame=1), plate, 2.0)


def test_desqueezed_keyframe_colours_an_anamorphic_plate(tmp_path):
    """A PAR-2 EXR plate, its frame 1 painted on the desqueezed picture (twice as wide): frame 1
    of the output carries the painted colour squeezed back onto the plate's pixels, every
    frame keeps the plate's size, pixel aspect and luminance."""
    rng = np.random.default_rng(0)
    h, w = 40, 48
    picture = np.clip(cv2.GaussianBlur(rng.uniform(0, 1, (h, 2 * w, 3)).astype(np.float32), (0, 0), 4.0)
                      * np.array([1.5, 0.9, 0.4], np.float32), 0.02, 1.0)
    write_image(str(tmp_path / "key.exr"), picture, ["R", "G", "B"])
    squeezed = cv2.resize(picture, (w, h), interpolation=cv2.INTER_AREA)
    for f in (1, 2, 3):
        y = color.luminance(np.roll(squeezed, f - 1, axis=1))
        write_image(str(tmp_path / f"plate.{f:04d}.exr"), np.repeat(y[..., None], 3, -1), ["R", "G", "B"],
                    attributes={"PixelAspectRatio": 2.0})
    job = RenderJob(plate=str(tmp_path / "plate.####.exr"), frames=[1, 2, 3],
                    references=[RefSpec(path=str(tmp_path / "key.exr"), frame=1)],
                    output=str(tmp_path / "out.####.exr"), settings={"feature_size": 128})
    run_render(job, progress=False, warn=lambda m: None)
    for f in (1, 2, 3):
        out = read_image(str(tmp_path / f"out.{f:04d}.exr"))
        plate = read_image(str(tmp_path / f"plate.{f:04d}.exr"))
        assert (out.width, out.height) == (w, h) and out.pixel_aspect == 2.0
        np.testing.assert_allclose(color.luminance(out.rgb), plate.rgb[..., 0], rtol=3e-3, atol=1e-4)
    ab_out = color.chroma_of(read_image(str(tmp_path / "out.0001.exr")).rgb)
    ab_key = color.chroma_of(cv2.resize(picture, (w, h), interpolation=cv2.INTER_CUBIC))
    inner = (slice(2, -2), slice(2, -2))
    assert float(np.abs(ab_out[inner] - ab_key[inner]).mean()) < 1.0     # a*b* units


def _movie_with_pixel_aspect(path, frames, h_spacing, v_spacing):
    """Write an MP4 with OpenCV, then declare its pixel aspect as the container does: a 'pasp'
    box (hSpacing:vSpacing) appended to the video sample entry, the sizes of the boxes that
    hold it grown by its 16 bytes (OpenCV puts 'moov' after 'mdat', so no chunk offset moves)."""
    import struct
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 24, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()
    data = bytearray(open(str(path), "rb").read())
    pasp = struct.pack(">I4sII", 16, b"pasp", h_spacing, v_spacing)
    chain = []                       # (offset, size) of moov .. the sample entry

    def walk(off, end, children):
        while off < end:
            size, kind = struct.unpack(">I4s", data[off:off + 8])
            if kind in children:
                chain.append(off)
                start = off + (16 if kind == b"stsd" else 8)
                if kind in (b"mp4v", b"avc1"):
                    return off + size
                found = walk(start, off + size, children)
                if found:
                    return found
                chain.pop()
            off += size
        return None

    end = walk(0, len(data), (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"mp4v", b"avc1"))
    assert end is not None and struct.unpack(">4s", data[chain[0] + 4:chain[0] + 8])[0] == b"moov"
    assert data.find(b"mdat") < chain[0], "moov before mdat: chunk offsets would move"
    for off in chain:
        size = struct.unpack(">I", data[off:off + 4])[0]
        data[off:off + 4] = struct.pack(">I", size + 16)
    data[end:end] = pasp
    open(str(path), "wb").write(bytes(data))
    return str(path)


def test_a_movies_sample_aspect_is_its_pixel_aspect(tmp_path):
    """A 2:1 anamorphic movie plate is read with pixel aspect 2 (the stream's sample aspect)
    and the rendered EXR says so; a movie without one stays square."""
    rng = np.random.default_rng(1)
    frames = [cv2.GaussianBlur(rng.integers(0, 256, (48, 64), dtype=np.uint8), (0, 0), 3) for _ in range(3)]
    frames = [np.repeat(f[..., None], 3, -1) for f in frames]
    movie = _movie_with_pixel_aspect(tmp_path / "plate.mp4", frames, 2, 1)
    with PlateSource(movie) as src:
        assert src.kind == "movie" and src.pixel_aspect == 2.0
        assert src.read(1).pixel_aspect == 2.0
    cv2.imwrite(str(tmp_path / "still.png"), (rng.uniform(0, 255, (48, 128, 3))).astype(np.uint8))
    job = RenderJob(plate=movie, frames=[1, 2], references=[RefSpec(path=str(tmp_path / "still.png"))],
                    output=str(tmp_path / "out.####.exr"), settings={"feature_size": 128})
    run_render(job, progress=False, warn=lambda m: None)
    out = read_image(str(tmp_path / "out.0002.exr"))
    assert (out.width, out.height, out.pixel_aspect) == (64, 48, 2.0)
    square = _movie_with_pixel_aspect(tmp_path / "square.mp4", frames, 1, 1)
    with PlateSource(square) as src:
        assert src.pixel_aspect == 1.0
