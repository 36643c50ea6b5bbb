"""Tests of the synthetic demo dataset (spinetumor.demo).

Expectations are reasoned from the anatomy and acquisition the module is asked
to imitate (METHODS.md, "How the tissues look"), not copied from its output.
One dataset of three subjects is written through the command line and shared
by the tests; subjects with a property none of the three has are written on demand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from spinetumor.demo import demo
from spinetumor.io import voxel_sizes

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "workflow" / "scripts"
SEED = 11
N_CLI = 3
IMAGE_KEYS = ("t2w", "t1w", "dseg", "cord", "centerline")


@pytest.fixture(scope="module")
def cli_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three subjects written by the documented command line."""
    out = tmp_path_factory.mktemp("demo") / "bids"
    env = {**os.environ, "PYTHONPATH": str(SCRIPTS)}
    cmd = [sys.executable, "-m", "spinetumor.demo", str(out), "--n-subjects", str(N_CLI), "--seed", str(SEED)]
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    print(f"CLI wrote {N_CLI} subjects in {time.perf_counter() - started:.1f} s")
    return out


@pytest.fixture(scope="module")
def subject_files(
    cli_dataset: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[int], dict[str, Path]]:
    """Paths of subject ``index``: from the CLI dataset, or written now into a side folder."""
    extra = tmp_path_factory.mktemp("extra")

    def get(index: int) -> dict[str, Path]:
        if index <= N_CLI:
            return demo.subject_paths(cli_dataset, index)
        paths = demo.subject_paths(extra, index)
        if not paths["t2w"].exists():
            demo.write_subject(extra, index, SEED)
        return paths

    return get


@pytest.fixture(scope="module")
def load(subject_files: Callable[[int], dict[str, Path]]) -> Callable[[int], dict[str, nib.Nifti1Image]]:
    """NIfTI images of subject ``index`` (cached)."""
    cache: dict[int, dict[str, nib.Nifti1Image]] = {}

    def get(index: int) -> dict[str, nib.Nifti1Image]:
        if index not in cache:
            paths = subject_files(index)
            cache[index] = {key: nib.load(str(paths[key])) for key in IMAGE_KEYS}
        return cache[index]

    return get


def first_index(predicate: Callable[[demo.SubjectParameters], bool], limit: int = 30) -> int:
    """Smallest subject index whose parameters satisfy ``predicate``."""
    for index in range(1, limit + 1):
        if predicate(demo.subject_parameters(index, SEED)):
            return index
    raise AssertionError("no such subject among the first 30")


def world_coordinates(img: nib.Nifti1Image, mask: np.ndarray) -> np.ndarray:
    """World (RAS mm) positions of the voxels of ``mask``, shape (N, 3)."""
    ijk = np.argwhere(mask)
    return nib.affines.apply_affine(img.affine, ijk)


def in_plane_structure(img: nib.Nifti1Image) -> np.ndarray:
    """3x3x3 cross that only connects voxels within a sagittal slice."""
    slice_axis = int(np.argmax(voxel_sizes(img.affine)))
    structure = ndimage.generate_binary_structure(3, 1)
    index = [slice(None)] * 3
    for k in (0, 2):
        index[slice_axis] = k
        structure[tuple(index)] = False
    return structure


def t1w_at_t2w_voxels(images: dict[str, nib.Nifti1Image], mask: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """T1w signal at the T2w voxels of ``mask``, sampling the T1w at ``matrix @ p``."""
    t1w, t2w = images["t1w"], images["t2w"]
    vox2vox = np.linalg.inv(t1w.affine) @ matrix @ t2w.affine
    coords = nib.affines.apply_affine(vox2vox, np.argwhere(mask)).T
    return ndimage.map_coordinates(np.asarray(t1w.dataobj, dtype=np.float32), coords, order=1, mode="nearest")


def cord_and_csf(images: dict[str, nib.Nifti1Image]) -> tuple[np.ndarray, np.ndarray]:
    """Lesion-free cord interior and a thin CSF ring around the cord (T2w grid).

    Both are taken in the sagittal slice through the cord centre (the slice of
    the centreline voxel at each S-I position), where thick slices see the cord
    rather than its edge. The interior is the cord less one pixel; the ring is
    the second layer of pixels around the cord (about 1-2 mm out), inside the
    2-4 mm CSF sleeve.
    """
    cord = np.asarray(images["cord"].dataobj) > 0
    dseg = np.asarray(images["dseg"].dataobj)
    line = np.asarray(images["centerline"].dataobj) > 0
    plane = in_plane_structure(images["cord"])
    centre_slice = ndimage.binary_dilation(line, plane, iterations=12)
    interior = ndimage.binary_erosion(cord, plane) & (dseg == 0) & centre_slice
    near = ndimage.binary_dilation(cord, plane, iterations=1)
    ring = ndimage.binary_dilation(cord, plane, iterations=2) & ~near & centre_slice
    # Keep the ring away from lesion levels, where the swollen cord squeezes the CSF.
    lesion = ndimage.binary_dilation(dseg > 0, plane, iterations=6)
    return interior, ring & ~lesion


# --------------------------------------------------------------------------- files and CLI
def test_subject_id_is_three_digits_one_based():
    assert demo.subject_id(1) == "001"
    assert demo.subject_id(12) == "012"
    assert demo.subject_id(999) == "999"
    for bad in (0, 1000):
        with pytest.raises(ValueError, match="1..999"):
            demo.subject_id(bad)


def test_cli_writes_the_expected_files(cli_dataset: Path):
    for name in ("dataset_description.json", "participants.tsv", "participants.json", "README"):
        assert (cli_dataset / name).is_file(), name
    description = json.loads((cli_dataset / "dataset_description.json").read_text())
    assert description["DatasetType"] == "raw" and description["BIDSVersion"] and description["Name"]
    labels = cli_dataset / "derivatives" / "labels"
    derived = json.loads((labels / "dataset_description.json").read_text())
    assert derived["DatasetType"] == "derivative" and derived["GeneratedBy"][0]["Name"]
    dseg_rows = (labels / "dseg.tsv").read_text().splitlines()
    assert dseg_rows == ["index\tname", "1\ttumor", "2\tedema", "3\tcavity"]
    for index in range(1, N_CLI + 1):
        sub = f"sub-{index:03d}"
        expected = [
            f"{sub}/anat/{sub}_T2w.nii.gz",
            f"{sub}/anat/{sub}_T2w.json",
            f"{sub}/anat/{sub}_ce-gadolinium_T1w.nii.gz",
            f"{sub}/anat/{sub}_ce-gadolinium_T1w.json",
            f"derivatives/labels/{sub}/anat/{sub}_T2w_dseg.nii.gz",
            f"derivatives/labels/{sub}/anat/{sub}_T2w_seg-manual.nii.gz",
            f"derivatives/labels/{sub}/anat/{sub}_T2w_centerline-manual.nii.gz",
        ]
        for rel in expected:
            assert (cli_dataset / rel).is_file(), rel
        written = demo.subject_paths(cli_dataset, index).values()
        assert {p.relative_to(cli_dataset).as_posix() for p in written} == set(expected)
    assert not list(cli_dataset.rglob(".*")), "temporary files left behind"


def test_cli_rejects_bad_arguments(tmp_path: Path):
    with pytest.raises(SystemExit):
        demo.main([str(tmp_path / "x"), "--n-subjects", "0"])


def test_pybids_indexes_the_dataset(cli_dataset: Path):
    bids = pytest.importorskip("bids")
    layout = bids.BIDSLayout(str(cli_dataset), validate=False)
    assert layout.get_subjects() == ["001", "002", "003"]
    assert len(layout.get(suffix="T2w", extension=".nii.gz")) == N_CLI
    t1w = layout.get(suffix="T1w", ceagent="gadolinium", extension=".nii.gz")
    assert sorted(f.entities["subject"] for f in t1w) == ["001", "002", "003"]
    meta = layout.get_metadata(t1w[0].path)
    assert meta["ContrastBolusIngredient"] == "GADOLINIUM"


# --------------------------------------------------------------------------- determinism
def test_same_seed_same_bytes_whatever_the_number_of_subjects(cli_dataset: Path, tmp_path: Path):
    started = time.perf_counter()
    demo.generate_dataset(tmp_path, 1, SEED)  # one subject, in this process; the CLI wrote three
    elapsed = time.perf_counter() - started
    print(f"one subject (plus dataset files) in {elapsed:.2f} s")
    assert elapsed < 10.0
    again = demo.subject_paths(tmp_path, 1)
    first = demo.subject_paths(cli_dataset, 1)
    for key in IMAGE_KEYS:
        a, b = nib.load(str(first[key])), nib.load(str(again[key]))
        assert a.get_data_dtype() == b.get_data_dtype(), key
        np.testing.assert_array_equal(np.asarray(a.dataobj), np.asarray(b.dataobj), err_msg=key)
        np.testing.assert_array_equal(a.affine, b.affine, err_msg=key)
    assert json.loads(first["t1w_json"].read_text()) == json.loads(again["t1w_json"].read_text())


def test_parameters_depend_on_seed_and_index_only():
    assert demo.subject_parameters(4, SEED) == demo.subject_parameters(4, SEED)
    assert demo.subject_parameters(4, SEED) != demo.subject_parameters(4, SEED + 1)
    assert demo.subject_parameters(4, SEED) != demo.subject_parameters(5, SEED)


# --------------------------------------------------------------------------- geometry
def test_grids_are_anisotropic_sagittal_with_varied_orientations(load):
    codes = set()
    for index in range(1, 7):
        p = demo.subject_parameters(index, SEED)
        affine = p.t2w.grid.affine
        codes.add(nib.aff2axcodes(affine))
        sizes = voxel_sizes(affine)
        slice_axis = int(np.argmax(sizes))
        assert slice_axis == p.t2w.grid.slice_axis
        in_plane = np.delete(sizes, slice_axis)
        assert 2.5 <= sizes[slice_axis] <= 4.0
        assert np.all((0.6 <= in_plane) & (in_plane <= 0.9))
        fov_rl, fov_ap, fov_si = p.t2w.grid.fov_mm
        assert 150 <= fov_si <= 270 and 110 <= fov_ap <= 210 and 35 <= fov_rl <= 80
    assert len(codes) >= 2, codes
    for index in range(1, N_CLI + 1):
        p = demo.subject_parameters(index, SEED)
        t2w = load(index)["t2w"]
        assert "".join(nib.aff2axcodes(t2w.affine)) == p.orientation
        assert t2w.shape == p.shape
        # The slice axis is the R-L one whatever the storage order.
        rl_axis = [c in "RL" for c in nib.aff2axcodes(t2w.affine)].index(True)
        assert rl_axis == int(np.argmax(voxel_sizes(t2w.affine)))


def test_t1w_has_its_own_grid(load):
    for index in range(1, N_CLI + 1):
        images = load(index)
        t1w, t2w = images["t1w"], images["t2w"]
        same = t1w.shape == t2w.shape and np.allclose(t1w.affine, t2w.affine)
        assert not same
        assert not np.allclose(voxel_sizes(t1w.affine), voxel_sizes(t2w.affine))


def test_labels_live_on_the_t2w_grid_and_lesions_inside_the_cord(load):
    for index in range(1, N_CLI + 1):
        images = load(index)
        t2w = images["t2w"]
        for key in ("dseg", "cord", "centerline"):
            img = images[key]
            assert img.shape == t2w.shape, key
            np.testing.assert_allclose(img.affine, t2w.affine, atol=1e-5, err_msg=key)
            assert img.get_data_dtype() == np.uint8, key
        dseg = np.asarray(images["dseg"].dataobj)
        cord = np.asarray(images["cord"].dataobj)
        assert set(np.unique(dseg)) <= {0, 1, 2, 3}
        assert set(np.unique(cord)) == {0, 1}
        assert (dseg == 1).any(), "every subject has a tumour core"
        assert np.all(cord[dseg > 0] == 1), "lesions are intramedullary"
        p = demo.subject_parameters(index, SEED)
        assert (dseg == 2).any() == p.has_edema
        assert (dseg == 3).any() == p.has_cavity


def test_centreline_one_voxel_per_si_position_inside_the_cord(load):
    for index in range(1, N_CLI + 1):
        images = load(index)
        line = np.asarray(images["centerline"].dataobj)
        cord = np.asarray(images["cord"].dataobj)
        codes = nib.aff2axcodes(images["t2w"].affine)
        si_axis = [c in "SI" for c in codes].index(True)
        per_position = line.sum(axis=tuple(a for a in range(3) if a != si_axis))
        assert set(np.unique(line)) == {0, 1}
        assert per_position.max() == 1
        # The cord runs through the whole field of view (a few end rows may miss it).
        assert per_position.sum() >= 0.95 * line.shape[si_axis]
        assert cord[line > 0].mean() >= 0.97


def _enlargement_in_view_and_clear(p: demo.SubjectParameters) -> bool:
    """Cervical field of view, and no lesion within 20 mm of C5 (L = 65 mm below the top of C1)."""
    if p.anatomy.coverage != "cervical":
        return False
    s_c5 = p.anatomy.level_at_center_mm - 65.0
    return all(abs(les.center_uns_mm[2] - s_c5) > les.radii_uns_mm[2] + 20.0 for les in p.lesions)


def test_cord_is_about_13_by_8_mm_at_its_widest(load):
    images = load(first_index(_enlargement_in_view_and_clear))
    img = images["cord"]
    cord = np.asarray(img.dataobj) > 0
    dseg = np.asarray(images["dseg"].dataobj)
    sizes = voxel_sizes(img.affine)
    codes = nib.aff2axcodes(img.affine)
    si_axis = [c in "SI" for c in codes].index(True)
    slice_axis = int(np.argmax(sizes))
    thickness, pixel = sizes[slice_axis], float(np.delete(sizes, slice_axis).mean())
    lesion_z = world_coordinates(img, dseg > 0)[:, 2]
    widths_lr, widths_ap, areas = [], [], []
    for row in range(cord.shape[si_axis]):  # one S-I position at a time
        mask = np.zeros_like(cord)
        index = [slice(None)] * 3
        index[si_axis] = row
        mask[tuple(index)] = cord[tuple(index)]
        if mask.sum() < 3:
            continue
        pts = world_coordinates(img, mask)
        if np.any(np.abs(lesion_z - pts[:, 2].mean()) < 15.0):
            continue  # tumours, cysts and edema swell the cord
        widths_lr.append(np.ptp(pts[:, 0]) + thickness)
        widths_ap.append(np.ptp(pts[:, 1]) + pixel)
        areas.append(len(pts) * thickness * pixel)
    assert len(areas) > 50
    # Ellipse 13 x 8 mm: area pi * 6.5 * 4 = 82 mm^2; +-7 % subject scale, voxelisation.
    assert 60.0 <= max(areas) <= 105.0
    assert 7.0 <= max(widths_ap) <= 10.0
    # Thick slices quantise the L-R width to whole slices (2.5-4 mm each).
    assert 9.0 <= max(widths_lr) <= 18.0
    assert max(widths_lr) > max(widths_ap)
    # Tapering: the lower thoracic end of the view is thinner than the enlargement.
    assert min(areas) < 0.8 * max(areas)


# --------------------------------------------------------------------------- intensities
def test_csf_is_bright_on_t2w_and_dark_on_t1w(load):
    for index in range(1, N_CLI + 1):
        images = load(index)
        interior, ring = cord_and_csf(images)
        assert interior.sum() > 100 and ring.sum() > 100
        t2w = np.asarray(images["t2w"].dataobj, dtype=np.float32)
        assert t2w[ring].mean() > 1.3 * t2w[interior].mean()
        matrix = demo.subject_parameters(index, SEED).misalignment.matrix
        t1w_cord = t1w_at_t2w_voxels(images, interior, matrix).mean()
        assert t1w_at_t2w_voxels(images, ring, matrix).mean() < 0.85 * t1w_cord


def test_cavity_is_bright_on_t2w_and_dark_on_t1w(load):
    index = first_index(lambda p: p.has_cavity)
    images = load(index)
    dseg = np.asarray(images["dseg"].dataobj)
    interior, _ = cord_and_csf(images)
    cavity = dseg == 3
    t2w = np.asarray(images["t2w"].dataobj, dtype=np.float32)
    assert t2w[cavity].mean() > 1.3 * t2w[interior].mean()
    matrix = demo.subject_parameters(index, SEED).misalignment.matrix
    t1w_cord = t1w_at_t2w_voxels(images, interior, matrix).mean()
    assert t1w_at_t2w_voxels(images, cavity, matrix).mean() < t1w_cord


def test_images_are_scaled_noisy_magnitudes(load):
    for index in range(1, N_CLI + 1):
        p = demo.subject_parameters(index, SEED)
        images = load(index)
        for key, seq in (("t2w", p.t2w), ("t1w", p.t1w)):
            img = images[key]
            assert img.get_data_dtype() == np.dtype(p.dtype)
            data = np.asarray(img.dataobj, dtype=np.float32)
            assert data.min() >= 0  # Rician magnitudes
            assert 200 <= seq.intensity_scale <= 3000
        interior, _ = cord_and_csf(images)
        cord_t2w = np.asarray(images["t2w"].dataobj, dtype=np.float32)[interior].mean()
        # The cord is the unit tissue: its signal is the scanner scale up to the bias field.
        assert 0.5 < cord_t2w / p.t2w.intensity_scale < 2.0


# --------------------------------------------------------------------------- misalignment
def _rotation_angle_deg(matrix: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(matrix[:3, :3]) - 1) / 2, -1, 1))))


def test_misalignment_is_recorded_and_self_consistent(subject_files):
    for index in range(1, N_CLI + 1):
        sidecar = json.loads(subject_files(index)["t1w_json"].read_text())
        record = sidecar["SyntheticMisalignment"]
        rx, ry, rz = np.radians(record["rotation_deg"])
        rot_x = np.array([[1, 0, 0], [0, np.cos(rx), -np.sin(rx)], [0, np.sin(rx), np.cos(rx)]])
        rot_y = np.array([[np.cos(ry), 0, np.sin(ry)], [0, 1, 0], [-np.sin(ry), 0, np.cos(ry)]])
        rot_z = np.array([[np.cos(rz), -np.sin(rz), 0], [np.sin(rz), np.cos(rz), 0], [0, 0, 1]])
        rot = rot_z @ rot_y @ rot_x
        centre, shift = np.array(record["center_mm"]), np.array(record["translation_mm"])
        matrix = np.array(record["matrix_ras"])
        np.testing.assert_allclose(matrix[:3, :3], rot, atol=1e-6)
        # The centre moves by the translation alone.
        np.testing.assert_allclose(matrix[:3, :3] @ centre + matrix[:3, 3], centre + shift, atol=1e-5)
        assert 0.9 <= _rotation_angle_deg(matrix) <= 4.1
        assert 1.0 <= np.linalg.norm(shift) <= 4.0


def test_misalignment_direction_matches_the_images(load):
    """Sampling the T1w at M p restores the cord/CSF pattern; ignoring M or inverting it blurs it."""
    for index in range(1, N_CLI + 1):
        images = load(index)
        interior, ring = cord_and_csf(images)
        matrix = demo.subject_parameters(index, SEED).misalignment.matrix

        def contrast(m: np.ndarray) -> float:
            cord = t1w_at_t2w_voxels(images, interior, m).mean()
            return float((cord - t1w_at_t2w_voxels(images, ring, m).mean()) / cord)

        right = contrast(matrix)
        assert right > contrast(np.eye(4))
        assert right > contrast(np.linalg.inv(matrix))


# --------------------------------------------------------------------------- sidecars and participants
def test_sidecars_are_valid_bids_json(subject_files):
    for index in range(1, N_CLI + 1):
        p = demo.subject_parameters(index, SEED)
        paths = subject_files(index)
        t2w, t1w = (json.loads(paths[k].read_text()) for k in ("t2w_json", "t1w_json"))
        for meta in (t2w, t1w):
            assert meta["MagneticFieldStrength"] in (1.5, 3.0)
            assert meta["Manufacturer"] == p.manufacturer
            # BIDS times are in seconds: TR of a spin echo is well under 10 s, TE under 0.2 s.
            assert 0 < meta["EchoTime"] < 0.2 and meta["EchoTime"] < meta["RepetitionTime"] < 10
        assert t1w["ContrastBolusIngredient"] == "GADOLINIUM"
        assert "ContrastBolusIngredient" not in t2w and "SyntheticMisalignment" not in t2w
        assert t2w["RepetitionTime"] > t1w["RepetitionTime"]  # T2 weighting needs a long TR


def test_participants_cover_the_three_pathologies(tmp_path: Path):
    demo.write_dataset_files(tmp_path, 6, SEED)
    table = pd.read_csv(tmp_path / "participants.tsv", sep="\t")
    assert list(table.columns) == ["participant_id", "pathology", "age", "sex"]
    assert list(table["participant_id"]) == [f"sub-{i:03d}" for i in range(1, 7)]
    assert set(table["pathology"]) == set(demo.PATHOLOGIES)
    assert table["sex"].isin(["M", "F"]).all()
    assert table["age"].between(1, 100).all()
    described = json.loads((tmp_path / "participants.json").read_text())
    assert set(described) == set(table.columns)
    assert set(described["pathology"]["Levels"]) == set(demo.PATHOLOGIES)


def test_lesion_mix_over_many_subjects():
    params = [demo.subject_parameters(i, SEED) for i in range(1, 25)]
    assert [p.pathology for p in params].count("ependymoma") == 8  # types cycle by index
    # About half with edema, two thirds with a cavity (binomial, 24 draws: +-2.5 sd).
    assert 6 <= sum(p.has_edema for p in params) <= 18
    assert 11 <= sum(p.has_cavity for p in params) <= 22
    assert any(p.n_lesions > 1 for p in params) and any(p.n_lesions == 1 for p in params)
    lengths = [2 * les.radii_uns_mm[2] for p in params for les in p.lesions if les.label == 1]
    assert min(lengths) < 10.0 < 40.0 < max(lengths)  # under 1 cm to several vertebral levels
    assert {p.anatomy.coverage for p in params} == {"cervical", "thoracic"}
