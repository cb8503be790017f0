"""Colour science: transfer functions, CIE Lab, and luminance-keeping recombination.

Conventions used throughout the package:

* "linear" means scene-linear Rec.709 / sRGB primaries, D65 white, as (H, W, 3) float32.
* Luminance ``Y`` is the Rec.709 luminance of linear RGB: ``0.2126 R + 0.7152 G + 0.0722 B``
  (the Y of CIE XYZ for these primaries), shape (H, W), unbounded (scene-linear may exceed 1).
* CIE L*a*b* is relative to D65 with Yn = 1: ``L`` in [0, 100] for Y in [0, 1] (above 100 for
  highlights), ``a``/``b`` roughly in [-128, 127].

The output of the product is built by :func:`recombine`: predicted chroma (ab) on top of the
plate's own luminance, so the plate's linear luminance is kept exactly; colours outside the
gamut are pulled towards grey of the same luminance (chroma reduced, luminance unchanged).
"""
from __future__ import annotations

import functools
import os
from typing import Optional

import numpy as np

from .errors import InputError, did_you_mean

REC709_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float64)

# linear Rec.709 RGB -> XYZ (D65), IEC 61966-2-1.
_RGB2XYZ = np.array([[0.4124, 0.3576, 0.1805],
                     [0.2126, 0.7152, 0.0722],
                     [0.0193, 0.1192, 0.9505]], dtype=np.float64)
_XYZ2RGB = np.linalg.inv(_RGB2XYZ)
_WHITE = _RGB2XYZ.sum(axis=1)  # XYZ of RGB (1,1,1): D65 with Y = 1
_EPS = 216.0 / 24389.0
_KAPPA = 24389.0 / 27.0

COLORSPACES = ("auto", "linear", "srgb", "rec709", "cineon")


def names_ocio(names) -> bool:
    """True when one of the colourspace ``names`` (None entries skipped) is an OCIO name, not
    one of :data:`COLORSPACES`: then an OCIO config takes part in the conversions."""
    return any(n is not None and n not in COLORSPACES for n in names)

# Kodak Cineon printing-density log as Nuke's "Cineon" colourspace reads it: code value 95
# (of 1023) is black, 685 is white (linear 1.0), 0.002 density per code value, film gamma 0.6.
_CIN_BLACK, _CIN_WHITE, _CIN_STEP = 95.0, 685.0, 0.002 / 0.6
_CIN_OFFSET = 10.0 ** ((_CIN_BLACK - _CIN_WHITE) * _CIN_STEP)


# ---------------------------------------------------------------- transfer functions
def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """sRGB-encoded values (any shape, nominally [0, 1]) -> linear. Odd-extended below 0."""
    v = np.asarray(v, dtype=np.float32)
    a = np.abs(v)
    lin = np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4)
    return (np.sign(v) * lin).astype(np.float32)


def linear_to_srgb(v: np.ndarray) -> np.ndarray:
    """Linear values -> sRGB encoding. Odd-extended below 0; not clipped above 1."""
    v = np.asarray(v, dtype=np.float32)
    a = np.abs(v)
    enc = np.where(a <= 0.0031308, a * 12.92, 1.055 * np.power(a, 1 / 2.4) - 0.055)
    return (np.sign(v) * enc).astype(np.float32)


def rec709_to_linear(v: np.ndarray) -> np.ndarray:
    """Rec. ITU-R BT.709 OETF-encoded values -> scene-linear (inverse OETF)."""
    v = np.asarray(v, dtype=np.float32)
    a = np.abs(v)
    lin = np.where(a < 0.081, a / 4.5, ((a + 0.099) / 1.099) ** (1 / 0.45))
    return (np.sign(v) * lin).astype(np.float32)


def cineon_to_linear(v: np.ndarray) -> np.ndarray:
    """Cineon log values (code value / 1023, any shape) -> linear: 95/1023 -> 0, 685/1023 -> 1,
    470/1023 -> 0.18; code values below black give small negative values (as in Nuke)."""
    v = np.asarray(v, dtype=np.float64)
    lin = (np.power(10.0, (v * 1023.0 - _CIN_WHITE) * _CIN_STEP) - _CIN_OFFSET) / (1.0 - _CIN_OFFSET)
    return lin.astype(np.float32)


def linear_to_cineon(v: np.ndarray) -> np.ndarray:
    """Linear -> Cineon log (code value / 1023); inverse of :func:`cineon_to_linear`, with
    values at or below its code value 0 (linear -0.0057) put at code value 0."""
    v = np.asarray(v, dtype=np.float64)
    arg = np.maximum(v * (1.0 - _CIN_OFFSET) + _CIN_OFFSET, 10.0 ** (-_CIN_WHITE * _CIN_STEP))
    return ((np.log10(arg) / _CIN_STEP + _CIN_WHITE) / 1023.0).astype(np.float32)


def linear_to_rec709(v: np.ndarray) -> np.ndarray:
    """Scene-linear -> Rec. ITU-R BT.709 OETF encoding."""
    v = np.asarray(v, dtype=np.float32)
    a = np.abs(v)
    enc = np.where(a < 0.018, a * 4.5, 1.099 * np.power(a, 0.45) - 0.099)
    return (np.sign(v) * enc).astype(np.float32)


def resolve_colorspace(colorspace: str, is_float_format: bool, log_encoded: bool = False) -> str:
    """``auto`` -> ``linear`` for float files (EXR, float TIFF), ``cineon`` for files whose
    header says they hold printing-density log (``log_encoded``: DPX scans, Cineon files, as
    Nuke's Read defaults them), ``srgb`` for other integer files."""
    if colorspace == "auto":
        if log_encoded:
            return "cineon"
        return "linear" if is_float_format else "srgb"
    return colorspace


def to_linear(rgb: np.ndarray, colorspace: str, *, file: Optional[str] = None,
              config: Optional[str] = None) -> np.ndarray:
    """Convert (H, W, 3) pixels in ``colorspace`` to linear Rec.709.

    ``colorspace`` is one of linear/srgb/rec709/cineon or any OCIO colourspace name of
    ``config`` (an OCIO config file or ``ocio://`` URI; None: ``$OCIO``, else OpenImageIO's
    built-in config), converted to ``lin_rec709``.
    """
    if colorspace == "linear":
        return np.asarray(rgb, dtype=np.float32)
    if colorspace == "srgb":
        return srgb_to_linear(rgb)
    if colorspace == "rec709":
        return rec709_to_linear(rgb)
    if colorspace == "cineon":
        return cineon_to_linear(rgb)
    return _ocio_convert(rgb, colorspace, LINEAR_REC709, file=file, config=config)


def from_linear(rgb: np.ndarray, colorspace: str, *, file: Optional[str] = None,
                config: Optional[str] = None) -> np.ndarray:
    """Inverse of :func:`to_linear`."""
    if colorspace == "linear":
        return np.asarray(rgb, dtype=np.float32)
    if colorspace == "srgb":
        return linear_to_srgb(rgb)
    if colorspace == "rec709":
        return linear_to_rec709(rgb)
    if colorspace == "cineon":
        return linear_to_cineon(rgb)
    return _ocio_convert(rgb, LINEAR_REC709, colorspace, file=file, config=config)


LINEAR_REC709 = "lin_rec709"   # OpenImageIO's name for scene-linear Rec.709 / sRGB primaries
# what configs call it when OpenImageIO does not resolve ``lin_rec709`` in them: OCIO 2's
# CG/studio configs, ACES 1.x configs (Nuke's aces_1.x), Nuke's nuke-default
_LINEAR_REC709_NAMES = ("Linear Rec.709 (sRGB)", "Utility - Linear - sRGB", "lin_srgb", "linear")


@functools.lru_cache(maxsize=16)
def _linear_rec709_in(config: str) -> str:
    """The colourspace of ``config`` ("": $OCIO or the built-in one) holding scene-linear
    Rec.709: ``lin_rec709`` when the config has it (as a name or alias), else the first of the
    usual names it has, else ``lin_rec709`` (left to OpenImageIO's own resolution)."""
    import OpenImageIO as oiio

    cfg = oiio.ColorConfig(config)
    names = set(cfg.getColorSpaceNames())
    for name in list(names):
        names.update(cfg.getAliases(name))
    if LINEAR_REC709 in names:
        return LINEAR_REC709
    return next((n for n in _LINEAR_REC709_NAMES if n in names), LINEAR_REC709)


def check_ocio_config(config: Optional[str], *, file: Optional[str] = None) -> None:
    """Refuse an OCIO config that cannot be loaded (OpenImageIO would quietly fall back to its
    built-in config, and every OCIO name would then mean something else). None passes."""
    if not config:
        return
    import OpenImageIO as oiio

    is_uri = config.startswith("ocio://")
    if not is_uri and not os.path.isfile(config):
        raise InputError(f"OCIO config not found: {config}", file=file,
                         hint="give the config.ocio the plates were managed with, or leave out "
                              "--ocio-config / 'ocio_config' to use $OCIO")
    error = oiio.ColorConfig(config).geterror()
    if error:
        raise InputError(f"cannot load OCIO config {config}: {error}", file=file,
                         hint="give a valid config.ocio or an ocio:// built-in config name")


def check_output_colorspace(colorspace: str, *, config: Optional[str] = None, what: str = "--out-colorspace",
                            file: Optional[str] = None) -> None:
    """Refuse an output colourspace that linear Rec.709 does not convert to (an unknown OCIO
    name) before anything is computed: :func:`check_colorspace` with ``output``, one pixel
    through :func:`from_linear`, the conversion the first written frame would make."""
    check_colorspace(colorspace, config, what=what, file=file, output=True)


MAX_SATURATION = 4.0   # chroma multiplier: the range of Nuke's Saturation knob; beyond it every
                       # colour sits on the gamut boundary anyway (recombine pulls it back)


def check_saturation(value, what: str = "--saturation", file: Optional[str] = None) -> float:
    """``value`` as a chroma multiplier (a number from 0 to :data:`MAX_SATURATION`), else
    :class:`InputError`."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value) \
        and 0 <= value <= MAX_SATURATION
    if not ok:
        raise InputError(f"{what} {value!r} is not a chroma multiplier", file=file,
                         hint=f"give a number from 0 (grey) to {MAX_SATURATION:g}; 1 keeps the prediction")
    return float(value)


def check_colorspace(colorspace: str, config: Optional[str] = None, *, what: str = "--colorspace",
                     file: Optional[str] = None, output: bool = False) -> None:
    """Refuse a colourspace that is neither one of :data:`COLORSPACES` nor an OCIO colourspace of
    ``config`` (None: $OCIO or the built-in config), before anything is read or written; a near
    miss of a built-in name (``Rec709``, ``Rec.709``, ``sRGB_texture``) is answered with "did you
    mean ...?". ``what`` names the option or shot key, ``file`` the shot file. ``output``: the
    name is an output colourspace, checked converting from linear (:func:`from_linear`) rather
    than to it. Every colourspace name the user gives is checked here (render and its shot keys,
    suggest-keyframe, library index and query)."""
    if not isinstance(colorspace, str) or not colorspace.strip():
        raise InputError(f"{what} must be a colourspace name, got {colorspace!r}", file=file,
                         hint="auto|linear|srgb|rec709|cineon or an OCIO colourspace name")
    if colorspace in COLORSPACES:
        return
    try:
        if output:
            from_linear(np.full((1, 1, 3), 0.18, np.float32), colorspace, config=config)
        else:
            to_linear(np.full((1, 1, 3), 0.5, np.float32), colorspace, config=config)
    except InputError as err:
        guess = did_you_mean(colorspace, COLORSPACES, aliases={"srgbtexture": "srgb"})
        hint = f"did you mean {guess}? " if guess else ""
        kind = "output colourspace" if output else "colourspace"
        raise InputError(f"unknown {kind} '{colorspace}' ({what}): {err.problem}", file=file,
                         hint=hint + (err.hint or "")) from None


def _ocio_convert(rgb: np.ndarray, src: str, dst: str, *, file: Optional[str],
                  config: Optional[str] = None) -> np.ndarray:
    import OpenImageIO as oiio

    lin = _linear_rec709_in(config or "")
    src, dst = (lin if n == LINEAR_REC709 else n for n in (src, dst))
    rgb = np.ascontiguousarray(rgb, dtype=np.float32)
    buf = oiio.ImageBuf(rgb)
    out = oiio.ImageBufAlgo.colorconvert(buf, src, dst, colorconfig=config or "")
    if out.has_error or not out.initialized:
        out.geterror()   # taken (OpenImageIO prints an error left on a destroyed buffer)
        cfg = oiio.ColorConfig(config or "")
        env = os.environ.get("OCIO", "")
        broken = "" if config or not env else " ".join(cfg.geterror().split())
        if broken:   # OpenImageIO fell back to a few names of its own, none of which converts here
            raise InputError(f"cannot convert colourspace '{src}' to '{dst}': the OCIO config named by "
                             f"$OCIO does not load ({broken})", file=file,
                             hint=f"fix OCIO={env}, or name the config with --ocio-config (shot key "
                                  f"'ocio_config')")
        known = ", ".join(sorted(set(cfg.getColorSpaceNames()))[:12])
        where = f" of OCIO config {config}" if config else " with OCIO"
        raise InputError(f"cannot convert colourspace '{src}' to '{dst}'{where}",
                         file=file, hint=f"use linear|srgb|rec709|cineon or a colourspace of the config (such "
                                         f"as: {known}), or name the config the colourspace belongs to "
                                         f"(--ocio-config, shot key 'ocio_config')")
    return out.get_pixels(oiio.FLOAT).reshape(rgb.shape)


# ---------------------------------------------------------------- luminance and Lab
def luminance(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) linear RGB -> (H, W) Rec.709 luminance, float32."""
    rgb = np.asarray(rgb, dtype=np.float32)
    return (rgb[..., 0] * np.float32(0.2126) + rgb[..., 1] * np.float32(0.7152)
            + rgb[..., 2] * np.float32(0.0722)).astype(np.float32)


def _f(t: np.ndarray) -> np.ndarray:
    return np.where(t > _EPS, np.cbrt(np.maximum(t, _EPS)), (_KAPPA * t + 16.0) / 116.0)


def _finv(f: np.ndarray) -> np.ndarray:
    f3 = f ** 3
    return np.where(f3 > _EPS, f3, (116.0 * f - 16.0) / _KAPPA)


def y_to_L(y: np.ndarray) -> np.ndarray:
    """Relative luminance (Yn = 1) -> CIE L*. (H, W) -> (H, W) float32; L = 100 at Y = 1."""
    y = np.asarray(y, dtype=np.float32)
    return _f32(y) * np.float32(116.0) - np.float32(16.0)


def L_to_y(L: np.ndarray) -> np.ndarray:
    """CIE L* -> relative luminance. Inverse of :func:`y_to_L`."""
    return _finv((np.asarray(L, dtype=np.float64) + 16.0) / 116.0).astype(np.float32)


#: pixels converted at a time by :func:`rgb_to_lab` (its float64 temporaries: ~200 MB)
LAB_CHUNK = 1 << 20


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) linear Rec.709 RGB -> (..., 3) CIE Lab (D65), float32.

    Computed in float64, :data:`LAB_CHUNK` pixels at a time (a 4K frame at once took about
    1.5 GB of temporaries); each pixel's value does not depend on the chunking."""
    src = np.asarray(rgb)
    flat = src.reshape(-1, 3)
    out = np.empty(flat.shape, np.float32)
    for i in range(0, flat.shape[0], LAB_CHUNK):
        out[i:i + LAB_CHUNK] = _rgb_to_lab64(flat[i:i + LAB_CHUNK])
    return out.reshape(src.shape)


def _rgb_to_lab64(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) linear RGB -> (N, 3) float64 Lab."""
    xyz = np.asarray(rgb, dtype=np.float64) @ _RGB2XYZ.T / _WHITE
    f = _f(xyz)
    L = 116.0 * f[..., 1] - 16.0
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """(..., 3) CIE Lab (D65) -> (..., 3) linear Rec.709 RGB, float32 (may be out of gamut)."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16.0) / 116.0
    fx = fy + lab[..., 1] / 500.0
    fz = fy - lab[..., 2] / 200.0
    xyz = np.stack([_finv(fx), _finv(fy), _finv(fz)], axis=-1) * _WHITE
    return (xyz @ _XYZ2RGB.T).astype(np.float32)


def recombine(y: np.ndarray, ab: np.ndarray, *, max_value: Optional[float] = None,
              saturation: float = 1.0, alpha: Optional[np.ndarray] = None) -> np.ndarray:
    """Put chroma ``ab`` on the plate's own luminance ``y``.

    Args:
        y: (H, W) linear Rec.709 luminance of the plate (any range; negative allowed).
        ab: (H, W, 2) predicted CIE a*, b*.
        max_value: if given (display-referred output, e.g. 1.0), channels are also kept
            below it where the luminance allows.
        saturation: multiplies the chroma before gamut handling (1.0 = as predicted).
        alpha: (H, W) alpha of a premultiplied ``y`` (None: not premultiplied). Where it is
            in (0, 1) the chroma goes on the unpremultiplied ``y / alpha`` and the colour is
            multiplied back: a pixel's unpremultiplied colour has chroma ``ab`` at any alpha
            (put on ``y`` itself it would come out ``alpha ** -1/3`` times as saturated:
            1.26x at alpha 0.5).

    Returns:
        (H, W, 3) linear RGB whose luminance equals ``y`` (to float32 rounding): chroma is
        added as a luminance-free offset from grey ``(y, y, y)`` and scaled down per pixel
        by the largest factor in [0, 1] that keeps every channel >= 0 (and <= max_value).
    """
    y = np.asarray(y, dtype=np.float32)
    ab = np.asarray(ab, dtype=np.float32)
    out = np.empty(y.shape + (3,), np.float32)
    rows = max(1, (1 << 20) // max(1, y.shape[1]))   # ~1 Mpixel strips bound the temporaries
    for r0 in range(0, y.shape[0], rows):
        sl = slice(r0, r0 + rows)
        if alpha is None:
            out[sl] = _recombine_strip(y[sl], ab[sl], max_value, saturation)
            continue
        a = np.asarray(alpha[sl], dtype=np.float32)
        a = np.where((a > 0) & (a < 1), a, np.float32(1.0))
        out[sl] = _recombine_strip(y[sl] / a, ab[sl], max_value, saturation) * a[..., None]
    return out


def _recombine_strip(y, ab, max_value, saturation):
    # float32 throughout, one (H, W) plane per channel (reductions over a length-3 axis are
    # slow in numpy); Lab -> XYZ takes Y from the plate directly (fy = f(Y), no L* round
    # trip), and the luminance is restored exactly below, so float32 rounding only touches
    # the chroma, far under a code value
    f32 = np.float32
    yp = np.maximum(y, f32(0.0))
    fy = _f32(yp)
    sat = f32(saturation)
    X = _finv32(fy + ab[..., 0] * (sat / f32(500.0))) * f32(_WHITE[0])
    Z = _finv32(fy - ab[..., 1] * (sat / f32(200.0))) * f32(_WHITE[2])
    m = _XYZ2RGB.astype(np.float32)
    luma = REC709_LUMA.astype(np.float32)
    c = [m[k, 0] * X + m[k, 1] * yp + m[k, 2] * Z - y for k in range(3)]
    off = luma[0] * c[0] + luma[1] * c[1] + luma[2] * c[2]
    s = np.ones_like(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in range(3):
            c[k] -= off                          # chroma offset carries no luminance at all
            s = np.minimum(s, np.where(c[k] < 0, y / -c[k], f32(1.0)))   # keep y + s c >= 0
            if max_value is not None:
                s = np.minimum(s, np.where(c[k] > 0, (f32(max_value) - y) / c[k], f32(1.0)))
    s = np.where(np.isfinite(s), np.maximum(s, f32(0.0)), f32(0.0))
    return np.stack([y + s * ck for ck in c], axis=-1).astype(np.float32, copy=False)


def _f32(t: np.ndarray) -> np.ndarray:
    """:func:`_f` in float32."""
    eps = np.float32(_EPS)
    return np.where(t > eps, np.cbrt(np.maximum(t, eps)), t * np.float32(_KAPPA / 116.0) + np.float32(16.0 / 116.0))


def _finv32(f: np.ndarray) -> np.ndarray:
    """:func:`_finv` in float32."""
    f3 = f * f * f
    return np.where(f3 > np.float32(_EPS), f3, f * np.float32(116.0 / _KAPPA) - np.float32(16.0 / _KAPPA))


def chroma_of(rgb_linear: np.ndarray) -> np.ndarray:
    """(H, W, 3) linear RGB -> (H, W, 2) ab of its Lab, float32."""
    return rgb_to_lab(rgb_linear)[..., 1:]


def grey_from_luminance(y: np.ndarray) -> np.ndarray:
    """(H, W) luminance -> (H, W, 3) neutral linear RGB with that luminance."""
    y = np.asarray(y, dtype=np.float32)
    return np.repeat(y[..., None], 3, axis=-1)


def is_grey(rgb: np.ndarray, tol: float = 1e-3) -> bool:
    """True when all three channels agree (a monochrome plate stored as RGB)."""
    rgb = np.asarray(rgb)
    if rgb.ndim < 3 or rgb.shape[-1] < 3:
        return True
    d = np.abs(rgb[..., 0] - rgb[..., 1]).max() + np.abs(rgb[..., 1] - rgb[..., 2]).max()
    return bool(d <= tol * max(1.0, float(np.abs(rgb).max())))
