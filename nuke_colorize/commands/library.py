"""``nuke-colorize library index|query``: a library of colour stills for automatic references.

Examples::

    nuke-colorize library index /refs/period_photos -o /refs/period.ncindex
    nuke-colorize library query /refs/period.ncindex --plate /shots/a/plate.####.exr --frames 1001-1100
"""
from __future__ import annotations

import json
import os
import sys

from . import help_when_bare


def register(sub) -> None:
    p = sub.add_parser("library", help="index colour stills and query them against a plate",
                       description="A library of colour stills (any format the tool reads, any folder "
                                   "depth) from which render --library picks references automatically.")
    lsub = p.add_subparsers(dest="library_command", metavar="ACTION")
    i = lsub.add_parser("index", help="index (or re-index, incrementally) a folder of colour stills")
    i.add_argument("folder", metavar="DIR", help="folder of colour stills (searched recursively)")
    i.add_argument("-o", "--output", required=True, metavar="INDEX",
                   help="index file to write (an existing index of DIR is updated: unchanged files "
                        "are kept, changed and new ones computed, deleted ones dropped)")
    i.add_argument("--colorspace", default="auto",
                   help="stills' colourspace: auto|linear|srgb|rec709|cineon or an OCIO name (default auto, "
                        "as for render: PNG/JPEG sRGB, EXR linear; kept in the index: automatic references "
                        "read the stills the same way)")
    i.add_argument("--ocio-config", metavar="CONFIG", help="OCIO config of an OCIO --colorspace (default: $OCIO, else OpenImageIO's built-in config)")
    i.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"],
                   help="compute device of the descriptors (default cpu; auto: CUDA when present)")
    i.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    i.add_argument("--quiet", action="store_true", help="no progress bar")
    i.set_defaults(func=run_index)
    q = lsub.add_parser("query", help="best stills for each scene of a plate")
    q.add_argument("index", metavar="INDEX", help="index written by 'library index'")
    q.add_argument("--plate", required=True, help="plate pattern or movie")
    q.add_argument("--frames", help="frame range, e.g. 1001-1100 (default: all on disk)")
    q.add_argument("--top", type=int, default=3, metavar="K", help="stills per scene (default 3)")
    q.add_argument("--colorspace", default="auto", help="plate colourspace (as for render; default auto)")
    q.add_argument("--ocio-config", metavar="CONFIG", help="OCIO config (as for render)")
    q.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"],
                   help="compute device of the descriptors (default cpu; auto: CUDA when present)")
    q.add_argument("--json", action="store_true", help="print the scenes and their stills as JSON on stdout")
    q.set_defaults(func=run_query)
    help_when_bare(p)


def run_index(args) -> int:
    from ..library.index import update_index
    from ..pipeline import resolve_device
    from .render import ocio_config_arg

    index, report = update_index(args.folder, args.output, colorspace=args.colorspace,
                                 ocio_config=ocio_config_arg(args),
                                 device=resolve_device(args.device), progress=not args.quiet and not args.json)
    summary = dict(report.to_dict(), index=os.path.abspath(args.output), root=index.root)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"indexed {report.total} still(s) in {report.seconds:.1f}s: {report.computed} computed, "
              f"{report.reused} unchanged, {report.dropped} dropped, {len(report.failed)} skipped "
              f"-> {summary['index']}", file=sys.stderr)
    return 0


def run_query(args) -> int:
    from ..io import PlateSource, parse_frames
    from ..library.auto import check_count, plan_scenes
    from ..library.index import LibraryIndex
    from ..pipeline import resolve_device
    from ..color import check_colorspace, check_ocio_config
    from ..render import PlateLuma
    from .render import ocio_config_arg

    k = check_count(args.top, "--top")
    index = LibraryIndex.load(args.index).check_root(args.index)
    frames = parse_frames(args.frames) if args.frames else None

    def warn(msg: str) -> None:
        print(f"nuke-colorize: note: {msg}", file=sys.stderr)

    config = ocio_config_arg(args)
    check_ocio_config(config)   # PlateLuma converts without checking (make_colorizer is not used)
    check_colorspace(args.colorspace, config)
    with PlateSource(args.plate, frames) as source:
        luma = PlateLuma(source, args.colorspace, warn, config)
        plans, _ = plan_scenes(luma, source.frames, index, k, device=resolve_device(args.device))
    if args.json:
        print(json.dumps({"index": os.path.abspath(args.index), "plate": args.plate,
                          "scenes": [p.to_dict() for p in plans]}, indent=2))
        return 0
    lines = []
    for p in plans:
        lines.append(f"scene {p.first}-{p.last} ({p.last - p.first + 1} frames; queried with frames "
                     f"{', '.join(map(str, p.query_frames))})")
        for n, m in enumerate(p.matches, 1):
            lines.append(f"  {n:2d}. {m.score:.4f}  {m.path}")
    print("\n".join(lines))
    return 0
