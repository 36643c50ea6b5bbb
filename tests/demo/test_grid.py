"""Acquisition grids and the misalignment record (spinetumor.demo.grid), and the grids subjects get."""

from __future__ import annotations

import nibabel as nib
import numpy as np

from spinetumor.demo.grid import GridParameters, Misalignment, rotation_matrix
from spinetumor.demo.sampling import subject_parameters
from spinetumor.io import voxel_sizes
from tests.demo import demo_fixtures
from tests.demo.demo_fixtures import N_CLI, SEED

# Fixtures shared by the demo test modules (one dataset per session).
cli_dataset = demo_fixtures.cli_dataset
load = demo_fixtures.load
subject_files = demo_fixtures.subject_files


def test_rotation_matrix_is_rz_ry_rx_about_the_world_axes():
    # 90 degrees about S turns R into A (right-handed), about R turns A into S.
    np.testing.assert_allclose(rotation_matrix((0, 0, 90)) @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(rotation_matrix((90, 0, 0)) @ [0, 1, 0], [0, 0, 1], atol=1e-12)
    # Rx is applied first: x then z maps A to S, and S stays S under z.
    np.testing.assert_allclose(rotation_matrix((90, 0, 90)) @ [0, 1, 0], [0, 0, 1], atol=1e-12)
    rot = rotation_matrix((10.0, -20.0, 30.0))
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(rot), 1.0)


def test_grid_affine_matches_orientation_spacing_and_centre():
    grid = GridParameters(
        voxel_size_mm=(3.0, 0.8, 0.7),
        shape_ras=(15, 200, 300),
        orientation="PSR",
        center_mm=(1.0, -20.0, 5.0),
        oblique_deg=(0.0, 0.0, 0.0),
    )
    assert grid.shape == (200, 300, 15)
    assert grid.slice_axis == 2 and grid.si_axis == 1
    np.testing.assert_allclose(grid.fov_mm, (45.0, 160.0, 210.0))
    assert "".join(nib.aff2axcodes(grid.affine)) == "PSR"
    np.testing.assert_allclose(voxel_sizes(grid.affine), (0.8, 0.7, 3.0))
    centre_voxel = (np.asarray(grid.shape) - 1) / 2
    np.testing.assert_allclose(nib.affines.apply_affine(grid.affine, centre_voxel), grid.center_mm)


def test_misalignment_matrix_turns_about_the_centre_then_shifts():
    move = Misalignment(
        rotation_deg=(0.0, 0.0, 90.0), translation_mm=(1.0, 2.0, 3.0), center_mm=(10.0, 0.0, 0.0)
    )
    m = move.matrix
    np.testing.assert_allclose(m @ [10, 0, 0, 1], [11, 2, 3, 1], atol=1e-12)
    # 1 mm right of the centre goes 1 mm anterior of it (90 degrees about S), then shifts.
    np.testing.assert_allclose(m @ [11, 0, 0, 1], [11, 3, 3, 1], atol=1e-12)
    record = move.to_json()
    np.testing.assert_allclose(record["matrix_ras"], m, atol=1e-9)
    assert "p_T1w = R (p_T2w - center_mm)" in record["convention"]


def test_grids_are_anisotropic_sagittal_with_varied_orientations(load):
    codes = set()
    for index in range(1, 7):
        p = subject_parameters(index, SEED)
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
        p = subject_parameters(index, SEED)
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
