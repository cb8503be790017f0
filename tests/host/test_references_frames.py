"""The references table and frame-pattern helpers used by the node (pure functions)."""
from __future__ import annotations

import pytest

from nuke_colorize.host import frames as fr
from nuke_colorize.host import shotspec
from nuke_colorize.host.references import RefRow, RefTableError, format_table, parse_table


def test_table_round_trip_and_forms():
    text = """# keyframes
    1001 /refs/a 1001.png
    1040 input
    1080 input 12
    still "/refs/look.jpg"
    - /refs/other.png
    still input 5
    """
    rows = parse_table(text)
    assert [r.to_dict() for r in rows] == [
        {"frame": 1001, "source": "file", "path": "/refs/a 1001.png"},
        {"frame": 1040, "source": "input", "input_frame": 1040},
        {"frame": 1080, "source": "input", "input_frame": 12},
        {"frame": None, "source": "file", "path": "/refs/look.jpg"},
        {"frame": None, "source": "file", "path": "/refs/other.png"},
        {"frame": None, "source": "input", "input_frame": 5},
    ]
    assert parse_table(format_table(rows)) == rows
    assert format_table([RefRow(20, "file", "/b.png"), RefRow(None, "file", "/s.png"), RefRow(10, "file", "/a.png")]) \
        == "10 /a.png\n20 /b.png\nstill /s.png"


@pytest.mark.parametrize("text,message", [
    ("10O1 /a.png", "line 1: '10O1' is neither a frame number"),
    ("1001", "line 1: no image given"),
    ("1001 /a.png\n\n1001 /b.png", "line 3: frame 1001 already has a reference (line 1)"),
    ("still input", "needs the frame of the reference input"),
    ("1001 input x", "the input frame must be a number"),
])
def test_table_errors_name_the_line(text, message):
    with pytest.raises(RefTableError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_table(text)


def test_frame_patterns_and_ranges():
    assert fr.frame_path("/a/p.####.exr", 7) == "/a/p.0007.exr"
    assert fr.frame_path("/a/p.%04d.exr", 1001) == "/a/p.1001.exr"
    assert fr.frame_path("/a/p.%d.exr", 12) == "/a/p.12.exr"
    assert fr.frame_path("/a/p.$F4.exr", 3) == "/a/p.0003.exr"
    assert fr.frame_path("/a/p.####.exr", -3) == "/a/p.-0003.exr"
    assert fr.to_hashes("/a/p.%04d.exr") == "/a/p.####.exr"
    assert fr.parse_range("1001-1010") == (1001, 1010) and fr.parse_range("5") == (5, 5)
    with pytest.raises(ValueError):
        fr.parse_range("10-1")
    assert fr.to_ranges([5, 1, 2, 3, 7, 8]) == [[1, 3], [5, 5], [7, 8]]
    assert fr.from_ranges([[1, 3], [5, 5]]) == [1, 2, 3, 5]


def test_settings_map_only_onto_declared_backend_settings():
    knobs = {"working_size": 512, "track_window": 0, "track_threshold": 0.3}
    assert shotspec.backend_settings(knobs, None) == ({"max_working_size": 512, "mask_threshold": 0.3}, [])
    settings, warnings = shotspec.backend_settings(knobs, {"max_working_size": 1024})
    assert settings == {"max_working_size": 512}
    assert warnings == ["track threshold is not used by this backend"]
    # the exemplar backend declares the dense-tracking settings the knobs feed
    from nuke_colorize.backends.exemplar import ExemplarBackend
    declared = ExemplarBackend.default_settings()
    settings, warnings = shotspec.backend_settings(dict(knobs, track_window=12), declared)
    assert settings == {"max_working_size": 512, "mask_radius": 12, "mask_threshold": 0.3} and not warnings


def test_version_key_follows_content_and_user_files(tmp_path):
    ref = tmp_path / "r.png"
    ref.write_bytes(b"x")
    shot = shotspec.build_shot("/p.####.exr", (1, 5), [(1, str(ref))], "exemplar", "/c")
    k1 = shotspec.version_key(shot, [str(ref)])
    assert k1 == shotspec.version_key(dict(shot, output="/elsewhere"), [str(ref)])
    ref.write_bytes(b"xy")
    assert shotspec.version_key(shot, [str(ref)]) != k1
    assert shotspec.version_key(dict(shot, frames=[1, 6]), [str(ref)]) != shotspec.version_key(shot, [str(ref)])
    assert shotspec.safe_name("sh 010/comp") == "sh_010_comp"


def test_working_size_follows_the_backends_own_setting_name():
    settings, _ = shotspec.backend_settings({"working_size": 384}, {"working_size": 512, "precision": "fp32"})
    assert settings == {"working_size": 384}
