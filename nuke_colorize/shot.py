"""A shot description: the JSON file pipeline tools write by hand, and its Python object.

Example (every key but ``plate`` and ``references`` is optional)::

    {"plate": "/shots/a/plate.####.exr", "frames": [1001, 1100], "colorspace": "auto",
     "references": [{"frame": 1001, "image": "/refs/a_1001.png"}, {"image": "/refs/still.jpg"}],
     "backend": "exemplar", "settings": {"max_working_size": 960},
     "output": "/shots/a/colour.####.exr", "cache": "/shots/a/colorize_cache"}

Keys (see :data:`SHOT_KEYS`): ``plate`` pattern or movie; ``frames`` [first, last] (default: the
plate's frames on disk); ``references`` list of ``{"image": path}`` (a still) or ``{"frame": N,
"image": path}`` (a colour version of plate frame N, a keyframe), each optionally with its
own ``"colorspace"``; ``backend`` and its
``settings``; ``colorspace`` / ``ref_colorspace`` / ``out_colorspace`` (as ``render``);
``ocio_config`` (the OCIO config, a file or an ``ocio://`` URI, that the OCIO colourspace names
among them belong to; default ``$OCIO``, else OpenImageIO's built-in config); ``device``;
``output`` pattern (default ``<cache>/output/colour.####.exr``);
``confidence_output`` pattern; ``confidence_layer`` (add ``confidence.Y`` to the output);
``out_depth`` / ``out_compression`` (the output's pixel depth and compression, as ``render
--out-depth`` / ``--out-compression``; :mod:`nuke_colorize.io.encoding`; not part of the key);
``library`` (a library index: automatic references, each scene colourised with its
``auto_references`` best stills, default 3; ``references`` may then be left out);
``saturation``; ``temporal_smoothing`` (strength of the flow-guided chroma smoothing, 0 = off;
default 1 with ``library`` and no keyframe reference, else 0);
``matte`` pattern (instance IDs, read as :mod:`nuke_colorize.io.matte` says); ``cache`` folder
(default ``<shot file folder>/<shot file name>_cache``); ``content_hash`` (identify plate and
reference files by SHA-256 instead of name, size and mtime); ``threads`` (the fixed CPU thread
count of the determinism rule, default 1); ``name``.

Unknown keys are an error (a typo must not be ignored silently). Relative paths are relative to
the shot file's folder; ``~`` is expanded.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .engine import Segment, plan_segments
from .errors import InputError
from .host.portable import resolve as resolve_path
from .shot_paths import default_cache, default_output

SHOT_KEYS = ("plate", "frames", "references", "backend", "settings", "colorspace", "ref_colorspace",
             "out_colorspace", "device", "output", "confidence_output", "confidence_layer",
             "saturation", "matte", "cache", "content_hash", "threads", "name", "temporal_smoothing",
             "library", "auto_references", "ocio_config", "out_depth", "out_compression")
REFERENCE_KEYS = ("frame", "image", "colorspace")
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_THREADS = 1
#: how :meth:`Shot.key` and the cache's frame identities name input files: 1 by resolved path,
#: size and mtime (ns); 2 by name, size and mtime (us) or SHA-256, wherever they are mounted
KEY_FORMAT = 2
#: description keys holding paths, left out of :meth:`Shot.key` (see :meth:`Shot.key_description`)
PATH_KEYS = ("plate", "cache", "output", "confidence_output", "matte", "library", "ocio_config")
#: description keys of the output files' encoding, left out of :meth:`Shot.key`: no cached data
#: depends on them (the cache's output records keep them, :mod:`nuke_colorize.cache.outputs`)
ENCODING_KEYS = ("out_depth", "out_compression")


@dataclass(frozen=True)
class ShotReference:
    """A reference: ``image`` (absolute path) colours plate frame ``frame`` (keyframe) or is a
    still (``frame`` None); ``colorspace`` is its own (None: the shot's ``ref_colorspace``)."""

    image: str
    frame: Optional[int] = None
    colorspace: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"image": self.image} if self.frame is None else {"frame": self.frame, "image": self.image}
        if self.colorspace is not None:
            d["colorspace"] = self.colorspace
        return d


@dataclass
class Shot:
    """One shot, paths absolute. Build with :meth:`load`, :meth:`from_dict` or :meth:`implied`."""

    plate: str
    frames: Tuple[int, int]
    references: List[ShotReference]
    cache: str
    output: str
    backend: str = "exemplar"
    settings: Dict[str, Any] = field(default_factory=dict)
    colorspace: str = "auto"
    ref_colorspace: str = "auto"
    out_colorspace: str = "auto"
    device: str = "auto"
    matte: Optional[str] = None
    confidence_output: Optional[str] = None
    confidence_layer: bool = False
    saturation: float = 1.0
    temporal_smoothing: float = 0.0
    content_hash: bool = False
    threads: int = DEFAULT_THREADS
    name: str = ""
    path: Optional[str] = None   # the file it was read from (None for implied shots)
    library: Optional[str] = None   # library index: automatic references per scene
    auto_references: int = 0        # stills per scene with ``library``
    ocio_config: Optional[str] = None   # OCIO config file or ocio:// URI (None: $OCIO / built-in)
    out_depth: str = "auto"             # output pixel depth (nuke_colorize.io.encoding.DEPTHS)
    out_compression: Optional[str] = None   # output compression (None: the format's default)
    job_metadata: Dict[str, str] = field(default_factory=dict, repr=False, compare=False)  # output attributes

    # ------------------------------------------------------------------ reading
    @classmethod
    def load(cls, path: str, check_files: bool = True) -> "Shot":
        """Read and validate a shot file. Raises :class:`InputError` naming the file.
        ``check_files`` False: the ``ocio_config`` file is not looked for (a farm submitting
        for machines that see it at another path; see :meth:`from_dict`)."""
        path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        if not os.path.isfile(path):
            raise InputError("shot file not found", file=path,
                             hint="give the shot description JSON (see README: Shot cache)")
        try:
            with open(path, "r", encoding="utf-8") as fh:
                data = json.load(fh)
        except ValueError as exc:
            raise InputError(f"shot file is not valid JSON: {exc}", file=path) from None
        except RecursionError:
            raise InputError("shot file is not a shot description (JSON nested too deeply)", file=path) from None
        except OSError as exc:
            raise InputError(f"cannot read shot file: {exc.strerror or exc}", file=path) from None
        return cls.from_dict(data, os.path.dirname(path), path=path, check_files=check_files)

    @classmethod
    def from_dict(cls, data: Any, base_dir: str, path: Optional[str] = None,
                  check_files: bool = True) -> "Shot":
        """Validate a decoded shot description; relative paths are taken from ``base_dir``.
        With ``check_files`` (the default) the ``ocio_config`` file must load here."""
        where = path or "shot description"
        if not isinstance(data, dict):
            raise InputError("a shot description must be a JSON object", file=where)
        unknown = sorted(set(data) - set(SHOT_KEYS))
        if unknown:
            raise InputError(f"unknown key(s) {unknown} in the shot description", file=where,
                             hint=f"known keys: {', '.join(SHOT_KEYS)}")
        base_dir = os.path.abspath(base_dir)

        def p(key: str, required: bool = False) -> Optional[str]:
            value = data.get(key)
            if value is None:
                if required:
                    raise InputError(f"the shot description needs '{key}'", file=where)
                return None
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"'{key}' must be a path (non-empty string), got {value!r}", file=where)
            return resolve_path(value, base_dir)

        frames = _frames(data["frames"], "", where) if data.get("frames") is not None else None
        plate = p("plate", required=True)
        if frames is None:
            frames = _frames(None, plate, where)   # the plate's frames on disk
        library = p("library")
        auto_references = _auto_references(data, library, where)
        refs = _references(data.get("references"), base_dir, frames, where, allow_empty=library is not None)
        backend = _string(data, "backend", "exemplar", where)
        settings = _settings(data.get("settings"), backend, where)
        device = _string(data, "device", "auto", where)
        if device not in DEVICES:
            raise InputError(f"'device' must be one of {list(DEVICES)}, got {device!r}", file=where)
        cache = p("cache") or default_cache(path, base_dir)
        output = p("output") or default_output(cache)
        from .color import check_saturation
        saturation = check_saturation(data.get("saturation", 1.0), "'saturation'", where)
        from .temporal import check_strength, default_strength
        if "temporal_smoothing" in data:     # given (null included: refused as not a number)
            smoothing = check_strength(data["temporal_smoothing"], "'temporal_smoothing'", where)
        else:   # automatic-mode shots without a keyframe: on (see the README)
            smoothing = default_strength(bool(library), any(r.frame is not None for r in refs))
        ocio_config = data.get("ocio_config")
        if ocio_config is not None:
            if not isinstance(ocio_config, str) or not ocio_config.strip():
                raise InputError(f"'ocio_config' must be a config file or an ocio:// URI, got {ocio_config!r}",
                                 file=where)
            ocio_config = ocio_config.strip()
            if not ocio_config.startswith("ocio://"):
                ocio_config = resolve_path(ocio_config, base_dir)
            if check_files:
                from .color import check_ocio_config
                check_ocio_config(ocio_config, file=where)
        threads = data.get("threads", DEFAULT_THREADS)
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise InputError(f"'threads' must be an integer >= 1, got {threads!r}", file=where)
        from .io.encoding import check_encoding
        encoding = check_encoding(output, data.get("out_depth"), data.get("out_compression"), file=where,
                                  depth_what="'out_depth'", compression_what="'out_compression'")
        return cls(plate=plate, frames=frames, references=refs, cache=cache, output=output,
                   backend=backend, settings=settings,
                   colorspace=_string(data, "colorspace", "auto", where),
                   ref_colorspace=_string(data, "ref_colorspace", "auto", where),
                   out_colorspace=_string(data, "out_colorspace", "auto", where),
                   device=device, matte=p("matte"), confidence_output=p("confidence_output"),
                   confidence_layer=_bool(data, "confidence_layer", where),
                   saturation=float(saturation), temporal_smoothing=smoothing,
                   content_hash=_bool(data, "content_hash", where),
                   threads=threads, name=_string(data, "name", "", where), path=path,
                   library=library, auto_references=auto_references, ocio_config=ocio_config,
                   out_depth=encoding.depth, out_compression=encoding.compression)

    @classmethod
    def implied(cls, plate: str, references: Sequence[Tuple[Optional[int], str]], output: str,
                cache: str, frames: Optional[Tuple[int, int]] = None, base_dir: str = ".",
                **options: Any) -> "Shot":
        """The shot of a plain ``render --plate ... --ref ... --out ... --cache DIR`` call.

        ``frames`` None covers every plate frame on disk, so a render of any subset in any
        order sees the same segments as a render of the whole plate. ``options`` are other
        shot keys (``backend``, ``settings``, ``colorspace``...).
        """
        data: Dict[str, Any] = {"plate": plate, "output": output, "cache": cache,
                                "references": [{"image": img} if fr is None else {"frame": fr, "image": img}
                                               for fr, img in references]}
        if frames is not None:
            data["frames"] = [int(frames[0]), int(frames[1])]
        data.update({k: v for k, v in options.items() if v is not None})
        return cls.from_dict(data, base_dir)

    # ------------------------------------------------------------------ views
    def to_dict(self) -> Dict[str, Any]:
        """The description with absolute paths (what :meth:`from_dict` reads back)."""
        d: Dict[str, Any] = {"plate": self.plate, "frames": list(self.frames),
                             "references": [r.to_dict() for r in self.references],
                             "backend": self.backend, "settings": dict(self.settings),
                             "colorspace": self.colorspace, "ref_colorspace": self.ref_colorspace,
                             "out_colorspace": self.out_colorspace, "device": self.device,
                             "output": self.output, "confidence_layer": self.confidence_layer,
                             "saturation": self.saturation, "cache": self.cache,
                             "content_hash": self.content_hash, "threads": self.threads}
        for k in ("matte", "confidence_output", "name", "ocio_config"):
            if getattr(self, k):
                d[k] = getattr(self, k)
        if self.temporal_smoothing or self.library:   # explicit where its default is not 0
            d["temporal_smoothing"] = self.temporal_smoothing
        if self.library:
            d.update(library=self.library, auto_references=self.auto_references)
        if self.out_depth != "auto":   # explicit only when chosen: descriptions stay as they were
            d["out_depth"] = self.out_depth
        if self.out_compression is not None:
            d["out_compression"] = self.out_compression
        return d

    def frame_list(self) -> List[int]:
        return list(range(self.frames[0], self.frames[1] + 1))

    @property
    def keyframes(self) -> List[int]:
        return sorted(r.frame for r in self.references if r.frame is not None)

    def segments(self) -> List[Segment]:
        """The engine's chains for this shot (:func:`nuke_colorize.engine.plan_segments`)."""
        return plan_segments(self.frame_list(), self.keyframes)

    def check_plate(self) -> None:
        """Refuse a plate sequence that lacks a frame of the shot, naming the first one, before
        the frame list is made (a mistyped ``frames`` can span millions of frames)."""
        from .io.plate import check_frame_range
        check_frame_range(self.plate, *self.frames)

    def job(self):
        """The :class:`nuke_colorize.render.RenderJob` this shot renders; a plate frame missing or
        a colourspace name that does not convert (its keys named) is refused."""
        from .render import RefSpec, RenderJob, check_colorspaces, check_output_encoding
        self.check_plate()
        check_colorspaces(self, self.path)   # named as the file's keys, before anything is read
        encoding = check_output_encoding(self, self.path)
        return RenderJob(plate=self.plate, frames=self.frame_list(),
                         references=[RefSpec(path=r.image, frame=r.frame, colorspace=r.colorspace)
                                     for r in self.references],
                         output=self.output, colorspace=self.colorspace, ref_colorspace=self.ref_colorspace,
                         out_colorspace=self.out_colorspace, backend=self.backend,
                         settings=dict(self.settings), device=self.device,
                         confidence_out=self.confidence_output, confidence_layer=self.confidence_layer,
                         matte=self.matte, saturation=self.saturation, temporal_smoothing=self.temporal_smoothing,
                         library=self.library, auto_references=self.auto_references,
                         ocio_config=self.ocio_config, metadata=dict(self.job_metadata),
                         out_depth=encoding.depth, out_compression=encoding.compression)

    def display_name(self) -> str:
        if self.name:
            return self.name
        if self.path:
            return os.path.splitext(os.path.basename(self.path))[0]
        return os.path.basename(self.plate)

    # ------------------------------------------------------------------ identity
    def file_identity(self, path: str) -> str:
        """Identity of one input file (:func:`nuke_colorize.io.file_identity`): ``sha256:<hex>``
        with ``content_hash``, else ``name|size|mtime_us``, wherever its storage is mounted. A
        missing file is an :class:`InputError`."""
        from .io import file_identity
        try:
            st = os.stat(path)
            return file_identity(path, self.content_hash, st)
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", file=path) from None

    def key(self, settings_key: Optional[Dict[str, Any]] = None,
            plate_ids: Optional[Sequence[str]] = None,
            reference_keys: Optional[Sequence[str]] = None) -> str:
        """Stable 20-hex-digit key of everything that defines this shot's result.

        Hashes the description without its paths (:meth:`key_description`), the identity of
        every plate frame (``plate_ids`` when the caller has them, in frame order), reference
        image, matte frame and library index (:meth:`file_identity`: name, size and mtime, or
        SHA-256), the OCIO config's content, the backend's ``settings_key`` (class defaults
        merged with ``settings`` when not given: the cache passes the live backend's, which for
        deepexemplar also names the weights) and the package version; with ``reference_keys``
        (the prepared references' :attr:`~nuke_colorize.backends.base.Reference.key`, which the
        cache passes) also the references' pixels, which the segments are keyed by: a reference
        repainted with the same size and mtime must not leave the outputs of its old pixels
        counted current. Any change to any of them
        gives another key; where the storage is mounted, and where the cache and outputs are
        written, do not.
        """
        from . import __version__
        from .io import PlateSource
        if plate_ids is None:
            self.check_plate()
            with PlateSource(self.plate, self.frame_list()) as src:
                plate_ids = [src.identity(f, self.content_hash) for f in src.frames]
        matte_ids: List[str] = []
        if self.matte:   # frames may lack a matte (as in _Context.frame_identity): "absent"
            from .io import frame_path
            paths = [frame_path(self.matte, f) for f in self.frame_list()]
            matte_ids = [self.file_identity(p) if os.path.exists(p) else "absent" for p in paths]
        body = {"format": KEY_FORMAT, "version": __version__, "shot": self.key_description(),
                "plate": list(plate_ids), "matte": matte_ids,
                "references": [self.file_identity(r.image) for r in self.references],
                **({"reference_keys": list(reference_keys)} if reference_keys is not None else {}),
                "library": self.file_identity(self.library) if self.library else None,
                **self._ocio_identity(),
                "backend": settings_key if settings_key is not None else class_settings_key(
                    self.backend, self.settings)}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]

    def key_description(self) -> Dict[str, Any]:
        """:meth:`to_dict` without the paths, for :meth:`key`: the input files are identified by
        what they are (their identities, beside it in the key), not by where their storage is
        mounted; the cache folder and the output patterns say where results go, not what they
        are (outputs are always rewritten; no cached data depends on them), and so does the
        outputs' encoding (:data:`ENCODING_KEYS`: a shot's key, and its cache, stay the same
        whatever the output's depth and compression)."""
        d = self.to_dict()
        for k in PATH_KEYS + ENCODING_KEYS:
            d.pop(k, None)
        d["references"] = [{k: v for k, v in r.items() if k != "image"} for r in d["references"]]
        d["matte"] = bool(self.matte)
        return d

    def uses_ocio(self) -> bool:
        """True when a colourspace of the shot is an OCIO name (not auto/linear/srgb/rec709/cineon)."""
        from .color import names_ocio
        return names_ocio([self.colorspace, self.ref_colorspace, self.out_colorspace] +
                          [r.colorspace for r in self.references])

    def _ocio_identity(self) -> Dict[str, Any]:
        """The key's entry for the OCIO config the shot's OCIO names go through: a file's
        content and that of the LUT files it reads (SHA-256, :mod:`nuke_colorize.host.ocio_files`:
        the same config at another path or with another mtime, as Nuke's own configs on each
        farm machine, gives the same key; an edited LUT another), a URI as such; ``$OCIO``'s
        when the shot names none; nothing when no OCIO name is used (shots without OCIO
        keep their key)."""
        if not self.uses_ocio():
            return {}
        config = self.ocio_config or os.environ.get("OCIO") or ""
        if config and not config.startswith("ocio://") and os.path.isfile(config):
            from .host.ocio_files import config_identity
            identity = config_identity(config, "sha256")
            if identity:
                return {"ocio": identity}
        return {"ocio": config}

    def save(self, path: str) -> str:
        """Write the description (absolute paths) atomically; returns the path."""
        from .io import atomic_write_text
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path


def class_settings_key(backend: str, settings: Dict[str, Any]) -> Dict[str, Any]:
    """A backend's ``settings_key`` without building it (no network is loaded)."""
    from .backends import backend_settings
    cls = backend_settings(backend)
    merged = dict(cls.default_settings())
    merged.update(settings)
    return {"backend": cls.name, "version": getattr(cls, "version", "1"), "settings": merged}


# ---------------------------------------------------------------------- validation helpers
def _string(data: Dict[str, Any], key: str, default: str, where: str) -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InputError(f"'{key}' must be a string, got {value!r}", file=where)
    return value


def _bool(data: Dict[str, Any], key: str, where: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise InputError(f"'{key}' must be true or false, got {value!r}", file=where)
    return value


def _int(value: Any, what: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{what} must be an integer, got {value!r}", file=where)
    return int(value)


MAX_FRAME = 10 ** 9   # frame numbers are within -MAX_FRAME < f < MAX_FRAME


def _frames(value: Any, plate: str, where: str) -> Tuple[int, int]:
    if value is None:
        from .io import PlateSource
        with PlateSource(plate) as src:
            return int(src.frames[0]), int(src.frames[-1])
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise InputError(f"'frames' must be [first, last], got {value!r}", file=where)
    first, last = (_int(v, "'frames'", where) for v in value)
    for v in (first, last):
        if not -MAX_FRAME < v < MAX_FRAME:
            raise InputError(f"'frames' {v} is out of range: frame numbers are within "
                             f"-{MAX_FRAME - 1}..{MAX_FRAME - 1}", file=where,
                             hint="give the plate's first and last frame, e.g. [1001, 1100]")
    if first > last:
        raise InputError(f"'frames' first {first} is after last {last}", file=where)
    return first, last


def _auto_references(data: Dict[str, Any], library: Optional[str], where: str) -> int:
    """``auto_references`` (default 3 with a ``library``, refused without one)."""
    value = data.get("auto_references")
    if library is None:
        if value is not None:
            raise InputError("'auto_references' needs 'library' (a library index)", file=where)
        return 0
    k = 3 if value is None else value
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 64:
        raise InputError(f"'auto_references' must be an integer from 1 to 64, got {value!r}", file=where)
    return k


def _references(value: Any, base_dir: str, frames: Tuple[int, int], where: str,
                allow_empty: bool = False) -> List[ShotReference]:
    if allow_empty and (value is None or value == []):
        return []
    if not isinstance(value, list) or not value:
        raise InputError("'references' must be a non-empty list", file=where,
                         hint='e.g. [{"frame": 1001, "image": "ref_1001.png"}, {"image": "still.jpg"}]')
    refs: List[ShotReference] = []
    seen: Dict[int, Tuple[str, int]] = {}
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise InputError(f"reference #{i + 1} must be an object with 'image' (and 'frame')", file=where)
        unknown = sorted(set(item) - set(REFERENCE_KEYS))
        if unknown:
            raise InputError(f"unknown key(s) {unknown} in reference #{i + 1}", file=where,
                             hint="a reference has 'image', for a keyframe 'frame', and may have "
                                  "'colorspace' (its own, instead of the shot's 'ref_colorspace')")
        image = item.get("image")
        if not isinstance(image, str) or not image.strip():
            raise InputError(f"reference #{i + 1} needs 'image' (a path)", file=where)
        frame = item.get("frame")
        if frame is not None:
            frame = _int(frame, f"reference #{i + 1} 'frame'", where)
            if not frames[0] <= frame <= frames[1]:
                raise InputError(f"reference frame {frame} is outside the shot's frames "
                                 f"{frames[0]}-{frames[1]}", file=where, frame=frame,
                                 hint="give it as a still (no 'frame') or widen 'frames'")
            if frame in seen:
                first, at = seen[frame]
                raise InputError(f"two references for frame {frame}: {first} (reference #{at}) and "
                                 f"{image.strip()} (reference #{i + 1})",
                                 file=where, frame=frame, hint="give one reference per frame; another "
                                                               "image can be a still, without 'frame'")
            seen[frame] = (image.strip(), i + 1)
        cs = item.get("colorspace")
        if cs is not None and (not isinstance(cs, str) or not cs.strip()):
            raise InputError(f"reference #{i + 1} 'colorspace' must be a colourspace name, got {cs!r}",
                             file=where, hint="auto|linear|srgb|rec709|cineon or an OCIO name")
        refs.append(ShotReference(image=resolve_path(image, base_dir), frame=frame,
                                  colorspace=cs.strip() if cs is not None else None))
    return refs


def _settings(value: Any, backend: str, where: str) -> Dict[str, Any]:
    from .backends import backend_settings
    try:
        declared = backend_settings(backend).default_settings()
    except InputError as err:
        raise InputError(err.problem, file=where, hint=err.hint) from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"'settings' must be an object, got {value!r}", file=where)
    unknown = sorted(set(value) - set(declared))
    if unknown:
        raise InputError(f"unknown setting(s) {unknown} for backend '{backend}'", file=where,
                         hint=f"known: {', '.join(sorted(declared))}")
    return dict(value)
