"""The deep classifier's crops: centred on the lesion of the label map given, in any input orientation."""

from __future__ import annotations

import logging

import nibabel as nib
import numpy as np
import pytest

from spinetumor.classification.crops import centre_crop, lesion_crop, samples

SHAPE = (20, 24, 30)  # R-L, A-P, S-I in RAS


def _images(lesion_box, affine=np.diag([1.0, 1.0, 1.0, 1.0])):
    """RAS arrays: a T2w gradient along S-I, a lesion box (dseg 1) and a cord column."""
    t2w = np.broadcast_to(np.arange(SHAPE[2], dtype=np.float32), SHAPE).copy()
    dseg = np.zeros(SHAPE, np.uint8)
    dseg[lesion_box] = 1
    cord = np.zeros(SHAPE, np.uint8)
    cord[8:12, 10:14, 2:28] = 1
    return {
        k: nib.Nifti1Image(v, affine)
        for k, v in {"T2w": t2w, "T1w": 2 * t2w, "dseg": dseg, "cord": cord}.items()
    }


def _as_lps(images):
    """The same images stored left-posterior-superior: the first two axes reversed, world unchanged."""
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    flip[:2, 3] = [SHAPE[0] - 1, SHAPE[1] - 1]
    return {
        k: nib.Nifti1Image(np.asarray(img.dataobj)[::-1, ::-1], img.affine @ flip)
        for k, img in images.items()
    }


def _crop(images, **kwargs):
    args = {
        "contrasts": ["T2w", "T1w"],
        "spacing_mm": [1.0, 1.0, 1.0],
        "crop_shape": [16, 12, 8],
        "margin_mm": 2.0,
    }
    return lesion_crop("sub-01", images, **(args | kwargs))


def test_centre_crop_puts_the_centre_in_the_middle_and_pads_with_zero():
    array = np.arange(10.0)
    np.testing.assert_array_equal(centre_crop(array, [3], [4]), [1, 2, 3, 4])
    np.testing.assert_array_equal(centre_crop(array, [0], [4]), [0, 0, 0, 1])
    assert centre_crop(np.ones((2, 5, 5)), [2, 2], [3, 3]).shape == (2, 3, 3)


@pytest.mark.parametrize("orientation", ["RAS", "LPS"])
def test_crop_is_sar_and_centred_on_the_lesion(orientation):
    box = (slice(9, 12), slice(11, 13), slice(12, 17))  # R-L 9-11, A-P 11-12, S-I 12-16 (centre 14)
    images = _images(box)
    crop = _crop(images if orientation == "RAS" else _as_lps(images))
    assert (
        crop.crop_from == "lesion" and crop.image.shape == (2, 16, 12, 8) and crop.lesion.shape == (16, 12, 8)
    )
    # SAR: S-I first, the lesion's five S-I voxels around the middle (8), its two A-P voxels at 6-7.
    si, ap, rl = (
        np.flatnonzero(crop.lesion.any(axis=tuple(a for a in range(3) if a != k))) for k in range(3)
    )
    assert list(si) == [6, 7, 8, 9, 10] and list(ap) == [6, 7] and list(rl) == [3, 4, 5]
    # The T2w rises superiorly, as the crop's first axis does, over the lesion and 2 mm each side; zero beyond.
    profile = crop.image[0, :, 6, 4]
    assert (np.diff(profile[4:13]) > 0).all() and not profile[:4].any() and not profile[13:].any()
    region = crop.image[:, crop.image[0] != 0]
    np.testing.assert_allclose(region[0], region[1], atol=1e-5)  # T1w = 2 x T2w: same after z-scoring


def test_crops_in_two_orientations_are_the_same():
    images = _images((slice(3, 6), slice(4, 9), slice(20, 26)))
    a, b = _crop(images), _crop(_as_lps(images))
    np.testing.assert_allclose(a.image, b.image, atol=1e-5)
    np.testing.assert_array_equal(a.lesion, b.lesion)


def test_crop_follows_the_label_map_it_is_given():
    labelled = (slice(9, 12), slice(11, 14), slice(4, 7))
    images = _images(labelled)
    np.asarray(images["T2w"].dataobj)[labelled] += 100  # a bright lesion where the labels are
    predicted = _images((slice(9, 12), slice(11, 14), slice(22, 25)))["dseg"]  # a prediction elsewhere
    on_label, on_prediction = _crop(images), _crop(images | {"dseg": predicted})
    # The crop's centre is the lesion of the label map given: bright there only for the labels.
    assert on_label.image[0, 8, 6, 4] > 2 and abs(on_prediction.image[0, 8, 6, 4]) < 1
    np.testing.assert_array_equal(on_label.lesion, on_prediction.lesion)


def test_2d_samples_are_the_sagittal_slices_through_the_lesion():
    crop = _crop(_images((slice(9, 12), slice(11, 13), slice(12, 17))))
    slices = samples(crop, dims=2)
    assert slices.shape == (3, 2, 16, 12)  # R-L slices 3, 4, 5 of the crop
    np.testing.assert_array_equal(slices[0], crop.image[..., 3])
    assert samples(crop, dims=3).shape == (1, 2, 16, 12, 8)


def test_no_lesion_crops_around_the_cord_with_a_warning(caplog):
    images = _images((slice(0, 0),) * 3)
    with caplog.at_level(logging.WARNING):
        crop = _crop(images, crop_shape=[32, 12, 8])
    assert crop.crop_from == "cord" and "sub-01: no lesion" in caplog.text
    assert samples(crop, dims=2).shape == (1, 2, 32, 12)  # the centre slice only
    no_cord = images | {"cord": nib.Nifti1Image(np.zeros(SHAPE, np.uint8), np.eye(4))}
    with pytest.raises(ValueError, match="sub-01: neither lesion nor cord"):
        _crop(no_cord)


def test_images_on_another_grid_are_an_error():
    images = _images((slice(9, 11), slice(11, 13), slice(4, 7)))
    moved = nib.Nifti1Image(np.asarray(images["T2w"].dataobj), np.diag([2.0, 1, 1, 1]))
    with pytest.raises(ValueError, match="sub-01: T2w is not on the label map's grid"):
        _crop(images | {"T2w": moved})
