"""Paths the Nuke node writes into a version's shot file: relative to the file where that holds
on every machine (:mod:`nuke_colorize.host.portable`), so a machine that mounts the storage
elsewhere (a Linux farm node under ``/mnt/shows`` for a Windows ``P:\\shows``) reads the same
files through it; this machine's view beside it where it cannot; Clear cache robust to a
version file written by another machine; the farm's .nk scan finding the version here. The
Windows rules (drive letters, UNC shares) are checked under ``ntpath`` on any OS."""
from __future__ import annotations

import json
import ntpath
import os

import pytest

from nuke_colorize.host import portable, shotspec


@pytest.fixture
def two_shares(monkeypatch, tmp_path):
    """``tmp_path/shows`` and ``tmp_path/plates`` as two storages (mounted shares), as
    :func:`portable.storage_of` would see them: both really lie on one file system here."""
    real = portable.storage_of

    def storage_of(path, pathmod=os.path):
        path = os.path.abspath(path)
        for share in ("shows", "plates"):
            if portable.inside(path, str(tmp_path / share)):
                return share
        return real(path, pathmod)
    monkeypatch.setattr(portable, "storage_of", storage_of)
    return tmp_path / "shows", tmp_path / "plates"


def test_relative_on_one_storage_absolute_across_storages(two_shares):
    shows, plates = two_shares
    base = str(shows / "a" / "colorize_cache" / "C1" / "v_1")
    assert portable.relative_if_shared(str(shows / "a" / "plate" / "p.####.exr"), base) == "../../../plate/p.####.exr"
    assert portable.relative_if_shared(str(plates / "p.####.exr"), base) == str(plates / "p.####.exr")
    # under the tree the writer owns: relative whatever storage it is on (e.g. a cache linked elsewhere)
    owned = str(shows / "a" / "colorize_cache")
    assert portable.relative_if_shared(str(plates / "x"), str(plates / "y"), always_under=str(plates)) == "../x"
    assert portable.relative_if_shared(os.path.join(owned, "C1", "cache"), base, always_under=owned) == "../cache"
    assert portable.relative_if_shared("ocio://cg-config-v1.0.0_aces-v1.3_ocio-v2.1", base).startswith("ocio://")
    assert portable.resolve("../../../plate/p.####.exr", base) == str(shows / "a" / "plate" / "p.####.exr")
    assert portable.resolve(str(plates / "p.####.exr"), base) == str(plates / "p.####.exr")


def test_a_link_onto_another_file_system_is_another_storage(tmp_path):
    """The storage is the mount point on the path as written and the device: /proc is another
    file system than tmp_path, whether reached directly or through a link."""
    os.symlink("/proc", str(tmp_path / "proc_link"))
    assert portable.same_storage(str(tmp_path / "a"), str(tmp_path / "b" / "c.exr"))
    assert not portable.same_storage(str(tmp_path / "a"), "/proc/self")
    assert not portable.same_storage(str(tmp_path / "a"), str(tmp_path / "proc_link" / "self"))
    assert portable.relative_if_shared("/proc/self/status", str(tmp_path)) == "/proc/self/status"


# ---------------------------------------------------------------- Windows path semantics (ntpath)
def win_relative(path, base, always_under=None):
    """:func:`portable.relative_if_shared` as on Windows, whatever this machine runs."""
    return portable.relative_if_shared(path, base, always_under, pathmod=ntpath)


@pytest.mark.parametrize("path,base,want", [
    ("P:\\shows\\a\\plate\\p.####.exr", "P:\\shows\\a\\cache\\v_1", "../../plate/p.####.exr"),   # same drive
    ("p:\\Shows\\a\\plate\\p.exr", "P:\\shows\\a\\cache", "../plate/p.exr"),                     # drive letter case
    ("P:/shows/a/plate/p.exr", "P:\\shows\\a\\cache", "../plate/p.exr"),                           # forward slashes
    ("P:\\shows\\a/plate\\p.exr", "P:/shows/a/cache/", "../plate/p.exr"),                          # both, mixed
    ("\\\\fs01\\shows\\a\\ref.png", "\\\\fs01\\shows\\a\\cache\\v_1", "../../ref.png"),            # same share
    ("\\\\FS01\\Shows\\a\\ref.png", "\\\\fs01\\shows\\b", "../a/ref.png"),                          # share name case
    ("//fs01/shows/a/ref.png", "\\\\fs01\\shows\\a\\cache", "../ref.png"),                         # UNC with /
    ("P:\\shows\\a\\ref.png", "P:\\", "shows/a/ref.png"),                                           # from the root
    ("\\\\fs01\\shows\\a\\ref.png", "\\\\fs01\\shows", "a/ref.png"),                                 # from the share
])
def test_windows_same_drive_or_share_is_relative(path, base, want):
    assert win_relative(path, base) == want
    assert ntpath.normcase(portable.resolve(want, base, ntpath)) == ntpath.normcase(ntpath.normpath(path))


@pytest.mark.parametrize("path,base,want", [
    ("Q:\\plates\\p.####.exr", "P:\\shows\\a\\cache", "Q:\\plates\\p.####.exr"),                  # another drive
    ("Q:/plates/p.exr", "P:/shows/a", "Q:\\plates\\p.exr"),
    ("\\\\fs01\\plates\\p.exr", "\\\\fs01\\shows\\a", "\\\\fs01\\plates\\p.exr"),                  # another share
    ("\\\\fs02\\shows\\p.exr", "\\\\fs01\\shows\\a", "\\\\fs02\\shows\\p.exr"),                    # another server
    ("\\\\fs01\\shows\\p.exr", "P:\\shows\\a", "\\\\fs01\\shows\\p.exr"),                          # share vs drive
    ("C:\\Users\\me\\ref.png", "\\\\fs01\\shows\\a", "C:\\Users\\me\\ref.png"),
])
def test_windows_across_drives_or_shares_stays_absolute(path, base, want):
    assert win_relative(path, base) == want
    assert portable.resolve(want, base, ntpath) == want


def test_windows_storage_is_the_case_folded_drive_or_share():
    assert portable.storage_of("P:\\shows\\a", ntpath) == portable.storage_of("p:/Shows", ntpath) == "p:"
    assert portable.storage_of("//FS01/Shows/a", ntpath) == "\\\\fs01\\shows"
    assert portable.same_storage("\\\\fs01\\shows\\a", "\\\\FS01\\SHOWS\\b\\c.exr", ntpath)
    assert not portable.same_storage("\\\\fs01\\shows\\a", "\\\\fs01\\plates\\a", ntpath)
    assert not portable.same_storage("P:\\a", "Q:\\a", ntpath)


def test_windows_owned_tree_and_inside():
    cache = "P:\\shows\\a\\colorize_cache"
    assert portable.inside("p:/SHOWS/a/colorize_cache/C1", cache, ntpath)
    assert portable.inside(cache + "\\", cache, ntpath)
    assert not portable.inside("P:\\shows\\a\\colorize_cache_old", cache, ntpath)
    assert portable.inside("\\\\fs01\\shows\\a", "\\\\fs01\\shows", ntpath)
    assert portable.inside("P:\\shows", "P:\\", ntpath)
    assert win_relative(cache + "\\C1\\cache", cache + "\\C1\\v_1", always_under=cache) == "../cache"


def test_windows_resolve_takes_stored_forward_slashes_and_home(monkeypatch):
    monkeypatch.setenv("USERPROFILE", "C:\\Users\\me")
    base = "\\\\fs01\\shows\\a\\cache\\v_1"
    assert portable.resolve(" ../../plate/p.####.exr ", base, ntpath) == "\\\\fs01\\shows\\a\\plate\\p.####.exr"
    assert portable.resolve("~/refs/k.png", base, ntpath) == "C:\\Users\\me\\refs\\k.png"
    assert portable.resolve("Q:/plates/p.exr", base, ntpath) == "Q:\\plates\\p.exr"
    assert win_relative("", base) == "" and win_relative("ocio://studio-config-latest", base).startswith("ocio://")


def _shot(shows, plates):
    root = str(shows / "a" / "colorize_cache" / "C1")
    shot = shotspec.build_shot(str(plates / "p.####.exr"), (1, 5),
                               [(1, str(shows / "a" / "refs" / "k.png")), (None, str(plates / "still.png"))],
                               "exemplar", os.path.join(root, "cache"),
                               matte=os.path.join(root, "precomp", "matte-f32_abc", "matte.####.exr"),
                               library=str(shows / "lib" / "lib.npz"))
    shot["ocio_config"] = "/usr/local/Nuke15.1v1/plugins/OCIOConfigs/configs/aces_1.2/config.ocio"
    shot["output"] = os.path.join(root, "v_1", "colour.####.exr")
    return root, shot


def test_the_version_file_names_the_node_s_files_and_shared_ones_relatively(two_shares, monkeypatch):
    shows, plates = two_shares
    real = portable.storage_of
    monkeypatch.setattr(portable, "storage_of", lambda p, pathmod=os.path: (
        "nuke" if p.startswith("/usr/local/Nuke") else real(p, pathmod)))
    root, shot = _shot(shows, plates)
    path = os.path.join(root, "v_1", "shot.json")
    written = shotspec.portable_shot(shot, path)
    assert written["cache"] == "../cache" and written["output"] == "colour.####.exr"
    assert written["matte"] == "../precomp/matte-f32_abc/matte.####.exr"
    assert written["references"] == [{"frame": 1, "image": "../../../refs/k.png"},
                                     {"image": str(plates / "still.png")}]          # another share
    assert written["plate"] == str(plates / "p.####.exr") and written["library"] == "../../../../lib/lib.npz"
    assert written["ocio_config"] == shot["ocio_config"]                              # Nuke's installation
    assert shotspec.resolved_shot(written, path) == shot
    # the engine reads the same description
    from nuke_colorize.shot import Shot
    data = dict(written)
    data.pop("ocio_config")
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as fh:
        json.dump(data, fh)
    loaded = Shot.load(path)
    assert (loaded.cache, loaded.output, loaded.matte, loaded.library) == (
        shot["cache"], shot["output"], shot["matte"], shot["library"])
    assert [r.image for r in loaded.references] == [r["image"] for r in shot["references"]]


def test_the_version_file_serves_every_machine_that_reads_the_same_files_through_it(tmp_path):
    """A machine mounting the storage elsewhere (the tree at ``b``) uses the version's file as it
    is when its relative paths name its own files; where the file names other files here (an
    OCIO config in another machine's Nuke installation) its view goes beside it."""
    import shutil
    a, b = tmp_path / "a", tmp_path / "b"
    root_a = str(a / "colorize_cache" / "C1")
    (a / "plate").mkdir(parents=True)
    shot_a = shotspec.build_shot(str(a / "plate" / "p.####.exr"), (1, 5), [(1, str(a / "k.png"))], "exemplar",
                                 os.path.join(root_a, "cache"))
    shot_a["output"] = os.path.join(root_a, "v_1", "colour.####.exr")
    path_a = os.path.join(root_a, "v_1", "shot.json")
    assert shotspec.write_machine_shot(path_a, shot_a) == path_a
    shutil.copytree(str(a), str(b))
    shutil.rmtree(str(a))                                     # machine b does not see a's paths
    shot_b = json.loads(json.dumps(shot_a).replace(str(a), str(b)))
    path_b = path_a.replace(str(a), str(b))
    assert shotspec.write_machine_shot(path_b, shot_b) == path_b
    assert os.listdir(os.path.dirname(path_b)) == ["shot.json"]
    shot_b["ocio_config"] = str(b / "farm_nuke" / "config.ocio")
    mine = shotspec.write_machine_shot(path_b, shot_b, str(b / "colorize_cache"))
    assert os.path.basename(mine) == shotspec.machine_shot_name()
    with open(mine) as fh:
        assert shotspec.resolved_shot(json.load(fh), mine) == shot_b


def test_clear_cache_gets_a_description_this_machine_can_load(tmp_path, capsys):
    """The version's shot.json was written on another machine: its OCIO config is in that
    machine's Nuke installation and its plate on a share mounted at a path unknown here, so
    ``cache clear`` of it fails. The node hands the engine a view made for this machine
    instead, which clears the shot cache (segments, manifest, scene caches)."""
    from nuke_colorize.cli import main
    root = tmp_path / "colorize_cache" / "C1"
    folder = root / "v_1"
    folder.mkdir(parents=True)
    other = {"plate": "P:\\shows\\a\\plate\\p.####.exr", "frames": [1, 5], "colorspace": "ACES - ACEScg",
             "references": [], "backend": "exemplar", "cache": "/mnt/other/colorize_cache/C1/cache",
             "settings": {}, "confidence_layer": True, "temporal_smoothing": 0.0,
             "library": "/mnt/other/lib.npz", "auto_references": 3, "output": "colour.####.exr",
             "ocio_config": "C:\\Program Files\\Nuke15.1v1\\plugins\\OCIOConfigs\\configs\\aces_1.2\\config.ocio"}
    (folder / "shot.json").write_text(json.dumps(other))
    cache = root / "cache"
    seg = cache / "segments" / "1-fwd-1.0123456789abcdef"
    seg.mkdir(parents=True)
    (seg / "f1.0123456789abcdef.npz").write_bytes(b"x")
    (cache / "manifest.json").write_text("{}")
    (cache / "scenes" / "1-5").mkdir(parents=True)
    (cache / "auto_references.json").write_text("{}")
    assert main(["cache", "clear", str(folder / "shot.json")]) == 2          # as written: not for this machine
    assert "OCIO config not found" in capsys.readouterr().err
    clear = shotspec.clear_shot(str(folder), str(cache), str(tmp_path / "colorize_cache"))
    assert os.path.dirname(clear) == str(folder)
    assert main(["cache", "clear", clear]) == 0
    capsys.readouterr()
    assert sorted(os.listdir(cache)) == ["cache.lock"]          # the lock a clear holds stays, as always
    assert shotspec.clear_shot(str(tmp_path / "nothing"), str(cache)) is None
