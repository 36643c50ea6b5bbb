"""Tests for spinetumor.inference.postprocessing: hand-built probability maps, hand-worked labels."""

from __future__ import annotations

import numpy as np
import pytest

from spinetumor import LABELS
from spinetumor.inference.postprocessing import (
    CHANNEL_NAMES,
    CLASS_NAMES,
    DEFAULT_SETTINGS,
    postprocess,
    postprocessing_settings,
)


def probs_from(
    masks: dict[str, np.ndarray], high: float = 0.9, low: float = 0.1
) -> tuple[np.ndarray, list[str]]:
    names = list(masks)
    return np.stack([np.where(masks[n], high, low) for n in names]).astype(np.float32), names


NO_SIZE_LIMIT = {"min_size_mm3": {"tumor": 0, "edema": 0, "cavity": 0, "whole": 0}}
WHOLE_ARGMAX = {**NO_SIZE_LIMIT, "assemble": "whole_argmax"}


def test_classes_are_the_project_labels_in_label_order():
    assert CLASS_NAMES == ("tumor", "edema", "cavity") == tuple(LABELS)
    assert CHANNEL_NAMES == (*CLASS_NAMES, "whole")
    assert [LABELS[name] for name in CLASS_NAMES] == [1, 2, 3]


# --------------------------------------------------------------------------- #
# sizes in mm³
# --------------------------------------------------------------------------- #
def test_postprocess_applies_the_size_in_mm3_whatever_the_orientation(oriented_affine, seven_voxel_object):
    probs, names = probs_from({"tumor": seven_voxel_object})
    removed = postprocess(probs, names, oriented_affine, {"min_size_mm3": {"tumor": 10.0}})
    kept = postprocess(probs, names, oriented_affine, {"min_size_mm3": {"tumor": 9.0}})
    assert not removed.any()
    np.testing.assert_array_equal(kept, seven_voxel_object.astype(np.uint8))


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
