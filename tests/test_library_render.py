"""Automatic references in render and in the shot file: scenes, chosen stills, metadata, cache."""
from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from conftest import davis_clip
from nuke_colorize.cli import main
from nuke_colorize.errors import InputError
from nuke_colorize.library.auto import METADATA_KEY, PLAN_FILE
from nuke_colorize.shot import Shot

FAST = ["--set", "max_working_size=64", "--set", "feature_size=128", "--quiet"]


@pytest.fixture(scope="module")
def scene_setup(tmp_path_factory):
    """A grey plate of two DAVIS scenes (frames 1-3 cows, 4-6 car-shadow, 96x54 PNG), a library
    of two stills of each clip (other frames than the plate's) and its index."""
    root = tmp_path_factory.mktemp("auto")
    n = 1
    for clip in ("cows", "car-shadow"):
        src = davis_clip(clip)
        for f in (30, 31, 32):
            img = cv2.imread(str(src / f"{f:05d}.jpg"), cv2.IMREAD_GRAYSCALE)
            os.makedirs(root / "plate", exist_ok=True)
            cv2.imwrite(str(root / "plate" / f"p.{n:04d}.png"), cv2.resize(img, (96, 54), interpolation=cv2.INTER_AREA))
            n += 1
        for f in (0, 39):
            img = cv2.imread(str(src / f"{f:05d}.jpg"))
            os.makedirs(root / "lib" / clip, exist_ok=True)
            small = cv2.resize(img, (128, 72), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(root / "lib" / clip / f"{f:05d}.jpg"), small)
    assert main(["library", "index", str(root / "lib"), "-o", str(root / "lib.npz"), "--quiet"]) == 0
    return root


def _attr(path, name):
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(str(path))
    try:
        return inp.spec().getattribute(name)
    finally:
        inp.close()


def test_render_with_library_splits_scenes_and_records_the_chosen_stills(scene_setup, capsys):
    root = scene_setup
    out = root / "out" / "c.####.exr"
    assert main(["render", "--plate", str(root / "plate" / "p.####.png"), "--library", str(root / "lib.npz"),
                 "--auto-references", "2", "--out", str(out), "--json"] + FAST) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [s["frames"] for s in summary["scenes"]] == [[1, 3], [4, 6]]
    chosen = [[os.path.basename(os.path.dirname(r["image"])) for r in s["references"]] for s in summary["scenes"]]
    assert chosen == [["cows", "cows"], ["car-shadow", "car-shadow"]]
    assert all(0 < r["score"] <= 1 for s in summary["scenes"] for r in s["references"])
    assert summary["frames"] == 6 and len(summary["outputs"]) == 6
    assert summary["temporal_smoothing"] == 1.0   # the automatic mode's default, said in the summary
    for f, scene in ((2, summary["scenes"][0]), (5, summary["scenes"][1])):
        meta = json.loads(_attr(str(out).replace("####", f"{f:04d}"), METADATA_KEY))
        assert meta["scene"] == scene["frames"] and meta["library"] == str(root / "lib.npz")
        assert [r["image"] for r in meta["references"]] == [r["image"] for r in scene["references"]]
        used = json.loads(_attr(str(out).replace("####", f"{f:04d}"), "nuke_colorize:references"))
        assert [u["image"] for u in used] == [r["image"] for r in scene["references"]]   # what coloured it
    # colour comes from the stills: the output is not grey
    import OpenImageIO as oiio
    px = oiio.ImageBuf(str(out).replace("####", "0005")).get_pixels(oiio.FLOAT)
    assert np.abs(px[..., 0] - px[..., 2]).mean() > 1e-3


def test_render_library_option_errors(scene_setup, capsys):
    root = scene_setup
    base = ["render", "--plate", str(root / "plate" / "p.####.png"), "--out", str(root / "x.####.exr")]
    assert main(base + ["--auto-references", "2", "--ref", str(root / "lib/cows/00000.jpg")]) == 2
    assert "--auto-references needs --library" in capsys.readouterr().err
    assert main(base + ["--library", str(root / "lib.npz"), "--auto-references", "0"]) == 2
    assert "from 1 to 64" in capsys.readouterr().err
    assert main(base + ["--library", str(root / "missing.npz")]) == 2
    assert "library index not found" in capsys.readouterr().err


def test_shot_file_library_keys_validation_and_key(scene_setup, tmp_path):
    root = scene_setup
    base = {"plate": str(root / "plate" / "p.####.png"), "library": str(root / "lib.npz")}
    shot = Shot.from_dict(base, str(tmp_path))
    assert (shot.references, shot.auto_references, shot.library) == ([], 3, str(root / "lib.npz"))
    assert Shot.from_dict(shot.to_dict(), "/elsewhere").to_dict() == shot.to_dict()
    k3 = shot.key()
    assert Shot.from_dict(dict(base, auto_references=2), str(tmp_path)).key() != k3
    with pytest.raises(InputError, match="'auto_references' needs 'library'"):
        Shot.from_dict({"plate": base["plate"], "references": [{"image": "a.png"}], "auto_references": 2},
                       str(tmp_path))
    with pytest.raises(InputError, match="from 1 to 64"):
        Shot.from_dict(dict(base, auto_references=True), str(tmp_path))
    with pytest.raises(InputError, match="non-empty list"):
        Shot.from_dict({"plate": base["plate"]}, str(tmp_path))        # no references, no library
    st = os.stat(root / "lib.npz")                                    # a re-indexed library: another key
    os.utime(root / "lib.npz", ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
    assert shot.key() != k3


def test_shot_with_library_renders_per_scene_through_the_cache(scene_setup, tmp_path, capsys):
    root = scene_setup
    shot_file = tmp_path / "shot.json"
    shot_file.write_text(json.dumps({"plate": str(root / "plate" / "p.####.png"), "library": str(root / "lib.npz"),
                                     "auto_references": 1, "settings": {"max_working_size": 64, "feature_size": 128},
                                     "output": "out/c.####.exr"}))
    assert main(["render", "--shot", str(shot_file), "--frames", "5-6", "--json", "--quiet"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert [s["frames"] for s in first["scenes"]] == [[1, 3], [4, 6]]
    assert sorted(first["computed"]) == [4, 5, 6] and first["frames"] == 2   # scene 2 walked from its start
    assert first["temporal_smoothing"] == 1.0
    plan = json.loads((tmp_path / "shot_cache" / PLAN_FILE).read_text())
    on_disk = json.loads(json.dumps(first["scenes"]))
    for scene in on_disk:   # the plan names the stills relative to the index (lib.npz beside lib/)
        for r in scene["references"]:
            r["image"] = os.path.relpath(r["image"], str(root))
    assert plan["scenes"] == on_disk and on_disk[0]["references"][0]["image"].startswith("lib/")
    assert sorted(os.listdir(tmp_path / "shot_cache" / "scenes")) == ["4-6"]
    meta = json.loads(_attr(tmp_path / "out" / "c.0006.exr", METADATA_KEY))
    assert meta["scene"] == [4, 6] and meta["references"][0]["image"] == first["scenes"][1]["references"][0]["image"]
    assert main(["render", "--shot", str(shot_file), "--json", "--quiet"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert sorted(second["computed"]) == [1, 2, 3] and second["loaded"] == 3     # scene 2 from the cache
    assert second["scenes"] == first["scenes"]
    assert main(["cache", "build", str(shot_file), "--quiet"]) == 0          # the farm's pre-pass
    assert "0 frame(s) computed, 6 read from the cache" in capsys.readouterr().err
    # status and clear cover every scene's cache
    assert main(["cache", "status", str(shot_file), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["planned"] and st["complete"] and [sc["scene"] for sc in st["scenes"]] == [[1, 3], [4, 6]]
    assert st["stored"] == st["total"] == 6 and st["outputs"] == 6 and st["stale_scenes"] == []
    assert st["stale_outputs"] == [] and st["missing_outputs"] == 0
    assert [sc["references"] for sc in st["scenes"]] == [[r["image"] for r in s["references"]] for s in first["scenes"]]
    assert main(["cache", "status", str(shot_file)]) == 0
    text = capsys.readouterr().out
    assert "scene 1-3: 3/3 chain frames stored" in text and "total 6/6 chain frames stored" in text
    # a scene folder the plan does not use (left over from an earlier cut) is stale
    os.makedirs(tmp_path / "shot_cache" / "scenes" / "1-2" / "segments")
    (tmp_path / "shot_cache" / "scenes" / "1-2" / "segments" / "x.npz").write_bytes(b"0" * 100)
    assert main(["cache", "status", str(shot_file), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stale_scenes"] == ["1-2"]
    assert main(["cache", "clear", str(shot_file), "--stale"]) == 0
    capsys.readouterr()
    assert sorted(os.listdir(tmp_path / "shot_cache" / "scenes")) == ["1-3", "4-6"]
    assert main(["render", "--shot", str(shot_file), "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["computed"] == []               # nothing in use was removed
    assert main(["cache", "clear", str(shot_file)]) == 0
    capsys.readouterr()
    assert not os.path.exists(tmp_path / "shot_cache" / "scenes") and not os.path.exists(tmp_path / "shot_cache" / PLAN_FILE)
    assert main(["cache", "status", str(shot_file), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert not st["planned"] and st["scenes"] == [] and not st["complete"]
    # the outputs (outside the cache) stay, no longer vouched for by any scene's cache
    assert st["outputs"] == 0 and st["stale_outputs"] == [1, 2, 3, 4, 5, 6] and st["missing_outputs"] == 0
    assert main(["cache", "clear", str(shot_file), "--stale"]) == 0          # no plan, no scene cache: none stale
    capsys.readouterr()
    os.makedirs(tmp_path / "shot_cache" / "scenes" / "1-2")
    assert main(["cache", "clear", str(shot_file), "--stale"]) == 2          # a scene cache, no plan: stale is unknown
    assert "no current scene plan" in capsys.readouterr().err
    assert os.path.isdir(tmp_path / "shot_cache" / "scenes" / "1-2")


def test_automatic_references_write_the_chosen_output_encoding(scene_setup, tmp_path, capsys):
    """Plain ``render --library`` (one render per scene) and a shot with a library (one cache
    per scene, each scene's shot made from the shot's description) write the depth and
    compression asked for; the plan and the scene caches do not depend on them."""
    import OpenImageIO as oiio
    root = scene_setup

    def header(path):
        inp = oiio.ImageInput.open(str(path))
        try:
            return str(inp.spec().format), inp.spec().getattribute("compression")
        finally:
            inp.close()
    out = tmp_path / "plain" / "c.####.exr"
    assert main(["render", "--plate", str(root / "plate" / "p.####.png"), "--library", str(root / "lib.npz"),
                 "--auto-references", "1", "--frames", "3-4", "--out", str(out), "--out-depth", "float",
                 "--out-compression", "piz"] + FAST) == 0
    assert [header(tmp_path / "plain" / f"c.{f:04d}.exr") for f in (3, 4)] == [("float", "piz")] * 2
    shot_file = tmp_path / "shot.json"
    desc = {"plate": str(root / "plate" / "p.####.png"), "library": str(root / "lib.npz"), "auto_references": 1,
            "settings": {"max_working_size": 64, "feature_size": 128}, "output": "out/c.####.tif",
            "out_depth": 8, "out_compression": "lzw"}
    shot_file.write_text(json.dumps(desc))
    assert main(["render", "--shot", str(shot_file), "--frames", "3-4", "--quiet"]) == 0
    capsys.readouterr()
    assert [header(tmp_path / "out" / f"c.{f:04d}.tif") for f in (3, 4)] == [("uint8", "lzw")] * 2
    assert main(["cache", "status", str(shot_file), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert (st["outputs"], st["stale_outputs"]) == (2, [])
    shot_file.write_text(json.dumps(dict(desc, out_compression="packbits")))   # same plan, same caches
    assert main(["cache", "status", str(shot_file), "--json"]) == 0
    st2 = json.loads(capsys.readouterr().out)
    assert st2["shot_key"] == st["shot_key"] and st2["planned"] and st2["stored"] == st["stored"]
    assert (st2["outputs"], st2["stale_outputs"]) == (0, [3, 4])


def test_a_shot_with_library_moved_to_another_mount_reuses_its_plan_and_cache(scene_setup, tmp_path, capsys):
    """Plate, library (index beside its stills) and shot built at ``a``, the tree copied to ``b``
    with its mtimes and ``a`` gone: the index and the stored scene plan name the stills relative
    to the index, so ``cache build`` at ``b`` keeps the plan, computes nothing and writes the
    same pictures."""
    import shutil
    import OpenImageIO as oiio
    a, b = tmp_path / "a", tmp_path / "b"
    for name in ("plate", "lib"):
        shutil.copytree(str(scene_setup / name), str(a / name), copy_function=shutil.copy2)
    assert main(["library", "index", str(a / "lib"), "-o", str(a / "lib.npz"), "--quiet"]) == 0
    (a / "shot.json").write_text(json.dumps({"plate": "plate/p.####.png", "library": "lib.npz", "auto_references": 1,
                                             "settings": {"max_working_size": 64, "feature_size": 128},
                                             "output": "out/c.####.exr"}))
    assert main(["cache", "build", str(a / "shot.json"), "--quiet"]) == 0
    assert "6 frame(s) computed" in capsys.readouterr().err
    plan = (a / "shot_cache" / PLAN_FILE).read_text()
    assert str(a) not in json.dumps(json.loads(plan)["scenes"])           # the stills relative to the index
    pixels = {f: oiio.ImageBuf(str(a / "out" / f"c.{f:04d}.exr")).get_pixels(oiio.FLOAT) for f in range(1, 7)}

    shutil.copytree(str(a), str(b), copy_function=shutil.copy2)
    shutil.rmtree(str(a))
    shutil.rmtree(str(b / "out"))
    mtime = os.stat(b / "shot_cache" / PLAN_FILE).st_mtime_ns
    assert main(["cache", "build", str(b / "shot.json"), "--quiet"]) == 0
    assert "0 frame(s) computed, 6 read from the cache" in capsys.readouterr().err
    assert os.stat(b / "shot_cache" / PLAN_FILE).st_mtime_ns == mtime      # the stored plan served (not planned again)
    for f in range(1, 7):
        assert np.array_equal(oiio.ImageBuf(str(b / "out" / f"c.{f:04d}.exr")).get_pixels(oiio.FLOAT), pixels[f])
    assert main(["cache", "status", str(b / "shot.json"), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["complete"]
    assert all(p.startswith(str(b / "lib") + os.sep) for sc in st["scenes"] for p in sc["references"])


def test_content_hash_reads_each_plate_frame_once_for_the_shot_and_its_scenes(scene_setup, tmp_path, monkeypatch,
                                                                               capsys):
    """With ``content_hash`` the shot's key (plan) and each scene cache's frame identities ask
    for the same plate frames: each is read and hashed once per command (twice in `cache
    build`, three times in `cache status` before), with the same keys as when hashed anew."""
    import collections
    from nuke_colorize.io import plate as plate_io
    counts = collections.Counter()
    real = plate_io.file_sha256

    def counting(path, *a, **k):
        counts[os.path.relpath(os.path.abspath(path), str(scene_setup))] += 1
        return real(path, *a, **k)
    monkeypatch.setattr(plate_io, "file_sha256", counting)
    shot_file = tmp_path / "shot.json"
    shot_file.write_text(json.dumps({"plate": str(scene_setup / "plate" / "p.####.png"),
                                     "library": str(scene_setup / "lib.npz"), "auto_references": 1,
                                     "content_hash": True, "output": "out/c.####.exr",
                                     "settings": {"max_working_size": 64, "feature_size": 128}}))
    plate = [os.path.join("plate", f"p.{f:04d}.png") for f in range(1, 7)]
    statuses = []
    for cmd in (["cache", "build", str(shot_file), "--quiet"], ["cache", "status", str(shot_file), "--json"],
                ["cache", "status", str(shot_file), "--json"]):
        plate_io._content_hashes.clear()             # each command a process of its own
        counts.clear()
        if len(statuses) == 1:                       # the last status hashes anew every time it asks
            monkeypatch.setattr(plate_io, "CONTENT_HASH_MEMO_SIZE", 0)
        assert main(cmd) == 0
        out = capsys.readouterr().out
        if cmd[1] == "status":
            statuses.append(json.loads(out))
        seen = {k: v for k, v in counts.items() if k.startswith("plate" + os.sep)}
        assert sorted(seen) == plate
        assert set(seen.values()) == ({1} if len(statuses) < 2 else {3}), counts
        assert counts["lib.npz"] == (1 if len(statuses) < 2 else 2)
    memo, anew = statuses
    assert memo["complete"] and memo["outputs"] == 6
    assert memo["shot_key"] == anew["shot_key"] and memo["scenes"] == anew["scenes"]


def test_planning_is_announced_only_when_the_scenes_are_planned(scene_setup, tmp_path, capsys):
    """``cache build --json-progress`` of a shot with a library: the first build identifies the
    plate's frames (the shot's key) and plans the scenes, each step with a ``preparing`` event;
    the next one reuses the stored plan and only identifies the plate's frames."""
    root = scene_setup
    shot_file = tmp_path / "shot.json"
    shot_file.write_text(json.dumps({"plate": str(root / "plate" / "p.####.png"), "library": str(root / "lib.npz"),
                                     "auto_references": 1, "settings": {"max_working_size": 64, "feature_size": 128}}))

    def preparing_messages():
        """The distinct ``preparing`` messages of one build, in order (a long step repeats its own)."""
        assert main(["cache", "build", str(shot_file), "--frames", "4", "--json-progress", "--no-output"]) == 0
        events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert events[-1]["event"] == "done"
        return list(dict.fromkeys(e["message"] for e in events if e["event"] == "preparing"))

    planned = preparing_messages()
    assert planned[:2] == ["identifying plate frames", "planning automatic references"]
    mtime = os.stat(tmp_path / "shot_cache" / PLAN_FILE).st_mtime_ns
    assert preparing_messages() == ["identifying plate frames"]          # the stored plan, frame 4 cached
    assert os.stat(tmp_path / "shot_cache" / PLAN_FILE).st_mtime_ns == mtime


def small_clips(root, clips) -> None:
    """DAVIS ``clips`` as 4-frame 96x54 folders under ``root`` (every 10th frame)."""
    for clip in clips:
        os.makedirs(root / clip)
        for f in range(4):
            img = cv2.imread(str(davis_clip(clip) / f"{f * 10:05d}.jpg"))
            cv2.imwrite(str(root / clip / f"{f:05d}.jpg"), cv2.resize(img, (96, 54), interpolation=cv2.INTER_AREA))


def test_eval_leave_one_out_never_uses_the_clip_s_own_frames(tmp_path, capsys):
    root = tmp_path / "clips"
    small_clips(root, ("cows", "car-shadow", "dog"))
    assert main(["eval", "--clips-root", str(root), "--auto-library-root", str(root), "--auto-references", "2",
                 "--size", "64x36", "--library-index", str(tmp_path / "i.npz"), "--json",
                 "--set", "max_working_size=64", "--set", "feature_size=128"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["summary"]["refs"] == "auto" and res["summary"]["clips"] == 3
    for r in res["clips"]:
        assert r["refs"] == [] and len(r["auto_scenes"]) == 1 and r["auto_scenes"][0]["frames"] == [0, 3]
        groups = {os.path.basename(os.path.dirname(x["image"])) for x in r["auto_scenes"][0]["references"]}
        assert len(r["auto_scenes"][0]["references"]) == 2 and r["clip"] not in groups
        assert 10 < r["psnr_grey"] < 40 and np.isfinite(r["psnr"])
    assert np.isfinite(res["summary"]["psnr_grey"])


def test_eval_leave_one_out_scores_the_same_whether_the_library_holds_the_clip_or_not(tmp_path, capsys):
    # The clip's own frames would be a near-perfect match (blackswan from its own frame 2:
    # 26.68 dB against 23.49 from the other clips' stills); the leave-one-out score must not
    # move when they are in the library. The clip is given through a symlinked folder, as a library
    # root of links to the footage would hold it.
    from nuke_colorize.evaluate import evaluate_clip

    src = tmp_path / "src"
    small_clips(src, ("blackswan", "cows", "dog"))
    for root, clips in (("with", ("blackswan", "cows", "dog")), ("without", ("cows", "dog"))):
        os.makedirs(tmp_path / root)
        for clip in clips:
            os.symlink(src / clip, tmp_path / root / clip)
    fast = ["--set", "max_working_size=64", "--set", "feature_size=128"]
    scores = {}
    for root in ("with", "without"):
        assert main(["eval", "--clip", str(tmp_path / "with" / "blackswan"), "--auto-library-root",
                     str(tmp_path / root), "--auto-references", "2", "--size", "64x36", "--library-index",
                     str(tmp_path / f"{root}.npz"), "--json"] + fast) == 0
        c = json.loads(capsys.readouterr().out)["clips"][0]
        scores[root] = c["psnr"]
        assert not any("blackswan" in r["image"] for r in c["auto_scenes"][0]["references"])
    assert scores["with"] == scores["without"]
    own = evaluate_clip(str(src / "blackswan"), size=(64, 36), stills=[str(src / "blackswan" / "00002.jpg")],
                        settings={"max_working_size": 64, "feature_size": 128})
    assert own["psnr"] > scores["without"] + 2.0          # 26.68 against 23.49


def test_automatic_mode_smooths_by_default_and_keyframed_shots_do_not(scene_setup, tmp_path):
    import argparse

    from nuke_colorize.commands.render import _strength
    from nuke_colorize.host.shotspec import build_shot
    from nuke_colorize.render import RefSpec
    root = scene_setup
    plate, lib = str(root / "plate" / "p.####.png"), str(root / "lib.npz")
    still = str(root / "lib" / "cows" / "00000.jpg")
    base = {"plate": plate, "library": lib}
    assert Shot.from_dict(base, str(tmp_path)).temporal_smoothing == 1.0
    assert Shot.from_dict(dict(base, temporal_smoothing=0), str(tmp_path)).temporal_smoothing == 0.0
    with pytest.raises(InputError, match="temporal_smoothing"):     # null is not "use the default"
        Shot.from_dict(dict(base, temporal_smoothing=None), str(tmp_path))
    assert Shot.from_dict(dict(base, references=[{"frame": 1, "image": still}]), str(tmp_path)).temporal_smoothing == 0.0
    assert Shot.from_dict({"plate": plate, "references": [{"image": still}]}, str(tmp_path)).temporal_smoothing == 0.0
    off = Shot.from_dict(dict(base, temporal_smoothing=0), str(tmp_path))
    assert Shot.from_dict(off.to_dict(), "/elsewhere").temporal_smoothing == 0.0   # an explicit 0 survives
    args = argparse.Namespace(temporal_smoothing=None, library=lib)
    assert _strength(args, []) == 1.0
    assert _strength(args, [RefSpec.parse(f"1={still}")]) == 0.0
    assert _strength(argparse.Namespace(temporal_smoothing=0.0, library=lib), []) == 0.0
    # the Nuke node's knob is explicit: 0 stays 0 in its shot file
    assert build_shot(plate, (1, 6), [], "exemplar", "c", library=lib)["temporal_smoothing"] == 0.0
    # and the default render is the strength-1 render, not the unsmoothed one
    def render(name, extra):
        out = tmp_path / name / "c.####.exr"
        assert main(["render", "--plate", plate, "--library", lib, "--auto-references", "1", "--frames", "1-3",
                     "--out", str(out)] + extra + FAST) == 0
        import OpenImageIO as oiio
        return oiio.ImageBuf(str(tmp_path / name / "c.0002.exr")).get_pixels(oiio.FLOAT)   # pixels (the header has a date)
    default, one, zero = render("d", []), render("one", ["--temporal-smoothing", "1"]), render("zero", ["--temporal-smoothing", "0"])
    assert np.array_equal(default, one) and not np.array_equal(default, zero)


def test_switching_between_library_and_references_is_reported_and_cleared(scene_setup, tmp_path, capsys):
    """A shot that switches between automatic references (``scenes/`` + the plan) and plain
    references (``segments/``) in one cache folder: `cache status` reports the other mode's
    data, `cache clear --stale` removes it, `cache clear` removes both; user files stay."""
    root = scene_setup
    shot_file, cache = tmp_path / "shot.json", tmp_path / "shot_cache"
    common = {"plate": str(root / "plate" / "p.####.png"), "settings": {"max_working_size": 64, "feature_size": 128}}
    auto = dict(common, library=str(root / "lib.npz"), auto_references=1)
    plain = dict(common, references=[{"frame": 1, "image": str(root / "lib" / "cows" / "00000.jpg")}])

    def cli(*args):
        assert main(list(args[:1]) + [args[1], str(shot_file)] + list(args[2:])) == 0
        return capsys.readouterr()

    def status():
        return json.loads(cli("cache", "status", "--json").out)

    shot_file.write_text(json.dumps(auto))
    cli("cache", "build", "--quiet", "--no-output")
    os.makedirs(cache / "output")
    (cache / "notes.txt").write_text("mine")
    (cache / "output" / "notes.txt").write_text("mine too")
    shot_file.write_text(json.dumps(plain))
    st = status()
    assert st["other_layout"] == [str(cache / "scenes"), str(cache / PLAN_FILE)] and st["other_layout_bytes"] > 10000
    text = cli("cache", "status").out
    assert "scenes, auto_references.json (" in text and "unused by this shot (it has no library)" in text
    cli("cache", "build", "--quiet")
    assert sorted(os.listdir(cache / "output")) == ["colour.0001.exr", "colour.0002.exr", "colour.0003.exr",
                                                    "colour.0004.exr", "colour.0005.exr", "colour.0006.exr", "notes.txt"]
    err = cli("cache", "clear", "--stale").err
    assert not (cache / "scenes").exists() and not (cache / PLAN_FILE).exists()
    assert "removed 0 item(s)" not in err
    st = status()
    assert st["other_layout"] == [] and st["other_layout_bytes"] == 0 and st["complete"]   # its own data kept

    shot_file.write_text(json.dumps(auto))
    st = status()
    assert len(st["other_layout"]) == 2 and st["other_layout"][-1] == str(cache / "manifest.json")
    assert st["other_layout"][0].startswith(str(cache / "segments" / "1-fwd-1."))
    assert "segments and manifest of a shot without a library" in cli("cache", "status").out
    # before the library's first build (no scene plan yet) `clear --stale` does what status says
    # (it refused: "no current scene plan")
    assert "removed 0 item(s)" not in cli("cache", "clear", "--stale").err
    assert sorted(os.listdir(cache)) == ["cache.lock", "notes.txt", "output"]
    assert status()["other_layout"] == []
    cli("cache", "build", "--quiet", "--no-output")
    cli("cache", "clear", "--stale")
    assert sorted(os.listdir(cache)) == ["auto_references.json", "cache.lock", "notes.txt", "output", "scenes"]
    assert status()["other_layout"] == [] and status()["complete"]

    # clear (either mode) removes both layouts and the output frames, never the user's files
    shot_file.write_text(json.dumps(plain))
    cli("cache", "build", "--quiet", "--no-output")
    cli("cache", "clear")
    assert sorted(os.listdir(cache)) == ["cache.lock", "notes.txt", "output"]
    assert sorted(os.listdir(cache / "output")) == ["notes.txt"]
    assert (cache / "output" / "notes.txt").read_text() == "mine too"


def test_a_still_removed_since_indexing_is_named_as_the_library_s(scene_setup, tmp_path, capsys):
    """A still the index holds, removed (or renamed) since: the render failed on it with a bare
    "file does not exist"; now the one line says the library chose it for a scene, that it no
    longer exists, and to index again (exit 2), before any frame is rendered."""
    import shutil

    root = scene_setup
    lib = tmp_path / "lib"
    shutil.copytree(root / "lib", lib)
    assert main(["library", "index", str(lib), "-o", str(tmp_path / "lib.npz"), "--quiet"]) == 0
    for f in (0, 39):
        os.remove(lib / "cows" / f"{f:05d}.jpg")
    out = tmp_path / "out" / "c.####.exr"
    assert main(["render", "--plate", str(root / "plate" / "p.####.png"), "--frames", "1-3", "--library",
                 str(tmp_path / "lib.npz"), "--auto-references", "1", "--out", str(out)] + FAST) == 2
    err = capsys.readouterr().err
    assert "the library chose the still" in err and "cows" in err and "no longer exists" in err \
        and "index the library again" in err
    assert not os.path.exists(tmp_path / "out") or not os.listdir(tmp_path / "out")
