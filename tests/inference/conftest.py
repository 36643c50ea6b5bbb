"""Fixtures shared by the post-processing and mask tests: a 7-voxel object on 0.6 x 0.6 x 3.7 mm grids."""

from __future__ import annotations

import numpy as np
import pytest

# 0.6 x 0.6 x 3.7 mm: one voxel is 1.332 mm³, seven are 9.324 mm³.
ZOOMS = (0.6, 0.6, 3.7)


@pytest.fixture(params=["RAS", "permuted"])
def oriented_affine(request: pytest.FixtureRequest) -> np.ndarray:
    """0.6 x 0.6 x 3.7 mm voxels, either diagonal (RAS) or PSR-like (permuted, off-centre)."""
    if request.param == "RAS":
        return np.diag([*ZOOMS, 1.0])
    # Array axis 0 -> world -y, axis 1 -> world z, axis 2 -> world x, same voxel sizes.
    affine = np.zeros((4, 4))
    affine[1, 0] = -ZOOMS[0]
    affine[2, 1] = ZOOMS[1]
    affine[0, 2] = ZOOMS[2]
    affine[:, 3] = [12.0, -3.0, 40.0, 1.0]
    return affine


@pytest.fixture
def seven_voxel_object() -> np.ndarray:
    """A plus-shaped 6-connected object of 7 voxels (centre and its 6 face neighbours) in an 8 x 8 x 6 grid."""
    mask = np.zeros((8, 8, 6), dtype=bool)
    c = (4, 4, 3)
    mask[c] = True
    for axis in range(3):
        for step in (-1, 1):
            idx = list(c)
            idx[axis] += step
            mask[tuple(idx)] = True
    assert mask.sum() == 7
    return mask
