"""Harness of the robustness suite: tiny hostile inputs, the CLI as a real subprocess, and the
checks every case must pass.

A case runs in its own folder, a copy of the base shot (see :func:`build_base`)::

    plate/plate.0001.exr .. plate.0003.exr   64x48 grey half-float EXR plate (3 frames)
    ref.png                                   64x48 8-bit colour reference
    out/col.0001.exr .. col.0003.exr          outputs of an earlier good render

Before the command runs, every file of the folder is hashed (SHA-256); afterwards each must
still be there with the same bytes (inputs and earlier outputs), unless the case lists it in
``may_change``. New files may appear only where ``new_files`` allows, each new image must read
back completely, and no temporary file (``.name.tmp-<pid>-<hex>``) may be left anywhere.
"""
from __future__ import annotations

import fnmatch
import functools
import hashlib
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from conftest import foreign_checkpoint, patch_zip_member  # noqa: F401  (shared with tests/test_models_weights.py)

W, H, NFRAMES = 64, 48, 3
TINY = ["--set", "feature_size=64", "--set", "max_working_size=64"]
PLATE = "plate/plate.####.exr"
OUT = "out/col.####.exr"
TIMEOUT_S = 90

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- image builders
def oiio_write(path, pixels: np.ndarray, channels: Optional[Sequence[str]] = None, dtype: str = "half",
               compression: Optional[str] = None) -> Path:
    """Write ``pixels`` (H, W, C) with OpenImageIO directly: no checks, NaN/Inf kept as given."""
    import OpenImageIO as oiio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    px = np.asarray(pixels, dtype=np.float32)
    if px.ndim == 2:
        px = px[..., None]
    h, w, c = px.shape
    spec = oiio.ImageSpec(w, h, c, dtype)
    if channels:
        spec.channelnames = tuple(channels)
    if compression:
        spec.attribute("compression", compression)
    out = oiio.ImageOutput.create(str(path))
    assert out is not None, oiio.geterror()
    assert out.open(str(path), spec), out.geterror()
    assert out.write_image(np.ascontiguousarray(px)), out.geterror()
    assert out.close()
    return path


def grey_frame(frame: int, w: int = W, h: int = H) -> np.ndarray:
    """(h, w) float32 luminance in [0.05, 0.95]: a ramp plus a moving bright square."""
    y = np.tile(np.linspace(0.05, 0.9, w, dtype=np.float32), (h, 1))
    x0 = 8 + 3 * frame
    y[h // 4: h // 4 + h // 3, x0: x0 + w // 5] = 0.95
    return y


def grey_rgb(frame: int, w: int = W, h: int = H) -> np.ndarray:
    g = grey_frame(frame, w, h)
    return np.stack([g, g, g], axis=2)


def colour_ref(w: int = W, h: int = H) -> np.ndarray:
    """(h, w, 3) float32 clearly coloured image in [0, 1]."""
    r = np.tile(np.linspace(0.1, 0.9, w, dtype=np.float32), (h, 1))
    g = np.full((h, w), 0.35, np.float32)
    b = np.tile(np.linspace(0.8, 0.2, h, dtype=np.float32)[:, None], (1, w))
    return np.stack([r, g, b], axis=2)


def write_plate(folder: Path, frames: Sequence[int] = range(1, NFRAMES + 1), ext: str = "exr",
                dtype: str = "half", channels: Optional[Sequence[str]] = None, name: str = "plate") -> str:
    """Grey plate ``folder/<name>.####.<ext>``; returns the pattern relative to folder.parent."""
    for f in frames:
        rgb = grey_rgb(f)
        if channels is not None:
            n = len(channels)
            planes = [rgb[..., 0]] if n <= 2 else [rgb[..., 0], rgb[..., 1], rgb[..., 2]]
            while len(planes) < n:
                planes.append(np.full((H, W), 0.5 + 0.05 * len(planes), np.float32))
            px = np.stack(planes[:n], axis=2)
        else:
            px = rgb
        comp = "zip" if ext == "exr" else None
        oiio_write(folder / f"{name}.{f:04d}.{ext}", px, channels, dtype, comp)
    return f"{folder.name}/{name}.####.{ext}"


def truncate(path: Path, keep: float = 0.5) -> None:
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: max(1, int(len(data) * keep))])


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose IHDR (valid CRC) claims width x height RGB8, with almost no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
                           + _png_chunk(b"IDAT", zlib.compress(b"\0" * 16)) + _png_chunk(b"IEND", b""))


def exr_claiming(path: Path, width: int, height: int) -> None:
    """Rewrite an EXR's data and display windows to claim width x height pixels."""
    data = bytearray(Path(path).read_bytes())
    for name in (b"dataWindow\0box2i\0", b"displayWindow\0box2i\0"):
        at = data.index(name) + len(name) + 4
        data[at:at + 16] = struct.pack("<iiii", 0, 0, width - 1, height - 1)
    Path(path).write_bytes(bytes(data))


def flip_zip_member_byte(z: Path, member: str, at: int = 1000) -> None:
    """Damage a stored member's data (its CRC-32 no longer matches)."""
    import zipfile
    data = bytearray(Path(z).read_bytes())
    data[zipfile.ZipFile(z).getinfo(member).header_offset + 30 + len(member.encode()) + at] ^= 0xFF
    Path(z).write_bytes(bytes(data))


# ---------------------------------------------------------------- folder snapshots
def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def snapshot(root: Path) -> Dict[str, str]:
    """relative path -> sha256 (or 'link:<target>' / 'unreadable' / 'dir') of everything under root."""
    out: Dict[str, str] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            else:
                try:
                    out[rel] = sha256(p)
                except OSError:
                    out[rel] = "unreadable"
    return out


def temp_files(root: Path) -> List[str]:
    """Leftover temporary files of atomic writes anywhere under root."""
    from nuke_colorize.io import is_temp_name

    found = []
    for dirpath, _dirs, files in os.walk(root):
        found += [os.path.join(dirpath, f) for f in files if is_temp_name(f) or ".tmp-" in f]
    return found


def reads_back(path: Path) -> Optional[str]:
    """None when ``path`` is a complete, finite image; else what is wrong with it."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        return f"cannot open: {oiio.geterror()}"
    try:
        spec = inp.spec()
        px = inp.read_image(0, 0, 0, spec.nchannels, oiio.FLOAT)
        err = inp.geterror()
    finally:
        inp.close()
    if px is None or err:
        return f"cannot read pixels: {err}"
    if np.asarray(px).size != spec.width * spec.height * spec.nchannels:
        return "short read"
    if not np.isfinite(np.asarray(px)).all():
        return "non-finite pixels"
    return None


# ---------------------------------------------------------------- running the CLI
def _environ_copy() -> Dict[str, str]:
    """``dict(os.environ)`` from a worker thread: pytest's main thread sets and deletes
    ``PYTEST_CURRENT_TEST`` meanwhile, and a key deleted during the copy raises KeyError."""
    for _ in range(100):
        try:
            return dict(os.environ)
        except KeyError:
            continue
    return dict(os.environ)


def cli_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = _environ_copy()
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "PYTHONWARNINGS": "ignore", "NUKE_COLORIZE_MODELS": str(Path(tempfile.gettempdir())
                                                                       / "nuke-colorize-no-models")})
    env.pop("PYTHONFAULTHANDLER", None)
    if extra:
        env.update(extra)
    return env


def drop_file_permission_override() -> None:
    """In a child about to exec: give up root's right to ignore file modes (CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH) by dropping them from the capability bounding set, so ``chmod 000``
    means unreadable even when the suite runs as root (containers, CI)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


@functools.lru_cache(maxsize=1)
def modes_apply() -> bool:
    """Can a child of this process be made to honour file modes? (Always when not root; as root
    only when the capability can be dropped, e.g. not in a container without CAP_SETPCAP.)"""
    if not (hasattr(os, "geteuid") and os.geteuid() == 0):
        return True
    try:
        subprocess.run([sys.executable, "-c", "pass"], preexec_fn=drop_file_permission_override,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return True
    except (OSError, subprocess.SubprocessError):
        return False


def skip_reason(case: "Case") -> Optional[str]:
    if case.skip:
        return case.skip
    if case.honour_modes and not modes_apply():
        return "running as root and cannot drop CAP_DAC_OVERRIDE: file modes do not apply"
    return None


def _preexec(honour_modes: bool, fsize: Optional[int]):
    def fn():
        if fsize is not None:
            import resource
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        if honour_modes and os.geteuid() == 0:
            drop_file_permission_override()
    return fn if (honour_modes or fsize is not None) else None


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    seconds: float


def run_cli(argv: Sequence[str], cwd: Path, env: Optional[Dict[str, str]] = None, honour_modes: bool = False,
            fsize: Optional[int] = None, timeout: float = TIMEOUT_S) -> Result:
    """Run ``python -m nuke_colorize *argv`` in ``cwd`` (fresh environment, see :func:`cli_env`)."""
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "nuke_colorize", *argv], cwd=str(cwd), env=cli_env(env),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_preexec(honour_modes, fsize))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise
    return Result(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                  time.time() - t0)


def log_time(case_id: str, res: "Result") -> None:
    """With $NC_ROBUST_TIMES set, append "<seconds> <exit> <case>: <stderr>" lines there (to find
    slow rows and read every message at once)."""
    dest = os.environ.get("NC_ROBUST_TIMES")
    if dest:
        line = " | ".join(ln for ln in res.stderr.splitlines() if ln.strip())
        with open(dest, "a", encoding="utf-8") as fh:
            fh.write(f"{res.seconds:7.2f} {res.code:3d} {case_id}: {line}\n")


def render_argv(*extra: str, plate: str = PLATE, refs: Sequence[str] = ("1=ref.png",), out: str = OUT,
                tiny: bool = True) -> List[str]:
    argv = ["render", "--plate", plate]
    for r in refs:
        argv += ["--ref", r]
    argv += ["--out", out, "--quiet"]
    return argv + (TINY if tiny else []) + list(extra)


# ---------------------------------------------------------------- the case table
@dataclass
class Case:
    """One row: build the inputs, run one command, expect one clear refusal (or a clean render).

    ``build(folder)`` changes the copy of the base shot (and may return extra env vars);
    ``argv`` is run with ``folder`` as the working folder; ``code`` the expected exit code;
    ``fragments`` must all appear in the one stderr line. ``may_change``: globs of files that may
    be rewritten (complete, valid) by a run that fails part way; ``new_files``: globs of files
    the run may create (each new image must read back completely).
    ``honour_modes``: file modes apply even to root (permission cases); ``fsize``: RLIMIT_FSIZE
    in bytes (a file-size limit, a stand-in for a full disk).
    """

    id: str
    build: Callable[[Path], Optional[Dict[str, str]]]
    argv: List[str]
    code: int
    fragments: Tuple[str, ...] = ()
    may_change: Tuple[str, ...] = ()
    new_files: Tuple[str, ...] = ()
    honour_modes: bool = False
    fsize: Optional[int] = None
    cleanup: Optional[Callable[[Path], None]] = None
    check: Optional[Callable[[Path, Result], None]] = None
    skip: Optional[str] = None
    xfail: Optional[str] = None   # a known product bug, reported; the row passes once it is fixed
    extra: dict = field(default_factory=dict)


def build_base(root: Path) -> Path:
    """The base shot (see module docs), earlier outputs from a real render. -> its folder."""
    base = root / "base"
    (base / "plate").mkdir(parents=True)
    write_plate(base / "plate")
    from nuke_colorize.io import write_image

    write_image(str(base / "ref.png"), colour_ref(), ["R", "G", "B"])
    res = run_cli(render_argv(), base)
    assert res.code == 0, f"the base render failed: {res.stderr}"
    assert sorted(p.name for p in (base / "out").iterdir()) == [f"col.{f:04d}.exr" for f in range(1, NFRAMES + 1)]
    return base


_SHARED: Dict[str, Path] = {}


def shared_base(tmp_path_factory) -> Path:
    """The base shot, built once per test session (pytest's ``tmp_path_factory``) and shared by
    the modules of the suite. No conftest.py here: it would shadow tests/conftest.py, which the
    other test modules import as ``conftest``."""
    if "base" not in _SHARED:
        _SHARED["base"] = build_base(tmp_path_factory.mktemp("robust-base"))
    return _SHARED["base"]


def run_case(case: Case, base: Path, root: Path) -> dict:
    """Copy the base, build, snapshot, run, snapshot; returns everything the checks need."""
    folder = root / case.id
    shutil.copytree(base, folder, symlinks=True)
    env = case.build(folder)
    env = env if isinstance(env, dict) else {}
    before = snapshot(folder)
    try:
        res = run_cli(case.argv, folder, env=env, honour_modes=case.honour_modes, fsize=case.fsize)
        log_time(case.id, res)
        after = snapshot(folder)
        temps = temp_files(folder)
        checked = None
        if case.check is not None:
            case.check(folder, res)
            checked = True
        unreadable_new = {}
        for rel in sorted(set(after) - set(before)):
            p = folder / rel
            if p.is_file() and p.suffix.lower() in (".exr", ".png", ".jpg", ".tif", ".dpx"):
                why = reads_back(p)
                if why:
                    unreadable_new[rel] = why
        changed_ok = {}
        for rel in sorted(set(before) & set(after)):
            if before[rel] != after[rel] and any(fnmatch.fnmatch(rel, g) for g in case.may_change):
                p = folder / rel
                changed_ok[rel] = reads_back(p) if p.is_file() else None
        return {"result": res, "before": before, "after": after, "temps": temps, "folder": folder,
                "unreadable_new": unreadable_new, "changed_ok": changed_ok, "checked": checked}
    finally:
        if case.cleanup is not None:
            case.cleanup(folder)


def problems(case: Case, got: dict) -> List[str]:
    """Everything the case did wrong ([] when it passed)."""
    res: Result = got["result"]
    out: List[str] = []
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    if res.code != case.code:
        out.append(f"exit code {res.code}, expected {case.code}")
    if "Traceback" in res.stderr:
        out.append("traceback on stderr")
    if case.code != 0:
        if len(lines) != 1:
            out.append(f"stderr has {len(lines)} lines, expected exactly one")
        elif not lines[0].startswith("nuke-colorize: error: "):
            out.append("stderr line does not start with 'nuke-colorize: error: '")
    text = " ".join(lines)
    for frag in case.fragments:
        if frag.lower() not in text.lower():
            out.append(f"message lacks {frag!r}")
    before, after = got["before"], got["after"]
    for rel, digest in before.items():
        if rel not in after:
            out.append(f"{rel} was removed")
        elif after[rel] != digest and not any(fnmatch.fnmatch(rel, g) for g in case.may_change):
            out.append(f"{rel} was modified")
    for rel, why in got["changed_ok"].items():
        if why:
            out.append(f"{rel} was rewritten but is not a complete image: {why}")
    for rel in sorted(set(after) - set(before)):
        if after[rel] == "dir":
            continue
        if not any(fnmatch.fnmatch(rel, g) for g in case.new_files):
            out.append(f"unexpected new file {rel}")
    for rel, why in got["unreadable_new"].items():
        out.append(f"new file {rel} is not a complete image: {why}")
    if got["temps"]:
        out.append(f"temporary files left: {got['temps']}")
    if out:
        out.append(f"stderr was: {res.stderr.strip()[-1500:]!r}")
    return out


def signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name if code < 0 else str(code)
    except ValueError:
        return str(code)


# ---------------------------------------------------------------- shared builders and cleanups
def restore_modes(folder: Path) -> None:
    """Undo chmod games so the folder can be inspected and deleted."""
    for dirpath, dirs, files in os.walk(folder):
        for n in dirs:
            os.chmod(os.path.join(dirpath, n), 0o755)
        for n in files:
            if not os.path.islink(os.path.join(dirpath, n)):
                os.chmod(os.path.join(dirpath, n), 0o644)


@functools.lru_cache(maxsize=1)
def can_mount_tmpfs() -> bool:
    """True when this process may mount a tmpfs (root with CAP_SYS_ADMIN): the real full disk."""
    if not (hasattr(os, "geteuid") and os.geteuid() == 0) or not shutil.which("mount"):
        return False
    probe = Path(tempfile.mkdtemp(prefix="nc-tmpfs-probe-"))
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(probe)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
        if ok:
            subprocess.run(["umount", str(probe)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return ok
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def mount_full_tmpfs(folder: Path, size_kb: int = 64, free_kb: int = 4) -> None:
    """Mount a ``size_kb`` tmpfs on ``folder`` (created) and fill it to ``free_kb`` KB free."""
    folder.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError(f"cannot mount tmpfs: {r.stderr.decode(errors='replace')}")
    (folder / "filler.bin").write_bytes(b"\0" * ((size_kb - free_kb) * 1024))


def unmount(folder: Path) -> None:
    subprocess.run(["umount", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_table(request, by_id: Dict[str, "Case"], base: Path, root: Path):
    """Submit every selected row of the requesting module to a small pool at once.

    Returns (pool, {case id: future}); each test waits for its own future.
    """
    import concurrent.futures

    wanted = []
    for item in request.session.items:
        cs = getattr(item, "callspec", None)
        if cs is not None and item.module is request.module and "case_id" in cs.params:
            c = by_id[cs.params["case_id"]]
            if skip_reason(c) is None:
                wanted.append(c)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(2, min(4, (os.cpu_count() or 2) + 1)))
    return pool, {c.id: pool.submit(run_case, c, base, root) for c in wanted}


def check_row(case: "Case", future) -> None:
    """The verdict on one table row: skip, expected failure, or the row's assertions.

    A row that exits 0 must have rendered both frames of the plate, each reading back.
    """
    import pytest

    if skip_reason(case):
        pytest.skip(skip_reason(case))
    got = future.result()
    bad = problems(case, got)
    if bad and case.xfail:
        pytest.xfail(f"{case.xfail}: " + "; ".join(bad))
    assert not bad, f"{case.id}: " + "; ".join(bad)
    if case.code == 0:
        outs = sorted((got["folder"] / "new").glob("col.*.exr"))
        assert [p.name for p in outs] == ["col.0001.exr", "col.0002.exr"]
        for p in outs:
            assert reads_back(p) is None
