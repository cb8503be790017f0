"""The library of colour stills: descriptors, the on-disk index (incremental), ranking, CLI."""
from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from conftest import davis_clip
from nuke_colorize.cli import main
from nuke_colorize.errors import InputError
from nuke_colorize.library import descriptors as D
from nuke_colorize.library import index as I
from nuke_colorize.library.query import greedy_cover, rank


def _still(path, seed, grey=False, size=(96, 64)):
    """A colour still: smooth random blobs (8-bit sRGB PNG/JPEG by extension)."""
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 256, (4, 6, 3)).astype(np.uint8), size, interpolation=cv2.INTER_CUBIC)
    if grey:
        img = np.repeat(img[..., :1], 3, axis=2)
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    assert cv2.imwrite(str(path), img)
    return str(path)


def _build(root, out, notes=None):
    return I.update_index(str(root), str(out), progress=False,
                          warn=(notes.append if notes is not None else None))


def test_descriptor_parts_are_unit_vectors_and_see_luminance_only():
    from nuke_colorize.correspond.features import load_mobilenetv2
    rng = np.random.default_rng(1)
    L = cv2.resize(rng.random((6, 9)).astype(np.float32) * 100, (160, 96))
    d = D.describe_L(load_mobilenetv2(), [L, L.copy()])
    for name, n in D.PARTS.items():
        assert d[0][name].shape == (n,)
        assert abs(np.linalg.norm(d[0][name]) - 1) < 1e-4
        np.testing.assert_allclose(d[0][name], d[1][name], atol=1e-5)      # batching changes nothing
    assert d[0]["local"].shape == D.LOCAL_SHAPE
    np.testing.assert_allclose(np.linalg.norm(d[0]["local"], axis=1), 1, atol=1e-4)
    # layout ignores exposure; the histogram does not
    c = D.cheap_parts(L * 0.5 + 20)
    assert float(c["layout"] @ d[0]["layout"]) > 0.999
    assert float(c["hist"] @ d[0]["hist"]) < 0.9


def test_index_reports_bad_files_and_reindexes_incrementally(tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    paths = [_still(lib / "set_a" / f"s{i}.png", i) for i in range(3)] + [_still(lib / "set_b" / "t.jpg", 7)]
    _still(lib / "set_b" / "grey.png", 9, grey=True)
    (lib / "set_b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (lib / ".hidden.png").write_bytes(b"x")
    out = tmp_path / "idx" / "library.npz"
    notes = []
    index, rep = _build(lib, out, notes)
    assert [e.path for e in index.entries] == sorted(paths)
    assert [e.group for e in index.entries] == ["set_a"] * 3 + ["set_b"]
    assert (rep.total, rep.computed, rep.reused, rep.dropped) == (4, 4, 0, 0)
    assert sorted(os.path.basename(p) for p, _ in rep.failed) == ["broken.png", "grey.png"]
    assert len(notes) == 2 and all("\n" not in n for n in notes)
    assert any("greyscale" in n and "grey.png" in n for n in notes)
    loaded = I.LibraryIndex.load(str(out))
    assert loaded.parts["cnn"].shape == (4, 1280) and loaded.parts["local"].shape == (4,) + D.LOCAL_SHAPE
    before = {e.path: loaded.parts["cnn"][i].copy() for i, e in enumerate(loaded.entries)}

    # touch one (new content, new mtime), delete one, add one; record what gets decoded
    _still(paths[1], 100)
    st = os.stat(paths[1])
    os.utime(paths[1], ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
    os.remove(paths[3])
    new = _still(lib / "set_c" / "u.png", 11)
    decoded = []
    real = I.still_L
    monkeypatch.setattr(I, "still_L", lambda p, *a, **k: (decoded.append(p), real(p, *a, **k))[1])
    index2, rep2 = _build(lib, out, [])
    assert (rep2.total, rep2.reused, rep2.computed, rep2.dropped) == (4, 2, 2, 1)
    assert sorted(decoded) == sorted([paths[1], new, str(lib / "set_b" / "grey.png"),
                                      str(lib / "set_b" / "broken.png")])      # bad files are tried again
    again = I.LibraryIndex.load(str(out))
    rows = {e.path: i for i, e in enumerate(again.entries)}
    assert paths[3] not in rows
    np.testing.assert_array_equal(again.parts["cnn"][rows[paths[0]]], before[paths[0]])   # kept as stored
    assert float(again.parts["cnn"][rows[paths[1]]] @ before[paths[1]]) < 0.999             # recomputed


def test_linked_folders_are_indexed_once_even_in_a_loop(tmp_path):
    lib = tmp_path / "lib"
    _still(lib / "set_a" / "s0.png", 0)
    _still(lib / "set_b" / "s1.png", 1)
    os.symlink("..", lib / "set_b" / "up")            # a loop back to the library's root
    os.symlink(lib / "set_a", lib / "zz_alias")         # a second path to one folder
    os.symlink(lib / "set_b" / "s1.png", lib / "zz_link.png")   # a second path to one file
    _still(tmp_path / "elsewhere" / "s2.png", 2)
    os.symlink(tmp_path / "elsewhere", lib / "linked")   # a linked folder outside the library
    index, rep = _build(lib, tmp_path / "library.npz")
    rels = sorted(os.path.relpath(e.path, str(lib)) for e in index.entries)
    # the first path met wins: a folder's own files before its subfolders
    assert rels == ["linked/s2.png", "set_a/s0.png", "zz_link.png"]
    assert rep.total == 3


def test_damaged_or_foreign_index_is_one_clear_error(tmp_path):
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"nonsense")
    with pytest.raises(InputError, match="not a library index"):
        I.LibraryIndex.load(str(bad))
    with pytest.raises(InputError, match="library index not found"):
        I.LibraryIndex.load(str(tmp_path / "missing.npz"))
    with pytest.raises(InputError, match="folder, not a library index") as err:
        I.LibraryIndex.load(str(tmp_path))          # the stills' folder given for the index
    assert "library index " + str(tmp_path) in str(err.value)


def test_index_never_writes_over_a_file_that_is_not_an_index(tmp_path, capsys):
    lib = tmp_path / "lib"
    still = _still(lib / "s0.png", 0)
    before = open(still, "rb").read()
    for out in (still, str(tmp_path / "shot.json")):       # a mistyped -o
        if not os.path.exists(out):
            open(out, "w").write('{"plate": "p.####.exr"}')
        kept = open(out, "rb").read()
        with pytest.raises(InputError, match="is not a library index: not written over"):
            _build(lib, out)
        assert open(out, "rb").read() == kept
    assert open(still, "rb").read() == before
    with pytest.raises(InputError, match="index to write is a folder"):
        _build(lib, tmp_path)
    # an index of another descriptor version is ours: rebuilt, with a note
    out = tmp_path / "old.npz"
    _build(lib, out)
    with np.load(out, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    meta["descriptor_version"] = -1
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(open(out, "wb"), **arrays)
    capsys.readouterr()
    index, rep = _build(lib, out)
    assert rep.computed == 1 and "of another version" in capsys.readouterr().err
    assert len(I.LibraryIndex.load(str(out))) == 1


def test_a_first_index_of_a_folder_without_stills_is_refused(tmp_path, capsys):
    """A folder holding no still (a mistyped path, a folder of movies): one line naming the
    folder, exit 2, no index written."""
    lib, out = tmp_path / "lib", tmp_path / "lib.ncindex"
    (lib / "sub").mkdir(parents=True)
    (lib / "notes.txt").write_text("x")
    assert main(["library", "index", str(lib), "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(lib) in err[0] and "no stills in the folder" in err[0]
    assert not out.exists()


def test_a_first_index_whose_every_still_fails_says_so(tmp_path, capsys):
    """A first index of a folder whose stills all fail (greyscale): refused, no index written,
    and the line says the stills failed, not that the folder holds none."""
    lib, out = tmp_path / "lib", tmp_path / "lib.ncindex"
    _still(lib / "a.png", 1, grey=True, size=(97, 64))
    assert main(["library", "index", str(lib), "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "greyscale" in err[0]
    assert "every still failed (1, e.g. " in err[1] and "no index written" in err[1]
    assert "no stills in the folder" not in err[1]
    assert not out.exists()


def test_a_mistyped_colourspace_never_empties_an_index(tmp_path, capsys):
    """`library index --colorspace Rec709` (a typo): one line, exit 2, before anything is read or
    written; and an index whose every still now fails is kept, not replaced by an empty one."""
    lib, out = tmp_path / "lib", tmp_path / "lib.ncindex"
    _still(lib / "a.png", 1)
    _still(lib / "b" / "c.jpg", 2)
    assert main(["library", "index", str(lib), "-o", str(out), "--quiet"]) == 0
    capsys.readouterr()
    good = out.read_bytes()
    for cs in ("Rec709", "NoSuchSpace"):
        assert main(["library", "index", str(lib), "-o", str(out), "--colorspace", cs, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and f"unknown colourspace '{cs}' (--colorspace)" in err
        assert out.read_bytes() == good
    assert main(["library", "index", str(lib), "-o", str(tmp_path / "new.ncindex"), "--colorspace", "Rec709"]) == 2
    assert "did you mean rec709?" in capsys.readouterr().err
    assert not (tmp_path / "new.ncindex").exists()
    with pytest.raises(InputError, match="unknown colourspace 'bogus'"):
        I.build_index(str(lib), colorspace="bogus", progress=False)
    # an OCIO name of the (built-in) config is a colourspace
    I.update_index(str(lib), str(tmp_path / "acescg.ncindex"), colorspace="ACEScg", progress=False)
    assert I.LibraryIndex.load(str(tmp_path / "acescg.ncindex")).colorspace == "ACEScg"
    # every still fails (here: they turned grey): the index there is kept
    _still(lib / "a.png", 1, grey=True, size=(97, 64))
    _still(lib / "b" / "c.jpg", 2, grey=True, size=(97, 64))
    assert main(["library", "index", str(lib), "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "every still failed (2, e.g. " in err[-1] and "greyscale" in err[-1]
    assert "with 2 still(s) is kept, not replaced by an empty one" in err[-1]
    assert out.read_bytes() == good
    # a folder emptied on purpose still updates the index (nothing failed: the stills are gone)
    for p in (lib / "a.png", lib / "b" / "c.jpg"):
        os.unlink(p)
    assert main(["library", "index", str(lib), "-o", str(out), "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dropped"] == 2 and len(I.LibraryIndex.load(str(out))) == 0


def test_greedy_cover_prefers_a_complementary_still_to_a_near_duplicate():
    # query regions 0-1 sky-like, 2-3 car-like; stills 0 and 1 are near duplicates (sky), 2 has the car.
    # By their own mean, 0 > 1 > 2; the set {0, 2} covers the plate, {0, 1} does not.
    cov = np.array([[0.9, 0.9, 0.2, 0.2], [0.88, 0.88, 0.21, 0.21], [0.2, 0.2, 0.85, 0.85]], np.float32)
    picked = greedy_cover(cov, 2)
    assert [j for j, _ in picked] == [0, 2]
    assert [c for _, c in picked] == pytest.approx([0.55, 0.875])
    assert [j for j, _ in greedy_cover(cov, 5)] == [0, 2, 1]      # never more than the candidates


def _davis_library(tmp_path, clips, frames=(0, 10, 20, 30), size=(160, 90)):
    lib = tmp_path / "lib"
    for c in clips:
        src = davis_clip(c)
        for f in frames:
            img = cv2.imread(str(src / f"{f:05d}.jpg"))
            os.makedirs(lib / c, exist_ok=True)
            cv2.imwrite(str(lib / c / f"{f:05d}.jpg"), cv2.resize(img, size, interpolation=cv2.INTER_AREA))
    return lib


@pytest.mark.parametrize("method", ["global", "coverage"])
def test_query_ranks_the_same_clip_first(tmp_path, method):
    from nuke_colorize.correspond.features import load_mobilenetv2
    clips = ["cows", "car-shadow", "kite-surf"]
    lib = _davis_library(tmp_path, clips)
    index, _ = _build(lib, tmp_path / "i.npz")
    net = load_mobilenetv2()
    for c in clips:
        L = [I.still_L(str(_davis_library(tmp_path / "q", [c], frames=(15,)) / c / "00015.jpg"))[0]]
        m = rank(index, D.describe_L(net, L), top=3, method=method)
        assert [x.group for x in m] == [c] * 3, (c, [(x.group, x.score) for x in m])
        assert m[0].score > 0.8
        other = rank(index, D.describe_L(net, L), top=3, exclude_groups=[c], method=method)
        assert c not in {x.group for x in other} and len(other) == 3


def test_cli_index_and_query_json(tmp_path, capsys):
    lib = _davis_library(tmp_path, ["cows", "car-shadow"], frames=(0, 20))
    plate = tmp_path / "plate"
    os.makedirs(plate)
    n = 1
    for clip, f in (("cows", 10), ("cows", 11), ("car-shadow", 10), ("car-shadow", 11)):
        img = cv2.imread(str(davis_clip(clip) / f"{f:05d}.jpg"), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(plate / f"p.{n:04d}.png"), cv2.resize(img, (128, 72), interpolation=cv2.INTER_AREA))
        n += 1
    idx = tmp_path / "lib.npz"
    assert main(["library", "index", str(lib), "-o", str(idx), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["images"], summary["computed"], summary["failed"]) == (4, 4, [])
    assert main(["library", "index", str(lib), "-o", str(idx), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reused"] == 4
    assert main(["library", "query", str(idx), "--plate", str(plate / "p.####.png"), "--frames", "1-4",
                 "--top", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [s["frames"] for s in out["scenes"]] == [[1, 2], [3, 4]]
    assert [os.path.basename(os.path.dirname(s["references"][0]["image"])) for s in out["scenes"]] \
        == ["cows", "car-shadow"]
    assert main(["library", "query", str(idx), "--plate", str(plate / "p.####.png"), "--top", "2"]) == 0
    text = capsys.readouterr().out
    assert "scene 1-2" in text and "scene 3-4" in text and text.count("car-shadow") == 2


def _meta(path):
    with np.load(str(path), allow_pickle=False) as z:
        return json.loads(str(z["meta"])), {k: z[k] for k in z.files if k != "meta"}


def test_an_index_moved_with_its_stills_finds_them_where_it_is_mounted(tmp_path, capsys, monkeypatch):
    """Built at ``a`` (the index beside the stills' folder), the tree moved to ``b`` (another mount
    point; ``a`` gone): the index names the stills relative to itself, so loading, querying and
    re-indexing at ``b`` find them (nothing recomputed); an index of format 1 (absolute paths)
    still reads; stills on another storage than the index stay absolute."""
    import shutil
    a, b = tmp_path / "a" / "refs", tmp_path / "b" / "refs"
    lib = _davis_library(a, ["cows", "car-shadow"], frames=(0, 20))
    plate = tmp_path / "plate"
    os.makedirs(plate)
    for n, (clip, f) in enumerate((("cows", 10), ("car-shadow", 10)), 1):
        img = cv2.imread(str(davis_clip(clip) / f"{f:05d}.jpg"), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(plate / f"p.{n:04d}.png"), cv2.resize(img, (128, 72), interpolation=cv2.INTER_AREA))
    assert main(["library", "index", str(lib), "-o", str(a / "lib.npz"), "--quiet"]) == 0
    meta, _ = _meta(a / "lib.npz")
    assert meta["format"] == 2 and meta["root"] == "lib"
    assert sorted(e["path"] for e in meta["entries"]) == sorted(
        f"lib/{c}/{f:05d}.jpg" for c in ("cows", "car-shadow") for f in (0, 20))
    query = ["--plate", str(plate / "p.####.png"), "--top", "1", "--json"]
    assert main(["library", "query", str(a / "lib.npz")] + query) == 0
    at_a = json.loads(capsys.readouterr().out)["scenes"]

    shutil.move(str(tmp_path / "a"), str(tmp_path / "b"))      # mtimes kept; a's paths name nothing now
    index = I.LibraryIndex.load(str(b / "lib.npz"))
    assert index.root == str(b / "lib") and all(e.path.startswith(str(b / "lib") + os.sep) for e in index.entries)
    assert all(os.path.isfile(e.path) for e in index.entries)
    assert main(["library", "query", str(b / "lib.npz")] + query) == 0
    at_b = json.loads(capsys.readouterr().out)["scenes"]
    assert json.loads(json.dumps(at_a).replace(str(a), str(b))) == at_b
    assert main(["library", "index", str(b / "lib"), "-o", str(b / "lib.npz"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["reused"], summary["computed"], summary["dropped"]) == (4, 0, 0)

    # format 1: absolute paths, read as they are
    meta, arrays = _meta(b / "lib.npz")
    old = dict(meta, format=1, root=str(b / "lib"),
               entries=[dict(e, path=str(b / e["path"])) for e in meta["entries"]])
    np.savez(str(tmp_path / "old.npz"), meta=np.array(json.dumps(old)), **arrays)
    again = I.LibraryIndex.load(str(tmp_path / "old.npz"))
    assert [e.path for e in again.entries] == [e.path for e in index.entries] and again.root == index.root

    # stills on another storage than the index: absolute (nothing says it is mounted beside it)
    from nuke_colorize.host import portable
    real = portable.storage_of
    monkeypatch.setattr(portable, "storage_of", lambda p, pathmod=os.path: (
        "index share" if p.startswith(str(tmp_path / "elsewhere")) else real(p, pathmod)))
    os.makedirs(tmp_path / "elsewhere")
    index.save(str(tmp_path / "elsewhere" / "lib.npz"))
    meta, _ = _meta(tmp_path / "elsewhere" / "lib.npz")
    assert meta["root"] == str(b / "lib") and all(os.path.isabs(e["path"]) for e in meta["entries"])


def test_the_index_keeps_the_stills_colourspace_and_automatic_references_use_it(tmp_path, capsys):
    """Stills indexed as e.g. rec709 are described in that encoding, the index says so, a
    re-index in another colourspace recomputes every still (with a note), and the retrieved
    stills reach the render with that colourspace (not the render's --ref-colorspace)."""
    from nuke_colorize.library.auto import ScenePlan, scene_references
    from nuke_colorize.library.query import Match
    lib = tmp_path / "lib"
    paths = [_still(lib / f"s{i}.png", i) for i in range(2)]
    out = tmp_path / "library.npz"
    I.update_index(str(lib), str(out), progress=False, colorspace="rec709")
    index = I.LibraryIndex.load(str(out))
    assert (index.colorspace, index.ocio_config) == ("rec709", None)
    assert I.LibraryIndex.stills_colorspace(str(out)) == ("rec709", None)
    as_rec709 = index.parts["hist"].copy()
    capsys.readouterr()
    index2, rep = I.update_index(str(lib), str(out), progress=False)          # auto: sRGB PNGs
    assert (rep.computed, rep.reused) == (2, 0)
    assert "recomputing every still as auto" in capsys.readouterr().err
    assert index2.colorspace == "auto"
    assert not np.allclose(index2.parts["hist"], as_rec709)                  # another decoding
    plan = ScenePlan(first=1, last=3, query_frames=[1], matches=[Match(path=paths[0], score=0.9, group=".", parts={})])
    assert scene_references([], plan, "rec709")[0].colorspace == "rec709"
    assert scene_references([], plan)[0].colorspace is None                   # auto: the job's rule
    # an index written before the colourspace was recorded reads as auto
    assert I.LibraryIndex.stills_colorspace(str(tmp_path / "missing.npz")) == ("auto", None)


def test_stills_indexed_through_an_ocio_config_are_read_through_it(monkeypatch):
    """A render with no config of its own and no OCIO names of its own (as the Nuke node
    writes when only the library uses OCIO) reads the stills through the config they were
    indexed with; a render that has its own config, or OCIO names relying on $OCIO, keeps
    it and is warned."""
    from types import SimpleNamespace

    from nuke_colorize.library import auto
    monkeypatch.setattr(I.LibraryIndex, "stills_colorspace",
                        staticmethod(lambda path: ("show_log", "/configs/show.ocio")))
    notes = []
    assert auto.index_colorspace("lib.npz", None, notes.append, own_ocio_names=False) == \
        ("show_log", "/configs/show.ocio")
    assert notes == []
    assert auto.index_colorspace("lib.npz", None, notes.append, own_ocio_names=True) == ("show_log", None)
    assert auto.index_colorspace("lib.npz", "/configs/other.ocio", notes.append, False) == \
        ("show_log", "/configs/other.ocio")
    assert len(notes) == 2 and "show.ocio" in notes[0] and "other.ocio" in notes[1]
    assert auto.index_colorspace("lib.npz", "/configs/show.ocio", notes.append, True) == \
        ("show_log", "/configs/show.ocio") and len(notes) == 2
    monkeypatch.setattr(I.LibraryIndex, "stills_colorspace", staticmethod(lambda path: ("srgb", None)))
    assert auto.index_colorspace("lib.npz", None, notes.append, False) == ("srgb", None) and len(notes) == 2
    job = SimpleNamespace(colorspace="auto", ref_colorspace="auto", out_colorspace="linear",
                          references=[SimpleNamespace(colorspace=None)])
    assert not auto._job_ocio_names(job)
    job.references[0].colorspace = "ACEScg"
    assert auto._job_ocio_names(job)


def test_reindexing_a_copy_with_coarser_mtimes_reuses_its_stills(tmp_path, monkeypatch):
    """An index compares mtimes to the microsecond, as the cache's file identities do: a still
    whose stored mtime differs below the microsecond (a copy on a server keeping 100 ns or
    coarser times, an index written by an older version) is reused; a change of a microsecond
    or more is recomputed."""
    lib = tmp_path / "lib"
    paths = [_still(lib / "set_a" / f"s{i}.png", i) for i in range(3)]
    for i, p in enumerate(paths):      # times with nanoseconds, as a local POSIX file system keeps them
        os.utime(p, ns=(1_700_000_000_123_456_789 + i * 10 ** 9,) * 2)
    out = tmp_path / "library.npz"
    _build(lib, out)
    for i, p in enumerate(paths):      # the same files as a coarser server reports them
        base = 1_700_000_000_123_456_789 + i * 10 ** 9
        os.utime(p, ns=(base // 100 * 100,) * 2 if i < 2 else (base + 1000,) * 2)
    decoded = []
    real = I.still_L
    monkeypatch.setattr(I, "still_L", lambda p, *a, **k: (decoded.append(p), real(p, *a, **k))[1])
    index, rep = _build(lib, out)
    assert (rep.total, rep.reused, rep.computed) == (3, 2, 1)
    assert decoded == [paths[2]]       # a microsecond later is a change
    assert len(I.LibraryIndex.load(str(out)).entries) == 3


def test_an_index_moved_without_its_stills_says_so(tmp_path, capsys):
    """Copied one folder deeper without its stills, an index (stills named relative to it)
    was queried as if all were well, listing stills that are not there, and the render then
    failed on the first with "file does not exist". Query and render now refuse it at once,
    naming the folder looked for and why."""
    import shutil

    from nuke_colorize.render import RenderJob
    from nuke_colorize.library.auto import plan_for_job

    _still(tmp_path / "refs" / "lib" / "a.png", 1)
    _still(tmp_path / "refs" / "lib" / "b.png", 2)
    _build(tmp_path / "refs" / "lib", tmp_path / "refs" / "lib.npz")
    os.makedirs(tmp_path / "elsewhere" / "deeper")
    moved = tmp_path / "elsewhere" / "deeper" / "lib.npz"
    shutil.copy(tmp_path / "refs" / "lib.npz", moved)
    plate = tmp_path / "p.0001.png"
    cv2.imwrite(str(plate), np.full((36, 64), 100, np.uint8))
    assert main(["library", "query", str(moved), "--plate", str(plate), "--top", "1"]) == 2
    err = capsys.readouterr().err
    assert f"stills folder {tmp_path / 'elsewhere' / 'deeper' / 'lib'} does not exist" in err and "moved or copied" in err
    job = RenderJob(plate=str(tmp_path / "p.####.png"), frames=[1], references=[],
                    output=str(tmp_path / "o.####.png"), library=str(moved), auto_references=1)
    with pytest.raises(InputError, match="stills folder .* does not exist"):
        plan_for_job(job, lambda m: None)
    assert main(["library", "query", str(tmp_path / "refs" / "lib.npz"), "--plate", str(plate), "--top", "1"]) == 0


def test_stills_of_every_format_the_tool_reads_are_indexed_and_unreadable_photos_noted(tmp_path):
    """GIF, JPEG 2000 and JPEG XL stills (readable as --ref) were left out of the library without
    a word, as were phones' HEIC photos, which this OpenImageIO cannot read; the first are
    indexed now, the others named in one note."""
    import OpenImageIO as oiio

    png = _still(tmp_path / "src" / "a.png", 3)
    lib = tmp_path / "lib"
    os.makedirs(lib / "phone")
    for ext in ("gif", "jp2", "jxl"):
        assert oiio.ImageBuf(png).write(str(lib / f"still.{ext}")), oiio.geterror()
    for name in ("IMG_0001.HEIC", "IMG_0002.heic", "raw.CR2"):
        (lib / "phone" / name).write_bytes(b"\0" * 64)
    (lib / "notes.txt").write_text("not a still")
    notes = []
    index, report = _build(lib, tmp_path / "lib.npz", notes)
    assert sorted(os.path.basename(e.path) for e in index.entries) == ["still.gif", "still.jp2", "still.jxl"]
    assert report.failed == [] and len(notes) == 1
    assert notes[0].startswith("3 photograph(s) in a format not read here (.cr2, .heic;") and "convert" in notes[0]


def test_a_cut_out_still_whose_covered_pixels_are_grey_is_not_indexed(tmp_path):
    """A cut-out PNG whose object (alpha 1) is grey and whose transparent pixels hold colour
    (left over from the painting) was indexed as a colour still, then stopped every automatic
    render that chose it ("reference has no colour"). The index reads it as the render does
    now: skipped as greyscale. A cut-out with a coloured object is indexed."""
    import OpenImageIO as oiio

    lib = tmp_path / "lib"
    os.makedirs(lib)
    rgba = np.zeros((64, 96, 4), np.float32)
    rgba[..., 0] = 0.9                            # red under the transparent part
    rgba[16:48, 24:72, :3] = 0.5                  # the object: grey
    rgba[16:48, 24:72, 3] = 1.0
    assert oiio.ImageBuf(oiio.ImageSpec(96, 64, 4, "uint8")).write(str(lib / "x.png"))
    buf = oiio.ImageBuf(oiio.ImageSpec(96, 64, 4, "uint8"))
    buf.set_pixels(oiio.ROI(), rgba)
    assert buf.write(str(lib / "grey_cut.png"))
    rgba[16:48, 24:72, :3] = (0.1, 0.6, 0.2)      # the same cut-out, the object green
    buf.set_pixels(oiio.ROI(), rgba)
    assert buf.write(str(lib / "green_cut.png"))
    os.remove(lib / "x.png")
    notes = []
    index, report = _build(lib, tmp_path / "lib.npz", notes)
    assert [os.path.basename(e.path) for e in index.entries] == ["green_cut.png"]
    assert [os.path.basename(p) for p, _ in report.failed] == ["grey_cut.png"] and "greyscale" in notes[0]
