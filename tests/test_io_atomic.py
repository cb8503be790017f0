"""Atomic writes: complete file or nothing, never a leftover temp, even on Ctrl-C or a killed process."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from nuke_colorize.io.atomic import (OTHER_HOST_TEMP_AGE_S, OutputError, atomic_path, atomic_write_bytes,
                                     atomic_write_text, cleanup_stale_temps, host_tag, is_temp_name)


def test_atomic_path_temp_name_keeps_extension_and_is_hidden(tmp_path):
    final = tmp_path / "plate.1001.exr"
    with atomic_path(final) as tmp:
        name = os.path.basename(tmp)
        assert os.path.dirname(tmp) == str(tmp_path)
        assert name.startswith(".plate.1001.exr.tmp-") and name.endswith(".exr")
        assert f"-{os.getpid()}-" in name
        assert is_temp_name(name)
        assert not os.path.exists(tmp)  # the writer creates it (OpenImageIO picks format by extension)
        with open(tmp, "wb") as fh:
            fh.write(b"new")
        assert not final.exists()       # nothing visible until the block ends
    assert final.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["plate.1001.exr"]


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt(), SystemExit(3)])
def test_atomic_path_failure_keeps_old_file_and_removes_temp(tmp_path, exc):
    final = tmp_path / "out.exr"
    final.write_bytes(b"old")
    with pytest.raises(type(exc)):
        with atomic_path(final) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(b"half-written")
            raise exc
    assert final.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.exr"]


def test_atomic_path_failure_without_previous_file_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):
        with atomic_path(tmp_path / "new.png") as tmp:
            open(tmp, "wb").close()
            raise ValueError("writer failed")
    assert os.listdir(tmp_path) == []


def test_atomic_path_requires_the_file_to_be_written(tmp_path):
    with pytest.raises(OutputError, match="nothing was written"):
        with atomic_path(tmp_path / "x.txt"):
            pass
    assert os.listdir(tmp_path) == []


def test_atomic_path_creates_folder_and_refuses_folder_target(tmp_path):
    atomic_write_text(tmp_path / "a" / "b" / "c.json", '{"k": 1}\n')
    assert (tmp_path / "a" / "b" / "c.json").read_text() == '{"k": 1}\n'
    with pytest.raises(OutputError, match="folder"):
        atomic_write_bytes(tmp_path / "a", b"x")


def test_atomic_write_replaces_a_symlink_not_its_target(tmp_path):
    target = tmp_path / "input.txt"
    target.write_text("input")
    link = tmp_path / "link.txt"
    os.symlink(target, link)
    atomic_write_text(link, "output")
    assert target.read_text() == "input"
    assert not link.is_symlink() and link.read_text() == "output"


def test_atomic_write_bytes_and_permissions(tmp_path):
    p = tmp_path / "data.bin"
    atomic_write_bytes(p, bytes(range(256)) * 10)
    assert p.read_bytes() == bytes(range(256)) * 10
    umask = os.umask(0)
    os.umask(umask)
    assert (p.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_cleanup_stale_temps_of_a_killed_process(tmp_path):
    final = tmp_path / "frame.0001.exr"
    script = textwrap.dedent(f"""
        import os, signal
        from nuke_colorize.io.atomic import atomic_path
        with atomic_path({str(final)!r}) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(b"partial")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    left = os.listdir(tmp_path)
    assert len(left) == 1 and is_temp_name(left[0]) and not final.exists()
    # A temp of a live process (this one) and unrelated hidden files stay.
    mine = tmp_path / f".other.exr.tmp-{os.getpid()}-0123abcd.exr"
    mine.write_bytes(b"live")
    (tmp_path / ".hidden").write_bytes(b"keep")
    assert cleanup_stale_temps(tmp_path, min_age_s=3600) == 0   # too recent: could be a writer on another host
    assert cleanup_stale_temps(tmp_path, min_age_s=0) == 1
    assert sorted(os.listdir(tmp_path)) == sorted([mine.name, ".hidden"])
    assert cleanup_stale_temps(tmp_path / "missing") == 0


def test_cleanup_uses_age_guard_by_default(tmp_path):
    stale = tmp_path / f".a.exr.tmp-999999999-deadbeef-{host_tag()}.exr"   # pid beyond pid_max: not running
    stale.write_bytes(b"x")
    assert cleanup_stale_temps(tmp_path) == 0
    old = time.time() - 3600
    os.utime(stale, (old, old))
    assert cleanup_stale_temps(tmp_path) == 1
    assert os.listdir(tmp_path) == []


def test_cleanup_never_takes_a_live_writers_file_on_another_machine(tmp_path):
    """Two machines writing one folder: a temp file of another machine's writer was removed as
    soon as its pid was not running *here* and its time was a minute older than this clock,
    so a machine whose clock ran two minutes ahead of the file server deleted a file being
    written elsewhere (its rename then failed). The name now records the machine: another
    machine's temp files (and names without one) wait a day."""
    other = "0" * 8 if host_tag() != "0" * 8 else "1" * 8
    live_elsewhere = tmp_path / f".colour.0005.exr.tmp-999999999-deadbeef-{other}.exr"
    no_machine = tmp_path / ".colour.0006.exr.tmp-999999999-0123abcd.exr"     # older versions' names
    for p in (live_elsewhere, no_machine):
        p.write_bytes(b"being written")
        skewed = time.time() - 120            # the file server's clock two minutes behind ours
        os.utime(p, (skewed, skewed))
        assert is_temp_name(p.name)
    assert cleanup_stale_temps(tmp_path) == 0
    assert sorted(os.listdir(tmp_path)) == sorted([live_elsewhere.name, no_machine.name])
    day = time.time() - OTHER_HOST_TEMP_AGE_S - 60
    os.utime(no_machine, (day, day))
    assert cleanup_stale_temps(tmp_path) == 1 and os.listdir(tmp_path) == [live_elsewhere.name]
    assert cleanup_stale_temps(tmp_path, min_age_s=0) == 0
    with atomic_path(tmp_path / "x.exr") as tmp:
        assert os.path.basename(tmp).endswith(f"-{host_tag()}.exr") and is_temp_name(tmp)
        open(tmp, "wb").close()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_host_writes_files_as_the_umask_says_not_private(tmp_path):
    """The node's shot.json (host/files.py) was made with tempfile.mkstemp, so it stayed 0600
    whatever the umask: a farm task running as another user of the group could not read the
    shot file. Both writers now give ``0o666 & ~umask``, like every other file of the cache."""
    from nuke_colorize.host import files as host_files

    old = os.umask(0o002)
    try:
        host_files.atomic_write_text(str(tmp_path / "v_1" / "shot.json"), "{}")
        atomic_write_text(tmp_path / "engine.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "v_1" / "shot.json").stat().st_mode & 0o777 == 0o664
    assert (tmp_path / "engine.json").stat().st_mode & 0o777 == 0o664
    assert sorted(os.listdir(tmp_path / "v_1")) == ["shot.json"]


@pytest.mark.skipif(sys.platform == "win32", reason="simulates Windows on POSIX")
def test_fsync_goes_through_a_writable_descriptor(tmp_path, monkeypatch):
    """Windows' os.fsync (_commit -> FlushFileBuffers) fails with EBADF on a descriptor opened
    read-only, and the temp file was fsynced through one: every atomic write (cache frames,
    outputs, manifest) would fail there with 'Bad file descriptor'. Simulated here."""
    import errno
    import fcntl

    real = os.fsync

    def windows_fsync(fd):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY and not os.path.isdir(f"/proc/self/fd/{fd}"):
            raise OSError(errno.EBADF, "Bad file descriptor")
        return real(fd)
    monkeypatch.setattr(os, "fsync", windows_fsync)
    atomic_write_bytes(tmp_path / "frame.npz", b"data")
    assert (tmp_path / "frame.npz").read_bytes() == b"data"
    assert os.listdir(tmp_path) == ["frame.npz"]


def test_plain_render_removes_a_killed_renders_temp_files(tmp_path):
    """A plain ``render`` (no shot cache) killed while writing left its hidden temp frame in the
    output folder, and no later plain render removed it: only renders through the cache cleaned
    up. Now every render does, with the same rules (this machine's dead writers after a minute)."""
    import numpy as np
    from nuke_colorize.cli import main
    from nuke_colorize.io import write_image
    yy, xx = np.mgrid[0:48, 0:64].astype(np.float32)
    for f in (1, 2):
        y = 0.1 + 0.7 * xx / 64 + 0.01 * f
        write_image(str(tmp_path / "plate" / f"plate.{f:04d}.exr"), np.repeat(y[..., None], 3, -1), ["R", "G", "B"])
    ref = np.stack([0.2 + 0.6 * xx / 64, np.full_like(xx, 0.35), 0.8 - 0.6 * yy / 48], -1)
    write_image(str(tmp_path / "ref.png"), ref, ["R", "G", "B"])
    out, conf = tmp_path / "out", tmp_path / "conf"
    old = time.time() - 120
    dead = [d / f".{n}.0002.exr.tmp-999999999-deadbeef-{host_tag()}.exr" for d, n in ((out, "c"), (conf, "k"))]
    young = out / f".c.0001.exr.tmp-999999998-deadbeef-{host_tag()}.exr"    # could still be renamed
    for p in dead + [young]:
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"partial")
    for p in dead:
        os.utime(p, (old, old))
    code = main(["render", "--plate", str(tmp_path / "plate/plate.####.exr"), "--ref", f"1={tmp_path / 'ref.png'}",
                 "--out", str(out / "c.####.exr"), "--confidence-out", str(conf / "k.####.exr"),
                 "--set", "feature_size=64", "--set", "max_working_size=64", "--quiet"])
    assert code == 0
    assert sorted(os.listdir(out)) == sorted([young.name, "c.0001.exr", "c.0002.exr"])
    assert sorted(os.listdir(conf)) == ["k.0001.exr", "k.0002.exr"]
