"""Tests of spinetumor.registration.qc: the QC figure, and its red banner when the checks failed."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import nibabel as nib
import numpy as np

from spinetumor.registration.qc import _middle_slice, qc_figure


def _red_fraction(png: Path) -> float:
    rgb = matplotlib.image.imread(png)[..., :3]
    return float(((rgb[..., 0] > 0.8) & (rgb[..., 1] < 0.2) & (rgb[..., 2] < 0.2)).mean())


def test_the_slice_is_across_the_thinnest_extent() -> None:
    data = np.zeros((40, 50, 6), np.float32)
    data[:, :, 3] = 1.0
    view = _middle_slice(nib.Nifti1Image(data, np.diag([1.0, 1.0, 3.0, 1.0])))  # an axial slab
    assert view.axes == (0, 1) and view.plane.shape == (40, 50) and view.plane.min() == 1.0


def test_a_failed_registration_gets_a_red_frame_and_banner(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    image = nib.Nifti1Image(rng.uniform(size=(8, 40, 40)).astype(np.float32), np.eye(4))
    qc_figure(image, image, tmp_path / "ok.png", "ok", t1w_before_img=image)
    qc_figure(image, image, tmp_path / "failed.png", "failed", failures=["mutual information 0.01 nats"])
    assert _red_fraction(tmp_path / "ok.png") < 0.01
    assert _red_fraction(tmp_path / "failed.png") > 0.05
