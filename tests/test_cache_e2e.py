"""The shot cache end to end, every scenario in real subprocesses of ``python -m nuke_colorize``.

A 40-frame 64x48 synthetic shot with keyframes 1, 20 and 40 (chains ``1-fwd`` 1..10, ``20-bwd``
20..11, ``20-fwd`` 20..30, ``40-bwd`` 40..31 and ``40-fwd`` 40: 42 chain frames) and small
exemplar settings. One sequential
``render --shot`` is the baseline every other render must match byte for byte.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import write_oiio as _write

CMD = [sys.executable, "-m", "nuke_colorize"]
N, W, H = 40, 64, 48
CHAIN_FRAMES = 79   # chains 1-fwd 1..19, 20-bwd 20..2, 20-fwd 20..39, 40-bwd 40..21, 40-fwd 40
# (memory every 3 chain steps: remembered frames come back from the cache in resumed chains)
SETTINGS = {"feature_size": 128, "max_working_size": 128, "memory_every": 3}
TIMEOUT = 120


# ---------------------------------------------------------------------- data
def _colour(f: int, hue_shift: float = 0.0) -> np.ndarray:
    """(H, W, 3) linear RGB: a red block sliding over a moving gradient."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    rgb = np.stack([0.1 + 0.3 * np.sin(xx / 7 + f / 4) ** 2, 0.3 + 0.5 * xx / W, 0.8 - 0.5 * yy / H], -1)
    x0 = 4 + f % (W - 16)
    rgb[14:30, x0:x0 + 12] = (0.9, 0.15, 0.1)
    if hue_shift:
        rgb = np.roll(rgb, 1, axis=2) * (1 - hue_shift) + rgb * hue_shift
    return rgb.astype(np.float32)


def _png(path: Path, rgb: np.ndarray) -> None:
    _write(path, (np.clip(rgb, 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8), "uint8")


def make_clip(root: Path) -> None:
    for f in range(1, N + 1):
        y = _colour(f) @ np.array([0.2126, 0.7152, 0.0722], np.float32)
        _write(root / "plate" / f"plate.{f:04d}.exr", np.repeat(y[..., None], 3, -1), "half")
    for k in (1, 20, 30, 40):
        _png(root / f"ref_{k}.png", _colour(k))
    _png(root / "ref_40_alt.png", _colour(40, hue_shift=0.3))
    _png(root / "still.png", _colour(7, hue_shift=0.6))


REFS = [{"frame": 1, "image": "ref_1.png"}, {"frame": 20, "image": "ref_20.png"},
        {"frame": 40, "image": "ref_40.png"}]


def write_shot(root: Path, name: str, refs=None, **extra) -> Path:
    tag = Path(name).stem
    shot = {"plate": "plate/plate.####.exr", "frames": [1, N], "references": refs or REFS,
            "settings": SETTINGS, "output": f"out_{tag}/colour.####.exr", "cache": f"cache_{tag}"}
    shot.update(extra)
    path = root / name
    path.write_text(json.dumps(shot, indent=1))
    return path


def run(*args, ok=True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(CMD + [str(a) for a in args], capture_output=True, text=True, timeout=TIMEOUT, **kw)
    if ok:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def events(stdout: str):
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def computed(evts, segment_prefix: str = ""):
    return [e["frame"] for e in evts if e.get("event") == "frame" and e["computed"]
            and e["segment"].startswith(segment_prefix)]


def outputs(folder: Path):
    return {p.name: p.read_bytes() for p in sorted(folder.glob("colour.*.exr"))}


def frame_file(cache: Path, seg_prefix: str, frame: int) -> Path:
    (seg,) = [d for d in (cache / "segments").iterdir() if d.name.startswith(seg_prefix)]
    (f,) = list(seg.glob(f"f{frame}.*.npz"))
    return f


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """The synthetic shot and its baseline: one sequential ``render --shot`` of all frames."""
    root = tmp_path_factory.mktemp("cacheclip")
    make_clip(root)
    shot = write_shot(root, "base.json")
    summary = json.loads(run("render", "--shot", shot, "--json", "--quiet").stdout)
    assert len(summary["computed"]) == CHAIN_FRAMES and summary["loaded"] == 0
    base = outputs(root / "out_base")
    assert len(base) == N
    return root, base


def _ref_args(root: Path):
    return [a for r in REFS for a in ("--ref", f"{r['frame']}={root / r['image']}")]


def copy_cache(root: Path, name: str) -> None:
    shutil.copytree(root / "cache_base", root / f"cache_{name}")


def _set_args():
    return [a for k, v in SETTINGS.items() for a in ("--set", f"{k}={v}")]


# ---------------------------------------------------------------------- tests
def test_random_order_in_fresh_processes_matches_the_sequential_render(clip):
    root, base = clip
    shot = write_shot(root, "random.json")
    counts = {}
    for f in (17, 3, 40, 11):
        summary = json.loads(run("render", "--shot", shot, "--frames", f"{f}-{f}", "--json", "--quiet").stdout)
        counts[f] = len(summary["computed"])
    got = outputs(root / "out_random")
    assert sorted(got) == [f"colour.{f:04d}.exr" for f in (3, 11, 17, 40)]
    for name, data in got.items():
        assert data == base[name], name
    # 17 (between keyframes 1 and 20: a blend of both chains): 1..17 and 20..17; 3: the 20-bwd
    # chain resumes from frame 17's stored state (written by another process), 16..3, and the
    # 1-fwd chain has frame 3 stored; 40: the keyframe itself; 11: both chains stored
    assert counts == {17: 21, 3: 14, 40: 1, 11: 0}

    # an implied shot (plain render arguments + --cache) in a fresh process: same bytes
    run("render", "--plate", root / "plate/plate.####.exr", *_ref_args(root), "--out", root / "out_implied/colour.####.exr",
        *_set_args(),
        "--cache", root / "cache_implied", "--frames", "17-17", "--quiet")
    assert outputs(root / "out_implied") == {"colour.0017.exr": base["colour.0017.exr"]}

    # the uncached renderer with the same thread count gives the same bytes as well
    run("render", "--plate", root / "plate/plate.####.exr", *_ref_args(root), "--out", root / "out_plain/colour.####.exr",
        *_set_args(), "--quiet",
        env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert outputs(root / "out_plain") == base


def test_sigkill_during_build_then_resume_finishes_identically(clip):
    root, base = clip
    shot = write_shot(root, "killed.json")
    for kill_after in (5, 9):
        proc = subprocess.Popen(CMD + ["cache", "build", str(shot), "--json-progress"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        seen = 0
        for line in proc.stdout:
            evt = json.loads(line)
            if evt.get("event") == "frame" and evt["computed"]:
                seen += 1
                if seen >= kill_after:
                    break
        proc.send_signal(signal.SIGKILL)   # mid-run: the next frame is being computed or written
        proc.wait(timeout=TIMEOUT)
        proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL
    status = json.loads(run("cache", "status", shot, "--json").stdout)   # readable after the kills
    assert status["stored"] >= 5 + 9 and not status["complete"]
    stored = status["stored"]
    resumed = events(run("cache", "build", shot, "--json-progress").stdout)
    assert len(computed(resumed)) == CHAIN_FRAMES - stored   # nothing stored is computed again
    assert outputs(root / "out_killed") == base
    leftovers = [n for _, _, files in os.walk(root / "cache_killed") for n in files if ".tmp-" in n]
    assert leftovers == []


def test_two_concurrent_builders_share_the_work(clip):
    root, base = clip
    shot = write_shot(root, "twice.json")
    procs = [subprocess.Popen(CMD + ["cache", "build", str(shot), "--json-progress"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=TIMEOUT) for p in procs]
    for p, (_, err) in zip(procs, results):
        assert p.returncode == 0, err[-2000:]
    per_process = [computed(events(out)) for out, _ in results]
    total = sum(len(c) for c in per_process)
    assert CHAIN_FRAMES <= total <= CHAIN_FRAMES + 1, per_process
    assert outputs(root / "out_twice") == base


def test_reference_changes_invalidate_only_dependent_segments(clip):
    root, _ = clip

    def build(refs):
        shot = write_shot(root, "swap.json", refs=refs)
        evts = events(run("cache", "build", shot, "--json-progress", "--no-output").stdout)
        names = ("1-fwd", "20-bwd", "20-fwd", "30-bwd", "30-fwd", "40-bwd", "40-fwd")
        return {p: n for p in names for n in [len(computed(evts, p + "-"))] if n}

    copy_cache(root, "swap")
    # keyframe 40 changed: only the frames between its neighbour 20 and the end
    alt = REFS[:2] + [{"frame": 40, "image": "ref_40_alt.png"}]
    assert build(alt) == {"20-fwd": 20, "40-bwd": 20, "40-fwd": 1}
    # keyframe 30 added between 20 and 40: only 21..39 (1-fwd, 20-bwd and 40-fwd are reused)
    added = REFS + [{"frame": 30, "image": "ref_30.png"}]
    assert build(added) == {"20-fwd": 10, "30-bwd": 10, "30-fwd": 10, "40-bwd": 10}
    # a still takes part in every chain's matching: everything
    still = REFS + [{"image": "still.png"}]
    assert build(still) == {"1-fwd": 19, "20-bwd": 19, "20-fwd": 20, "40-bwd": 20, "40-fwd": 1}
    # removing the still (or keyframe 30) again: the original chains are all still there
    assert build(REFS) == {}

def test_damaged_cache_files_are_detected_and_recomputed(clip):
    root, base = clip
    copy_cache(root, "damaged")
    truncated = frame_file(root / "cache_damaged", "1-fwd-", 5)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    flipped = frame_file(root / "cache_damaged", "1-fwd-", 6)
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x40
    flipped.write_bytes(bytes(data))
    garbage = frame_file(root / "cache_damaged", "20-fwd-", 25)
    garbage.write_bytes(b"not a cache file")
    shot = write_shot(root, "damaged.json")
    proc = run("render", "--shot", shot, "--frames", "5-6,25", "--json", "--quiet")
    summary = json.loads(proc.stdout)
    assert sorted(set(summary["computed"])) == [5, 6, 25]
    assert len(summary["corrupt"]) == 3
    assert proc.stderr.count("damaged cache file") == 3
    got = outputs(root / "out_damaged")
    assert got == {k: base[k] for k in ("colour.0005.exr", "colour.0006.exr", "colour.0025.exr")}


def test_read_only_cache_gives_a_clear_error(clip, tmp_path):
    root, _ = clip
    # 1. a cache path below a regular file (works for root, who ignores permission bits)
    (tmp_path / "blocker").write_text("a file, not a folder")
    shot = write_shot(root, "blocked.json", cache=str(tmp_path / "blocker" / "cache"))
    proc = run("render", "--shot", shot, "--frames", "3-3", "--quiet", ok=False)
    assert proc.returncode == 4
    assert "cannot create the cache folder" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1

    # 2. a populated cache on a read-only mount (private mount namespace; needs CAP_SYS_ADMIN)
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
        pytest.skip("no mount namespaces here (unshare -m)")
    copy_cache(root, "readonly")
    shot = write_shot(root, "readonly.json")
    cache = str(root / "cache_readonly")
    script = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"'
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script, cache] + CMD +
                          ["render", "--shot", str(shot), "--frames", "3-3", "--quiet"],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 4, proc.stderr
    assert "cache folder is not writable (Read-only file system)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_other_versions_and_settings_are_never_used_silently(clip):
    root, _ = clip
    copy_cache(root, "versions")
    shot = write_shot(root, "versions.json")
    # the same shot with another thread count (another determinism rule): nothing is reused, and
    # the user is told
    other = write_shot(root, "versions2.json", threads=2, cache="cache_versions")
    proc = run("cache", "build", other, "--frames", "1-3", "--json-progress", "--no-output")
    # stored with 1 thread: not resumed (frames 1-3 need the 1-fwd chain and all of 20-bwd)
    assert computed(events(proc.stdout)) == [1, 2, 3] + list(range(20, 1, -1))
    assert "not reused" in proc.stderr
    human = run("cache", "status", shot).stdout
    assert "20-bwd-20." in human and "19/19" in human and "2 segment folder(s)" in human
    run("cache", "clear", shot, "--stale")
    status = json.loads(run("cache", "status", shot, "--json").stdout)
    assert status["complete"] and status["stale_segments"] == []

    # a cache folder in another cache format is refused outright
    manifest = root / "cache_versions" / "manifest.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps(dict(data, format=99, written_by="nuke-colorize 9.0")))
    proc = run("cache", "build", shot, ok=False)
    assert proc.returncode == 4 and "format 99" in proc.stderr

    run("cache", "clear", shot)
    assert sorted(os.listdir(root / "cache_versions")) == ["cache.lock"]


def test_clear_removes_only_what_the_cache_wrote(clip):
    """`cache clear` never deletes a user's file: not in the cache folder, not in its default
    ``output/`` folder (even when the shot writes its output elsewhere), not outputs written
    elsewhere; it removes the cache's own entries and, when the shot's output is the default
    one, the output frames it wrote there."""
    root, base = clip
    copy_cache(root, "userfiles")
    cache = root / "cache_userfiles"
    os.makedirs(cache / "output")
    (cache / "output" / "notes.txt").write_text("keep")
    (cache / "notes.txt").write_text("keep too")
    os.makedirs(cache / "segments" / "mine")
    (cache / "segments" / "mine" / "x.txt").write_text("mine")
    # output elsewhere: <cache>/output is not the shot's, nothing in it is touched
    shot = write_shot(root, "userfiles.json")
    run("render", "--shot", shot, "--frames", "1-2", "--quiet")
    assert sorted(os.listdir(root / "out_userfiles")) == ["colour.0001.exr", "colour.0002.exr"]
    proc = run("cache", "clear", shot)
    # 5 segments, their locks, manifest (+ lock), locks/, and the records of the N outputs
    # written through the cache (the copied baseline's, frames 1-2 rewritten) with their folder
    # and their N locks
    assert f"removed {13 + N + 1 + N} item(s)" in proc.stderr
    assert (cache / "output" / "notes.txt").read_text() == "keep"
    assert (cache / "notes.txt").read_text() == "keep too"
    assert (cache / "segments" / "mine" / "x.txt").read_text() == "mine"
    assert sorted(os.listdir(cache)) == ["cache.lock", "notes.txt", "output", "segments"]
    assert sorted(os.listdir(root / "out_userfiles")) == ["colour.0001.exr", "colour.0002.exr"]
    # the default output (<cache>/output/colour.####.exr): its frames go, the user's file stays
    shot = write_shot(root, "userfiles.json", output=None)
    run("render", "--shot", shot, "--frames", "1-2", "--quiet")
    assert sorted(os.listdir(cache / "output")) == ["colour.0001.exr", "colour.0002.exr", "notes.txt"]
    assert outputs(cache / "output") == {k: base[k] for k in ("colour.0001.exr", "colour.0002.exr")}
    run("cache", "clear", shot)
    assert sorted(os.listdir(cache / "output")) == ["notes.txt"]
    assert sorted(os.listdir(cache)) == ["cache.lock", "notes.txt", "output", "segments"]
    # without a user file the output folder goes too
    (cache / "output" / "notes.txt").unlink()
    run("render", "--shot", shot, "--frames", "40-40", "--quiet")
    run("cache", "clear", shot)
    assert sorted(os.listdir(cache)) == ["cache.lock", "notes.txt", "segments"]


def test_temporal_smoothing_any_order_matches_the_sequential_render(clip):
    """With ``temporal_smoothing`` each output also needs its neighbours' states (+-2 frames,
    across chain boundaries): single frames in fresh processes on a fresh cache, a sequential
    render on the unsmoothed shot's cache (the stored states do not depend on the strength) and
    the uncached renderer all give the same bytes."""
    root, base = clip
    copy_cache(root, "smooth_seq")
    seq = write_shot(root, "smooth_seq.json", temporal_smoothing=1)
    summary = json.loads(run("render", "--shot", seq, "--json", "--quiet").stdout)
    assert summary["computed"] == [] and summary["temporal_smoothing"] == 1.0
    want = outputs(root / "out_smooth_seq")
    assert len(want) == N
    for k in (1, 20, 40):                                   # keyframes keep their painted colour
        assert want[f"colour.{k:04d}.exr"] == base[f"colour.{k:04d}.exr"]
    assert sum(want[n] != base[n] for n in base) == N - 3   # every other frame is smoothed

    shot = write_shot(root, "smooth_rand.json", temporal_smoothing=1)
    # 11: a blend of 1-fwd and 20-bwd; 40: the window cut by the shot's end; 21: a window
    # across keyframe 20 (both of its chains)
    for f in (11, 40, 21):
        run("render", "--shot", shot, "--frames", f"{f}-{f}", "--quiet")
    got = outputs(root / "out_smooth_rand")
    assert sorted(got) == [f"colour.{f:04d}.exr" for f in (11, 21, 40)]
    for name, data in got.items():
        assert data == want[name], name

    run("render", "--plate", root / "plate/plate.####.exr", *_ref_args(root), "--out",
        root / "out_smooth_plain/colour.####.exr", *_set_args(), "--temporal-smoothing", "1", "--frames", f"1-{N}", "--quiet",
        env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert outputs(root / "out_smooth_plain") == want

    proc = run("render", "--shot", shot, "--temporal-smoothing", "-1", "--quiet", ok=False)
    assert proc.returncode != 0 and "not a smoothing strength" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


NO_TORCH = """
import sys
from nuke_colorize.cli import main
code = main(sys.argv[1:])
print("torch loaded:", "torch" in sys.modules, file=sys.stderr)
sys.exit(code)
"""


def test_a_render_read_from_the_cache_never_loads_torch_and_writes_the_same_bytes(clip):
    """Farm render tasks only read the cache: no torch, no networks (about 1.6 s and several
    hundred MB per task), same output bytes; the manifest keeps the CPU capability of the
    process that computed the frames."""
    root, base = clip
    copy_cache(root, "notorch")
    shot = write_shot(root, "notorch.json")
    proc = subprocess.run([sys.executable, "-c", NO_TORCH, "render", "--shot", str(shot), "--json", "--quiet"],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["computed"] == [] and summary["loaded"] > 0
    assert "torch loaded: False" in proc.stderr
    assert outputs(root / "out_notorch") == base
    status = subprocess.run([sys.executable, "-c", NO_TORCH, "cache", "status", str(shot), "--json"],
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert status.returncode == 0 and json.loads(status.stdout)["complete"], status.stderr[-3000:]
    assert "torch loaded: False" in status.stderr
    computed_by = json.loads((root / "cache_base" / "manifest.json").read_text())["determinism"]
    kept = json.loads((root / "cache_notorch" / "manifest.json").read_text())["determinism"]
    assert computed_by["cpu_capability"] not in (None, "unknown")
    assert kept == computed_by
