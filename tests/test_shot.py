"""Shot descriptions: validation, relative paths, segments, the stable key."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from nuke_colorize.engine import plan_segments
from nuke_colorize.errors import InputError
from nuke_colorize.shot import Shot


def _write(path, px, fmt="half"):
    import OpenImageIO as oiio
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    px = np.ascontiguousarray(px)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), oiio.ImageSpec(px.shape[1], px.shape[0], px.shape[2], fmt))
    out.write_image(px)
    out.close()


@pytest.fixture
def shotdir(tmp_path):
    """Plate frames 1..10 (8x6 grey EXR) and two colour references, paths relative to tmp_path."""
    for f in range(1, 11):
        _write(tmp_path / "plate" / f"p.{f:04d}.exr", np.full((6, 8, 3), f / 20.0, np.float32))
    for name in ("a.png", "b.png"):
        _write(tmp_path / "refs" / name, np.full((6, 8, 3), (200, 40, 30), np.uint8), "uint8")
    return tmp_path


def _shot(folder, name="shot.json", **over):
    data = {"plate": "plate/p.####.exr", "frames": [1, 10],
            "references": [{"frame": 1, "image": "refs/a.png"}, {"image": "refs/b.png"}]}
    data.update(over)
    data = {k: v for k, v in data.items() if v is not None}
    path = folder / name
    path.write_text(json.dumps(data))
    return path


def test_relative_paths_and_defaults(shotdir):
    shot = Shot.load(str(_shot(shotdir, frames=None)))
    assert shot.plate == str(shotdir / "plate" / "p.####.exr")
    assert shot.frames == (1, 10)                              # from the plate on disk
    assert [r.image for r in shot.references] == [str(shotdir / "refs/a.png"), str(shotdir / "refs/b.png")]
    assert [r.frame for r in shot.references] == [1, None]
    assert shot.cache == str(shotdir / "shot_cache")
    assert shot.output == str(shotdir / "shot_cache" / "output" / "colour.####.exr")
    assert (shot.backend, shot.threads, shot.content_hash, shot.confidence_layer) == ("exemplar", 1, False, False)
    again = Shot.from_dict(shot.to_dict(), "/elsewhere")      # absolute paths survive a round trip
    assert again.to_dict() == shot.to_dict()


@pytest.mark.parametrize("over, words", [
    ({"plat": "x"}, "unknown key(s) ['plat']"),
    ({"references": [{"frame": 1, "image": "refs/a.png", "weight": 2}]}, "unknown key(s) ['weight']"),
    ({"settings": {"max_working_size": 64, "feature_sise": 1}}, "unknown setting(s) ['feature_sise']"),
    ({"frames": [10, 1]}, "first 10 is after last 1"),
    ({"frames": [1, "10"]}, "must be an integer"),
    ({"frames": [1, 10 ** 20]}, "'frames' 100000000000000000000 is out of range"),
    ({"frames": [-10 ** 9, 1]}, "'frames' -1000000000 is out of range"),
    ({"references": [{"frame": 11, "image": "refs/a.png"}]}, "outside the shot's frames 1-10"),
    ({"references": [{"frame": 2, "image": "refs/a.png"}, {"frame": 2, "image": "refs/b.png"}]},
     "two references for frame 2"),
    ({"references": []}, "non-empty list"),
    ({"backend": "magic"}, "unknown backend 'magic'"),
    ({"threads": 0}, "'threads' must be an integer >= 1"),
    ({"device": "tpu"}, "'device' must be one of"),
    ({"confidence_layer": "yes"}, "must be true or false"),
])
def test_invalid_descriptions_name_the_problem(shotdir, over, words):
    path = _shot(shotdir, **over)
    with pytest.raises(InputError) as err:
        Shot.load(str(path))
    assert words in str(err.value) and str(path) in str(err.value)


def test_a_huge_frame_range_reports_the_first_missing_frame_at_once(shotdir):
    """``frames`` [1, 50000000] on a 10-frame plate: the first missing frame is named without
    making a list of the range (megabytes of imports, not gigabytes) and before the cache folder exists."""
    import tracemalloc

    from nuke_colorize.cache import ShotCache
    shot = Shot.load(str(_shot(shotdir, frames=[1, 50_000_000])))
    assert shot.frames == (1, 50_000_000)                       # loading reads no plate frame
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as err:
            shot.job()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000                                   # a list of the range: ~2 GB
    assert err.value.frame == 11 and err.value.file == str(shotdir / "plate" / "p.0011.exr")
    assert "49999990 of 50000000 requested frames missing: 11-50000000" in str(err.value)
    with pytest.raises(InputError, match="frame 11"):
        ShotCache(shot).render()
    with pytest.raises(InputError, match="frame 11"):
        shot.key()
    assert not os.path.exists(shot.cache)
    # holes: counted from one listing, the first named
    for f in (4, 7, 8):
        os.unlink(shotdir / "plate" / f"p.{f:04d}.exr")
    with pytest.raises(InputError) as err:
        Shot.load(str(_shot(shotdir, frames=[2, 12], references=[{"image": "refs/a.png"}]))).job()
    assert err.value.frame == 4 and "5 of 11 requested frames missing: 4,7-8,11-12" in str(err.value)
    assert Shot.load(str(_shot(shotdir, frames=[1, 3]))).job().frames == [1, 2, 3]


def test_not_json_and_missing_file(shotdir):
    bad = shotdir / "bad.json"
    bad.write_text("{plate: ")
    with pytest.raises(InputError, match="not valid JSON"):
        Shot.load(str(bad))
    with pytest.raises(InputError, match="shot file not found"):
        Shot.load(str(shotdir / "missing.json"))


def test_segments_are_the_engines_and_the_farm_reads_them(shotdir):
    from nuke_colorize.farm.shotinfo import load_shot_info

    path = _shot(shotdir, references=[{"frame": 2, "image": "refs/a.png"}, {"frame": 8, "image": "refs/b.png"}])
    shot = Shot.load(str(path))
    segs = shot.segments()
    assert segs == plan_segments(range(1, 11), [2, 8])
    assert [(s.anchor, s.first, s.last, s.direction) for s in segs] == [
        (2, 1, 2, -1), (2, 2, 7, 1), (8, 3, 8, -1), (8, 8, 10, 1)]   # 3..7: both chains
    info = load_shot_info(str(path))
    assert info.frames == (1, 10)
    assert info.segments == ((2, 1, 5), (8, 6, 10))   # farm tasks: the frames nearest each keyframe


def test_key_is_stable_and_changes_with_every_input(shotdir):
    path = _shot(shotdir)
    k0 = Shot.load(str(path)).key()
    assert Shot.load(str(path)).key() == k0 and len(k0) == 20
    assert Shot.load(str(_shot(shotdir, settings={"max_working_size": 64}))).key() != k0
    assert Shot.load(str(_shot(shotdir, saturation=1.2))).key() != k0
    path = _shot(shotdir)
    plate5 = shotdir / "plate" / "p.0005.exr"
    st = plate5.stat()
    os.utime(plate5, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # re-rendered plate frame
    k1 = Shot.load(str(path)).key()
    assert k1 != k0
    ref = shotdir / "refs" / "b.png"
    os.utime(ref, ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))
    assert Shot.load(str(path)).key() != k1
    assert Shot.load(str(path)).key(settings_key={"backend": "exemplar", "weights": "x"}) != Shot.load(
        str(path)).key()


def test_content_hash_keys_ignore_touching_but_not_changes(shotdir):
    path = _shot(shotdir, content_hash=True)
    k0 = Shot.load(str(path)).key()
    plate5 = shotdir / "plate" / "p.0005.exr"
    st = plate5.stat()
    os.utime(plate5, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert Shot.load(str(path)).key() == k0
    _write(plate5, np.full((6, 8, 3), 0.9, np.float32))
    assert Shot.load(str(path)).key() != k0


def test_implied_shot_covers_the_plate_on_disk(shotdir):
    shot = Shot.implied(plate=str(shotdir / "plate/p.####.exr"), references=[(3, str(shotdir / "refs/a.png"))],
                        output=str(shotdir / "o.####.exr"), cache=str(shotdir / "c"), settings={"topk": 8})
    assert shot.frames == (1, 10) and shot.keyframes == [3] and shot.settings == {"topk": 8}
    assert shot.path is None and shot.cache == str(shotdir / "c")
    job = shot.job()
    assert job.frames == list(range(1, 11)) and job.references[0].frame == 3
