"""Bad input becomes an InputError naming file, frame and problem; absurd headers never allocate."""
from __future__ import annotations

import os
import resource
import struct
import time
import zlib

import numpy as np
import OpenImageIO as oiio
import pytest

from nuke_colorize.errors import InputError
from nuke_colorize.io import image_size, read_image, write_image


def _exr(path, pixels, channels=None):
    h, w, c = pixels.shape
    spec = oiio.ImageSpec(w, h, c, "half")
    if channels:
        spec.channelnames = tuple(channels)
    spec.attribute("compression", "zip")
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), out.geterror()
    assert out.write_image(np.ascontiguousarray(pixels, dtype=np.float32))
    assert out.close()
    return str(path)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_header_only(path, width, height):
    """A PNG whose IHDR (with a valid CRC) claims width x height RGB8, with almost no data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\0" * 16)) + _png_chunk(b"IEND", b""))
    with open(path, "wb") as fh:
        fh.write(data)
    return str(path)


def _error(path, **kw) -> str:
    with pytest.raises(InputError) as err:
        read_image(path, **kw)
    return str(err.value)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def test_missing_file_and_missing_frame(tmp_path):
    msg = _error(str(tmp_path / "nope.exr"))
    assert "nope.exr" in msg and "does not exist" in msg
    msg = _error(str(tmp_path / "p.####.exr"), frame=1003)
    assert "p.1003.exr" in msg and "frame 1003" in msg and "missing frame" in msg


def test_zero_byte_png(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    msg = _error(str(p))
    assert "empty.png" in msg and "empty (0 bytes)" in msg


def test_wrong_magic(tmp_path):
    p = tmp_path / "text.exr"
    p.write_bytes(b"this is not an image at all\n" * 20)
    msg = _error(str(p))
    assert "text.exr" in msg and "not a readable image" in msg
    q = tmp_path / "jpeg_named.png"       # valid JPEG bytes behind a .png name
    write_image(str(tmp_path / "real.jpg"), np.full((4, 4, 3), 0.5, np.float32), ["R", "G", "B"])
    q.write_bytes((tmp_path / "real.jpg").read_bytes()[:40] + b"\0" * 10)
    assert "jpeg_named.png" in _error(str(q))


def test_truncated_exr_and_png(tmp_path):
    rng = np.random.default_rng(0)
    full = _exr(tmp_path / "full.exr", rng.uniform(size=(64, 64, 3)))
    data = open(full, "rb").read()
    cut = tmp_path / "cut.exr"
    cut.write_bytes(data[: len(data) // 2])
    msg = _error(str(cut))
    assert "cut.exr" in msg and "truncated" in msg
    head = tmp_path / "head.exr"
    head.write_bytes(data[:30])       # not even a whole header
    assert "head.exr" in _error(str(head))
    write_image(str(tmp_path / "full.png"), rng.uniform(size=(64, 64, 3)).astype(np.float32), ["R", "G", "B"])
    pdata = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(pdata[: len(pdata) // 2])
    msg = _error(str(tmp_path / "cut.png"), frame=12)
    assert "cut.png" in msg and "frame 12" in msg


def test_nan_and_inf_pixels(tmp_path):
    px = np.full((4, 5, 4), 0.25, np.float32)
    px[1, 2, 0] = np.nan
    px[3, 4, 1] = np.inf
    px[3, 4, 2] = -np.inf         # same pixel as above: counted once
    px[0, 0, 3] = np.nan          # alpha counts too
    p = _exr(tmp_path / "nan.exr", px)
    msg = _error(p, frame=None)
    assert "nan.exr" in msg and "3 pixels are NaN/Inf" in msg and "x=0, y=0" in msg
    img = read_image(p, allow_nonfinite=True)
    assert np.isnan(img.pixels[1, 2, 0])
    # Inf in a pass-through channel (e.g. depth) is not an error.
    z = np.concatenate([np.full((4, 5, 3), 0.1, np.float32), np.full((4, 5, 1), np.inf, np.float32)], 2)
    assert read_image(_exr(tmp_path / "z.exr", z, ["R", "G", "B", "depth.Z"])).extra_channel_names == ["depth.Z"]


def test_absurd_png_header_refused_before_allocating(tmp_path):
    rss = _peak_rss_mb()
    for size in (100000, 20000):   # 100000x100000: 30 GB as RGB8; 20000x20000: 4.8 GB as float
        p = _png_header_only(tmp_path / f"huge{size}.png", size, size)
        t0 = time.perf_counter()
        msg = _error(p)
        assert time.perf_counter() - t0 < 1.0
        assert f"huge{size}.png" in msg and "absurd image size" in msg
        with pytest.raises(InputError):
            image_size(p)
    assert _peak_rss_mb() - rss < 200, "pixels were allocated"


def test_absurd_exr_data_window_refused(tmp_path):
    p = _exr(tmp_path / "small.exr", np.zeros((4, 4, 3), np.float32))
    data = bytearray(open(p, "rb").read())
    for name in (b"dataWindow\0box2i\0", b"displayWindow\0box2i\0"):
        at = data.index(name) + len(name) + 4          # skip the attribute's byte size
        data[at:at + 16] = struct.pack("<iiii", 0, 0, 99999, 99999)
    (tmp_path / "huge.exr").write_bytes(bytes(data))
    t0 = time.perf_counter()
    msg = _error(str(tmp_path / "huge.exr"))
    assert time.perf_counter() - t0 < 1.0
    assert "huge.exr" in msg


def _luminance_chroma_exr(path):
    """A 2x2 uncompressed luminance/chroma EXR as OpenEXR writes YC images: Y at full
    resolution (0.18), RY (0.2) and BY (-0.1) sampled 2x2, one value each (checked with the
    OpenEXR module, which reads it back so)."""
    def attr(name, kind, value):
        return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value
    chlist = b"".join(n.encode() + b"\0" + struct.pack("<iB3xii", 1, 0, s, s)     # HALF, sampling s x s
                      for n, s in (("BY", 2), ("RY", 2), ("Y", 1))) + b"\0"
    box = struct.pack("<4i", 0, 0, 1, 1)
    header = (b"\x76\x2f\x31\x01" + struct.pack("<i", 2)
              + attr("channels", "chlist", chlist) + attr("compression", "compression", b"\0")
              + attr("dataWindow", "box2i", box) + attr("displayWindow", "box2i", box)
              + attr("lineOrder", "lineOrder", b"\0") + attr("pixelAspectRatio", "float", struct.pack("<f", 1))
              + attr("screenWindowCenter", "v2f", struct.pack("<2f", 0, 0))
              + attr("screenWindowWidth", "float", struct.pack("<f", 1)) + b"\0")
    lines = [np.array([-0.1, 0.2, 0.18, 0.18], np.float16).tobytes(),    # line 0: BY, RY, Y Y
             np.array([0.18, 0.18], np.float16).tobytes()]                # line 1: Y Y
    first = len(header) + 8 * len(lines)
    offsets = [first, first + 8 + len(lines[0])]
    blocks = b"".join(struct.pack("<ii", y, len(d)) + d for y, d in enumerate(lines))
    path.write_bytes(header + struct.pack("<2Q", *offsets) + blocks)
    return str(path)


def test_subsampled_luminance_chroma_exr_is_named_not_called_corrupt(tmp_path):
    """OpenImageIO cannot read subsampled channels. A valid luminance/chroma EXR was refused as
    "not a readable image (wrong format, corrupt or truncated header)"; the message now says
    what the file is and how to make it readable."""
    msg = _error(_luminance_chroma_exr(tmp_path / "yc.exr"))
    assert "yc.exr" in msg and "corrupt" not in msg
    assert "subsampled channels (a luminance/chroma image: RY, BY at reduced resolution)" in msg
    assert "full-resolution channels" in msg


def test_max_pixels_is_configurable(tmp_path):
    p = _exr(tmp_path / "a.exr", np.zeros((10, 10, 3), np.float32))
    assert read_image(p, max_pixels=100).width == 10
    assert "10x10 = 100 pixels, more than the limit of 99" in _error(p, max_pixels=99)
    with pytest.raises(InputError, match="limit of 99"):
        image_size(p, max_pixels=99)
    # A genuine (compressible) 4096x4096 header is refused by our limit before decoding.
    big = str(tmp_path / "big.exr")
    spec = oiio.ImageSpec(4096, 4096, 1, "half")
    spec.attribute("compression", "zip")
    out = oiio.ImageOutput.create(big)
    assert out.open(big, spec)
    assert out.write_image(np.zeros((4096, 4096, 1), np.float32))
    assert out.close()
    t0 = time.perf_counter()
    assert "more than the limit of 1000000" in _error(big, max_pixels=10 ** 6)
    assert time.perf_counter() - t0 < 0.2


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="running as root: chmod cannot make a file unreadable")
def test_permission_denied(tmp_path):
    p = _exr(tmp_path / "locked.exr", np.zeros((2, 2, 3), np.float32))
    os.chmod(p, 0)
    try:
        msg = _error(p)
        assert "locked.exr" in msg and "permission denied" in msg
    finally:
        os.chmod(p, 0o644)


def test_symlink_loop_broken_link_and_folder(tmp_path):
    os.symlink(tmp_path / "b.exr", tmp_path / "a.exr")
    os.symlink(tmp_path / "a.exr", tmp_path / "b.exr")
    msg = _error(str(tmp_path / "a.exr"))
    assert "a.exr" in msg and "symlink loop" in msg
    os.symlink(tmp_path / "gone.exr", tmp_path / "dangling.exr")
    assert "broken symlink" in _error(str(tmp_path / "dangling.exr"))
    os.mkdir(tmp_path / "dir.exr")
    assert "folder" in _error(str(tmp_path / "dir.exr"))


@pytest.mark.parametrize("n, alpha", [(1, None), (2, 1), (3, None), (4, 3), (7, 3)])
def test_channel_counts(tmp_path, n, alpha):
    """1 = luminance, 2 = luminance + alpha, 3 = RGB, 4 = RGBA, 7 = RGBA + 3 pass-through channels."""
    px = np.random.default_rng(n).uniform(size=(3, 4, n)).astype(np.float32)
    p = str(tmp_path / f"c{n}.tif")
    write_image(p, px, [f"c{i}" for i in range(n)], dtype="float")
    img = read_image(p)
    assert img.pixels.shape == (3, 4, n)
    want_rgb = np.repeat(px[..., :1], 3, 2) if n <= 2 else px[..., :3]
    np.testing.assert_array_equal(img.rgb, want_rgb)
    assert img.alpha_index == alpha
    assert len(img.extra_channel_names) == max(0, n - 4)
    if alpha is not None:
        np.testing.assert_array_equal(img.alpha, px[..., alpha])
