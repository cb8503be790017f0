"""Thinkbox Deadline 10: job-info and plugin-info files for the pre-pass jobs and the render job.

Files (``Key=Value`` lines, UTF-8), written under the output folder:

* ``prepass_<shot>_<A>-<B>.job_info.job`` / ``.plugin_info.job``: one **CommandLine** plug-in
  job per independent segment (``Executable`` = nuke-colorize, ``Arguments`` =
  ``cache build <shot> --frames=A-B``, plus ``--no-output`` for a plain shot), one task
  each, so segments build in parallel.
* ``render.job_info.job`` / ``render.plugin_info.job``: the chunked render (``Frames``,
  ``ChunkSize``), either a **Nuke** plug-in job (``SceneFile``, ``Version``, ``WriteNode``,
  ``BatchMode=False`` so each task runs ``nuke -x [-X Write] -F start-end script.nk``) or a
  CommandLine job running ``nuke-colorize render --shot ... --frames=<STARTFRAME>-<ENDFRAME>``.

The render job's ``JobDependencies`` lists the pre-pass job IDs, which Deadline assigns at
submission: ``--submit`` submits the pre-pass jobs with ``deadlinecommand <job_info>
<plugin_info>``, reads each ``JobID=`` from the output, writes them into
``render.job_info.job`` and submits it. To submit the written files by hand instead::

    deadlinecommand -SubmitMultipleJobs -dependent -job prepass_...job_info.job prepass_...plugin_info.job \\
        -job render.job_info.job render.plugin_info.job

(``-dependent`` makes each job depend on the one before, so segments then build one after another.)

With ``--prepass-timeout`` / ``--task-timeout`` (minutes) each pre-pass job / the render job
has ``TaskTimeoutMinutes`` (``TaskTimeoutSeconds``, rounded up, for a fraction of a minute) and
``OnTaskTimeout=Error``: a task running longer is stopped and counts as an error (retried per the
failure detection settings, resuming from the cached frames). Without them neither key is
written (Deadline's default 0: unlimited).

Keys used are the documented ones of Deadline's job info file (Plugin, Name, BatchName, Comment,
Frames, ChunkSize, JobDependencies, Pool, Group, Priority, MachineLimit, OutputDirectory0,
OutputFilename0, TaskTimeoutMinutes, TaskTimeoutSeconds, OnTaskTimeout) and of the Nuke
(SceneFile, Version, WriteNode, BatchMode, Threads, RamUse, NukeX, ContinueOnError,
EnforceRenderOrder) and CommandLine (Executable, Arguments) plug-ins. No ``StartupDirectory``:
the CommandLine plug-in path-maps ``Executable`` and ``Arguments`` but not it, so on a worker
seeing the shows under other paths the task would start in a folder that does not exist there;
the arguments name every file by its absolute path (a shot's own relative paths resolve against
the shot file's folder, not the working folder).
"""
from __future__ import annotations

import os
import re
import shutil
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from ..errors import ColorizeError, InputError
from .files import run_client
from .plan import FarmPlan, PrepassTask, timeout_seconds

_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_JOB_ID = re.compile(r"^\s*JobID=(\S+)\s*$", re.M)
SUBMIT_HINT = ("install the Deadline 10 client and make sure deadlinecommand is on PATH or "
               "DEADLINE_PATH points to its bin folder, or submit the written files by hand")


@dataclass
class DeadlineJob:
    """One Deadline job: ``key`` names its files; ``depends_on`` lists keys of jobs it waits for."""

    key: str
    job_info: "OrderedDict[str, str]"
    plugin_info: "OrderedDict[str, str]"
    depends_on: List[str] = field(default_factory=list)

    @property
    def job_info_name(self) -> str:
        return f"{self.key}.job_info.job"

    @property
    def plugin_info_name(self) -> str:
        return f"{self.key}.plugin_info.job"


def quote_argument(arg: str) -> str:
    """Quote one argument for Deadline's ``Arguments`` string (Windows/.NET command-line rules)."""
    if arg and not re.search(r'[\s"]', arg):
        return arg
    out, backslashes = ['"'], 0
    for ch in arg:
        if ch == "\\":
            backslashes += 1
            continue
        if ch == '"':
            out.append("\\" * (2 * backslashes + 1) + '"')
        else:
            out.append("\\" * backslashes + ch)
        backslashes = 0
    out.append("\\" * (2 * backslashes) + '"')
    return "".join(out)


def join_arguments(args: Sequence[str]) -> str:
    return " ".join(quote_argument(a) for a in args)


def _common_job_info(plan: FarmPlan, *, pool: Optional[str], group: Optional[str],
                     priority: Optional[int]) -> "OrderedDict[str, str]":
    info: "OrderedDict[str, str]" = OrderedDict()
    info["BatchName"] = plan.name
    if pool:
        info["Pool"] = pool
    if group:
        info["Group"] = group
    if priority is not None:
        info["Priority"] = str(int(priority))
    return info


def _timeout_info(minutes: Optional[float]) -> "OrderedDict[str, str]":
    """TaskTimeoutMinutes (or TaskTimeoutSeconds for a fraction of a minute) + OnTaskTimeout=Error."""
    info: "OrderedDict[str, str]" = OrderedDict()
    if minutes is None:
        return info
    if float(minutes).is_integer():
        info["TaskTimeoutMinutes"] = str(int(minutes))
    else:
        info["TaskTimeoutSeconds"] = str(timeout_seconds(minutes))
    info["OnTaskTimeout"] = "Error"
    return info


def build_jobs(plan: FarmPlan, *, pool: Optional[str] = None, group: Optional[str] = None,
               priority: Optional[int] = None) -> List[DeadlineJob]:
    """The pre-pass jobs then the render job (last), as ordered key/value dicts."""
    jobs = []
    for task in plan.prepass:
        jobs.append(_prepass_job(plan, task, pool=pool, group=group, priority=priority))
    jobs.append(_render_job(plan, [j.key for j in jobs], pool=pool, group=group, priority=priority))
    for job in jobs:
        validate_info(job.job_info, job.job_info_name)
        validate_info(job.plugin_info, job.plugin_info_name)
    return jobs


def _prepass_job(plan: FarmPlan, task: PrepassTask, **common) -> DeadlineJob:
    info: "OrderedDict[str, str]" = OrderedDict()
    info["Plugin"] = "CommandLine"
    info["Name"] = f"{plan.name} cache pre-pass {task.label}"
    info["Comment"] = (f"nuke-colorize sequential cache build, frames {task.frames} "
                       f"(chain anchored on frame {task.anchor})")
    info["Frames"] = str(task.first)
    info["ChunkSize"] = "1"
    info["MachineLimit"] = "1"
    info.update(_common_job_info(plan, **common))
    info.update(_timeout_info(plan.prepass_timeout))
    plugin: "OrderedDict[str, str]" = OrderedDict()
    plugin["Executable"] = plan.colorize_exe
    plugin["Arguments"] = join_arguments(plan.prepass_args(task))
    return DeadlineJob(key=f"prepass_{task.label}", job_info=info, plugin_info=plugin)


def _render_job(plan: FarmPlan, depends_on: List[str], **common) -> DeadlineJob:
    info: "OrderedDict[str, str]" = OrderedDict()
    info["Plugin"] = "Nuke" if plan.nuke_script else "CommandLine"
    info["Name"] = f"{plan.name} render"
    info["Comment"] = "nuke-colorize render reading the shot cache built by the pre-pass jobs"
    info["Frames"] = plan.frame_range
    info["ChunkSize"] = str(plan.chunk_size)
    info.update(_common_job_info(plan, **common))
    info.update(_timeout_info(plan.task_timeout))
    for i, pattern in enumerate(plan.outputs):
        info[f"OutputDirectory{i}"] = os.path.dirname(pattern)
        info[f"OutputFilename{i}"] = os.path.basename(pattern)
    plugin: "OrderedDict[str, str]" = OrderedDict()
    if plan.nuke_script:
        if not plan.nuke_version:
            raise InputError("the Nuke version of the script is unknown (no 'version' line)",
                             file=plan.nuke_script, hint="pass --nuke-version MAJOR.MINOR, e.g. 15.1")
        plugin["SceneFile"] = plan.nuke_script
        plugin["Version"] = plan.nuke_version
        if plan.write_node:
            plugin["WriteNode"] = plan.write_node
        plugin["BatchMode"] = "False"
        plugin["Threads"] = "0"
        plugin["RamUse"] = "0"
        plugin["NukeX"] = "False"
        plugin["ContinueOnError"] = "False"
        plugin["EnforceRenderOrder"] = "False"
    else:
        plugin["Executable"] = plan.colorize_exe
        plugin["Arguments"] = join_arguments(plan.render_args("<STARTFRAME>-<ENDFRAME>"))
    return DeadlineJob(key="render", job_info=info, plugin_info=plugin, depends_on=depends_on)


def format_info(info: Dict[str, str]) -> str:
    """``Key=Value`` lines (the Deadline info-file format)."""
    return "".join(f"{k}={v}\n" for k, v in info.items())


def parse_info(text: str, name: str = "info file") -> "OrderedDict[str, str]":
    """Parse a Deadline info file; raises :class:`InputError` on a malformed or duplicate key."""
    out: "OrderedDict[str, str]" = OrderedDict()
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not _KEY.match(key):
            raise InputError(f"line {n} is not Key=Value: {line!r}", file=name)
        if key in out:
            raise InputError(f"line {n}: key {key} appears twice", file=name)
        out[key] = value
    return out


def validate_info(info: Dict[str, str], name: str) -> None:
    """Keys must be identifiers; values one line."""
    for k, v in info.items():
        if not _KEY.match(k):
            raise InputError(f"invalid Deadline key {k!r}", file=name)
        if "\n" in str(v) or "\r" in str(v):
            raise InputError(f"value of {k} spans several lines", file=name)


def job_files(jobs: Sequence[DeadlineJob]) -> Dict[str, str]:
    """{file name: text} for every job (render job without JobDependencies: set at submission)."""
    files = {}
    for job in jobs:
        files[job.job_info_name] = format_info(job.job_info)
        files[job.plugin_info_name] = format_info(job.plugin_info)
    return files


def manual_submit_argv(jobs: Sequence[DeadlineJob], out_dir: str, deadlinecommand: str = "deadlinecommand") -> List[str]:
    argv = [deadlinecommand, "-SubmitMultipleJobs", "-dependent"]
    for job in jobs:
        argv += ["-job", os.path.join(out_dir, job.job_info_name), os.path.join(out_dir, job.plugin_info_name)]
    return argv


def find_deadlinecommand() -> Optional[str]:
    """deadlinecommand from ``$DEADLINE_PATH`` (set by the Deadline client installer) or PATH."""
    folder = os.environ.get("DEADLINE_PATH")
    if folder:
        for name in ("deadlinecommand", "deadlinecommand.exe"):
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                return path
    return shutil.which("deadlinecommand")


def submit(jobs: Sequence[DeadlineJob], out_dir: str, write) -> Dict[str, str]:
    """Submit with deadlinecommand, in dependency order; returns {job key: Deadline job ID}.

    ``write(files)`` (re)writes {name: text} under ``out_dir``: the render job info is rewritten
    with the real ``JobDependencies`` just before it is submitted.
    """
    exe = find_deadlinecommand()
    if not exe:
        raise ColorizeError("cannot submit to Deadline: deadlinecommand was not found", hint=SUBMIT_HINT)
    ids: Dict[str, str] = {}
    for job in jobs:
        if job.depends_on:
            job.job_info["JobDependencies"] = ",".join(ids[k] for k in job.depends_on)
            write({job.job_info_name: format_info(job.job_info)})
        try:
            out = run_client([exe, os.path.join(out_dir, job.job_info_name),
                              os.path.join(out_dir, job.plugin_info_name)],
                             what=f"Deadline submission of {job.key}", hint=SUBMIT_HINT)
            m = _JOB_ID.search(out)
            if not m:
                raise ColorizeError(f"Deadline submission of {job.key}: no JobID in deadlinecommand output",
                                    hint="check the Deadline repository connection "
                                         "(deadlinecommand -GetRepositoryRoot)")
        except ColorizeError as exc:
            if not ids:
                raise
            # the jobs submitted before it are on the farm, without the job that needs them
            done = ", ".join(f"{k} JobID={v}" for k, v in ids.items())
            raise ColorizeError(f"{exc.problem}; already submitted, without it: {done}",
                                hint=f"{exc.hint}; delete those jobs in the Monitor before submitting "
                                     f"again, or submit the rest of the files by hand") from None
        ids[job.key] = m.group(1)
    return ids
