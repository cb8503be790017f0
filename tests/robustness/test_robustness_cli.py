"""Hostile and broken input through the real CLI: one row per case (issue 9).

Each row builds its inputs in a copy of a tiny base shot (3-frame 64x48 plate, a colour
reference, outputs of an earlier render), runs ``python -m nuke_colorize ...`` as a subprocess
and checks: the exit code, ONE stderr line naming file / frame / problem, no traceback, every
file that existed before byte-identical afterwards, no unexpected or incomplete new files, no
temporary files left. Rows with exit code 0 are formats that must be accepted and rendered.

The rows run concurrently (a small thread pool of subprocesses, started when the module's first
test asks) so the whole table stays well under two minutes on two cores.
"""
from __future__ import annotations

import os
import pickle
import shutil
import zipfile
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

import rb_harness as hx
from rb_harness import Case, OUT, PLATE, render_argv



def pf(folder: Path, frame: int, ext: str = "exr") -> Path:
    return folder / "plate" / f"plate.{frame:04d}.{ext}"


# ---------------------------------------------------------------- builders
def b_nothing(d: Path):
    return None


def b_truncate(frame: int, keep: float, ext: str = "exr"):
    def build(d: Path):
        hx.truncate(pf(d, frame, ext), keep)
    return build


def b_plate_format(ext: str, dtype: str, then=None):
    def build(d: Path):
        hx.write_plate(d / "plate", ext=ext, dtype=dtype)
        if then:
            then(d)
    return build


def b_bytes(frame: int, data: bytes):
    def build(d: Path):
        pf(d, frame).write_bytes(data)
    return build


def b_pixels(frame: int, value: float, where=(slice(10, 12), slice(20, 23), 0)):
    def build(d: Path):
        px = hx.grey_rgb(frame)
        px[where] = value
        hx.oiio_write(pf(d, frame), px, compression="zip")
    return build


def b_negative(d: Path):
    for f in range(1, hx.NFRAMES + 1):
        px = hx.grey_rgb(f) - 0.1   # the dark end of the ramp goes below zero (grain, ACES edges)
        hx.oiio_write(pf(d, f), px, compression="zip")


def b_channels(names):
    def build(d: Path):
        for p in (d / "plate").iterdir():
            p.unlink()
        hx.write_plate(d / "plate", channels=names)
    return build


def b_unlink(*frames):
    def build(d: Path):
        for f in frames:
            pf(d, f).unlink()
    return build


def b_other_size(frame: int, w: int, h: int):
    def build(d: Path):
        hx.oiio_write(pf(d, frame), hx.grey_rgb(frame, w, h), compression="zip")
    return build


def b_absurd_exr(frame: int):
    def build(d: Path):
        hx.exr_claiming(pf(d, frame), 100000, 100000)
    return build


def b_absurd_png_plate(frame: int):
    def build(d: Path):
        hx.write_plate(d / "plate", ext="png", dtype="uint8")
        hx.png_header_only(pf(d, frame, "png"), 100000, 100000)
    return build


def b_symlink_loop(frame: int):
    def build(d: Path):
        p = pf(d, frame)
        p.unlink()
        os.symlink(p.name, p)
    return build


def b_broken_link(frame: int):
    def build(d: Path):
        p = pf(d, frame)
        p.unlink()
        os.symlink("gone.exr", p)
    return build


def b_chmod_frame(frame: int, mode: int):
    def build(d: Path):
        os.chmod(pf(d, frame), mode)
    return build


def b_chmod_dir(rel: str, mode: int):
    def build(d: Path):
        os.chmod(d / rel, mode)
    return build


def b_frame_is_folder(frame: int):
    def build(d: Path):
        pf(d, frame).unlink()
        pf(d, frame).mkdir()
    return build


def b_write(rel: str, data: bytes):
    def build(d: Path):
        (d / rel).write_bytes(data)
    return build


def b_image(rel: str, pixels, dtype="uint8", channels=None):
    def build(d: Path):
        hx.oiio_write(d / rel, pixels, channels, dtype)
    return build


def b_pil(rel: str, mode: str, **save):
    def build(d: Path):
        from PIL import Image
        rgb = (hx.colour_ref() * 255).astype(np.uint8)
        img = Image.fromarray(rgb, "RGB")
        if mode == "P":
            img = img.quantize(64)
        else:
            img = img.convert(mode)
        img.save(d / rel, **save)
    return build


def b_tiff_pages(rel: str, *pages):
    """A multi-page TIFF (8-bit), one subimage per (H, W, 3) array of ``pages``."""
    def build(d: Path):
        import OpenImageIO as oiio
        specs = [oiio.ImageSpec(p.shape[1], p.shape[0], 3, "uint8") for p in pages]
        out = oiio.ImageOutput.create(str(d / rel))
        assert out.open(str(d / rel), specs)
        for i, p in enumerate(pages):
            assert (i == 0 or out.open(str(d / rel), specs[i], "AppendSubimage")) \
                and out.write_image(np.ascontiguousarray(p, np.float32))
        assert out.close()
    return build


def nan_column(px: np.ndarray, x: int = 5) -> np.ndarray:
    px = px.copy()
    px[:, x, :] = np.nan
    return px


def b_clips(frames: Dict[str, int], then=None):
    """True-colour clips for ``eval``: clips/<name>/00000.png ... (a colour image panning)."""
    def build(d: Path):
        from nuke_colorize.io import write_image
        rgb = hx.colour_ref()
        for name, n in frames.items():
            (d / "clips" / name).mkdir(parents=True)
            for t in range(n):
                write_image(str(d / "clips" / name / f"{t:05d}.png"), np.roll(rgb, 2 * t, axis=1), ["R", "G", "B"])
        if then:
            then(d)
    return build


def b_frame_is_folder_out(d: Path):
    p = d / "out" / "col.0001.exr"
    p.unlink()
    p.mkdir()


def b_symlink_dir(name: str, target: str):
    def build(d: Path):
        os.symlink(target, d / name)
    return build


# -------- disk full: a tiny tmpfs (root only), else skipped; the RLIMIT_FSIZE row always runs
def b_tmpfs_full(d: Path):
    hx.mount_full_tmpfs(d / "full")


def cleanup_tmpfs(d: Path):
    hx.unmount(d / "full")


# -------- weights
class Evil:
    """Unpickling this creates the file ``marker`` (the code a hostile checkpoint would run)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


NAMES = ("nonlocal_net_iter_76000.pth", "colornet_iter_76000.pth", "vgg19_conv.pth")
ARCHIVE = ("checkpoints/video_moredata_l1/nonlocal_net_iter_76000.pth",
           "checkpoints/video_moredata_l1/colornet_iter_76000.pth", "data/vgg19_conv.pth")


def marker_of(d: Path) -> Path:
    return d / "PWNED"


def b_models(first: str):
    """models/ with the correspondence file built as ``first``, the other two plain junk."""
    def build(d: Path):
        import torch
        m = d / "models"
        m.mkdir()
        p = m / NAMES[0]
        if first == "evil_torch":
            torch.save({"layer.weight": Evil(str(marker_of(d)))}, str(p))
        elif first == "evil_raw":
            p.write_bytes(pickle.dumps(Evil(str(marker_of(d)))))
        elif first == "truncated":
            torch.save({"layer.weight": torch.zeros(64, 64)}, str(p))
            hx.truncate(p, 0.5)
        elif first in ("random", "html"):
            p.write_bytes(hx.foreign_checkpoint(first))
        elif first == "numpy":
            torch.save({"layer.weight": np.zeros(3)}, str(p))
        elif first == "wrong_shape":
            from nuke_colorize.networks import layout
            sd = {k: torch.zeros(1).expand(s) for k, s in layout.expected_shapes("correspondence").items()}
            key = next(iter(sd))
            sd[key] = torch.zeros(3)
            torch.save(sd, str(p))
            (d / "wrong_key.txt").write_text(key)
        for n in NAMES[1:]:
            (m / n).write_bytes(b"junk")
        return {"NUKE_COLORIZE_MODELS": str(m)}
    return build


def b_library(folder: str, index: str):
    """A folder holding a copy of the colour reference and a good index of it."""
    def build(d: Path):
        (d / folder).mkdir()
        shutil.copy(d / "ref.png", d / folder / "ref.png")
        res = hx.run_cli(["library", "index", folder, "-o", index, "--quiet"], d)
        assert res.code == 0, res.stderr
    return build


def b_library_then(then):
    """:func:`b_library` ("lib", "lib.ncindex"), then ``then(folder)``."""
    def build(d: Path):
        b_library("lib", "lib.ncindex")(d)
        then(d)
    return build


def moved_index(d: Path):
    """The index copied one folder deeper than its stills' folder (named relative to it)."""
    (d / "deep" / "er").mkdir(parents=True)
    shutil.copy(d / "lib.ncindex", d / "deep" / "er" / "lib.ncindex")


def b_zip(member: str, content: str = "evil"):
    def build(d: Path):
        import torch
        z = d / "colorization_checkpoint.zip"
        with zipfile.ZipFile(z, "w") as zf:
            if content == "evil":
                tmp = d / "evil.pth"
                torch.save({"layer.weight": Evil(str(marker_of(d)))}, str(tmp))
                zf.write(tmp, member)
                tmp.unlink()
            else:
                zf.writestr(member, b"payload")
            for arc in ARCHIVE[1:]:
                zf.writestr(arc, b"junk")
    return build


INSTALL_ZIP = ["models", "--models-dir", "installed", "install", "--from", "colorization_checkpoint.zip"]


def b_zip_broken(damage: str):
    """colorization_checkpoint.zip whose first member (stored) cannot be read: damaged data
    (CRC), an unsupported compression method (Deflate64), encrypted; or the zip lists one
    member twice."""
    def build(d: Path):
        import warnings
        z = d / "colorization_checkpoint.zip"
        with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(ARCHIVE[0], b"w" * 100_000)
            for arc in ARCHIVE[1:]:
                zf.writestr(arc, b"junk")
            if damage == "duplicate":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    zf.writestr(ARCHIVE[2], b"junk")
        if damage == "crc":
            hx.flip_zip_member_byte(z, ARCHIVE[0])
        elif damage == "deflate64":
            hx.patch_zip_member(z, ARCHIVE[0], method=9)
        elif damage == "encrypted":
            hx.patch_zip_member(z, ARCHIVE[0], flags=0x1)
    return build


def b_models_damaged_record(d: Path):
    """models/ holding files of the official layout, installed.json's record of one a string."""
    from nuke_colorize.networks.layout import save_random_checkpoints
    m = d / "models"
    m.mkdir()
    save_random_checkpoints(m, seed=0)
    (m / "installed.json").write_text('{"format": 1, "files": {"vgg19_conv.pth": "x"}}')
    return {"NUKE_COLORIZE_MODELS": str(m)}


def no_marker(d: Path, res: hx.Result):
    assert not marker_of(d).exists(), "the pickle in the checkpoint was executed"


def nothing_escaped(d: Path, res: hx.Result):
    assert not (d.parent / "escaped.pth").exists() and not (d / "escaped.pth").exists()
    assert not Path("/tmp/nc_robust_abs_escape.pth").exists()


def wrong_key_named(d: Path, res: hx.Result):
    key = (d / "wrong_key.txt").read_text()
    assert key in res.stderr


# ---------------------------------------------------------------- the table
# Damage inside the pixel data (not the header) is found when the frame is read, after the
# frames before it were rendered: those outputs may be rewritten (complete, valid), no others.
FIRST_OUT = ("out/col.0001.exr",)
NEW_OUT = "new/col.####.exr"
ACCEPT_NEW = ("new/*",)


def out_channels(*want):
    """The rendered frames carry exactly these channels (alpha and extra layers passed through)."""
    def check(d: Path, res: hx.Result):
        import OpenImageIO as oiio
        for f in (1, 2):
            inp = oiio.ImageInput.open(str(d / "new" / f"col.{f:04d}.exr"))
            assert inp is not None, res.stderr
            names = list(inp.spec().channelnames)
            inp.close()
            assert sorted(names) == sorted(want), names  # EXR stores channels sorted by name
    return check


def accept(id_, build, plate=PLATE, refs=("1=ref.png",), extra=(), channels=("R", "G", "B")):
    return Case(id_, build, render_argv("--frames", "1-2", *extra, plate=plate, refs=refs, out=NEW_OUT), 0,
                new_files=ACCEPT_NEW, check=out_channels(*channels))


CASES: List[Case] = [
    # ---- plates: damaged files
    Case("plate-truncated-exr", b_truncate(2, 0.6), render_argv(), 2,
         ("plate.0002.exr", "frame 2", "truncated"), may_change=FIRST_OUT),
    Case("plate-exr-header-cut", b_truncate(2, 0.02), render_argv(), 2,
         ("plate.0002.exr", "frame 2", "not a readable image")),
    Case("plate-truncated-png", b_plate_format("png", "uint8", b_truncate(2, 0.5, "png")),
         render_argv(plate="plate/plate.####.png"), 2, ("plate.0002.png", "frame 2", "truncated")),
    Case("plate-truncated-jpeg", b_plate_format("jpg", "uint8", b_truncate(2, 0.5, "jpg")),
         render_argv(plate="plate/plate.####.jpg"), 2, ("plate.0002.jpg", "frame 2", "truncated"),
         may_change=FIRST_OUT),
    Case("plate-zero-byte", b_bytes(2, b""), render_argv(), 2, ("plate.0002.exr", "frame 2", "empty")),
    Case("plate-wrong-magic", b_bytes(2, b"GIF89a this is not an EXR\n" * 40), render_argv(), 2,
         ("plate.0002.exr", "frame 2", "not a readable image")),
    Case("plate-nan", b_pixels(2, np.nan), render_argv(), 2,
         ("plate.0002.exr", "frame 2", "NaN/Inf"), may_change=FIRST_OUT),
    Case("plate-inf", b_pixels(3, np.inf), render_argv(), 2,
         ("plate.0003.exr", "frame 3", "NaN/Inf"), may_change=FIRST_OUT + ("out/col.0002.exr",)),
    Case("plate-nan-first-frame", b_pixels(1, np.nan), render_argv(), 2,
         ("plate.0001.exr", "frame 1", "NaN/Inf")),
    # ---- plates: sequences
    Case("plate-missing-middle", b_unlink(2), render_argv(), 2,
         ("plate.0002.exr", "frame 2", "missing frame")),
    Case("plate-missing-in-range", b_unlink(2), render_argv("--frames", "1-3"), 2,
         ("plate.0002.exr", "frame 2", "missing frame")),
    Case("plate-range-beyond-disk", b_nothing, render_argv("--frames", "1-5"), 2,
         ("plate.0004.exr", "frame 4", "missing frame")),
    Case("plate-different-size", b_other_size(3, 32, 24), render_argv(), 2,
         ("plate.0003.exr", "frame 3", "32x24", "64x48")),
    Case("plate-header-100000-exr", b_absurd_exr(2), render_argv(), 2,
         ("plate.0002.exr", "frame 2", "absurd", "100000x100000")),
    Case("plate-header-100000-png-first", b_absurd_png_plate(1), render_argv(plate="plate/plate.####.png"), 2,
         ("plate.0001.png", "frame 1", "absurd", "100000x100000")),
    Case("plate-symlink-loop", b_symlink_loop(2), render_argv(), 2,
         ("plate.0002.exr", "frame 2", "symlink loop")),
    Case("plate-symlink-loop-range", b_symlink_loop(2), render_argv("--frames", "1-3"), 2,
         ("plate.0002.exr", "frame 2", "symlink loop")),
    Case("plate-broken-symlink", b_broken_link(2), render_argv("--frames", "1-3"), 2,
         ("plate.0002.exr", "frame 2", "broken symlink")),
    Case("plate-frame-is-folder", b_frame_is_folder(2), render_argv("--frames", "1-3"), 2,
         ("plate.0002.exr", "frame 2", "folder")),
    Case("plate-unreadable-frame", b_chmod_frame(2, 0o000), render_argv(), 2,
         ("plate.0002.exr", "frame 2", "permission denied"), honour_modes=True, cleanup=hx.restore_modes),
    Case("plate-unreadable-folder", b_chmod_dir("plate", 0o311), render_argv(), 2,
         ("plate", "permission denied"), honour_modes=True, cleanup=hx.restore_modes),
    Case("plate-no-frames", b_nothing, render_argv(plate="plate/none.####.exr"), 2,
         ("none.####.exr", "no frames found")),
    Case("plate-corrupt-movie", b_write("clip.mp4", b"\0\0\0\x18ftypmp42" + b"\xff" * 500),
         render_argv(plate="clip.mp4"), 2, ("clip.mp4", "movie")),
    Case("frames-bad-syntax", b_nothing, render_argv("--frames", "1-x"), 2, ("1-x", "frame range")),
    # ---- plates: formats that must be accepted
    accept("accept-negative-linear", b_negative),
    accept("accept-1-channel", b_channels(["Y"])),
    accept("accept-2-channels", b_channels(["Y", "A"]), channels=("R", "G", "B", "A")),
    accept("accept-4-channels", b_channels(["R", "G", "B", "A"]), channels=("R", "G", "B", "A")),
    accept("accept-7-channels", b_channels(["R", "G", "B", "A", "depth.Z", "N.x", "N.y"]),
           channels=("R", "G", "B", "A", "depth.Z", "N.x", "N.y")),
    accept("accept-8bit-png", b_plate_format("png", "uint8"), plate="plate/plate.####.png"),
    accept("accept-16bit-png", b_plate_format("png", "uint16"), plate="plate/plate.####.png"),
    accept("accept-float-exr", b_plate_format("exr", "float")),
    # ---- references
    Case("ref-missing", b_nothing, render_argv(refs=("1=nope.png",)), 2, ("nope.png", "does not exist")),
    Case("ref-greyscale-rgb", b_image("grey.png", hx.grey_rgb(1)), render_argv(refs=("1=grey.png",)), 2,
         ("grey.png", "frame 1", "no colour")),
    Case("ref-greyscale-1ch", b_image("grey1.png", hx.grey_frame(1)), render_argv(refs=("grey1.png",)), 2,
         ("grey1.png", "no colour")),
    Case("ref-keyframe-other-aspect", b_image("tall.png", hx.colour_ref(32, 64)),
         render_argv(refs=("1=tall.png",)), 2, ("tall.png", "frame 1", "32x64", "64x48")),
    accept("accept-still-other-aspect", b_image("tall.png", hx.colour_ref(32, 64)), refs=("tall.png",)),
    accept("accept-cmyk-jpeg", b_pil("cmyk.jpg", "CMYK", quality=95), refs=("1=cmyk.jpg",)),
    accept("accept-palette-png", b_pil("palette.png", "P"), refs=("1=palette.png",)),
    Case("ref-multipage-tiff-grey-first", b_tiff_pages("pages.tif", hx.grey_rgb(1), hx.colour_ref()),
         render_argv(refs=("pages.tif",)), 2,
         ("pages.tif", "no colour", "only the first of its 2 pages (subimages) is read")),
    Case("ref-latin1-file-name", lambda d: shutil.copy(d / "ref.png", d / os.fsdecode(b"caf\xe9.png")),
         render_argv(refs=(os.fsdecode(b"caf\xe9.png"),)), 2,
         ("caf\\xe9.png", "file name is not valid UTF-8", "rename the file")),
    Case("ref-frame-outside-range", b_nothing, render_argv(refs=("99=ref.png",)), 2,
         ("ref.png", "frame 99", "outside the frame range")),
    Case("ref-truncated", lambda d: hx.truncate(d / "ref.png", 0.5), render_argv(), 2, ("ref.png",)),
    Case("ref-header-100000", lambda d: hx.png_header_only(d / "huge.png", 100000, 100000),
         render_argv(refs=("1=huge.png",)), 2, ("huge.png", "absurd")),
    Case("ref-nan-exr", b_image("nanref.exr", nan_column(hx.colour_ref()), "half"),
         render_argv(refs=("1=nanref.exr",)), 2, ("nanref.exr", "NaN/Inf")),
    Case("ref-none", b_nothing, render_argv(refs=()), 2, ("no reference",)),
    # ---- outputs
    Case("out-equals-plate", b_nothing, render_argv(out=PLATE), 2, ("overwrite", "plate")),
    Case("out-equals-ref", b_nothing, render_argv("--frames", "1", out="ref.png"), 2, ("overwrite", "ref.png")),
    Case("out-via-symlinked-folder", b_symlink_dir("link", "plate"), render_argv(out="link/plate.####.exr"), 2,
         ("overwrite",)),
    Case("out-no-frame-number", b_nothing, render_argv(out="single.exr"), 2, ("single.exr", "####")),
    Case("confidence-out-equals-out", b_nothing, render_argv("--confidence-out", "out/col.%04d.exr"), 2,
         ("col.%04d.exr", "confidence output names the colour output")),
    Case("out-frame-is-folder", b_frame_is_folder_out,
         render_argv(), 2, ("col.0001.exr", "folder")),
    Case("out-read-only-folder", b_chmod_dir("out", 0o555), render_argv(), 2,
         ("col.0001.exr", "permission denied"), honour_modes=True, cleanup=hx.restore_modes),
    Case("out-folder-under-a-file", lambda d: (d / "blocker").write_bytes(b"x"),
         render_argv(out="blocker/sub/col.####.exr"), 2,
         ("col.0001.exr", "cannot create the output folder", "blocker is a file")),
    Case("out-new-folder-in-read-only-folder", b_chmod_dir("out", 0o555), render_argv(out="out/new/col.####.exr"), 2,
         ("col.0001.exr", "permission denied"), honour_modes=True, cleanup=hx.restore_modes),
    Case("out-disk-full-tmpfs", b_tmpfs_full, render_argv(out="full/col.####.exr"), 2,
         ("col.0001.exr", "cannot write", "disk is full"), cleanup=cleanup_tmpfs,
         skip=None if hx.can_mount_tmpfs() else "needs root and a mountable tmpfs"),
    Case("out-file-size-limit", b_nothing, render_argv(out="big/col.####.exr"), 2,
         ("col.0001.exr", "cannot write"), fsize=4096),
    Case("out-unknown-extension", b_nothing, render_argv(out="out/col.####.xyz"), 2,
         ("col.0001.xyz", "no writer")),
    # ---- command line
    Case("set-malformed", b_nothing, render_argv("--set", "feature_size"), 2, ("--set", "feature_size")),
    Case("set-unknown-key", b_nothing, render_argv("--set", "featuresize=64"), 2, ("featuresize",)),
    Case("set-wrong-type", b_nothing, render_argv("--set", "max_working_size=big"), 2, ("max_working_size",)),
    Case("set-infinite", b_nothing, render_argv("--set", "max_working_size=1e999"), 2,
         ("max_working_size", "finite number")),
    Case("set-temperature-zero", b_nothing, render_argv("--set", "temperature=0"), 2,
         ("temperature=0", "outside [0.0001"), may_change=FIRST_OUT),
    Case("set-negative-radius", b_nothing, render_argv("--set", "refine_radius=-1"), 2,
         ("refine_radius", "outside [0, 64]"), may_change=FIRST_OUT),
    Case("set-unknown-restriction", b_nothing, render_argv("--set", "restrict=tracks"), 2,
         ("restrict", "none, dense, instance, both"), may_change=FIRST_OUT),
    Case("colorspace-unknown", b_nothing, render_argv("--colorspace", "NoSuchSpace"), 2, ("NoSuchSpace",)),
    Case("saturation-nan", b_nothing, render_argv("--saturation", "nan"), 2, ("saturation",)),
    Case("render-without-plate", b_nothing, ["render", "--out", OUT], 2, ("--plate",)),
    Case("saturation-huge", b_nothing, render_argv("--saturation", "1e30"), 2,
         ("--saturation", "1e+30", "from 0 (grey) to 4")),
    Case("out-colorspace-unknown", b_nothing, render_argv("--out-colorspace", "bogus"), 2,
         ("output colourspace 'bogus'", "--out-colorspace")),   # in preflight: no frame rewritten
    # a near miss of a built-in colourspace name: refused naming the option, with the right name
    Case("colorspace-typo", b_nothing, render_argv("--colorspace", "Rec709"), 2,
         ("unknown colourspace 'Rec709' (--colorspace)", "did you mean rec709?")),
    Case("ref-colorspace-typo", b_nothing, render_argv("--ref-colorspace", "Rec.709"), 2,
         ("unknown colourspace 'Rec.709' (--ref-colorspace)", "did you mean rec709?")),
    Case("out-colorspace-typo", b_nothing, render_argv("--out-colorspace", "REC-709"), 2,
         ("unknown output colourspace 'REC-709' (--out-colorspace)", "did you mean rec709?")),
    Case("cache-colorspace-typo", b_nothing, render_argv("--colorspace", "Rec709", "--cache", "cache"), 2,
         ("unknown colourspace 'Rec709' (--colorspace)", "did you mean rec709?")),   # no cache folder made
    # ---- backend settings out of range (refused when the backend is made, before any frame)
    Case("set-position-sigma-zero", b_nothing, render_argv("--set", "position_sigma=0"), 2,
         ("position_sigma=0", "outside [0.05, 10.0]")),
    Case("set-position-sigma-negative", b_nothing, render_argv("--set", "position_sigma=-1"), 2,
         ("position_sigma=-1", "outside [0.05")),
    Case("set-position-prior-negative", b_nothing, render_argv("--set", "position_prior=-5"), 2,
         ("position_prior=-5", "outside [0.0, 1.0]")),
    Case("set-position-prior-huge", b_nothing, render_argv("--set", "position_prior=1e30"), 2,
         ("position_prior=1e+30", "outside [0.0, 1.0]")),
    Case("set-tap-weights-negative", b_nothing, render_argv("--set", "tap_weights=[-1,1,1]"), 2,
         ("tap_weights=[-1, 1, 1]", "value #1", "outside [0.0, 100.0]")),
    Case("set-tap-weights-all-zero", b_nothing, render_argv("--set", "tap_weights=[0,0,0]"), 2,
         ("tap_weights=[0, 0, 0]", "no feature tap")),
    Case("set-tap-weights-not-numbers", b_nothing, render_argv("--set", 'tap_weights=[1,"a",1]'), 2,
         ("tap_weights", "list of 3 numbers")),
    Case("set-integer-setting-fractional", b_nothing, render_argv("--set", "topk=2.5"), 2,
         ("topk=2.5", "whole number")),
    # ---- mattes: some frames may lack one, a pattern matching none of the range is a mistake
    Case("matte-matches-no-file", b_nothing, render_argv("--matte", "mattes/m.####.png"), 2,
         ("mattes/m.####.png", "matches no file", "frames 1-3")),
    Case("matte-matches-no-file-cache", b_nothing,
         render_argv("--matte", "mattes/m.####.png", "--cache", "cache"), 2,
         ("mattes/m.####.png", "matches no file", "frames 1-3"), new_files=("cache/**",)),
    Case("suggest-matte-matches-no-file", b_nothing,
         ["suggest-keyframe", "--plate", PLATE, "--ref", "1=ref.png", "--quiet", "--matte", "m.####.exr"] + hx.TINY,
         2, ("m.####.exr", "matches no file")),
    # ---- --ref
    Case("ref-empty-path", b_nothing, render_argv(refs=("1=",)), 2, ("--ref '1='", "names no image")),
    Case("ref-two-keyframes-one-frame", b_image("ref2.png", hx.colour_ref()[:, ::-1]),
         render_argv(refs=("2=ref.png", "2=ref2.png")), 2, ("frame 2", "ref.png and ref2.png", "two keyframe")),
    # a negative keyframe as its own token (argparse took "-2=ref.png" for an option): parsed,
    # then refused for the plate's range (the test of a render at negative frames is in test_cli_validation)
    Case("ref-negative-frame-token", b_nothing, render_argv(refs=("-2=ref.png",)), 2,
         ("ref.png", "frame -2", "outside the frame range")),
    Case("suggest-ref-negative-frame-token", b_nothing,
         ["suggest-keyframe", "--plate", PLATE, "--ref", "-2=ref.png", "--quiet"] + hx.TINY, 2,
         ("ref.png", "frame -2", "outside the frame range")),
    # ---- suggest-keyframe: values that cannot rank frames, options that do not apply
    Case("suggest-reach-infinite", b_nothing,
         ["suggest-keyframe", "--plate", PLATE, "--ref", "1=ref.png", "--quiet", "--reach", "inf"] + hx.TINY, 2,
         ("--reach inf", "finite number of frames > 0")),
    Case("suggest-saturation", b_nothing,
         ["suggest-keyframe", "--plate", PLATE, "--ref", "1=ref.png", "--quiet", "--saturation", "2"] + hx.TINY, 2,
         ("--saturation does not apply to suggest-keyframe",)),
    Case("suggest-temporal-smoothing", b_nothing,
         ["suggest-keyframe", "--plate", PLATE, "--ref", "1=ref.png", "--quiet", "--temporal-smoothing", "1"]
         + hx.TINY, 2, ("--temporal-smoothing does not apply to suggest-keyframe",)),
    Case("suggest-out-colorspace", b_nothing,
         ["suggest-keyframe", "--plate", PLATE, "--ref", "1=ref.png", "--quiet", "--out-colorspace", "srgb"]
         + hx.TINY, 2, ("--out-colorspace does not apply to suggest-keyframe",)),
    Case("suggest-colorspace-typo", b_nothing,
         ["suggest-keyframe", "--plate", PLATE, "--ref", "1=ref.png", "--quiet", "--colorspace", "Rec709"]
         + hx.TINY, 2, ("unknown colourspace 'Rec709' (--colorspace)", "did you mean rec709?")),
    # ---- eval: --out and --refs refused before any clip is computed
    Case("eval-out-is-a-file", b_clips({"sq": 3}), ["eval", "--clip", "clips/sq", "--out", "ref.png"], 2,
         ("ref.png", "is a file, not a folder")),
    Case("eval-out-under-a-file", b_clips({"sq": 3}), ["eval", "--clip", "clips/sq", "--out", "ref.png/runs"], 2,
         ("ref.png", "is a file", "ref.png/runs cannot be made under it")),
    Case("eval-out-in-proc", b_clips({"sq": 3}), ["eval", "--clip", "clips/sq", "--out", "/proc/evalout"], 2,
         ("/proc/evalout", "cannot be made or written"),
         skip=None if os.path.isdir("/proc/self") else "no /proc"),
    Case("eval-out-read-only-folder", b_clips({"sq": 3}, lambda d: (d / "ro").mkdir(mode=0o555)),
         ["eval", "--clip", "clips/sq", "--out", "ro/runs"], 2, ("ro/runs", "cannot be made or written"),
         honour_modes=True, cleanup=hx.restore_modes),
    Case("eval-refs-outside-one-clip", b_clips({"long": 4, "two": 2}),
         ["eval", "--clips-root", "clips", "--refs", "3"], 2,
         ("clips/two", "--refs 3", "outside the clip's 2 frames (0-1)")),
    # ---- demo
    Case("demo-size-not-a-size", b_nothing, ["demo", "--size", "abc", "--out", "demo"], 2, ("--size 'abc'",)),
    Case("demo-size-three-parts", b_nothing, ["demo", "--size", "64x36x2", "--out", "demo"], 2,
         ("--size '64x36x2'",)),
    Case("demo-size-zero", b_nothing, ["demo", "--size", "0x36", "--out", "demo"], 2, ("--size '0x36'", "at least 1")),
    # ---- weights
    Case("weights-evil-pickle-render", b_models("evil_torch"),
         render_argv("--backend", "deepexemplar", tiny=False), 3, (NAMES[0], "pickled code"), check=no_marker),
    Case("weights-evil-raw-pickle-verify", b_models("evil_raw"), ["models", "verify"], 3,
         (NAMES[0], "pickled code"), check=no_marker),
    Case("weights-evil-pickle-install", b_zip(ARCHIVE[0]),
         ["models", "--models-dir", "installed", "install", "--from", "colorization_checkpoint.zip"], 3,
         (NAMES[0], "pickled code"), check=no_marker),
    Case("weights-zip-dotdot", b_zip("../escaped.pth", "payload"),
         ["models", "--models-dir", "installed", "install", "--from", "colorization_checkpoint.zip"], 3,
         ("colorization_checkpoint.zip", "../escaped.pth", "refused"), check=nothing_escaped),
    Case("weights-zip-absolute", b_zip("/tmp/nc_robust_abs_escape.pth", "payload"),
         ["models", "--models-dir", "installed", "install", "--from", "colorization_checkpoint.zip"], 3,
         ("colorization_checkpoint.zip", "refused"), check=nothing_escaped),
    Case("weights-truncated", b_models("truncated"), ["models", "verify"], 3, (NAMES[0], "truncated")),
    Case("weights-wrong-shape", b_models("wrong_shape"), ["models", "verify"], 3,
         (NAMES[0], "not the expected weights"), check=wrong_key_named),
    Case("weights-missing", lambda d: {"NUKE_COLORIZE_MODELS": str(d / "empty-models")},
         render_argv("--backend", "deepexemplar", tiny=False), 3, ("weights file missing", "models install")),
    Case("weights-zip-member-crc", b_zip_broken("crc"), INSTALL_ZIP, 3,
         ("colorization_checkpoint.zip", ARCHIVE[0], "is damaged", "CRC-32", "nothing was installed")),
    Case("weights-zip-member-deflate64", b_zip_broken("deflate64"), INSTALL_ZIP, 3,
         ("colorization_checkpoint.zip", ARCHIVE[0], "compression method", "Deflate64", "re-zip it",
          "unzip it and install from the folder")),
    Case("weights-zip-member-encrypted", b_zip_broken("encrypted"), INSTALL_ZIP, 3,
         ("colorization_checkpoint.zip", ARCHIVE[0], "encrypted", "nothing was installed")),
    Case("weights-zip-member-twice", b_zip_broken("duplicate"), INSTALL_ZIP, 3,
         ("colorization_checkpoint.zip", "lists data/vgg19_conv.pth twice", "re-create the zip")),
    Case("weights-random-bytes-verify", b_models("random"), ["models", "verify"], 3,
         (NAMES[0], "not a readable checkpoint", "not a PyTorch file")),
    Case("weights-html-page-verify", b_models("html"), ["models", "verify"], 3,
         (NAMES[0], "not a readable checkpoint", "web page")),
    Case("weights-numpy-value-verify", b_models("numpy"), ["models", "verify"], 3,
         (NAMES[0], "objects other than tensors", "numpy")),
    Case("weights-installed-json-damaged-verify", b_models_damaged_record, ["models", "verify"], 3,
         ("vgg19_conv.pth", "damaged", "installed.json")),
    Case("set-deepexemplar-working-size-fractional", b_nothing,
         render_argv("--backend", "deepexemplar", "--set", "working_size=2.7", tiny=False), 2,
         ("working_size=2.7", "whole number")),
    Case("set-deepexemplar-mask-margin-fractional", b_nothing,
         render_argv("--backend", "deepexemplar", "--set", "mask_margin=1.5", tiny=False), 2,
         ("mask_margin=1.5", "whole number")),
    Case("weights-install-not-zip", b_write("notzip.zip", b"PK but not really"),
         ["models", "--models-dir", "installed", "install", "--from", "notzip.zip"], 2,
         ("notzip.zip", "not a zip")),
    # ---- library of stills (automatic references)
    Case("library-index-output-is-a-still", b_nothing, ["library", "index", ".", "-o", "ref.png", "--quiet"], 2,
         ("ref.png", "not a library index", "not written over")),
    Case("library-index-colorspace-typo", b_library("lib", "lib.ncindex"),
         ["library", "index", "lib", "-o", "lib.ncindex", "--colorspace", "Rec709", "--quiet"], 2,
         ("unknown colourspace 'Rec709' (--colorspace)", "did you mean rec709?")),
    Case("library-query-colorspace-typo", b_library("lib", "lib.ncindex"),
         ["library", "query", "lib.ncindex", "--plate", PLATE, "--colorspace", "Rec709"], 2,
         ("unknown colourspace 'Rec709' (--colorspace)", "did you mean rec709?")),
    Case("library-render-colorspace-typo", b_library("lib", "lib.ncindex"),
         render_argv("--library", "lib.ncindex", "--colorspace", "Rec709", refs=()), 2,
         ("unknown colourspace 'Rec709' (--colorspace)", "did you mean rec709?")),
    Case("library-given-a-folder", b_nothing, render_argv("--library", "plate", refs=()), 2,
         ("plate", "folder, not a library index")),
    Case("library-index-moved-without-stills", b_library_then(moved_index),
         ["library", "query", "deep/er/lib.ncindex", "--plate", PLATE], 2,
         ("deep/er/lib.ncindex", "stills folder", "deep/er/lib does not exist", "moved or copied")),
    Case("library-render-index-moved-without-stills", b_library_then(moved_index),
         render_argv("--library", "deep/er/lib.ncindex", refs=()), 2,
         ("deep/er/lib.ncindex", "stills folder", "does not exist")),
    Case("library-still-removed-since-indexing", b_library_then(lambda d: (d / "lib" / "ref.png").unlink()),
         render_argv("--library", "lib.ncindex", refs=()), 2,
         ("lib.ncindex", "the library chose the still", "ref.png", "no longer exists", "index the library again")),
    # ---- host bridge command line
    Case("worker-engine-cmd-not-json", b_nothing, ["worker", "--engine-cmd", "python -m x"], 2,
         ("--engine-cmd",)),
]

_BY_ID: Dict[str, Case] = {c.id: c for c in CASES}
assert len(_BY_ID) == len(CASES), "case ids must be unique"


# ---------------------------------------------------------------- running the table
@pytest.fixture(scope="module")
def robust_base(tmp_path_factory):
    return hx.shared_base(tmp_path_factory)


@pytest.fixture(scope="module")
def table(request, robust_base, tmp_path_factory):
    """Starts every selected case at once in a small pool; each test waits for its own."""
    pool, futures = hx.start_table(request, _BY_ID, robust_base, tmp_path_factory.mktemp("robust-cases"))
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("case_id", list(_BY_ID))
def test_case(case_id, table):
    hx.check_row(_BY_ID[case_id], table[case_id])


def test_table_is_big_enough():
    refusals = [c for c in CASES if c.code != 0]
    assert len(refusals) >= 30 and len(CASES) >= 40
