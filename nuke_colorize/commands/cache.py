"""``nuke-colorize cache build|status|clear <shot.json>``: the shot cache from the command line."""
from __future__ import annotations

import json
import os
import sys

from . import help_when_bare


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
    s = csub.add_parser("status", help="coverage of the cache per segment, and which output frames are "
                                       "current, stale (other settings or inputs) or missing")
    s.add_argument("shot", help="shot description JSON")
    s.add_argument("--json", action="store_true", help="print the status as JSON")
    s.set_defaults(func=run_status)
    c = csub.add_parser("clear", help="delete what the shot's cache wrote (segments, locks, manifest, output "
                                      "records, scene caches, and outputs under <cache>/output); other files stay")
    c.add_argument("shot", help="shot description JSON")
    c.add_argument("--stale", action="store_true",
                   help="only delete segments the shot no longer uses (other references, settings, versions)")
    c.set_defaults(func=run_clear)
    help_when_bare(p)


def _cache(path: str, events=None):
    from ..cache import ShotCache
    from ..shot import Shot
    return ShotCache(Shot.load(path), events=events)


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
    cache = _cache(args.shot)
    if cache.shot.library:  # automatic references: one cache per scene
        return _auto_status(cache.shot, args.json)
    st = cache.status()
    if args.json:
        print(json.dumps(st, indent=2))
        return 0
    out = [f"shot {st['shot']}  frames {st['frames'][0]}-{st['frames'][1]}  key {st['shot_key']}",
           f"cache {st['cache']}" + ("" if st["exists"] else "  (not created yet)")]
    out += _segment_lines(st["segments"], "  ")
    out += [f"  total {st['stored']}/{st['total']} chain frames stored", _outputs_line(st, "  ")]
    if st["stale_segments"]:
        out.append(f"  {len(st['stale_segments'])} segment folder(s) ({st['stale_bytes'] / 1e6:.1f} MB) belong to "
                   f"other references, settings or versions: `cache clear --stale` removes them")
    out += _other_layout_lines(st, "scene caches and plan of automatic references, unused by this shot (it has no library)")
    print("\n".join(out))
    return 0


def _segment_lines(segments, indent: str):
    out = [f"{indent}{'segment':<34} {'frames':>13} {'stored':>9}  state"]
    for s in segments:
        rng = f"{s['first']}-{s['last']}"
        out.append(f"{indent}{s['name']:<34} {rng:>13} {s['stored']:>4}/{s['frames']:<4}  {s['state']}")
    return out


def _outputs_line(st, indent: str) -> str:
    """The output frames of a status: current (written for the shot as it is now), stale
    (there, but from other settings or inputs, in another encoding, or not written through this
    cache), missing."""
    from ..io import format_frames
    text = f"{indent}output frames {st['output']}: {st['outputs']} current"
    if st["stale_outputs"]:
        n = len(st["stale_outputs"])
        text += (f", {n} stale (frame{'s' if n > 1 else ''} {format_frames(st['stale_outputs'])}: written for "
                 f"other settings, references or inputs, or in another output depth or compression, or not "
                 f"through this cache; a render rewrites them)")
    return text + f", {st['missing_outputs']} missing"


def _other_layout_lines(st, what: str):
    if not st.get("other_layout"):
        return []
    names = ", ".join(os.path.relpath(p, st["cache"]) for p in st["other_layout"][:3])
    more = f" and {len(st['other_layout']) - 3} more" if len(st["other_layout"]) > 3 else ""
    return [f"  {names}{more} ({st['other_layout_bytes'] / 1e6:.1f} MB): {what}: "
            f"`cache clear --stale` removes them"]


def _auto_status(shot, as_json: bool) -> int:
    from ..library.auto import auto_status
    st = auto_status(shot)
    if as_json:
        print(json.dumps(st, indent=2))
        return 0
    out = [f"shot {st['shot']}  frames {st['frames'][0]}-{st['frames'][1]}  key {st['shot_key']}  "
           f"(automatic references from {st['library']})",
           f"cache {st['cache']}" + ("" if st["exists"] else "  (not created yet)")]
    if not st["planned"]:
        out.append("  scenes not planned yet for the shot as it is now: `cache build` plans them "
                   "(cuts and retrieval) and fills the caches")
    for sc in st["scenes"]:
        out.append(f"  scene {sc['scene'][0]}-{sc['scene'][1]}: {sc['stored']}/{sc['total']} chain frames stored; "
                   f"references {', '.join(os.path.basename(p) for p in sc['references']) or '-'}")
        out += _segment_lines(sc["segments"], "    ")
    out += [f"  total {st['stored']}/{st['total']} chain frames stored", _outputs_line(st, "  ")]
    if st["stale_scenes"] or st["stale_bytes"]:
        out.append(f"  {len(st['stale_scenes'])} scene cache(s) no longer planned and stale segments "
                   f"({st['stale_bytes'] / 1e6:.1f} MB): `cache clear --stale` removes them")
    out += _other_layout_lines(st, "segments and manifest of a shot without a library, unused by this shot (it has one)")
    print("\n".join(out))
    return 0


def run_clear(args) -> int:
    cache = _cache(args.shot)
    if cache.shot.library:  # automatic references: one cache per scene
        from ..library.auto import auto_clear
        res = auto_clear(cache.shot, stale_only=args.stale)
        print(f"removed {len(res['removed'])} item(s) from {res['cache']}", file=sys.stderr)
        return 0
    res = cache.clear(stale_only=args.stale)
    print(f"removed {len(res['removed'])} item(s) from {res['cache']}", file=sys.stderr)
    return 0
