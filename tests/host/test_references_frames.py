"""The references table and frame-pattern helpers used by the node (pure functions)."""
from __future__ import annotations

import os

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


def test_version_key_is_the_same_wherever_the_storage_is_mounted(tmp_path):
    """The same files under two mount points (mtimes kept) give one version; paths inside the
    shot's folder count relative to it, the user's files by name, size and mtime (us)."""
    import os
    import shutil

    a, b = tmp_path / "P" / "shows" / "sq010", tmp_path / "mnt" / "shows" / "sq010"
    for name in ("plate/plate.0001.exr", "plate/plate.0002.exr", "refs/r.png"):
        (a / name).parent.mkdir(parents=True, exist_ok=True)
        (a / name).write_bytes(name.encode())
    shutil.copytree(str(a), str(b))

    def version(show, plate="plate/plate.####.exr"):
        root = str(show / "colorize_cache" / "Colorize1")
        shot = shotspec.build_shot(str(show / plate), (1, 2), [(1, str(show / "refs" / "r.png"))], "exemplar",
                                   os.path.join(root, "cache"))
        files = [str(show / "plate" / ("plate.%04d.exr" % f)) for f in (1, 2)] + [str(show / "refs" / "r.png")]
        return shotspec.version_key(shot, files, root), shot, root

    ka, shot, root = version(a)
    assert version(b)[0] == ka
    assert shotspec.portable_path(shot["cache"], root) == "./cache"
    assert shotspec.portable_path(os.path.join(root, "precomp", "plate_1", "plate.####.exr"), root) == \
        "./precomp/plate_1/plate.####.exr"
    assert shotspec.portable_path(shot["plate"], root) == "plate.####.exr"
    assert shotspec.version_key(shot, [], root=None) == shotspec.version_key(shot, [], root)   # the cache's folder
    # a frame touched by a microsecond, another plate name, another frame: other versions
    st = os.stat(str(b / "plate" / "plate.0002.exr"))
    os.utime(str(b / "plate" / "plate.0002.exr"), ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
    assert version(b)[0] != ka
    os.utime(str(b / "plate" / "plate.0002.exr"), ns=(st.st_atime_ns, st.st_mtime_ns))
    assert version(b)[0] == ka
    shutil.copytree(str(a / "plate"), str(a / "plate_v2"))
    for f in (1, 2):
        os.rename(str(a / "plate_v2" / ("plate.%04d.exr" % f)), str(a / "plate_v2" / ("bg.%04d.exr" % f)))
    root_a = str(a / "colorize_cache" / "Colorize1")
    other = shotspec.build_shot(str(a / "plate_v2" / "bg.####.exr"), (1, 2), [(1, str(a / "refs" / "r.png"))],
                                "exemplar", os.path.join(root_a, "cache"))
    assert shotspec.version_key(other, [str(a / "plate_v2" / ("bg.%04d.exr" % f)) for f in (1, 2)] +
                                [str(a / "refs" / "r.png")], root_a) != ka


def test_a_version_analysed_before_keeps_its_folder(tmp_path):
    """Versions analysed by earlier versions of the plug-in were named by absolute paths: while
    the new name's folder does not exist, the old one (when it holds a shot file) is used."""
    import os
    ref = tmp_path / "r.png"
    ref.write_bytes(b"x")
    root = str(tmp_path / "colorize_cache" / "Colorize1")
    shot = shotspec.build_shot("/p.####.exr", (1, 5), [(1, str(ref))], "exemplar", os.path.join(root, "cache"))
    new = os.path.join(root, "v_" + shotspec.version_key(shot, [str(ref)], root))
    legacy = os.path.join(root, "v_" + shotspec.legacy_version_key(shot, [str(ref)]))
    assert new != legacy
    assert shotspec.version_paths(root, shot, [str(ref)])[0] == new
    os.makedirs(legacy)
    assert shotspec.version_paths(root, shot, [str(ref)])[0] == new          # no shot file: not a version
    with open(os.path.join(legacy, shotspec.SHOT_FILE), "w") as fh:
        fh.write("{}")
    assert shotspec.version_paths(root, shot, [str(ref)]) == (
        legacy, os.path.join(legacy, "shot.json"), os.path.join(legacy, "colour.####.exr"))
    os.makedirs(new)                                                          # the new one, once made, wins
    assert shotspec.version_paths(root, shot, [str(ref)])[0] == new


def test_working_size_follows_the_backends_own_setting_name():
    settings, _ = shotspec.backend_settings({"working_size": 384}, {"working_size": 512, "precision": "fp32"})
    assert settings == {"working_size": 384}


def test_known_settings_are_what_the_node_s_backends_declare():
    """The node names a version without asking the engine (shotspec.KNOWN_SETTINGS): it must
    map its knobs as the engine's declared settings would, for every backend the node offers."""
    from nuke_colorize.backends import backend_class
    from nuke_colorize.host.nkfile import parse
    gizmo = parse(open(os.path.join(os.path.dirname(__file__), "..", "..", "gizmos", "Colorize.nk")).read())
    offered = [k for d in gizmo.nodes for k in d.user_knobs if k.name == "backend"][0].items
    assert sorted(shotspec.KNOWN_SETTINGS) == sorted(offered)
    mapped = set(name for _, names in shotspec.SETTINGS_MAP for name in names)
    for backend in offered:
        declared = backend_class(backend).default_settings()
        assert shotspec.KNOWN_SETTINGS[backend] == {k: v for k, v in declared.items() if k in mapped}, backend
