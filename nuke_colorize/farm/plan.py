"""The job shape every scheduler gets: a cache pre-pass, then a chunked render that depends on it.

Why this shape: the colorization model is recurrent (each frame uses the previous colourised
frame of its chain), so frames cannot be split into independent chunks directly. The shot
cache (:mod:`nuke_colorize.cache`) makes them independent: a sequential pre-pass builds it, one
task per keyframe reference (the frames nearest it; between two keyframes a task also walks the
neighbour's chain, shared with the neighbour's task through the cache's chain locks), and
afterwards every render chunk only reads it. The scheduler modules (:mod:`.openjd`, :mod:`.deadline`,
:mod:`.opencue`) translate one :class:`FarmPlan` into their own formats.

Commands run on the workers::

    <colorize> cache build <shot.json> --frames=A-B [--no-output]  (pre-pass, one task per keyframe)
    <colorize> render --shot <shot.json> --frames=A-B               (render chunk, plain shot)
    <nuke> -x [-X Write1] -F A-B <script.nk>                        (render chunk, Nuke script)

A plain shot's pre-pass fills the cache only (``--no-output``): its render chunks write the
output frames. A Nuke script's pre-pass writes them too: they are the version's frames the
Colorize nodes read back when Nuke renders.

Given a Nuke script, the shot files come from ``--shot`` or, when not given, from the Colorize
nodes of the script (:mod:`.nkscan`); the render range from ``--frames``, else the script's Root
range, else the union of the shots' ranges.

Time limits, in minutes (None: the scheduler's default, i.e. none): ``task_timeout`` for each
render task, ``prepass_timeout`` for each pre-pass task; each scheduler module emits them with
its own mechanism. They are independent on purpose: a pre-pass task builds a whole segment
sequentially (and may walk the neighbour keyframe's chain, or wait on its chain lock), a render
task reads the cache for ``chunk_size`` frames, so neither limit tells what the other should be.
"""
from __future__ import annotations

import hashlib
import math
import ntpath
import os
import posixpath
import re
import shutil
import sys
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple, Union

from ..errors import InputError
from .nkscan import NukeScriptInfo, scan_nuke_script
from .shotinfo import ShotInfo, load_shot_info

DEFAULT_CHUNK_SIZE = 10


@dataclass(frozen=True)
class PrepassTask:
    """One sequential cache-build task: frames ``first..last`` of the chain anchored on ``anchor``."""

    shot: str
    anchor: int
    first: int
    last: int
    tag: str = ""   # the shot's name in the plan (see shot_tags); default: the file's stem

    @property
    def frames(self) -> str:
        return f"{self.first}-{self.last}"

    @property
    def label(self) -> str:
        """Short name, unique in its plan, e.g. ``shot_1001-1050`` (``shot.v_1a2b_1001-1050``
        when two shots of the plan have files of the same name)."""
        stem = self.tag or os.path.splitext(os.path.basename(self.shot))[0]
        return f"{stem}_{self.first}-{self.last}"


def shot_tags(paths: Sequence[str]) -> List[str]:
    """A name per shot file, unique among ``paths`` and the same on every run: the file's stem;
    for files of the same name (the Nuke node writes every shot as ``v_<key>/shot.json``)
    the stem and the parent folder's name, plus a hash of the path if that is not enough."""
    def stem(p: str) -> str:
        return os.path.splitext(os.path.basename(p))[0]

    def with_parent(p: str) -> str:
        return f"{stem(p)}.{os.path.basename(os.path.dirname(p))}"

    def with_hash(p: str) -> str:
        return f"{with_parent(p)}.{hashlib.sha1(os.path.abspath(p).encode('utf-8')).hexdigest()[:8]}"

    def same(t: str) -> str:   # as the schedulers' names see it (OpenCue layers: no '.', '_' runs)
        return sanitize_name(t).replace(".", "_").lower()

    tags = [stem(p) for p in paths]
    for rule in (with_parent, with_hash):
        seen = [same(t) for t in tags]
        tags = [rule(p) if seen.count(same(t)) > 1 else t for p, t in zip(paths, tags)]
    return tags


@dataclass
class FarmPlan:
    """Scheduler-independent description of one colorization farm job.

    Attributes:
        name: job name (letters, digits, ``_``, ``-``, ``.``).
        shots: the shot descriptions the pre-pass builds.
        frames: (first, last) inclusive range the render covers.
        chunk_size: frames per render task (>= 1).
        prepass: cache-build tasks (independent of each other).
        nuke_script: absolute path of the Nuke script to render, or None for ``nuke-colorize render``.
        write_node: Write node to execute in the script (None: all enabled Write nodes).
        nuke_version: "major.minor" of the script's Nuke (Deadline's Nuke plug-in needs it).
        colorize_exe: the ``nuke-colorize`` command on the workers.
        nuke_exe: the Nuke executable on the workers.
        outputs: absolute output patterns (``####`` padding), for schedulers that track outputs.
        notes: things the submitter should know (e.g. Colorize nodes whose shot no task pre-builds).
        task_timeout: minutes each render task may run before the scheduler stops it (None: no limit).
        prepass_timeout: minutes each pre-pass task may run (None: no limit).
    """

    name: str
    shots: List[ShotInfo]
    frames: Tuple[int, int]
    chunk_size: int
    prepass: List[PrepassTask]
    nuke_script: Optional[str] = None
    write_node: Optional[str] = None
    nuke_version: Optional[str] = None
    colorize_exe: str = "nuke-colorize"
    nuke_exe: str = "nuke"
    outputs: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    task_timeout: Optional[float] = None
    prepass_timeout: Optional[float] = None

    @property
    def frame_range(self) -> str:
        return f"{self.frames[0]}-{self.frames[1]}"

    @property
    def render_shot(self) -> str:
        """The shot a ``nuke-colorize render`` job renders (plain-shot jobs have exactly one)."""
        return self.shots[0].path

    def prepass_args(self, task: PrepassTask) -> List[str]:
        """Arguments after the ``nuke-colorize`` executable for one pre-pass task."""
        return self.cache_build_args(task.shot, task.frames)

    def cache_build_args(self, shot: str, frames: str) -> List[str]:
        """Arguments after the ``nuke-colorize`` executable building ``frames`` of ``shot`` into
        its cache; either may be a scheduler's token (``{{Task.Param.Segment}}``).

        For a plain shot the pre-pass writes no output frame (``--no-output``): the render
        tasks write every one, so frames written here would only be written again. A Nuke
        script's Colorize nodes read the frames the pre-pass writes, so there it writes them.
        """
        args = ["cache", "build", shot, frames_option(frames)]
        return args if self.nuke_script else args + ["--no-output"]

    def render_args(self, frames: str) -> List[str]:
        """Arguments after the executable (``colorize_exe`` or ``nuke_exe``) for one render chunk.

        ``frames`` is the scheduler's own token for the chunk (``{{Task.Param.Frame}}``,
        ``<STARTFRAME>-<ENDFRAME>``, ``#FRAME_START#-#FRAME_END#``) or a literal ``A-B``.
        """
        if self.nuke_script:
            args = ["-x"]
            if self.write_node:
                args += ["-X", self.write_node]
            return args + ["-F", frames, self.nuke_script]
        return ["render", "--shot", self.render_shot, frames_option(frames)]

    @property
    def render_exe(self) -> str:
        return self.nuke_exe if self.nuke_script else self.colorize_exe

    def chunks(self) -> List[Tuple[int, int]]:
        """Render chunks as (first, last), ``chunk_size`` frames each, the last one shorter."""
        first, last = self.frames
        return [(a, min(a + self.chunk_size - 1, last)) for a in range(first, last + 1, self.chunk_size)]


def build_plan(source: str, *, shots: Sequence[str] = (), frames: Optional[str] = None,
               chunk_size: int = DEFAULT_CHUNK_SIZE, name: Optional[str] = None,
               write_node: Optional[str] = None, nuke_version: Optional[str] = None,
               colorize_exe: Optional[str] = None, nuke_exe: Optional[str] = None,
               task_timeout: Union[None, str, float] = None,
               prepass_timeout: Union[None, str, float] = None) -> FarmPlan:
    """Make the plan for ``source``: a shot JSON, or a Nuke script (``.nk``).

    ``task_timeout`` / ``prepass_timeout``: minutes (a number or its text, fractions allowed)
    each render / pre-pass task may run; None for no limit.

    Raises :class:`InputError` for a missing source, a Nuke script whose Colorize nodes name no
    readable shot file (and no ``shots`` given), frames outside the shots, ``chunk_size < 1``, or
    a timeout that is not a number of minutes above 0.
    """
    if chunk_size < 1:
        raise InputError(f"chunk size must be 1 or more, got {chunk_size}")
    task_timeout = parse_minutes(task_timeout, "--task-timeout")
    prepass_timeout = parse_minutes(prepass_timeout, "--prepass-timeout")
    source = os.path.abspath(os.fspath(source))
    if not os.path.isfile(source):
        raise InputError("file not found", file=source, hint="give a shot JSON or a Nuke script (.nk)")
    script: Optional[NukeScriptInfo] = None
    if source.lower().endswith((".nk", ".nknc")):
        script = scan_nuke_script(source)
        shot_paths = [os.path.abspath(s) for s in shots] or script.shot_files
        if not shot_paths:
            why = (f"Colorize node {script.unresolved[0][0]}: {script.unresolved[0][1]}"
                   if script.unresolved else "the script has no Colorize node")
            raise InputError(f"cannot find the shot description: {why}", file=source,
                             hint="pass --shot SHOT.json (the file the Colorize node wrote)")
    else:
        if shots:
            raise InputError("--shot is only for Nuke scripts; the source is already a shot file",
                             file=source)
        shot_paths = [source]
    shot_paths = list(dict.fromkeys(shot_paths))   # a shot given twice is built once
    infos = [load_shot_info(p) for p in shot_paths]
    shot_span = (min(s.frames[0] for s in infos), max(s.frames[1] for s in infos))
    if frames:
        rng = parse_frame_range(frames)
    elif script is not None and script.frames:
        rng = script.frames
    else:
        rng = shot_span
    if script is None and not (shot_span[0] <= rng[0] and rng[1] <= shot_span[1]):
        raise InputError(f"frames {rng[0]}-{rng[1]} are outside the shot's {shot_span[0]}-{shot_span[1]}",
                         file=source)
    prepass = []
    for info, tag in zip(infos, shot_tags([i.path for i in infos])):
        for anchor, a, b in info.segments_within(*rng):
            prepass.append(PrepassTask(shot=info.path, anchor=anchor, first=a, last=b, tag=tag))
    if not prepass:
        raise InputError(f"frames {rng[0]}-{rng[1]} do not overlap any shot's frames", file=source)
    stem = os.path.splitext(os.path.basename(source))[0]
    if script is not None:
        names = [write_node] if write_node else script.write_nodes
        outputs = [script.write_files[n] for n in names if os.path.isabs(script.write_files.get(n, ""))]
    else:
        outputs = [infos[0].output] if infos[0].output else []
    notes = []
    movies = [n for n in names if n in script.movie_writes] if script is not None else []
    if movies and chunk_size < rng[1] - rng[0] + 1:
        # every task would write the movie anew with its chunk's frames only (Deadline's own Nuke
        # submitter renders a movie Write in one task too)
        chunk_size = rng[1] - rng[0] + 1
        notes.append(f"Write node {movies[0]} writes a movie ({script.write_files.get(movies[0], '')}): "
                     f"the render is one task of all {chunk_size} frames (a task per chunk would write "
                     f"the movie over with its own frames); pass --write-node for an image sequence")
    if script is not None and not shots:
        # their frames would be computed by every render task that needs them, or fail
        notes += [f"Colorize node {node}: no pre-pass builds its shot ({why}); pass --shot SHOT.json "
                  f"for it (with the others' shot files)" for node, why in script.unresolved]
    return FarmPlan(
        name=sanitize_name(name or f"colorize_{stem}"),
        shots=infos, frames=rng, chunk_size=int(chunk_size), prepass=prepass,
        nuke_script=script.path if script else None,
        write_node=write_node,
        nuke_version=nuke_version or (script.version if script else None),
        colorize_exe=worker_executable(colorize_exe or "nuke-colorize"),
        nuke_exe=worker_executable(nuke_exe or "nuke"),
        outputs=outputs, notes=notes, task_timeout=task_timeout, prepass_timeout=prepass_timeout)


def parse_minutes(value: Union[None, str, float], option: str) -> Optional[float]:
    """A timeout in minutes (``"30"``, ``"0.5"``, 45.0) as a float, None for None.

    Raises :class:`InputError` naming ``option`` for text that is not a number, or a value
    that is not finite and above 0 (no limit is expressed by leaving the option out).
    """
    if value is None:
        return None
    try:
        minutes = float(value)
    except (TypeError, ValueError):
        minutes = math.nan
    if not (math.isfinite(minutes) and minutes > 0):
        raise InputError(f"{option} must be a number of minutes above 0, got {value!r}",
                         hint=f"e.g. {option} 30, or 0.5; leave it out for no time limit")
    return minutes


def timeout_seconds(minutes: float) -> int:
    """Whole seconds for a timeout of ``minutes`` (rounded up, at least 1)."""
    return max(1, math.ceil(round(minutes * 60, 6)))


def timeout_whole_minutes(minutes: float) -> int:
    """Whole minutes for a timeout of ``minutes`` (rounded up, at least 1)."""
    return max(1, math.ceil(round(minutes, 9)))


def frames_option(frames: str) -> str:
    """``--frames=A-B`` as one argument: a range starting at a negative frame (``-5--1``) given
    as a separate argument looks like an option to argparse ("expected one argument")."""
    return f"--frames={frames}"


def parse_frame_range(text: str) -> Tuple[int, int]:
    """``"A-B"`` or ``"N"`` -> (first, last); any contiguous Nuke range is accepted."""
    from ..io.sequence import parse_frames
    frames = parse_frames(text)
    if frames != list(range(frames[0], frames[-1] + 1)):
        raise InputError(f"frame range {text!r} must be contiguous (A-B) for a farm job")
    return frames[0], frames[-1]


def sanitize_name(name: str) -> str:
    """Job/layer-safe name: runs of other characters become ``_``."""
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")
    return clean or "colorize"


def worker_executable(command: str) -> str:
    """An executable as the workers run it: a bare name (``nuke``, looked up on the worker's PATH)
    as given, a path made absolute. A relative path (``venv/bin/nuke-colorize``) would be looked
    for from the task's working folder on the worker (a scheduler's session or temp folder), never
    from the folder it was given in. An absolute path of either kind (``C:\\nc\\nuke-colorize.exe``
    given on Linux for Windows workers) is kept."""
    if posixpath.isabs(command) or ntpath.isabs(command):
        return command
    if not any(sep and sep in command for sep in (os.sep, os.altsep)):
        return command
    return os.path.abspath(os.path.expanduser(command))


def local_executable(name: str) -> str:
    """``name`` resolved on this machine (PATH, then beside the running Python), else unchanged.

    Deadline and OpenCue farms usually share software paths with the submitting machine; the
    OpenJD bundle keeps bare names because Deadline Cloud workers get software from their queue
    environment.
    """
    found = shutil.which(name)
    if not found:
        beside = os.path.join(os.path.dirname(sys.executable), name)
        found = beside if os.path.isfile(beside) and os.access(beside, os.X_OK) else None
    return os.path.abspath(found) if found else name
