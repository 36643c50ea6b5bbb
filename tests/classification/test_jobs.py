"""One split's classifier job: features from the right label maps, and no test unit in training."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd

import spinetumor.classification.jobs as jobs
from spinetumor.classification.jobs import classify_split, task_counts

TYPES = ["astrocytoma", "ependymoma", "hemangioblastoma"]
ENHANCEMENT = {"astrocytoma": 1.1, "ependymoma": 1.8, "hemangioblastoma": 2.6}


def _unit(root, name, kind, role, tumour_voxels=8):
    shape = (12, 12, 12)
    dseg = np.zeros(shape, np.uint8)
    dseg[5:7, 5:7, 4 : 4 + tumour_voxels // 4] = 1
    cord = np.zeros(shape, np.uint8)
    cord[4:8, 4:8, 1:11] = 1
    t1w = np.ones(shape, np.float32)
    t1w[dseg == 1] = ENHANCEMENT[kind]
    files = {}
    for key, data in {"dseg": dseg, "cord": cord, "T1w": t1w, "T2w": np.ones(shape, np.float32)}.items():
        files[key] = str(root / f"{name}_{key}.nii.gz")
        nib.save(nib.Nifti1Image(data, np.eye(4)), files[key])
    return {"unit": name, "participant": name, "role": role, "source": "reference", **files}


def _study(tmp_path):
    units, rows = [], ["participant_id\tpathology"]
    for i in range(15):
        kind = TYPES[i % 3]
        role = "test" if i >= 12 else ("val" if i >= 9 else "train")
        units.append(_unit(tmp_path, f"sub-{i:02d}", kind, role))
        rows.append(f"sub-{i:02d}\t{kind}")
    participants = tmp_path / "participants.tsv"
    participants.write_text("\n".join(rows) + "\n")
    return units, participants


def test_test_units_are_predicted_from_their_prediction_and_never_trained_on(tmp_path, monkeypatch):
    units, participants = _study(tmp_path)
    # The test units' label maps are the segmentation model's: here a larger tumour core than the labels'.
    for u in units[12:]:
        predicted = _unit(tmp_path, u["unit"] + "pred", "astrocytoma", "test", tumour_voxels=16)
        u.update(dseg=predicted["dseg"], source="cascade")
    fitted = []
    original = jobs.fit_baseline

    def spy(features, classes, seed=0):
        fitted.append(set(features["unit"]))
        return original(features, classes, seed)

    monkeypatch.setattr(jobs, "fit_baseline", spy)
    tasks = {
        "type3": {"column": "pathology", "classes": TYPES},
        "ae": {"column": "pathology", "classes": TYPES[:2]},
    }
    table = classify_split(tasks, 0, units, participants, tmp_path / "f.tsv", tmp_path / "p.tsv")
    assert all(not ({u["unit"] for u in units[12:]} & used) for used in fitted) and len(fitted) == 2
    features = pd.read_csv(tmp_path / "f.tsv", sep="\t")
    test_rows = features[features.role == "test"]
    assert (test_rows.source == "cascade").all() and (test_rows.tumor_mm3 == 16).all()
    assert (features[features.role != "test"].tumor_mm3 == 8).all()
    type3 = table[table.task == "type3"]
    assert list(type3.subject) == ["sub-12", "sub-13", "sub-14"]
    assert set(table[table.task == "ae"].true_class) <= set(TYPES[:2])
    assert np.allclose(type3[[f"p_{t}" for t in TYPES]].sum(axis=1), 1)


def test_a_task_whose_class_has_no_training_unit_predicts_nothing(tmp_path, caplog):
    units, participants = _study(tmp_path)
    units = [
        u
        for u in units
        if not (u["role"] != "test" and u["participant"] in {"sub-02", "sub-05", "sub-08", "sub-11"})
    ]
    tasks = {
        "type3": {"column": "pathology", "classes": TYPES},
        "other": {"column": "grade", "classes": ["I", "II"]},
    }
    table = classify_split(tasks, 3, units, participants, tmp_path / "f.tsv", tmp_path / "p.tsv")
    assert table.empty
    assert "task type3, split 3: no training subject of class ['hemangioblastoma']" in caplog.text
    assert "has no column ['grade']" in caplog.text
    counts = task_counts(tasks, participants, {u["unit"]: u["participant"] for u in units})
    assert counts == {
        "type3": {"included": len(units), "left_out": 0},
        "other": {"included": 0, "left_out": len(units)},
    }
