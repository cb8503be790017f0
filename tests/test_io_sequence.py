"""Frame ranges, Nuke-style patterns, scanning frames on disk and overwrite detection."""
from __future__ import annotations

import os

import pytest

from nuke_colorize.errors import InputError
from nuke_colorize.io.sequence import (format_frames, frame_path, is_pattern, match_frame, parse_frames,
                                       same_target, scan_frames, split_pattern_and_range, to_hashes,
                                       to_printf)


@pytest.mark.parametrize("text, expected", [
    ("17", [17]),
    ("1001-1005", [1001, 1002, 1003, 1004, 1005]),
    ("1-10x2", [1, 3, 5, 7, 9]),
    ("1-10x3", [1, 4, 7, 10]),
    ("1,3,5-7", [1, 3, 5, 6, 7]),
    ("1-4 8-10", [1, 2, 3, 4, 8, 9, 10]),          # Nuke separates ranges with spaces
    (" 5-7 , 6-8 ", [5, 6, 7, 8]),                 # overlaps merge
    ("-3-1", [-3, -2, -1, 0, 1]),                   # negative first frame
    ("-8--5", [-8, -7, -6, -5]),
    ("10-1x3", [1, 4, 7, 10]),                      # reversed range counts from its first frame
])
def test_parse_frames(text, expected):
    assert parse_frames(text) == expected


@pytest.mark.parametrize("junk", ["", "  ", "abc", "1-", "1--", "1-10x0", "1-10x", "1.5", "1-10y2", "#", "1:10"])
def test_parse_frames_rejects_junk(junk):
    with pytest.raises(InputError) as err:
        parse_frames(junk)
    assert "frame" in str(err.value)


def test_parse_frames_refuses_gigantic_range():
    with pytest.raises(InputError, match="more than"):
        parse_frames("1-999999999")


def test_format_frames_round_trips():
    for frames in ([1, 2, 3, 5, 7, 9], [1001], [1, 3], list(range(1001, 1101)), [-2, -1, 0, 4]):
        assert parse_frames(format_frames(frames)) == frames
    assert format_frames(range(1001, 1101)) == "1001-1100"
    assert format_frames([1, 3, 5, 7]) == "1-7x2"


@pytest.mark.parametrize("pattern, frame, expected", [
    ("plate.####.exr", 12, "plate.0012.exr"),
    ("plate.####.exr", 12345, "plate.12345.exr"),   # wider than the padding: written in full
    ("plate.%04d.exr", 12, "plate.0012.exr"),
    ("plate.%d.exr", 12, "plate.12.exr"),
    ("plate.#.exr", 12, "plate.12.exr"),            # one # = one digit, i.e. no padding (Nuke)
    ("plate.##.exr", 3, "plate.03.exr"),
    ("plate.@@@.exr", 7, "plate.007.exr"),
    ("plate.%04d.exr", -1, "plate.-001.exr"),       # printf semantics for negative frames
    ("/shots/sh010/plate.exr", 5, "/shots/sh010/plate.exr"),  # not a pattern: unchanged
    ("v##/plate.####.exr", 5, "v05/plate.0005.exr"),            # every token is replaced, like Nuke
])
def test_frame_path(pattern, frame, expected):
    assert frame_path(pattern, frame) == expected


def test_is_pattern_and_conversions():
    assert is_pattern("a.####.exr") and is_pattern("a.%04d.exr") and is_pattern("a.%d.exr")
    assert is_pattern("a.@@.exr")
    assert not is_pattern("a.0001.exr") and not is_pattern("a.exr")
    assert to_printf("a.####.exr") == "a.%04d.exr"
    assert to_printf("a.#.exr") == "a.%d.exr"
    assert to_hashes("a.%04d.exr") == "a.####.exr"
    assert to_hashes("a.%d.exr") == "a.#.exr"
    assert match_frame("a.####.exr", "a.0012.exr") == 12
    assert match_frame("a.####.exr", "a.012.exr") is None   # wrong padding
    assert match_frame("a.%d.exr", "a.-3.exr") == -3
    assert split_pattern_and_range("sh/plate.####.exr 1001-1003") == ("sh/plate.####.exr", [1001, 1002, 1003])
    assert split_pattern_and_range("my shot/plate.exr") == ("my shot/plate.exr", None)


def _touch(path, data=b"x"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


def test_scan_frames_matches_padding_exactly(tmp_path):
    for name in ["p.0999.exr", "p.1001.exr", "p.1002.exr", "p.12345.exr", "p.001.exr", "p.1003.exr.tmp",
                 "p.abcd.exr", "q.1004.exr", ".p.1005.exr.tmp-1-abcdef01.exr"]:
        _touch(str(tmp_path / name))
    os.mkdir(tmp_path / "p.1006.exr")  # a folder with a frame name is not a frame
    assert scan_frames(str(tmp_path / "p.####.exr")) == [999, 1001, 1002, 12345]
    assert scan_frames(str(tmp_path / "p.%04d.exr")) == [999, 1001, 1002, 12345]
    # "p.0999.exr" is not frame 999 of "p.###.exr" (that would be "p.999.exr").
    assert scan_frames(str(tmp_path / "p.###.exr")) == [1, 1001, 1002, 12345]
    assert scan_frames(str(tmp_path / "p.%d.exr")) == [1001, 1002, 12345]
    assert scan_frames(str(tmp_path / "missing" / "p.####.exr")) == []
    assert scan_frames(str(tmp_path / "p.1001.exr")) == []


def test_scan_frames_with_glob_characters_in_folder(tmp_path):
    d = tmp_path / "shot[1]*"
    _touch(str(d / "p.0001.png"))
    assert scan_frames(str(d / "p.####.png")) == [1]


def test_same_target_detects_overwrites(tmp_path):
    src = tmp_path / "src"
    for f in (1, 2, 3):
        _touch(str(src / f"p.{f:04d}.exr"))
    frames = [1, 2, 3]
    a = str(src / "p.####.exr")
    assert same_target(a, a, frames)
    assert same_target(str(src / "p.%04d.exr"), a, frames)          # same files, other notation
    assert same_target(str(src / ".." / "src" / "p.####.exr"), a, frames)
    assert not same_target(str(tmp_path / "out" / "p.####.exr"), a, frames)
    assert not same_target(str(src / "p.###.exr"), a, frames)       # p.001.exr is another file
    # The output range only touches frame 3 of the input, which is not requested but exists on disk.
    assert same_target(a, a, [3])
    # A folder reached through a symlink.
    os.symlink(src, tmp_path / "alias")
    assert same_target(str(tmp_path / "alias" / "p.####.exr"), a, frames)
    # A single file that is a symlink to (or hard link of) one input frame.
    os.symlink(src / "p.0002.exr", tmp_path / "link.exr")
    assert same_target(str(tmp_path / "link.exr"), a, frames)
    os.link(src / "p.0003.exr", tmp_path / "hard.exr")
    assert same_target(str(tmp_path / "hard.exr"), a, frames)
    assert not same_target(str(tmp_path / "other.exr"), a, frames)
