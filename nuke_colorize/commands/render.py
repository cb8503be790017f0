"""``nuke-colorize render``: colourise a plate sequence with one or more references."""
from __future__ import annotations

import argparse
import json
import os
import sys

from ..backends import DEFAULT_BACKEND, REGISTRY
from ..errors import InputError
from ..io import parse_frames


def parse_settings(items) -> dict:
    """``--set key=value`` pairs -> dict, values parsed as JSON when possible."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"bad --set '{item}'", hint="use --set key=value")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


# options of the output only: they change the delivered colours or files, not the colourisation
# or its confidence (``suggest-keyframe`` refuses them rather than ignore them)
OUTPUT_ONLY_OPTIONS = ("--out-colorspace", "--saturation", "--temporal-smoothing", "--out-depth",
                       "--out-compression")


#: options of :func:`add_render_options` that a shot file decides, and their defaults: given
#: with ``--shot`` they are refused (:func:`settle_shot_options`), not silently ignored
SHOT_DECIDED = (("backend", DEFAULT_BACKEND), ("colorspace", "auto"), ("ref_colorspace", "auto"),
                ("out_colorspace", "auto"), ("device", "auto"), ("saturation", 1.0), ("out_depth", "auto"),
                ("out_compression", None))


def add_render_options(p, output: bool = True) -> None:
    """Options shared by render-like commands (render, suggest-keyframe). ``output=False``
    (a command that writes no image): the options of :data:`OUTPUT_ONLY_OPTIONS` are not
    offered (hidden from the help); given anyway, they are left as a value for
    :func:`refuse_output_options` to refuse. The options of :data:`SHOT_DECIDED` parse to
    None when not given; :func:`settle_shot_options` fills in their defaults."""
    p.add_argument("--backend", default=None, choices=sorted(REGISTRY),
                   help=f"colourisation backend (default {DEFAULT_BACKEND}; deepexemplar needs "
                        "'nuke-colorize models install')")
    p.add_argument("--colorspace", default=None,
                   help="plate colourspace: auto|linear|srgb|rec709|cineon or an OCIO name "
                        "(default auto: float files linear, DPX/Cineon files whose header says log Cineon, "
                        "other integer files sRGB)")
    p.add_argument("--ref-colorspace", default=None,
                   help="references' colourspace (same choices; default auto)")
    if output:
        p.add_argument("--out-colorspace", default=None,
                       help="output colourspace (default auto: EXR, and TIFF of a float plate, linear; DPX of a "
                            "log plate Cineon; other integer formats the plate's display encoding, sRGB or "
                            "rec709)")
    p.add_argument("--ocio-config", metavar="CONFIG",
                   help="OCIO config (a config.ocio or an ocio:// URI) that the OCIO colourspace "
                        "names belong to (default: $OCIO, else OpenImageIO's built-in config)")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"],
                   help="compute device (default auto: CUDA when present, else CPU)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                   help="backend setting, e.g. --set max_working_size=960 (value parsed as JSON "
                        "when possible; repeatable)")
    if not output:
        for opt in OUTPUT_ONLY_OPTIONS:   # taken as text, refused by refuse_output_options
            p.add_argument(opt, default=None, metavar="VALUE", help=argparse.SUPPRESS)
        return
    p.add_argument("--out-depth", default=None, metavar="DEPTH",
                   help="output pixel depth: auto|8|10|12|16|half|float; EXR half|float, TIFF 8|16|float, "
                        "DPX 8|10|12|16, PNG 8|16, JPEG 8 (default auto: EXR half, a channel beyond half's "
                        "range float; DPX 10-bit or the plate's 12/16; TIFF float for a float plate, else 16; "
                        "PNG 16 for a 16-bit plate, else 8; JPEG 8). A half given is kept: colour beyond "
                        "65504 is clipped to it, with a note")
    p.add_argument("--out-compression", default=None, metavar="NAME",
                   help="output compression: EXR none|rle|zips|zip|piz|pxr24|b44|b44a|dwaa|dwab, zip/zips "
                        "with a level 1-9 (zip:9), dwaa/dwab with a level above 0 (dwaa:45); TIFF "
                        "none|lzw|zip|packbits; JPEG a quality 1-100 (90 or jpeg:90); PNG and DPX have no "
                        "choice (default: EXR and TIFF zip, JPEG 95). The confidence output (--confidence-out) "
                        "is written with the same depth and compression when it has the output's format")
    p.add_argument("--saturation", type=float, default=None,
                   help="chroma multiplier on output, 0 to 4 (default 1.0: as predicted)")
    p.add_argument("--temporal-smoothing", type=float, default=None, metavar="STRENGTH",
                   help="smooth chroma along optical flow (three passes over +-2 frames; 0 = off; "
                        "1 = consistent neighbours count as much as the frame itself; default 1 "
                        "with --library and no keyframe --ref, else 0)")


def settle_shot_options(args, output: bool = True) -> None:
    """With ``--shot``, refuse the options of :data:`SHOT_DECIDED` that were given (the shot
    file decides them: accepting them would silently ignore them); without it, fill in the
    defaults of those not given. ``output=False``: the output-only ones are left alone (they
    are refused by :func:`refuse_output_options`)."""
    dests = [(d, v) for d, v in SHOT_DECIDED
             if output or f"--{d.replace('_', '-')}" not in OUTPUT_ONLY_OPTIONS]
    if getattr(args, "shot", None):
        given = [f"--{d.replace('_', '-')}" for d, _ in dests if getattr(args, d, None) is not None]
        if given:
            them = "it" if len(given) == 1 else "them"
            raise InputError(f"{', '.join(given)} cannot be combined with --shot",
                             hint=f"the shot file decides {them}: put {them} in the shot file, or leave out --shot")
        return
    for dest, default in dests:
        if getattr(args, dest, None) is None:
            setattr(args, dest, default)


def refuse_output_options(args, command: str) -> None:
    """Refuse the output-only options given to ``command`` (added with ``output=False``): one
    line naming the option, rather than accept it and silently ignore it."""
    given = [o for o in OUTPUT_ONLY_OPTIONS if getattr(args, o[2:].replace("-", "_"), None) is not None]
    if given:
        raise InputError(f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to {command}: "
                         f"{'it changes' if len(given) == 1 else 'they change'} the delivered colours or files, "
                         "not the confidence a suggestion is ranked by",
                         hint=f"leave {'it' if len(given) == 1 else 'them'} out; they are options of render")


def register(sub) -> None:
    p = sub.add_parser("render", help="colourise a plate with colour references",
                       description="Colourise a grey (or colour, used through its luminance) plate "
                                   "sequence. Outputs keep the plate's luminance, alpha, extra "
                                   "channels, windows and metadata; EXR (half, zip) by default "
                                   "(--out-depth, --out-compression).")
    p.add_argument("--plate", help="plate pattern (plate.####.exr, plate.%%04d.exr) or movie")
    p.add_argument("--frames", help="frame range, e.g. 1001-1100 (default: the shot's frames with --shot, "
                                    "else all on disk)")
    p.add_argument("--ref", action="append", default=[], metavar="[FRAME=]PATH",
                   help="reference: FRAME=PATH for a colour version of a plate frame, PATH for a still")
    p.add_argument("--out", help="output pattern, e.g. colour.####.exr (with --cache it may be left out: "
                                 "<cache>/output/colour.####.exr)")
    p.add_argument("--confidence-out", help="also write the confidence map to this pattern")
    p.add_argument("--matte", metavar="PATTERN",
                   help="instance mattes (ID matte, one channel per object, or Cryptomatte EXR); "
                        "frames may be missing: IDs are carried along the flow. Cryptomatte and "
                        "per-object channels are taken as the same objects on every frame, other IDs "
                        "are associated over time (--set matte_ids=auto|stable|associate)")
    p.add_argument("--confidence-layer", action="store_true",
                   help="add the confidence map to the output as layer confidence.Y (EXR output)")
    p.add_argument("--library", metavar="INDEX",
                   help="automatic references: split the plate at scene cuts and take each scene's "
                        "best stills from this index (nuke-colorize library index)")
    p.add_argument("--auto-references", type=int, default=None, metavar="K",
                   help="stills retrieved per scene with --library (default 3)")
    p.add_argument("--shot", help="shot description JSON: renders through its cache; the file decides the plate, "
                                  "references, matte, library, backend, settings, colourspaces, device, "
                                  "saturation, output and its depth and compression (--cache, "
                                  "--confidence-*, --ocio-config and --temporal-smoothing override it)")
    p.add_argument("--cache", help="cache folder: render through the shot cache of an implied shot (frames "
                                   "in any order, resumable); with --shot: another cache folder")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_render_options(p)
    p.set_defaults(func=run)


def frames_of(plate: str, frames_text) -> list:
    """``--frames A-B`` parsed, or every frame of the plate on disk when not given."""
    if frames_text:
        return parse_frames(frames_text)
    from ..io import PlateSource
    with PlateSource(plate) as src:
        return list(src.frames)


def encoding_args(args, output: str):
    """``--out-depth`` / ``--out-compression`` checked against the ``output`` pattern's format,
    named as the options (:func:`nuke_colorize.io.encoding.check_encoding`)."""
    from ..io.encoding import check_encoding
    return check_encoding(output, getattr(args, "out_depth", None), getattr(args, "out_compression", None))


def job_from_args(args):
    from ..color import check_saturation
    from ..render import RefSpec, RenderJob, check_references

    if not args.plate or not args.out:
        raise InputError("render needs --plate and --out (or --shot)")
    encoding = encoding_args(args, args.out)   # before anything is read
    check_saturation(args.saturation)
    refs = [RefSpec.parse(r) for r in args.ref]
    check_references(refs)
    return RenderJob(plate=args.plate, frames=frames_of(args.plate, args.frames), references=refs,
                     output=args.out, colorspace=args.colorspace, ref_colorspace=args.ref_colorspace,
                     out_colorspace=args.out_colorspace, backend=args.backend,
                     settings=parse_settings(args.set), device=args.device,
                     confidence_out=args.confidence_out, confidence_layer=args.confidence_layer,
                     matte=args.matte, saturation=args.saturation, temporal_smoothing=_strength(args, refs),
                     ocio_config=ocio_config_arg(args), out_depth=encoding.depth,
                     out_compression=encoding.compression, **library_options(args))


def ocio_config_arg(args):
    """``--ocio-config``: an ``ocio://`` URI as given, a file made absolute; None when not given."""
    value = getattr(args, "ocio_config", None)
    if not value:
        return None
    return value if value.startswith("ocio://") else os.path.abspath(os.path.expanduser(value))


def library_options(args) -> dict:
    """``--library`` / ``--auto-references`` -> RenderJob/shot keys (empty without a library)."""
    library, k = getattr(args, "library", None), getattr(args, "auto_references", None)
    if library is None:
        if k is not None:
            raise InputError("--auto-references needs --library INDEX")
        return {}
    from ..library.auto import check_count
    return {"library": os.path.abspath(os.path.expanduser(library)),
            "auto_references": check_count(3 if k is None else k)}


def _strength(args, refs) -> float:
    """--temporal-smoothing, or its default: on for automatic references without a keyframe
    among ``refs`` (the parsed ``--ref`` options)."""
    from ..temporal import check_strength, default_strength
    value = getattr(args, "temporal_smoothing", None)
    if value is None:
        return default_strength(getattr(args, "library", None) is not None, any(r.frame is not None for r in refs))
    return check_strength(value)


def run(args) -> int:
    from ..render import run_render

    settle_shot_options(args)
    if args.shot or args.cache:
        from ..cache import render_with_cache  # the shot cache (resumable, any order)
        summary = render_with_cache(args)
    else:
        summary = run_render(job_from_args(args), progress=not args.quiet and not args.json)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrote {summary['frames']} frame(s) in {summary['seconds']:.1f}s "
              f"({summary['seconds_per_frame']:.3f} s/frame)", file=sys.stderr)
    return 0
