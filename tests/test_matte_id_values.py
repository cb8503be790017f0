"""Matte ID values that do not fit the int32 instance maps as they are: float IDs from 2^30 up
(they were clipped to 2^30, all one object), fractional and negative float IDs (rounded or
clipped to background), 32-bit integer and double channels (read through float32: integers
scaled as 8-bit, i.e. gone; doubles rounded to 24 bits), Cryptomatte hashes and object-channel
CRC-32s that differ only above bit 30 (masked to 30 bits: one object). Each distinct value is
its own object now; where a file cannot hold the IDs apart (half float), or two values fold to
one ID, the matte is refused naming file and frame. Files are written with OpenImageIO and
read as the render reads them (:class:`~nuke_colorize.io.matte.MatteReader`)."""
from __future__ import annotations

import os
import zlib

import numpy as np
import pytest

from conftest import write_channels, write_oiio
from nuke_colorize.errors import InputError
from nuke_colorize.io import frame_path
from nuke_colorize.io import matte as mio

H = 3


def _plane(values, dtype=np.float32) -> np.ndarray:
    """(H, 1 + len(values)) plane: column 0 background, column k + 1 the object ``values[k]``."""
    return np.array([[0] + list(values)] * H, dtype=dtype)


def _read(path, frame: int = 1) -> mio.Matte:
    """The matte of ``frame`` of the pattern ``path`` at its own size, as the render reads it."""
    from nuke_colorize.io.image import image_size
    return mio.MatteReader(str(path), image_size(path, frame)).read(frame)


def _refusal(path, frame: int) -> str:
    """The message of the InputError reading ``frame`` of the pattern ``path`` raises, after
    checking that it names that frame's file and the frame."""
    with pytest.raises(InputError) as exc:
        _read(path, frame)
    msg = str(exc.value)
    assert os.path.basename(frame_path(str(path), frame)) in msg and f"frame {frame}" in msg
    return msg


def _objects(ids: np.ndarray) -> list:
    """The ID of each object column (1 ..), after checking column 0 is background and every
    column holds one ID."""
    assert (ids[:, 0] == 0).all()
    assert all(len(np.unique(ids[:, c])) == 1 for c in range(ids.shape[1])), ids
    return ids[0, 1:].tolist()


def _assert_apart(objects: list, values) -> None:
    """One non-zero ID per object, all different; values that are whole numbers below 2^30 kept."""
    assert len(set(objects)) == len(objects) and 0 not in objects and -1 not in objects, objects
    for v, i in zip(values, objects):
        if float(v).is_integer() and 0 < v < mio.ID_LIMIT:
            assert i == v


@pytest.mark.parametrize("values", [
    [7.0, 2.0 ** 31, 3 * 2.0 ** 30, 2.0 ** 30 + 128],    # differ only above bit 30: all were 2^30
    [3.0, 2.6, 3.4, -1.0, -2.0, 0.25],                   # rounded to 3 / clipped to background
], ids=["above 2^30", "fractions and negatives"])
def test_distinct_float_ids_stay_distinct_objects_on_every_frame(tmp_path, values):
    for f in (1, 2):
        write_oiio(tmp_path / f"m.{f:04d}.exr", _plane(values)[..., None], "float")
    m = _read(tmp_path / "m.####.exr")
    assert m.kind == mio.IDS
    objects = _objects(m.ids)
    _assert_apart(objects, values)
    assert _objects(_read(tmp_path / "m.####.exr", 2).ids) == objects       # the same value, the same ID


def test_float_noise_around_a_whole_id_is_that_id(tmp_path):
    # an unpremultiply or colourspace round trip in float32 leaves 2.9999998 where 3 was written
    noisy = [np.nextafter(np.float32(3), np.float32(0)), 3.0, np.float32(3) * (1 + 2e-7),
             np.nextafter(np.float32(70000), np.float32(0)), 2.6]
    write_oiio(tmp_path / "m.0001.exr", _plane(noisy)[..., None], "float")
    assert _objects(_read(tmp_path / "m.####.exr").ids)[:4] == [3, 3, 3, 70000]
    assert _objects(_read(tmp_path / "m.####.exr").ids)[4] not in (0, 2, 3)      # an edge: its own


BIG = [5, 5 + 2 ** 30, 5 + 2 ** 31, 3 * 2 ** 30, 7]     # 32-bit IDs differing only above bit 30


def _uint_exr(path):
    write_channels(path, [_plane(BIG, np.uint32)], ["Y"], ["uint"])


def _uint_tif(path):
    write_oiio(path, _plane(BIG, np.uint32)[..., None], "uint")


def _rgba_and_uint_id_exr(path):
    """Half R/G/B/A (black, A = 1) and a 32-bit unsigned ID channel."""
    ids = _plane(BIG, np.uint32)
    zero, one = np.zeros_like(ids), np.full_like(ids, 0xFFFFFFFF)
    write_channels(path, [zero, zero, zero, one, ids], ["R", "G", "B", "A", "id"], ["half"] * 4 + ["uint"])


DOUBLES = [1_000_000_001.0, 1_000_000_002.0, 5.0]         # one float32 value, 1e9


def _double_tif(path):
    write_oiio(path, _plane(DOUBLES, np.float64)[..., None], "double")


@pytest.mark.parametrize("write,ext,values", [(_uint_exr, "exr", BIG), (_uint_tif, "tif", BIG),
                                              (_rgba_and_uint_id_exr, "exr", BIG),
                                              (_double_tif, "tif", DOUBLES)],
                         ids=["uint exr", "uint tif", "uint channel beside rgba", "double tif"])
def test_32bit_integer_and_double_id_channels_are_read_exactly(tmp_path, write, ext, values):
    path = tmp_path / f"m.0001.{ext}"
    write(path)
    m = _read(path)
    assert m.kind == mio.IDS
    _assert_apart(_objects(m.ids), values)


def _cryptomatte(path, hashes, fmt="float"):
    """An EXR with half R/G/B/A and a CryptoObject layer (stored as ``fmt``) whose rank-0 IDs
    are the float32s of ``hashes`` (bit patterns), full coverage."""
    ids = _plane(hashes, np.uint32).view(np.float32)
    cov = (ids != 0).astype(np.float32)
    zero = np.zeros_like(cov)
    write_channels(path, [zero] * 4 + [ids, cov, zero, zero],
                   ["R", "G", "B", "A"] + [f"CryptoObject00.{c}" for c in "RGBA"], ["half"] * 4 + [fmt] * 4)


def test_cryptomatte_hashes_that_differ_only_above_bit_30_are_two_objects(tmp_path):
    hashes = [0x1E96B88C, 0x1E96B88C | 1 << 30, 0x1E96B88C | 1 << 31, 0x1E96B88C | 3 << 30]
    _cryptomatte(tmp_path / "c.0001.exr", hashes)
    m = _read(tmp_path / "c.####.exr")
    assert m.kind == mio.CRYPTOMATTE
    objects = _objects(m.ids)
    _assert_apart(objects, hashes)
    assert objects == [int(mio.id_of(h)) for h in hashes]


def test_cryptomatte_stored_as_half_float_is_refused(tmp_path):
    """Half keeps 11 of a hash's 32 bits (and overflows most exponents): objects merge."""
    _cryptomatte(tmp_path / "c.0004.exr", [0x1E96B88C, 0x1E96B88D], fmt="half")
    msg = _refusal(tmp_path / "c.####.exr", 4)
    assert "CryptoObject00.R is stored as half float" in msg
    assert "write the Cryptomatte layers as 32-bit float" in msg


def test_object_channels_whose_crc_differs_only_above_bit_30_are_two_objects(tmp_path):
    a, b = "plhdwbor.alpha", "faocdk.alpha"
    assert zlib.crc32(a.encode()) ^ zlib.crc32(b.encode()) == 3 << 30          # one ID when masked
    write_channels(tmp_path / "o.0001.exr", [_plane([1.0, 0.0]), _plane([0.0, 1.0])], [a, b])
    m = _read(tmp_path / "o.####.exr")
    assert m.kind == mio.CHANNELS
    assert _objects(m.ids) == [mio.channel_id(a), mio.channel_id(b)] and mio.channel_id(a) != mio.channel_id(b)


def test_two_object_channels_of_one_id_are_refused_naming_both(tmp_path):
    a, b = "xdk.alpha", "emb.alpha"          # their CRC-32s fold to one ID
    assert mio.channel_id(a) == mio.channel_id(b)
    write_channels(tmp_path / "o.0002.exr", [_plane([1.0, 0.0]), _plane([0.0, 1.0])], [a, b])
    msg = _refusal(tmp_path / "o.####.exr", 2)
    assert f"channel {a}" in msg and f"channel {b}" in msg
    assert "rename one of the two channels" in msg


def test_two_float_ids_that_fold_to_one_id_are_refused_naming_both(tmp_path):
    values = [1_100_583_040.0, 1_107_361_792.0]          # float32s above 2^30 folding together
    write_oiio(tmp_path / "m.0003.exr", _plane(values)[..., None], "float")
    msg = _refusal(tmp_path / "m.####.exr", 3)
    assert "ID 1100583040 and ID 1107361792" in msg
    assert "whole numbers from 1 to 1073741823" in msg


def test_half_float_id_pass_is_refused_where_half_cannot_keep_ids_apart(tmp_path):
    """Half keeps whole numbers apart below 2048: IDs 2048 and 2049 are both stored as 2048."""
    write_oiio(tmp_path / "m.0001.exr", _plane([5.0, 2047.0])[..., None], "half")
    assert _objects(_read(tmp_path / "m.####.exr").ids) == [5, 2047]
    write_oiio(tmp_path / "m.0002.exr", _plane([5.0, 2048.0, 2049.0])[..., None], "half")
    msg = _refusal(tmp_path / "m.####.exr", 2)
    assert "stored as half float" in msg
    assert "write the ID matte as 32-bit float" in msg


def test_a_filtered_id_pass_gives_its_edges_to_the_objects_around_them(tmp_path):
    """A float ID pass rendered through a filter (Gaussian, as renderers write AOVs) holds at
    each edge a mix of the IDs on either side, every one a value of its own: each became an
    object of one pixel (thousands a frame), and at 1080p two of them folded to one ID on
    about one frame in six, refusing the matte ("two objects ... get one instance ID"). Now,
    past EDGE_VALUES distinct such values, an edge value that fills no 3x3 block takes its
    nearest pixel's ID: the objects are the whole numbers the pass was written with."""
    import cv2

    rng = np.random.default_rng(1)
    h, w = 288, 512
    sharp = np.zeros((h, w), np.float32)
    for k in range(1, 41):
        cv2.circle(sharp, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), int(rng.uniform(10, 70)),
                   float(k), -1, lineType=cv2.LINE_AA)
    aa = cv2.GaussianBlur(sharp, (0, 0), 0.8)
    fractions = aa[aa != np.round(aa)]
    assert len(np.unique(fractions)) > mio.EDGE_VALUES
    write_oiio(tmp_path / "id.0001.exr", aa[..., None], "float")
    m = _read(tmp_path / "id.####.exr")
    assert m.kind == mio.IDS
    assert set(np.unique(m.ids).tolist()) <= set(range(41))
    whole = aa == np.round(aa)
    np.testing.assert_array_equal(m.ids[whole], aa[whole].astype(np.int32))
    # the filtered pixels take, but for a few in slivers, the ID the unfiltered pass had there
    mixed = ~whole
    assert mixed.sum() > 10000 and (m.ids[mixed] == np.round(sharp[mixed])).mean() > 0.95


def test_a_feathered_8bit_grey_matte_is_one_object(tmp_path):
    """One object's matte saved as an 8-bit grey PNG with a soft edge (a feathered roto, a
    resized mask) was an ID pass of 200-odd objects, one per edge level, none of them the
    keyframe's object. Its edge levels fill no 3x3 block: it is one object now, ID 255 where
    above half, as the same object's hard frames (0/255) read; an 8-bit ID pass whose IDs fill
    blocks is read as before."""
    import cv2

    yy, xx = np.mgrid[0:72, 0:128]
    hard = ((xx - 64) ** 2 + (yy - 36) ** 2 < 25 ** 2).astype(np.float32)
    soft = np.round(cv2.GaussianBlur(hard * 255, (0, 0), 2.0)).astype(np.uint8)
    assert len(np.unique(soft)) > 100
    write_oiio(tmp_path / "m.0001.png", soft[..., None], "uint8")
    write_oiio(tmp_path / "m.0002.png", (hard * 255).astype(np.uint8)[..., None], "uint8")
    m = _read(tmp_path / "m.####.png")
    assert m.kind == mio.IDS and set(np.unique(m.ids).tolist()) == {0, 255}
    np.testing.assert_array_equal(m.ids == 255, soft > 127)
    assert set(np.unique(_read(tmp_path / "m.####.png", 2).ids).tolist()) == {0, 255}
    ids = np.zeros((72, 128), np.uint8)
    ids[10:30, 10:40], ids[40:60, 50:90], ids[5:20, 100:120] = 3, 7, 255
    write_oiio(tmp_path / "i.0001.png", ids[..., None], "uint8")
    np.testing.assert_array_equal(_read(tmp_path / "i.####.png").ids, ids)


def test_a_cryptomatte_part_beside_a_cropped_beauty_part_is_read(tmp_path):
    """A multi-part EXR whose beauty part is cropped to its bounding box and whose Cryptomatte
    part is not: the Cryptomatte part (another data window) was skipped without a word and
    the beauty's R read as a single object (R > 0.5: noise). The Cryptomatte part is read
    now, placed by its own windows on the plate's."""
    import OpenImageIO as oiio

    from nuke_colorize.io.windows import Windows

    w, h = 64, 36
    beauty = np.random.default_rng(0).random((26, 44, 4)).astype(np.float32)
    s0 = oiio.ImageSpec(44, 26, 4, "half")
    s0.x, s0.y, s0.full_width, s0.full_height = 10, 5, w, h
    s0.attribute("name", "rgba")
    hashed = np.array([0x1E96B88C], np.uint32).view(np.float32)[0]
    ids = np.zeros((h, w), np.float32)
    ids[:, :32] = hashed
    crypto = np.stack([ids, (ids != 0).astype(np.float32), np.zeros_like(ids), np.zeros_like(ids)], -1)
    s1 = oiio.ImageSpec(w, h, 4, "float")
    s1.channelnames = tuple(f"CryptoObject00.{c}" for c in "RGBA")
    s1.attribute("name", "CryptoObject")
    path = str(tmp_path / "m.0001.exr")
    out = oiio.ImageOutput.create(path)
    assert out.open(path, [s0, s1]) and out.write_image(beauty)
    assert out.open(path, s1, "AppendSubimage") and out.write_image(crypto) and out.close()
    plate = Windows(data=(10, 5, 44, 26), display=(0, 0, w, h))
    m = mio.MatteReader(str(tmp_path / "m.####.exr"), (44, 26), lambda f: plate).read(1)
    assert m.kind == mio.CRYPTOMATTE
    want = np.zeros((26, 44), np.int32)
    want[:, :22] = mio.id_of(0x1E96B88C)
    np.testing.assert_array_equal(m.ids, want)


def test_an_antialiased_colour_coded_matte_has_one_id_per_painted_colour(tmp_path):
    """Six discs painted in six colours with an anti-aliased brush (or a palette matte resized
    bilinear): every blend of two colours at an edge was an object of its own (700-odd IDs).
    Past EDGE_COLOURS blends that fill no 3x3 block, each takes its nearest pixel's colour:
    seven IDs, the painted ones; a hard palette matte reads as before."""
    import cv2

    rng = np.random.default_rng(0)
    img = np.zeros((240, 427, 3), np.uint8)
    hard = np.zeros_like(img)
    colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40), (200, 40, 200), (40, 200, 200)]
    for c in colours:
        centre, radius = (int(rng.uniform(40, 387)), int(rng.uniform(40, 200))), int(rng.uniform(20, 70))
        cv2.circle(img, centre, radius, c, -1, lineType=cv2.LINE_AA)
        cv2.circle(hard, centre, radius, c, -1)
    write_oiio(tmp_path / "aa.0001.png", img, "uint8")
    write_oiio(tmp_path / "hard.0001.png", hard, "uint8")
    m = _read(tmp_path / "aa.####.png")
    assert m.kind == mio.COLOURS
    painted = {0} | {int(mio.id_of(r + 256 * g + 65536 * b)) for r, g, b in colours}
    visible = set(np.unique(_read(tmp_path / "hard.####.png").ids).tolist())
    assert visible <= painted and set(np.unique(m.ids).tolist()) == visible
    h = _read(tmp_path / "hard.####.png").ids
    assert (m.ids == h).mean() > 0.99
