"""Automatic references: split a shot at scene cuts and retrieve stills for each scene.

``plan_scenes`` reads the plate's luminance, finds the cuts (:mod:`nuke_colorize.scenecut`)
and ranks the library's stills against :data:`SAMPLES` evenly spaced frames of each scene
(:mod:`.query`). ``run_auto_render`` renders each scene as its own job with the chosen stills
as external references (no frame); ``render_auto_shot`` does the same through the shot cache,
one cache per scene under ``<cache>/scenes/<first>-<last>``, with the plan kept in
``<cache>/auto_references.json`` (reused while the shot's key is unchanged).

Every output frame records what was chosen for its scene in the string attribute
``nuke_colorize:auto_references`` (JSON: library, scene, references with scores) beside the
usual ``nuke_colorize:references``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..color import COLORSPACES, names_ocio
from ..cache.shotcache import PLAN_FILE, SCENES_DIR, preparing
from ..errors import InputError
from . import descriptors as D
from .index import LibraryIndex
from .query import Match, rank

SAMPLES = 5
METADATA_KEY = "nuke_colorize:auto_references"
PLAN_FORMAT = 2   # 2: stills relative to the library index's folder where they share its storage
PLAN_FORMATS = (1, 2)   # 1: absolute still paths


@dataclass
class ScenePlan:
    """One scene (inclusive frame range), the frames it was queried with and its stills."""

    first: int
    last: int
    query_frames: List[int]
    matches: List[Match] = field(default_factory=list)

    def frames(self) -> List[int]:
        return list(range(self.first, self.last + 1))

    def to_dict(self) -> Dict[str, Any]:
        return {"frames": [self.first, self.last], "query_frames": list(self.query_frames),
                "references": [m.to_dict() for m in self.matches]}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "ScenePlan":
        return cls(first=int(d["frames"][0]), last=int(d["frames"][1]),
                   query_frames=[int(f) for f in d["query_frames"]],
                   matches=[Match(path=r["image"], score=float(r["score"]), group=r.get("group", ""),
                                  parts=dict(r.get("parts", {})), coverage=r.get("coverage"))
                            for r in d["references"]])

    def metadata(self, library: str) -> Dict[str, str]:
        """Output attribute recording this scene's choice."""
        return {METADATA_KEY: json.dumps({"library": library, "scene": [self.first, self.last],
                                          "references": [{"image": m.path, "score": round(m.score, 4)}
                                                         for m in self.matches]})}


def sample_frames(frames: Sequence[int], n: int = SAMPLES) -> List[int]:
    """``n`` evenly spaced frames of a scene, first and last included (fewer if it is short)."""
    frames = list(frames)
    idx = sorted({int(round(i)) for i in np.linspace(0, len(frames) - 1, min(n, len(frames)))})
    return [frames[i] for i in idx]


def check_count(k: Any, what: str = "--auto-references") -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 64:
        raise InputError(f"{what} must be a whole number of references from 1 to 64, got {k!r}",
                         hint="e.g. 3")
    return int(k)


def plan_scenes(luma: Callable[[int], np.ndarray], frames: Sequence[int], index: LibraryIndex, k: int, *,
                device: str = "cpu", exclude_groups: Optional[Collection[str]] = None,
                samples: int = SAMPLES) -> Tuple[List[ScenePlan], np.ndarray]:
    """Scenes of ``frames`` and the ``k`` best stills for each.

    ``luma(frame)`` -> (H, W) linear luminance. Returns (plans, per-frame change (T,))."""
    from ..correspond.features import load_mobilenetv2
    from ..scenecut import detect_scenes

    if not len(index):
        raise InputError("the library index holds no images", hint="index a folder of colour stills")
    scenes, changes = detect_scenes(luma, list(frames))
    net = load_mobilenetv2(device)
    plans = []
    for first, last in scenes:
        scene_frames = [f for f in frames if first <= f <= last]
        picks = sample_frames(scene_frames, samples)
        Ls = [D.small_L_from_linear_y(luma(f)) for f in picks]
        matches = rank(index, D.describe_L(net, Ls, device), top=k, exclude_groups=exclude_groups)
        plans.append(ScenePlan(first=first, last=last, query_frames=picks, matches=matches))
    return plans, changes


# ---------------------------------------------------------------------- render (no cache)
def _plate_luma(job, warn):
    from ..io import PlateSource
    from ..render import PlateLuma

    source = PlateSource(job.plate, job.frames)
    return source, PlateLuma(source, job.colorspace, warn, job.ocio_config)


def plan_for_job(job, warn: Callable[[str], None]) -> List[ScenePlan]:
    """Scenes and stills for a :class:`~nuke_colorize.render.RenderJob` with a library."""
    from ..pipeline import resolve_device

    index = LibraryIndex.load(job.library).check_root(job.library)
    source, luma = _plate_luma(job, warn)
    try:
        plans, _ = plan_scenes(luma, job.frames, index, check_count(job.auto_references),
                               device=resolve_device(job.device))
    finally:
        source.close()
    return plans


def check_stills_exist(plan: ScenePlan, library: str) -> None:
    """InputError when a still the scene's plan chose is no longer where the index names it
    (removed or renamed since it was indexed): the render failed on it with a bare "file does
    not exist", not saying that it came from the library or what to do."""
    for m in plan.matches:
        if not os.path.isfile(m.path):
            raise InputError(f"the library chose the still {m.path} for scene {plan.first}-{plan.last}, but it "
                             f"no longer exists (removed or renamed since the index was built)", file=library,
                             hint="index the library again (nuke-colorize library index DIR -o INDEX), then render")


def scene_references(job_refs, plan: ScenePlan, colorspace: str = "auto"):
    """The user's own references that belong to the scene (keyframes inside it, every still)
    followed by the retrieved stills, read in the colourspace they were indexed in."""
    from ..render import RefSpec

    own = [r for r in job_refs if r.frame is None or plan.first <= r.frame <= plan.last]
    cs = None if colorspace == "auto" else colorspace
    return own + [RefSpec(path=m.path, colorspace=cs) for m in plan.matches]


def index_colorspace(library: str, ocio_config: Optional[str], warn: Callable[[str], None],
                     own_ocio_names: bool = True) -> Tuple[str, Optional[str]]:
    """(the colourspace a library's stills were indexed in, the OCIO config the render
    should convert through). A render without a config of its own whose own colourspaces
    are not OCIO names (``own_ocio_names`` False) reads the stills through the config they
    were indexed with, so a shot that uses OCIO only through its library (e.g. one written
    by the Nuke node, which hands over a config only for OCIO names it uses) reads them as
    they were indexed on any machine. Otherwise the render's config (or ``$OCIO``) stays,
    with a warning when the stills were indexed in another one."""
    colorspace, config = LibraryIndex.stills_colorspace(library)
    if colorspace in COLORSPACES or (config or None) == (ocio_config or None):
        return colorspace, ocio_config
    if ocio_config is None and config and not own_ocio_names:
        return colorspace, config
    warn(f"{library}: stills indexed as {colorspace} of OCIO config {config or '$OCIO'}; "
         f"this render converts through {ocio_config or '$OCIO'}")
    return colorspace, ocio_config


def _job_ocio_names(job) -> bool:
    """True when a colourspace the job names itself (plate, references, output) is an OCIO name."""
    return names_ocio([job.colorspace, job.ref_colorspace, job.out_colorspace] +
                      [r.colorspace for r in job.references])


def run_auto_render(job, wanted: Optional[Sequence[int]] = None, progress: bool = True,
                    warn: Optional[Callable[[str], None]] = None,
                    on_computed: Optional[Callable[[int], None]] = None) -> Dict[str, Any]:
    """``render --library INDEX --auto-references K`` without a cache: one render per scene."""
    from ..render import check_colorspaces, check_output_encoding, check_outputs, run_render

    warn = warn or (lambda m: print(f"nuke-colorize: note: {m}", file=sys.stderr))
    t0 = time.time()
    check_output_encoding(job)   # before anything is read (each scene's render checks it again)
    check_outputs(job, [job.plate] + [r.path for r in job.references])
    check_colorspaces(job)   # before the plate is read to plan the scenes
    plans = plan_for_job(job, warn)
    still_cs, config = index_colorspace(job.library, job.ocio_config, warn, _job_ocio_names(job))
    want = set(job.frames if wanted is None else wanted)
    summary: Dict[str, Any] = {"frames": 0, "computed": [], "outputs": [], "library": job.library,
                               "scenes": [p.to_dict() for p in plans]}
    for plan in plans:
        todo = [f for f in plan.frames() if f in want]
        if not todo:
            continue
        check_stills_exist(plan, job.library)
        sub = dataclasses.replace(job, frames=plan.frames(),
                                  references=scene_references(job.references, plan, still_cs),
                                  library=None, auto_references=0, ocio_config=config,
                                  metadata=dict(job.metadata, **plan.metadata(job.library)))
        if len(plans) > 1 and progress:
            warn(f"scene {plan.first}-{plan.last}: {len(plan.matches)} reference(s) from the library")
        part = run_render(sub, todo, progress=progress, warn=warn, on_computed=on_computed)
        summary["frames"] += part["frames"]
        summary["computed"] += part["computed"]
        summary["outputs"] += part["outputs"]
        for k in ("backend", "working_size", "plate_colorspace", "temporal_smoothing"):
            summary.setdefault(k, part.get(k))
    dt = time.time() - t0
    summary.update(seconds=round(dt, 3), seconds_per_frame=round(dt / max(1, summary["frames"]), 4),
                   references=[{"frame": r.frame, "image": r.path} for r in job.references])
    return summary


# ---------------------------------------------------------------------- shot cache
def _plan_scenes_on_disk(plans: Sequence[ScenePlan], library: str) -> List[Dict[str, Any]]:
    """The plan's scenes as the plan file keeps them: each still relative to the library index's
    folder where it shares the index's storage (as the index names it), else absolute; so the
    plan serves every machine that mounts the storage elsewhere, as the shot's key does."""
    from ..host.portable import relative_if_shared
    base = os.path.dirname(os.path.abspath(library))
    scenes = [p.to_dict() for p in plans]
    for scene in scenes:
        scene["references"] = [dict(r, image=relative_if_shared(r["image"], base)) for r in scene["references"]]
    return scenes


def stored_plan(shot, key: Optional[str] = None) -> Optional[List[ScenePlan]]:
    """The plan kept in ``<cache>/auto_references.json`` when it belongs to the shot as it is
    now (same shot key: ``key`` when the caller has it, else computed) and its stills are there
    on this machine, else None. Reads only."""
    from ..host.portable import resolve
    try:
        with open(os.path.join(shot.cache, PLAN_FILE), "r", encoding="utf-8") as fh:
            stored = json.load(fh)
        if stored.get("format") in PLAN_FORMATS and stored.get("shot_key") == (key or shot.key()):
            base = os.path.dirname(os.path.abspath(shot.library))
            plans = [ScenePlan.from_dict(s) for s in stored["scenes"]]
            for plan in plans:
                for m in plan.matches:
                    m.path = resolve(m.path, base)
            # a plan naming stills that are not here (format 1, absolute paths of a machine that
            # mounts the library elsewhere) is planned again: retrieval gives the same stills
            if all(os.path.isfile(m.path) for plan in plans for m in plan.matches):
                return plans
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def _shot_plan(shot, warn, events=None) -> List[ScenePlan]:
    """The shot's plan: the stored one while the shot's key matches, else planned now (cuts and
    retrieval) and stored. ``events`` (a callback, or None) gets ``preparing`` events for the
    shot's key ("identifying plate frames": each plate frame identified, with ``content_hash``
    read and hashed) and, only when the plan is made now, "planning automatic references"."""
    from ..io import atomic_write_text
    from ..pipeline import resolve_device

    with preparing(events, "identifying plate frames"):   # checks the plate's frames first
        key = shot.key()
    plans = stored_plan(shot, key)
    if plans is not None:
        return plans
    path = os.path.join(shot.cache, PLAN_FILE)
    with preparing(events, "planning automatic references"):
        job = shot.job()
        index = LibraryIndex.load(shot.library).check_root(shot.library)
        source, luma = _plate_luma(job, warn)
        try:
            plans, _ = plan_scenes(luma, job.frames, index, check_count(shot.auto_references, "'auto_references'"),
                                   device=resolve_device(job.device))
        finally:
            source.close()
    try:
        atomic_write_text(path, json.dumps({"format": PLAN_FORMAT, "shot_key": key, "library": shot.library,
                                            "scenes": _plan_scenes_on_disk(plans, shot.library)},
                                           indent=1) + "\n")
    except InputError as err:
        from ..errors import CacheError
        raise CacheError(f"cannot write the cache: {err.problem}", file=path) from None
    return plans


def scene_shots(shot, warn: Optional[Callable[[str], None]] = None, events=None):
    """[(ScenePlan, sub-shot)] of a shot with a library: each scene a shot of its own with the
    retrieved stills as references and its cache under ``<cache>/scenes/<first>-<last>``.
    ``events``: as :func:`_shot_plan` says."""
    warn = warn or (lambda m: print(f"nuke-colorize: note: {m}", file=sys.stderr))
    return _scene_shots(shot, _shot_plan(shot, warn, events))


def _scene_shots(shot, plans: Sequence[ScenePlan]):
    from ..shot import Shot

    still_cs, config = index_colorspace(shot.library, shot.ocio_config, lambda m: None, shot.uses_ocio())
    out = []
    for plan in plans:
        d = shot.to_dict()
        d.pop("library", None)
        d.pop("auto_references", None)
        d["frames"] = [plan.first, plan.last]
        d["references"] = [r.to_dict() for r in shot.references
                           if r.frame is None or plan.first <= r.frame <= plan.last] \
            + [dict({"image": r.path}, **({"colorspace": r.colorspace} if r.colorspace else {}))
               for r in scene_references([], plan, still_cs)]
        d["cache"] = os.path.join(shot.cache, SCENES_DIR, f"{plan.first}-{plan.last}")
        if config is not None:
            d["ocio_config"] = config
        sub = Shot.from_dict(d, os.path.dirname(shot.path or shot.cache), path=shot.path)
        sub.job_metadata = plan.metadata(shot.library)
        out.append((plan, sub))
    return out


def render_auto_shot(shot, wanted: Optional[Sequence[int]] = None, write_outputs: bool = True,
                     progress: bool = False, events=None) -> Dict[str, Any]:
    """``render --shot`` / ``cache build`` of a shot with ``library``: each scene through its
    own shot cache. Returns the summary of the whole shot (``scenes`` lists the choices)."""
    from ..cache import ShotCache

    t0 = time.time()
    lo, hi = shot.frames
    if wanted is not None:
        outside = sorted(f for f in wanted if not lo <= f <= hi)
        if outside:
            raise InputError(f"frame {outside[0]} is outside the shot's frames {lo}-{hi}",
                             file=shot.path, frame=outside[0])
    pairs = scene_shots(shot, events=events)   # checks the plate's frames first (the shot's key)
    want = set(range(lo, hi + 1) if wanted is None else wanted)
    summary: Dict[str, Any] = {"frames": 0, "computed": [], "loaded": 0, "outputs": [], "corrupt": [],
                               "library": shot.library, "cache": os.path.abspath(shot.cache),
                               "scenes": [p.to_dict() for p, _ in pairs]}
    for plan, sub in pairs:
        todo = [f for f in plan.frames() if f in want]
        if not todo:
            continue
        part = ShotCache(sub, events=events).render(todo, write_outputs=write_outputs, progress=progress)
        for k in ("frames", "loaded"):
            summary[k] += part[k]
        for k in ("computed", "outputs", "corrupt"):
            summary[k] += part[k]
        for k in ("backend", "working_size", "plate_colorspace", "threads", "temporal_smoothing"):
            summary.setdefault(k, part.get(k))
    dt = time.time() - t0
    summary.update(seconds=round(dt, 3), seconds_per_frame=round(dt / max(1, summary["frames"]), 4),
                   references=[r.to_dict() for r in shot.references])
    return summary


# ---------------------------------------------------------------------- status and clear
def auto_status(shot) -> Dict[str, Any]:
    """``cache status`` of a shot with ``library`` (reads only; plans nothing): the stored plan's
    scenes, each with its own cache's status, and scene caches the plan no longer uses."""
    from ..cache import ShotCache
    from ..cache.shotcache import _folder_bytes, other_layout
    from ..io.sequence import frame_path

    plans = stored_plan(shot)
    scenes = []
    for plan, sub in _scene_shots(shot, plans or []):
        st = ShotCache(sub).status()
        st["scene"] = [plan.first, plan.last]
        st["references"] = [m.path for m in plan.matches]
        scenes.append(st)
    current = {f"{p.first}-{p.last}" for p in plans or []}
    root = os.path.join(shot.cache, SCENES_DIR)
    stale = sorted(d for d in (os.listdir(root) if os.path.isdir(root) else [])
                   if d not in current and os.path.isdir(os.path.join(root, d)))
    stale_bytes = sum(_folder_bytes(os.path.join(root, d)) for d in stale)
    for st in scenes:
        stale_bytes += st["stale_bytes"]
    lo, hi = shot.frames
    # outputs: each scene's cache tells its frames' current ones (written for the scene as it is
    # now) from stale ones; a frame no current scene covers (no plan for the shot as it is now)
    # has no current output
    planned = {f for p in plans or [] for f in p.frames()}
    outputs = sum(st["outputs"] for st in scenes)
    stale_outputs = sorted([f for st in scenes for f in st["stale_outputs"]] +
                           [f for f in range(lo, hi + 1)
                            if f not in planned and os.path.isfile(frame_path(shot.output, f))])
    other, other_bytes = other_layout(shot.cache, auto=True)
    return {"shot": shot.display_name(), "shot_file": shot.path, "shot_key": shot.key(),
            "cache": os.path.abspath(shot.cache), "exists": os.path.isdir(shot.cache),
            "frames": [lo, hi], "library": shot.library, "planned": plans is not None,
            "scenes": scenes, "stored": sum(s["stored"] for s in scenes),
            "total": sum(s["total"] for s in scenes),
            "complete": plans is not None and all(s["complete"] for s in scenes),
            "outputs": outputs, "stale_outputs": stale_outputs,
            "missing_outputs": hi - lo + 1 - outputs - len(stale_outputs),
            "output": shot.output, "stale_scenes": stale, "stale_bytes": stale_bytes,
            "other_layout": other, "other_layout_bytes": other_bytes}


def auto_clear(shot, stale_only: bool = False) -> Dict[str, Any]:
    """``cache clear`` of a shot with ``library``: everything the cache wrote (the plan, every
    scene's cache, the output frames when they live in the cache's default ``output/`` folder,
    segments of the shot's plain layout from before it had a library), or with ``stale_only``
    the scene caches the stored plan no longer uses, in the scenes it uses their stale
    segments, and the plain layout's segments. Without a plan for the shot as it is now (a shot
    that just got its library, or changed since it was planned), ``stale_only`` removes the
    plain layout's segments when there is no scene cache, and is refused when there is one
    (which of them are stale is not known). Other files in the cache folder stay. Each scene
    cache is refused while a build or render holds it."""
    from ..cache import ShotCache
    from ..cache.shotcache import clear_outputs

    removed: List[str] = []
    root = os.path.join(shot.cache, SCENES_DIR)
    plans = stored_plan(shot)
    if stale_only and plans is None and _scene_folders(root):
        raise InputError("the shot has no current scene plan, so which scene caches are stale is not known",
                         file=os.path.join(shot.cache, PLAN_FILE),
                         hint="run `cache build` (plans the scenes), or clear everything without --stale")
    keep = {f"{p.first}-{p.last}" for p in plans or []} if stale_only else set()
    for plan, sub in _scene_shots(shot, plans or []):
        if f"{plan.first}-{plan.last}" in keep:
            removed += ShotCache(sub).clear(stale_only=True)["removed"]
    _clear_scenes(root, keep, removed)
    _clear_plain_layout(shot.cache, removed)   # the shot's segments from before it had a library
    if not stale_only:
        from ..cache.shotcache import _remove, _remove_temps
        _remove(os.path.join(shot.cache, PLAN_FILE), removed)
        _remove_temps(shot.cache, {PLAN_FILE}, removed)
        clear_outputs(shot, removed)
    return {"cache": os.path.abspath(shot.cache), "removed": removed}


def clear_auto_layout(cache: str, removed: List[str]) -> None:
    """Remove every scene cache and the plan from the cache folder ``cache`` of a shot without a
    library (left there when the shot had one); other files stay."""
    from ..cache.shotcache import _remove, _remove_temps
    _clear_scenes(os.path.join(cache, SCENES_DIR), set(), removed)
    _remove(os.path.join(cache, PLAN_FILE), removed)
    _remove_temps(cache, {PLAN_FILE}, removed)


def _scene_folders(root: str) -> List[str]:
    """Names of the scene cache folders under ``root`` (``<cache>/scenes``)."""
    return [d for d in (sorted(os.listdir(root)) if os.path.isdir(root) else [])
            if os.path.isdir(os.path.join(root, d)) and not os.path.islink(os.path.join(root, d))]


def _clear_scenes(root: str, keep: Collection[str], removed: List[str]) -> None:
    """Remove the scene cache folders under ``root`` (``<cache>/scenes``) but those in ``keep``;
    the folder itself once empty."""
    from ..cache.shotcache import _rmdir_if_empty
    for d in _scene_folders(root):
        if d not in keep:
            removed += _clear_folder(os.path.join(root, d))
    _rmdir_if_empty(root, removed)


def _clear_plain_layout(cache: str, removed: List[str]) -> None:
    """Remove the segments, locks, manifest and output records a shot without a library wrote
    into ``cache`` (under the cache's exclusive lock; refused while a build or render holds it)."""
    from ..cache.filelock import FileLock
    from ..cache.outputs import records_dir
    from ..cache.shotcache import GLOBAL_LOCK, other_layout, clear_segments
    from ..errors import CacheError

    if not other_layout(cache, auto=True)[0] and not os.path.isdir(records_dir(cache)):
        return
    lock = FileLock(os.path.join(cache, GLOBAL_LOCK))
    if not lock.acquire(shared=False, blocking=False):
        raise CacheError("the cache is in use by another process (a build or render is running)",
                         file=os.path.abspath(cache), hint="wait for it to finish or stop it, then clear again")
    try:
        clear_segments(cache, removed)
    finally:
        lock.release()


def _clear_folder(folder: str) -> List[str]:
    """Remove one scene's cache folder under its exclusive lock (refused while in use)."""
    from ..cache.filelock import FileLock
    from ..cache.shotcache import GLOBAL_LOCK, _remove
    from ..errors import CacheError

    removed: List[str] = []
    lock = FileLock(os.path.join(folder, GLOBAL_LOCK))
    if not lock.acquire(shared=False, blocking=False):
        raise CacheError("the scene cache is in use by another process (a build or render is running)",
                         file=folder, hint="wait for it to finish or stop it, then clear again")
    try:
        for name in sorted(os.listdir(folder)):
            if name != GLOBAL_LOCK:
                _remove(os.path.join(folder, name), removed)
    finally:
        lock.release()
    _remove(folder, removed)
    return removed

