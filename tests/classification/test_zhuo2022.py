"""The deep classifier's job: test crops from the prediction, no test unit in training, its outputs."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

import spinetumor.classification.zhuo2022 as job
from spinetumor.classification.zhuo2022 import train_classifier
from spinetumor.training.roles import LeakageError
from tests.classification.zhuo import tiny_config

TYPES = ["astrocytoma", "ependymoma", "hemangioblastoma"]
BRIGHTNESS = {"astrocytoma": 3.0, "ependymoma": 0.2, "hemangioblastoma": 1.6}
SHAPE = (10, 40, 40)  # RAS, 1 mm
TASKS = {
    "type3": {"column": "pathology", "classes": TYPES},
    "ae": {"column": "pathology", "classes": TYPES[:2]},
}


def _save(root, name, data):
    path = str(root / f"{name}.nii.gz")
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    return path


def _unit(root, name, kind, role, lesion_si=slice(16, 22)):
    dseg = np.zeros(SHAPE, np.uint8)
    dseg[4:7, 18:22, lesion_si] = 1
    cord = np.zeros(SHAPE, np.uint8)
    cord[3:8, 17:23, 2:38] = 1
    t2w = np.ones(SHAPE, np.float32)
    t2w[dseg == 1] = BRIGHTNESS[kind]
    files = {
        key: _save(root, f"{name}_{key}", data)
        for key, data in {"dseg": dseg, "cord": cord, "T2w": t2w, "T1w": t2w}.items()
    }
    return {"unit": name, "participant": name, "role": role, "source": "reference", **files}


@pytest.fixture
def study(tmp_path):
    units, participants, splits = [], ["participant_id\tpathology"], ["subject\tsplit\trole"]
    for i in range(15):
        kind, role = TYPES[i % 3], ("test" if i >= 12 else ("val" if i >= 9 else "train"))
        units.append(_unit(tmp_path, f"sub-{i:02d}", kind, role))
        participants.append(f"sub-{i:02d}\t{kind}")
        splits.append(f"sub-{i:02d}\t0\t{role}")
    # The test units' label maps are the segmentation model's: lesions lower than their labels'.
    for u in units[12:]:
        u.update(dseg=_unit(tmp_path, u["unit"] + "_pred", "astrocytoma", "test", slice(6, 10))["dseg"])
        u["source"] = "cascade"
    (tmp_path / "participants.tsv").write_text("\n".join(participants) + "\n")
    (tmp_path / "splits.tsv").write_text("\n".join(splits) + "\n")
    outs = {k: tmp_path / "out" / f"{k}.tsv" for k in ("predictions", "crops", "log")}
    return units, tmp_path, outs | {"checkpoint": tmp_path / "out" / "model.pt"}


def _run(units, root, outs, update=None):
    config = tiny_config({"training": {"max_epochs": 2}} | (update or {}))
    return train_classifier(
        TASKS, 0, units, root / "participants.tsv", root / "splits.tsv", config, outs, threads=1
    )


def test_test_units_are_cropped_from_their_prediction_and_never_trained_on(study, monkeypatch):
    units, root, outs = study
    cropped, fitted = {}, []
    original_crop, original_fit = job.lesion_crop, job.fit

    def crop_spy(unit, images, *args):
        cropped[unit] = images["dseg"].get_filename()
        return original_crop(unit, images, *args)

    def fit_spy(train, val, *args, **kwargs):
        fitted.append((set(train.units), set(val.units)))
        return original_fit(train, val, *args, **kwargs)

    monkeypatch.setattr(job, "lesion_crop", crop_spy)
    monkeypatch.setattr(job, "fit", fit_spy)
    table = _run(units, root, outs)
    assert {u: f.endswith("_pred_dseg.nii.gz") for u, f in cropped.items()} == {
        u["unit"]: u["role"] == "test" for u in units
    }
    tests = {u["unit"] for u in units[12:]}
    assert len(fitted) == 2 and all(not (tests & (train | val)) for train, val in fitted)
    assert fitted[0] == ({f"sub-{i:02d}" for i in range(9)}, {"sub-09", "sub-10", "sub-11"})
    assert fitted[1][0] == {f"sub-{i:02d}" for i in range(9) if i % 3 != 2}  # the task's classes only
    crops = pd.read_csv(outs["crops"], sep="\t")
    assert (crops[crops.role == "test"].source == "cascade").all() and (crops.crop_from == "lesion").all()
    assert list(table.columns[:6]) == ["task", "model", "split", "subject", "participant", "true_class"]
    assert (table.model == "zhuo2022").all() and set(table.subject) == tests
    ae = table[table.task == "ae"]
    assert set(ae.true_class) <= set(TYPES[:2]) and ae.p_hemangioblastoma.isna().all()
    assert np.allclose(table[table.task == "type3"][[f"p_{t}" for t in TYPES]].sum(axis=1), 1)
    log = pd.read_csv(outs["log"], sep="\t")
    assert list(log.columns) == ["task", "epoch", "train_loss", "val_loss", "seconds"] and len(log) == 4
    checkpoint = torch.load(outs["checkpoint"], weights_only=False)
    assert set(checkpoint["tasks"]) == {"type3", "ae"} and checkpoint["split"] == 0
    assert checkpoint["tasks"]["ae"]["classes"] == TYPES[:2] and checkpoint["settings"]["dims"] == 2


def test_a_test_subject_among_the_training_units_stops_the_job(study):
    units, root, outs = study
    units[12]["role"] = "train"
    with pytest.raises(LeakageError, match="sub-12"):
        _run(units, root, outs)
    assert not outs["predictions"].exists()


def test_a_unit_without_lesion_is_cropped_around_its_cord_and_recorded(study, caplog):
    units, root, outs = study
    units[13]["dseg"] = _save(root, "empty_dseg", np.zeros(SHAPE, np.uint8))
    table = _run(units, root, outs, {"training": {"max_epochs": 1}})
    crops = pd.read_csv(outs["crops"], sep="\t").set_index("unit")
    assert crops.loc["sub-13", "crop_from"] == "cord" and crops.loc["sub-13", "samples"] == 1
    assert "sub-13: no lesion in its label map" in caplog.text
    assert "sub-13" in set(table.subject)  # still predicted, from the crop around its cord


def test_a_unit_without_lesion_or_cord_is_an_error_naming_it_and_its_label_map(study):
    units, root, outs = study
    empty = _save(root, "empty_dseg", np.zeros(SHAPE, np.uint8))
    units[3].update(dseg=empty, cord=_save(root, "empty_cord", np.zeros(SHAPE, np.uint8)))
    with pytest.raises(ValueError, match=f"sub-03: neither lesion nor cord.*label map {empty}"):
        _run(units, root, outs)
