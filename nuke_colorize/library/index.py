"""An on-disk index of colour stills: paths, file identities and descriptors.

The index is one ``.npz`` file written atomically (temp file, fsync, rename): ``meta`` holds
JSON (format, descriptor version, root folder, one entry per image: ``path``, ``rel`` path
under the root, ``group`` = the folder under the root holding it, ``size``, ``mtime_ns``,
``width``, ``height``) and one (N, D) float16 array per descriptor part, rows in entry order.

The root and the stills' paths are written relative to the index file's folder when they lie
on the same storage (drive, share, mount) as the index (:mod:`nuke_colorize.host.portable`),
else absolute, and resolved when the index is loaded: an index kept with its stills (``-o``
beside or inside the folder) finds them wherever that storage is mounted, as the shot cache
does (automatic-reference shots on a farm that mounts the show elsewhere). In memory every
path is absolute. Indexes of format 1 (absolute paths) are read as they are.

Re-indexing is incremental: an image whose size and mtime (to the microsecond, as
:func:`nuke_colorize.io.file_identity` compares them: a copy on storage that keeps coarser or
finer times is the same) are unchanged keeps its stored descriptor; changed and new images are computed; images gone from disk are dropped. An
image that cannot be read (or holds no colour: greyscale stills cannot colour anything) is
reported with one line and skipped; it is tried again on the next run.
"""
from __future__ import annotations

import io
import json
import os
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import cv2
import numpy as np

from .. import color, coverage
from ..errors import ColorizeError, InputError
from ..io import atomic_write_bytes, is_temp_name, read_image
from ..io.image import apply_orientation
from . import descriptors as D

INDEX_FORMAT = 2   # 2: root and still paths relative to the index file where they share its storage
READ_FORMATS = (1, 2)   # 1: absolute paths only
STILL_EXTS = (".exr", ".sxr", ".dpx", ".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp", ".tga",
              ".hdr", ".webp", ".psd", ".gif", ".jp2", ".j2k", ".jxl")
#: photographs in formats OpenImageIO reads not (here): phones' HEIC/HEIF/AVIF, cameras' raw
#: files; left out with a note saying how many (not silently, as other files are)
PHOTO_EXTS = (".heic", ".heif", ".avif", ".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2")
BATCH = 16


@dataclass
class Entry:
    """One indexed still (absolute path; relative to the index in its file, see the module
    doc) and where it sits under the index root."""

    path: str
    rel: str
    group: str
    size: int
    mtime_ns: int
    width: int = 0
    height: int = 0

    def to_dict(self) -> Dict[str, Any]:
        return dict(path=self.path, rel=self.rel, group=self.group, size=self.size,
                    mtime_ns=self.mtime_ns, width=self.width, height=self.height)


class StaleIndexError(InputError):
    """The file is a library index (its metadata reads) that this version cannot use: another
    format or descriptor version, or damaged descriptors. Rebuilding it loses nothing."""


def _load_error(problem: str, path: str, meta: Any) -> InputError:
    """The error for an index file that cannot be used: :class:`StaleIndexError` when its
    metadata ``meta`` read as an index's (ours, of any version), plain InputError otherwise."""
    ours = isinstance(meta, dict) and "format" in meta and "entries" in meta
    return (StaleIndexError if ours else InputError)(
        problem, file=path, hint="rebuild it with: nuke-colorize library index DIR -o INDEX")


@dataclass
class LibraryIndex:
    """Entries and their descriptors: ``parts[name]`` is (N, D) float32 (``local``: (N, 40, 256),
    float16 when loaded from disk), row i = entries[i]."""

    root: str
    entries: List[Entry] = field(default_factory=list)
    parts: Dict[str, np.ndarray] = field(default_factory=lambda: D.stack([]))
    colorspace: str = "auto"            # the stills' colourspace, as indexed (render reads them so)
    ocio_config: Optional[str] = None   # the OCIO config of an OCIO ``colorspace`` (None: $OCIO)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def groups(self) -> List[str]:
        return [e.group for e in self.entries]

    # ------------------------------------------------------------------ files
    def save(self, path: str) -> str:
        """Write the index atomically to ``path``; returns the path. The root and the stills'
        paths are written relative to the index's folder where they share its storage (see the
        module doc), so the index finds them wherever the storage is mounted."""
        from ..host.portable import relative_if_shared
        base = os.path.dirname(os.path.abspath(path))
        meta = {"format": INDEX_FORMAT, "descriptor_version": D.DESCRIPTOR_VERSION,
                "feature_size": D.FEATURE_SIZE, "root": relative_if_shared(self.root, base),
                "colorspace": self.colorspace, "ocio_config": relative_if_shared(self.ocio_config, base),
                "entries": [dict(e.to_dict(), path=relative_if_shared(e.path, base)) for e in self.entries]}
        buf = io.BytesIO()
        arrays = {f"part_{k}": v.astype(np.float16) for k, v in self.parts.items()}
        np.savez(buf, meta=np.array(json.dumps(meta)), **arrays)
        atomic_write_bytes(path, buf.getvalue())
        return path

    def check_root(self, path: str) -> "LibraryIndex":
        """This index (loaded from ``path``) when its stills' folder exists; otherwise an
        InputError saying where it looked. An index names its stills relative to its own folder
        when it shares their storage: moved or copied without them (to another depth), its
        query listed stills that are not there and the render failed on the first with "file
        does not exist", not saying why."""
        if self.entries and not os.path.isdir(self.root):
            raise InputError(f"the library's stills folder {self.root} does not exist: the index names its "
                             f"stills relative to its own folder (was it moved or copied without them?)",
                             file=path, hint="put the index back where it was beside its stills, or index "
                                             "the stills again: nuke-colorize library index DIR -o INDEX")
        return self

    @staticmethod
    def stills_colorspace(path: str) -> Tuple[str, Optional[str]]:
        """(colourspace, OCIO config) the index at ``path`` read its stills in, from its
        metadata alone (the descriptors are not loaded); ("auto", None) when it cannot tell."""
        try:
            with np.load(os.path.abspath(os.path.expanduser(path)), allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return "auto", None
        if not isinstance(meta, dict):
            return "auto", None
        cs, config = meta.get("colorspace", "auto"), meta.get("ocio_config")
        config = _config_here(config, os.path.dirname(os.path.abspath(os.path.expanduser(path))))
        return (cs if isinstance(cs, str) else "auto"), (config if isinstance(config, str) else None)

    @classmethod
    def load(cls, path: str) -> "LibraryIndex":
        """Read an index written by :meth:`save`; InputError naming the file otherwise."""
        path = os.path.abspath(os.path.expanduser(path))
        if os.path.isdir(path):
            raise InputError("this is a folder, not a library index file", file=path,
                             hint=f"index it first: nuke-colorize library index {path} -o INDEX, then give INDEX")
        if not os.path.isfile(path):
            raise InputError("library index not found", file=path,
                             hint="build it with: nuke-colorize library index DIR -o INDEX")
        meta: Any = None
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if not isinstance(meta, dict) or meta.get("format") not in READ_FORMATS \
                        or meta.get("descriptor_version") != D.DESCRIPTOR_VERSION:
                    got = meta if not isinstance(meta, dict) else (meta.get("format"), meta.get("descriptor_version"))
                    raise _load_error(f"library index of another version (format, descriptors: {got}; "
                                      f"this is {INDEX_FORMAT}, {D.DESCRIPTOR_VERSION})", path, meta)
                # local cells stay float16 in memory (20 KB a still); the query converts its shortlist
                parts = {k: z[f"part_{k}"] if k == "local" else z[f"part_{k}"].astype(np.float32)
                         for k in D.shapes()}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            why = "not an .npz archive" if "pickle" in str(exc) else exc   # numpy's text suggests loading unsafely
            raise _load_error(f"not a library index (unreadable or damaged: {why})", path, meta) from None
        from ..host.portable import resolve
        base = os.path.dirname(path)
        try:
            entries = [Entry(**dict(e, path=resolve(e["path"], base))) for e in meta["entries"]]
            root = resolve(meta["root"], base)
        except (TypeError, KeyError, AttributeError):
            raise _load_error("library index is damaged (entries)", path, meta) from None
        if any(v.shape != (len(entries),) + D.shapes()[k] for k, v in parts.items()):
            raise _load_error("library index is damaged (descriptor rows do not match entries)", path, meta)
        colorspace, config = meta.get("colorspace", "auto"), meta.get("ocio_config")
        if not isinstance(colorspace, str) or not (config is None or isinstance(config, str)):
            raise _load_error("library index is damaged (colourspace)", path, meta)
        config = _config_here(config, base)
        return cls(root=root, entries=entries, parts=parts, colorspace=colorspace, ocio_config=config)


def _config_here(config: Any, base: str) -> Any:
    """An index's OCIO config as written (a file relative to the index's folder ``base`` or
    absolute, an ``ocio://`` URI, None) -> as this machine names it."""
    if isinstance(config, str) and config and not config.startswith("ocio://"):
        from ..host.portable import resolve
        return resolve(config, base)
    return config


# ---------------------------------------------------------------------- scanning and reading
def scan_stills(root: str, left_out: Optional[List[str]] = None) -> Iterator[Tuple[str, os.stat_result]]:
    """(absolute path, stat) of every still under ``root`` (recursive, sorted, hidden files,
    hidden folders and temp files of atomic writers skipped).

    Symbolic links to folders are followed, but every folder and every file is visited once
    (by device and inode; the first path met wins, a folder's own files before its
    subfolders, both in sorted order): a link back to a parent folder (a loop) or two links
    to one folder would otherwise list the same stills again under each path, up to the
    system's link-depth limit (40 times for a loop). ``left_out`` (a list) gets the paths of
    photographs in a format not read (:data:`PHOTO_EXTS`)."""
    seen_dirs, seen_files = set(), set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        try:
            st = os.stat(folder)
        except OSError:
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen_dirs:
            dirs[:] = []
            continue
        seen_dirs.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or is_temp_name(name) or not name.lower().endswith(STILL_EXTS):
                if left_out is not None and not name.startswith(".") and name.lower().endswith(PHOTO_EXTS):
                    left_out.append(os.path.join(folder, name))
                continue
            path = os.path.join(folder, name)
            try:
                st = os.stat(path)
            except OSError:
                st = None  # broken link etc.: reported when it is read
            if st is not None:
                if (st.st_dev, st.st_ino) in seen_files:
                    continue
                seen_files.add((st.st_dev, st.st_ino))
            yield path, st


def still_L(path: str, colorspace: str = "auto", long_side: int = D.FEATURE_SIZE,
            ocio_config: Optional[str] = None) -> Tuple[np.ndarray, int, int]:
    """Read a colour still -> (L* (h, w) at feature size, width, height of the file).

    The image is resized (area) in its file encoding, then converted to linear, Rec.709
    luminance and L*. Raises :class:`InputError` for unreadable files and greyscale images,
    judged as the render judges a reference: with an alpha, on the pixels it covers (their
    colour resized from covered pixels only).
    """
    img = apply_orientation(read_image(path, allow_nonfinite=False))  # upright, as the render reads it
    px = img.pixels
    w, h = D.feature_size(img.width, img.height, long_side)
    idx = img.rgb_indices
    if len(set(idx)) < 3:
        raise InputError("no colour (greyscale image): cannot serve as a reference", file=path)
    # as the render reads it (load_reference): an alpha says which pixels give colour (a
    # cut-out whose covered pixels are grey would stop the automatic render that chose it)
    cov = coverage.from_alpha(img.alpha, img.premultiplied)
    cov = None if cov is None or not cov.any() else cov
    if cov is not None:
        small = coverage.weighted_resize(np.ascontiguousarray(px[..., idx]), cov, (w, h))
        cov = coverage.resample(cov, (w, h))
    elif px.shape[2] <= 4:
        small = cv2.resize(px, (w, h), interpolation=cv2.INTER_AREA)
        small = small.reshape(h, w, -1)[..., idx]
    else:
        small = cv2.resize(np.ascontiguousarray(px[..., idx]), (w, h), interpolation=cv2.INTER_AREA)
    cs = color.resolve_colorspace(colorspace, img.is_float_format, img.log_encoded)
    rgb = color.to_linear(np.ascontiguousarray(small, np.float32), cs, file=path, config=ocio_config)
    if color.is_grey(rgb if cov is None else rgb[cov][None], tol=2e-3):
        raise InputError("no colour (greyscale image): cannot serve as a reference", file=path)
    return color.y_to_L(np.maximum(color.luminance(rgb), 0.0)), img.width, img.height


def _group(rel: str) -> str:
    parent = os.path.dirname(rel)
    return parent.replace(os.sep, "/") if parent else "."


# ---------------------------------------------------------------------- building
@dataclass
class IndexReport:
    total: int = 0
    reused: int = 0
    computed: int = 0
    dropped: int = 0
    failed: List[Tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> Dict[str, Any]:
        return {"images": self.total, "reused": self.reused, "computed": self.computed,
                "dropped": self.dropped, "failed": [{"path": p, "problem": m} for p, m in self.failed],
                "seconds": round(self.seconds, 3),
                "seconds_per_computed_image": round(self.seconds / max(1, self.computed), 4)}


def build_index(root: str, previous: Optional[LibraryIndex] = None, *, colorspace: str = "auto",
                ocio_config: Optional[str] = None, device: str = "cpu", progress: bool = True, workers: int = 2,
                warn: Optional[Callable[[str], None]] = None) -> Tuple[LibraryIndex, IndexReport]:
    """Index every still under ``root``, reusing ``previous`` rows whose files are unchanged.

    Decoding runs on ``workers`` threads one batch ahead of the network (OpenImageIO and
    OpenCV release the GIL). Unreadable or greyscale images go to ``warn`` (one line each) and the report.
    """
    import time

    from ..render import ProgressBar
    from ..correspond.features import load_mobilenetv2

    t0 = time.time()
    warn = warn or (lambda m: print(f"nuke-colorize: skipped: {m}", file=sys.stderr, flush=True))
    root = os.path.abspath(os.path.expanduser(root))
    if not os.path.isdir(root):
        raise InputError("library folder not found", file=root)
    color.check_ocio_config(ocio_config)
    color.check_colorspace(colorspace, ocio_config)
    old: Dict[str, Tuple[Entry, int]] = {}
    if previous is not None:
        old = {e.path: (e, i) for i, e in enumerate(previous.entries)}
    report = IndexReport()
    keep: List[Tuple[Entry, Dict[str, np.ndarray]]] = []
    todo: List[Tuple[str, str, Optional[os.stat_result]]] = []
    seen = set()
    left_out: List[str] = []
    for path, st in scan_stills(root, left_out):
        rel = os.path.relpath(path, root)
        seen.add(path)
        prev = old.get(path)
        if st is not None and prev is not None and prev[0].size == st.st_size \
                and prev[0].mtime_ns // 1000 == st.st_mtime_ns // 1000:   # as file_identity
            e, i = prev
            keep.append((e, {k: previous.parts[k][i] for k in D.shapes()}))
            report.reused += 1
        else:
            todo.append((path, rel, st))
    report.dropped = sum(1 for p in old if p not in seen)
    if left_out:
        kinds = sorted({os.path.splitext(p)[1].lower() for p in left_out})
        warn(f"{len(left_out)} photograph(s) in a format not read here ({', '.join(kinds)}; e.g. {left_out[0]}) "
             f"left out: convert them to JPEG, PNG or TIFF to index them")

    computed: List[Tuple[Entry, Dict[str, np.ndarray]]] = []
    if todo:
        net = load_mobilenetv2(device)
        bar = ProgressBar(len(todo), enabled=progress)

        def load(item):
            path, rel, st = item
            try:
                L, w, h = still_L(path, colorspace, ocio_config=ocio_config)
                return item, (L, w, h), None
            except ColorizeError as err:
                return item, None, err.problem
            except (OSError, ValueError, MemoryError) as err:  # a reader failing in its own way
                return item, None, f"cannot read: {err}"

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            ahead = [pool.submit(load, item) for item in todo[:BATCH]]
            for b in range(0, len(todo), BATCH):
                current = ahead   # the next batch decodes while this one runs through the network
                ahead = [pool.submit(load, item) for item in todo[b + BATCH:b + 2 * BATCH]]
                batch = [f.result() for f in current]
                good = [(item, data) for item, data, _ in batch if data is not None]
                for (path, _, _), _, problem in batch:
                    if problem is not None:
                        warn(f"{path}: {problem}")
                        report.failed.append((path, problem))
                descs = D.describe_L(net, [data[0] for _, data in good], device) if good else []
                for ((path, rel, st), (L, w, h)), d in zip(good, descs):
                    st = st or os.stat(path)
                    computed.append((Entry(path=path, rel=rel, group=_group(rel), size=st.st_size,
                                           mtime_ns=st.st_mtime_ns, width=w, height=h), d))
                for n, ((path, _, _), _, _) in enumerate(batch):
                    bar.step(b + n + 1)
        report.computed = len(computed)
    rows = sorted(keep + computed, key=lambda r: r[0].path)
    index = LibraryIndex(root=root, entries=[e for e, _ in rows], parts=D.stack([d for _, d in rows]),
                         colorspace=colorspace, ocio_config=ocio_config)
    report.total = len(index)
    report.seconds = time.time() - t0
    return index, report


def update_index(root: str, index_path: str, **kw: Any) -> Tuple[LibraryIndex, IndexReport]:
    """Build or incrementally refresh the index at ``index_path`` for ``root`` and save it.

    An existing index of another root or version is rebuilt from scratch (with a note); any
    other existing file at ``index_path`` (a still, a shot file: a mistyped ``-o``) is
    refused, never written over, and so is a folder. A first index of a folder holding no
    still (a mistyped folder) is refused, and so is one whose every still fails (saying so, not
    that the folder holds none); an index whose folder was emptied is updated."""
    index_path = os.path.abspath(os.path.expanduser(index_path))
    color.check_ocio_config(kw.get("ocio_config"))
    color.check_colorspace(kw.get("colorspace", "auto"), kw.get("ocio_config"))
    previous = None
    kept = 0   # stills of the index there now (an empty index never replaces them)
    if os.path.isdir(index_path):
        raise InputError("the index to write is a folder", file=index_path,
                         hint="give the index a file name of its own, e.g. -o library.ncindex")
    if os.path.exists(index_path):
        try:
            previous = LibraryIndex.load(index_path)
        except StaleIndexError as err:
            print(f"nuke-colorize: note: {err}; rebuilding", file=sys.stderr)
        except InputError:
            raise InputError("exists and is not a library index: not written over", file=index_path,
                             hint="choose another -o, or remove the file if it is a damaged index") from None
        kept = len(previous) if previous is not None else 0
        if previous is not None and previous.root != os.path.abspath(os.path.expanduser(root)):
            print(f"nuke-colorize: note: {index_path} indexed {previous.root}; rebuilding for {root}",
                  file=sys.stderr)
            previous = None
        wanted = (kw.get("colorspace", "auto"), kw.get("ocio_config"))
        if previous is not None and (previous.colorspace, previous.ocio_config) != wanted:
            print(f"nuke-colorize: note: {index_path} read the stills as {previous.colorspace}; "
                  f"recomputing every still as {wanted[0]}", file=sys.stderr)
            previous = None
    index, report = build_index(root, previous, **kw)
    if not len(index) and report.failed and kept:
        path, problem = report.failed[0]
        raise InputError(f"every still failed ({len(report.failed)}, e.g. {path}: {problem}); the index "
                         f"there with {kept} still(s) is kept, not replaced by an empty one", file=index_path,
                         hint="check --colorspace / --ocio-config and the stills, then index again")
    if not len(index) and report.failed:
        path, problem = report.failed[0]
        raise InputError(f"every still failed ({len(report.failed)}, e.g. {path}: {problem}): no index "
                         f"written", file=root, hint="check --colorspace / --ocio-config and the stills")
    if not len(index) and not kept:
        raise InputError(f"no stills in the folder ({', '.join(STILL_EXTS)}): no index written",
                         file=root, hint="give the folder that holds the colour stills")
    index.save(index_path)
    return index, report
