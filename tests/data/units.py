"""A hand-made valid unit (T2w, T1w and a manual cord label of known shapes) for the data tests."""

from __future__ import annotations

import numpy as np

from tests.conftest import write_nifti


def valid_unit(tmp_path, **overrides):
    """The unit record of sub-01 with readable files under `tmp_path`, `overrides` applied."""
    t2 = write_nifti(tmp_path / "sub-01_T2w.nii.gz", np.ones((6, 6, 3), np.float32))
    t1 = write_nifti(tmp_path / "sub-01_T1w.nii.gz", np.ones((5, 7, 3), np.int16))
    cord = write_nifti(tmp_path / "sub-01_T2w_seg-manual.nii.gz", np.ones((6, 6, 3), np.uint8))
    unit = {
        "subject": "01",
        "session": None,
        "prefix": "sub-01",
        "t2w": str(t2),
        "t1w": str(t1),
        "labels": {"cord": str(cord)},
        "problems": [],
    }
    unit.update(overrides)
    return unit
