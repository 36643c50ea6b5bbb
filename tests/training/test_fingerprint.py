"""A training run's identity: its fingerprint, and a resume only of the same run."""

from __future__ import annotations

import numpy as np
import torch

from spinetumor.layout import CHECKPOINT_LAST
from spinetumor.training.fingerprint import resume_allowed, run_fingerprint
from tests.conftest import write_nifti


def test_fingerprint_changes_with_settings_and_file_bytes(tmp_path):
    f = write_nifti(tmp_path / "a.nii.gz", np.zeros((2, 2, 2), np.uint8))
    one = run_fingerprint({"lr": 1e-3}, [f])
    assert one == run_fingerprint({"lr": 1e-3}, [f])
    assert one != run_fingerprint({"lr": 1e-2}, [f])
    write_nifti(f, np.ones((2, 2, 2), np.uint8))
    assert one != run_fingerprint({"lr": 1e-3}, [f])


def test_only_a_readable_last_checkpoint_of_the_same_run_is_resumed(tmp_path):
    assert not resume_allowed(tmp_path, "abc")  # nothing to resume
    (tmp_path / CHECKPOINT_LAST).write_bytes(b"not a checkpoint")
    assert not resume_allowed(tmp_path, "abc")
    torch.save({"extra": {"fingerprint": "abc"}}, tmp_path / CHECKPOINT_LAST)
    assert resume_allowed(tmp_path, "abc")
    assert not resume_allowed(tmp_path, "another run")
