"""Subject parameter records and labels (spinetumor.demo.params)."""

from __future__ import annotations

import pytest

from spinetumor.demo.params import subject_id
from spinetumor.demo.sampling import subject_parameters
from tests.demo.demo_fixtures import SEED


def test_subject_id_is_three_digits_one_based():
    assert subject_id(1) == "001"
    assert subject_id(12) == "012"
    assert subject_id(999) == "999"
    for bad in (0, 1000):
        with pytest.raises(ValueError, match="1..999"):
            subject_id(bad)


def test_subject_shortcuts_describe_the_t2w_image():
    p = subject_parameters(2, SEED)
    assert p.subject == "002" and p.index == 2
    assert p.shape == p.t2w.grid.shape and p.voxel_size_mm == p.t2w.grid.voxel_size_mm
    # Both images of a subject come from one protocol family: same storage convention.
    assert p.orientation == p.t2w.grid.orientation == p.t1w.grid.orientation
    assert p.scanner_scale == (p.t2w.intensity_scale, p.t1w.intensity_scale)
