"""Contents of the demo dataset's BIDS files (spinetumor.demo.dataset): paths, sidecars, labels table."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from spinetumor import LABELS
from spinetumor.demo.dataset import DSEG_LABELS, dseg_tsv, participants_tsv, subject_paths
from spinetumor.demo.sampling import subject_parameters
from tests.demo import demo_fixtures
from tests.demo.demo_fixtures import N_CLI, SEED

# Fixtures shared by the demo test modules (one dataset per session).
cli_dataset = demo_fixtures.cli_dataset
subject_files = demo_fixtures.subject_files


def test_dseg_classes_are_the_project_lesion_classes():
    assert {name: value for value, name in DSEG_LABELS.items()} == LABELS
    rows = [line.split("\t") for line in dseg_tsv().splitlines()]
    assert rows[0] == ["index", "name"]
    assert {int(index): name for index, name in rows[1:]} == DSEG_LABELS


def test_subject_paths_follow_bids(tmp_path: Path):
    paths = subject_paths(tmp_path, 7)
    assert paths["t2w"] == tmp_path / "sub-007" / "anat" / "sub-007_T2w.nii.gz"
    assert paths["t1w"].name == "sub-007_ce-gadolinium_T1w.nii.gz"
    labels = tmp_path / "derivatives" / "labels" / "sub-007" / "anat"
    assert {paths[k].parent for k in ("dseg", "cord", "centerline")} == {labels}
    assert paths["t1w_json"].with_suffix("").with_suffix("") == paths["t1w"].with_suffix("").with_suffix("")


def test_participants_rows_match_the_subject_parameters():
    rows = [line.split("\t") for line in participants_tsv(4, SEED).splitlines()]
    assert rows[0] == ["participant_id", "pathology", "age", "sex"]
    for index, row in enumerate(rows[1:], start=1):
        p = subject_parameters(index, SEED)
        assert row == [f"sub-{index:03d}", p.pathology, str(p.age), p.sex]


def test_sidecars_are_valid_bids_json(subject_files: Callable[[int], dict[str, Path]]):
    for index in range(1, N_CLI + 1):
        p = subject_parameters(index, SEED)
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


def _rotation_angle_deg(matrix: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(matrix[:3, :3]) - 1) / 2, -1, 1))))


def test_misalignment_is_recorded_and_self_consistent(subject_files: Callable[[int], dict[str, Path]]):
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
