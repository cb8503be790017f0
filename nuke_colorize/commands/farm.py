"""``nuke-colorize farm``: submit a shot to a render farm as a cache pre-pass + a chunked render.

Examples::

    nuke-colorize farm openjd shots/a/shot.json -o bundles/a --chunk-size 10
    nuke-colorize farm openjd shots/a/shot.json -o bundles/a --run-local      # openjd run, here
    nuke-colorize farm deadline comp/a_v003.nk -o deadline/a --submit
    nuke-colorize farm opencue shots/a/shot.json -o cue/a --show myshow --dry-run

The source is a shot description (JSON) or a Nuke script (.nk). For a Nuke script the render
tasks run ``nuke -x -F A-B script.nk`` and the pre-pass builds the cache of every shot file named
by the script's Colorize nodes (found by a text scan of the .nk; pass ``--shot`` to name them
yourself, e.g. when the knob holds an expression).

``-o DIR`` writes the scheduler's files; ``--dry-run`` prints them and the submission command
without writing or submitting anything; ``--submit`` writes them and submits with the
scheduler's own client (deadline-cloud CLI, deadlinecommand, pycue), failing with a clear
message when that client is missing or cannot reach the farm.

``--task-timeout MINUTES`` limits each render task and ``--prepass-timeout MINUTES`` each
pre-pass task (a whole segment built sequentially: give it far longer); a task running longer
is stopped by the scheduler and fails (a retry resumes from the cached frames). Default: no
limit (the scheduler's default).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from typing import Dict, List

from ..errors import ColorizeError, InputError
from ..farm.files import command_line, print_files, run_client, write_files
from ..farm.plan import DEFAULT_CHUNK_SIZE, FarmPlan, build_plan, local_executable
from ..farm.shotinfo import check_inputs
from . import help_when_bare


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "farm", help="make or submit farm jobs (OpenJD / Deadline Cloud, Deadline 10, OpenCue)",
        description="Turns a shot (or a Nuke script using Colorize nodes) into a farm job: a "
                    "sequential cache pre-pass per independent segment, then a frame-chunked "
                    "render that depends on it and only reads the cache.")
    sub = p.add_subparsers(dest="scheduler", metavar="SCHEDULER")
    help_when_bare(p)

    o = sub.add_parser("openjd", help="Open Job Description bundle (AWS Deadline Cloud)")
    _common(o)
    o.add_argument("--run-local", action="store_true",
                   help="after writing, run the bundle on this machine with openjd-cli (openjd run)")
    o.set_defaults(func=run_openjd)

    d = sub.add_parser("deadline", help="Deadline 10 job-info/plugin-info files")
    _common(d)
    d.add_argument("--nuke-version", metavar="MAJOR.MINOR",
                   help="Nuke version for Deadline's Nuke plug-in (default: read from the script)")
    d.add_argument("--pool", help="Deadline pool")
    d.add_argument("--group", help="Deadline group")
    d.add_argument("--priority", type=int, help="Deadline priority (0-100)")
    d.set_defaults(func=run_deadline)

    c = sub.add_parser("opencue", help="OpenCue job spec built with pyoutline")
    _common(c)
    c.add_argument("--show", help="OpenCue show (default: pyoutline's default_show)")
    c.add_argument("--cue-shot", metavar="NAME", help="OpenCue shot name (default: the shot file's name)")
    c.add_argument("--user", help="OpenCue user (default: you)")
    c.add_argument("--service", default="shell", help="OpenCue service of the layers (default shell)")
    c.add_argument("--run-local", action="store_true",
                   help="after writing, execute every layer here in dependency order (no Cuebot)")
    c.set_defaults(func=run_opencue)


def _common(p) -> None:
    p.add_argument("source", help="shot description (.json) or Nuke script (.nk)")
    p.add_argument("-o", "--output", metavar="DIR", help="folder to write the job files into")
    p.add_argument("--shot", action="append", default=[], metavar="SHOT.json",
                   help="(Nuke scripts) shot file whose cache the pre-pass builds; repeatable")
    p.add_argument("--frames", metavar="A-B", help="frames to render (default: the shot / script range)")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, metavar="N",
                   help=f"frames per render task (default {DEFAULT_CHUNK_SIZE})")
    p.add_argument("--name", help="job name (default colorize_<source name>)")
    p.add_argument("--write-node", metavar="NAME", help="(Nuke scripts) Write node to render")
    p.add_argument("--task-timeout", metavar="MINUTES",
                   help="time limit of each render task (a chunk of --chunk-size frames): the scheduler "
                        "stops a task running longer and fails it (default: no limit)")
    p.add_argument("--prepass-timeout", metavar="MINUTES",
                   help="time limit of each cache pre-pass task, which builds a whole segment sequentially "
                        "(give it far longer than a render task; default: no limit)")
    p.add_argument("--colorize-exe", metavar="PATH",
                   help="nuke-colorize command on the workers (a bare name is looked up on their "
                        "PATH; a relative path is made absolute here)")
    p.add_argument("--nuke-exe", metavar="PATH",
                   help="Nuke executable on the workers (default nuke; a relative path is made "
                        "absolute here)")
    p.add_argument("--skip-input-check", action="store_true",
                   help="do not check here that each shot's plate frames, reference images, library "
                        "and matte exist and its colourspaces convert (for farms that see files at "
                        "other paths or use another OCIO config); default: check, and refuse a shot "
                        "whose inputs are missing")
    p.add_argument("--dry-run", action="store_true",
                   help="print the files and the submission command; write and submit nothing")
    p.add_argument("--submit", action="store_true",
                   help="submit with the scheduler's client after writing the files")


def _plan(args, *, local_exes: bool) -> FarmPlan:
    colorize = args.colorize_exe or (local_executable("nuke-colorize") if local_exes else None)
    plan = build_plan(args.source, shots=args.shot, frames=args.frames, chunk_size=args.chunk_size,
                      name=args.name, write_node=args.write_node,
                      nuke_version=getattr(args, "nuke_version", None),
                      colorize_exe=colorize, nuke_exe=args.nuke_exe,
                      task_timeout=args.task_timeout, prepass_timeout=args.prepass_timeout)
    if plan.task_timeout is not None and plan.prepass_timeout is None:
        longest = max(t.last - t.first + 1 for t in plan.prepass)
        plan.notes.append(f"--task-timeout limits the render tasks only: the pre-pass tasks (up to "
                          f"{longest} frames each, built sequentially) get no time limit; pass "
                          f"--prepass-timeout MINUTES for theirs")
    _print_notes(plan.notes)
    if not args.skip_input_check:
        for info in plan.shots:
            check_inputs(info, *plan.frames)
    return plan


def _print_notes(notes: List[str]) -> None:
    for note in notes:
        print(f"nuke-colorize: note: {note}", file=sys.stderr)


def _check_modes(args) -> None:
    if args.dry_run and (args.submit or getattr(args, "run_local", False)):
        raise InputError("--dry-run cannot be combined with --submit or --run-local")
    if not args.dry_run and not args.output:
        raise InputError("no output folder", hint="pass -o DIR, or --dry-run to only print the job")


def _emit(args, files: Dict[str, str], submit_cmd: List[str]) -> None:
    if args.dry_run:
        print_files(files, sys.stdout)
        print(f"would submit: {command_line(submit_cmd)}")
        return
    paths = write_files(args.output, files)
    for path in paths:
        print(f"wrote {path}")
    if not args.submit:
        print(f"submit with: {command_line(submit_cmd)}")


def run_openjd(args) -> int:
    from ..farm import openjd
    _check_modes(args)
    plan = _plan(args, local_exes=False)
    files = openjd.bundle_files(plan)
    out = os.path.abspath(args.output) if args.output else "<bundle-dir>"
    _emit(args, files, openjd.submit_argv(out))
    if args.dry_run:
        return 0
    if args.run_local:
        overrides = {}
        if not args.colorize_exe:
            overrides["ColorizeCommand"] = local_executable("nuke-colorize")
        argv = openjd.local_run_argv(out, overrides)
        print(f"running: {command_line(argv)}", flush=True)
        code = subprocess.call(argv)
        if code != 0:
            raise ColorizeError(f"openjd run failed (exit {code})", file=out,
                                hint="its log above names the failing step and task")
    if args.submit:
        text = run_client(openjd.submit_argv(out), what="Deadline Cloud submission",
                          hint="pip install deadline (deadline-cloud CLI), then 'deadline config gui' "
                               "to choose the farm and queue")
        print(text.rstrip())
    return 0


def run_deadline(args) -> int:
    from ..farm import deadline
    _check_modes(args)
    plan = _plan(args, local_exes=True)
    jobs = deadline.build_jobs(plan, pool=args.pool, group=args.group, priority=args.priority)
    files = deadline.job_files(jobs)
    out = os.path.abspath(args.output) if args.output else "<dir>"
    if len(plan.prepass) > 1 and not args.submit:
        _print_notes([f"the command below chains every job on the one before (-dependent): the "
                      f"{len(plan.prepass)} pre-pass jobs then build one after another; --submit "
                      f"submits them side by side, with only the render job depending on them"])
    _emit(args, files, deadline.manual_submit_argv(jobs, out))
    if args.submit:
        ids = deadline.submit(jobs, out, lambda f: write_files(out, f))
        for key, job_id in ids.items():
            print(f"submitted {key}: JobID={job_id}")
    return 0


def run_opencue(args) -> int:
    try:
        from ..farm import opencue
    except ImportError as exc:
        raise ColorizeError(f"OpenCue support needs opencue-pyoutline ({exc})",
                            hint="pip install opencue-pyoutline opencue-pycue") from None
    _check_modes(args)
    plan = _plan(args, local_exes=True)
    ol = opencue.build_outline(plan, show=args.show, shot=args.cue_shot, user=args.user,
                               service=args.service)
    launcher = opencue.launcher_for(ol)
    if args.dry_run:
        with tempfile.TemporaryDirectory(prefix="nuke-colorize-cue-") as tmp:
            xml = opencue.serialize(launcher, tmp)
        _print_notes(opencue.timeout_notes(plan, xml))
        hosts = ",".join(opencue.cuebot_hosts())
        print_files(opencue.spec_files(xml, plan.name), sys.stdout)
        print(f"would submit: outline.cuerun.launch(<{plan.name}>, use_pycuerun=False) to Cuebot {hosts}")
        return 0
    session = os.path.join(os.path.abspath(args.output), "session")
    xml = opencue.serialize(launcher, session)
    _print_notes(opencue.timeout_notes(plan, xml))
    for path in write_files(args.output, opencue.spec_files(xml, plan.name)):
        print(f"wrote {path}")
    if args.run_local:
        for layer, frame in opencue.run_in_process(ol, session):
            print(f"ran {layer} chunk starting at {frame}", flush=True)
    if args.submit:
        for name in opencue.submit(launcher):
            print(f"submitted OpenCue job {name}")
    elif not args.run_local:
        print("submit with: nuke-colorize farm opencue ... --submit (pycue, $CUEBOT_HOSTS)")
    return 0
