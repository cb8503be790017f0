"""Benchmark of the ``deepexemplar`` backend: seconds per frame and peak RSS.

Random weights with exactly the official layout are written to a temporary models folder
(speed and memory do not depend on the values). Each case runs in its own process so its
peak RSS is its own:

* working sizes (backend alone): 216x384 and 432x768 (H x W);
* plate sizes (full pipeline: plate luminance -> working size -> backend -> guided
  upsampling -> recombination at plate resolution): 1920x1080 and 4096x2160 (W x H).

Usage::

    .venv/bin/python bench/deepexemplar.py                  # all cases, 2 threads, 3 frames
    .venv/bin/python bench/deepexemplar.py --frames 2 --cases work:216x384
    .venv/bin/python bench/deepexemplar.py --precision bfloat16
    .venv/bin/python bench/deepexemplar.py --cases work:216x384 --restrict dense   # + tracking masks

Targets (issue 4): 216x384 <= 2.2 s/frame on 2 CPU threads; peak RSS <= 3 GB for a
4096x2160 plate; 432x768 must run. The first frame (allocator warm-up) is reported apart
and excluded from s/frame. "cpu" is the process CPU time per frame (all threads): about
threads x s/frame on an idle machine; when it is much lower, other processes were competing
for the cores and s/frame is pessimistic.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

DEFAULT_CASES = ["work:216x384", "work:432x768", "plate:1920x1080", "plate:4096x2160"]


def _peak_rss_mb() -> float:
    import resource
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / (1024.0 * 1024.0)


def _synthetic_lab(h: int, w: int, seed: int):
    import numpy as np
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    L = 50 + 30 * np.sin(xx / (w / 9.0)) * np.cos(yy / (h / 7.0)) + rng.normal(0, 3, (h, w))
    a = 40 * np.sin(xx / (w / 5.0) + seed)
    b = 40 * np.cos(yy / (h / 4.0) - seed)
    return np.stack([np.clip(L, 0, 100), a, b], -1).astype(np.float32)


def _run_case(case: str, frames: int, threads: int, precision: str, models: str,
              restrict: str = "none") -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    os.environ["NUKE_COLORIZE_MODELS"] = models
    kind, size = case.split(":")
    a, b = (int(v) for v in size.split("x"))
    settings = {"precision": precision, "restrict": restrict}
    times, cpu = [], []
    mask_bytes = []
    if kind == "work":
        from nuke_colorize.backends import make_backend
        from nuke_colorize.backends.base import Previous, Reference, TargetFrame
        h, w = a, b
        settings["working_size"] = min(h, w)
        be = make_backend("deepexemplar", settings, "cpu")
        from nuke_colorize.engine import canonical_state
        t = time.perf_counter()
        ref = Reference(lab=_synthetic_lab(h, w, 1), path="ref", frame=0 if restrict != "none" else None)
        be.set_references([ref])
        ref_s = time.perf_counter() - t
        prev = None
        if ref.frame is not None:   # a keyframe anchors the chain (the tracking masks start there)
            key = canonical_state(be.keyframe_result(TargetFrame(frame=0, L=ref.lab[..., 0]), ref))
            prev = Previous(frame=0, state=key.state)
        for f in range(1, frames + 1):
            L = _synthetic_lab(h, w, 10 + f)[..., 0]
            t, c = time.perf_counter(), time.process_time()
            r = canonical_state(be.colorize(TargetFrame(frame=f, L=L), prev))
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            prev = Previous(frame=f, state=r.state)
            if "tmask" in r.state:
                mask_bytes.append(int(r.state["tmask"].nbytes))
        work = (w, h)
    else:
        from nuke_colorize import color
        from nuke_colorize.pipeline import Colorizer, ReferenceInput
        w, h = a, b
        ref_rgb = np.maximum(color.lab_to_rgb(_synthetic_lab(1080, 1920, 1)), 0).astype(np.float32)

        def luma(frame: int):
            rng = np.random.default_rng(frame)
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            y = 0.18 + 0.15 * np.sin(xx / (w / 9.0) + frame * 0.1) * np.cos(yy / (h / 7.0))
            return (y + rng.normal(0, 0.01, (h, w))).astype(np.float32)

        t = time.perf_counter()
        col = Colorizer(luma, (w, h), [ReferenceInput(rgb=ref_rgb, frame=None, path="still")],
                        backend="deepexemplar", settings=settings, device="cpu")
        ref_s = time.perf_counter() - t
        work = (col.work_w, col.work_h)
        t, c = time.perf_counter(), time.process_time()
        lum_diff = 0.0
        for out in col.run(list(range(frames))):
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            y_out = color.luminance(out.rgb)
            lum_diff = max(lum_diff, float(np.abs(y_out - luma(out.frame)).max()))
            t, c = time.perf_counter(), time.process_time()
    steady = times[1:] if len(times) > 1 else times
    steady_cpu = cpu[1:] if len(cpu) > 1 else cpu
    res = {"case": case, "working_size": f"{work[0]}x{work[1]}", "frames": frames,
           "first_frame_s": round(times[0], 3), "s_per_frame": round(sum(steady) / len(steady), 3),
           "cpu_s_per_frame": round(sum(steady_cpu) / len(steady_cpu), 3),
           "references_s": round(ref_s, 3), "peak_rss_mb": round(_peak_rss_mb(), 1),
           "threads": threads, "precision": precision, "restrict": restrict}
    if mask_bytes:
        res["mask_kb_per_frame"] = round(sum(mask_bytes) / len(mask_bytes) / 1024, 1)
    if kind == "plate":
        res["max_luminance_change"] = lum_diff
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", nargs="*", default=DEFAULT_CASES,
                    help="work:HxW (backend alone) or plate:WxH (full pipeline)")
    ap.add_argument("--frames", type=int, default=3, help="frames per case (first is warm-up)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--restrict", default="none", choices=["none", "dense"],
                    help="dense: a keyframe reference and dense-tracking masks (work cases only)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--one", help=argparse.SUPPRESS)       # internal: run one case in this process
    ap.add_argument("--models", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.one:
        print(json.dumps(_run_case(args.one, args.frames, args.threads, args.precision, args.models,
                                   args.restrict)))
        return 0

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    results = []
    with tempfile.TemporaryDirectory(prefix="nc-bench-models-") as models:
        from nuke_colorize.networks.layout import save_random_checkpoints
        save_random_checkpoints(models)
        for case in args.cases:
            cmd = [sys.executable, os.path.abspath(__file__), "--one", case, "--frames", str(args.frames),
                   "--threads", str(args.threads), "--precision", args.precision, "--models", models,
                   "--restrict", args.restrict]
            p = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if p.returncode != 0:
                results.append({"case": case, "error": (p.stderr.strip().splitlines() or ["?"])[-1]})
            else:
                results.append(json.loads(p.stdout.strip().splitlines()[-1]))
            if not args.json:
                r = results[-1]
                if "error" in r:
                    print(f"{case:<18} FAILED: {r['error']}", flush=True)
                else:
                    extra = (f"  max|dY|={r['max_luminance_change']:.2e}"
                             if "max_luminance_change" in r else "")
                    if "mask_kb_per_frame" in r:
                        extra += f"  masks {r['mask_kb_per_frame']:.1f} kB/frame"
                    print(f"{case:<18} work {r['working_size']:>8}  {r['s_per_frame']:7.3f} s/frame"
                          f"  (cpu {r['cpu_s_per_frame']:.2f} s, first {r['first_frame_s']:.3f} s,"
                          f" references {r['references_s']:.3f} s)"
                          f"  peak RSS {r['peak_rss_mb']:7.1f} MB{extra}", flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
