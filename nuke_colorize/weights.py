"""Model weights: where they live, what they must contain, installing, verifying, safe loading.

No weights ship with the product or download at run time. A person fetches the published
archive once and installs it with ``nuke-colorize models install --from <zip-or-folder>``,
which copies the needed files into the models folder after checking every parameter name and
shape, and records their SHA-256 in ``installed.json``.

Models folder: ``$NUKE_COLORIZE_MODELS`` when set; otherwise ``<checkout>/models`` when the
package runs from a source checkout; otherwise a per-user data folder
(``$XDG_DATA_HOME/nuke-colorize/models``, ``~/.local/share/...``, ``%LOCALAPPDATA%`` on Windows).

Loading always uses ``torch.load(..., weights_only=True)``: a file whose pickle would run code
is refused, never executed. Every failure is a one-line :class:`~nuke_colorize.errors.ModelError`
naming the file, where it is expected and the command that installs it.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Dict, Iterator, List, Optional, Tuple

from .errors import InputError, ModelError
from .networks import layout

ENV_VAR = "NUKE_COLORIZE_MODELS"
MANIFEST_NAME = "manifest.json"
INSTALLED_NAME = "installed.json"
MAX_FILE_BYTES = 2 << 30  # no published file is near this; refuses zip bombs

DEEPEXEMPLAR = "deepexemplar"
_REPO = "https://github.com/zhangmozhe/Deep-Exemplar-based-Video-Colorization"
_ARCHIVE = "colorization_checkpoint.zip"

# The catalogue. models/manifest.json in the checkout is exactly manifest() (a test checks it).
MODELS: Dict[str, dict] = {
    DEEPEXEMPLAR: {
        "title": "Deep Exemplar-based Video Colorization (Zhang et al., CVPR 2019)",
        "licence": "MIT (Copyright (c) 2020 zhangmozhe); see the LICENSE file of the source repository",
        "source": _REPO,
        "archive": _ARCHIVE,
        "download": f"{_REPO}/releases/download/v1.0/{_ARCHIVE}",
        "layout": "nuke_colorize/networks/deepexemplar_layout.json",
        "files": [
            {"name": Path(layout.ARCHIVE_PATHS[role]).name, "role": role,
             "archive_path": layout.ARCHIVE_PATHS[role],
             "num_tensors": layout.file_info(role)["num_tensors"],
             "num_parameters": layout.file_info(role)["num_parameters"]}
            for role in layout.ROLES
        ],
        "not_needed": ["data/vgg19_gray.pth"],
    },
}


def manifest() -> dict:
    """The catalogue of models as written to ``models/manifest.json``."""
    return {
        "about": ("Model weights nuke-colorize can use. None ship with the product: get the "
                  "archive from 'download' and run 'nuke-colorize models install --from <archive>'. "
                  "Every parameter name and shape of each file is listed in 'layout' (inside the "
                  "package); installed files and their SHA-256 are recorded in installed.json."),
        "format": 1,
        "models": MODELS,
    }


def manifest_text() -> str:
    return json.dumps(manifest(), indent=2, sort_keys=False) + "\n"


# ------------------------------------------------------------------ locations
def _checkout_root() -> Optional[Path]:
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file() and (root / "nuke_colorize").is_dir():
        return root
    return None


def _user_data_dir() -> Path:
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "nuke-colorize" / "models"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "nuke-colorize" / "models"


def models_dir(override: Optional[str] = None) -> Path:
    """The models folder (``override``, else $NUKE_COLORIZE_MODELS, else see module docs)."""
    chosen = override or os.environ.get(ENV_VAR, "").strip()
    if chosen:
        return Path(os.path.expanduser(chosen)).resolve()
    root = _checkout_root()
    return (root / "models") if root is not None else _user_data_dir()


def model_files(model: str = DEEPEXEMPLAR) -> List[dict]:
    if model not in MODELS:
        raise InputError(f"unknown model '{model}'", hint=f"known: {sorted(MODELS)}")
    return MODELS[model]["files"]


def file_path(name: str, folder: Optional[Path] = None) -> Path:
    return (folder or models_dir()) / name


def install_hint(model: str = DEEPEXEMPLAR) -> str:
    m = MODELS[model]
    return (f"get {m['archive']} from {m['download']} and run: "
            f"nuke-colorize models install --from {m['archive']}")


# ------------------------------------------------------------------ safe loading
def _refused_pickle(err: BaseException) -> bool:
    return isinstance(err, pickle.UnpicklingError) and "weights only" in str(err).lower()


def load_state_dict(path: Path, role: str, model: str = DEEPEXEMPLAR) -> Dict[str, "object"]:
    """Load one weights file with ``weights_only=True`` and check it against the layout.

    Raises :class:`ModelError` (one line: file, problem, how to install) when the file is
    missing, unreadable or truncated, contains executable pickle code, or has a wrong layout.
    """
    import torch

    path = Path(path)
    hint = install_hint(model)
    if not path.is_file():
        raise ModelError(f"{MODELS[model]['title'].split(' (')[0]} weights file missing "
                         f"(expected at {path})", file=path.name, hint=hint)
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure to parse is the file's fault
        if _refused_pickle(err):
            raise ModelError("refused to load: the file contains pickled code, not only weights "
                             "(it is not an official checkpoint and was not executed)",
                             file=str(path), hint=hint) from None
        raise ModelError(f"unreadable weights file, damaged or truncated ({type(err).__name__})",
                         file=str(path), hint=hint) from None
    problems = layout.check_state_dict(state, role)
    if problems:
        raise ModelError("not the expected weights: " + "; ".join(problems), file=str(path), hint=hint)
    return state


def load_model_states(model: str = DEEPEXEMPLAR, folder: Optional[Path] = None) -> Dict[str, dict]:
    """role -> checked state dict for every file of ``model`` in the models folder.

    All missing files are named in one message (the first with its full expected path).
    """
    folder = models_dir() if folder is None else Path(folder)
    files = model_files(model)
    missing = [f for f in files if not (folder / f["name"]).is_file()]
    if missing:
        others = ", ".join(f["name"] for f in missing[1:])
        more = f"; also missing: {others}" if others else ""
        raise ModelError(f"{MODELS[model]['title'].split(' (')[0]} weights file missing "
                         f"(expected at {folder / missing[0]['name']}{more})",
                         file=missing[0]["name"], hint=install_hint(model))
    return {f["role"]: load_state_dict(folder / f["name"], f["role"], model) for f in files}


# ------------------------------------------------------------------ hashes and records
def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_installed(folder: Optional[Path] = None) -> Dict[str, dict]:
    """name -> record from ``installed.json`` ({} when absent or unreadable)."""
    p = (folder or models_dir()) / INSTALLED_NAME
    try:
        with open(p, "r", encoding="utf-8") as fh:
            data = json.load(fh)
        files = data.get("files", {})
        return files if isinstance(files, dict) else {}
    except (OSError, ValueError, AttributeError):
        return {}


def weights_fingerprint(model: str = DEEPEXEMPLAR, folder: Optional[Path] = None) -> str:
    """Short stable identity of the installed weights (for cache keys).

    Uses the SHA-256 recorded by ``models install`` when the file size still matches,
    otherwise hashes the file.
    """
    folder = models_dir() if folder is None else Path(folder)
    records = read_installed(folder)
    h = hashlib.sha256()
    for f in model_files(model):
        p = folder / f["name"]
        rec = records.get(f["name"], {})
        try:
            size = p.stat().st_size
        except OSError:
            size = -1
        digest = rec.get("sha256") if rec.get("size") == size else None
        h.update(f"{f['name']}={digest or (sha256_of(p) if size >= 0 else 'missing')};".encode())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------ install
def _unsafe_member(name: str) -> bool:
    """True for archive member names that would land outside the destination."""
    if not name or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    parts = name.replace("\\", "/").split("/")
    return any(p == ".." for p in parts)


def _pick(candidates: List[str], archive_path: str, name: str, source: str) -> Optional[str]:
    """Choose the member/file for ``archive_path`` among paths whose basename is ``name``."""
    if not candidates:
        return None
    exact = [c for c in candidates if c.replace("\\", "/").endswith(archive_path)]
    if len(exact) == 1:
        return exact[0]
    if len(candidates) == 1:
        return candidates[0]
    raise ModelError(f"several files named {name} in the source ({', '.join(sorted(candidates)[:3])})",
                     file=source, hint=f"point --from at a folder holding only the wanted {name}")


@contextlib.contextmanager
def _open_sources(source: Path, model: str) -> Iterator[Dict[str, Tuple[str, object]]]:
    """Yield name -> (label, opener) for each file of ``model`` found in ``source``."""
    files = model_files(model)
    if source.is_dir():
        found: Dict[str, List[str]] = {}
        wanted = {f["name"] for f in files}
        for dirpath, _dirs, names in os.walk(source):
            for n in names:
                if n in wanted:
                    found.setdefault(n, []).append(os.path.relpath(os.path.join(dirpath, n), source))
        out = {}
        for f in files:
            rel = _pick(found.get(f["name"], []), f["archive_path"], f["name"], str(source))
            if rel is not None:
                full = source / rel
                out[f["name"]] = (str(full), lambda full=full: open(full, "rb"))
        yield out
        return
    if not zipfile.is_zipfile(source):
        raise InputError("not a zip archive or a folder", file=str(source),
                         hint=f"give the downloaded {MODELS[model]['archive']} or the folder it was unpacked to")
    try:
        zf = zipfile.ZipFile(source)
    except (OSError, zipfile.BadZipFile) as err:
        raise InputError(f"unreadable zip archive ({err})", file=str(source)) from None
    with zf:
        infos = zf.infolist()
        bad = [i.filename for i in infos if _unsafe_member(i.filename)]
        if bad:
            raise ModelError(f"refused archive: member '{bad[0]}' points outside the destination "
                             "(absolute path or '..'); nothing was installed", file=str(source))
        by_name: Dict[str, List[str]] = {}
        sizes = {}
        for i in infos:
            if not i.is_dir():
                by_name.setdefault(PurePosixPath(i.filename.replace("\\", "/")).name, []).append(i.filename)
                sizes[i.filename] = i.file_size
        out = {}
        for f in files:
            member = _pick(by_name.get(f["name"], []), f["archive_path"], f["name"], str(source))
            if member is None:
                continue
            if sizes[member] > MAX_FILE_BYTES:
                raise ModelError(f"refused archive: member '{member}' claims {sizes[member]} bytes",
                                 file=str(source))
            out[f["name"]] = (f"{source}!{member}", lambda member=member: zf.open(member, "r"))
        yield out


def _copy_limited(src, dst_path: str) -> Tuple[str, int]:
    """Copy the open binary stream ``src`` to ``dst_path``; return (sha256, size)."""
    h = hashlib.sha256()
    n = 0
    with open(dst_path, "wb") as out:
        while True:
            chunk = src.read(1 << 20)
            if not chunk:
                break
            n += len(chunk)
            if n > MAX_FILE_BYTES:
                raise ModelError("refused: file larger than any published weights file", file=dst_path)
            h.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return h.hexdigest(), n


@dataclass
class FileStatus:
    """One weights file's state in the models folder."""

    name: str
    role: str
    path: Path
    status: str            # ok | missing | invalid | modified | unrecorded
    detail: str = ""
    sha256: str = ""
    size: int = 0


def install(source: str, folder: Optional[Path] = None, model: str = DEEPEXEMPLAR) -> List[FileStatus]:
    """Copy ``model``'s files from a zip archive or folder into the models folder.

    Every file is copied to a temporary name, loaded with ``weights_only=True`` and checked
    key by key, shape by shape; only when all files pass are they renamed into place (so a
    failure installs nothing) and ``installed.json`` is rewritten atomically. Archives with
    members that would escape the destination are refused outright.
    """
    from .io.atomic import atomic_path, atomic_write_text

    src = Path(os.path.expanduser(str(source))).resolve()
    if not src.exists():
        raise InputError("no such file or folder", file=str(src),
                         hint=f"download {MODELS[model]['archive']} from {MODELS[model]['download']}")
    folder = models_dir() if folder is None else Path(folder)
    files = model_files(model)
    done: List[FileStatus] = []
    with _open_sources(src, model) as found:
        absent = [f["name"] for f in files if f["name"] not in found]
        if absent:
            raise ModelError(f"{', '.join(absent)} not found in the source", file=str(src),
                             hint=f"it must be the unpacked or zipped {MODELS[model]['archive']}")
        with contextlib.ExitStack() as stack:
            for f in files:
                final = folder / f["name"]
                tmp = stack.enter_context(atomic_path(final))
                label, opener = found[f["name"]]
                with opener() as stream:
                    digest, size = _copy_limited(stream, tmp)
                try:
                    load_state_dict(Path(tmp), f["role"], model)
                except ModelError as err:
                    raise ModelError(err.problem, file=label, hint="nothing was installed") from None
                done.append(FileStatus(f["name"], f["role"], final, "ok", "installed", digest, size))
    records = read_installed(folder)
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    for st in done:
        records[st.name] = {"model": model, "role": st.role, "sha256": st.sha256, "size": st.size,
                            "source": str(src), "installed": now}
    atomic_write_text(folder / INSTALLED_NAME,
                      json.dumps({"format": 1, "files": records}, indent=2, sort_keys=True) + "\n")
    if not (folder / MANIFEST_NAME).exists():
        atomic_write_text(folder / MANIFEST_NAME, manifest_text())
    return done


# ------------------------------------------------------------------ list / verify
def status(folder: Optional[Path] = None, model: str = DEEPEXEMPLAR, deep: bool = False) -> List[FileStatus]:
    """State of each file of ``model``. ``deep`` loads and checks every file and its SHA-256."""
    folder = models_dir() if folder is None else Path(folder)
    records = read_installed(folder)
    out = []
    for f in model_files(model):
        p = folder / f["name"]
        rec = records.get(f["name"])
        if not p.is_file():
            out.append(FileStatus(f["name"], f["role"], p, "missing", "not installed"))
            continue
        size = p.stat().st_size
        st = FileStatus(f["name"], f["role"], p, "ok", "", (rec or {}).get("sha256", ""), size)
        if deep:
            try:
                load_state_dict(p, f["role"], model)
            except ModelError as err:
                st.status, st.detail = "invalid", err.problem
                out.append(st)
                continue
            digest = sha256_of(p)
            if rec is None:
                st.status, st.detail = "unrecorded", "layout ok; not recorded by 'models install'"
            elif rec.get("sha256") != digest:
                st.status, st.detail = "modified", "layout ok; SHA-256 differs from the installed copy"
            else:
                st.detail = "layout ok; SHA-256 matches"
            st.sha256 = digest
        else:
            if rec is None:
                st.status, st.detail = "unrecorded", "present; not recorded by 'models install'"
            elif rec.get("size") != size:
                st.status, st.detail = "modified", "size differs from the installed copy"
            else:
                st.detail = "installed"
        out.append(st)
    return out


__all__ = ["ENV_VAR", "DEEPEXEMPLAR", "MODELS", "manifest", "manifest_text", "models_dir",
           "load_state_dict", "load_model_states", "install", "status", "FileStatus",
           "weights_fingerprint", "install_hint", "sha256_of", "read_installed"]
