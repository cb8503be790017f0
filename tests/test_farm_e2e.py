"""End to end: the OpenJD bundle run by openjd-cli renders the same bytes as a local sequential render.

Runs the real engine in subprocesses (``nuke-colorize cache build`` per segment, then
``nuke-colorize render`` per chunk) on a tiny synthetic shot with two keyframe segments.
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

BIN = Path(sys.executable).parent
COLORIZE = BIN / "nuke-colorize"
FRAMES = range(1001, 1007)
W, H = 64, 48


def _engine_ready() -> str:
    """Why the engine cannot run this test ('' when it can)."""
    if not (BIN / "openjd").exists():
        return "openjd-cli is not installed"
    return ""


def _frame(f: int) -> np.ndarray:
    """(H, W, 3) float32 linear RGB: a coloured disc drifting over a gradient."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    cx, cy = 16 + 3 * (f - 1001), 24
    disc = ((x - cx) ** 2 + (y - cy) ** 2 < 100).astype(np.float32)
    img = np.stack([0.2 + 0.6 * x / W, 0.3 + 0.2 * y / H, 0.5 - 0.3 * x / W], axis=-1)
    img = img * (1 - disc[..., None]) + disc[..., None] * np.array([0.8, 0.15, 0.1], np.float32)
    return img.astype(np.float32)


def _write(path: Path, rgb: np.ndarray, fmt: str) -> None:
    import OpenImageIO as oiio
    spec = oiio.ImageSpec(W, H, 3, fmt)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec)
    out.write_image(rgb)
    out.close()


def _make_shot(root: Path) -> Path:
    (root / "plate").mkdir()
    for f in FRAMES:
        grey = _frame(f) @ np.array([0.2126, 0.7152, 0.0722], np.float32)
        _write(root / "plate" / f"plate.{f}.exr", np.repeat(grey[..., None], 3, axis=-1), "half")
    for k in (1001, 1005):
        srgb = np.clip(_frame(k), 0, 1) ** (1 / 2.2)
        _write(root / f"ref_{k}.png", (srgb * 255 + 0.5).astype(np.uint8), "uint8")
    shot = root / "shot.json"
    shot.write_text(json.dumps({
        "plate": "plate/plate.####.exr", "frames": [FRAMES[0], FRAMES[-1]], "colorspace": "auto",
        "references": [{"frame": 1001, "image": "ref_1001.png"}, {"frame": 1005, "image": "ref_1005.png"}],
        "backend": "exemplar", "output": "out/colour.####.exr", "cache": "colorize_cache"}))
    return shot


def _outputs(root: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted((root / "out").glob("colour.*.exr"))}


@pytest.mark.slow
def test_openjd_bundle_renders_bytes_identical_to_a_sequential_render(tmp_path):
    why = _engine_ready()
    if why:
        pytest.skip(why)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    shot = _make_shot(tmp_path)

    seq = subprocess.run([str(COLORIZE), "render", "--shot", str(shot)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert seq.returncode == 0, seq.stderr[-3000:]
    sequential = _outputs(tmp_path)
    assert len(sequential) == len(FRAMES)
    shutil.rmtree(tmp_path / "out")
    shutil.rmtree(tmp_path / "colorize_cache")

    farm = subprocess.run([str(COLORIZE), "farm", "openjd", str(shot), "-o", str(tmp_path / "bundle"),
                           "--chunk-size", "2", "--run-local"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert farm.returncode == 0, (farm.stdout + farm.stderr)[-4000:]
    log = farm.stdout
    assert log.index("cache build") < log.index("render --shot")  # pre-pass ran first
    assert _outputs(tmp_path) == sequential


@pytest.mark.slow
def test_openjd_prepass_of_a_plain_shot_writes_no_frame_and_the_render_writes_all(tmp_path):
    """The bundle's CacheBuild step alone (as openjd runs it) fills the cache and leaves no
    output frame behind; the Render step alone then writes every frame, from the cache."""
    why = _engine_ready()
    if why:
        pytest.skip(why)
    from nuke_colorize.farm import openjd
    env = dict(os.environ, OMP_NUM_THREADS="1")
    shot = _make_shot(tmp_path)
    bundle = tmp_path / "bundle"
    made = subprocess.run([str(COLORIZE), "farm", "openjd", str(shot), "-o", str(bundle), "--chunk-size", "2"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr[-3000:]
    argv = openjd.local_run_argv(str(bundle), {"ColorizeCommand": str(COLORIZE)})

    def step(name: str) -> None:
        run = subprocess.run(argv + ["--step", name], env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]

    step("CacheBuild")
    assert not (tmp_path / "out").exists() or _outputs(tmp_path) == {}
    status = subprocess.run([str(COLORIZE), "cache", "status", str(shot), "--json"], env=env,
                            capture_output=True, text=True, timeout=120)
    st = json.loads(status.stdout)
    assert st["stored"] == st["total"] > 0 and st["outputs"] == 0
    step("Render")
    assert sorted(_outputs(tmp_path)) == [f"colour.{f}.exr" for f in FRAMES]
