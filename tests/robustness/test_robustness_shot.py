"""Hand-edited shot files and unusable cache folders (issue 9), one row per case, same checks as
:mod:`test_robustness_cli`: exit code, ONE stderr line naming file and problem, no traceback,
inputs and earlier outputs byte-identical, no temporary files.

A refused shot leaves no file behind: bad shot files, references, settings and outputs are
refused before the cache folder is made (only the cache rows allow their own). Commands run
with ``--quiet`` (no announce line).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

import rb_harness as hx
from rb_harness import Case

CACHE_FILES = ("cache/*", "cache/**", "sub/cache/*", "ro/*")
GOOD = {"plate": "plate/plate.####.exr", "frames": [1, 3], "references": [{"frame": 1, "image": "ref.png"}],
        "output": "new/col.####.exr", "cache": "cache", "settings": {"feature_size": 64, "max_working_size": 64}}


def shot(**changes) -> Dict:
    d = json.loads(json.dumps(GOOD))
    for k, v in changes.items():
        if v is None:
            d.pop(k, None)
        else:
            d[k] = v
    return d


def b_shot(data=None, text=None, name="shot.json", then=None):
    def build(d: Path):
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text if text is not None else json.dumps(data, indent=1))
        if then:
            return then(d)
        return None
    return build


def b_ro_cache(d: Path):
    (d / "ro").mkdir()
    os.chmod(d / "ro", 0o555)


_HELD = {}


def b_hold_lock(d: Path):
    """Take the cache's lock shared, as a running build would (released by the cleanup)."""
    from nuke_colorize.cache.filelock import FileLock
    (d / "cache").mkdir()
    lock = FileLock(str(d / "cache" / "cache.lock"))
    assert lock.acquire(shared=True, blocking=False)
    _HELD[str(d)] = lock


def release_lock(d: Path):
    lock = _HELD.pop(str(d), None)
    if lock is not None:
        lock.release()


def b_tmpfs_cache(d: Path):
    hx.mount_full_tmpfs(d / "full", free_kb=8)


def cleanup_tmpfs(d: Path):
    hx.unmount(d / "full")


def b_matte_frame_1(d: Path):
    ids = np.zeros((hx.H, hx.W, 1), np.float32)
    ids[12:28, 8:20] = 3 / 255.0
    hx.oiio_write(d / "mattes" / "m.0001.png", ids, ["Y"], "uint8")


def render_shot(path="shot.json", *extra) -> List[str]:
    return ["render", "--shot", path, "--quiet", *extra]


def accept(id_, build, argv):
    return Case(id_, build, argv, 0, new_files=CACHE_FILES + ("new/*",))


def refuse(id_, build, argv, code, fragments, **kw):
    kw.setdefault("new_files", ())
    return Case(id_, build, argv, code, fragments, **kw)


CASES: List[Case] = [
    # ---- the file itself
    refuse("shot-missing-file", lambda d: None, render_shot("nope.json"), 2,
           ("nope.json", "not found")),
    refuse("shot-invalid-json", b_shot(text='{"plate": "plate/plate.####.exr",\n  "frames": [1, 3'),
           render_shot(), 2, ("shot.json", "not valid JSON")),
    refuse("shot-invalid-json-cache-build", b_shot(text='{"plate": plate.exr}'),
           ["cache", "build", "shot.json", "--quiet"], 2, ("shot.json", "not valid JSON")),
    refuse("shot-invalid-json-cache-status", b_shot(text="\x00\x01binary"),
           ["cache", "status", "shot.json"], 2, ("shot.json",)),
    refuse("shot-not-utf8", lambda d: (d / "shot.json").write_bytes(b'{"plate": "\xff\xfe"}'),
           render_shot(), 2, ("shot.json",)),
    refuse("shot-deeply-nested", b_shot(text="[" * 100000 + "]" * 100000), render_shot(), 2,
           ("shot.json", "nested too deeply")),
    refuse("shot-not-an-object", b_shot(text="[1, 2, 3]"), render_shot(), 2, ("shot.json", "JSON object")),
    # ---- keys and types
    refuse("shot-unknown-key", b_shot(shot(ouput="new/col.####.exr")), render_shot(), 2,
           ("shot.json", "unknown key", "ouput")),
    refuse("shot-unknown-reference-key", b_shot(shot(references=[{"frame": 1, "image": "ref.png", "colour": 1}])),
           render_shot(), 2, ("shot.json", "colour")),
    refuse("shot-frames-string", b_shot(shot(frames="1-3")), render_shot(), 2, ("shot.json", "'frames'")),
    refuse("shot-frames-reversed", b_shot(shot(frames=[3, 1])), render_shot(), 2, ("shot.json", "'frames'")),
    refuse("shot-frames-overflow", b_shot(shot(frames=[1, 10 ** 20])), render_shot(), 2,
           ("shot.json", "'frames' 100000000000000000000 is out of range")),
    # a mistyped last frame: the first missing frame, found without listing fifty million
    refuse("shot-frames-huge-range", b_shot(shot(frames=[1, 50_000_000])), render_shot(), 2,
           (f"plate.{hx.NFRAMES + 1:04d}.exr", "missing frame", "of 50000000 requested frames missing"),
           new_files=()),
    refuse("shot-plate-number", b_shot(shot(plate=42)), render_shot(), 2, ("shot.json", "'plate'")),
    refuse("shot-references-empty", b_shot(shot(references=[])), render_shot(), 2, ("shot.json", "'references'")),
    refuse("shot-reference-outside", b_shot(shot(references=[{"frame": 9, "image": "ref.png"}])), render_shot(), 2,
           ("shot.json", "frame 9", "outside")),
    refuse("shot-saturation-string", b_shot(shot(saturation="high")), render_shot(), 2,
           ("shot.json", "'saturation'")),
    refuse("shot-settings-wrong-type", b_shot(shot(settings={"max_working_size": "big"})), render_shot(), 2,
           ("max_working_size", "number")),
    refuse("shot-saturation-huge", b_shot(shot(saturation=1e30)), render_shot(), 2,
           ("shot.json", "'saturation'", "from 0 (grey) to 4")),
    refuse("shot-saturation-nan", b_shot(text=json.dumps(shot(saturation=float("nan")))), render_shot(), 2,
           ("shot.json", "'saturation'")),
    refuse("shot-two-references-one-frame",
           b_shot(shot(references=[{"frame": 2, "image": "ref.png"}, {"frame": 2, "image": "ref2.png"}])),
           render_shot(), 2, ("shot.json", "frame 2", "ref.png (reference #1)", "ref2.png (reference #2)")),
    refuse("shot-out-colorspace-unknown", b_shot(shot(out_colorspace="bogus")), render_shot(), 2,
           ("output colourspace 'bogus'",)),
    # a near miss of a built-in colourspace name: refused naming the file and the key, with the
    # right name, before the cache folder is made
    refuse("shot-colorspace-typo", b_shot(shot(colorspace="Rec709")), render_shot(), 2,
           ("shot.json", "unknown colourspace 'Rec709' ('colorspace')", "did you mean rec709?")),
    refuse("shot-ref-colorspace-typo", b_shot(shot(ref_colorspace="Rec.709")), render_shot(), 2,
           ("shot.json", "unknown colourspace 'Rec.709' ('ref_colorspace')", "did you mean rec709?")),
    refuse("shot-reference-colorspace-typo",
           b_shot(shot(references=[{"frame": 1, "image": "ref.png", "colorspace": "sRGB Texture"}])), render_shot(), 2,
           ("shot.json", "unknown colourspace 'sRGB Texture' (reference #1 'colorspace')", "did you mean srgb?")),
    refuse("shot-out-colorspace-typo", b_shot(shot(out_colorspace="REC709")), render_shot(), 2,
           ("shot.json", "unknown output colourspace 'REC709' ('out_colorspace')", "did you mean rec709?")),
    refuse("shot-colorspace-typo-cache-build", b_shot(shot(colorspace="Rec709")),
           ["cache", "build", "shot.json", "--quiet"], 2,
           ("shot.json", "unknown colourspace 'Rec709' ('colorspace')", "did you mean rec709?")),
    refuse("shot-settings-position-sigma-zero",
           b_shot(shot(settings={"feature_size": 64, "max_working_size": 64, "position_sigma": 0})), render_shot(), 2,
           ("position_sigma=0", "outside")),
    refuse("shot-matte-matches-no-file", b_shot(shot(matte="mattes/m.####.png")), render_shot(), 2,
           ("mattes/m.####.png", "matches no file", "frames 1-3")),
    refuse("shot-combined-with-matte", b_shot(shot()), render_shot("shot.json", "--matte", "m.####.png"), 2,
           ("--matte", "--shot")),
    accept("accept-shot-sparse-mattes",   # a matte on frame 1 only: the others carried along the flow
           b_shot(shot(matte="mattes/m.####.png", frames=[1, 2]), then=b_matte_frame_1), render_shot()),
    refuse("shot-combined-with-plate", b_shot(shot()), render_shot("shot.json", "--plate", "x.####.exr"), 2,
           ("--plate", "--shot")),
    # ---- relative paths: taken from the shot file's folder, never from the working folder
    refuse("shot-relative-path-from-shot-folder", b_shot(shot(), name="sub/shot.json"),
           render_shot("sub/shot.json"), 2, ("sub/plate/plate.0001.exr", "missing frame")),
    accept("accept-shot-relative-paths",
           b_shot(shot(plate="../plate/plate.####.exr", references=[{"frame": 1, "image": "../ref.png"}],
                       output="../new/col.####.exr", cache="cache", frames=[1, 2]), name="sub/shot.json"),
           render_shot("sub/shot.json")),
    # ---- OCIO config: one that does not load is refused (OpenImageIO would fall back quietly)
    refuse("shot-ocio-config-missing", b_shot(shot(colorspace="ACEScg", ocio_config="show/config.ocio")),
           render_shot(), 2, ("shot.json", "OCIO config not found", "show/config.ocio")),
    refuse("shot-ocio-config-garbage",
           b_shot(shot(colorspace="ACEScg", ocio_config="config.ocio"),
                  then=lambda d: (d / "config.ocio").write_text("roles: [unterminated\n")),
           render_shot(), 2, ("shot.json", "cannot load OCIO config", "config.ocio")),
    refuse("shot-ocio-config-not-a-string", b_shot(shot(ocio_config=["a.ocio"])), render_shot(), 2,
           ("shot.json", "'ocio_config' must be")),
    refuse("shot-ocio-name-unknown-to-config",
           b_shot(shot(colorspace="No Such Space", ocio_config="ocio://cg-config-v1.0.0_aces-v1.3_ocio-v2.1")),
           render_shot(), 2, ("shot.json", "unknown colourspace 'No Such Space' ('colorspace')", "cannot convert")),
    # ---- outputs that would destroy inputs
    refuse("shot-output-equals-plate", b_shot(shot(output="plate/plate.####.exr")), render_shot(), 2,
           ("overwrite", "plate")),
    refuse("shot-output-equals-reference", b_shot(shot(output="ref.png", frames=[1, 1])), render_shot(), 2,
           ("overwrite", "ref.png")),
    refuse("shot-output-no-frame-number", b_shot(shot(output="single.exr")), render_shot(), 2,
           ("single.exr", "####")),
    # ---- cache folder
    refuse("cache-read-only", b_shot(shot(cache="ro/cache"), then=b_ro_cache), render_shot(), 4,
           ("ro/cache", "cannot create the cache folder"), honour_modes=True, cleanup=hx.restore_modes),
    refuse("cache-in-use-clear", b_shot(shot(), then=b_hold_lock), ["cache", "clear", "shot.json"], 4,
           ("cache", "in use"), cleanup=release_lock),
    refuse("cache-disk-full-tmpfs", b_shot(shot(cache="full/cache"), then=b_tmpfs_cache), render_shot(), 4,
           ("full/cache", "frame 1", "cannot write the cache", "No space left"), cleanup=cleanup_tmpfs,
           new_files=("full/cache/**",),
           skip=None if hx.can_mount_tmpfs() else "needs root and a mountable tmpfs"),
]

_BY_ID = {c.id: c for c in CASES}
assert len(_BY_ID) == len(CASES)


@pytest.fixture(scope="module")
def robust_base(tmp_path_factory):
    return hx.shared_base(tmp_path_factory)


@pytest.fixture(scope="module")
def table(request, robust_base, tmp_path_factory):
    pool, futures = hx.start_table(request, _BY_ID, robust_base, tmp_path_factory.mktemp("shot-cases"))
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("case_id", list(_BY_ID))
def test_case(case_id, table):
    hx.check_row(_BY_ID[case_id], table[case_id])
