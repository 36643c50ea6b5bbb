"""The training jobs: units by id, no leakage, crops from stage 1 at validation, resume only of the same run."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from spinetumor import layout
from spinetumor.models.definitions import resolve_model
from spinetumor.training.jobs import train_cord_source, train_stage
from spinetumor.training.roles import LeakageError
from tests.modelstudy import STEPS, tiny_cascade, write_study


@pytest.fixture
def study(tmp_path):
    return write_study(tmp_path)


def _train(
    study,
    model,
    stage,
    out,
    train=("sub-1", "sub-2", "sub-3"),
    val=("sub-4",),
    cord=None,
    predicted=(),
    declared=None,
):
    return train_stage(
        model,
        stage,
        0,
        STEPS,
        study["chain_dir"],
        list(train),
        list(val),
        study["splits"],
        out / stage / layout.MODEL_FILE,
        out / stage / "summary.json",
        cord_model=cord,
        predicted_cords=predicted,
        declared_inputs=declared,
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
    with pytest.raises(ValueError, match="has no stage 'x'"):
        _train(study, model, "x", tmp_path / "run")
    assert not (tmp_path / "run" / "cord" / layout.MODEL_FILE).exists()


def test_the_units_files_are_named_from_their_ids_and_must_be_declared(study, tmp_path):
    declared = layout.unit_files(study["chain_dir"], ["sub-1", "sub-2", "sub-3"])
    with pytest.raises(ValueError, match=r"4 file\(s\) not among the rule's inputs.*sub-4_desc-preproc_T2w"):
        _train(study, tiny_cascade(), "cord", tmp_path / "run", declared=declared)
    assert not (tmp_path / "run" / "cord").exists()


def test_cascade_trains_and_crops_from_stage1_at_validation(study, tmp_path):
    model, out = tiny_cascade(), tmp_path / "run"
    declared = [
        str(study["splits"]),
        *layout.unit_files(study["chain_dir"], ["sub-1", "sub-2", "sub-3", "sub-4"]),
    ]
    cord = _train(study, model, "cord", out, declared=declared)
    assert cord["train_units"] == ["sub-1", "sub-2", "sub-3"] and cord["val_units"] == ["sub-4"]
    lesion = _train(study, model, "lesion", out, cord=out / "cord" / layout.MODEL_FILE)
    ckpt = torch.load(out / "lesion" / layout.MODEL_FILE, weights_only=True)
    assert ckpt["extra"]["train_subjects"] == ["sub-1", "sub-2", "sub-3"]
    assert ckpt["extra"]["val_subjects"] == ["sub-4"] and ckpt["extra"]["split"] == 0
    assert ckpt["extra"]["model_config"]["name"] == "tiny" and lesion["last_epoch"] == 2
    boxes = pd.read_csv(out / "lesion" / layout.CROP_BOXES, sep="\t")
    assert dict(zip(boxes.unit, boxes.source)) == {
        "sub-1": "label",
        "sub-2": "label",
        "sub-3": "label",
        "sub-4": "stage1",
    }
    for name in (layout.CHECKPOINT_LAST, layout.CHECKPOINT_BEST, layout.TRAINING_LOG):
        assert (out / "lesion" / name).exists()


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
    # Its summary still carries every epoch's curves (those of the first job too), as the log has them.
    log = pd.read_csv(out / "cord" / layout.TRAINING_LOG, sep="\t")
    assert again["curves"]["epoch"] == [1, 2] == log["epoch"].tolist()
    for column in ("train_loss", "val_loss", "val_dice_mean"):
        assert again["curves"][column] == log[column].tolist(), column
    # Another learning rate is another run: it starts afresh rather than resuming.
    changed = _train(study, _with_cord_training(model, lr=0.005), "cord", out)
    assert changed["epochs_this_job"] == 2 and changed["last_epoch"] == 2


def test_a_predicted_cord_never_trains_a_cord_stage_and_is_cropped_by_stage1(study, tmp_path):
    model, out = tiny_cascade(), tmp_path / "run"
    with pytest.raises(ValueError, match=r"predicted cord masks \(\['sub-2'\]\)"):
        _train(study, model, "cord", out, predicted=("sub-2",))
    _train(study, model, "cord", out, train=("sub-1", "sub-3"), predicted=("sub-2",))
    _train(study, model, "lesion", out, cord=out / "cord" / layout.MODEL_FILE, predicted=("sub-2",))
    boxes = pd.read_csv(out / "lesion" / layout.CROP_BOXES, sep="\t")
    assert dict(zip(boxes.unit, boxes.source)) == {
        "sub-1": "label",
        "sub-2": "stage1",
        "sub-3": "label",
        "sub-4": "stage1",
    }


def test_cord_source_model_learns_from_label_cords_outside_the_splits(study, tmp_path):
    model, out = tiny_cascade(), tmp_path / "cordsource"
    labelled = ["sub-1", "sub-2", "sub-3", "sub-4"]
    summary = train_cord_source(
        model,
        STEPS,
        study["chain_dir"],
        labelled,
        out / layout.MODEL_FILE,
        out / "summary.json",
        val_fraction=0.25,
        seed=0,
        declared_inputs=layout.unit_files(study["chain_dir"], labelled),
        threads=1,
        device="cpu",
    )
    assert summary["purpose"] == "cord_source" and summary["split"] is None
    assert sorted(summary["train_units"] + summary["val_units"]) == labelled
    assert len(summary["val_units"]) == 1 and json.loads((out / "summary.json").read_text()) == summary
    with pytest.raises(ValueError, match="not a cascade"):
        train_cord_source(
            {**model, "type": "unet"}, STEPS, study["chain_dir"], labelled, out / "x.pt", out / "x.json"
        )
    with pytest.raises(ValueError, match="not among the rule's inputs"):
        train_cord_source(
            model, STEPS, study["chain_dir"], labelled, out / "x.pt", out / "x.json", declared_inputs=[]
        )
