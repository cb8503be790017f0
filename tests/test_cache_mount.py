"""One shot cache for every machine, wherever the storage is mounted.

A Windows workstation sees the show under ``P:\\shows``, Linux farm nodes under ``/mnt/shows``,
Deadline's path mapping rewrites the paths of a script: the cache names input files by what
they are (name, size, mtime to the microsecond, or SHA-256 with ``content_hash``), never by the
folder they are seen in. Simulated here by building a cache under one folder, copying the whole
tree (plate, references, cache; mtimes kept, as one storage seen twice) to another and
rewriting the shot file with the new absolute paths, and by a symlink standing for a second
mount of the same folder. A changed plate frame, reference or setting still invalidates.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import write_oiio as _write
from nuke_colorize.cache import ShotCache
from nuke_colorize.io import file_identity
from nuke_colorize.shot import Shot

CMD = [sys.executable, "-m", "nuke_colorize"]
N, W, H = 10, 48, 32
KEYFRAMES = (1, 10)
CHAIN_FRAMES = 19          # 1-fwd 1..9, 10-bwd 10..2, 10-fwd 10
SETTINGS = {"feature_size": 128, "max_working_size": 128, "memory_every": 3}
TIMEOUT = 120


def _colour(f: int, hue_shift: float = 0.0) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    rgb = np.stack([0.1 + 0.3 * np.sin(xx / 7 + f / 4) ** 2, 0.3 + 0.5 * xx / W, 0.8 - 0.5 * yy / H], -1)
    x0 = 4 + 2 * f
    rgb[10:22, x0:x0 + 10] = (0.9, 0.15, 0.1)
    if hue_shift:
        rgb = np.roll(rgb, 1, axis=2) * (1 - hue_shift) + rgb * hue_shift
    return rgb.astype(np.float32)


def _plate_frame(path: Path, f: int, gain: float = 1.0) -> None:
    y = _colour(f) @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    _write(path, np.repeat(y[..., None] * gain, 3, -1), "half")


def _png(path: Path, rgb: np.ndarray) -> None:
    _write(path, (np.clip(rgb, 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8), "uint8")


def make_show(show: Path) -> None:
    for f in range(1, N + 1):
        _plate_frame(show / "plate" / f"plate.{f:04d}.exr", f)
    for k in KEYFRAMES:
        _png(show / "refs" / f"ref_{k}.png", _colour(k))


def write_shot(show: Path, name: str = "shot.json", **extra) -> Path:
    """A shot file with absolute paths (as the Nuke node writes them) under ``show``."""
    shot = {"plate": str(show / "plate" / "plate.####.exr"), "frames": [1, N],
            "references": [{"frame": k, "image": str(show / "refs" / f"ref_{k}.png")} for k in KEYFRAMES],
            "settings": SETTINGS, "output": str(show / "out" / "colour.####.exr"), "cache": str(show / "cache")}
    shot.update(extra)
    path = show / name
    path.write_text(json.dumps(shot, indent=1))
    return path


def render(shot_file: Path, *args: str) -> dict:
    """``render --shot`` in a fresh process (another machine, as far as the cache knows)."""
    proc = subprocess.run(CMD + ["render", "--shot", str(shot_file), "--json", "--quiet", *args],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    summary["stderr"] = proc.stderr
    return summary


def outputs(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("colour.*.exr"))}


REFS_ATTRIBUTE = "nuke_colorize:references"   # the reference paths as the writing machine saw them


def pictures(folder: Path) -> dict:
    """Each output's pixels and header, without the attribute naming the reference paths."""
    import OpenImageIO as oiio
    out = {}
    for p in sorted(folder.glob("colour.*.exr")):
        inp = oiio.ImageInput.open(str(p))
        spec = inp.spec()
        header = sorted((a.name, str(a.value)) for a in spec.extra_attribs if a.name != REFS_ATTRIBUTE)
        out[p.name] = (inp.read_image(format="float").tobytes(), spec.nchannels, spec.channelnames, header)
        inp.close()
    return out


def refs_attribute(path: Path) -> str:
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(str(path))
    try:
        return inp.spec().getattribute(REFS_ATTRIBUTE)
    finally:
        inp.close()


def remount(src: Path, dst: Path, **shot_extra) -> Path:
    """``src``'s tree seen at ``dst``: copied with its mtimes (one storage, another mount point),
    its outputs removed, its shot file rewritten with ``dst``'s absolute paths."""
    shutil.copytree(src, dst, symlinks=True)   # copy2: mtimes to the nanosecond, as a second mount shows them
    shutil.rmtree(dst / "out")
    return write_shot(dst, **shot_extra)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The show under mount A, its cache built in process, and its outputs."""
    a = tmp_path_factory.mktemp("mount_a") / "shows" / "sq010"
    make_show(a)
    shot = write_shot(a)
    summary = ShotCache(Shot.load(str(shot)), warn=lambda m: None).render()
    assert len(summary["computed"]) == CHAIN_FRAMES
    base = pictures(a / "out")
    assert len(base) == N
    return a, base, summary["shot_key"]


# ---------------------------------------------------------------------- identity
def test_a_file_is_identified_by_name_size_and_microsecond_mtime_not_by_folder(tmp_path):
    one, two = tmp_path / "P" / "shows" / "plate.0001.exr", tmp_path / "mnt" / "shows" / "plate.0001.exr"
    for p in (one, two):
        p.parent.mkdir(parents=True)
        p.write_bytes(b"x" * 100)
    # the same file through SMB (100 ns units) and NFS (ns): equal to the microsecond
    os.utime(one, ns=(1_700_000_000_123_456_700, 1_700_000_000_123_456_700))
    os.utime(two, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    assert file_identity(str(one)) == file_identity(str(two)) == "plate.0001.exr|100|1700000000123456"
    assert str(tmp_path) not in file_identity(str(one))
    os.utime(two, ns=(1_700_000_000_123_457_789, 1_700_000_000_123_457_789))   # 1 us later: another file
    assert file_identity(str(one)) != file_identity(str(two))
    other = two.with_name("plate.0002.exr")                                     # another frame's name
    os.rename(two, other)
    os.utime(other, ns=(1_700_000_000_123_456_700, 1_700_000_000_123_456_700))
    assert file_identity(str(other)) != file_identity(str(one))
    other.write_bytes(b"x" * 101)                                               # another size
    assert file_identity(str(other)) != file_identity(str(one))
    # content_hash: the bytes only, whatever the name, folder or time
    os.rename(other, two)
    two.write_bytes(b"x" * 100)
    assert file_identity(str(one), content_hash=True) == file_identity(str(two), content_hash=True)


def test_the_shot_key_leaves_out_paths_but_not_inputs(built, tmp_path):
    a, _, key = built
    b = tmp_path / "mnt" / "shows" / "sq010"
    shot_b = remount(a, b)
    assert Shot.load(str(shot_b)).key() == Shot.load(str(a / "shot.json")).key()
    # where the cache and outputs go is not what they are
    moved = write_shot(b, "moved.json", cache=str(tmp_path / "elsewhere"), output=str(tmp_path / "o.####.exr"),
                       confidence_output=str(tmp_path / "c.####.exr"))
    assert Shot.load(str(moved)).key() == Shot.load(str(shot_b)).key()
    # but the settings, the frames, a reference's role and the files are
    k0 = Shot.load(str(shot_b)).key()
    assert Shot.load(str(write_shot(b, "s.json", settings=dict(SETTINGS, memory_every=4)))).key() != k0
    assert Shot.load(str(write_shot(b, "f.json", frames=[1, N - 1],
                                    references=[{"frame": 1, "image": str(b / "refs" / "ref_1.png")}]))).key() != \
        Shot.load(str(write_shot(b, "g.json", references=[{"frame": 1, "image": str(b / "refs" / "ref_1.png")}]))).key()
    still = [{"image": str(b / "refs" / "ref_1.png")}, {"frame": 10, "image": str(b / "refs" / "ref_10.png")}]
    assert Shot.load(str(write_shot(b, "r.json", references=still))).key() != k0
    swapped = [{"frame": 1, "image": str(b / "refs" / "ref_10.png")},
               {"frame": 10, "image": str(b / "refs" / "ref_1.png")}]
    assert Shot.load(str(write_shot(b, "w.json", references=swapped))).key() != k0


# ---------------------------------------------------------------------- end to end
def test_a_copied_tree_at_another_mount_point_reuses_the_cache(built, tmp_path):
    """The farm's tree at another path: nothing is computed, the outputs are the same bytes,
    and a changed plate frame, reference or setting is still computed again."""
    a, base, key = built
    b = tmp_path / "mnt" / "shows" / "sq010"
    shot_b = remount(a, b)
    summary = render(shot_b)
    assert summary["computed"] == [] and summary["loaded"] > 0
    assert summary["shot_key"] == key and summary["cache"] == str(b / "cache")
    # the same pictures as at A; byte for byte the same files as a render at B from scratch (the
    # outputs name the reference images as the machine writing them sees them)
    assert pictures(b / "out") == base
    fresh = render(write_shot(b, "fresh.json", cache=str(b / "cache_fresh"), output=str(b / "fresh" / "colour.####.exr")))
    assert len(fresh["computed"]) == CHAIN_FRAMES
    assert outputs(b / "fresh") == outputs(b / "out")
    assert json.loads(refs_attribute(b / "out" / "colour.0001.exr"))[0]["image"] == str(b / "refs" / "ref_1.png")
    assert "not reused" not in summary["stderr"]
    status = ShotCache(Shot.load(str(shot_b))).status()
    assert status["complete"] and status["stale_segments"] == [] and status["shot_key"] == key

    # a re-rendered plate frame (other pixels, same name): frame 5 on, in both chains through it
    frame5 = b / "plate" / "plate.0005.exr"
    before = os.stat(frame5)
    _plate_frame(frame5, 5, gain=0.8)
    assert (os.stat(frame5).st_size, os.stat(frame5).st_mtime_ns) != (before.st_size, before.st_mtime_ns)
    summary = render(shot_b)
    by_chain = {name.split(".")[0]: frames for name, frames in summary["computed_by_segment"].items() if frames}
    assert by_chain == {"1-fwd-1": [5, 6, 7, 8, 9], "10-bwd-10": [5, 4, 3, 2]}
    after = pictures(b / "out")
    assert after["colour.0001.exr"] == base["colour.0001.exr"] and after["colour.0010.exr"] == base["colour.0010.exr"]
    assert after["colour.0005.exr"] != base["colour.0005.exr"]

    # a reference painted again under the same name: every chain it takes part in (all three)
    _png(b / "refs" / "ref_10.png", _colour(10, hue_shift=0.4))
    assert len(render(shot_b)["computed"]) == CHAIN_FRAMES
    # another setting: everything
    other = write_shot(b, "other.json", settings=dict(SETTINGS, memory_every=4))
    assert len(render(other, "--frames", "1-1")["computed"]) == 1


def test_a_symlinked_mount_reuses_the_cache(built, tmp_path):
    """The same folder seen through a symlink (as a second mount of one share)."""
    a, base, key = built
    link = tmp_path / "mnt_shows"
    link.symlink_to(a.parent, target_is_directory=True)
    b = link / a.name
    shot_b = tmp_path / "shot_b.json"
    shot_b.write_text(json.dumps({"plate": str(b / "plate" / "plate.####.exr"), "frames": [1, N],
                                  "references": [{"frame": k, "image": str(b / "refs" / f"ref_{k}.png")}
                                                 for k in KEYFRAMES],
                                  "settings": SETTINGS, "output": str(tmp_path / "out" / "colour.####.exr"),
                                  "cache": str(b / "cache")}))
    summary = render(shot_b)
    assert summary["computed"] == [] and summary["shot_key"] == key
    assert pictures(tmp_path / "out") == base


def test_content_hash_shares_a_copy_whose_mtimes_changed(built, tmp_path):
    """Copies that do not keep mtimes (or shares whose protocols disagree on them below the
    microsecond) share a cache with ``content_hash``; size + mtime identities do not."""
    a, base, _ = built
    src = tmp_path / "a" / "sq010"
    shutil.copytree(a / "plate", src / "plate")
    shutil.copytree(a / "refs", src / "refs")
    shot = write_shot(src, content_hash=True)
    assert len(render(shot)["computed"]) == CHAIN_FRAMES
    dst = tmp_path / "b" / "sq010"
    shutil.copytree(src, dst, copy_function=shutil.copy)            # new mtimes everywhere
    shutil.rmtree(dst / "out")
    summary = render(write_shot(dst, content_hash=True))
    assert summary["computed"] == []
    assert pictures(dst / "out") == pictures(src / "out") == base
    # without content_hash the copy's files are other files: its frames are computed again
    plain = write_shot(dst, "plain.json", cache=str(dst / "cache_plain"))
    shutil.copytree(a / "cache", dst / "cache_plain")
    assert len(render(plain, "--frames", "1-1")["computed"]) == 1


def test_segments_of_the_path_keyed_format_are_left_aside_with_a_note(built, tmp_path):
    """A cache written before files were named by name, size and mtime (key format 1) is not
    resumed; the user is told and ``cache clear --stale`` removes its segments."""
    a, _, _ = built
    b = tmp_path / "sq010"
    shot_b = remount(a, b)
    manifest = b / "cache" / "manifest.json"
    data = json.loads(manifest.read_text())
    del data["key_format"]
    old = {}
    for name, entry in data["segments"].items():     # the same chains under format-1 keys
        stem, key = name.rsplit(".", 1)
        old_name = f"{stem}.{'0' * 16}"
        shutil.copytree(b / "cache" / "segments" / name, b / "cache" / "segments" / old_name)
        old[old_name] = entry
    data["segments"].update(old)
    manifest.write_text(json.dumps(data))
    summary = render(shot_b, "--frames", "1-1")
    assert summary["computed"] == []
    assert "key format 1" in summary["stderr"] and "cache clear --stale" in summary["stderr"]
    assert json.loads(manifest.read_text())["key_format"] == 2
    status = ShotCache(Shot.load(str(shot_b))).status()
    assert sorted(status["stale_segments"]) == sorted(old)
