"""A reference's alpha says which of its pixels carry colour (nuke_colorize.coverage): a cut-out
still gives no colour from its transparent background, a keyframe painted in part gives its
painted colour where it is painted and the other references' colour elsewhere."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import write_oiio
from nuke_colorize import color
from nuke_colorize.pipeline import ReferenceInput, colorize_clip, prepare_references
from nuke_colorize.render import RefSpec, load_reference

W, H = 64, 48
SETTINGS = {"feature_size": 128, "max_working_size": 128}
RED = np.array([0.8, 0.04, 0.04], np.float32)


def _png(path: Path, rgb: np.ndarray, alpha=None) -> Path:
    """8-bit sRGB PNG of linear ``rgb`` (H, W, 3), with ``alpha`` (H, W) in [0, 1] when given."""
    px = np.clip(rgb, 0, 1) ** (1 / 2.2)
    if alpha is not None:
        px = np.concatenate([px, np.asarray(alpha, np.float32)[..., None]], -1)
    write_oiio(path, (px * 255 + 0.5).astype(np.uint8), "uint8")
    return path


def _texture(f: int = 0, seed: int = 0) -> np.ndarray:
    """(H, W) linear luminance: a textured picture moving right by one pixel a frame."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    y = 0.25 + 0.15 * np.sin((xx - f) / 5.0) * np.cos(yy / 4.0) + rng.normal(0, 0.01, (H, W))
    return np.clip(y, 0.02, 1.0).astype(np.float32)


def _run(refs, lumas, settings=SETTINGS):
    """{frame: FrameOutput} of a clip given as a list of (H, W) luminance frames."""
    return {o.frame: o for o in colorize_clip(lambda f: lumas[f], list(range(len(lumas))), refs,
                                               settings=dict(settings))}


def _chroma(ab: np.ndarray) -> np.ndarray:
    return np.hypot(ab[..., 0], ab[..., 1])


# ---------------------------------------------------------------------- (a) a cut-out still
def test_a_cut_out_still_gives_its_colour_and_none_of_its_transparent_background(tmp_path):
    """Left half saturated red (alpha 1), right half black (alpha 0): every plate pixel takes
    red; the same still without alpha offers its black half, and the plate's dark half
    matches it (grey)."""
    rgb = np.zeros((H, W, 3), np.float32)
    rgb[:, : W // 2] = RED
    alpha = np.zeros((H, W), np.float32)
    alpha[:, : W // 2] = 1
    notes = []
    cut = load_reference(RefSpec(str(_png(tmp_path / "cut.png", rgb, alpha))), warn=notes.append)
    plain = load_reference(RefSpec(str(_png(tmp_path / "plain.png", rgb))))
    assert cut.coverage is not None and cut.coverage.mean() == 0.5 and plain.coverage is None
    assert notes == [f"{tmp_path / 'cut.png'}: alpha covers 50% of the image: only those pixels give colour"]
    # the plate: its right half dark, as the still's black half
    lumas = []
    for f in range(3):
        y = _texture(f)
        y[:, W // 2:] *= 0.02
        lumas.append(y)
    red_ab = color.chroma_of(cut.rgb[cut.coverage][None])[0].mean(0)     # red as the PNG holds it
    with_alpha = _run([cut], lumas)
    without = _run([plain], lumas)
    for f in range(3):
        ab, ab0 = with_alpha[f].ab, without[f].ab
        # every pixel red: chroma and hue as red's (no pull towards grey anywhere)
        assert np.abs(ab - red_ab).max() < 0.1, np.abs(ab - red_ab).max()       # measured 0.016
        # without alpha the dark half matches black: grey there (chroma 0.7 of red's 76.3), and
        # greyer overall (34.5 against 76.3)
        assert _chroma(ab0[:, W // 2 + 4:]).mean() < 0.2 * _chroma(red_ab)
        assert _chroma(ab0).mean() < 0.7 * _chroma(ab).mean()


# ---------------------------------------------------------------------- (b) a keyframe painted in part
def _object_shot():
    """Five frames: a bright textured square (the object) moving right 2 px a frame over a
    darker texture (the background); returns the luminance frames and the object's masks."""
    lumas, masks = [], []
    for f in range(5):
        y = _texture(f, seed=1) * 0.6
        m = np.zeros((H, W), bool)
        m[14:34, 10 + 2 * f:30 + 2 * f] = True
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        obj = 0.55 + 0.2 * np.sin((xx - 2 * f) / 3.0) * np.sin(yy / 3.0)
        y[m] = obj[m]
        lumas.append(y.astype(np.float32))
        masks.append(m)
    return lumas, masks


def _coloured(y: np.ndarray, rgb) -> np.ndarray:
    """(H, W, 3) linear RGB of luminance ``y`` in the hue of ``rgb``."""
    c = np.asarray(rgb, np.float32)
    return (y[..., None] * c / float(c @ np.array([0.2126, 0.7152, 0.0722], np.float32))).astype(np.float32)


GREEN = (0.1, 0.8, 0.15)
BLUE = (0.1, 0.2, 0.9)


def test_a_keyframe_painted_on_one_object_gives_it_exactly_and_the_still_colours_the_rest():
    lumas, masks = _object_shot()
    # keyframe 0: the object painted green, alpha only there (black elsewhere, as a paint layer)
    painted = np.where(masks[0][..., None], _coloured(lumas[0], GREEN), 0.0).astype(np.float32)
    key = ReferenceInput(rgb=painted, frame=0, path="key.png", coverage=masks[0])
    # a still of the background in blue (no object)
    still = ReferenceInput(rgb=_coloured(_texture(0, seed=1) * 0.6, BLUE), path="still.png")
    out = _run([key, still], lumas)
    green_ab = color.chroma_of(np.asarray(GREEN, np.float32)[None, None])[0, 0]
    blue_ab = color.chroma_of(np.asarray(BLUE, np.float32)[None, None])[0, 0]
    # the keyframe's frame: exactly the painted colour where painted
    want = color.chroma_of(painted)
    assert np.array_equal(out[0].ab[masks[0]], want[masks[0]])
    assert np.all(out[0].confidence[masks[0]] == 1.0)
    # ... and the still's blue elsewhere, not grey (nor the keyframe's black)
    bg = ~masks[0]
    # (measured: mean chroma 0.67 of blue's, median b* 0.70 of blue's on frame 0, 0.62 /
    # 0.63 on frame 4; the keyframe's unpainted part is its plate's grey, so the painted cells
    # at the object's edge look a little like the background around it)
    assert _chroma(out[0].ab[bg]).mean() > 0.6 * _chroma(blue_ab)
    assert np.median(out[0].ab[bg][:, 1]) < -0.6 * abs(blue_ab[1])      # b* towards blue
    # next frames: the object keeps its green, the background its blue
    for f in range(1, 5):
        inner = masks[f].copy()
        inner[:, :] = False
        inner[17:31, 13 + 2 * f:27 + 2 * f] = True          # away from the object's edges
        ab = out[f].ab
        assert np.abs(np.median(ab[inner], 0) - green_ab).max() < 0.15 * _chroma(green_ab), (f, np.median(ab[inner], 0))
        assert np.median(ab[~masks[f]][:, 1]) < -0.55 * abs(blue_ab[1])


def test_a_keyframe_painted_on_one_object_alone_leaves_the_rest_grey():
    """No reference is whole: nothing offers colour for the unpainted part, which then matches
    the keyframe's unpainted cells, standing for grey, instead of taking the painted green
    (coverage.unpainted_is_grey). The object keeps its green."""
    lumas, masks = _object_shot()
    painted = np.where(masks[0][..., None], _coloured(lumas[0], GREEN), 0.0).astype(np.float32)
    out = _run([ReferenceInput(rgb=painted, frame=0, path="key.png", coverage=masks[0])], lumas)
    green_ab = color.chroma_of(np.asarray(GREEN, np.float32)[None, None])[0, 0]
    assert np.array_equal(out[0].ab[masks[0]], color.chroma_of(painted)[masks[0]])
    for f in range(5):
        inner = np.zeros_like(masks[f])
        inner[17:31, 13 + 2 * f:27 + 2 * f] = True          # away from the object's edges
        far = np.ones_like(masks[f])
        far[10:38, 6 + 2 * f:34 + 2 * f] = False             # the background away from the object
        assert np.median(_chroma(out[f].ab[far])) < 0.1 * _chroma(green_ab), f
        assert np.abs(np.median(out[f].ab[inner], 0) - green_ab).max() < 0.15 * _chroma(green_ab), f


# ---------------------------------------------------------------------- (c) full alpha = no alpha
def test_full_alpha_is_the_same_reference_byte_for_byte(tmp_path):
    rgb = _coloured(_texture(0), RED) * 0.5 + 0.05
    full = load_reference(RefSpec(str(_png(tmp_path / "full.png", rgb, np.ones((H, W)))), frame=0))
    none = load_reference(RefSpec(str(_png(tmp_path / "none.png", rgb)), frame=0))
    assert full.coverage is None
    assert np.array_equal(full.rgb, none.rgb)
    (a,), (b,) = prepare_references([full], W, H), prepare_references([none], W, H)
    assert a.key == b.key and a.coverage is None
    lumas = [_texture(f) for f in range(3)]
    out_a, out_b = _run([full], lumas), _run([none], lumas)
    for f in range(3):
        assert out_a[f].rgb.tobytes() == out_b[f].rgb.tobytes()
        assert out_a[f].confidence.tobytes() == out_b[f].confidence.tobytes()


def test_the_key_includes_a_partial_coverage():
    rgb = np.full((H, W, 3), 0.3, np.float32)
    rgb[..., 0] = 0.6
    left, right = np.zeros((H, W), bool), np.zeros((H, W), bool)
    left[:, :20], right[:, 20:] = True, True
    keys = [prepare_references([ReferenceInput(rgb=rgb, frame=0, coverage=c)], W, H)[0].key
            for c in (None, left, right)]
    assert len(set(keys)) == 3


# ---------------------------------------------------------------------- (d) alpha 0 everywhere
def test_an_alpha_of_0_everywhere_is_taken_as_no_alpha_with_a_note(tmp_path):
    """An empty alpha (a file written as rgba from a stream without one) never means 'no pixel
    carries colour': the reference is read whole, as without alpha, and a note says so; the
    CLI renders with it."""
    rgb = _coloured(_texture(0), RED)
    empty = _png(tmp_path / "empty.png", rgb, np.zeros((H, W)))
    plain = _png(tmp_path / "plain.png", rgb)
    notes = []
    got = load_reference(RefSpec(str(empty), frame=1), warn=notes.append)
    want = load_reference(RefSpec(str(plain), frame=1))
    assert got.coverage is None and np.array_equal(got.rgb, want.rgb)
    assert notes == [f"{empty}: its alpha is 0 everywhere: taken as no alpha (every pixel gives colour)"]
    for f in (1, 2):
        write_oiio(tmp_path / "plate" / f"p.{f:04d}.exr", np.repeat(_texture(f)[..., None], 3, -1), "half")
    proc = subprocess.run([sys.executable, "-m", "nuke_colorize", "render", "--plate",
                           str(tmp_path / "plate" / "p.####.exr"), "--ref", f"1={empty}",
                           "--out", str(tmp_path / "out" / "c.####.exr")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "alpha is 0 everywhere: taken as no alpha" in proc.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["c.0001.exr", "c.0002.exr"]


def test_the_greyscale_check_looks_at_covered_pixels_only(tmp_path):
    from nuke_colorize.errors import InputError
    rgb = np.repeat(_texture(0)[..., None], 3, -1)
    rgb[:, :8] = RED                                # colour only where alpha is 0
    alpha = np.ones((H, W))
    alpha[:, :8] = 0
    with pytest.raises(InputError, match="greyscale"):
        load_reference(RefSpec(str(_png(tmp_path / "g.png", rgb, alpha))))


# ---------------------------------------------------------------------- (e) the shot cache
def test_changing_only_a_keyframes_alpha_recomputes_only_its_segments(tmp_path):
    from nuke_colorize.cache.shotcache import ShotCache
    from nuke_colorize.shot import Shot
    n = 9
    for f in range(1, n + 1):
        write_oiio(tmp_path / "plate" / f"p.{f:04d}.exr", np.repeat(_texture(f)[..., None], 3, -1), "half")
    alpha = np.zeros((H, W))
    alpha[:, :40] = 1
    for k in (1, 5, 9):
        _png(tmp_path / f"k{k}.png", _coloured(_texture(k), RED) * 0.5 + _coloured(_texture(k), BLUE) * 0.5
             if k != 9 else _coloured(_texture(k), GREEN), alpha if k == 9 else None)
    shot = tmp_path / "shot.json"
    shot.write_text(json.dumps({"plate": "plate/p.####.exr", "frames": [1, n], "settings": SETTINGS,
                                "references": [{"frame": k, "image": f"k{k}.png"} for k in (1, 5, 9)],
                                "output": "out/c.####.exr", "cache": "cache"}))

    def build():
        evts = []
        ShotCache(Shot.load(str(shot)), events=evts.append, warn=lambda m: None).render(write_outputs=False)
        counts = {}
        for e in evts:
            if e.get("event") == "frame" and e["computed"]:
                name = "-".join(e["segment"].split("-")[:2])
                counts[name] = counts.get(name, 0) + 1
        return counts

    assert build() == {"1-fwd": 4, "5-bwd": 4, "5-fwd": 4, "9-bwd": 4, "9-fwd": 1}
    assert build() == {}
    alpha[:, :40], alpha[:, 40:] = 0, 1                 # keyframe 9: the same pixels, other alpha
    _png(tmp_path / "k9.png", _coloured(_texture(9), GREEN), alpha)
    # keyframe 9 changed: the chains anchored on it and 5-fwd, whose far keyframe it is
    assert build() == {"5-fwd": 4, "9-bwd": 4, "9-fwd": 1}


def test_a_huge_still_is_reduced_on_reading_and_a_keyframe_or_small_still_is_not(tmp_path):
    """An 8K or 12K scan given as a still was held at full size through every conversion (an
    8K JPEG: 2.5 GB and 9 s to load, a 12K one about 6.5 GB), for a picture the backend uses
    at its working size. A still whose long side exceeds ``max_side`` (the render's: 4096 or
    the plate's long side, whichever is larger) is now reduced (area) as soon as it is read,
    its alpha alike; keyframes and stills within the bound are read as before."""
    rgb = np.zeros((H, W, 3), np.float32)
    rgb[:, : W // 2] = RED
    rgb[:, W // 2:] = (0.05, 0.05, 0.6)
    alpha = np.ones((H, W), np.float32)
    alpha[:, -8:] = 0
    path = str(_png(tmp_path / "scan.png", rgb, alpha))
    whole = load_reference(RefSpec(path=path))
    small = load_reference(RefSpec(path=path), max_side=32)
    assert whole.rgb.shape == (H, W, 3) and small.rgb.shape == (24, 32, 3)
    np.testing.assert_allclose(small.rgb[:, :14].mean((0, 1)), whole.rgb[:, :28].mean((0, 1)), atol=1e-3)
    assert small.coverage.shape == (24, 32) and not small.coverage[:, -4:].any() and small.coverage[:, :-4].all()
    np.testing.assert_array_equal(load_reference(RefSpec(path=path), max_side=W).rgb, whole.rgb)
    key = load_reference(RefSpec(path=path, frame=0), max_side=32)
    np.testing.assert_array_equal(key.rgb, whole.rgb)   # a keyframe lines up with the plate: never reduced
