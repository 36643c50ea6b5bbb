"""Back to native space: a round trip lands within a voxel of where it started."""

from __future__ import annotations

import numpy as np
import pytest

from spinetumor.io import voxel_sizes
from spinetumor.preprocessing.chains import preset
from spinetumor.preprocessing.native import to_native
from spinetumor.preprocessing.preprocessing import preprocess_volumes
from spinetumor.preprocessing.volumes import SubjectVolumes
from tests.preprocessing.helpers import arr, dice, hausdorff_mm, img, native_case, world


@pytest.mark.parametrize("chain", ["lemay2021", "stanford2023"])
@pytest.mark.parametrize("axcodes", ["PSR", "LPS"])
def test_native_round_trip_lands_within_one_voxel(chain, axcodes):
    affine, shape, lesion, t2w = native_case(axcodes)
    native = img(t2w, affine)
    out = preprocess_volumes(SubjectVolumes(native, None, img(lesion, affine), None), preset(chain))
    back = to_native(out["dseg"], native, order=0)
    assert back.shape == shape
    np.testing.assert_allclose(back.affine, affine)
    assert back.get_data_dtype() == np.uint8
    result = arr(back)
    zooms = voxel_sizes(affine)
    assert dice(result, lesion) > 0.9
    centroid_shift = np.argwhere(result).mean(0) - np.argwhere(lesion).mean(0)
    assert np.all(np.abs(centroid_shift) <= 1.0), centroid_shift
    assert hausdorff_mm(result, lesion, zooms) <= np.linalg.norm(zooms) + 1e-6


def test_to_native_probabilities_channels_last_and_outside_fov():
    affine, shape, lesion, t2w = native_case("PSR")
    native = img(t2w, affine)
    out = preprocess_volumes(SubjectVolumes(native, None, img(lesion, affine), None), preset("lemay2021"))
    label = arr(out["dseg"])
    probs = np.stack([1.0 - label, label.astype(np.float32)], axis=-1).astype(np.float32)
    back = to_native(img(probs, out["dseg"].affine), native, order=1)
    assert back.shape == shape + (2,) and back.get_data_dtype() == np.float32
    soft = arr(back)
    assert soft.min() >= 0.0 and soft.max() <= 1.0 + 1e-6
    assert dice(soft[..., 1] > 0.5, lesion) > 0.9
    # a small field of view covering native voxels 40..79 along axis 0 only
    part_affine = affine.copy()
    part_affine[:3, 3] = world(affine, [40, 0, 0])
    part = img(np.full((40, 200, 16), 5, dtype=np.uint8), part_affine)
    mapped = arr(to_native(part, native, order=0))
    assert (mapped[40:80] == 5).all() and not mapped[:40].any() and not mapped[80:].any()
    with pytest.raises(ValueError, match="order"):
        to_native(part, native, order=3)
