"""Tests for spinetumor.preprocessing.preprocessing: every spatial step is checked in world coordinates."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
import yaml
from monai.data import MetaTensor
from monai.transforms import Resize
from scipy import ndimage

from spinetumor.io import save_nifti, voxel_sizes
from spinetumor.preprocessing.preprocessing import (
    STEP_NAMES,
    SubjectVolumes,
    preprocess_subject,
    preprocess_volumes,
    preset,
    to_native,
    validate_chain,
)

ERRSM30_T2W = Path("sub-errsm30", "anat", "sub-errsm30_T2w.nii.gz")
ERRSM30_CORD = Path("derivatives", "labels", "sub-errsm30", "anat", "sub-errsm30_T2w_seg-manual.nii.gz")

_WORLD_AXIS = {"R": (0, 1.0), "L": (0, -1.0), "A": (1, 1.0), "P": (1, -1.0), "S": (2, 1.0), "I": (2, -1.0)}


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def make_affine(
    axcodes: str,
    zooms: tuple[float, float, float],
    shape: tuple[int, int, int],
    centre: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> np.ndarray:
    """Affine with the given axis codes and voxel sizes whose grid centre lies at ``centre``."""
    affine = np.eye(4)
    affine[:3, :3] = 0.0
    for axis, code in enumerate(axcodes):
        world, sign = _WORLD_AXIS[code]
        affine[world, axis] = sign * zooms[axis]
    middle = (np.asarray(shape) - 1) / 2.0
    affine[:3, 3] = np.asarray(centre) - affine[:3, :3] @ middle
    return affine


def world(affine: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    return affine[:3, :3] @ np.asarray(ijk, dtype=float) + affine[:3, 3]


def img(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    return nib.Nifti1Image(np.asarray(data), affine)


def arr(image: nib.Nifti1Image) -> np.ndarray:
    return np.asanyarray(image.dataobj)


def world_centroid(image: nib.Nifti1Image, value: int = 1) -> np.ndarray:
    return world(image.affine, np.argwhere(arr(image) == value).mean(axis=0))


def ramp(affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A linear function of world coordinates: trilinear interpolation reproduces it exactly."""
    ijk = np.indices(shape).reshape(3, -1).astype(float)
    xyz = affine[:3, :3] @ ijk + affine[:3, 3:4]
    return (2.0 * xyz[0] - 1.0 * xyz[1] + 0.5 * xyz[2] + 10.0).reshape(shape).astype(np.float32)


def assert_ramp_preserved(before: nib.Nifti1Image, after: nib.Nifti1Image) -> None:
    """Output voxels that map inside the input grid must carry the ramp at their world position."""
    out_shape = after.shape
    expected = ramp(after.affine, out_shape)
    to_input = np.linalg.solve(before.affine, after.affine)
    ijk = np.indices(out_shape).reshape(3, -1).astype(float)
    coords = to_input[:3, :3] @ ijk + to_input[:3, 3:4]
    upper = np.asarray(before.shape)[:, None] - 1
    inside = np.all((coords >= -1e-6) & (coords <= upper + 1e-6), axis=0).reshape(out_shape)
    assert inside.sum() > 0.3 * inside.size
    np.testing.assert_allclose(arr(after)[inside], expected[inside], atol=2e-3 * np.abs(expected).max())


def ellipsoid(
    affine: np.ndarray, shape: tuple[int, int, int], centre: np.ndarray, radii_mm: tuple[float, float, float]
) -> np.ndarray:
    """Binary ellipsoid defined in world (RAS) coordinates."""
    ijk = np.indices(shape).reshape(3, -1).astype(float)
    xyz = affine[:3, :3] @ ijk + affine[:3, 3:4]
    r = (((xyz - np.asarray(centre)[:, None]) / np.asarray(radii_mm)[:, None]) ** 2).sum(axis=0)
    return (r <= 1.0).reshape(shape).astype(np.uint8)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return 2.0 * (a & b).sum() / (a.sum() + b.sum())


def hausdorff_mm(a: np.ndarray, b: np.ndarray, zooms: np.ndarray) -> float:
    """Symmetric Hausdorff distance between two masks (largest boundary displacement)."""
    a, b = a.astype(bool), b.astype(bool)
    to_b = ndimage.distance_transform_edt(~b, sampling=zooms)
    to_a = ndimage.distance_transform_edt(~a, sampling=zooms)
    return float(max(to_b[a].max(), to_a[b].max()))


def single_step(name: str, **params) -> list[dict]:
    return [{"name": name, **params}]


# --------------------------------------------------------------------------- #
# presets and validation
# --------------------------------------------------------------------------- #
def test_presets_are_deep_copies_valid_and_yaml_friendly():
    lemay = preset("lemay2021")
    assert [s["name"] for s in lemay["steps"]] == ["reorient", "resample", "zscore", "crop_pad"]
    assert lemay["steps"][0]["axcodes"] == "SAR"
    assert lemay["steps"][1]["spacing_mm"] == [1.0, 1.0, 2.0]
    assert lemay["steps"][3]["shape"] == [512, 256, 32]
    stanford = preset("stanford2023")
    assert [s["name"] for s in stanford["steps"]] == [
        "reorient",
        "gamma",
        "n4",
        "scale_intensity",
        "resize",
        "pad",
    ]
    lemay["steps"].clear()
    assert len(preset("lemay2021")["steps"]) == 4
    for name in ("lemay2021", "stanford2023"):
        chain = preset(name)
        validate_chain(chain["steps"])
        assert yaml.safe_load(yaml.safe_dump(chain)) == chain
    assert set(STEP_NAMES) >= {
        "reorient",
        "resample",
        "resize",
        "crop_pad",
        "pad",
        "gamma",
        "n4",
        "scale_intensity",
        "zscore",
        "clip_percentiles",
    }
    with pytest.raises(ValueError, match="unknown preprocessing preset"):
        preset("nnunet")


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"name": "blur"}], "unknown step name 'blur'"),
        ([{"axcodes": "SAR"}], "unknown step name None"),
        ("reorient", "must be a list"),
        ([{"name": "reorient", "axcodes": "SAR", "foo": 1}], r"unknown parameter\(s\) \['foo'\]"),
        ([{"name": "reorient"}], "missing required parameter 'axcodes'"),
        ([{"name": "reorient", "axcodes": "SSR"}], "exactly one of P/A"),
        ([{"name": "resample", "spacing_mm": [1, 1]}], "must have 3 entries"),
        ([{"name": "resample", "spacing_mm": [1, -1, 2]}], r"spacing_mm\[1\]: must be a positive number"),
        ([{"name": "crop_pad", "shape": [512, 256.5, 32]}], "positive integer"),
        ([{"name": "crop_pad", "shape": [True, 2, 3]}], "positive integer"),
        ([{"name": "resize", "shape": [128, 0, -1]}], "positive integer"),
        ([{"name": "gamma", "gamma": 0}], "positive number"),
        ([{"name": "n4", "iterations": []}], "must not be empty"),
        ([{"name": "n4", "mask": "brain"}], "must be one of"),
        ([{"name": "zscore", "nonzero": "yes"}], "true or false"),
        ([{"name": "scale_intensity", "minv": 1.0, "maxv": 0.0}], "minv .* must be below maxv"),
        ([{"name": "clip_percentiles", "lower": 99, "upper": 1}], "lower .* must be below upper"),
        ([{"name": "zscore"}, {"name": "pad"}], r"step 1 \(pad\): missing required parameter 'shape'"),
    ],
)
def test_validate_chain_rejects_bad_steps(steps, message):
    with pytest.raises(ValueError, match=message):
        validate_chain(steps)


def test_validate_chain_accepts_preset_mapping_and_defaults():
    validate_chain(preset("stanford2023"))
    validate_chain([{"name": "n4"}, {"name": "resize", "shape": [64, 64, -1]}, {"name": "clip_percentiles"}])


# --------------------------------------------------------------------------- #
# intensity steps (hand-computed on a 2x2x2 volume holding 0..7)
# --------------------------------------------------------------------------- #
RAMP8 = np.arange(8, dtype=np.float32).reshape(2, 2, 2)


def run_intensity(steps, t2w=RAMP8, t1w=None, dseg=None):
    affine = np.diag([0.5, 0.5, 3.0, 1.0])
    vols = SubjectVolumes(
        img(t2w, affine),
        None if t1w is None else img(t1w, affine),
        None if dseg is None else img(dseg, affine),
        None,
    )
    return preprocess_volumes(vols, steps)


def test_gamma_follows_formula():
    out = arr(run_intensity(single_step("gamma", gamma=2.0))["T2w"])
    # ((x - 0) / 7) ** 2 * 7 + 0 = x**2 / 7
    np.testing.assert_allclose(out, RAMP8**2 / 7.0, rtol=1e-5, atol=1e-5)


def test_scale_intensity_maps_to_range():
    out = arr(run_intensity(single_step("scale_intensity", minv=0.0, maxv=1.0))["T2w"])
    np.testing.assert_allclose(out, RAMP8 / 7.0, atol=1e-6)
    out = arr(run_intensity(single_step("scale_intensity", minv=-1.0, maxv=1.0))["T2w"])
    np.testing.assert_allclose(out, RAMP8 / 3.5 - 1.0, atol=1e-6)


def test_zscore_mean0_std1_and_nonzero_variant():
    out = arr(run_intensity(single_step("zscore", nonzero=False))["T2w"])
    np.testing.assert_allclose(out, (RAMP8 - 3.5) / np.sqrt(5.25), atol=1e-5)  # population std
    assert abs(out.mean()) < 1e-6 and abs(out.std() - 1.0) < 1e-5
    sparse = np.array([0, 0, 2, 4, 0, 0, 2, 4], dtype=np.float32).reshape(2, 2, 2)
    out = arr(run_intensity(single_step("zscore", nonzero=True), t2w=sparse)["T2w"])
    # non-zero voxels: mean 3, std 1; zeros stay zero
    np.testing.assert_allclose(out, np.array([0, 0, -1, 1, 0, 0, -1, 1]).reshape(2, 2, 2), atol=1e-6)


def test_clip_percentiles():
    out = arr(run_intensity(single_step("clip_percentiles", lower=0.0, upper=50.0))["T2w"])
    np.testing.assert_allclose(out, np.minimum(RAMP8, 3.5))


def test_intensity_steps_are_per_channel_and_skip_labels():
    t1w = 10.0 * RAMP8 + 100.0
    dseg = np.array([0, 1, 2, 3, 0, 1, 2, 3], dtype=np.uint8).reshape(2, 2, 2)
    out = run_intensity(single_step("scale_intensity"), t1w=t1w, dseg=dseg)
    np.testing.assert_allclose(arr(out["T1w"]), RAMP8 / 7.0, atol=1e-6)
    np.testing.assert_allclose(arr(out["T2w"]), RAMP8 / 7.0, atol=1e-6)
    np.testing.assert_array_equal(arr(out["dseg"]), dseg)
    assert out["T1w"].get_data_dtype() == np.float32 and out["dseg"].get_data_dtype() == np.uint8


def test_n4_removes_smooth_multiplicative_bias():
    shape, zooms = (64, 64, 24), (1.0, 1.0, 2.0)
    affine = make_affine("RAS", zooms, shape)
    i, j, k = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    body = (i**2 + j**2) < 0.7
    truth = np.where(body, 100.0, 5.0)
    bias = np.exp(0.35 * i - 0.25 * j**2 + 0.15 * k)
    biased = (truth * bias).astype(np.float32)
    chain = single_step("n4", shrink_factor=4, iterations=[50, 50, 30], convergence=0.001)
    vols = SubjectVolumes(img(biased, affine), None, None, None)
    corrected = arr(preprocess_volumes(vols, chain)["T2w"])
    region = (i**2 + j**2) < 0.5  # well inside the uniform body
    cv_before = biased[region].std() / biased[region].mean()
    cv_after = corrected[region].std() / corrected[region].mean()
    assert cv_before > 0.1
    assert cv_after < 0.3 * cv_before, (cv_before, cv_after)


# --------------------------------------------------------------------------- #
# spatial steps, checked in world coordinates
# --------------------------------------------------------------------------- #
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


def oblique(affine: np.ndarray, degrees: float) -> np.ndarray:
    t = np.deg2rad(degrees)
    rot = np.eye(4)
    rot[:2, :2] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]
    return rot @ affine


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


def test_lemay_chain_keeps_label_set_and_common_grid():
    shape = (60, 80, 12)
    affine = make_affine("PSR", (0.6, 0.6, 3.7), shape)
    dseg = np.zeros(shape, dtype=np.uint8)
    dseg[20:40, 20:60, 3:9] = 2
    dseg[25:35, 30:50, 4:8] = 1
    dseg[28:32, 35:45, 5:7] = 3
    cord = (dseg > 0).astype(np.uint8)
    image = ramp(affine, shape)
    vols = SubjectVolumes(img(image, affine), img(image * 2, affine), img(dseg, affine), img(cord, affine))
    out = preprocess_volumes(vols, preset("lemay2021"))
    assert set(out) == {"T2w", "T1w", "dseg", "cord"}
    for key, volume in out.items():
        assert volume.shape == (512, 256, 32)
        np.testing.assert_allclose(volume.affine, out["T2w"].affine)
        assert volume.get_data_dtype() == (np.float32 if key in ("T2w", "T1w") else np.uint8)
    assert set(np.unique(arr(out["dseg"]))) == {0, 1, 2, 3}
    assert set(np.unique(arr(out["cord"]))) == {0, 1}
    assert "".join(nib.aff2axcodes(out["T2w"].affine)) == "SAR"


def test_invalid_dseg_values_are_rejected():
    affine = np.eye(4)
    dseg = np.full((2, 2, 2), 7, dtype=np.uint8)
    with pytest.raises(ValueError, match="dseg: labels must be integers in 0..3"):
        preprocess_volumes(SubjectVolumes(img(RAMP8, affine), None, img(dseg, affine), None), [])


# --------------------------------------------------------------------------- #
# back to native space
# --------------------------------------------------------------------------- #
NATIVE_GRIDS = {
    # sagittal acquisitions: thick slices along R-L, two different non-RAS layouts
    "PSR": ((0.6, 0.6, 3.7), (160, 200, 16)),
    "LPS": ((3.7, 0.6, 0.6), (16, 160, 200)),
}


def native_case(axcodes: str):
    zooms, shape = NATIVE_GRIDS[axcodes]
    affine = make_affine(axcodes, zooms, shape, centre=(2.0, -5.0, 30.0))
    lesion = ellipsoid(affine, shape, centre=np.array([3.0, -1.0, 38.0]), radii_mm=(11.0, 13.0, 26.0))
    body = ellipsoid(affine, shape, centre=np.array([2.0, -5.0, 30.0]), radii_mm=(40.0, 42.0, 70.0))
    t2w = (80.0 * body + 60.0 * lesion + 5.0).astype(np.float32)
    return affine, shape, lesion, t2w


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


# --------------------------------------------------------------------------- #
# subject files and geometry
# --------------------------------------------------------------------------- #
def write_subject(tmp_path: Path, shift_t1w: bool = False):
    affine, shape, lesion, t2w = native_case("PSR")
    t1_affine = affine.copy()
    if shift_t1w:
        t1_affine[:3, 3] += 0.5
    paths = {
        "T2w": save_nifti(t2w.astype(np.int16), affine, tmp_path / "sub-01_T2w.nii.gz"),
        "T1w": save_nifti((t2w * 0.5).astype(np.int16), t1_affine, tmp_path / "sub-01_T1w.nii.gz"),
        "dseg": save_nifti(lesion, affine, tmp_path / "sub-01_dseg.nii.gz"),
        "cord": save_nifti(lesion, affine, tmp_path / "sub-01_cord.nii.gz"),
    }
    return affine, shape, paths


def test_preprocess_subject_writes_outputs_and_geometry(tmp_path):
    affine, shape, paths = write_subject(tmp_path)
    outputs = {key: tmp_path / "out" / f"sub-01_space-prep_{key}.nii.gz" for key in paths}
    steps = [
        {"name": "reorient", "axcodes": "SAR"},
        {"name": "resample", "spacing_mm": [1.0, 1.0, 2.0]},
        {"name": "zscore"},
        {"name": "crop_pad", "shape": [96, 64, 40]},
    ]
    geometry = preprocess_subject(
        paths["T2w"],
        paths["T1w"],
        paths["dseg"],
        paths["cord"],
        steps,
        outputs,
        tmp_path / "out" / "geometry.json",
    )
    assert json.loads((tmp_path / "out" / "geometry.json").read_text()) == json.loads(json.dumps(geometry))
    assert geometry["native"]["shape"] == list(shape) and geometry["native"]["axcodes"] == "PSR"
    np.testing.assert_allclose(geometry["native"]["affine"], affine)
    assert geometry["preprocessed"]["shape"] == [96, 64, 40] and geometry["preprocessed"]["axcodes"] == "SAR"
    np.testing.assert_allclose(geometry["preprocessed"]["voxel_sizes_mm"], [1.0, 1.0, 2.0])
    assert [s["name"] for s in geometry["steps"]] == ["reorient", "resample", "zscore", "crop_pad"]
    assert geometry["steps"][2] == {"name": "zscore", "nonzero": False}  # defaults filled in
    assert [t["name"] for t in geometry["transforms"]] == ["reorient", "resample", "crop_pad"]
    assert len(geometry["transforms"][-1]["offset_voxels"]) == 3
    for key, path in outputs.items():
        written = nib.load(path)
        assert written.shape == (96, 64, 40)
        np.testing.assert_allclose(written.affine, geometry["preprocessed"]["affine"], atol=1e-5)
        assert written.get_data_dtype() == (np.float32 if key in ("T2w", "T1w") else np.uint8)
    back = to_native(nib.load(outputs["dseg"]), nib.load(paths["T2w"]), order=0)
    assert dice(arr(back), arr(nib.load(paths["dseg"]))) > 0.9


def test_preprocess_subject_rejects_mismatched_grid_naming_file(tmp_path):
    _, _, paths = write_subject(tmp_path, shift_t1w=True)
    outputs = {key: tmp_path / f"o_{key}.nii.gz" for key in paths}
    with pytest.raises(ValueError, match="sub-01_T1w.nii.gz.*does not match the T2w grid"):
        preprocess_subject(
            paths["T2w"],
            paths["T1w"],
            paths["dseg"],
            paths["cord"],
            preset("lemay2021"),
            outputs,
            tmp_path / "g.json",
        )
    assert not any(p.exists() for p in outputs.values())
    cropped = save_nifti(np.zeros((10, 10, 10), np.uint8), np.eye(4), tmp_path / "small_cord.nii.gz")
    with pytest.raises(ValueError, match="small_cord.nii.gz"):
        preprocess_subject(
            paths["T2w"],
            None,
            None,
            cropped,
            preset("lemay2021"),
            {"T2w": outputs["T2w"], "cord": outputs["cord"]},
            tmp_path / "g.json",
        )
    with pytest.raises(ValueError, match="outputs must name exactly"):
        preprocess_subject(paths["T2w"], None, None, None, preset("lemay2021"), outputs, tmp_path / "g.json")


# --------------------------------------------------------------------------- #
# real anatomy
# --------------------------------------------------------------------------- #
def test_lemay_chain_on_real_subject_round_trips_cord(tmp_path, real_spine):
    t2w_path, cord_path = real_spine / ERRSM30_T2W, real_spine / ERRSM30_CORD
    outputs = {"T2w": tmp_path / "T2w.nii.gz", "cord": tmp_path / "cord.nii.gz"}
    geometry = preprocess_subject(
        t2w_path, None, None, cord_path, preset("lemay2021"), outputs, tmp_path / "geometry.json"
    )
    assert geometry["native"]["axcodes"] == "PSR"
    cord = nib.load(outputs["cord"])
    assert cord.shape == (512, 256, 32)
    assert "".join(nib.aff2axcodes(cord.affine)) == "SAR"
    np.testing.assert_allclose(voxel_sizes(cord.affine), [1.0, 1.0, 2.0], atol=1e-5)
    native = nib.load(t2w_path)
    back = to_native(cord, native, order=0)
    assert back.shape == native.shape
    assert dice(arr(back), arr(nib.load(cord_path))) > 0.9
