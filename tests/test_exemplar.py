"""Default backend on a known motion: colour painted on frame 0 must follow the content."""
import cv2
import numpy as np

from nuke_colorize import color
from nuke_colorize.pipeline import ReferenceInput, colorize_clip


def _scene(n=6, h=72, w=96, step=2):
    rng = np.random.default_rng(3)
    big = cv2.resize(rng.random((h // 6, (w + n * step) // 6 + 1, 3)).astype(np.float32),
                     None, fx=6, fy=6, interpolation=cv2.INTER_CUBIC)
    big = cv2.GaussianBlur(np.clip(big, 0.02, 1), (0, 0), 1.0)
    return [np.ascontiguousarray(big[:h, i * step: i * step + w]) for i in range(n)]


def test_keyframe_colour_follows_a_known_translation():
    frames = _scene()
    ys = [color.luminance(f) for f in frames]
    outs = {o.frame: o for o in colorize_clip(
        lambda f: ys[f], list(range(len(frames))), [ReferenceInput(frames[0], frame=0)],
        settings={"feature_size": 128})}
    # keyframe: the painted colour itself
    assert np.abs(outs[0].rgb - frames[0]).max() < 1e-3
    for f in range(1, len(frames)):
        inner = (slice(8, -8), slice(8, -16))
        true_ab = color.chroma_of(frames[f])[inner]
        err = np.abs(outs[f].ab[inner] - true_ab)
        grey_err = np.abs(true_ab)
        assert np.median(err) < 0.25 * np.median(grey_err), f
        # plate luminance kept exactly
        assert np.abs(color.luminance(outs[f].rgb) - ys[f]).max() <= 1e-3 * ys[f].max()


def test_external_still_colours_by_semantic_matching():
    frames = _scene(n=2)
    ys = [color.luminance(f) for f in frames]
    still = cv2.resize(frames[0], (64, 48), interpolation=cv2.INTER_AREA)   # other size/aspect
    outs = list(colorize_clip(lambda f: ys[f], [0, 1], [ReferenceInput(still)],
                              settings={"feature_size": 128}))
    true_ab = color.chroma_of(frames[1])
    err = np.abs(outs[1].ab - true_ab).mean()
    assert err < 0.8 * np.abs(true_ab).mean()
