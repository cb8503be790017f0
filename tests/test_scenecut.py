"""Scene-cut detection on luminance: real cuts between DAVIS clips, none inside a clip."""
from __future__ import annotations

import cv2
import numpy as np

from conftest import davis_clip
from nuke_colorize import scenecut as S
from nuke_colorize.color import luminance, srgb_to_linear


def _lumas(clip, n, size=(192, 108)):
    out = []
    for f in range(n):
        img = cv2.imread(str(davis_clip(clip) / f"{f:05d}.jpg"))[..., ::-1]
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        out.append(luminance(srgb_to_linear(img.astype(np.float32) / 255)))
    return out


def test_cut_between_two_real_clips_found_at_the_right_frame():
    a, b = _lumas("motocross-jump", 24), _lumas("drift-straight", 20)   # both fast-moving
    frames = list(range(1001, 1001 + len(a) + len(b)))
    plate = dict(zip(frames, a + b))
    scenes, d = S.detect_scenes(plate.__getitem__, frames)
    assert scenes == [(1001, 1024), (1025, 1044)]
    assert d[24] > 1.5 * max(d[1:24].max(), d[25:].max())   # the fastest DAVIS motion vs a cut
    for clip in (a, b):                                   # no cut inside either clip alone
        assert S.detect_cuts(S.changes([S.signature(y) for y in clip])) == []


def test_pan_and_exposure_drift_are_not_cuts_but_a_switch_is():
    rng = np.random.default_rng(0)
    tex = cv2.resize(rng.random((12, 40)).astype(np.float32), (640, 120), interpolation=cv2.INTER_CUBIC)
    other = cv2.resize(rng.random((6, 8)).astype(np.float32) ** 3, (160, 120), interpolation=cv2.INTER_CUBIC)
    pan = [np.clip(tex[:, 6 * t: 6 * t + 160] * (1 + 0.01 * t), 0, None) for t in range(30)]
    d = S.changes([S.signature(y) for y in pan])
    assert S.detect_cuts(d) == []
    seq = pan[:15] + [other * (1 + 0.01 * t) for t in range(15)]
    assert S.detect_cuts(S.changes([S.signature(y) for y in seq])) == [15]


def test_scenes_from_cuts_and_short_flashes():
    assert S.scenes([5, 6, 7, 8, 9], [2]) == [(5, 6), (7, 9)]
    assert S.scenes([5, 6, 7], []) == [(5, 7)]
    d = np.zeros(40)
    d[1:] = 0.01
    d[10], d[12] = 0.5, 0.6          # two spikes closer than MIN_SCENE: one cut, at the larger
    assert S.detect_cuts(d) == [12]
