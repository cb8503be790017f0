"""``nuke-colorize suggest-keyframe``: the frame where a new painted reference would help most.

Runs the backend over the shot (working resolution only; nothing is written) and ranks
frames by how much low confidence a keyframe there would take over (see
:mod:`nuke_colorize.suggest`).
"""
from __future__ import annotations

import json
import sys

import math

from ..errors import InputError
from .render import (add_render_options, frames_of, ocio_config_arg, parse_settings, refuse_output_options,
                     settle_shot_options)


def register(sub) -> None:
    p = sub.add_parser("suggest-keyframe", help="propose the frame where a new painted reference helps most",
                       description="Colourises the shot at working resolution (nothing written), "
                                   "reads the per-frame confidence and proposes keyframes.")
    p.add_argument("--shot", help="shot description JSON (not one with a library); the file decides the plate, "
                                  "references, matte, backend, settings, colourspaces and device")
    p.add_argument("--plate", help="plate pattern (without --shot)")
    p.add_argument("--frames", help="frames to colourise and rank, e.g. 1001-1100 (default: the shot's "
                                    "frames with --shot, else all on disk)")
    p.add_argument("--ref", action="append", default=[], metavar="[FRAME=]PATH",
                   help="reference: FRAME=PATH for a colour version of a plate frame, PATH for a still "
                        "(as for render)")
    p.add_argument("--matte", metavar="PATTERN", help="instance mattes (see render --matte)")
    p.add_argument("--count", type=int, default=3, help="number of suggestions (default 3)")
    p.add_argument("--reach", type=float, default=25.0,
                   help="frames over which a keyframe's help fades to 1/e, a finite number > 0 "
                        "(default 25)")
    p.add_argument("--json", action="store_true", help="print JSON (suggestions and per-frame confidence)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_render_options(p, output=False)   # nothing is written: no output options
    p.set_defaults(func=run)


def _job(args):
    from ..render import RefSpec, RenderJob
    if args.shot:
        given = [o for o, v in (("--plate", args.plate), ("--ref", args.ref), ("--matte", args.matte),
                                ("--set", args.set)) if v]
        if given:   # else silently ignored: the shot file decides them
            raise InputError(f"{', '.join(given)} cannot be combined with --shot",
                             hint="put them in the shot file, or leave out --shot")
        from ..shot import Shot
        shot = Shot.load(args.shot)
        if shot.library:   # the job would run without the scenes' stills ("no reference given")
            raise InputError("suggest-keyframe does not rank shots with automatic references ('library')",
                             file=shot.path, hint="run it with --plate and --ref, or on a shot file "
                                                  "without 'library'")
        if ocio_config_arg(args):   # overrides the shot file's, as for render --shot
            from ..color import check_ocio_config
            shot.ocio_config = ocio_config_arg(args)
            check_ocio_config(shot.ocio_config)
        job = shot.job()
        if args.frames:   # only these frames of the shot are ranked (as render --shot --frames)
            asked = _shot_frames(shot, args.frames)
            _colourise_around(job, asked)
            return job, asked
        return job, job.frames
    if not args.plate:
        raise InputError("suggest-keyframe needs --shot or --plate with --ref")
    job = RenderJob(plate=args.plate, frames=frames_of(args.plate, args.frames), references=[RefSpec.parse(r) for r in args.ref],
                    output="", colorspace=args.colorspace, ref_colorspace=args.ref_colorspace,
                    backend=args.backend, settings=parse_settings(args.set), device=args.device,
                    matte=args.matte, ocio_config=ocio_config_arg(args))
    return job, job.frames


def _colourise_around(job, asked: list) -> None:
    """Make ``job`` colourise what the shot's frames ``asked`` depend on: every frame from the
    nearest keyframe at or before the first of them to the nearest at or after the last (the
    chains that reach them start there), with the stills and the keyframes in that span. A
    keyframe beyond those two bounds changes none of these frames (a chain depends on its anchor
    and the next keyframe in its direction), and the render refuses references outside its
    frames: a shot keyed at 1001 and 1100 ranked on --frames 1040-1060 failed on both."""
    keys = sorted(r.frame for r in job.references if r.frame is not None)
    lo = max((k for k in keys if k <= asked[0]), default=asked[0])
    hi = min((k for k in keys if k >= asked[-1]), default=asked[-1])
    job.frames = [f for f in job.frames if lo <= f <= hi]
    job.references = [r for r in job.references if r.frame is None or lo <= r.frame <= hi]


def _shot_frames(shot, text: str) -> list:
    """``--frames`` with ``--shot``: the frames asked for, all within the shot's range."""
    from ..io import format_frames, parse_frames
    frames = parse_frames(text)
    outside = [f for f in frames if not shot.frames[0] <= f <= shot.frames[1]]
    if outside:
        raise InputError(f"frames {format_frames(outside)} are outside the shot's frames {shot.frames[0]}-{shot.frames[1]}",
                         file=shot.path, frame=outside[0])
    return frames


def run(args) -> int:
    from ..io import PlateSource
    from ..render import PlateLuma, ProgressBar, make_colorizer
    from ..suggest import suggest

    refuse_output_options(args, "suggest-keyframe")
    settle_shot_options(args, output=False)
    if args.count < 1:
        raise InputError(f"--count {args.count}: must be at least 1")
    if not (math.isfinite(args.reach) and args.reach > 0):
        raise InputError(f"--reach {args.reach:g}: must be a finite number of frames > 0",
                         hint="the distance over which a keyframe's help fades to 1/e, e.g. 25; with no "
                              "fading every frame would rank alike")
    job, ranked = _job(args)
    warn = lambda m: print(f"nuke-colorize: note: {m}", file=sys.stderr)  # noqa: E731
    with PlateSource(job.plate, job.frames) as source:
        source.check_headers()
        col = make_colorizer(job, source, PlateLuma(source, job.colorspace, warn, job.ocio_config), warn)
        bar = ProgressBar(len(job.frames), enabled=not (args.quiet or args.json))
        confidence = {}
        for frame, result in col.results(job.frames):
            confidence[int(frame)] = float(result.confidence.mean())
            bar.step(frame)
    keyframes = [r.frame for r in job.references if r.frame is not None]
    confidence = {f: confidence[f] for f in ranked}
    picks = suggest(confidence, keyframes, args.count, args.reach)
    if args.json:
        print(json.dumps({"suggestions": picks, "keyframes": keyframes,
                          "confidence": {str(f): round(c, 4) for f, c in sorted(confidence.items())}},
                         indent=2))
    else:
        for p in picks:
            print(f"frame {p['frame']}: gain {p['gain']:.2f} (confidence there {p['confidence']:.2f})")
        if not picks:
            print("nuke-colorize: nothing to suggest: every frame is a keyframe or already fully "
                  "confident", file=sys.stderr)
    return 0
