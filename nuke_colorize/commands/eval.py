"""``nuke-colorize eval``: colourise the grey version of true-colour clips and score them.

Examples::

    nuke-colorize eval --clip DAVIS/JPEGImages/480p/blackswan --refs 0
    nuke-colorize eval --clips-root DAVIS/JPEGImages/480p --refs 9 --size 384x216 --out runs/p3
"""
from __future__ import annotations

import math
import os
import sys
import time
from typing import Any, Dict, List, Optional

from ..backends import DEFAULT_BACKEND, REGISTRY
from ..errors import InputError
from .render import parse_settings  # noqa: F401 - one --set parser for every command

_COLUMNS = (  # header, key, format
    ("clip", "clip", "{}"),
    ("frames", "frames", "{:d}"),
    ("PSNR", "psnr", "{:.2f}"),
    ("inner", "psnr_inner", "{:.2f}"),
    ("outer", "psnr_outer", "{:.2f}"),
    ("grey PSNR", "psnr_grey", "{:.2f}"),
    ("SSIM", "ssim", "{:.4f}"),
    ("flicker", "flicker", "{:.3f}"),
    ("GT flicker", "flicker_gt", "{:.3f}"),
    ("ratio", "flicker_ratio", "{:.2f}"),
    ("colour", "colourfulness", "{:.1f}"),
    ("GT colour", "colourfulness_gt", "{:.1f}"),
    ("CDC", "cdc", "{:.5f}"),
    ("s/frame", "seconds_per_frame", "{:.3f}"),
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval", help="colourise grey versions of true-colour clips and report PSNR/SSIM/flicker/CDC",
        description="Builds a grey plate from each clip's Rec.709 luminance, colourises it with "
                    "the given reference frames and compares with the true colours. Per-clip PSNR, SSIM "
                    "and colourfulness are means over the frames that are not references (a reference "
                    "frame's output is its own truth).")
    p.add_argument("--clip", action="append", default=[], metavar="DIR",
                   help="folder of true-colour JPEG/PNG frames (repeatable)")
    p.add_argument("--clips-root", metavar="DIR",
                   help="every sub-folder of DIR holding images is a clip")
    p.add_argument("--refs", default="0",
                   help="reference frame indices into each clip: 0 | 0,last | 9 (default 0)")
    p.add_argument("--size", metavar="WxH", help="evaluate at this size (resized in linear light)")
    p.add_argument("--backend", default=None, choices=sorted(REGISTRY),
                   help=f"colourisation backend (default {DEFAULT_BACKEND})")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                   help="backend setting (value parsed as JSON when possible; repeatable)")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"],
                   help="compute device (default cpu; auto: CUDA when present)")
    p.add_argument("--matte-root", metavar="DIR",
                   help="instance mattes: DIR/<clip name>/ with files named like the frames")
    p.add_argument("--out", metavar="DIR",
                   help="write DIR/<clip>/{contact_sheet.png,psnr.png,metrics.json} and DIR/summary.json")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")
    p.add_argument("--limit-frames", type=int, metavar="N", help="only the first N frames of each clip")
    p.add_argument("--temporal-smoothing", type=float, default=0.0, metavar="STRENGTH",
                   help="temporal smoothing stage of the pipeline (0 = off, the default)")
    p.add_argument("--degrade", metavar="flicker=A,grain=S[,seed=N]",
                   help="score on degraded footage, as archival scans are: per-frame exposure "
                        "flicker (exposure x exp(-U(0, A))) and luminance grain of relative std S, applied to the "
                        "true-colour frames before the plate and references are taken")
    p.add_argument("--auto-library-root", metavar="DIR",
                   help="automatic mode, leave-one-out: references are retrieved (per scene) from the "
                        "frames of every clip under DIR except the clip being evaluated; --refs is ignored")
    p.add_argument("--auto-references", type=int, default=3, metavar="K",
                   help="stills retrieved per scene in automatic mode (default 3)")
    p.add_argument("--library-index", metavar="INDEX",
                   help="index file of --auto-library-root, built or updated incrementally "
                        "(default: OUT/library_index.npz with --out, else a temporary file)")
    p.set_defaults(func=run)


def collect_clips(clips: List[str], clips_root: Optional[str] = None) -> List[str]:
    from ..evaluate import is_clip_dir

    out = [os.path.abspath(c) for c in clips]
    if clips_root:
        if not os.path.isdir(clips_root):
            raise InputError("clips root folder not found", file=clips_root)
        subs = sorted(os.path.join(clips_root, n) for n in os.listdir(clips_root))
        found = [os.path.abspath(s) for s in subs if is_clip_dir(s)]
        if not found:
            raise InputError("no sub-folder with JPEG/PNG frames", file=clips_root)
        out += found
    if not out:
        raise InputError("no clip given", hint="use --clip DIR or --clips-root DIR")
    seen, uniq = set(), []
    for c in out:
        if c not in seen:
            seen.add(c)
            uniq.append(c)
    return uniq


def _cell(fmt: str, v) -> str:
    if v is None:   # undefined, e.g. the flicker ratio of a truth that does not flicker
        return "-"
    if isinstance(v, float) and math.isnan(v):
        return "n/a"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return fmt.format(v)


def format_table(results: List[Dict[str, Any]], summary: Dict[str, Any]) -> str:
    rows = [[h for h, _, _ in _COLUMNS]]
    for r in results:
        rows.append([_cell(fmt, r.get(k)) for _, k, fmt in _COLUMNS])
    mean = dict(summary, clip=f"mean ({summary['clips']} clips)")
    rows.append([_cell(fmt, mean.get(k)) for _, k, fmt in _COLUMNS])
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]

    def line(row):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    sep = "-" * len(line(rows[0]))
    return "\n".join([line(rows[0]), sep] + [line(r) for r in rows[1:-1]] + [sep, line(rows[-1])])


REPORT_FILES = ("contact_sheet.png", "psnr.png", "metrics.json")


def _check_out(out: str, clips: List[str]) -> None:
    """Refuse an ``--out`` whose per-clip report folder would be a clip's own folder (the
    contact sheet and plot would join the clip's frames and break its next evaluation) or
    shared by two clips of the same name (the second report would replace the first), and
    one that cannot be made or written (a file, under a file, a read-only or virtual folder):
    found here, before any clip is computed, not when the first report is written."""
    seen: Dict[str, str] = {}
    for clip in clips:
        name = os.path.basename(clip.rstrip(os.sep))
        report = os.path.realpath(os.path.join(out, name))
        if report == os.path.realpath(clip):
            raise InputError("--out would put the report (contact sheet, plot) among the clip's own frames",
                             file=clip, hint="give --out a folder outside the clips, e.g. runs/p1")
        if report in seen:
            raise InputError(f"two clips named {name} would write one report folder ({seen[report]} and {clip})",
                             file=clip, hint="evaluate them in separate runs, with different --out")
        seen[report] = clip
    _check_writable_folder(out)
    for clip in clips:
        report = os.path.join(out, os.path.basename(clip.rstrip(os.sep)))
        if os.path.lexists(report):
            _check_writable_folder(report)
            for f in REPORT_FILES:
                if os.path.isdir(os.path.join(report, f)):
                    raise InputError("is a folder: the report file cannot be written there",
                                     file=os.path.join(report, f), hint="remove it or choose another --out")
    if os.path.isdir(os.path.join(out, "summary.json")):
        raise InputError("is a folder: the summary cannot be written there", file=os.path.join(out, "summary.json"),
                         hint="remove it or choose another --out")


def _check_writable_folder(folder: str) -> None:
    """Refuse ``folder`` (``--out`` or a report folder in it) when it is not a folder or
    cannot be made and written: tried by making (and removing) a probe folder in it, or in
    its nearest existing parent when it does not exist yet. Nothing is left behind."""
    import tempfile

    path = os.path.abspath(folder)
    probe_in = path
    while not os.path.lexists(probe_in):
        parent = os.path.dirname(probe_in)
        if parent == probe_in:
            break
        probe_in = parent
    if not os.path.isdir(probe_in):
        if probe_in == path:
            raise InputError("is a file, not a folder: the evaluation report cannot be written there",
                             file=folder, hint="give --out a folder, e.g. runs/p1")
        raise InputError(f"is a file, so the report folder {folder} cannot be made under it",
                         file=probe_in, hint="give --out a folder, e.g. runs/p1")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".nc-eval-probe-", dir=probe_in))
    except OSError as err:
        where = "" if probe_in == path else f" (making a folder in {probe_in} failed)"
        raise InputError(f"the report folder cannot be made or written{where}: {err.strerror or err}",
                         file=folder, hint="give --out a writable folder") from None


def check_refs(spec: str, clips: List[str], limit_frames: Optional[int] = None) -> None:
    """Check ``--refs`` against every clip before any is evaluated: the frame counts come
    from listing the clip folders (see :func:`nuke_colorize.evaluate.list_frames`); an index
    outside a clip is refused naming that clip's folder."""
    from ..evaluate import list_frames, parse_refs

    for clip in clips:
        n = len(list_frames(clip))
        hint = None
        if limit_frames and limit_frames < n:
            n, hint = int(limit_frames), f"--limit-frames {limit_frames} keeps only the first {limit_frames}"
        parse_refs(spec, n, clip, hint=hint)


def run(args) -> int:
    from ..backends import DEFAULT_BACKEND
    from ..evaluate import evaluate_clip, parse_size, summarise, to_json

    clips = collect_clips(args.clip, args.clips_root)
    size = parse_size(args.size)
    settings = parse_settings(args.settings)
    backend = args.backend or DEFAULT_BACKEND
    if args.limit_frames is not None and args.limit_frames < 2:
        raise InputError("--limit-frames must be at least 2")
    from ..temporal import check_strength
    smoothing = check_strength(args.temporal_smoothing)
    if not args.auto_library_root:   # automatic mode ignores --refs
        check_refs(args.refs, clips, args.limit_frames)
    from ..degradation import parse_degradation
    degrade = parse_degradation(args.degrade)
    if args.out:
        _check_out(args.out, clips)
    auto = _auto_library(args) if args.auto_library_root else None
    results = []
    for n, clip in enumerate(clips, 1):
        name = os.path.basename(clip.rstrip(os.sep))
        matte_dir = os.path.join(args.matte_root, name) if args.matte_root else None
        out_dir = os.path.join(args.out, name) if args.out else None
        t0 = time.time()
        interactive = sys.stderr.isatty()

        def on_frame(done, total, _name=name, _n=n):
            if interactive:
                print(f"\r[{_n}/{len(clips)}] {_name}: frame {done}/{total}", end="",
                      file=sys.stderr, flush=True)

        r = evaluate_clip(clip, refs=args.refs, size=size, backend=backend, settings=settings,
                          out_dir=out_dir, matte_dir=matte_dir, device=args.device,
                          limit_frames=args.limit_frames, on_frame=on_frame, temporal_smoothing=smoothing,
                          stills=auto(clip) if auto else None, degrade=degrade)
        results.append(r)
        print(("\r" if interactive else "")
              + f"[{n}/{len(clips)}] {name}: {r['frames']} frames  PSNR {r['psnr']:.2f} dB "
              f"(grey {r['psnr_grey']:.2f})  "
              f"SSIM {r['ssim']:.4f}  flicker {r['flicker']:.3f} (GT {r['flicker_gt']:.3f})  "
              f"{r['seconds_per_frame']:.3f} s/frame  ({time.time() - t0:.0f} s with metrics)",
              file=sys.stderr, flush=True)
        if r.get("grey_truth"):
            print(f"nuke-colorize: note: {clip}: the clip holds no colour (its truth is grey): PSNR and SSIM "
                  "only measure how grey the output stays, and the flicker ratio is undefined ('-')",
                  file=sys.stderr, flush=True)
    summary = summarise(results)
    summary.update(refs=args.refs, size=args.size, backend=backend, settings=settings,
                   keyframes_in_mean=False, temporal_smoothing=smoothing,
                   degrade=degrade.describe() if degrade else None)
    if auto:
        summary.update(refs="auto", auto_library_root=os.path.abspath(args.auto_library_root),
                       auto_references=args.auto_references)
    if args.out:
        from ..io.atomic import atomic_write_text
        atomic_write_text(os.path.join(args.out, "summary.json"),
                          to_json({"summary": summary, "clips": [
                              {k: v for k, v in r.items() if k != "per_frame"} for r in results]}))
    if args.json:
        sys.stdout.write(to_json({"summary": summary, "clips": results}))
    else:
        print(format_table(results, summary))
        refs = (f"auto ({args.auto_references} stills per scene from the other clips under "
                f"{args.auto_library_root})" if auto else args.refs)
        print(f"refs {refs}; size {args.size or 'native'}; backend {backend}; "
              f"temporal smoothing {smoothing:g}; "
              + (f"degraded ({degrade.describe()}); " if degrade else "") +
              "PSNR, SSIM and colour over the frames that are not references; flicker in CIE a*b* units "
              "(GT = the footage's own); CDC over frame gaps 1,2,4")
    return 0


def _auto_library(args):
    """Leave-one-out automatic mode: index every clip under the root once (incrementally), then
    for each clip a ``stills`` callable for :func:`evaluate_clip` that plans its scenes with the
    clip's own frames excluded (each indexed image records its clip: its folder under the root)."""
    import tempfile

    from ..library.auto import check_count, plan_scenes
    from ..library.index import update_index

    k = check_count(args.auto_references)
    root = os.path.abspath(args.auto_library_root)
    if args.library_index or args.out:
        path = args.library_index or os.path.join(args.out, "library_index.npz")
    else:  # a throw-away index, removed when the run ends
        import atexit
        import shutil
        scratch = tempfile.mkdtemp(prefix="nc_eval_lib_")
        atexit.register(shutil.rmtree, scratch, True)
        path = os.path.join(scratch, "library.npz")
    index, report = update_index(root, path, progress=sys.stderr.isatty(), device=args.device
                                 if args.device in ("cpu", "cuda") else "cpu")
    print(f"library {path}: {report.total} stills ({report.computed} computed, {report.reused} unchanged, "
          f"{len(report.failed)} skipped)", file=sys.stderr, flush=True)

    def for_clip(clip: str):
        real = os.path.realpath(clip)
        own = {e.group for e in index.entries if os.path.realpath(os.path.dirname(e.path)) == real}
        rel = os.path.relpath(real, os.path.realpath(root))
        if not rel.startswith(os.pardir):
            own.add(rel.replace(os.sep, "/"))

        def stills(luma, frames):
            plans, _ = plan_scenes(luma, frames, index, k, exclude_groups=own)
            return [p.to_dict() for p in plans]
        return stills
    return for_clip

