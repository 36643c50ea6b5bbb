"""Tests for spinetumor.inference.postprocessing: hand-built masks with hand-computed volumes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from spinetumor.inference.postprocessing import (
    DEFAULT_SETTINGS,
    fill_holes,
    postprocess,
    postprocessing_settings,
    remove_small_objects,
    voxel_volume_mm3,
)

# 0.6 x 0.6 x 3.7 mm: one voxel is 1.332 mm³, seven are 9.324 mm³.
ZOOMS = (0.6, 0.6, 3.7)
SEVEN_VOXELS_MM3 = 7 * 0.6 * 0.6 * 3.7


def diag_affine(zooms: tuple[float, float, float] = ZOOMS) -> np.ndarray:
    return np.diag([*zooms, 1.0])


def permuted_affine(zooms: tuple[float, float, float] = ZOOMS) -> np.ndarray:
    """PSR-like: array axis 0 -> world -y, axis 1 -> world z, axis 2 -> world x, same voxel sizes."""
    affine = np.zeros((4, 4))
    affine[1, 0] = -zooms[0]
    affine[2, 1] = zooms[1]
    affine[0, 2] = zooms[2]
    affine[:, 3] = [12.0, -3.0, 40.0, 1.0]
    return affine


def seven_voxel_object(shape: tuple[int, int, int] = (8, 8, 6)) -> np.ndarray:
    """A plus-shaped 6-connected object of 7 voxels (centre and its 6 face neighbours)."""
    mask = np.zeros(shape, dtype=bool)
    c = (4, 4, 3)
    mask[c] = True
    for axis in range(3):
        for step in (-1, 1):
            idx = list(c)
            idx[axis] += step
            mask[tuple(idx)] = True
    assert mask.sum() == 7
    return mask


def probs_from(
    masks: dict[str, np.ndarray], high: float = 0.9, low: float = 0.1
) -> tuple[np.ndarray, list[str]]:
    names = list(masks)
    return np.stack([np.where(masks[n], high, low) for n in names]).astype(np.float32), names


NO_SIZE_LIMIT = {"min_size_mm3": {"tumor": 0, "edema": 0, "cavity": 0, "whole": 0}}
WHOLE_ARGMAX = {**NO_SIZE_LIMIT, "assemble": "whole_argmax"}


# --------------------------------------------------------------------------- #
# voxel volume and small objects
# --------------------------------------------------------------------------- #
def test_voxel_volume_from_column_norms_for_any_orientation():
    assert voxel_volume_mm3(diag_affine()) == pytest.approx(1.332)
    assert voxel_volume_mm3(permuted_affine()) == pytest.approx(1.332)
    # A rotation keeps the voxel volume.
    theta = np.deg2rad(30)
    rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag(ZOOMS)
    assert voxel_volume_mm3(affine) == pytest.approx(1.332)


@pytest.mark.parametrize("affine", [diag_affine(), permuted_affine()], ids=["RAS", "permuted"])
def test_seven_voxel_object_removed_under_10mm3_kept_at_9mm3(affine):
    mask = seven_voxel_object()
    volume = voxel_volume_mm3(affine)
    assert 7 * volume == pytest.approx(9.324)
    assert not remove_small_objects(mask, volume, 10.0).any()
    np.testing.assert_array_equal(remove_small_objects(mask, volume, 9.0), mask)


@pytest.mark.parametrize("affine", [diag_affine(), permuted_affine()], ids=["RAS", "permuted"])
def test_postprocess_applies_the_size_in_mm3_whatever_the_orientation(affine):
    probs, names = probs_from({"tumor": seven_voxel_object()})
    removed = postprocess(probs, names, affine, {"min_size_mm3": {"tumor": 10.0}})
    kept = postprocess(probs, names, affine, {"min_size_mm3": {"tumor": 9.0}})
    assert not removed.any()
    np.testing.assert_array_equal(kept, seven_voxel_object().astype(np.uint8))


def test_object_exactly_at_the_minimum_is_kept():
    mask = seven_voxel_object()
    np.testing.assert_array_equal(remove_small_objects(mask, 1.332, SEVEN_VOXELS_MM3), mask)


def test_diagonal_voxels_are_separate_objects_18_connectivity():
    # Two voxels touching at a corner only: 26- but not 18-connected, so each is
    # its own 1-voxel object and both fall under a 2-voxel minimum.
    corner = np.zeros((5, 5, 5), dtype=bool)
    corner[1, 1, 1] = corner[2, 2, 2] = True
    assert not remove_small_objects(corner, 1.0, 2.0).any()
    # Sharing an edge (18-connected): one 2-voxel object, kept.
    edge = np.zeros((5, 5, 5), dtype=bool)
    edge[1, 1, 1] = edge[2, 2, 1] = True
    np.testing.assert_array_equal(remove_small_objects(edge, 1.0, 2.0), edge)


def test_remove_small_objects_keeps_large_and_drops_small_in_one_mask():
    mask = np.zeros((10, 10, 10), dtype=bool)
    mask[0:3, 0:3, 0:3] = True  # 27 voxels
    mask[7, 7, 7] = True  # 1 voxel
    out = remove_small_objects(mask, 2.0, 10.0)
    assert out.sum() == 27 and not out[7, 7, 7]


def test_zero_minimum_keeps_everything_and_input_is_not_modified():
    mask = np.zeros((4, 4, 4), dtype=np.uint8)
    mask[1, 1, 1] = 1
    out = remove_small_objects(mask, 1.0, 0.0)
    assert out.dtype == bool and out.sum() == 1
    out[1, 1, 1] = False
    assert mask[1, 1, 1] == 1


@pytest.mark.parametrize(
    "args", [(np.zeros((3, 3)), 1.0, 1.0), (np.zeros((3, 3, 3)), 0.0, 1.0), (np.zeros((3, 3, 3)), 1.0, -1.0)]
)
def test_remove_small_objects_rejects_bad_arguments(args):
    with pytest.raises(ValueError):
        remove_small_objects(*args)


# --------------------------------------------------------------------------- #
# threshold and holes
# --------------------------------------------------------------------------- #
def test_threshold_is_strict_half_is_background():
    probs = np.full((1, 3, 3, 3), 0.5, dtype=np.float32)
    probs[0, 1, 1, 1] = np.nextafter(np.float32(0.5), np.float32(1.0))
    dseg = postprocess(probs, ["tumor"], np.eye(4), NO_SIZE_LIMIT)
    assert dseg.sum() == 1 and dseg[1, 1, 1] == 1


def test_holes_are_filled_in_3d():
    shell = np.zeros((7, 7, 7), dtype=bool)
    shell[1:6, 1:6, 1:6] = True
    shell[3, 3, 3] = False  # an enclosed hole
    probs, names = probs_from({"tumor": shell})
    filled = postprocess(probs, names, np.eye(4), NO_SIZE_LIMIT)
    assert filled[3, 3, 3] == 1 and filled.sum() == 125
    unfilled = postprocess(probs, names, np.eye(4), {**NO_SIZE_LIMIT, "fill_holes": False})
    assert unfilled[3, 3, 3] == 0


@pytest.mark.parametrize("seed", range(4))
def test_fill_holes_matches_scipy_binary_fill_holes(seed):
    # Random blobs, some touching the border, in a volume larger than their bounding box.
    rng = np.random.default_rng(seed)
    mask = np.zeros((30, 24, 12), dtype=bool)
    mask[2:22, 0:20, 1:12] = ndimage.gaussian_filter(rng.random((20, 20, 11)), 1.0) > 0.5
    np.testing.assert_array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))


def test_fill_holes_leaves_background_open_to_the_border_alone():
    # A cup open on the volume's face x = 0: its inside reaches the border, so it is no hole.
    cup = np.zeros((5, 5, 5), dtype=bool)
    cup[0:4, 0:5, 0:5] = True
    cup[0:3, 1:4, 1:4] = False
    np.testing.assert_array_equal(fill_holes(cup), cup)
    assert not fill_holes(np.zeros((3, 3, 3))).any()


def test_hole_filling_comes_before_the_size_check():
    # 26 voxels of 1 mm³ around a hole: kept at a 27 mm³ minimum only because
    # the hole is filled first (paper order: threshold, fill holes, size).
    shell = np.zeros((5, 5, 5), dtype=bool)
    shell[1:4, 1:4, 1:4] = True
    shell[2, 2, 2] = False
    probs, names = probs_from({"tumor": shell})
    assert postprocess(probs, names, np.eye(4), {"min_size_mm3": {"tumor": 27}}).sum() == 27


# --------------------------------------------------------------------------- #
# merging and the whole channel
# --------------------------------------------------------------------------- #
def test_overlaps_resolved_tumour_over_cavity_over_edema():
    shape = (6, 6, 6)
    edema, cavity, tumor = (np.zeros(shape, bool) for _ in range(3))
    edema[0:4] = True
    cavity[2:6] = True
    tumor[3:5] = True
    probs, names = probs_from({"edema": edema, "cavity": cavity, "tumor": tumor})
    dseg = postprocess(probs, names, np.eye(4), NO_SIZE_LIMIT)
    assert (dseg[0:2] == 2).all()  # edema only
    assert (dseg[2] == 3).all()  # edema + cavity -> cavity
    assert (dseg[3:5] == 1).all()  # all three / cavity + tumour -> tumour
    assert (dseg[5] == 3).all()


def test_published_rule_thresholds_each_channel_and_whole_argmax_differs():
    # Hand-made probabilities (tumor, edema, cavity, whole) on five voxels of a 5 x 1 x 1 grid;
    # the label each rule gives, worked out by hand:
    #                                      independent (published)      whole_argmax (ours)
    probs = np.zeros((4, 5, 1, 1), dtype=np.float32)
    probs[:, 0, 0, 0] = [0.6, 0.9, 0.1, 0.9]  # tumour and edema > 0.5 -> 1   argmax edema -> 2
    probs[:, 1, 0, 0] = [0.2, 0.4, 0.3, 0.8]  # no class > 0.5 -> 0           whole, argmax edema -> 2
    probs[:, 2, 0, 0] = [0.7, 0.1, 0.1, 0.3]  # tumour > 0.5 -> 1             whole < 0.5 -> 0
    probs[:, 3, 0, 0] = [0.1, 0.6, 0.7, 0.9]  # edema and cavity -> 3         argmax cavity -> 3
    probs[:, 4, 0, 0] = [0.1, 0.6, 0.2, 0.4]  # edema -> 2                    whole < 0.5 -> 0
    names = ["tumor", "edema", "cavity", "whole"]
    published = postprocess(probs, names, np.eye(4), NO_SIZE_LIMIT)
    assert published[:, 0, 0].tolist() == [1, 0, 1, 3, 2]
    # The default is the published rule.
    assert (
        postprocess(probs, names, np.eye(4), {**NO_SIZE_LIMIT, "assemble": "independent"}).tolist()
        == published.tolist()
    )
    gated = postprocess(probs, names, np.eye(4), {**NO_SIZE_LIMIT, "assemble": "whole_argmax"})
    assert gated[:, 0, 0].tolist() == [2, 2, 0, 3, 0]


def test_whole_channel_gates_lesion_and_argmax_picks_the_class():
    shape = (4, 4, 4)
    probs = np.zeros((4, *shape), dtype=np.float32)  # tumor, edema, cavity, whole
    # Voxel A: whole says lesion, no class above 0.5 -> labelled with the argmax (edema).
    probs[:, 0, 0, 0] = [0.2, 0.4, 0.1, 0.9]
    # Voxel B: tumour above threshold but whole below -> background.
    probs[:, 3, 3, 3] = [0.8, 0.1, 0.1, 0.3]
    # Voxel C: tumour and cavity both above threshold -> argmax (cavity), not precedence.
    probs[:, 2, 0, 0] = [0.6, 0.1, 0.7, 0.9]
    # Voxel D: a tie -> the class of highest precedence (tumour).
    probs[:, 0, 2, 0] = [0.6, 0.6, 0.6, 0.9]
    dseg = postprocess(probs, ["tumor", "edema", "cavity", "whole"], np.eye(4), WHOLE_ARGMAX)
    assert dseg[0, 0, 0] == 2
    assert dseg[3, 3, 3] == 0
    assert dseg[2, 0, 0] == 3
    assert dseg[0, 2, 0] == 1
    assert np.count_nonzero(dseg) == 3


def test_whole_channel_ignored_by_the_published_rule():
    probs = np.zeros((2, 3, 3, 3), dtype=np.float32)
    probs[:, 1, 1, 1] = [0.8, 0.2]  # tumour yes, whole no
    dseg = postprocess(probs, ["tumor", "whole"], np.eye(4), {**NO_SIZE_LIMIT, "assemble": "independent"})
    assert dseg[1, 1, 1] == 1 and np.count_nonzero(dseg) == 1
    gated = postprocess(probs, ["tumor", "whole"], np.eye(4), WHOLE_ARGMAX)
    assert not gated.any()


def test_class_size_limits_apply_after_the_whole_split():
    # One whole-tumour object of 8 voxels (2 mm³ each): 4 tumour + 4 edema voxels.
    probs = np.zeros((3, 4, 4, 4), dtype=np.float32)
    probs[2, 0:2, 0:2, 0:2] = 0.9  # whole
    probs[0, 0, 0:2, 0:2] = 0.8  # tumour on the first plane
    probs[1, 1, 0:2, 0:2] = 0.8  # edema on the second
    affine = np.diag([2.0, 1.0, 1.0, 1.0])
    dseg = postprocess(
        probs,
        ["tumor", "edema", "whole"],
        affine,
        {"min_size_mm3": {"tumor": 8.0, "edema": 9.0}, "assemble": "whole_argmax"},
    )
    assert (dseg[0, 0:2, 0:2] == 1).all()  # 4 x 2 mm³ = 8 mm³ >= 8: kept
    assert not (dseg == 2).any()  # 8 mm³ < 9: removed


def test_lemay_defaults():
    cfg = postprocessing_settings(None)
    assert cfg.threshold == 0.5 and cfg.fill_holes and cfg.assemble == "independent"
    assert cfg.min_size_mm3 == {"tumor": 200.0, "edema": 500.0, "cavity": 500.0, "whole": 0.0}
    # Names left out keep their default.
    assert postprocessing_settings({"min_size_mm3": {"tumor": 10}}).min_size_mm3["edema"] == 500.0
    assert DEFAULT_SETTINGS["threshold"] == 0.5


@pytest.mark.parametrize(
    "settings",
    [
        {"thresh": 0.5},
        {"threshold": 1.5},
        {"fill_holes": "yes"},
        {"min_size_mm3": {"tumour": 1}},
        {"min_size_mm3": {"tumor": -1}},
        {"assemble": "argmax"},
        {"use_whole": True},
    ],
)
def test_bad_settings_are_rejected(settings):
    with pytest.raises(ValueError):
        postprocessing_settings(settings)


@pytest.mark.parametrize(
    "channels", [["tumor"], ["tumor", "tumor"], ["tumor", "necrosis"], ["whole", "whole"]]
)
def test_bad_channel_names_are_rejected(channels):
    probs = np.zeros((2, 3, 3, 3), dtype=np.float32)
    with pytest.raises(ValueError):
        postprocess(probs, channels, np.eye(4))


def test_whole_channel_alone_is_rejected():
    with pytest.raises(ValueError, match="no class"):
        postprocess(np.zeros((1, 3, 3, 3), np.float32), ["whole"], np.eye(4))
