"""Shared data of the demo tests: one dataset written through the command line, and helpers.

Expectations are reasoned from the anatomy and acquisition the generator is asked
to imitate (METHODS.md, "How the tissues look"), not copied from its output.
Three subjects are written once per test session through the documented command
line and shared by every test module that imports these fixtures; subjects with
a property none of the three has are written on demand. A test module binds
the fixtures it uses as module names (``load = demo_fixtures.load``); ``load``
needs ``subject_files`` and ``cli_dataset`` bound too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from spinetumor.demo.dataset import subject_paths
from spinetumor.demo.jobs import write_subject
from spinetumor.demo.params import SubjectParameters
from spinetumor.demo.sampling import subject_parameters
from spinetumor.io import voxel_sizes

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "workflow" / "scripts"
SEED = 11
N_CLI = 3
IMAGE_KEYS = ("t2w", "t1w", "dseg", "cord", "centerline")

# Written once per session, whichever test module asks first.
_WRITTEN: dict[str, Path] = {}
_IMAGES: dict[int, dict[str, nib.Nifti1Image]] = {}


@pytest.fixture
def cli_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three subjects written by the documented command line."""
    if "cli" not in _WRITTEN:
        out = tmp_path_factory.mktemp("demo") / "bids"
        env = {**os.environ, "PYTHONPATH": str(SCRIPTS)}
        cmd = [
            sys.executable,
            "-m",
            "spinetumor.demo",
            str(out),
            "--n-subjects",
            str(N_CLI),
            "--seed",
            str(SEED),
        ]
        started = time.perf_counter()
        done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        print(f"CLI wrote {N_CLI} subjects in {time.perf_counter() - started:.1f} s")
        _WRITTEN["cli"] = out
    return _WRITTEN["cli"]


@pytest.fixture
def subject_files(
    cli_dataset: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[int], dict[str, Path]]:
    """Paths of subject ``index``: from the CLI dataset, or written now into a side folder."""
    if "extra" not in _WRITTEN:
        _WRITTEN["extra"] = tmp_path_factory.mktemp("extra")
    extra = _WRITTEN["extra"]

    def get(index: int) -> dict[str, Path]:
        if index <= N_CLI:
            return subject_paths(cli_dataset, index)
        paths = subject_paths(extra, index)
        if not paths["t2w"].exists():
            write_subject(extra, index, SEED)
        return paths

    return get


@pytest.fixture
def load(subject_files: Callable[[int], dict[str, Path]]) -> Callable[[int], dict[str, nib.Nifti1Image]]:
    """NIfTI images of subject ``index`` (cached)."""

    def get(index: int) -> dict[str, nib.Nifti1Image]:
        if index not in _IMAGES:
            paths = subject_files(index)
            _IMAGES[index] = {key: nib.load(str(paths[key])) for key in IMAGE_KEYS}
        return _IMAGES[index]

    return get


def first_index(predicate: Callable[[SubjectParameters], bool], limit: int = 30) -> int:
    """Smallest subject index whose parameters satisfy ``predicate``."""
    for index in range(1, limit + 1):
        if predicate(subject_parameters(index, SEED)):
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
