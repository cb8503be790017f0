"""The shot cache (see :mod:`.shotcache` for the folder layout, :mod:`.keys` for what
invalidates what, :mod:`.store` for the frame files, :mod:`.determinism` for the thread rule).

``render_with_cache(args)`` is what ``nuke-colorize render --shot S`` and ``render --plate ...
--cache DIR`` call; :func:`shot_from_render_args` builds the (possibly implied) shot.
"""
from __future__ import annotations

import os
from typing import Any, Dict

from ..errors import InputError
from ..shot import Shot
from ..shot_paths import default_output
from .shotcache import ShotCache

__all__ = ["ShotCache", "Shot", "render_with_cache", "shot_from_render_args"]


def shot_from_render_args(args) -> Shot:
    """The shot of a ``render`` call: ``--shot FILE`` (optionally ``--cache`` to move its cache,
    ``--confidence-layer`` / ``--confidence-out`` to add outputs), or the implied shot of
    ``--plate/--ref/--out --cache DIR`` covering every plate frame on disk."""
    from ..commands.render import encoding_args, library_options, ocio_config_arg, parse_settings
    from ..render import RefSpec, check_references

    if args.shot:
        given = [o for o, v in (("--plate", args.plate), ("--ref", args.ref), ("--out", args.out),
                                ("--set", args.set), ("--matte", getattr(args, "matte", None)),
                                ("--library", getattr(args, "library", None)),
                                ("--auto-references", getattr(args, "auto_references", None))) if v]
        if given:
            raise InputError(f"{', '.join(given)} cannot be combined with --shot",
                             hint="put them in the shot file, or leave out --shot")
        shot = Shot.load(args.shot)
        if args.cache:
            # an output the file leaves to its default (<cache>/output/...) goes with the cache:
            # it was written into the file's own cache folder, the one --cache was to avoid
            defaulted = shot.output == default_output(shot.cache)
            shot.cache = os.path.abspath(os.path.expanduser(args.cache))
            if defaulted:
                shot.output = default_output(shot.cache)
        if getattr(args, "confidence_layer", False):
            shot.confidence_layer = True
        if getattr(args, "confidence_out", None):
            shot.confidence_output = os.path.abspath(args.confidence_out)
        if ocio_config_arg(args):   # overrides the shot file's; checked before any cache folder is made
            from ..color import check_ocio_config
            shot.ocio_config = ocio_config_arg(args)
            check_ocio_config(shot.ocio_config)
        if getattr(args, "temporal_smoothing", None) is not None:   # overrides the shot file's
            from ..temporal import check_strength
            shot.temporal_smoothing = check_strength(args.temporal_smoothing)
        return shot
    if not args.plate or not (args.ref or getattr(args, "library", None)):
        raise InputError("render --cache needs --plate and at least one --ref or --library (or use --shot)")
    from ..color import check_saturation
    # named as the options, not as the implied shot's keys
    encoding = encoding_args(args, args.out or default_output(os.path.abspath(os.path.expanduser(args.cache))))
    check_saturation(args.saturation)
    refs = [RefSpec.parse(r) for r in args.ref]
    check_references(refs)
    return Shot.implied(plate=args.plate, references=[(r.frame, r.path) for r in refs],
                        output=args.out, cache=args.cache, base_dir=os.getcwd(),
                        backend=args.backend, settings=parse_settings(args.set),
                        colorspace=args.colorspace, ref_colorspace=args.ref_colorspace,
                        out_colorspace=args.out_colorspace, device=args.device,
                        confidence_output=args.confidence_out,
                        confidence_layer=bool(args.confidence_layer), saturation=float(args.saturation),
                        matte=getattr(args, "matte", None),
                        temporal_smoothing=getattr(args, "temporal_smoothing", None),
                        ocio_config=ocio_config_arg(args), out_depth=encoding.depth,
                        out_compression=encoding.compression,
                        **library_options(args))


def announce(action: str, shot: Shot, frames) -> None:
    """One stderr line naming the command, shot, frames and cache (farm logs are read by people)."""
    import sys
    rng = frames or f"{shot.frames[0]}-{shot.frames[1]}"
    print(f"nuke-colorize: {action} --frames {rng} (cache {shot.cache}, {shot.threads} thread(s))",
          file=sys.stderr, flush=True)


def render_with_cache(args) -> Dict[str, Any]:
    """``render --shot`` / ``render --cache``: render ``--frames`` (default: the whole shot)
    through the shot cache. Returns the JSON summary the command prints with ``--json``."""
    from ..io import parse_frames

    shot = shot_from_render_args(args)
    wanted = parse_frames(args.frames) if args.frames else None
    if not args.quiet:
        what = f"--shot {shot.path}" if shot.path else f"--plate {shot.plate}"
        announce(f"render {what}", shot, args.frames)
    if shot.library:  # automatic references: one cache per scene (nuke_colorize.library.auto)
        from ..library.auto import render_auto_shot
        return render_auto_shot(shot, wanted, write_outputs=True, progress=not args.quiet and not args.json)
    cache = ShotCache(shot)
    return cache.render(wanted, write_outputs=True, progress=not args.quiet and not args.json)
