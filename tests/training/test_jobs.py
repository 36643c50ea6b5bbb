"""The workflow's model jobs: no leakage, crops from stage 1 at validation, resume only of the same run, prediction files."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import write_nifti

from spinetumor.data.cordmask import make_cord_mask
from spinetumor.layout import preprocessed_file
from spinetumor.models.modelspec import resolve_model
from spinetumor.training.modelruns import (
    LeakageError,
    check_no_leakage,
    cord_source_roles,
    predict_cord_source,
    predict_subject,
    run_fingerprint,
    split_roles,
    train_cord_source,
    train_stage,
    unit_of_preproc,
)

SHAPE = (32, 32, 16)
STEPS = [{"name": "reorient", "axcodes": "SAR"}, {"name": "zscore", "nonzero": False}]


def tiny_cascade() -> dict:
    """The lemay2021 cascade, shrunk to a few seconds on 32 x 32 x 16 volumes."""
    small = {
        "patch_size": [32, 32, 16],
        "max_epochs": 2,
        "patience": 5,
        "augmentation": None,
        "lr": 0.01,
        "loss": "dice_bce",
        "batch_size": 2,
        "patches_per_volume": 2,
    }
    return resolve_model(
        "tiny",
        {
            "tiny": {
                "preset": "lemay2021",
                "chain": "tiny",
                "stages": {
                    "cord": {"network": {"depth": 2, "base_filters": 4}, "training": small},
                    "lesion": {"network": {"depth": 2, "base_filters": 4}, "training": small},
                },
                "inference": {"patch_size": [32, 32, 16], "overlap": 0.5, "crop_margin_mm": [2.0, 2.0, 2.0]},
                "postprocessing": {"min_size_mm3": {"tumor": 0.0, "edema": 0.0, "cavity": 0.0}},
            }
        },
    )


def write_unit(root: Path, subject: str, seed: int) -> Path:
    """Preprocessed files of one unit: a cord box with a bright 'tumour' inside; returns the T2w path."""
    rng = np.random.default_rng(seed)
    cord = np.zeros(SHAPE, np.uint8)
    cord[:, 12:20, 5:11] = 1
    dseg = np.zeros(SHAPE, np.uint8)
    dseg[10 + seed % 5 : 16 + seed % 5, 13:19, 6:10] = 1
    prefix = root / subject / "anat" / f"{subject}_desc-preproc"
    write_nifti(
        Path(f"{prefix}_T2w.nii.gz"), (rng.normal(0, 0.2, SHAPE) + cord + 2.0 * (dseg > 0)).astype(np.float32)
    )
    write_nifti(
        Path(f"{prefix}_T1w.nii.gz"), (rng.normal(0, 0.2, SHAPE) + 1.5 * (dseg > 0)).astype(np.float32)
    )
    write_nifti(Path(f"{prefix}_dseg.nii.gz"), dseg)
    write_nifti(Path(preprocessed_file(prefix, "cord")), cord)
    return Path(f"{prefix}_T2w.nii.gz")


@pytest.fixture
def study(tmp_path):
    """Five units, split 0: sub-1..3 train, sub-4 val, sub-5 test."""
    roles = {"sub-1": "train", "sub-2": "train", "sub-3": "train", "sub-4": "val", "sub-5": "test"}
    t2w = {s: write_unit(tmp_path / "prep", s, i) for i, s in enumerate(roles)}
    splits = tmp_path / "splits.tsv"
    pd.DataFrame({"subject": list(roles), "split": 0, "role": list(roles.values())}).to_csv(
        splits, sep="\t", index=False
    )
    return {"t2w": t2w, "roles": roles, "splits": splits, "root": tmp_path}


def test_split_roles_and_unit_names(study):
    assert split_roles(study["splits"], 0) == {
        "train": ["sub-1", "sub-2", "sub-3"],
        "val": ["sub-4"],
        "test": ["sub-5"],
    }
    with pytest.raises(ValueError, match="no split 3"):
        split_roles(study["splits"], 3)
    assert unit_of_preproc("/r/sub-01/ses-2/anat/sub-01_ses-2_desc-preproc_T2w.nii.gz") == (
        "sub-01_ses-2",
        "/r/sub-01/ses-2/anat/sub-01_ses-2_desc-preproc",
    )
    with pytest.raises(ValueError, match="not a preprocessed T2w"):
        unit_of_preproc("/r/sub-01_T2w.nii.gz")


def test_check_no_leakage_names_the_units():
    check_no_leakage(["sub-1", "sub-2_ses-1"], ["sub-3"], 0)
    with pytest.raises(LeakageError, match=r"split 2: test subject unit\(s\) \['sub-3_ses-1'\]"):
        check_no_leakage(["sub-1", "sub-3_ses-1"], ["sub-3"], 2)


def test_fingerprint_changes_with_settings_and_file_bytes(tmp_path):
    f = write_nifti(tmp_path / "a.nii.gz", np.zeros((2, 2, 2), np.uint8))
    one = run_fingerprint({"lr": 1e-3}, [f])
    assert one == run_fingerprint({"lr": 1e-3}, [f])
    assert one != run_fingerprint({"lr": 1e-2}, [f])
    write_nifti(f, np.ones((2, 2, 2), np.uint8))
    assert one != run_fingerprint({"lr": 1e-3}, [f])


def _train(
    study, model, stage, out, train=("sub-1", "sub-2", "sub-3"), val=("sub-4",), cord=None, predicted=()
):
    return train_stage(
        model,
        stage,
        0,
        STEPS,
        [str(study["t2w"][s]) for s in train],
        [str(study["t2w"][s]) for s in val],
        study["splits"],
        out / stage / "model.pt",
        out / stage / "summary.json",
        cord_model=cord,
        predicted_cords=predicted,
        threads=1,
        device="cpu",
    )


def test_a_test_subject_never_reaches_training(study, tmp_path):
    model = tiny_cascade()
    with pytest.raises(LeakageError, match="sub-5"):
        _train(study, model, "cord", tmp_path / "run", train=("sub-1", "sub-5"))
    with pytest.raises(LeakageError, match="sub-5"):
        _train(study, model, "cord", tmp_path / "run", val=("sub-5",))
    with pytest.raises(LeakageError, match="not a validation subject"):
        _train(study, model, "cord", tmp_path / "run", val=("sub-1",))
    assert not (tmp_path / "run" / "cord" / "model.pt").exists()


def test_cascade_trains_crops_from_stage1_at_validation_and_predicts_natively(study, tmp_path):
    model, out = tiny_cascade(), tmp_path / "run"
    cord = _train(study, model, "cord", out)
    assert cord["train_units"] == ["sub-1", "sub-2", "sub-3"] and cord["val_units"] == ["sub-4"]
    lesion = _train(study, model, "lesion", out, cord=out / "cord" / "model.pt")
    ckpt = torch.load(out / "lesion" / "model.pt", weights_only=True)
    assert ckpt["extra"]["train_subjects"] == ["sub-1", "sub-2", "sub-3"]
    assert ckpt["extra"]["val_subjects"] == ["sub-4"] and ckpt["extra"]["split"] == 0
    assert ckpt["extra"]["model_config"]["name"] == "tiny" and lesion["last_epoch"] == 2
    boxes = pd.read_csv(out / "lesion" / "crop_boxes.tsv", sep="\t")
    assert dict(zip(boxes.unit, boxes.source)) == {
        "sub-1": "label",
        "sub-2": "label",
        "sub-3": "label",
        "sub-4": "stage1",
    }
    for name in ("checkpoint_last.pt", "checkpoint_best.pt", "training_log.tsv"):
        assert (out / "lesion" / name).exists()

    # Prediction of the test unit: a native grid of its own (LPS, anisotropic voxels).
    prefix = str(study["t2w"]["sub-5"])[: -len("_T2w.nii.gz")]
    native = np.diag([-0.8, -0.8, 2.0, 1.0])
    t2w = write_nifti(
        tmp_path / "native" / "sub-5_T2w.nii.gz",
        nib.load(f"{prefix}_T2w.nii.gz").get_fdata().astype(np.float32),
        native,
    )
    t1w = write_nifti(
        tmp_path / "native" / "sub-5_T1w.nii.gz",
        nib.load(f"{prefix}_T1w.nii.gz").get_fdata().astype(np.float32),
        native,
    )
    pred_dir = tmp_path / "pred"
    sidecar = predict_subject(
        model,
        0,
        STEPS,
        t2w,
        t1w,
        {"cord": out / "cord" / "model.pt", "lesion": out / "lesion" / "model.pt"},
        pred_dir / "dseg.nii.gz",
        pred_dir / "dseg.json",
        out_cord=pred_dir / "cord.nii.gz",
        subject="sub-5",
        threads=1,
        device="cpu",
    )
    for name in ("dseg.nii.gz", "cord.nii.gz"):
        img = nib.load(str(pred_dir / name))
        assert img.shape == SHAPE and np.allclose(img.affine, native)
        assert img.get_data_dtype() == np.uint8
    assert set(np.unique(np.asarray(nib.load(str(pred_dir / "dseg.nii.gz")).dataobj))) <= {0, 1, 2, 3}
    assert json.loads((pred_dir / "dseg.json").read_text()) == json.loads(json.dumps(sidecar))
    assert sidecar["checkpoint_epochs"]["lesion"] == int(ckpt["epoch"]) and sidecar["split"] == 0
    assert sidecar["channels"] == ["tumor", "edema", "cavity", "whole"]


def _with_cord_training(model: dict, **changes) -> dict:
    stages = {
        **model["stages"],
        "cord": {
            "network": model["stages"]["cord"]["network"],
            "training": {**model["stages"]["cord"]["training"], **changes},
        },
    }
    entry = {k: model[k] for k in ("type", "chain", "inference", "postprocessing")}
    return resolve_model("tiny", {"tiny": {**entry, "stages": stages}})


def test_rerun_resumes_the_same_run_and_restarts_a_changed_one(study, tmp_path):
    model, out = tiny_cascade(), tmp_path / "run"
    assert _train(study, model, "cord", out)["epochs_this_job"] == 2
    # The same run again (a rerun after a kill): it resumes, and here nothing is left to do.
    again = _train(study, model, "cord", out)
    assert again["epochs_this_job"] == 0 and again["last_epoch"] == 2
    # Another learning rate is another run: it starts afresh rather than resuming.
    changed = _train(study, _with_cord_training(model, lr=0.005), "cord", out)
    assert changed["epochs_this_job"] == 2 and changed["last_epoch"] == 2


def test_a_predicted_cord_never_trains_a_cord_stage_and_is_cropped_by_stage1(study, tmp_path):
    model, out = tiny_cascade(), tmp_path / "run"
    with pytest.raises(ValueError, match=r"predicted cord masks \(\['sub-2'\]\)"):
        _train(study, model, "cord", out, predicted=("sub-2",))
    _train(study, model, "cord", out, train=("sub-1", "sub-3"), predicted=("sub-2",))
    _train(study, model, "lesion", out, cord=out / "cord" / "model.pt", predicted=("sub-2",))
    boxes = pd.read_csv(out / "lesion" / "crop_boxes.tsv", sep="\t")
    assert dict(zip(boxes.unit, boxes.source)) == {
        "sub-1": "label",
        "sub-2": "stage1",
        "sub-3": "label",
        "sub-4": "stage1",
    }


def test_cord_source_roles_keep_subjects_together():
    units = ["sub-1", "sub-2_ses-1", "sub-2_ses-2", "sub-3", "sub-4", "sub-5"]
    roles = cord_source_roles(units, 0.2, seed=0)
    assert roles == cord_source_roles(units, 0.2, seed=0)
    assert sorted(roles["train"] + roles["val"]) == units and len({u[:5] for u in roles["val"]}) == 1
    assert ("sub-2_ses-1" in roles["val"]) == ("sub-2_ses-2" in roles["val"])
    assert len(cord_source_roles(units, 0.0, seed=0)["val"]) >= 1  # at least one validation subject
    assert len(cord_source_roles(["sub-1", "sub-2"], 0.9, seed=0)["train"]) == 1  # and one training subject
    with pytest.raises(ValueError, match="at least 2 subjects"):
        cord_source_roles(["sub-1_ses-1", "sub-1_ses-2"], 0.2, seed=0)


def test_cord_source_model_learns_from_label_cords_and_writes_a_native_mask(study, tmp_path):
    model, out = tiny_cascade(), tmp_path / "cordsource"
    labelled = [str(study["t2w"][s]) for s in ("sub-1", "sub-2", "sub-3", "sub-4")]
    summary = train_cord_source(
        model,
        STEPS,
        labelled,
        out / "model.pt",
        out / "summary.json",
        val_fraction=0.25,
        seed=0,
        threads=1,
        device="cpu",
    )
    assert summary["purpose"] == "cord_source" and summary["split"] is None
    assert sorted(summary["train_units"] + summary["val_units"]) == ["sub-1", "sub-2", "sub-3", "sub-4"]
    assert len(summary["val_units"]) == 1 and json.loads((out / "summary.json").read_text()) == summary
    with pytest.raises(ValueError, match="not a cascade"):
        train_cord_source({**model, "type": "unet"}, STEPS, labelled, out / "x.pt", out / "x.json")

    # sub-5 has no cord label: its mask is predicted on its own native grid, then becomes its cord mask.
    prefix = str(study["t2w"]["sub-5"])[: -len("_T2w.nii.gz")]
    native = np.diag([-0.8, -0.8, 2.0, 1.0])
    t2w = write_nifti(
        tmp_path / "native" / "sub-5_T2w.nii.gz",
        nib.load(f"{prefix}_T2w.nii.gz").get_fdata().astype(np.float32),
        native,
    )
    pred, sidecar_path = tmp_path / "cord" / "sub-5_desc-tiny_mask.nii.gz", tmp_path / "cord" / "sub-5.json"
    sidecar = predict_cord_source(
        model, STEPS, t2w, out / "model.pt", pred, sidecar_path, subject="sub-5", threads=1, device="cpu"
    )
    img = nib.load(str(pred))
    assert img.shape == SHAPE and np.allclose(img.affine, native) and img.get_data_dtype() == np.uint8
    assert sidecar["model"] == "tiny" and sidecar["voxels"] == int(np.asarray(img.dataobj).sum())
    assert json.loads(sidecar_path.read_text()) == sidecar
    info = make_cord_mask(t2w, "model", str(pred), tmp_path / "mask.nii.gz", tmp_path / "mask.json")
    assert info["source"] == "model" and info["voxels"] == sidecar["voxels"]
