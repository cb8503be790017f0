"""How much a better blend of the two chains between keyframes could add (P2).

Between two keyframes every frame is coloured twice, by the chain walking forward from
the first keyframe and by the one walking back from the second, and the engine blends the
two per pixel by distance and confidence (:func:`nuke_colorize.engine.blend_results`).
For each clip of a folder of true-colour clips this colourises the grey plate with its
first and last frames as keyframes, keeps both chains' results of every ``--step``-th
frame on a grid of one pixel in ``--grid``, and reports the squared a*b* error (CIE
units, mean over the kept pixels) of:

* ``rule``: the engine's blend;
* ``learned``: a per-pixel blend weight predicted from what the engine sees at that point
  (both chains' confidence, its local mean, their chroma magnitude and local spread, how
  far they disagree, the luminance, the distance weights): the rule's weight corrected by a
  small network (16 tanh units) trained on the *other* clips (leave one clip out), so it
  tells whether those quantities say which chain is right;
* ``best chain``: per pixel, whichever chain is closer to the truth (known only with it).

Usage::

    .venv/bin/python bench/chain_blend_headroom.py \\
        --clips-root ../shared/data/davis2016-val/JPEGImages/480p [--clips a,b,c]
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Dict, List, Tuple

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from nuke_colorize.backends.base import Result  # noqa: E402
from nuke_colorize.color import chroma_of  # noqa: E402
from nuke_colorize.engine import Engine, blend_results, blend_weight, pixel_blend_weights  # noqa: E402
from nuke_colorize.evaluate import grey_plate, list_frames, load_ground_truth, u8_to_linear  # noqa: E402
from nuke_colorize.pipeline import Colorizer, ReferenceInput  # noqa: E402

FEATURES = ("conf 1", "local conf 1", "chroma 1", "spread 1", "conf 2", "local conf 2", "chroma 2",
            "spread 2", "disagreement", "sqrt Y", "distance weight 1", "distance weight 2")


def pixel_features(ab: List[np.ndarray], conf: List[np.ndarray], y: np.ndarray,
                   dist: Tuple[float, float], window: int = 31) -> np.ndarray:
    """(H, W, 12) float32 features of one frame: per chain, confidence (H, W) in [0, 1],
    its ``window`` box mean, |ab| / 50 and the local standard deviation of ab / 20; then
    |ab1 - ab2| / 20, sqrt of the linear luminance ``y``, and the two distance weights."""
    cols = []
    for a, c in zip(ab, conf):
        mean = cv2.blur(a, (window, window))
        var = cv2.blur((a * a).sum(-1), (window, window)) - (mean * mean).sum(-1)
        cols += [c, cv2.blur(c, (window, window)), np.linalg.norm(a, axis=-1) / 50.0,
                 np.sqrt(np.maximum(var, 0.0)) / 20.0]
    cols += [np.linalg.norm(ab[0] - ab[1], axis=-1) / 20.0, np.sqrt(np.maximum(y, 0.0)),
             np.full_like(y, dist[0]), np.full_like(y, dist[1])]
    return np.stack(cols, -1).astype(np.float32)


def collect(clip_dir: str, step: int, grid: int, limit: int) -> Dict[str, np.ndarray]:
    """Colourise one clip (keyframes first and last) and keep, for every ``step``-th frame
    both chains emit, on a ``grid`` pixel lattice: features (N, 12), the rule's blend
    weight of chain 1 (N,), both chains' ab (N, 2, 2), the rule's ab (N, 2), true ab (N, 2)."""
    paths = list_frames(clip_dir)[:limit or None]
    gt = load_ground_truth(paths)
    h, w = gt[0].shape[:2]
    T = len(gt)
    refs = [ReferenceInput(rgb=u8_to_linear(gt[i]), frame=i, path=paths[i]) for i in (0, T - 1)]
    col = Colorizer(lambda f: grey_plate(gt[f]), (w, h), refs)
    if (col.work_w, col.work_h) != (w, h):
        raise SystemExit("run at the working size (plates up to the backend's limit)")
    segs = col.segments(list(range(T)))
    power = col.backend.blend_distance_power
    engine = Engine(col.backend, col.references, col.target, None)
    pending: Dict[int, list] = {}
    out: Dict[str, list] = {k: [] for k in ("x", "alpha", "ab", "rule", "truth")}
    sub = (slice(grid // 2, None, grid), slice(grid // 2, None, grid))
    for seg, f, res in engine.run_chains(segs, None):
        if f in (0, T - 1) or (f - 1) % step:
            continue
        light = Result(ab=np.asarray(res.ab, np.float32), confidence=np.asarray(res.confidence, np.float32),
                       state={}, info={})
        pending.setdefault(f, []).append((seg, light))
        if len(pending[f]) < 2:
            continue
        parts = sorted(pending.pop(f), key=lambda p: p[0].direction, reverse=True)
        ab = [np.asarray(r.ab, np.float32) for _, r in parts]
        conf = [np.asarray(r.confidence, np.float32) for _, r in parts]
        dist = tuple(blend_weight(s, f, power) for s, _ in parts)
        wts = pixel_blend_weights(parts, f, power)
        rule = blend_results(parts, f, power).ab
        out["x"].append(pixel_features(ab, conf, grey_plate(gt[f]), dist)[sub].reshape(-1, len(FEATURES)))
        out["alpha"].append((wts[0] / (wts[0] + wts[1]))[sub].ravel())
        out["ab"].append(np.stack(ab, -2)[sub].reshape(-1, 2, 2))
        out["rule"].append(np.asarray(rule, np.float32)[sub].reshape(-1, 2))
        out["truth"].append(chroma_of(u8_to_linear(gt[f]))[sub].reshape(-1, 2))
    return {k: np.concatenate(v) for k, v in out.items()}


def fit_correction(data: List[Dict[str, np.ndarray]], per_clip: int, iters: int, seed: int = 0):
    """Train logit(alpha) = logit(rule alpha) + MLP(features) on the given clips (equal
    samples from each), minimising the blended ab's squared error. Returns the MLP."""
    rng = np.random.default_rng(seed)
    picks = [rng.choice(len(d["x"]), min(per_clip, len(d["x"])), replace=False) for d in data]
    x = torch.tensor(np.concatenate([d["x"][p] for d, p in zip(data, picks)]))
    a0 = torch.tensor(np.concatenate([d["alpha"][p] for d, p in zip(data, picks)]))
    ab = torch.tensor(np.concatenate([d["ab"][p] for d, p in zip(data, picks)]))
    truth = torch.tensor(np.concatenate([d["truth"][p] for d, p in zip(data, picks)]))
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    torch.nn.init.zeros_(net[2].weight)
    torch.nn.init.zeros_(net[2].bias)
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    base = torch.logit(a0.clamp(1e-4, 1 - 1e-4))
    for _ in range(iters):
        alpha = torch.sigmoid(base + net(x)[:, 0])[:, None]
        loss = ((alpha * ab[:, 0] + (1 - alpha) * ab[:, 1] - truth) ** 2).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


def learned_ab(net, d: Dict[str, np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        base = torch.logit(torch.tensor(d["alpha"]).clamp(1e-4, 1 - 1e-4))
        alpha = torch.sigmoid(base + net(torch.tensor(d["x"]))[:, 0]).numpy()[:, None]
    return alpha * d["ab"][:, 0] + (1 - alpha) * d["ab"][:, 1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips-root", required=True, help="folder of clip folders (sRGB frames)")
    ap.add_argument("--clips", default="", help="comma-separated clip names (default: all)")
    ap.add_argument("--step", type=int, default=2, help="keep every N-th frame")
    ap.add_argument("--grid", type=int, default=6, help="keep one pixel in N along each axis")
    ap.add_argument("--frames", type=int, default=0, help="first N frames of each clip (0 = all)")
    ap.add_argument("--samples", type=int, default=40000, help="training pixels per clip")
    ap.add_argument("--iters", type=int, default=300)
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    names = [c for c in args.clips.split(",") if c] or sorted(
        d for d in os.listdir(args.clips_root) if os.path.isdir(os.path.join(args.clips_root, d)))
    data = []
    for c in names:
        data.append(collect(os.path.join(args.clips_root, c), args.step, args.grid, args.frames))
        print(f"collected {c}: {len(data[-1]['x'])} pixels", flush=True)

    def err(ab, truth):
        return float(((ab - truth) ** 2).sum(-1).mean())

    print(f"{'clip':20s} {'rule':>8s} {'learned':>8s} {'best chain':>10s}   (squared a*b* error)")
    rows = []
    for i, (c, d) in enumerate(zip(names, data)):
        net = fit_correction([x for j, x in enumerate(data) if j != i], args.samples, args.iters)
        e = (err(d["rule"], d["truth"]), err(learned_ab(net, d), d["truth"]),
             float(np.minimum(((d["ab"][:, 0] - d["truth"]) ** 2).sum(-1),
                              ((d["ab"][:, 1] - d["truth"]) ** 2).sum(-1)).mean()))
        rows.append(e)
        print(f"{c:20s} {e[0]:8.2f} {e[1]:8.2f} {e[2]:10.2f}", flush=True)
    r = np.array(rows)
    db = 10 * np.log10(r[:, [0]] / r)
    print(f"mean gain over the rule (dB of a*b* error, per clip then averaged): learned "
          f"{db[:, 1].mean():+.3f} ({(db[:, 1] > 0).sum()} of {len(r)} up), best chain {db[:, 2].mean():+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
