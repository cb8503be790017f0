"""Interruption (issue 9): SIGINT / SIGTERM in the middle of a render.

A 30-frame tiny render runs as a subprocess; as soon as its first output frame appears the
signal is sent. Expected: exit 130 (SIGINT) or 143 (SIGTERM), one stderr line saying so, no
traceback, every output frame on disk reads back completely, no temporary file left, and an
output from an earlier render (frame 30) byte-identical. Both signals run at the same time.
"""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rb_harness as hx

FRAMES = 30
FIRST_FRAME_TIMEOUT_S = 60
EXIT_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def long_shot(tmp_path_factory):
    d = tmp_path_factory.mktemp("interrupt-shot")
    (d / "plate").mkdir()
    hx.write_plate(d / "plate", frames=range(1, FRAMES + 1))
    from nuke_colorize.io import write_image

    write_image(str(d / "ref.png"), hx.colour_ref(), ["R", "G", "B"])
    return d


def _start(folder: Path) -> subprocess.Popen:
    argv = hx.render_argv(out="out/col.####.exr")
    # a suite started as a background job inherits SIGINT ignored, and Python keeps an
    # inherited SIG_IGN: give the render the disposition an interactive user's has
    return subprocess.Popen([sys.executable, "-m", "nuke_colorize", *argv], cwd=str(folder),
                            env=hx.cli_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _outputs(folder: Path):
    out = folder / "out"
    return sorted(p for p in out.glob("col.*.exr")) if out.is_dir() else []


@pytest.fixture(scope="module")
def interrupted(long_shot, tmp_path_factory):
    """Run one render per signal at once; send each its signal after its first new frame."""
    runs = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        folder = tmp_path_factory.mktemp(f"interrupt-{sig.name}")
        shutil.copytree(long_shot, folder, dirs_exist_ok=True)
        (folder / "out").mkdir()
        earlier = folder / "out" / f"col.{FRAMES:04d}.exr"        # an output of an earlier render
        hx.oiio_write(earlier, hx.grey_rgb(FRAMES), compression="zip")
        runs[sig] = {"folder": folder, "before": hx.snapshot(folder), "proc": _start(folder), "sent": None}
    deadline = time.time() + FIRST_FRAME_TIMEOUT_S
    while time.time() < deadline and any(r["sent"] is None for r in runs.values()):
        for sig, r in runs.items():
            if r["sent"] is None and r["proc"].poll() is None:
                if any(p.name != f"col.{FRAMES:04d}.exr" for p in _outputs(r["folder"])):
                    r["proc"].send_signal(sig)
                    r["sent"] = time.time()
            elif r["sent"] is None:
                r["sent"] = -1.0  # exited before the first frame: reported by the test
        time.sleep(0.02)
    for r in runs.values():
        try:
            out, err = r["proc"].communicate(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            r["proc"].kill()
            out, err = r["proc"].communicate()
        r["code"], r["stderr"] = r["proc"].returncode, err.decode("utf-8", "replace")
    return runs


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"),
                                             (signal.SIGTERM, 143, "terminated")],
                         ids=["SIGINT", "SIGTERM"])
def test_signal_mid_render_leaves_only_complete_frames(interrupted, sig, code, word):
    r = interrupted[sig]
    assert r["sent"] not in (None, -1.0), f"render ended or never wrote a frame: {r.get('stderr')!r}"
    assert r["code"] == code, f"exit {hx.signal_name(r['code'])}: {r['stderr']!r}"
    lines = [ln for ln in r["stderr"].splitlines() if ln.strip()]
    assert len(lines) == 1 and word in lines[0] and "Traceback" not in r["stderr"], r["stderr"]
    folder = r["folder"]
    written = [p for p in _outputs(folder) if p.name != f"col.{FRAMES:04d}.exr"]
    assert 1 <= len(written) < FRAMES - 1, "the signal did not land mid-render"
    for p in written:
        assert hx.reads_back(p) is None, p
    assert hx.temp_files(folder) == []
    after = hx.snapshot(folder)
    for rel, digest in r["before"].items():
        assert after.get(rel) == digest, f"{rel} changed"


def test_sigterm_during_shot_render_leaves_a_resumable_cache(long_shot, tmp_path):
    """A farm kill (SIGTERM) mid-way through ``render --shot``; the rerun finishes the shot
    and reuses every frame the first run stored instead of computing it again."""
    import json

    folder = tmp_path / "shot"
    shutil.copytree(long_shot, folder)
    (folder / "shot.json").write_text(json.dumps({
        "plate": "plate/plate.####.exr", "frames": [1, FRAMES], "references": [{"frame": 1, "image": "ref.png"}],
        "output": "out/col.####.exr", "cache": "cache", "settings": {"feature_size": 64, "max_working_size": 64}}))
    argv = [sys.executable, "-m", "nuke_colorize", "render", "--shot", "shot.json", "--quiet"]
    proc = subprocess.Popen(argv, cwd=str(folder), env=hx.cli_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + FIRST_FRAME_TIMEOUT_S
    while time.time() < deadline and proc.poll() is None and not _outputs(folder):
        time.sleep(0.02)
    assert proc.poll() is None, f"render ended before its first frame: {proc.communicate()[1]!r}"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=EXIT_TIMEOUT_S)
    err = err.decode("utf-8", "replace")
    assert proc.returncode == 143, f"exit {hx.signal_name(proc.returncode)}: {err!r}"
    assert "Traceback" not in err and len([ln for ln in err.splitlines() if ln.strip()]) == 1, err
    assert hx.temp_files(folder) == []
    first = {int(p.name.split(".")[1]) for p in _outputs(folder)}
    assert 1 <= len(first) < FRAMES, "the signal did not land mid-render"
    for p in _outputs(folder):
        assert hx.reads_back(p) is None, p

    res = hx.run_cli(["render", "--shot", "shot.json", "--quiet", "--json"], folder)
    assert res.code == 0, res.stderr
    summary = json.loads(res.stdout)
    assert not set(summary["computed"]) & first, "frames stored before the kill were computed again"
    assert summary["loaded"] >= 1
    assert sorted(int(p.name.split(".")[1]) for p in _outputs(folder)) == list(range(1, FRAMES + 1))
    for p in _outputs(folder):
        assert hx.reads_back(p) is None, p
    assert hx.temp_files(folder) == []


def test_interrupted_command_leaves_without_interpreter_teardown(tmp_path):
    """After the one 'interrupted' line the console entry point exits at once (os._exit):
    no atexit handler or thread join of interpreter shutdown runs, so a signal that caught a
    library's thread pool half-started can neither hang the exit nor abort it. An ordinary
    run still exits through normal shutdown."""
    marker = tmp_path / "atexit-ran"
    code = ("import atexit, pathlib, sys\n"
            "import nuke_colorize.cli as cli\n"
            f"atexit.register(pathlib.Path({str(marker)!r}).write_text, 'ran')\n"
            "def main(argv=None):\n"
            "    return cli._interrupted() if sys.argv[1] == 'interrupt' else 0\n"
            "cli.main = main\n"
            "cli.run()\n")
    done = subprocess.run([sys.executable, "-c", code, "interrupt"], env=hx.cli_env(),
                          capture_output=True, text=True, timeout=EXIT_TIMEOUT_S)
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip() == "nuke-colorize: interrupted; no partial output was left behind"
    assert not marker.exists()
    done = subprocess.run([sys.executable, "-c", code, "ok"], env=hx.cli_env(),
                          capture_output=True, text=True, timeout=EXIT_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "ran"
