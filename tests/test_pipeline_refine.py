"""The pipeline's final refinement: chroma at plate resolution is filtered on the plate's
luminance (guided filter, radius 2) where the result is unsure, so a chroma edge the
chain's warps smeared is pulled back towards the luminance edge and speckle in flat
regions is averaged out; confident colour is kept, the luminance is the plate's exactly
and keyframes keep their painted colour."""
import cv2
import numpy as np

from nuke_colorize import color
from nuke_colorize.backends.base import Result
from nuke_colorize.pipeline import Colorizer, ReferenceInput


def _plate(h=48, w=64, edge=32):
    y = np.full((h, w), 0.05, np.float32)
    y[:, edge:] = 0.5
    return y


def test_same_size_result_sharpens_smeared_chroma_edges_and_removes_speckle():
    y = _plate()
    ref_rgb = np.repeat(y[..., None], 3, axis=2)
    col = Colorizer(lambda f: y, (64, 48), [ReferenceInput(ref_rgb, frame=0)], "exemplar",
                    {"feature_size": 96})
    assert (col.work_w, col.work_h) == (64, 48)
    truth = np.zeros((48, 64, 2), np.float32)
    truth[:, :32] = (30.0, 20.0)
    truth[:, 32:] = (-20.0, 10.0)
    smeared = cv2.blur(truth, (7, 1))           # the edge spread over 7 pixels by warps
    noise = np.random.default_rng(0).normal(0.0, 2.0, truth.shape).astype(np.float32)
    res = Result(ab=smeared + noise, confidence=np.zeros((48, 64), np.float32), state={}, info={})
    out = col.finish(5, res)
    band = slice(28, 36)
    before = np.abs(smeared[:, band] - truth[:, band]).mean()
    after = np.abs(out.ab[:, band] - truth[:, band]).mean()
    assert after < 0.95 * before, (before, after)
    # flat regions keep their colour with the speckle averaged out
    flat = (slice(4, 44), slice(4, 24))
    assert np.abs(out.ab[flat] - truth[flat]).std() < 0.4 * noise[flat].std()
    np.testing.assert_allclose(out.ab[flat].mean(axis=(0, 1)), truth[flat].mean(axis=(0, 1)), atol=0.2)
    # the plate's luminance is kept exactly
    np.testing.assert_allclose(color.luminance(out.rgb), y, rtol=1e-3, atol=1e-6)
    # confident colour is kept as it is; half confidence, half way
    sure = col.finish(5, Result(ab=res.ab, confidence=np.ones((48, 64), np.float32), state={}, info={}))
    np.testing.assert_array_equal(sure.ab, res.ab)
    half = col.finish(5, Result(ab=res.ab, confidence=np.full((48, 64), 0.5, np.float32), state={}, info={}))
    np.testing.assert_allclose(half.ab, 0.5 * (res.ab + out.ab), atol=1e-4)
    # the keyframe keeps its painted colour, unfiltered
    key = col.finish(0, res)
    np.testing.assert_allclose(key.ab, color.chroma_of(ref_rgb), atol=1e-5)
