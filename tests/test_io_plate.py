"""PlateSource over sequences, stills and movies; movies through OpenCV."""
from __future__ import annotations

import os
import time

import cv2
import numpy as np
import pytest

from nuke_colorize.errors import InputError
from nuke_colorize.io import (MovieReader, PlateSource, is_movie, movie_frame_count, parse_frames,
                              read_movie_frame, write_image)


def _sequence(folder, frames, size=(8, 6), value=None, ext="exr"):
    w, h = size
    for f in frames:
        px = np.full((h, w, 3), (value if value is not None else f / 100.0), np.float32)
        write_image(str(folder / f"p.{f:04d}.{ext}"), px, ["R", "G", "B"])
    return str(folder / f"p.####.{ext}")


def _movie(path, n=6, size=(64, 48), fps=24.0):
    """Frame i is a flat colour RGB = (100, 255 - 40 i, 40 i) (written as BGR)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    for i in range(n):
        bgr = np.zeros((size[1], size[0], 3), np.uint8)
        bgr[:] = (40 * i, 255 - 40 * i, 100)
        writer.write(bgr)
    writer.release()
    return str(path)


def test_sequence_plate_reads_frames_and_checks(tmp_path):
    pattern = _sequence(tmp_path, [1001, 1002, 1003])
    plate = PlateSource(pattern)
    assert plate.kind == "sequence" and plate.frames == [1001, 1002, 1003] and len(plate) == 3
    assert (plate.width, plate.height) == (8, 6)
    assert plate.path(1002) == str(tmp_path / "p.1002.exr")
    img = plate.read(1002)
    assert img.frame == 1002 and np.allclose(img.rgb, 10.02, atol=1e-2)
    # Same pattern in printf notation, explicit range.
    plate2 = PlateSource(str(tmp_path / "p.%04d.exr"), parse_frames("1002-1003"))
    assert plate2.frames == [1002, 1003]


def test_missing_frame_in_the_middle(tmp_path):
    pattern = _sequence(tmp_path, [1, 2, 4, 5])
    with pytest.raises(InputError) as err:
        PlateSource(pattern, parse_frames("1-5"))
    msg = str(err.value)
    assert "p.0003.exr" in msg and "frame 3" in msg and "missing frame" in msg
    with pytest.raises(InputError) as err:       # frames found on disk with a hole
        PlateSource(pattern)
    assert "p.0003.exr" in str(err.value) and "frame 3" in str(err.value)
    assert PlateSource(pattern, allow_gaps=True).frames == [1, 2, 4, 5]
    plate = PlateSource(pattern, [1, 2, 3], check_frames=False)
    with pytest.raises(InputError, match="frame 3"):
        plate.read(3)


def test_frames_of_different_sizes(tmp_path):
    _sequence(tmp_path, [1, 2], size=(8, 6))
    _sequence(tmp_path, [3], size=(10, 6))
    plate = PlateSource(str(tmp_path / "p.####.exr"))
    plate.read(2)
    with pytest.raises(InputError) as err:
        plate.read(3)
    msg = str(err.value)
    assert "p.0003.exr" in msg and "frame 3" in msg and "10x6" in msg and "8x6" in msg


def test_frames_of_different_data_windows_are_named_as_data_windows(tmp_path):
    """An EXR plate written with an autocrop data window (format 8x6, frame 2's data window
    8x4 at (0, 2)): the message said "frame is 8x4 but the plate is 8x6", though both frames
    are 8x6 in the compositor; it now names the data windows, the format and autocrop."""
    _sequence(tmp_path, [1], size=(8, 6))
    like = PlateSource(str(tmp_path / "p.####.exr")).read(1)
    like.spec.y, like.spec.height = 2, 4      # the frame's data window: rows 2-5 of the format
    like.pixels = like.pixels[2:]
    write_image(str(tmp_path / "p.0002.exr"), np.full((4, 8, 3), 0.5, np.float32), ["R", "G", "B"], like=like)
    plate = PlateSource(str(tmp_path / "p.####.exr"))
    for check in (plate.check_headers, lambda: plate.read(2)):
        with pytest.raises(InputError) as err:
            check()
        msg = str(err.value)
        assert "frame 2" in msg and "data window is 8x4 at (0, 2) but the plate's is 8x6 at (0, 0)" in msg
        assert "format 8x6 at (0, 0)" in msg and "autocrop" in msg


def test_nonfinite_frame_in_a_plate(tmp_path):
    pattern = _sequence(tmp_path, [1, 2])
    px = np.full((6, 8, 3), 0.5, np.float32)
    px[0, :2, 1] = np.nan
    write_image(str(tmp_path / "p.0002.exr"), px, ["R", "G", "B"])
    with pytest.raises(InputError, match=r"frame 2: 2 pixels are NaN/Inf"):
        PlateSource(pattern).read(2)
    assert np.isnan(PlateSource(pattern, allow_nonfinite=True).read(2).pixels).sum() == 2


def test_no_frames_found(tmp_path):
    with pytest.raises(InputError, match="no frames found"):
        PlateSource(str(tmp_path / "p.####.exr"))
    with pytest.raises(InputError, match="does not exist"):
        PlateSource(str(tmp_path / "nofolder" / "p.####.exr"))


def test_still_image_plate(tmp_path):
    write_image(str(tmp_path / "ref.png"), np.full((6, 8, 3), 0.5, np.float32), ["R", "G", "B"])
    plate = PlateSource(str(tmp_path / "ref.png"))
    assert plate.kind == "still" and plate.frames == [1]
    assert plate.read(7).frame == 7 and plate.path(7) == str(tmp_path / "ref.png")


def test_identity_changes_with_content(tmp_path):
    pattern = _sequence(tmp_path, [1, 2])
    plate = PlateSource(pattern)
    a, h = plate.identity(1), plate.identity(1, content_hash=True)
    assert h.startswith("sha256:") and len(h) == 7 + 64
    assert plate.identity(1) == a and plate.identity(2, content_hash=True) != h
    time.sleep(0.01)
    write_image(str(tmp_path / "p.0001.exr"), np.zeros((6, 8, 3), np.float32), ["R", "G", "B"])
    assert plate.identity(1) != a and plate.identity(1, content_hash=True) != h
    # A copy elsewhere has the same content hash.
    os.makedirs(tmp_path / "copy")
    (tmp_path / "copy" / "p.0001.exr").write_bytes((tmp_path / "p.0001.exr").read_bytes())
    assert PlateSource(str(tmp_path / "copy" / "p.####.exr")).identity(1, True) == plate.identity(1, True)


def test_movie_round_trip(tmp_path):
    path = _movie(tmp_path / "clip.mp4")
    assert is_movie(path) and is_movie("A.MOV") and not is_movie("a.exr")
    assert movie_frame_count(path) == 6
    first = read_movie_frame(path, 0)
    assert first.frame == 1 and not first.is_float_format and first.pixels.dtype == np.float32
    assert first.rgb.shape == (48, 64, 3) and first.alpha is None
    assert tuple(first.spec.getattribute("FramesPerSecond")) == (24, 1)
    for i in range(6):
        got = read_movie_frame(path, i).rgb.mean(axis=(0, 1)) * 255
        np.testing.assert_allclose(got, [100, 255 - 40 * i, 40 * i], atol=6)   # lossy codec
    with pytest.raises(InputError, match="outside the movie"):
        read_movie_frame(path, 6)


def test_movie_plate_numbers_frames_from_one_and_seeks(tmp_path):
    path = _movie(tmp_path / "clip.mov")
    plate = PlateSource(path)
    assert plate.kind == "movie" and plate.frames == [1, 2, 3, 4, 5, 6] and (plate.width, plate.height) == (64, 48)
    in_order = [plate.read(f).pixels for f in plate.frames]
    with MovieReader(path) as reader:
        for f in (5, 2, 6, 1):                      # random access gives the same pictures
            np.testing.assert_array_equal(reader.read(f - 1).pixels, in_order[f - 1])
    assert plate.identity(3) != plate.identity(4) and plate.identity(3).endswith("#3")
    with pytest.raises(InputError, match="outside the movie"):
        PlateSource(path, [5, 6, 7])
    plate.close()


def test_bad_movie(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a movie" * 100)
    with pytest.raises(InputError) as err:
        PlateSource(str(bad))
    assert "bad.mp4" in str(err.value)
    with pytest.raises(InputError, match="does not exist"):
        movie_frame_count(str(tmp_path / "none.mp4"))
