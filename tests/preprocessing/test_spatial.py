"""Spatial steps, each checked in world coordinates."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Resize

from spinetumor.io import save_nifti, voxel_sizes
from spinetumor.preprocessing.jobs import preprocess_subject
from spinetumor.preprocessing.preprocessing import preprocess_volumes
from spinetumor.preprocessing.volumes import SubjectVolumes
from tests.preprocessing.helpers import (
    arr,
    assert_ramp_preserved,
    img,
    make_affine,
    oblique,
    ramp,
    single_step,
    world,
    world_centroid,
)


@pytest.mark.parametrize("axcodes", ["SAR", "RAS", "LPI", "ASL"])
def test_reorient_sets_axcodes_and_keeps_world_positions(axcodes):
    shape, affine = (6, 7, 5), make_affine("PSR", (0.6, 0.6, 3.7), (6, 7, 5), centre=(3.0, -20.0, 40.0))
    mark = np.zeros(shape, dtype=np.uint8)
    mark[1, 2, 3] = 2
    image = ramp(affine, shape)
    vols = SubjectVolumes(img(image, affine), None, img(mark, affine), None)
    out = preprocess_volumes(vols, single_step("reorient", axcodes=axcodes))
    assert "".join(nib.aff2axcodes(out["dseg"].affine)) == axcodes
    np.testing.assert_allclose(world_centroid(out["dseg"], 2), world(affine, [1, 2, 3]), atol=1e-9)
    np.testing.assert_allclose(arr(out["T2w"]), ramp(out["T2w"].affine, out["T2w"].shape), rtol=1e-6)
    assert sorted(voxel_sizes(out["T2w"].affine)) == pytest.approx(sorted([0.6, 0.6, 3.7]))


@pytest.mark.parametrize("tilt", [0.0, 10.0])
def test_resample_voxel_sizes_ramp_and_blob_centroid(tilt):
    shape = (40, 50, 12)
    affine = oblique(make_affine("SAR", (0.6, 0.6, 3.7), shape, centre=(5.0, 10.0, -30.0)), tilt)
    dseg = np.zeros(shape, dtype=np.uint8)
    dseg[12:22, 20:31, 4:8] = 1
    dseg[15:18, 24:27, 5:7] = 3
    vols = SubjectVolumes(img(ramp(affine, shape), affine), None, img(dseg, affine), None)
    out = preprocess_volumes(vols, single_step("resample", spacing_mm=[1.0, 1.0, 2.0]))
    new_affine = out["dseg"].affine
    np.testing.assert_allclose(voxel_sizes(new_affine), [1.0, 1.0, 2.0], atol=1e-6)
    np.testing.assert_allclose(new_affine, out["T2w"].affine)
    assert nib.aff2axcodes(new_affine) == nib.aff2axcodes(affine)
    assert_ramp_preserved(vols.t2w, out["T2w"])
    assert out["dseg"].get_data_dtype() == np.uint8
    assert set(np.unique(arr(out["dseg"]))) == {0, 1, 3}
    blob = (arr(out["dseg"]) > 0).astype(np.uint8)
    shift_mm = world_centroid(img(blob, new_affine)) - world(affine, np.argwhere(dseg > 0).mean(0))
    shift_vox = np.linalg.solve(new_affine[:3, :3], shift_mm)
    assert np.all(np.abs(shift_vox) <= 0.5), shift_vox


def test_resize_exact_shape_ramp_and_keep_axis():
    shape = (64, 40, 10)
    affine = make_affine("SAR", (0.6, 0.8, 3.7), shape, centre=(1.0, 2.0, 3.0))
    vols = SubjectVolumes(img(ramp(affine, shape), affine), None, None, None)
    out = preprocess_volumes(vols, single_step("resize", shape=[16, 20, -1]))["T2w"]
    assert out.shape == (16, 20, 10)
    np.testing.assert_allclose(voxel_sizes(out.affine), [2.4, 1.6, 3.7], atol=1e-6)
    # the field of view (voxel extents) is unchanged: same world corner
    corner = [-0.5, -0.5, -0.5]
    np.testing.assert_allclose(world(out.affine, corner), world(affine, corner), atol=1e-6)
    assert_ramp_preserved(vols.t2w, out)


def test_resize_labels_use_centre_aligned_nearest():
    """Why labels use "nearest-exact": MONAI's default "nearest" is off by (scale-1)/2 voxels.

    Downsampling 64 -> 16 along axis 0, output voxel i sits over input voxel centre
    4i + 1.5 (this is also what Resize writes into the affine). A label covering
    input voxels 9..24 therefore belongs to output voxels 2..5.
    """
    shape = (64, 4, 4)
    label = np.zeros(shape, dtype=np.uint8)
    label[9:25] = 1
    eye = np.eye(4)
    legacy = Resize((16, 4, 4), mode="nearest")(
        MetaTensor(torch.as_tensor(label[None].astype(np.float32)), affine=torch.as_tensor(eye))
    )
    assert np.flatnonzero(np.asarray(legacy[0, :, 0, 0])).tolist() == [3, 4, 5, 6]  # shifted: wrong
    vols = SubjectVolumes(img(np.ones(shape, np.float32), eye), None, img(label, eye), None)
    out = preprocess_volumes(vols, single_step("resize", shape=[16, 4, 4]))["dseg"]
    assert np.flatnonzero(arr(out)[:, 0, 0]).tolist() == [2, 3, 4, 5]
    np.testing.assert_allclose(out.affine[0], [4.0, 0.0, 0.0, 1.5])


def test_crop_pad_exact_shape_centred_and_world_consistent(tmp_path):
    shape = (10, 5, 7)
    affine = make_affine("PSR", (0.6, 0.6, 3.7), shape, centre=(0.0, 0.0, 0.0))
    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) + 1.0
    labels = (np.arange(np.prod(shape)).reshape(shape) % 4).astype(np.uint8)
    vols = SubjectVolumes(img(data, affine), None, img(labels, affine), None)
    out = preprocess_volumes(vols, single_step("crop_pad", shape=[6, 8, 4]))
    image, dseg = arr(out["T2w"]), arr(out["dseg"])
    assert image.shape == dseg.shape == (6, 8, 4)
    # hand-computed: axis 0 crops 2 (10->6), axis 1 pads 1 before/2 after (5->8),
    # axis 2 crops from index 1 (7->4: centre 3, start 3 - 2)
    np.testing.assert_array_equal(image[:, 1:6, :], data[2:8, :, 1:5])
    assert not image[:, 0].any() and not image[:, 6:].any()
    np.testing.assert_array_equal(dseg[:, 1:6, :], labels[2:8, :, 1:5])
    # a voxel's world coordinate is the same before and after
    np.testing.assert_allclose(world(out["T2w"].affine, [0, 1, 0]), world(affine, [2, 0, 1]), atol=1e-9)
    np.testing.assert_allclose(voxel_sizes(out["T2w"].affine), [0.6, 0.6, 3.7])

    paths = {}
    for key, volume in (("T2w", data), ("dseg", labels)):
        paths[key] = save_nifti(volume, affine, tmp_path / f"in_{key}.nii.gz")
    outputs = {"T2w": tmp_path / "o_T2w.nii.gz", "dseg": tmp_path / "o_dseg.nii.gz"}
    chain = single_step("crop_pad", shape=[6, 8, 4])
    geometry = preprocess_subject(
        paths["T2w"], None, paths["dseg"], None, chain, outputs, tmp_path / "geometry.json"
    )
    assert geometry["transforms"][0]["offset_voxels"] == [2, -1, 1]


def test_pad_only_pads():
    shape = (4, 9, 3)
    affine = make_affine("SAR", (1.0, 1.0, 2.0), shape)
    data = np.ones(shape, dtype=np.float32)
    out = preprocess_volumes(
        SubjectVolumes(img(data, affine), None, None, None), single_step("pad", shape=[6, 6, 6])
    )["T2w"]
    assert out.shape == (6, 9, 6)
    assert arr(out).sum() == data.sum()
    np.testing.assert_allclose(world(out.affine, [1, 0, 1]), world(affine, [0, 0, 0]))
