"""Tests for spinetumor.inference.predict (and result) end to end, with tiny hand-wired torch models.

The synthetic subject lives on an anisotropic, non-RAS native grid (PSR,
0.7 x 0.7 x 3.5 mm). T2w shows a cord with a bright edema blob inside it; the
registered T1w shows a bright tumour blob inside the cord and, in the decoy
variant, a brighter blob outside the cord. The networks threshold z-scored
intensities, so the right answer is known on the native grid: a prediction
that lands on the blobs there has gone through preprocessing, both stages,
cropping, pasting back, post-processing and the way back to native intact.
"""

from __future__ import annotations

import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from spinetumor.inference.predict import predict_cascade, predict_single_stage, predict_unet
from spinetumor.inference.result import TIMING_STEPS, save_prediction

SHAPE = (60, 90, 10)  # A-P, S-I, R-L
ZOOMS = (0.7, 0.7, 3.5)
BACKGROUND, CORD, BLOB, DECOY = 100.0, 300.0, 1000.0, 3000.0

CORD_BOX = np.s_[27:39, 5:85, 2:8]
TUMOUR_BOX = np.s_[26:40, 20:34, 3:7]
EDEMA_BOX = np.s_[26:40, 50:64, 3:7]
DECOY_BOX = np.s_[1:8, 20:34, 3:7]

# A faster lemay2021-like chain (same steps, smaller matrix) for the crop tests.
SMALL_CHAIN = [
    {"name": "reorient", "axcodes": "SAR"},
    {"name": "resample", "spacing_mm": [1.0, 1.0, 2.0]},
    {"name": "zscore", "nonzero": False},
    {"name": "crop_pad", "shape": [96, 64, 32]},
]
SMALL_PATCHES = {"chain": SMALL_CHAIN, "patch_size": [32, 16, 16], "batch_size": 4}
K = 20.0  # logit slope: crisp masks, but smooth enough to be a real sigmoid


# --------------------------------------------------------------------------- #
# synthetic subject
# --------------------------------------------------------------------------- #
def psr_affine() -> np.ndarray:
    """Axis 0 -> posterior, axis 1 -> superior, axis 2 -> right (RAS+ world), off-centre origin."""
    affine = np.zeros((4, 4))
    affine[1, 0] = -ZOOMS[0]
    affine[2, 1] = ZOOMS[1]
    affine[0, 2] = ZOOMS[2]
    affine[:, 3] = [-15.0, 20.0, -30.0, 1.0]
    return affine


def box_mask(box: tuple[slice, ...]) -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=bool)
    mask[box] = True
    return mask


def volumes(decoy: bool) -> tuple[np.ndarray, np.ndarray]:
    t2w = np.full(SHAPE, BACKGROUND, dtype=np.float32)
    t2w[CORD_BOX] = CORD
    t2w[EDEMA_BOX] = BLOB
    t1w = np.full(SHAPE, BACKGROUND, dtype=np.float32)
    t1w[TUMOUR_BOX] = BLOB
    if decoy:
        t1w[DECOY_BOX] = DECOY
    return t2w, t1w


def z_of(volume: np.ndarray, value: float) -> float:
    """Z-score of ``value`` under ``volume``'s statistics (resampling barely moves them)."""
    return float((value - volume.mean()) / volume.std())


def write_subject(root: Path, decoy: bool) -> dict[str, Path]:
    t2w, t1w = volumes(decoy)
    paths = {"T2w": root / "sub-01_T2w.nii.gz", "T1w": root / "sub-01_space-T2w_T1w.nii.gz"}
    for key, data in (("T2w", t2w), ("T1w", t1w)):
        nib.save(nib.Nifti1Image(data, psr_affine()), str(paths[key]))
    return paths


@pytest.fixture(scope="module")
def subject(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_subject(tmp_path_factory.mktemp("plain"), decoy=False)


@pytest.fixture(scope="module")
def decoy_subject(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_subject(tmp_path_factory.mktemp("decoy"), decoy=True)


# --------------------------------------------------------------------------- #
# tiny models
# --------------------------------------------------------------------------- #
def threshold_conv(in_channels: int, channel: int, level: float) -> torch.nn.Conv3d:
    """1x1x1 conv whose logit is K * (x[channel] - level): positive on brighter voxels."""
    conv = torch.nn.Conv3d(in_channels, 1, 1)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, channel] = K
        conv.bias.fill_(-K * level)
    return conv


class LesionNet(torch.nn.Module):
    """(T1w, T2w) -> (tumour, edema, cavity, whole): bright T1w is tumour, bright T2w edema."""

    def __init__(self, t1w_level: float, t2w_level: float) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(2, 3, 1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, 0] = K
            self.conv.weight[1, 1] = K
            self.conv.bias.copy_(torch.tensor([-K * t1w_level, -K * t2w_level, -K]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.conv(x)
        whole = torch.maximum(logits[:, 0:1], logits[:, 1:2])
        return torch.cat([logits, whole], dim=1)


class Recorder(torch.nn.Module):
    """Runs ``inner`` and records every input's shape and per-channel maximum."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.shapes: list[tuple[int, ...]] = []
        self.maxima: list[list[float]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        self.maxima.append(x.amax(dim=(0, 2, 3, 4)).tolist())
        return self.inner(x)


def models(decoy: bool) -> tuple[torch.nn.Module, torch.nn.Module]:
    t2w, t1w = volumes(decoy)
    cord_level = z_of(t2w, (BACKGROUND + CORD) / 2)
    stage1 = threshold_conv(1, 0, cord_level)
    stage2 = LesionNet(z_of(t1w, (BACKGROUND + BLOB) / 2), z_of(t2w, (CORD + BLOB) / 2))
    return stage1, stage2


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def native(img: nib.Nifti1Image) -> np.ndarray:
    return np.asarray(img.dataobj)


# --------------------------------------------------------------------------- #
# end to end
# --------------------------------------------------------------------------- #
def test_cascade_lands_the_prediction_on_the_native_blobs(subject, tmp_path):
    stage1, stage2 = models(decoy=False)
    result = predict_cascade(subject["T2w"], subject["T1w"], stage1, stage2, {"native_probabilities": True})
    dseg = native(result["dseg"])
    assert dseg.shape == SHAPE and dseg.dtype == np.uint8
    np.testing.assert_allclose(result["dseg"].affine, psr_affine())
    assert dice(dseg == 1, box_mask(TUMOUR_BOX)) > 0.8
    assert dice(dseg == 2, box_mask(EDEMA_BOX)) > 0.8
    assert not (dseg == 3).any()
    cord = native(result["cord_mask_native"]) > 0
    assert dice(cord, box_mask(CORD_BOX)) > 0.8
    assert result["probabilities"].shape == (4, 512, 256, 32)
    assert result["probabilities_native"].shape == (*SHAPE, 4)
    assert set(result["timings"]) == set(TIMING_STEPS)

    out = save_prediction(result, tmp_path / "dseg.nii.gz", tmp_path / "probs.nii.gz")
    saved = nib.load(str(out["dseg"]))
    assert saved.get_data_dtype() == np.uint8
    np.testing.assert_allclose(saved.affine, psr_affine(), atol=1e-5)
    np.testing.assert_array_equal(np.asarray(saved.dataobj), dseg)
    probs = nib.load(str(out["probabilities"]))
    assert probs.shape == (*SHAPE, 4) and probs.get_data_dtype() == np.float32
    assert result["timings"]["save"] > 0
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_stage2_sees_only_the_crop(decoy_subject):
    stage1, stage2 = models(decoy=True)
    recorder = Recorder(stage2)
    result = predict_cascade(decoy_subject["T2w"], decoy_subject["T1w"], stage1, recorder, SMALL_PATCHES)
    (start, stop) = result["crop_box"]
    crop_shape = np.subtract(stop, start)
    assert tuple(crop_shape) != (96, 64, 32)  # a real crop
    stride = np.array([16, 8, 8])
    n_windows = np.prod((crop_shape - [32, 16, 16]) // stride + 1)
    assert sum(shape[0] for shape in recorder.shapes) == n_windows
    assert all(shape[1:] == (2, 32, 16, 16) for shape in recorder.shapes)
    # The crop holds the predicted cord, and the decoy (far brighter, outside it) never reaches stage 2.
    cord = result["cord_mask"]
    inside = cord[start[0] : stop[0], start[1] : stop[1], start[2] : stop[2]]
    assert inside.sum() == cord.sum() > 0
    _, t1w = volumes(decoy=True)
    decoy_z = z_of(t1w, DECOY)
    assert max(m[0] for m in recorder.maxima) < 0.5 * decoy_z
    # Nothing outside the crop: probabilities are 0 there.
    outside = result["probabilities"].copy()
    outside[:, start[0] : stop[0], start[1] : stop[1], start[2] : stop[2]] = 0
    assert not outside.any()
    dseg = native(result["dseg"])
    assert not dseg[DECOY_BOX].any()
    assert dice(dseg == 1, box_mask(TUMOUR_BOX)) > 0.8

    # The single-stage ablation sees the whole field of view, decoy included.
    single_recorder = Recorder(stage2)
    single = predict_single_stage(decoy_subject["T2w"], decoy_subject["T1w"], single_recorder, SMALL_PATCHES)
    assert max(m[0] for m in single_recorder.maxima) > 0.9 * decoy_z
    assert single["crop_box"] == ((0, 0, 0), (96, 64, 32)) and single["cord_mask"] is None
    assert (native(single["dseg"])[DECOY_BOX] == 1).mean() > 0.5


def test_empty_stage1_falls_back_to_the_whole_field_of_view(subject, caplog):
    nothing = torch.nn.Conv3d(1, 1, 1)
    with torch.no_grad():
        nothing.weight.zero_()
        nothing.bias.fill_(-K)
    _, stage2 = models(decoy=False)
    with caplog.at_level(logging.WARNING, logger="spinetumor.inference.crop"):
        result = predict_cascade(subject["T2w"], subject["T1w"], nothing, stage2, SMALL_PATCHES)
    assert "empty cord mask" in caplog.text
    assert result["crop_box"] == ((0, 0, 0), (96, 64, 32))
    assert not result["cord_mask"].any()
    assert dice(native(result["dseg"]) == 1, box_mask(TUMOUR_BOX)) > 0.8


def test_predict_unet_with_another_chain_and_contrast(subject):
    # T2w only, scaled to [0, 1]: the edema blob (the brightest T2w structure) is
    # called "tumour" by a one-output network over the whole volume in one window.
    chain = [
        {"name": "reorient", "axcodes": "SAR"},
        {"name": "resample", "spacing_mm": [1.0, 1.0, 1.0]},
        {"name": "scale_intensity", "minv": 0.0, "maxv": 1.0},
        {"name": "pad", "shape": [64, 48, 48]},
    ]
    bright = threshold_conv(1, 0, ((CORD + BLOB) / 2 - BACKGROUND) / (BLOB - BACKGROUND))
    settings = {"contrasts": ["T2w"], "outputs": ["tumor"], "patch_size": None}
    result = predict_unet(subject["T2w"], None, bright, chain, settings)
    assert result["probabilities"].shape[1:] == (64, 48, 48)
    assert dice(native(result["dseg"]) == 1, box_mask(EDEMA_BOX)) > 0.8
    assert result["timings"]["stage1"] == 0.0


def test_wrong_number_of_outputs_is_an_error(subject):
    with pytest.raises(ValueError, match="3 channels"):
        predict_single_stage(subject["T2w"], subject["T1w"], torch.nn.Conv3d(2, 3, 1), SMALL_PATCHES)


def test_missing_t1w_is_an_error(subject):
    with pytest.raises(ValueError, match="T1w"):
        predict_single_stage(subject["T2w"], None, torch.nn.Conv3d(2, 4, 1), SMALL_PATCHES)


# Stage 1 on a grid of its own: 2 x 2 x 4 mm, about 8 times fewer voxels than SMALL_CHAIN's.
COARSE_CHAIN = [
    {"name": "reorient", "axcodes": "SAR"},
    {"name": "resample", "spacing_mm": [2.0, 2.0, 4.0]},
    {"name": "zscore", "nonzero": False},
    {"name": "crop_pad", "shape": [48, 32, 16]},
]


def test_stage1_on_a_coarse_grid_of_its_own_crops_the_lesion_grid_through_world_coordinates(decoy_subject):
    stage1, stage2 = models(decoy=True)
    seen1, seen2 = Recorder(stage1), Recorder(stage2)
    settings = {**SMALL_PATCHES, "stage1_chain": COARSE_CHAIN}
    result = predict_cascade(decoy_subject["T2w"], decoy_subject["T1w"], seen1, seen2, settings)
    assert seen1.shapes == [(1, 1, 48, 32, 16)]  # stage 1 ran once, on the coarse grid
    assert result["cord_mask"].shape == (48, 32, 16)
    assert result["probabilities"].shape == (4, 96, 64, 32)  # stage 2 on the lesion grid
    # The box, found on the coarse grid, holds the cord on the lesion grid and leaves the decoy out.
    (start, stop) = result["crop_box"]
    assert tuple(np.subtract(stop, start)) != (96, 64, 32)
    _, t1w = volumes(decoy=True)
    assert max(m[0] for m in seen2.maxima) < 0.5 * z_of(t1w, DECOY)
    dseg = native(result["dseg"])
    assert dice(dseg == 1, box_mask(TUMOUR_BOX)) > 0.8
    assert dice(dseg == 2, box_mask(EDEMA_BOX)) > 0.8
    assert not dseg[DECOY_BOX].any()
    # The cord mask goes back to the native grid from the coarse grid's own affine.
    assert dice(native(result["cord_mask_native"]) > 0, box_mask(CORD_BOX)) > 0.7
    # The same box as when stage 1 runs on the lesion grid, give or take a voxel per side.
    same_grid = predict_cascade(decoy_subject["T2w"], decoy_subject["T1w"], stage1, stage2, SMALL_PATCHES)
    assert np.abs(np.subtract(result["crop_box"], same_grid["crop_box"])).max() <= 8  # one stride


def test_one_window_fitted_to_the_cord_box(decoy_subject):
    stage1, stage2 = models(decoy=True)
    seen2 = Recorder(stage2)
    settings = {
        **SMALL_PATCHES,
        "stage1_chain": COARSE_CHAIN,
        "patch_size": None,
        "window_multiple": [16, 8, 8],
    }
    result = predict_cascade(decoy_subject["T2w"], decoy_subject["T1w"], stage1, seen2, settings)
    (start, stop) = result["crop_box"]
    shape = tuple(int(n) for n in np.subtract(stop, start))
    assert seen2.shapes == [(1, 2, *shape)]  # one forward pass over the whole crop
    assert all(n % m == 0 for n, m in zip(shape, (16, 8, 8))) and shape != (96, 64, 32)
    dseg = native(result["dseg"])
    assert dice(dseg == 1, box_mask(TUMOUR_BOX)) > 0.8 and not dseg[DECOY_BOX].any()
