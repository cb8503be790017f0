"""``nuke-colorize cache build|status|clear <shot.json>``: the shot cache from the command line."""
from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser("cache", help="build, inspect or clear a shot's cache",
                       description="The shot cache stores every colourised frame's state so any frame "
                                   "can be rendered in any order, on any machine, identically.")
    csub = p.add_subparsers(dest="cache_command", metavar="ACTION")
    b = csub.add_parser("build", help="compute (and output) frames of a shot into its cache")
    b.add_argument("shot", help="shot description JSON")
    b.add_argument("--frames", help="frames to make available, e.g. 1001-1050 (default: the whole shot)")
    b.add_argument("--json-progress", action="store_true",
                   help="print one JSON object per line on stdout: done, total, frame, segment, computed")
    b.add_argument("--no-output", action="store_true", help="fill the cache only, write no output frames")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=run_build)
    s = csub.add_parser("status", help="coverage of the cache per segment")
    s.add_argument("shot", help="shot description JSON")
    s.add_argument("--json", action="store_true", help="print the status as JSON")
    s.set_defaults(func=run_status)
    c = csub.add_parser("clear", help="delete the shot's cache")
    c.add_argument("shot", help="shot description JSON")
    c.add_argument("--stale", action="store_true",
                   help="only delete segments the shot no longer uses (other references, settings, versions)")
    c.set_defaults(func=run_clear)
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])


def _cache(path: str, events=None, action: str = "build"):
    from ..cache import ShotCache
    from ..errors import InputError
    from ..shot import Shot
    shot = Shot.load(path)
    if shot.library and action != "build":
        raise InputError(f"cache {action} does not cover shots with 'library' (automatic references): "
                         f"each scene has its own cache", file=path,
                         hint=f"see {shot.cache}/auto_references.json and {shot.cache}/scenes/")
    return ShotCache(shot, events=events)


def run_build(args) -> int:
    from ..io import parse_frames

    events = None
    if args.json_progress:
        def events(evt):
            sys.stdout.write(json.dumps(evt, sort_keys=True) + "\n")
            sys.stdout.flush()
    from ..cache import announce

    cache = _cache(args.shot, events)
    if not args.quiet:
        announce(f"cache build {cache.shot.path}", cache.shot, args.frames)
    wanted = parse_frames(args.frames) if args.frames else None
    if cache.shot.library:  # automatic references: one cache per scene (nuke_colorize.library.auto)
        from ..library.auto import render_auto_shot
        summary = render_auto_shot(cache.shot, wanted, write_outputs=not args.no_output,
                                   progress=not args.quiet and not args.json_progress, events=events)
    else:
        summary = cache.render(wanted, write_outputs=not args.no_output,
                               progress=not args.quiet and not args.json_progress)
    if not args.json_progress:
        print(f"{len(summary['computed'])} frame(s) computed, {summary['loaded']} read from the cache "
              f"in {summary['seconds']:.1f}s ({summary['cache']})", file=sys.stderr)
    return 0


def run_status(args) -> int:
    st = _cache(args.shot, action="status").status()
    if args.json:
        print(json.dumps(st, indent=2))
        return 0
    out = [f"shot {st['shot']}  frames {st['frames'][0]}-{st['frames'][1]}  key {st['shot_key']}",
           f"cache {st['cache']}" + ("" if st["exists"] else "  (not created yet)"),
           f"  {'segment':<34} {'frames':>13} {'stored':>9}  state"]
    for s in st["segments"]:
        rng = f"{s['first']}-{s['last']}"
        out.append(f"  {s['name']:<34} {rng:>13} {s['stored']:>4}/{s['frames']:<4}  {s['state']}")
    out.append(f"  total {st['stored']}/{st['total']} chain frames stored; "
               f"{st['outputs']} output frame(s) in {st['output']}")
    if st["stale_segments"]:
        out.append(f"  {len(st['stale_segments'])} segment folder(s) ({st['stale_bytes'] / 1e6:.1f} MB) belong to "
                   f"other references, settings or versions: `cache clear --stale` removes them")
    print("\n".join(out))
    return 0


def run_clear(args) -> int:
    res = _cache(args.shot, action="clear").clear(stale_only=args.stale)
    print(f"removed {len(res['removed'])} item(s) from {res['cache']}", file=sys.stderr)
    return 0
