"""Spatiotemporal restriction of the correspondence (Akimoto et al.): restricted softmax,
dense-tracking masks, instance IDs from mattes, and their effect on a known scene."""
import zlib

import numpy as np
import pytest
import torch

from conftest import matte_image, write_channels
from nuke_colorize.correspond import instances, tracking
from nuke_colorize.correspond.affinity import normalize, softmax_warp
from nuke_colorize.errors import InputError
from nuke_colorize.io.matte import (MatteReader, channel_id, channel_role, check_pattern, id_of, ids_from_image,
                                    resize_ids)


# ---------------------------------------------------------------- restricted softmax
def test_restricted_softmax_takes_only_allowed_candidates_and_falls_back_when_empty():
    q = normalize(torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    keys = normalize(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))     # two identical candidates
    values = torch.tensor([[10.0, 0.0], [-10.0, 0.0], [0.0, 50.0]])
    allowed = torch.tensor([[False, True, False], [False, False, False]])
    out, conf, fb = softmax_warp(q, keys, values, temperature=0.01, allowed=lambda sl: allowed[sl])
    assert out[0].tolist() == pytest.approx([-10.0, 0.0], abs=1e-4)      # only the allowed one
    assert out[1].tolist() == pytest.approx([0.0, 0.0], abs=1e-3)        # unrestricted: mean of the twins
    assert fb.tolist() == [False, True]
    assert conf.tolist() == pytest.approx([1.0, 1.0], abs=1e-5)
    free, _, fb0 = softmax_warp(q, keys, values, temperature=0.01)
    assert torch.allclose(free[1], out[1]) and not fb0.any()


# ---------------------------------------------------------------- dense tracking masks
def _moving_features(gh, gw, c, shift, frames, seed=0):
    """Feature maps of a random texture translating ``shift`` cells right per frame."""
    rng = np.random.default_rng(seed)
    big = rng.standard_normal((gh, gw + shift * frames, c)).astype(np.float32)
    out = []
    for t in range(frames):
        x0 = shift * (frames - 1 - t)                 # content moves right as t grows
        f = torch.from_numpy(np.ascontiguousarray(big[:, x0:x0 + gw].reshape(-1, c)))
        out.append(normalize(f, dim=1))
    return out


def test_tracking_masks_follow_a_known_translation_and_stay_small():
    gh, gw, shift, n_frames = 12, 20, 2, 4
    feats = _moving_features(gh, gw, 16, shift, n_frames)
    masks = tracking.identity(gh * gw)
    for t in range(1, n_frames):
        cand = tracking.step_candidates(feats[t], feats[t - 1], (gh, gw), radius=3,
                                        temperature=0.05, threshold=0.2)
        masks = tracking.propagate(masks, cand)
    assert tracking.decompress(tracking.compress(masks)).tobytes() == masks.tobytes()
    bits = np.unpackbits(masks, axis=1, count=gh * gw).astype(bool)
    total = shift * (n_frames - 1)
    hits, sizes = 0, []
    for y in range(gh):
        for x in range(total, gw):                     # content visible in the reference frame
            p = y * gw + x
            hits += bits[p, y * gw + x - total]
            sizes.append(bits[p].sum())
    assert hits == len(sizes)                          # the true source is always reachable
    assert np.mean(sizes) <= 2.0                       # and the set stays tight


def test_radius_scales_with_the_grid():
    assert tracking.scaled_radius(9, (54, 96)) == 9
    assert tracking.scaled_radius(9, (36, 64)) == 6
    assert tracking.scaled_radius(9, (8, 10)) == 1


def test_dilated_unpack_adds_the_neighbours():
    gh, gw = 5, 6
    m = tracking.identity(gh * gw)
    u = tracking.unpack_rows(m, slice(14, 15), gh * gw, (gh, gw), margin=1)[0].numpy().reshape(gh, gw)
    assert u.sum() == 9 and u[1:4, 1:4].all()          # position (2, 2) plus its 8 neighbours


@pytest.mark.parametrize("gw", [8, 24, 48, 96, 128])     # words of 1, 1, 2, 4 and 8 bytes
def test_packed_dilation_equals_the_boolean_one(gw):
    gh, rng = 7, np.random.default_rng(gw)
    bits = rng.random((40, gh * gw)) < 0.03
    bits[:2] = False
    bits[1, [0, gw - 1, gh * gw - gw, gh * gw - 1]] = True     # corners: nothing wraps around
    bits[2, [c for c in (7, 8, 63, 64) if c < gh * gw]] = True  # byte and word boundaries
    packed = np.packbits(bits, axis=1)
    for margin in (1, 2):
        want = tracking.dilate_bool(bits, (gh, gw), margin)
        got = np.unpackbits(tracking.dilate_packed(packed, (gh, gw), margin), axis=1, count=gh * gw)
        assert np.array_equal(got.astype(bool), want)
        assert tracking.unpack_rows(packed, slice(0, 40), gh * gw, (gh, gw), margin).numpy().tolist() == want.tolist()
    corner = tracking.dilate_bool(bits, (gh, gw), 1)[1].reshape(gh, gw)
    assert corner.sum() == 16                                  # four 2x2 corner blocks


def test_compressed_masks_round_trip_in_both_formats():
    rng = np.random.default_rng(1)
    masks = np.where(rng.random((300, 40)) < 0.02, rng.integers(1, 256, (300, 40)), 0).astype(np.uint8)
    labels = rng.integers(-1, 4, (30, 50)).astype(np.int32)
    for a in (masks, labels, np.zeros((3, 5), np.uint8)):
        blob = tracking.compress(a)
        assert blob.dtype == np.uint8 and blob.ndim == 1
        back = tracking.decompress(blob)
        assert back.dtype == a.dtype and np.array_equal(back, a)
    # the whole-array format of earlier caches (12-byte header, zlib body) is still read
    old = np.concatenate([np.array([300, 40, 0], np.uint32).view(np.uint8),
                          np.frombuffer(zlib.compress(masks.tobytes(), 6), np.uint8)])
    assert np.array_equal(tracking.decompress(old), masks)
    # a blob that does not describe its array is refused, not scattered out of bounds
    blob = tracking.compress(masks)
    head = blob[:16].view(np.uint32).copy()
    head[0] = 2                                           # claims 2 rows instead of 300
    with pytest.raises(ValueError, match="mask blob"):
        tracking.decompress(np.concatenate([head.view(np.uint8), blob[16:]]))


# ---------------------------------------------------------------- instances
def test_iou_association_renames_ids_and_leaves_newcomers_unknown():
    carried = np.zeros((20, 20), np.int32)
    carried[2:8, 2:8] = 1
    carried[12:18, 12:18] = 2
    target = np.zeros((20, 20), np.int32)
    target[3:9, 3:9] = 40                 # compositor's own numbering, moved by one pixel
    target[11:17, 11:17] = 41
    target[0:2, 15:20] = 42               # a newcomer overlapping nothing
    out = instances.associate(target, carried, min_iou=0.3)
    assert (out[3:9, 3:9] == 1).all() and (out[11:17, 11:17] == 2).all()
    assert (out[0:2, 15:20] == instances.UNKNOWN).all()
    assert out[19, 0] == 0                # background stays background


def test_an_id_without_iou_partner_keeps_its_number_when_the_reference_has_it():
    """An object that left the frame (or was hidden) and comes back overlaps nothing carried:
    it was UNKNOWN (unrestricted, free to take another object's colour) for the rest of the
    chain. With the reference's IDs known it keeps the compositor's ID, unless another target
    ID already took that reference ID."""
    carried = np.zeros((20, 20), np.int32)
    carried[12:18, 12:18] = 2
    target = np.zeros((20, 20), np.int32)
    target[2:8, 2:8] = 1                  # object 1 back, where nothing was carried
    target[12:18, 12:18] = 2
    target[0:2, 15:20] = 9                # an ID the reference never had
    out = instances.associate(target, carried, 0.3, known=np.array([0, 1, 2]))
    assert (out[2:8, 2:8] == 1).all() and (out[12:18, 12:18] == 2).all()
    assert (out[0:2, 15:20] == instances.UNKNOWN).all()
    assert (instances.associate(target, carried, 0.3)[2:8, 2:8] == instances.UNKNOWN).all()
    renamed = target.copy()
    renamed[12:18, 12:18] = 1             # inconsistent numbering: 1 is paired with 2 by IoU ...
    renamed[2:8, 2:8] = 2                 # ... so the newcomer 2 may not take reference ID 2
    out = instances.associate(renamed, carried, 0.3, known=np.array([0, 1, 2]))
    assert (out[12:18, 12:18] == 2).all() and (out[2:8, 2:8] == instances.UNKNOWN).all()


@pytest.mark.parametrize("offset", [0, 3_000_000_000])
def test_iou_table_is_intersection_over_union_of_every_overlapping_pair(offset):
    """Counted against the definition, for small IDs (counted) and IDs far apart (sorted),
    unknown pixels of either map left out."""
    rng = np.random.default_rng(4)
    a = rng.integers(0, 4, (30, 40)).astype(np.int64)
    b = rng.integers(0, 3, (30, 40)).astype(np.int64)
    a[a == 3] = 7 + offset
    a[:5] = instances.UNKNOWN
    b[:, :3] = instances.UNKNOWN
    got = instances.iou_table(a, b)
    ok = (a != instances.UNKNOWN) & (b != instances.UNKNOWN)
    want = {}
    for i in np.unique(a[ok]):
        for j in np.unique(b[ok]):
            inter = int(((a == i) & (b == j) & ok).sum())
            if inter:
                union = int((((a == i) | (b == j)) & ok).sum())
                want[(int(i), int(j))] = inter / union
    assert got.keys() == want.keys()
    assert all(abs(got[k] - want[k]) < 1e-12 for k in want)



def test_association_of_70000_ids_grows_with_the_pixels_not_the_ids_squared():
    """A per-object ID pass of a crowd or particles: 70225 distinct IDs (>= 65536) on a 265x265
    map. The IoU table was a dense IDs x IDs array (4.9e9 counts, 39 GB: MemoryError or the
    OOM killer) and the relabelling one pass over the frame per ID. Now both follow the pixels."""
    side = 265
    target = (np.arange(side * side).reshape(side, side) + 70000).astype(np.int32)
    carried = np.roll(target, 1, axis=1)                 # each ID moved one pixel to the right
    table = instances.iou_table(target, carried)
    assert len(table) == side * side and set(table.values()) == {1.0}   # one pixel each, one partner
    assert table[(70001, 70000)] == 1.0
    out = instances.associate(target, carried, 0.3, known=np.array([0]))
    assert out.dtype == np.int32 and np.array_equal(out, carried)      # renamed to the carried IDs

def test_ids_carried_along_the_flow_on_frames_without_a_matte():
    prev = np.zeros((10, 10), np.int32)
    prev[:, 2:4] = 3
    flow = np.zeros((10, 10, 2), np.float32)
    flow[..., 0] = -2.0                   # each pixel came from two pixels to its left
    nxt = instances.next_map(prev, flow, None)
    assert (nxt[:, 4:6] == 3).all() and (nxt[:, 2:4] == 0).all()


def test_instance_rows_restrict_to_the_same_id():
    t = np.array([1, 2, instances.UNKNOWN], np.int32)
    r = np.array([2, 1, 0, 1], np.int32)
    a = instances.allowed_rows(t, r, slice(0, 3)).numpy()
    assert a.tolist() == [[False, True, False, True], [True, False, False, False], [True] * 4]


def test_resize_ids_is_exact_for_large_ids():
    ids = np.array([[123456789, 2], [3, 987654321]], np.int32)
    big = resize_ids(ids, (4, 4))
    assert big[0, 0] == 123456789 and big[3, 3] == 987654321 and big[0, 3] == 2


# ---------------------------------------------------------------- matte files
def test_cryptomatte_rank0_hash_becomes_a_stable_id():
    h = np.array([0.0, 1.7e-5, -3.2e12], np.float32)          # hashes as stored (float bits)
    idc = np.array([[h[1], h[2]], [h[1], 0.0]], np.float32)
    cov = np.array([[0.9, 0.6], [0.7, 0.0]], np.float32)
    px = np.stack([np.zeros_like(idc), idc, cov, np.zeros_like(idc), np.zeros_like(idc)], axis=2)
    img = matte_image(px, ["R", "CryptoObject00.R", "CryptoObject00.G", "CryptoObject00.B", "CryptoObject00.A"], True)
    ids = ids_from_image(img)
    assert ids[0, 0] == ids[1, 0] != 0 and ids[0, 1] not in (0, ids[0, 0]) and ids[1, 1] == 0


def test_one_channel_per_object_and_integer_id_mattes():
    px = np.zeros((2, 3, 2), np.float32)
    px[0, 0, 0] = 1.0
    px[1, 2, 1] = 0.8
    ids = ids_from_image(matte_image(px, ["car", "person"], True))
    car, person = channel_id("car"), channel_id("person")        # IDs by name: stable over time
    assert ids.tolist() == [[car, 0, 0], [0, 0, person]] and car != person
    grey8 = np.array([[0, 255 / 255.0], [7 / 255.0, 0]], np.float32)[..., None]
    assert ids_from_image(matte_image(grey8, ["Y"], False, "uint8")).tolist() == [[0, 255], [7, 0]]


@pytest.mark.parametrize("is_float,fmt", [(True, "float"), (False, "uint8")])
def test_a_roto_shape_in_alpha_is_one_object(is_float, fmt):
    """A Roto wired straight into the matte input: black R/G/B, an antialiased shape in A. It
    read R (all 0): an empty matte, silently; now the shape (alpha > 0.5) is the object, edge
    pixels included as a threshold, not as IDs 1..254 of an 8-bit alpha."""
    alpha = np.array([[0.0, 0.3, 0.7, 1.0], [0.0, 0.0, 0.51, 1.0]], np.float32)
    px = np.zeros((2, 4, 4), np.float32)
    px[..., 3] = alpha if is_float else np.rint(alpha * 255) / 255
    assert ids_from_image(matte_image(px, ["R", "G", "B", "A"], is_float, fmt)).tolist() == \
        [[0, 0, 1, 1], [0, 0, 1, 1]]
    px[..., 3] = 1.0                              # no shape in alpha: read as before (R)
    assert not ids_from_image(matte_image(px, ["R", "G", "B", "A"], is_float, fmt)).any()
    px[0, 0, 0] = 1.0 if is_float else 5 / 255   # an ID in R: R is read, alpha ignored
    px[..., 3] = alpha
    assert ids_from_image(matte_image(px, ["R", "G", "B", "A"], is_float, fmt))[0, 0] == (1 if is_float else 5)


@pytest.mark.parametrize("names", [["car.alpha", "person.alpha"], ["matte.a", "matte.b"],
                                   ["R", "G", "B", "A", "car.alpha", "person.alpha"],
                                   ["rgba.R", "rgba.G", "rgba.B", "rgba.A", "car.a", "person.a"]])
def test_layer_qualified_alpha_channels_are_objects_not_alpha(names):
    """Only top-level R/G/B/A (and the rgba layer's) are colour / alpha: ``car.alpha`` or
    ``matte.a`` name an object, as ``car`` does."""
    px = np.zeros((2, 3, len(names)), np.float32)
    px[..., :len(names) - 2] = 0.9            # colour / alpha planes, when there are any: ignored
    px[0, 0, -2] = 1.0
    px[1, 2, -1] = 0.8
    a, b = channel_id(names[-2]), channel_id(names[-1])
    assert ids_from_image(matte_image(px, names, True)).tolist() == [[a, 0, 0], [0, 0, b]]


@pytest.mark.parametrize("name,role", [("R", "r"), ("alpha", "alpha"), ("rgba.A", "a"), ("Y", "y"),
                                       ("car.alpha", ""), ("matte.a", ""), ("matte.b", ""), ("obj1", ""),
                                       ("CryptoObject00.R", "")])
def test_channel_role(name, role):
    assert channel_role(name) == role


def test_matte_pattern_naming_no_file_in_the_range_is_refused(tmp_path):
    (tmp_path / "m.0003.png").write_bytes(b"x")
    check_pattern(str(tmp_path / "m.####.png"), [1, 2, 3])           # one frame is enough
    with pytest.raises(InputError) as exc:
        check_pattern(str(tmp_path / "m.####.png"), [1, 2])
    assert "m.####.png" in str(exc.value) and "frames 1-2" in str(exc.value)
    with pytest.raises(InputError, match="matches no file"):
        check_pattern(str(tmp_path / "single.png"), [1, 2])             # one file for every frame


# ---------------------------------------------------------------- the "two cars" case
def _two_objects(h=96, w=128, swap=False):
    """Grey textured background and two objects with identical texture; ``swap`` exchanges
    their places. Returns (luminance-only Lab scene L, object boxes left/right)."""
    rng = np.random.default_rng(5)
    L = 40 + 10 * rng.random((h, w)).astype(np.float32)
    tex = 70 + 25 * rng.random((32, 32)).astype(np.float32)
    boxes = [(slice(32, 64), slice(16, 48)), (slice(32, 64), slice(80, 112))]
    for b in boxes:
        L[b] = tex
    return L, boxes


def test_instance_mattes_keep_identical_looking_objects_apart():
    from nuke_colorize.backends.base import Reference, TargetFrame
    from nuke_colorize.backends.exemplar import ExemplarBackend

    L, (left, right) = _two_objects()
    ab = np.zeros(L.shape + (2,), np.float32)
    ab[left] = (60.0, 40.0)        # object 1 (left in the reference): red
    ab[right] = (10.0, -60.0)      # object 2 (right in the reference): blue
    ref_ids = np.zeros(L.shape, np.int32)
    ref_ids[left], ref_ids[right] = 1, 2
    tgt_ids = np.zeros(L.shape, np.int32)
    tgt_ids[left], tgt_ids[right] = 2, 1       # the objects have swapped places
    ref = Reference(lab=np.dstack([L, ab]), matte=ref_ids)
    results = {}
    for mode in ("none", "instance"):
        be = ExemplarBackend({"feature_size": 128, "restrict": mode})
        be.set_references([ref])
        res = be.colorize(TargetFrame(frame=0, L=L, matte=tgt_ids), None)
        inner = lambda b: (slice(b[0].start + 6, b[0].stop - 6), slice(b[1].start + 6, b[1].stop - 6))
        results[mode] = (np.median(res.ab[inner(left)], axis=(0, 1)),
                         np.median(res.ab[inner(right)], axis=(0, 1)))
    (l_ab, r_ab) = results["instance"]
    assert l_ab[1] < -40 and r_ab[0] > 45      # left now blue, right now red: colours follow identity
    err = lambda lr: np.abs(lr[0] - (10, -60)).sum() + np.abs(lr[1] - (60, 40)).sum()
    assert err(results["instance"]) < 0.3 * err(results["none"])



def _vanishing_object_shot(n=5, w=214, h=120, size=36, gone=(3, 4)):
    """Linear RGB frames 1..n and ID mattes: a red object (ID 1) and a blue one (ID 2) of
    identical luminance texture drift 2 px/frame over a textured background; object 1 is
    gone (plate and matte) on the frames ``gone``. Returns [(rgb, ids)], colours, size."""
    from nuke_colorize.color import luminance
    red, blue = np.array([0.8, 0.15, 0.1], np.float32), np.array([0.1, 0.25, 0.9], np.float32)
    bg = (0.6 + 0.4 * np.random.default_rng(1).random((h, w)).astype(np.float32))[..., None] * (0.35, 0.4, 0.3)
    tex = 0.4 + 0.6 * np.random.default_rng(2).random((size, size)).astype(np.float32)
    out = []
    for f in range(1, n + 1):
        rgb, ids = bg.astype(np.float32).copy(), np.zeros((h, w), np.int32)
        for x, col, k in ((30 + 2 * f, red, 1), (140 + 2 * f, blue, 2)):
            if k == 1 and f in gone:
                continue
            rgb[40:40 + size, x:x + size] = tex[..., None] * (col / luminance(col[None, None])[0, 0] * 0.3)
            ids[40:40 + size, x:x + size] = k
        out.append((rgb, ids))
    return out, (red, blue), size


def test_an_object_that_vanishes_and_comes_back_takes_only_its_own_colour():
    """Two objects of identical texture, red (ID 1) and blue (ID 2) on keyframe 1; object 1 is
    gone on frames 3-4 and back on frame 5. Before, its ID found no IoU partner and stayed
    unknown: on frame 5 its a*b* sat 0.38 of the way from red to blue (30% of its pixels
    nearer blue; 0.52 and 57% in a 214x120 render at the default feature size). Now it keeps
    ID 1: 0.06, no pixel nearer blue."""
    from nuke_colorize.backends.base import Previous, Reference, TargetFrame
    from nuke_colorize.backends.exemplar import ExemplarBackend
    from nuke_colorize.color import luminance, rgb_to_lab, y_to_L

    frames, (red, blue), size = _vanishing_object_shot()
    lab0 = rgb_to_lab(frames[0][0]).astype(np.float32)
    ref = Reference(lab=lab0, frame=1, matte=frames[0][1])
    be = ExemplarBackend({"feature_size": 384, "restrict": "instance"})
    be.set_references([ref])
    state = be.keyframe_result(TargetFrame(frame=1, L=lab0[..., 0], matte=frames[0][1]), ref).state
    for f, (rgb, ids) in enumerate(frames[1:], start=2):
        L = y_to_L(luminance(rgb)).astype(np.float32)
        res = be.colorize(TargetFrame(frame=f, L=L, matte=ids), Previous(frame=f - 1, state=state))
        state = res.state
    x = 30 + 2 * 5
    inner = res.ab[44:40 + size - 4, x + 4:x + size - 4].reshape(-1, 2)
    a_red, a_blue = (rgb_to_lab(c[None, None])[0, 0, 1:] for c in (red, blue))
    toward_blue = (inner - a_red) @ (a_blue - a_red) / float((a_blue - a_red) @ (a_blue - a_red))
    assert float(np.mean(toward_blue)) < 0.15 and float(np.mean(toward_blue > 0.5)) < 0.02

def test_flow_candidates_point_to_the_cell_the_flow_reaches():
    gh, gw, cell = 4, 6, 8
    flow = np.zeros((gh * cell, gw * cell, 2), np.float32)
    flow[..., 0] = -cell                 # everything came from one cell to the left
    valid = np.ones(flow.shape[:2], np.float32)
    valid[:cell, :] = 0                  # top row: flow not trusted
    c = tracking.flow_candidates(flow, valid, (gh, gw))[:, 0].reshape(gh, gw)
    assert (c[0] == -1).all()            # untrusted
    assert (c[1:, 0] == -1).all()        # left the frame
    assert c[2, 3] == 2 * gw + 2 and c[3, 5] == 3 * gw + 4


def test_dense_chain_resumed_in_a_fresh_backend_is_bit_identical():
    """The tracking masks live in the chain state: a chain continued from a stored frame by
    another process (fresh backend, no feature memo) gives the same bits."""
    from nuke_colorize.backends.base import Previous, Reference, TargetFrame
    from nuke_colorize.backends.exemplar import ExemplarBackend
    from nuke_colorize.engine import canonical_state

    rng = np.random.default_rng(2)
    tex = 20 + 60 * rng.random((60, 140)).astype(np.float32)
    Ls = [np.ascontiguousarray(tex[:, 3 * t: 3 * t + 96]) for t in range(4)]
    ab = np.dstack([Ls[0] - 50, 50 - Ls[0]]).astype(np.float32)
    ref = Reference(lab=np.dstack([Ls[0], ab]), frame=0)

    def backend():
        b = ExemplarBackend({"feature_size": 96, "restrict": "dense"})
        b.set_references([ref])
        return b

    b = backend()
    states = [canonical_state(b.keyframe_result(TargetFrame(0, Ls[0]), ref))]
    for t in range(1, 4):
        states.append(canonical_state(b.colorize(TargetFrame(t, Ls[t]), Previous(t - 1, states[-1].state))))
    assert "tmask" in states[3].state
    fresh = canonical_state(backend().colorize(TargetFrame(3, Ls[3]), Previous(2, states[2].state)))
    assert fresh.ab.tobytes() == states[3].ab.tobytes()
    assert fresh.state["tmask"].tobytes() == states[3].state["tmask"].tobytes()


def test_same_instance_agrees_or_unknown():
    a = np.array([[0, 1, 2, -1]], np.int32)
    b = np.array([[0, 2, 2, 5]], np.int32)
    assert instances.same_instance(a, b).tolist() == [[True, False, True, True]]


def test_instance_gate_stops_propagation_across_instances(monkeypatch):
    """The flow misses a fast object (zero flow, yet forward-backward consistent, as with
    motion blur): propagation would paint the background's colour where the object now is.
    With the frame's matte the path from background into the object is cut and the
    instance-restricted match paints the object's own colour there."""
    from nuke_colorize.backends import exemplar
    from nuke_colorize.backends.base import Previous, Reference, TargetFrame

    h, w = 96, 128
    rng = np.random.default_rng(3)
    bg = 40 + 10 * rng.random((h, w)).astype(np.float32)
    tex = 70 + 25 * rng.random((32, 32)).astype(np.float32)
    L0, L1 = bg.copy(), bg.copy()
    old, new = (slice(32, 64), slice(20, 52)), (slice(32, 64), slice(36, 68))   # moved 16 px
    L0[old] = tex
    L1[new] = tex
    ab0 = np.zeros((h, w, 2), np.float32)
    ab0[..., 1] = 30.0                  # yellowish background
    ab0[old] = (60.0, 40.0)             # red object
    ids0 = np.zeros((h, w), np.int32)
    ids0[old] = 1
    ids1 = np.zeros((h, w), np.int32)
    ids1[new] = 7                       # another number on this frame: associated by IoU (1/3)
    monkeypatch.setattr(exemplar, "dis_flow_pair", lambda a, b, preset="medium": (np.zeros(a.shape + (2,), np.float32),) * 2)
    inner = (slice(38, 58), slice(55, 66))   # where the object is now and the background was
    got = {}
    for gate in (False, True):
        # fusion pinned (weak re-anchoring, no positional or luminance prior, plain cell
        # colour) so only the gate differs
        be = exemplar.ExemplarBackend({"feature_size": 128, "restrict": "instance", "instance_gate": gate,
                                       "reanchor": 0.1, "position_prior": 0.0, "luma_prior": 0.0,
                                       "luma_key": False})
        ref = Reference(lab=np.dstack([L0, ab0]), frame=0, matte=ids0)
        be.set_references([ref])
        key = be.keyframe_result(TargetFrame(frame=0, L=L0, matte=ids0), ref)
        res = be.colorize(TargetFrame(frame=1, L=L1, matte=ids1), Previous(frame=0, state=key.state))
        got[gate] = np.median(res.ab[inner], axis=(0, 1))
    assert np.abs(got[False] - (0.0, 30.0)).max() < 5      # background colour dragged in
    assert got[True][0] > 45 and np.abs(got[True] - (60.0, 40.0)).max() < 15   # the object's red


def test_tracking_masks_bring_their_slack_and_instance_ids_stay_hard():
    """The fallback slack: tracking masks are estimates (``mask_slack`` applies where they
    restrict); compositor mattes are not (only ``restrict_slack``, off by default)."""
    from nuke_colorize.backends.base import Reference
    from nuke_colorize.backends.exemplar import ExemplarBackend

    L, (left, right) = _two_objects()
    ids = np.zeros(L.shape, np.int32)
    ids[left], ids[right] = 1, 2
    ref = Reference(lab=np.dstack([L, np.zeros(L.shape + (2,), np.float32)]), frame=0, matte=ids)

    def restriction(masks, labels, **settings):
        be = ExemplarBackend({"feature_size": 128, "restrict": "both", **settings})
        be.set_references([ref])
        grid = be._blocks[0][2]
        n = grid[0] * grid[1]
        return be._restriction(grid, 0, tracking.identity(n) if masks else None,
                               instances.to_grid(ids, grid) if labels else None, None)

    allowed, slack = restriction(masks=False, labels=True)
    assert allowed is not None and slack is None
    assert restriction(masks=True, labels=True)[1] == pytest.approx(0.05)
    assert restriction(masks=True, labels=False, restrict_slack=0.02)[1] == pytest.approx(0.02)
    assert restriction(masks=False, labels=True, restrict_slack=0.3)[1] == pytest.approx(0.3)
    assert restriction(masks=True, labels=False, mask_slack=0.0)[1] is None
    assert restriction(masks=False, labels=False) == (None, None)


def test_remembered_frames_are_restricted_by_their_own_instance_ids():
    """A remembered frame's cells (stacked after the references) are allowed only for target
    cells of the same instance; the reference block keeps its own restriction."""
    import torch

    from nuke_colorize.backends.base import Reference
    from nuke_colorize.backends.exemplar import ExemplarBackend
    from nuke_colorize.correspond import memory

    L, (left, right) = _two_objects()
    ids = np.zeros(L.shape, np.int32)
    ids[left], ids[right] = 1, 2
    ref = Reference(lab=np.dstack([L, np.zeros(L.shape + (2,), np.float32)]), frame=0, matte=ids)
    be = ExemplarBackend({"feature_size": 128, "restrict": "instance"})
    be.set_references([ref])
    grid = be._blocks[0][2]
    n = grid[0] * grid[1]
    target = instances.to_grid(ids, grid)
    swapped = np.where(target == 1, 2, np.where(target == 2, 1, target)).astype(np.int32)
    mem = memory.MemoryFrame(torch.zeros((n, be._keys.shape[1] + 1)), torch.zeros((n, 2)), grid, labels=swapped)
    allowed, _ = be._restriction(grid, 0, None, target, None, [mem])
    got = allowed(slice(0, n)).numpy()
    assert got.shape == (n, 2 * n)
    assert np.array_equal(got[:, :n], target[:, None] == target[None, :])
    assert np.array_equal(got[:, n:], target[:, None] == swapped[None, :])
    # without the chain's instance map the memory is not restricted (nor is anything else)
    assert be._restriction(grid, 0, None, None, None, [mem]) == (None, None)


def test_unreadable_matte_names_file_and_frame(tmp_path):
    """A truncated matte file is one error naming the file *and the frame* (the frame was left
    out: ``m.0002.png: not a readable image``)."""
    from conftest import write_oiio
    write_oiio(tmp_path / "m.0001.png", np.zeros((6, 8, 1), np.uint8), "uint8")
    (tmp_path / "m.0002.png").write_bytes((tmp_path / "m.0001.png").read_bytes()[:40])
    reader = MatteReader(str(tmp_path / "m.####.png"), (8, 6))
    assert reader(1).shape == (6, 8)
    with pytest.raises(InputError) as exc:
        reader(2)
    assert "m.0002.png" in str(exc.value) and "frame 2" in str(exc.value) and "not a readable image" in str(exc.value)


def _murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit, the Cryptomatte name hash."""
    import struct
    c1, c2, h, n, m = 0xCC9E2D51, 0x1B873593, seed, len(data), 0xFFFFFFFF
    rotl = lambda x, r: ((x << r) | (x >> (32 - r))) & m
    for i in range(0, n - n % 4, 4):
        h = (rotl(h ^ (rotl(struct.unpack("<I", data[i:i + 4])[0] * c1 & m, 15) * c2 & m), 13) * 5 + 0xE6546B64) & m
    k = int.from_bytes(data[n - n % 4:], "little")
    if n % 4:
        h ^= rotl(k * c1 & m, 15) * c2 & m
    h ^= n
    for shift, mul in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        h = (h ^ (h >> shift)) * mul & m
    return h ^ (h >> 16)


def _crypto_float(name: str) -> np.float32:
    """A name's Cryptomatte ID as stored: the hash's bits as a float32 (exponent 0 / 255 avoided)."""
    h = _murmur3_32(name.encode())
    if (h >> 23) & 0xFF in (0, 255):
        h ^= 1 << 23
    return np.array([h], np.uint32).view(np.float32)[0]


@pytest.mark.parametrize("layers", [("CryptoMaterial", "CryptoObject"), ("crypto_asset", "crypto_object")])
def test_cryptomatte_exr_reads_the_object_layer_not_the_first_layer(tmp_path, layers):
    """A renderer's Cryptomatte EXR holds several layers, stored alphabetically (Material before
    Object; Arnold's crypto_asset before crypto_object). Instances are the objects: two cars
    sharing one paint must be two IDs. Reading the first layer gave one ID for both."""
    h, w = 4, 8
    other, objects = layers
    planes, names, formats, attrs = [np.zeros((h, w), np.float32)] * 4, ["R", "G", "B", "A"], ["half"] * 4, []
    car, person, paint = _crypto_float("car"), _crypto_float("person"), _crypto_float("red_paint")
    obj_id = np.where(np.arange(w) < 4, car, person).astype(np.float32)[None].repeat(h, 0)
    cov0 = np.ones((h, w), np.float32)
    obj_id[:, 3], cov0[:, 3] = car, 0.6                     # an edge: car 0.6, person 0.4 (rank 1)
    rank1_id = np.where(np.arange(w) == 3, person, 0).astype(np.float32)[None].repeat(h, 0)
    rank1_cov = np.where(np.arange(w) == 3, 0.4, 0).astype(np.float32)[None].repeat(h, 0)
    for layer, (i0, c0, i1, c1) in ((other, (np.full((h, w), paint, np.float32), cov0, 0 * cov0, 0 * cov0)),
                                    (objects, (obj_id, cov0, rank1_id, rank1_cov))):
        planes += [i0, c0, i1, c1]
        names += [f"{layer}00.{c}" for c in "RGBA"]
        formats += ["float"] * 4
        key = f"{_murmur3_32(layer.encode()):08x}"[:7]
        attrs += [(f"cryptomatte/{key}/name", layer), (f"cryptomatte/{key}/hash", "MurmurHash3_32"),
                  (f"cryptomatte/{key}/conversion", "uint32_to_float32"),
                  (f"cryptomatte/{key}/manifest", '{"car":"%08x","person":"%08x"}'
                   % (_murmur3_32(b"car"), _murmur3_32(b"person")))]
    write_channels(tmp_path / "crypto.0001.exr", planes, names, formats, attrs)
    ids = MatteReader(str(tmp_path / "crypto.####.exr"), (w, h))(1)
    want_car, want_person = (int(id_of(np.float32(v).view(np.uint32))) for v in (car, person))
    assert ids[:, :4].tolist() == [[want_car] * 4] * h
    assert ids[:, 4:].tolist() == [[want_person] * 4] * h
    assert MatteReader(str(tmp_path / "crypto.####.exr"), (w, h)).read(1).kind == "cryptomatte"   # stable IDs


def test_one_object_channel_beside_rgba_is_that_object(tmp_path):
    """A float matte holding R/G/B/A and one object channel (``car.alpha``): the object is read,
    not R (R = 0.2 everywhere gave an empty matte)."""
    h, w = 2, 3
    car = np.zeros((h, w), np.float32)
    car[0, 0], car[1, 2] = 1.0, 0.8
    grey = np.full((h, w), 0.2, np.float32)
    write_channels(tmp_path / "m.0001.exr", [grey, grey, grey, np.ones((h, w), np.float32), car],
                    ["R", "G", "B", "A", "car.alpha"])
    car = channel_id("car.alpha")          # named as in a file holding other objects too
    assert MatteReader(str(tmp_path / "m.####.exr"), (w, h))(1).tolist() == [[car, 0, 0], [0, 0, car]]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_an_id_matte_is_refused_naming_file_frame_and_where(tmp_path, bad):
    """NaN in a float ID matte became the ID -2147483648 (Inf 2**30) without a word."""
    ids = np.array([[0, bad, 2], [2, 0, 7]], np.float32)
    write_channels(tmp_path / "m.0003.exr", [ids], ["Y"])
    with pytest.raises(InputError) as exc:
        MatteReader(str(tmp_path / "m.####.exr"), (3, 2))(3)
    msg = str(exc.value)
    assert "m.0003.exr" in msg and "frame 3" in msg and "1 matte pixels are NaN/Inf" in msg and "x=1, y=0" in msg
    two = [np.zeros((2, 3), np.float32), np.array([[0, 1, bad], [0, 0, 0]], np.float32)]
    write_channels(tmp_path / "o.0003.exr", two, ["car", "person"])
    with pytest.raises(InputError, match="x=2, y=0"):
        MatteReader(str(tmp_path / "o.####.exr"), (3, 2))(3)


def test_16bit_colour_coded_ids_keep_distinct_colours_apart(tmp_path):
    """A 16-bit colour-coded matte: (256, 0, 0) and (0, 1, 0) both became ID 256, and large
    16-bit colours overflowed int32 (negative IDs, even -1 = unknown). Each colour is one
    positive ID now, the same on every frame; black stays background."""
    from conftest import write_oiio
    colours = [(0, 0, 0), (256, 0, 0), (0, 1, 0), (65535, 65535, 65535), (32768, 13107, 45875), (1, 0, 0)]
    px = np.array([colours], np.uint16)
    for f in (1, 2):
        write_oiio(tmp_path / f"c.{f:04d}.png", px, "uint16")
    reader = MatteReader(str(tmp_path / "c.####.png"), (len(colours), 1))
    ids = reader(1)[0].tolist()
    assert ids[0] == 0 and all(i > 0 for i in ids[1:]) and len(set(ids)) == len(colours)
    assert reader(2)[0].tolist() == ids
    eight = np.array([[(0, 0, 0), (3, 0, 0), (0, 1, 0)]], np.uint8)     # 8-bit: exact as before
    write_oiio(tmp_path / "e.0001.png", eight, "uint8")
    assert MatteReader(str(tmp_path / "e.####.png"), (3, 1))(1).tolist() == [[0, 3, 256]]


@pytest.mark.parametrize("data", [(10, 5, 190, 105), (-10, -6, 234, 132)])
def test_proxy_matte_of_the_format_lines_up_with_a_cropped_or_overscan_plate(tmp_path, data):
    """A matte rendered at half the plate's format (107x60 for 214x120) on a plate whose data
    window is cropped (190x105 at 10, 5) or overscan was refused: "matte is 107x60 but the
    plate is 190x105 (another shape)". It is the format at another resolution: scaled to the
    format and placed on the data window, the object lands where a full-format matte puts it."""
    from conftest import write_oiio
    from nuke_colorize.io.windows import Windows
    full = np.zeros((120, 214, 1), np.uint8)
    full[50:70, 100:120] = 3
    write_oiio(tmp_path / "full.0001.png", full, "uint8")
    write_oiio(tmp_path / "half.0001.png", full[::2, ::2].copy(), "uint8")
    plate = Windows(data, (0, 0, 214, 120))
    read = lambda name: MatteReader(str(tmp_path / f"{name}.####.png"), data[2:], lambda f: plate)(1)
    want = read("full")
    ys, xs = np.nonzero(want == 3)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (50 - data[1], 69 - data[1], 100 - data[0], 119 - data[0])
    assert np.array_equal(read("half"), want)
