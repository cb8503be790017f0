"""Shared fixtures. Real footage lives in ../shared beside the repository (never copied in)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NUKE_COLORIZE_SHARED", REPO.parent / "shared"))
DAVIS = SHARED / "data" / "davis2016-val"
LAYOUT_JSON = SHARED / "spec" / "deepexemplar_state_dict_layout.json"


def davis_clip(name: str) -> Path:
    """Folder of true-colour JPEG frames of one DAVIS-2016 sequence; skips when absent."""
    p = DAVIS / "JPEGImages" / "480p" / name
    if not p.is_dir():
        pytest.skip(f"DAVIS data not found at {p}")
    return p


def davis_masks(name: str) -> Path:
    p = DAVIS / "Annotations" / "480p" / name
    if not p.is_dir():
        pytest.skip(f"DAVIS annotations not found at {p}")
    return p


@pytest.fixture(autouse=True)
def _deterministic_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "2"))


def write_oiio(path, px, fmt: str) -> None:
    """Write (H, W, C) pixels with OpenImageIO as ``fmt`` ("uint8", "half", ...), making folders."""
    import OpenImageIO as oiio
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    px = np.ascontiguousarray(px)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), oiio.ImageSpec(px.shape[1], px.shape[0], px.shape[2], fmt))
    out.write_image(px)
    out.close()


def write_channels(path, planes, names, formats=None, attrs=()) -> None:
    """Write (H, W) planes as one EXR (or TIFF) with these channel names: float unless
    ``formats`` gives each channel's pixel type (half colour and float Cryptomatte, a "uint"
    ID channel: planes of uint32 are written exactly), plus string attributes ``attrs``."""
    import OpenImageIO as oiio
    px = np.ascontiguousarray(np.stack(planes, -1))
    spec = oiio.ImageSpec(px.shape[1], px.shape[0], px.shape[2], formats[0] if formats else "float")
    spec.channelnames = list(names)
    if formats:                      # all alike: OpenImageIO writes spec's format, hence formats[0]
        spec.channelformats = [oiio.TypeDesc(f) for f in formats]
    for k, v in attrs:
        spec.attribute(k, v)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), out.geterror()
    assert out.write_image(px), out.geterror()
    out.close()


def matte_image(pixels, channels, is_float: bool = True, fmt: str = "float"):
    """An :class:`~nuke_colorize.io.image.ImageData` as a matte file would decode to, without a
    file: (H, W, C) float32 ``pixels`` as read (integer files scaled to [0, 1]), every channel
    stored as ``fmt``."""
    from types import SimpleNamespace
    from nuke_colorize.io.image import ImageData
    return ImageData(pixels=np.asarray(pixels, np.float32), channels=list(channels),
                     spec=SimpleNamespace(format=fmt, x=0, y=0), path="matte.exr", is_float_format=is_float)


def foreign_checkpoint(kind: str) -> bytes:
    """Bytes of a file that is not a checkpoint at all, as downloads go wrong: ``random``
    (4096 random bytes) or ``html`` (a web server's 404 page saved under the weights' name)."""
    if kind == "random":
        import numpy as np
        return np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    if kind == "html":
        return (b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>"
                b"<body><h1>Not Found</h1></body></html>\n")
    raise ValueError(kind)


def patch_zip_member(z: Path, member: str, *, flags: int = 0, method: Optional[int] = None) -> None:
    """Set bits of ``member``'s general-purpose flags (1 = encrypted) or its compression method
    (9 = Deflate64), in both its local header and its central-directory entry."""
    import struct
    import zipfile
    data = bytearray(Path(z).read_bytes())
    off = zipfile.ZipFile(z).getinfo(member).header_offset
    cd = data.find(b"PK\x01\x02")
    while cd != -1:
        n = struct.unpack("<H", data[cd + 28:cd + 30])[0]
        if bytes(data[cd + 46:cd + 46 + n]).decode() == member:
            break
        cd = data.find(b"PK\x01\x02", cd + 4)
    for at in (off + 6, cd + 8):
        struct.pack_into("<H", data, at, struct.unpack("<H", data[at:at + 2])[0] | flags)
        if method is not None:
            struct.pack_into("<H", data, at + 2, method)
    Path(z).write_bytes(bytes(data))
