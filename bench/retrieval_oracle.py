"""How much could better retrieval give automatic mode? A leave-one-out oracle.

For each clip of a folder of true-colour clips (e.g. DAVIS-2016 val), the clip is
colourised from single stills of the *other* clips, one still at a time: the 12 best by
the index's global score, plus the best-scoring frame of every other clip. The best PSNR
among them (picked knowing the truth, which no retrieval can) bounds what choosing one
still better could reach; the tool's own automatic choice (top-k, coverage re-ranking) and
the grey plate are reported beside it.

Usage::

    .venv/bin/nuke-colorize library index DAVIS -o /tmp/lib.npz
    .venv/bin/python bench/retrieval_oracle.py --clips-root DAVIS --index /tmp/lib.npz \\
        --clips blackswan,dog,soapbox,breakdance,kite-surf,libby --frames 30 --size 384x216

Slow: one colourisation per candidate (about 30 per clip).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch

from nuke_colorize.correspond.features import load_mobilenetv2
from nuke_colorize.evaluate import evaluate_clip, grey_plate, list_frames, load_ground_truth, parse_size
from nuke_colorize.library import descriptors as D
from nuke_colorize.library.auto import sample_frames
from nuke_colorize.library.index import LibraryIndex
from nuke_colorize.library.query import global_scores, part_similarities, rank


def candidates(index: LibraryIndex, score: np.ndarray, own: str, top: int) -> list:
    """Rows of the ``top`` best stills outside ``own``, then each other clip's best one."""
    groups = np.array(index.groups)
    order = [int(i) for i in np.argsort(-score, kind="stable") if groups[i] != own]
    rows = order[:top]
    for g in sorted(set(groups) - {own}):
        best = next(i for i in order if groups[i] == g)
        if best not in rows:
            rows.append(best)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips-root", required=True)
    ap.add_argument("--index", required=True, help="index of the same folder (library index)")
    ap.add_argument("--clips", required=True, help="comma-separated clip folder names")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--size", default="384x216")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--k", type=int, default=3, help="stills of the tool's own choice")
    ap.add_argument("--json", help="write the per-candidate results here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    index = LibraryIndex.load(args.index)
    net = load_mobilenetv2("cpu")
    size = parse_size(args.size)
    settings = {"restrict": "none"}
    out, table = {}, []
    for clip in args.clips.split(","):
        clip_dir = os.path.join(args.clips_root, clip)
        gt = load_ground_truth(list_frames(clip_dir)[:args.frames], None)
        picks = sample_frames(list(range(len(gt))), 5)
        q = D.describe_L(net, [D.small_L_from_linear_y(grey_plate(gt[f])) for f in picks], "cpu")
        score = global_scores(part_similarities(index, q))
        chosen = [m.path for m in rank(index, q, top=args.k, exclude_groups={clip})]
        auto = evaluate_clip(clip_dir, size=size, limit_frames=args.frames, stills=chosen, settings=settings)
        rows = []
        for i in candidates(index, score, clip, args.top):
            path = index.entries[i].path
            r = evaluate_clip(clip_dir, size=size, limit_frames=args.frames, stills=[path], settings=settings)
            rows.append({"still": path, "score": float(score[i]), "psnr": r["psnr"],
                         "colourfulness_ratio": r["colourfulness"] / r["colourfulness_gt"]})
        best = max(rows, key=lambda r: r["psnr"])
        out[clip] = {"grey": auto["psnr_grey"], "auto": auto["psnr"], "auto_stills": chosen,
                     "best": best, "candidates": rows}
        table.append((auto["psnr_grey"], auto["psnr"], best["psnr"]))
        print(f"{clip:20s} grey {auto['psnr_grey']:6.2f}  auto (k={args.k}) {auto['psnr']:6.2f}  best single "
              f"{best['psnr']:6.2f} ({os.path.relpath(best['still'], args.clips_root)}, colourfulness "
              f"{best['colourfulness_ratio']:.2f} of the truth's)", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(out, f, indent=1)
    g, a, b = (float(np.mean(c)) for c in zip(*table))
    print(f"mean over {len(table)} clips: grey {g:.2f}  auto {a:.2f} ({a - g:+.2f})  oracle best single "
          f"{b:.2f} ({b - g:+.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
