"""Images and labels on the acquisition grids (spinetumor.demo.acquisition): contrast, noise, misalignment."""

from __future__ import annotations

import numpy as np

from spinetumor.demo.acquisition import render_subject
from spinetumor.demo.sampling import subject_parameters
from tests.demo import demo_fixtures
from tests.demo.demo_fixtures import N_CLI, SEED, cord_and_csf, first_index, t1w_at_t2w_voxels

# Fixtures shared by the demo test modules (one dataset per session; ``load`` needs all three).
cli_dataset = demo_fixtures.cli_dataset
subject_files = demo_fixtures.subject_files
load = demo_fixtures.load


def test_rendered_arrays_have_the_stored_types_and_grids():
    p = subject_parameters(3, SEED)
    arrays = render_subject(p)
    assert arrays["t2w"].shape == p.t2w.grid.shape and arrays["t1w"].shape == p.t1w.grid.shape
    for key in ("dseg", "cord", "centerline"):
        assert arrays[key].shape == p.t2w.grid.shape and arrays[key].dtype == np.uint8, key
    assert arrays["t2w"].dtype == arrays["t1w"].dtype == np.dtype(p.dtype)


def test_csf_is_bright_on_t2w_and_dark_on_t1w(load):
    for index in range(1, N_CLI + 1):
        images = load(index)
        interior, ring = cord_and_csf(images)
        assert interior.sum() > 100 and ring.sum() > 100
        t2w = np.asarray(images["t2w"].dataobj, dtype=np.float32)
        assert t2w[ring].mean() > 1.3 * t2w[interior].mean()
        matrix = subject_parameters(index, SEED).misalignment.matrix
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
    matrix = subject_parameters(index, SEED).misalignment.matrix
    t1w_cord = t1w_at_t2w_voxels(images, interior, matrix).mean()
    assert t1w_at_t2w_voxels(images, cavity, matrix).mean() < t1w_cord


def test_images_are_scaled_noisy_magnitudes(load):
    for index in range(1, N_CLI + 1):
        p = subject_parameters(index, SEED)
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


def test_misalignment_direction_matches_the_images(load):
    """Sampling the T1w at M p restores the cord/CSF pattern; ignoring M or inverting it blurs it."""
    for index in range(1, N_CLI + 1):
        images = load(index)
        interior, ring = cord_and_csf(images)
        matrix = subject_parameters(index, SEED).misalignment.matrix

        def contrast(m: np.ndarray) -> float:
            cord = t1w_at_t2w_voxels(images, interior, m).mean()
            return float((cord - t1w_at_t2w_voxels(images, ring, m).mean()) / cord)

        right = contrast(matrix)
        assert right > contrast(np.eye(4))
        assert right > contrast(np.linalg.inv(matrix))
