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


def _track_backend(keep):
    from nuke_colorize.backends.base import Reference
    from nuke_colorize.backends.exemplar import ExemplarBackend
    b = ExemplarBackend({"feature_size": 64, "track_keep": keep, "track_sigma": 8.0})
    h, w = 32, 40
    lab = np.zeros((h, w, 3), np.float32)
    lab[..., 0] = 50.0
    lab[..., 1] = 30.0                                  # keyframe colour: a* = 30
    b.set_references([Reference(lab=lab, frame=0)])
    state = {"disp": np.zeros((h, w, 2), np.float32), "tconf": np.ones((h, w), np.float32),
             "anchor": np.array([0], np.int32)}
    return b, state, np.zeros((h, w, 2), np.float32)


def test_track_photometric_check_is_per_frame_and_keep_survives_a_bad_flow_frame():
    b, state, zero = _track_backend(keep=0.7)
    h, w = zero.shape[:2]
    ones = np.ones((h, w), np.float32)
    # a lighting dip of 24 L*: this frame's track is not trusted ...
    ab, c, disp, geo = b._track(state, zero, ones, np.full((h, w), 74.0, np.float32))
    assert c.max() < 1e-3 and np.allclose(geo, 1.0)
    assert np.allclose(ab[..., 0], 30.0)
    # ... but the next frame, back to the keyframe's luminance, trusts it fully again
    state.update(disp=disp, tconf=geo)
    _, c2, _, _ = b._track(state, zero, ones, np.full((h, w), 50.0, np.float32))
    assert np.allclose(c2, 1.0, atol=1e-6)
    # a frame whose flow fails the forward-backward check keeps track_keep of it, not 0
    _, c3, _, geo3 = b._track(state, zero, np.zeros_like(ones), np.full((h, w), 50.0, np.float32))
    assert np.allclose(geo3, 0.7, atol=1e-6) and np.allclose(c3, 0.7, atol=1e-6)
    b0, state0, _ = _track_backend(keep=0.0)
    _, _, _, geo0 = b0._track(state0, zero, np.zeros_like(ones), np.full((h, w), 50.0, np.float32))
    assert geo0.max() == 0.0


def test_match_weight_keeps_propagation_where_the_flow_fails_and_the_match_is_unsure():
    from nuke_colorize.backends.exemplar import match_weight

    valid = np.array([[1.0, 1.0, 0.0, 0.0, 0.0, 0.5]], np.float32)
    rel = np.array([[1.0, 0.5, 1.0, 0.25, 0.0, 1.0]], np.float32)
    w = match_weight(valid, rel, 0.3)
    # flow holds: re-anchoring (0.3 x reliability); flow fails: the match's reliability;
    # an unsure match (0) leaves the propagated colour where the flow failed
    np.testing.assert_allclose(w, [[0.3, 0.15, 1.0, 0.25, 0.0, 0.65]], atol=1e-7)
    ab_p, ab_m = np.float32(20.0), np.float32(-40.0)
    fused = (1 - w) * ab_p + w * ab_m
    np.testing.assert_allclose(fused[0, 3], 0.75 * 20 - 0.25 * 40)
    np.testing.assert_allclose(fused[0, 4], 20.0)


def test_track_reads_the_keyframe_chroma_through_a_pixel_scale_blur():
    from nuke_colorize.backends.base import Reference
    from nuke_colorize.backends.exemplar import ExemplarBackend
    h, w = 48, 64
    rng = np.random.default_rng(1)
    lab = np.zeros((h, w, 3), np.float32)
    lab[..., 0] = 50.0
    lab[..., 1] = 30.0 + rng.normal(0.0, 5.0, (h, w))     # a* = 30 with grain of std 5
    lab[..., 2] = -10.0
    state = {"disp": np.zeros((h, w, 2), np.float32), "tconf": np.ones((h, w), np.float32),
             "anchor": np.array([0], np.int32)}
    zero, ones = np.zeros((h, w, 2), np.float32), np.ones((h, w), np.float32)
    got = {}
    for sigma in (0.0, 1.0):      # pixels; the setting is per 1000 of the long side (64)
        b = ExemplarBackend({"feature_size": 64, "track_chroma_blur": sigma * 1000.0 / w})
        b.set_references([Reference(lab=lab, frame=0)])
        got[sigma] = b._track(state, zero, ones, lab[..., 0])[0]
    assert np.array_equal(got[0.0], lab[..., 1:])          # off: the keyframe's chroma as it is
    inner = got[1.0][4:-4, 4:-4]
    # a Gaussian of sigma 1 pixel passes 1 / (2 sqrt(pi)) = 0.28 of white noise's std
    assert abs(inner[..., 0].std() / 5.0 - 0.28) < 0.05
    assert abs(inner[..., 0].mean() - 30.0) < 0.2 and np.allclose(inner[..., 1], -10.0, atol=1e-4)


def test_confidence_separates_tracked_colour_from_matched_colour():
    """Content seen in the keyframe is reported as the track trusts it; content that
    entered the frame since (matched colour) at ``untracked_confidence`` of its reliability."""
    frames = _scene(n=6, step=2)
    ys = [color.luminance(f) for f in frames]

    def run(k):
        outs = {o.frame: o for o in colorize_clip(
            lambda f: ys[f], list(range(len(frames))), [ReferenceInput(frames[0], frame=0)],
            settings={"feature_size": 128, "untracked_confidence": k})}
        return outs[5].confidence

    conf, unscaled = run(0.5), run(1.0)
    seen, new = (slice(8, -8), slice(8, -24)), (slice(8, -8), slice(-6, None))   # 10 new columns
    assert np.median(conf[seen]) > 0.9
    assert conf[new].max() <= 0.5 + 1e-3
    assert np.allclose(conf[new], 0.5 * unscaled[new], atol=2e-3)
    assert np.median(unscaled[new]) > np.median(conf[new]) + 0.2


def test_confidence_of_a_chain_without_keyframe_is_not_scaled():
    """Stills only: every colour is matched, the reported confidence is the match's own."""
    frames = _scene(n=3)
    ys = [color.luminance(f) for f in frames]

    def run(k):
        return [o.confidence for o in colorize_clip(lambda f: ys[f], [0, 1, 2], [ReferenceInput(frames[0])],
                                                    settings={"feature_size": 128, "untracked_confidence": k})]

    for a, b in zip(run(0.25), run(1.0)):
        assert np.array_equal(a, b) and a.mean() > 0.3


def test_a_lost_track_is_refound_by_flow_straight_to_the_keyframe():
    """A chain whose track trust is gone (a long shot that left the keyframe's view and came
    back) gets the keyframe again from DIS flow between this frame and the keyframe: with
    ``track_reacquire`` the displacement is the known shift and the trust that setting."""
    from nuke_colorize.backends.base import Reference
    from nuke_colorize.backends.exemplar import ExemplarBackend
    frames = _scene(n=3)                                 # frame 2 = the keyframe moved 4 px left
    key = color.rgb_to_lab(frames[0])
    L = color.y_to_L(color.luminance(frames[2]))
    h, w = L.shape
    lost = {"disp": np.zeros((h, w, 2), np.float32), "tconf": np.zeros((h, w), np.float32),
            "anchor": np.array([0], np.int32)}
    zero, ones = np.zeros((h, w, 2), np.float32), np.ones((h, w), np.float32)
    got = {}
    for trust in (0.0, 0.4):
        b = ExemplarBackend({"feature_size": 64, "track_reacquire": trust})
        b.set_references([Reference(lab=key, frame=0)])
        got[trust] = b._track(lost, zero, ones, L)
    assert got[0.0][3].max() == 0.0                      # off: lost stays lost
    ab, conf, disp, geo = got[0.4]
    inner = (slice(8, -8), slice(8, -16))
    refound = geo[inner] == np.float32(0.4)
    assert refound.mean() > 0.9
    np.testing.assert_allclose(np.median(disp[inner][refound], axis=0), [4.0, 0.0], atol=0.25)
    true_ab = color.chroma_of(frames[2])[inner]
    assert np.median(np.abs(ab[inner] - true_ab)[refound]) < 0.2 * np.median(np.abs(true_ab))
    assert conf[inner][refound].mean() > 0.3             # the photometric check agrees
