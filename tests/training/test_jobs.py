"""The training jobs: units by id, no leakage, crops from stage 1 at validation, resume only of the same run."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from spinetumor import layout, provenance
from spinetumor.models.definitions import resolve_model
from spinetumor.training.jobs import train_cord_source, train_stage
from spinetumor.training.roles import LeakageError
from tests.modelstudy import ROLES, STEPS, tiny_cascade, write_study


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
    # The written summary names the code and the libraries that trained the run.
    written = json.loads((out / "lesion" / "summary.json").read_text())
    assert written["code_version"] == provenance.code_version()
    assert written["libraries"] == provenance.library_versions()
    assert written["libraries"]["torch"] == torch.__version__


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


def _two_chain_study(root):
    """Units on a 1 mm lesion grid of 64 x 64 x 32 and, for the cord stage, a 2 mm grid of 32 x 32 x 16."""
    from pathlib import Path

    import numpy as np

    from tests.conftest import write_nifti

    fine, coarse = {}, {}
    for i, unit in enumerate(ROLES):
        rng = np.random.default_rng(i)
        cord = np.zeros((64, 64, 32), np.uint8)
        cord[:, 24:40, 10:22] = 1
        dseg = np.zeros_like(cord)
        dseg[20 + 4 * i : 32 + 4 * i, 26:38, 12:20] = 1 + i % 2  # tumour or edema, moving along the cord
        volumes = {
            "T2w": rng.normal(0, 0.2, cord.shape) + cord + 1.5 * (dseg == 2),
            "T1w": rng.normal(0, 0.2, cord.shape) + 1.5 * (dseg == 1),
            "dseg": dseg,
            "cord": cord,
        }
        fine[unit] = layout.preprocessed_prefix(root / "fine", unit)
        coarse[unit] = layout.preprocessed_prefix(root / "coarse", unit)
        half = np.diag([2.0, 2.0, 2.0, 1.0])
        half[:3, 3] = 0.5
        for kind, data in volumes.items():
            dtype = np.float32 if kind in ("T2w", "T1w") else np.uint8
            write_nifti(Path(layout.preprocessed_file(fine[unit], kind)), data.astype(dtype))
            write_nifti(
                Path(layout.preprocessed_file(coarse[unit], kind)), data[::2, ::2, ::2].astype(dtype), half
            )
    return fine, coarse


def test_fastcascade_learns_a_tiny_study_with_its_cord_stage_on_a_coarse_grid(tmp_path):
    # The preset's networks (depth 4, 8 and 16 base filters, deep supervision) and its inference
    # (stage 1 on its own grid, one window fitted to the cord's box), on volumes of seconds.
    fine, coarse = _two_chain_study(tmp_path)
    small = {"max_epochs": 8, "patience": 8, "lr": 0.01, "loss": "dice_bce", "augmentation": None}
    model = resolve_model(
        "fast",
        {
            "fast": {
                "preset": "fastcascade",
                "chain": "tiny",
                "stages": {
                    "cord": {"chain": "tinycoarse", "training": {**small, "patch_size": [32, 32, 16]}},
                    "lesion": {
                        "training": {
                            **small,
                            "patch_size": [32, 32, 16],
                            "batch_size": 2,
                            "patches_per_volume": 4,
                        }
                    },
                },
                "inference": {"crop_margin_mm": [2.0, 2.0, 2.0]},
                "postprocessing": {"min_size_mm3": {"tumor": 0.0, "edema": 0.0, "cavity": 0.0}},
            }
        },
    )
    splits = tmp_path / "splits.tsv"
    pd.DataFrame({"subject": list(ROLES), "split": 0, "role": list(ROLES.values())}).to_csv(
        splits, sep="\t", index=False
    )
    train, val, out = ["sub-1", "sub-2", "sub-3"], ["sub-4"], tmp_path / "run"

    def run(stage, chain_dir, **kwargs):
        target = out / stage / layout.MODEL_FILE
        return train_stage(
            model,
            stage,
            0,
            STEPS,
            chain_dir,
            train,
            val,
            splits,
            target,
            out / stage / "s.json",
            threads=2,
            device="cpu",
            **kwargs,
        )

    cord = run("cord", tmp_path / "coarse")
    # CPU training is deterministic: this run gives 0.82 and 0.58.
    assert cord["best_metric"] > 0.75, cord  # the validation unit's cord on the 2 mm grid
    lesion = run(
        "lesion",
        tmp_path / "fine",
        cord_model=out / "cord" / layout.MODEL_FILE,
        cord_chain=(STEPS, tmp_path / "coarse"),
    )
    boxes = pd.read_csv(out / "lesion" / layout.CROP_BOXES, sep="\t")
    print(f"cord Dice {cord['best_metric']:.3f}, lesion Dice {lesion['best_metric']:.3f}", boxes.to_string())
    assert boxes.set_index("unit").source["sub-4"] == "stage1" and boxes.lesion_inside.min() == 1.0
    assert lesion["best_metric"] > 0.45, lesion  # the validation unit's edema (and whole), cropped by stage 1
