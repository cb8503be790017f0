"""Matte IDs over time (``matte_ids``): mattes whose IDs name the object (a Cryptomatte, one
channel per object) are taken as given; ID mattes whose numbering may be arbitrary per frame
are associated with the previous frame's map by IoU (Akimoto et al.).

The scene: a red and a blue square of identical luminance texture on a textured grey
background, keyframe 1 painted. They cross over (16 px a frame; the red one in front) or
drift apart slowly, renumbered on every frame."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import matte_image, write_channels, write_oiio
from nuke_colorize.backends.base import stable_matte_ids
from nuke_colorize.errors import InputError
from nuke_colorize.io import matte as mio

H, W, SIZE, TOP = 96, 160, 28, 34
RED = np.array([0.8, 0.15, 0.1], np.float32)
BLUE = np.array([0.1, 0.25, 0.9], np.float32)


def _scene(xs):
    """[(linear rgb, red object's mask, blue object's mask)] per frame, ``xs`` the objects'
    left edges per frame (red, blue); the red object is in front."""
    from nuke_colorize.color import luminance
    bg = (0.6 + 0.4 * np.random.default_rng(1).random((H, W)).astype(np.float32))[..., None] * (0.35, 0.4, 0.3)
    tex = 0.4 + 0.6 * np.random.default_rng(2).random((SIZE, SIZE)).astype(np.float32)
    frames = []
    for xr, xb in xs:
        rgb = bg.astype(np.float32).copy()
        masks = [np.zeros((H, W), bool), np.zeros((H, W), bool)]
        for x, col, m in ((xb, BLUE, masks[1]), (xr, RED, masks[0])):
            rgb[TOP:TOP + SIZE, x:x + SIZE] = tex[..., None] * (col / luminance(col[None, None])[0, 0] * 0.3)
            m[TOP:TOP + SIZE, x:x + SIZE] = True
        masks[1] &= ~masks[0]
        frames.append((rgb, masks[0], masks[1]))
    return frames


CROSSING = [(8 + 16 * i, 124 - 16 * i) for i in range(6)]   # side by side on 4, crossed on 5
DRIFT = [(24 + 3 * i, 104 - 3 * i) for i in range(4)]        # 80 px apart, slowly


def _colorize(frames, pattern, matte_ids):
    """Colourise ``frames`` (keyframe 1) with the mattes of ``pattern`` read by the render's
    matte reader; per frame: for the red and the blue object, the distance of its mean a*b*
    (eroded by 3 px) from its own keyframe colour and from the other's."""
    from nuke_colorize.color import luminance, rgb_to_lab
    from nuke_colorize.pipeline import ReferenceInput, colorize_clip

    n = len(frames)
    outs = colorize_clip(lambda f: luminance(frames[f - 1][0]), list(range(1, n + 1)),
                         [ReferenceInput(rgb=frames[0][0], frame=1, path="key")],
                         settings={"feature_size": 256, "matte_ids": matte_ids},
                         matte=mio.MatteReader(pattern, (W, H)))
    red, blue = (rgb_to_lab(c[None, None])[0, 0, 1:] for c in (RED, BLUE))
    dist = {}
    for o in outs:
        _, m_red, m_blue = frames[o.frame - 1]
        row = []
        for m, own, other in ((m_red, red, blue), (m_blue, blue, red)):
            inner = cv2.erode(m.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
            mean = o.ab[inner].mean(0)
            row.append((float(np.linalg.norm(mean - own)), float(np.linalg.norm(mean - other))))
        dist[o.frame] = row
    return dist


@pytest.fixture(scope="module")
def crossing(tmp_path_factory):
    """The crossing scene with a two-channel named matte (``car.alpha``, ``person.alpha``)."""
    tmp = tmp_path_factory.mktemp("crossing")
    frames = _scene(CROSSING)
    for f, (_, m_red, m_blue) in enumerate(frames, 1):
        write_channels(tmp / f"m.{f:04d}.exr", [m_red.astype(np.float32), m_blue.astype(np.float32)],
                        ["car.alpha", "person.alpha"])
    return frames, str(tmp / "m.####.exr")


@pytest.fixture(scope="module")
def crossing_results(crossing):
    frames, pattern = crossing
    return {mode: _colorize(frames, pattern, mode) for mode in ("auto", "associate")}


def test_named_channel_mattes_read_as_stable_ids(crossing):
    """The reader reports the kind; an object's ID is the hash of its channel's name, so a
    file lacking the other object's channel names it alike."""
    frames, pattern = crossing
    m = mio.MatteReader(pattern, (W, H)).read(5)
    assert m.kind == mio.CHANNELS and mio.CHANNELS in mio.BY_NAME
    car, person = mio.channel_id("car.alpha"), mio.channel_id("person.alpha")
    assert set(np.unique(m.ids)) == {0, car, person}
    assert (m.ids[frames[4][1]] == car).all() and (m.ids[frames[4][2]] == person).all()


def test_crossing_objects_keep_their_own_colours_with_stable_ids(crossing_results):
    """Measured (mean a*b* of each object, distance to its own keyframe colour / to the other's,
    the two colours 97 apart): with ``auto`` (stable for named channels) red 8.5 / 89.5 and
    blue 18.6 / 78.7 on frame 5 (just crossed), both under 11 / over 87 on frame 6. With
    ``associate`` (IoU with the previous map carried along the flow, which does not follow
    two identical textures through each other) each object takes the other's colour from
    frame 5 on: red 89.7 / 7.5, blue 90.1 / 7.5."""
    stable, assoc = crossing_results["auto"], crossing_results["associate"]
    for f in (1, 2, 3, 4):      # before the crossing both are right
        for mode in (stable, assoc):
            assert all(own < 12 and other > 80 for own, other in mode[f])
    for f in (5, 6):
        assert all(own < 25 and other > 70 for own, other in stable[f]), stable[f]
        assert all(own > 70 and other < 25 for own, other in assoc[f]), assoc[f]   # swapped


def test_auto_associates_a_plain_id_matte_numbered_afresh_per_frame(tmp_path):
    """An 8-bit ID matte whose numbering is arbitrary per frame (as an instance segmentation
    writes it: the objects are 3 and 8, which is which alternating) is associated over time
    with ``auto``: both objects keep their colours (own < 7, other > 90 on every frame). Taken
    as given (``stable``) the numbering swaps them on frames 2 and 4 (own ~89)."""
    frames = _scene(DRIFT)
    for f, (_, m_red, m_blue) in enumerate(frames, 1):
        ids = np.zeros((H, W, 1), np.uint8)
        ids[m_red], ids[m_blue] = (3, 8) if f % 2 else (8, 3)
        write_oiio(tmp_path / f"m.{f:04d}.png", ids, "uint8")
    pattern = str(tmp_path / "m.####.png")
    assert mio.MatteReader(pattern, (W, H)).read(2).kind == mio.IDS
    auto = _colorize(frames, pattern, "auto")
    assert all(own < 12 and other > 80 for f in auto for own, other in auto[f]), auto
    stable = _colorize(frames, pattern, "stable")
    assert all(own > 70 for f in (2, 4) for own, _ in stable[f]), stable


def test_next_map_takes_stable_ids_as_given_and_carries_without_a_matte():
    from nuke_colorize.correspond import instances
    prev = np.zeros((10, 10), np.int32)
    prev[:, 1:3], prev[:, 6:8] = 1, 2
    flow = np.zeros((10, 10, 2), np.float32)
    swapped = np.zeros((10, 10), np.int32)
    swapped[:, 1:3], swapped[:, 6:8], swapped[0, 9] = 2, 1, 5     # swapped places; 5: a newcomer
    assoc = instances.next_map(prev, flow, swapped, 0.3, np.array([0, 1, 2]))
    assert (assoc[:, 1:3] == 1).all() and (assoc[:, 6:8] == 2).all()      # IoU: by place
    stable = instances.next_map(prev, flow, swapped, 0.3, np.array([0, 1, 2]), stable=True)
    assert np.array_equal(stable, swapped) and stable.dtype == np.int32   # by name, newcomer kept
    assert np.array_equal(instances.next_map(prev, flow, None, stable=True), prev)


@pytest.mark.parametrize("setting,kinds,want", [
    ("auto", [mio.CRYPTOMATTE, mio.CRYPTOMATTE], True), ("auto", [mio.CHANNELS], True),
    ("auto", [mio.IDS, mio.IDS], False), ("auto", [mio.COLOURS], False), ("auto", [mio.SHAPE], False),
    ("auto", [mio.SINGLE], False), ("auto", [None], False), ("auto", [mio.CHANNELS, mio.IDS], False),
    ("stable", [mio.IDS], True), ("stable", [None], True), ("associate", [mio.CRYPTOMATTE], False)])
def test_auto_is_stable_when_the_ids_name_the_object(setting, kinds, want):
    """``auto``: this frame's matte and the chain keyframe's must both be of a kind whose IDs
    name the object; a single-object or plain ID matte (or an array of unknown kind) is
    associated."""
    assert stable_matte_ids(setting, kinds) is want


def test_matte_kinds_of_each_matte_file():
    px = np.zeros((2, 3, 4), np.float32)
    px[0, 0, 3] = 1.0
    assert mio.decode(matte_image(px, ["R", "G", "B", "A"], True)).kind == mio.SHAPE
    px[0, 0, 0] = 0.7
    assert mio.decode(matte_image(px, ["R", "G", "B", "A"], True)).kind == mio.SINGLE
    px[0, 0, 0] = 7.0
    assert mio.decode(matte_image(px, ["R", "G", "B", "A"], True)).kind == mio.IDS
    rgb = np.zeros((2, 3, 3), np.float32)
    rgb[0, 0] = (1.0, 0.5, 0.0)
    assert mio.decode(matte_image(rgb, ["R", "G", "B"], False, "uint8")).kind == mio.COLOURS
    one = np.zeros((2, 3, 5), np.float32)
    one[1, 1, 4] = 1.0
    m = mio.decode(matte_image(one, ["R", "G", "B", "A", "car.alpha"], True))
    assert m.kind == mio.CHANNELS and m.ids[1, 1] == mio.channel_id("car.alpha") and m.ids.sum() == m.ids[1, 1]
    one[1, 1, 4] = 12.0                                        # an ID pass in a named channel
    assert mio.decode(matte_image(one, ["R", "G", "B", "A", "id"], True)).kind == mio.IDS


def test_settings_refuse_an_unknown_matte_ids():
    from nuke_colorize.backends.exemplar_settings import ExemplarSettings

    assert ExemplarSettings().settings["matte_ids"] == "auto"
    assert ExemplarSettings({"matte_ids": "stable"}).settings_key()["settings"]["matte_ids"] == "stable"
    with pytest.raises(InputError, match="matte_ids='byname' is not one of auto, stable, associate"):
        ExemplarSettings({"matte_ids": "byname"})
    # deepexemplar: the same setting (tests/test_deepexemplar_backend.py, it needs weights)
