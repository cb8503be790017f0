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
import re
import shlex
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Dict, Iterator, List, Mapping, Optional, Tuple

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
#: words of torch's weights-only refusals that mean "the pickle names a callable or class
#: other than tensors" (it would run code, or build objects such as numpy arrays)
_CODE_WORDS = ("global", "reduce", "instantiate", "can only build", "can only create",
               "unsupported class", "persistent_load", "persistent load")
#: pickle opcodes that import or call something (a plain state dict of tensors, written by
#: pickle itself, has none of them outside torch's own rebuild functions)
_CALL_OPCODES = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX"}
_SCAN_BYTES = 16 << 20


def _named_global(text: str) -> Optional[str]:
    """The module.name torch names in a weights-only refusal ('GLOBAL posix.system ...')."""
    m = re.search(r"GLOBAL\s+([A-Za-z_][\w.]*)", text)
    return m.group(1).rstrip(".") if m else None


def _plain_pickle_calls(path: Path) -> Optional[str]:
    """When ``path`` is one complete plain pickle (not a PyTorch file) that imports or calls
    something, what it calls ('posix.system', or 'a function'); else None.

    Only parses opcodes (pickletools), never runs them. Random bytes, web pages and truncated
    data fail to parse and give None."""
    import io
    import pickletools

    try:
        with open(path, "rb") as fh:
            data = fh.read(_SCAN_BYTES)
    except OSError:
        return None
    called, strings = None, []
    try:
        for op, arg, _pos in pickletools.genops(io.BytesIO(data)):
            if isinstance(arg, str):
                strings = (strings + [arg])[-2:]
            if op.name == "GLOBAL" and called is None:
                called = str(arg).replace(" ", ".")
            elif op.name == "STACK_GLOBAL" and called is None:
                called = ".".join(strings) if len(strings) == 2 else "a function"
            elif op.name in _CALL_OPCODES and called is None:
                called = "a function"
            if op.name == "STOP":
                return called
    except Exception:  # noqa: BLE001 - not a pickle: damaged or some other kind of file
        return None
    return None


def _unreadable(path: Path) -> str:
    """The problem said of a file that is not a readable checkpoint (a web page, empty, ...)."""
    generic = "not a readable checkpoint (damaged or truncated, or not a PyTorch file)"
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return generic
    if not head:
        return "not a readable checkpoint: the file is empty (damaged or truncated download)"
    low = head.lstrip().lower()
    if low.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")) or b"<html" in low:
        return ("not a readable checkpoint: the file is a web page, not a PyTorch file "
                "(an error page saved under the checkpoint's name?)")
    return generic


def _load_refusal(err: BaseException, path: Path) -> str:
    """The one-line problem for a file ``torch.load(weights_only=True)`` refused or could not read.

    Two different things end up as the same UnpicklingError: a checkpoint whose pickle names
    code or non-tensor objects (os.system, numpy arrays: refused, never executed), and bytes the
    restricted unpickler cannot parse at all (random data, a web page, a truncated file). The
    error text tells them apart ("GLOBAL x.y", "reduce", ... vs "Unsupported operand", "invalid
    load key"); a plain pickle that torch stops at its first opcode is parsed (not run) to see
    whether it calls anything."""
    text = str(err)
    if isinstance(err, pickle.UnpicklingError) and "weights only" in text.lower():
        # torch's own words on what it met come after this marker (the rest is boilerplate)
        detail = text.split("WeightsUnpickler error:", 1)[-1].lower()
        called = _named_global(text)
        if called is None and "unsupported operand" in detail:
            called = _plain_pickle_calls(path)   # garbage, or a plain pickle that calls something
        elif called is None and any(w in detail for w in _CODE_WORDS):
            called = "objects other than tensors"
        if called is not None:
            return ("refused to load: the file contains pickled code or objects other than tensors "
                    f"(it would call {called}); it is not an official checkpoint and nothing in it "
                    "was executed")
    return _unreadable(path)


def load_state_dict(path: Path, role: str, model: str = DEEPEXEMPLAR) -> Dict[str, "object"]:
    """Load one weights file with ``weights_only=True`` and check it against the layout.

    Raises :class:`ModelError` (one line: file, problem, how to install) when the file is
    missing, unreadable, truncated or not a checkpoint at all, names code or objects other than
    tensors in its pickle (never executed), or has a wrong layout. The same parameters re-saved
    by a training script (wrapped in ``{"state_dict": ...}``, keys prefixed ``module.`` by
    ``DataParallel``) are returned as the plain state dict (:func:`_resaved_state_dict`).
    torch's warnings while
    parsing (e.g. about the pickle protocol of a file that is not a checkpoint) are silenced:
    the refusal is the one line said about the file.
    """
    import warnings

    import torch

    path = Path(path)
    hint = install_hint(model)
    if not path.is_file():
        raise ModelError(f"{MODELS[model]['title'].split(' (')[0]} weights file missing "
                         f"(expected at {path})", file=path.name, hint=hint)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure to parse is the file's fault
        raise ModelError(_load_refusal(err, path), file=str(path), hint=hint) from None
    problems = layout.check_state_dict(state, role)
    if problems:
        inner = _resaved_state_dict(state)
        if inner is not None and not layout.check_state_dict(inner, role):
            return inner
        raise ModelError("not the expected weights: " + "; ".join(problems), file=str(path), hint=hint)
    return state


#: keys under which training scripts store the parameters in a checkpoint dictionary
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "network")
_PARALLEL_PREFIX = "module."


def _resaved_state_dict(state: object) -> Optional[Dict[str, object]]:
    """The parameters of a checkpoint re-saved by a training script, or None.

    The published files are plain state dicts. The same networks saved by other scripts come
    as ``{"state_dict": {...}, "iter": ..., "optimizer": ...}`` (one of :data:`_WRAPPER_KEYS`)
    and/or with every key prefixed ``module.`` (a ``DataParallel`` /
    ``DistributedDataParallel`` wrapper saved instead of the network). Returns the inner
    dictionary with the prefix removed from every key when all keys carry it; the caller
    still checks it against the layout (nothing else is accepted). Only tensors already
    loaded with ``weights_only=True`` are looked at."""
    import torch

    if not isinstance(state, Mapping):
        return None
    inner = state
    if not any(isinstance(v, torch.Tensor) for v in state.values()):
        nested = [state[k] for k in _WRAPPER_KEYS if isinstance(state.get(k), Mapping)]
        if not nested:
            return None
        inner = nested[0]
    keys = list(inner)
    if keys and all(isinstance(k, str) and k.startswith(_PARALLEL_PREFIX) for k in keys):
        return {k[len(_PARALLEL_PREFIX):]: v for k, v in inner.items()}
    return dict(inner) if inner is not state else None


def load_model_states(model: str = DEEPEXEMPLAR, folder: Optional[Path] = None) -> Dict[str, dict]:
    """role -> checked state dict for every file of ``model`` in the models folder.

    All missing files are named in one message (the first with its full expected path).
    """
    folder = check_model_files(model, folder)
    return {f["role"]: load_state_dict(folder / f["name"], f["role"], model) for f in model_files(model)}


def check_model_files(model: str = DEEPEXEMPLAR, folder: Optional[Path] = None) -> Path:
    """The models folder, after checking every file of ``model`` is there (cheap: no file is
    read). All missing files are named in one ModelError (the first with its full expected
    path)."""
    folder = models_dir() if folder is None else Path(folder)
    missing = [f for f in model_files(model) if not (folder / f["name"]).is_file()]
    if missing:
        others = ", ".join(f["name"] for f in missing[1:])
        more = f"; also missing: {others}" if others else ""
        raise ModelError(f"{MODELS[model]['title'].split(' (')[0]} weights file missing "
                         f"(expected at {folder / missing[0]['name']}{more})",
                         file=missing[0]["name"], hint=missing_hint(folder, missing[0]["name"], model))
    return folder


def missing_hint(folder: Path, name: str, model: str = DEEPEXEMPLAR) -> str:
    """How to get the missing file ``name`` into ``folder``: :func:`install_hint`, or, when the
    release archive was unpacked into the folder itself, the command that installs from it."""
    f = next(x for x in model_files(model) if x["name"] == name)
    unpacked = _unpacked_here(Path(folder), f)
    if unpacked is None:
        return install_hint(model)
    q = shlex.quote(str(folder))
    return (f"the archive was unpacked into the models folder ({unpacked}) but not installed; run: "
            f"nuke-colorize models --models-dir {q} install --from {q}")


def _unpacked_here(folder: Path, f: dict) -> Optional[Path]:
    """Where file ``f`` lies in ``folder`` as the release archive unpacks it (its official path,
    ``checkpoints/video_moredata_l1/...`` or ``data/...``, in the folder or in one folder below
    it, e.g. ``colorization_checkpoint/``), or None. Cheap: a few stat calls."""
    rel = f["archive_path"]
    if (folder / rel).is_file():
        return folder / rel
    try:
        subs = sorted(d for d in folder.iterdir() if d.is_dir())
    except OSError:
        return None
    return next((d / rel for d in subs if (d / rel).is_file()), None)


# ------------------------------------------------------------------ hashes and records
def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_installed(folder: Optional[Path] = None) -> Dict[str, object]:
    """name -> record from ``installed.json`` ({} when absent or unreadable).

    Records are returned as found: check one with :func:`valid_record` before using it (a
    hand-edited file may hold ``"vgg19_conv.pth": "x"``)."""
    return _read_records(folder or models_dir())[0]


def _read_records(folder: Path) -> Tuple[Dict[str, object], str]:
    """(name -> record, problem): problem is "" when ``installed.json`` is absent or sound,
    else what is wrong with it as a whole (its records are then {})."""
    p = folder / INSTALLED_NAME
    try:
        with open(p, "r", encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}, ""
    except (OSError, ValueError) as err:
        why = err.strerror if isinstance(err, OSError) and err.strerror else "not valid JSON"
        return {}, f"{INSTALLED_NAME} is unreadable: {why}"
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}, f"{INSTALLED_NAME} is damaged: no 'files' object"
    return files, ""


def valid_record(rec: object) -> bool:
    """True for a record as ``models install`` writes it: an object with a 64-hex ``sha256``
    and a whole, non-negative ``size``."""
    if not isinstance(rec, dict):
        return False
    digest, size = rec.get("sha256"), rec.get("size")
    return (isinstance(digest, str) and len(digest) == 64
            and all(c in "0123456789abcdef" for c in digest.lower())
            and isinstance(size, int) and not isinstance(size, bool) and size >= 0)


def _record_of(records: Dict[str, object], problem: str, name: str) -> Tuple[Optional[dict], str]:
    """(record, damage) for ``name``: the record when sound; damage says what is wrong with a
    record that is there but unusable (or with installed.json as a whole), else ""."""
    if problem:
        return None, problem
    if name not in records:
        return None, ""
    rec = records[name]
    if valid_record(rec):
        return rec, ""  # type: ignore[return-value]
    return None, f"its record in {INSTALLED_NAME} is damaged: not an object with sha256 and size"


def _mtime_us(st: os.stat_result) -> int:
    """A file's modification time in whole microseconds (shares disagree below that)."""
    return int(st.st_mtime_ns) // 1000


def weights_fingerprint(model: str = DEEPEXEMPLAR, folder: Optional[Path] = None) -> str:
    """Short stable identity of the installed weights (for cache keys).

    Uses the SHA-256 recorded by ``models install`` when the record is sound and the file's
    size and modification time (``mtime_us``, to the microsecond) are still the recorded ones,
    otherwise hashes the file. The size alone does not tell a file replaced by hand: every
    checkpoint of the official layout has the same size, so fine-tuned or other weights
    copied over an installed file would keep the old identity (and the shot cache the frames
    of the old weights). A folder copied without its mtimes is hashed, same identity.
    """
    folder = models_dir() if folder is None else Path(folder)
    records, problem = _read_records(folder)
    h = hashlib.sha256()
    for f in model_files(model):
        p = folder / f["name"]
        rec, _damage = _record_of(records, problem, f["name"])
        try:
            st = p.stat()
            size, mtime = st.st_size, _mtime_us(st)
        except OSError:
            size, mtime = -1, None
        # a record written before mtimes were recorded is trusted on its size, as it was
        # (hashing ~240 MB on every render task); 'models verify' adds the mtime
        same = rec is not None and rec["size"] == size and rec.get("mtime_us", mtime) == mtime
        digest = rec["sha256"] if same else None
        h.update(f"{f['name']}={digest or (sha256_of(p) if size >= 0 else 'missing')};".encode())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------ install
def _unsafe_member(name: str) -> bool:
    """True for archive member names that would land outside the destination."""
    if not name or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    parts = name.replace("\\", "/").split("/")
    return any(p == ".." for p in parts)


def _parts(path: str) -> Tuple[str, ...]:
    return PurePosixPath(path.replace("\\", "/")).parts


def _pick(candidates: List[str], archive_path: str, name: str, source: str,
          is_zip: bool = False) -> Optional[str]:
    """Choose the member/file for ``archive_path`` among paths whose basename is ``name``.

    A candidate is the official one when its last path components are exactly those of
    ``archive_path`` (``x/data/vgg19_conv.pth`` is, ``olddata/vgg19_conv.pth`` is not)."""
    if not candidates:
        return None
    want = _parts(archive_path)
    exact = [c for c in candidates if _parts(c)[-len(want):] == want]
    if len(exact) > 1:
        exact = [c for c in exact if _parts(c) == want] or exact
    if len(exact) == 1:
        return exact[0]
    if len(candidates) == 1:
        return candidates[0]
    hint = (f"unzip it and install from a folder holding only the wanted {name}" if is_zip
            else f"point --from at a folder holding only the wanted {name}")
    raise ModelError(f"several files named {name} in the source ({', '.join(sorted(candidates)[:3])})",
                     file=source, hint=hint)


def _zip_without_end(path: Path) -> bool:
    """True when ``path`` starts as a zip archive (a local file header, ``PK\\x03\\x04``) but
    ``zipfile`` finds no end of central directory in it: the archive was cut short (an
    interrupted or still running download), not some other kind of file."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


#: a training run's checkpoint name: ``<net>_iter_<iteration>.pth`` (the official files are
#: those of iteration 76000)
_ITER_NAME = re.compile(r"^(?P<net>.+)_iter_(?P<it>\d+)\.pth$")


def _other_iterations(by_name: Dict[str, List[str]], files: List[dict], source: str) -> Dict[str, str]:
    """Official file name -> basename to install instead, for a source that holds checkpoints
    of another training iteration (``nonlocal_net_iter_120000.pth`` and
    ``colornet_iter_120000.pth`` from a fine-tuning run of the official training code) and
    none under the official names. The networks are trained together, so both must come from
    one iteration: a source holding several is refused (ModelError) rather than guessed, and
    nothing is substituted when any of them is present under its official name (iterations are
    never mixed). The layout of what is installed is checked as for the official files."""
    wanted = {f["name"]: _ITER_NAME.match(f["name"]).group("net") for f in files if _ITER_NAME.match(f["name"])}
    if not wanted or any(name in by_name for name in wanted):
        return {}   # official names present (all, or some: never mixed with another iteration)
    found: Dict[str, Dict[str, str]] = {}      # iteration -> official name -> basename
    for base in by_name:
        m = _ITER_NAME.match(base)
        if m:
            for official, net in wanted.items():
                if m.group("net") == net:
                    found.setdefault(m.group("it"), {})[official] = base
    if len(found) > 1:
        its = ", ".join(sorted(found, key=int))
        raise ModelError(f"checkpoints of several training iterations ({its}) and none named as the "
                         "official files; which to install cannot be told, and nothing was installed",
                         file=source, hint="point --from at a folder holding one iteration's "
                                           + " and ".join(sorted(n.replace('76000', 'N') for n in wanted)))
    one = next(iter(found.values()), {})
    return one if len(one) == len(wanted) else {}   # one net alone: reported as not found


@contextlib.contextmanager
def _open_sources(source: Path, model: str) -> Iterator[Dict[str, Tuple[str, object, Optional[zipfile.ZipInfo]]]]:
    """Yield name -> (label, opener, zip member info or None) for each file of ``model`` found
    in ``source``."""
    files = model_files(model)
    if source.is_dir():
        found: Dict[str, List[str]] = {}
        for dirpath, _dirs, names in os.walk(source):
            for n in names:
                if n.endswith(".pth"):
                    found.setdefault(n, []).append(os.path.relpath(os.path.join(dirpath, n), source))
        instead = _other_iterations(found, files, str(source))
        out = {}
        for f in files:
            base = instead.get(f["name"], f["name"])
            rel = _pick(found.get(base, []), f["archive_path"].replace(f["name"], base), base, str(source))
            if rel is not None:
                full = source / rel
                out[f["name"]] = (str(full), lambda full=full: open(full, "rb"), None)
        yield out
        return
    if not zipfile.is_zipfile(source):
        if _zip_without_end(source):
            size = source.stat().st_size
            raise InputError(f"incomplete zip archive ({size} bytes, its end is missing: a download that "
                             "stopped early?); nothing was installed", file=str(source),
                             hint=f"download {MODELS[model]['archive']} again from {MODELS[model]['download']}")
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
        instead = _other_iterations(by_name, files, str(source))
        out = {}
        for f in files:
            base = instead.get(f["name"], f["name"])
            listed = by_name.get(base, [])
            member = _pick(list(dict.fromkeys(listed)), f["archive_path"].replace(f["name"], base), base,
                           str(source), is_zip=True)
            if member is None:
                continue
            if listed.count(member) > 1:
                # which copy is meant cannot be told (zipfile would open the last one)
                times = "twice" if listed.count(member) == 2 else f"{listed.count(member)} times"
                raise ModelError(f"the archive lists {member} {times}; it is damaged "
                                 "or was put together by hand, and nothing was installed", file=str(source),
                                 hint="re-create the zip with one copy, or unzip it and install from the folder")
            if sizes[member] > MAX_FILE_BYTES:
                raise ModelError(f"refused archive: member '{member}' claims {sizes[member]} bytes",
                                 file=str(source))
            out[f["name"]] = (f"{source}!{member}", lambda member=member: zf.open(member, "r"),
                              zf.getinfo(member))
        yield out


class _SourceReadError(Exception):
    """Reading the source file or zip member failed (wraps the original error)."""

    def __init__(self, err: BaseException):
        super().__init__(str(err))
        self.err = err


def _copy_limited(src, dst_path: str) -> Tuple[str, int]:
    """Copy the open binary stream ``src`` to ``dst_path``; return (sha256, size).

    A failure to read ``src`` is raised as :class:`_SourceReadError` (the source's fault), a
    failure to write as OutputError (the destination's)."""
    from .io.atomic import OutputError

    h = hashlib.sha256()
    n = 0
    try:
        out = open(dst_path, "wb")
    except OSError as err:
        raise OutputError(f"cannot write: {err.strerror or err}", file=dst_path) from None
    with out:
        while True:
            try:
                chunk = src.read(1 << 20)
            except Exception as err:  # noqa: BLE001 - CRC, codec, truncation, I/O: see _read_failure
                raise _SourceReadError(err) from None
            if not chunk:
                break
            n += len(chunk)
            if n > MAX_FILE_BYTES:
                raise ModelError("refused: file larger than any published weights file", file=dst_path)
            h.update(chunk)
            try:
                out.write(chunk)
            except OSError as err:
                raise OutputError(f"cannot write: {err.strerror or err}", file=dst_path) from None
        try:
            out.flush()
            os.fsync(out.fileno())
        except OSError as err:
            raise OutputError(f"cannot write: {err.strerror or err}", file=dst_path) from None
    return h.hexdigest(), n


#: zip compression methods Python cannot read, by number (APPNOTE 4.4.5)
_ZIP_METHODS = {1: "Shrink", 6: "Implode", 9: "Deflate64", 10: "PKWARE Implode", 18: "IBM TERSE",
                19: "IBM LZ77", 93: "Zstandard", 95: "XZ", 96: "JPEG", 97: "WavPack", 98: "PPMd",
                99: "AES encryption"}


def _read_failure(err: BaseException, source: Path, info: Optional[zipfile.ZipInfo], label: str) -> ModelError:
    """The one-line refusal for a source file or zip member that could not be read."""
    nothing = "nothing was installed"
    if info is None:
        why = err.strerror if isinstance(err, OSError) and err.strerror else (str(err) or type(err).__name__)
        return ModelError(f"cannot read the file ({why}); {nothing}", file=label,
                          hint="check the file's permissions, or copy the folder again")
    member = info.filename
    text = str(err)
    if (isinstance(err, RuntimeError) and "encrypt" in text.lower()) or info.flag_bits & 0x1:
        return ModelError(f"member '{member}' is encrypted (password protected); {nothing}", file=str(source),
                          hint="unzip it with its password and install from the folder, or download "
                               f"the archive again from {MODELS[DEEPEXEMPLAR]['download']}")
    if isinstance(err, NotImplementedError):
        method = _ZIP_METHODS.get(info.compress_type, f"method {info.compress_type}")
        return ModelError(f"member '{member}' uses a compression method that is not supported ({method}); "
                          f"{nothing}", file=str(source),
                          hint="re-zip it with ordinary deflate compression, or unzip it and install "
                               "from the folder")
    why = "CRC-32 check failed" if "crc" in text.lower() else (" ".join(text.split()) or type(err).__name__)
    return ModelError(f"member '{member}' is damaged ({why}); {nothing}", file=str(source),
                      hint="download the archive again")


@dataclass
class FileStatus:
    """One weights file's state in the models folder."""

    name: str
    role: str
    path: Path
    status: str            # ok | missing | invalid | modified | unrecorded | damaged (its record)
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
                label, opener, info = found[f["name"]]
                try:
                    with opener() as stream:
                        digest, size = _copy_limited(stream, tmp)
                except _SourceReadError as err:
                    raise _read_failure(err.err, src, info, label) from None
                except (OSError, RuntimeError, NotImplementedError, zipfile.BadZipFile, ValueError) as err:
                    # opening failed: permissions; an encrypted or unsupported zip member
                    raise _read_failure(err, src, info, label) from None
                try:
                    load_state_dict(Path(tmp), f["role"], model)
                except ModelError as err:
                    raise ModelError(err.problem, file=label, hint="nothing was installed") from None
                came = PurePosixPath(label.replace("\\", "/")).name
                detail = "installed" if came == f["name"] else f"installed from {came}"
                done.append(FileStatus(f["name"], f["role"], final, "ok", detail, digest, size))
    records = {n: r for n, r in read_installed(folder).items() if valid_record(r)}
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    for st in done:
        # mtime_us: the installed file's own (after its rename), for weights_fingerprint
        records[st.name] = {"model": model, "role": st.role, "sha256": st.sha256, "size": st.size,
                            "mtime_us": _mtime_us(os.stat(st.path)), "source": str(src), "installed": now}
    atomic_write_text(folder / INSTALLED_NAME,
                      json.dumps({"format": 1, "files": records}, indent=2, sort_keys=True) + "\n")
    if not (folder / MANIFEST_NAME).exists():
        atomic_write_text(folder / MANIFEST_NAME, manifest_text())
    return done


# ------------------------------------------------------------------ list / verify
def status(folder: Optional[Path] = None, model: str = DEEPEXEMPLAR, deep: bool = False) -> List[FileStatus]:
    """State of each file of ``model``. ``deep`` loads and checks every file and its SHA-256.

    A file whose record in ``installed.json`` is damaged (or the whole file is) is "damaged":
    it cannot be checked against what was installed, and ``models verify`` refuses it."""
    folder = models_dir() if folder is None else Path(folder)
    records, problem = _read_records(folder)
    out = []
    checked: Dict[str, int] = {}   # name -> mtime_us of files whose SHA-256 matches their record
    for f in model_files(model):
        p = folder / f["name"]
        rec, damage = _record_of(records, problem, f["name"])
        if not p.is_file():
            out.append(FileStatus(f["name"], f["role"], p, "missing", "not installed"))
            continue
        size = p.stat().st_size
        st = FileStatus(f["name"], f["role"], p, "ok", "", rec["sha256"] if rec else "", size)
        if deep:
            try:
                load_state_dict(p, f["role"], model)
            except ModelError as err:
                st.status, st.detail = "invalid", err.problem
                out.append(st)
                continue
            digest = sha256_of(p)
            if damage:
                st.status, st.detail = "damaged", f"layout ok; {damage}"
            elif rec is None:
                st.status, st.detail = "unrecorded", "layout ok; not recorded by 'models install'"
            elif rec["sha256"] != digest:
                st.status, st.detail = "modified", "layout ok; SHA-256 differs from the installed copy"
            else:
                st.detail = "layout ok; SHA-256 matches"
                checked[f["name"]] = _mtime_us(p.stat())
            st.sha256 = digest
        else:
            if damage:
                st.status, st.detail = "damaged", f"present; {damage}"
            elif rec is None:
                st.status, st.detail = "unrecorded", "present; not recorded by 'models install'"
            elif rec["size"] != size:
                st.status, st.detail = "modified", "size differs from the installed copy"
            else:
                st.detail = "installed"
        out.append(st)
    _record_mtimes(folder, records, checked)
    return out


def _record_mtimes(folder: Path, records: Dict[str, object], checked: Dict[str, int]) -> None:
    """Store in ``installed.json`` the mtime of files whose SHA-256 was just found to match
    their record (``checked``: name -> mtime_us) where the record lacks it or holds another
    (an install made before mtimes were recorded; a folder copied without its mtimes), so
    :func:`weights_fingerprint` trusts the record again. Best effort: a folder that cannot be
    written (a read-only share) is left as it is."""
    from .io.atomic import OutputError, atomic_write_text

    stale = {n: t for n, t in checked.items() if isinstance(records.get(n), dict)
             and records[n].get("mtime_us") != t}
    if not stale:
        return
    data = {"format": 1, "files": {n: (dict(r, mtime_us=stale[n]) if n in stale else r)
                                   for n, r in records.items()}}
    try:
        atomic_write_text(folder / INSTALLED_NAME, json.dumps(data, indent=2, sort_keys=True) + "\n")
    except (OSError, OutputError):
        pass


__all__ = ["ENV_VAR", "DEEPEXEMPLAR", "MODELS", "manifest", "manifest_text", "models_dir",
           "load_state_dict", "load_model_states", "install", "status", "FileStatus",
           "weights_fingerprint", "install_hint", "sha256_of", "read_installed", "valid_record"]
