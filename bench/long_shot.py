"""Does colour hold over long shots? A clip played back and forth as one long shot.

Studio shots run to hundreds of frames; DAVIS clips to 25-104. This bench builds a long shot
with a known truth from a true-colour clip by playing it forward, backward, forward, ...
(``--laps`` passes, the turning frames not repeated), colourises its grey version from the
first frame (P1) and reports, per lap, the mean PSNR and the mean PSNR change of each source
frame against its own score in the first lap. The content of every lap is the same, so what
changes from lap to lap is only how far the chain has run from the keyframe: a chain that
drifts loses from lap to lap, one that holds on to its keyframe (the dense track re-finding
it, the re-anchoring match) does not. Also prints seconds per frame and peak RSS per lap.

Usage::

    .venv/bin/python bench/long_shot.py \\
        --clips-root ../shared/data/davis2016-val/JPEGImages/480p --clips blackswan,dog --laps 4
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from typing import Dict, List

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from nuke_colorize.commands.render import parse_settings  # noqa: E402
from nuke_colorize.evaluate import evaluate_clip, list_frames, parse_size  # noqa: E402


def pingpong(n: int, laps: int) -> List[int]:
    """Source frame indices of ``laps`` passes over ``n`` frames, alternately forward and
    backward, each pass after the first starting one frame past the turn.

    >>> pingpong(3, 3)
    [0, 1, 2, 1, 0, 1, 2]
    """
    order = list(range(n))
    for lap in range(1, laps):
        order += list(range(n - 2, -1, -1) if lap % 2 else range(1, n))
    return order


def lap_of(n: int, laps: int) -> List[int]:
    """The lap (0-based) of each frame of :func:`pingpong` ``(n, laps)``."""
    return [0] * n + [lap for lap in range(1, laps) for _ in range(n - 1)]


def build(clip_dir: str, laps: int, into: str) -> List[int]:
    """Symlink ``clip_dir``'s frames into ``into`` in ping-pong order (names 00000.jpg ..);
    returns the source index of each frame."""
    frames = list_frames(clip_dir)
    order = pingpong(len(frames), laps)
    for i, src in enumerate(order):
        ext = os.path.splitext(frames[src])[1]
        os.symlink(os.path.abspath(frames[src]), os.path.join(into, f"{i:05d}{ext}"))
    return order


def run_clip(clip_dir: str, laps: int, size, settings: Dict) -> Dict:
    """Colourise ``clip_dir`` played ``laps`` times back and forth from its first frame; per
    lap: mean PSNR, mean change against lap 0 of the same source frames, s/frame, peak RSS."""
    with tempfile.TemporaryDirectory(prefix="long_shot_") as tmp:
        order = build(clip_dir, laps, tmp)
        n = len(list_frames(clip_dir))
        lap = lap_of(n, laps)
        stamps = [time.perf_counter()]
        peaks: List[float] = []

        def on_frame(done: int, total: int) -> None:
            stamps.append(time.perf_counter())
            peaks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)

        res = evaluate_clip(tmp, refs="0", size=size, settings=settings, on_frame=on_frame)
    psnr = [p["psnr"] for p in res["per_frame"]]
    first = {order[i]: psnr[i] for i in range(n) if i > 0}     # frame 0 is the keyframe
    out = []
    for k in range(laps):
        idx = [i for i in range(len(order)) if lap[i] == k and order[i] != 0]
        deltas = [psnr[i] - first[order[i]] for i in idx if order[i] in first]
        times = [stamps[i + 1] - stamps[i] for i in idx if i + 1 < len(stamps)]
        out.append({"lap": k, "frames": len(idx),
                    "psnr": sum(psnr[i] for i in idx) / len(idx),
                    "delta_vs_lap0": sum(deltas) / len(deltas) if deltas else 0.0,
                    "worst_delta": min(deltas) if deltas else 0.0,
                    "s_per_frame": sum(times) / len(times) if times else float("nan"),
                    "peak_rss_mb": max(peaks[i] for i in idx if i < len(peaks))})
    return {"clip": os.path.basename(clip_dir), "frames": len(order), "laps": out}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips-root", required=True, help="folder of true-colour clip folders")
    ap.add_argument("--clips", required=True, help="comma-separated clip names")
    ap.add_argument("--laps", type=int, default=4, help="passes over each clip (default 4)")
    ap.add_argument("--size", type=parse_size, default=None, help="WxH (default: native)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="backend setting (JSON value), repeatable")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)
    settings = parse_settings(args.set)
    import torch
    torch.set_num_threads(2)
    results = [run_clip(os.path.join(args.clips_root, c), args.laps, args.size, settings)
               for c in args.clips.split(",")]
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print("clip             frames lap  PSNR   vs lap 0  worst   s/frame  peak RSS MB")
    for r in results:
        for lap in r["laps"]:
            print(f"{r['clip']:<16} {r['frames']:>6} {lap['lap']:>3}  {lap['psnr']:6.2f}  "
                  f"{lap['delta_vs_lap0']:+7.2f}  {lap['worst_delta']:+6.2f}  {lap['s_per_frame']:7.3f}"
                  f"  {lap['peak_rss_mb']:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
