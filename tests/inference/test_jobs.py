"""The prediction jobs: a trained model's prediction and the cord-source mask on the unit's native grid."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from spinetumor import layout
from spinetumor.data.jobs import make_cord_mask
from spinetumor.inference.jobs import load_trained, predict_cord_source, predict_subject
from spinetumor.training.jobs import train_cord_source
from tests.modelstudy import NATIVE, SHAPE, STEPS, native_scan, tiny_cascade, train_split0, write_study


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The tiny cascade trained on split 0 (both stages) and as the cord source, with sub-5 on a native grid."""
    root = tmp_path_factory.mktemp("trained")
    study, model = write_study(root), tiny_cascade()
    stages = train_split0(study, model, root / "run")
    cord_source = root / "cordsource" / layout.MODEL_FILE
    labelled = ["sub-1", "sub-2", "sub-3", "sub-4"]
    train_cord_source(
        model, STEPS, study["chain_dir"], labelled, cord_source, root / "cordsource" / "s.json", threads=1
    )
    native = native_scan(study, root / "native")
    return {"model": model, "stages": stages, "cord_source": cord_source, "native": native}


def test_load_trained_gives_the_network_in_eval_mode(trained):
    network, ckpt = load_trained(trained["stages"]["cord"])
    assert not network.training and ckpt["extra"]["stage"] == "cord" and int(ckpt["epoch"]) == 2


def test_a_cascade_predicts_natively_with_its_cord(trained, tmp_path):
    model, pred_dir = trained["model"], tmp_path / "pred"
    t2w, t1w = trained["native"]["T2w"], trained["native"]["T1w"]
    sidecar = predict_subject(
        model,
        0,
        STEPS,
        t2w,
        t1w,
        trained["stages"],
        pred_dir / "sub-5_desc-tiny_dseg.nii.gz",
        pred_dir / "sub-5_desc-tiny_dseg.json",
        out_cord=pred_dir / "cord.nii.gz",
        out_probs=pred_dir / "sub-5_desc-tiny_probseg.nii.gz",
        subject="sub-5",
        threads=1,
        device="cpu",
    )
    for name in ("sub-5_desc-tiny_dseg.nii.gz", "cord.nii.gz"):
        img = nib.load(str(pred_dir / name))
        assert img.shape == SHAPE and np.allclose(img.affine, NATIVE)
        assert img.get_data_dtype() == np.uint8
    assert set(np.unique(np.asarray(nib.load(str(pred_dir / "sub-5_desc-tiny_dseg.nii.gz")).dataobj))) <= {
        0,
        1,
        2,
        3,
    }
    assert json.loads((pred_dir / "sub-5_desc-tiny_dseg.json").read_text()) == json.loads(json.dumps(sidecar))
    assert sidecar["checkpoint_epochs"] == {"cord": 2, "lesion": 2} and sidecar["split"] == 0
    # Each stage's digest is that of the weights file it loaded (two different files).
    assert sidecar["checkpoint_sha256"] == {
        stage: hashlib.sha256(Path(path).read_bytes()).hexdigest()
        for stage, path in trained["stages"].items()
    }
    assert sidecar["checkpoint_sha256"]["cord"] != sidecar["checkpoint_sha256"]["lesion"]
    assert sidecar["channels"] == ["tumor", "edema", "cavity", "whole"]
    assert sidecar["Sources"] == [str(t2w), str(t1w)]
    assert sidecar["probabilities"] == "sub-5_desc-tiny_probseg.nii.gz"
    assert nib.load(str(pred_dir / "sub-5_desc-tiny_probseg.nii.gz")).shape == (*SHAPE, 4)


def test_a_prediction_needs_every_trained_stage(trained, tmp_path):
    with pytest.raises(ValueError, match=r"sub-5: model 'tiny' needs trained stage\(s\) \['cord'\]"):
        predict_subject(
            trained["model"],
            0,
            STEPS,
            trained["native"]["T2w"],
            trained["native"]["T1w"],
            {"lesion": trained["stages"]["lesion"]},
            tmp_path / "d_dseg.nii.gz",
            tmp_path / "d.json",
            subject="sub-5",
        )


def test_a_failed_prediction_names_the_unit_and_the_file(trained, tmp_path):
    missing = tmp_path / "absent_T2w.nii.gz"
    with pytest.raises(ValueError, match=r"sub-5: prediction with model 'tiny' failed on .*absent_T2w"):
        predict_subject(
            trained["model"],
            0,
            STEPS,
            missing,
            trained["native"]["T1w"],
            trained["stages"],
            tmp_path / "d_dseg.nii.gz",
            tmp_path / "d.json",
            subject="sub-5",
        )


def test_the_cord_source_model_writes_a_native_mask(trained, tmp_path):
    t2w = trained["native"]["T2w"]
    pred, sidecar_path = tmp_path / "cord" / "sub-5_desc-tiny_mask.nii.gz", tmp_path / "cord" / "sub-5.json"
    sidecar = predict_cord_source(
        trained["model"],
        STEPS,
        t2w,
        trained["cord_source"],
        pred,
        sidecar_path,
        subject="sub-5",
        threads=1,
        device="cpu",
    )
    img = nib.load(str(pred))
    assert img.shape == SHAPE and np.allclose(img.affine, NATIVE) and img.get_data_dtype() == np.uint8
    assert sidecar["model"] == "tiny" and sidecar["voxels"] == int(np.asarray(img.dataobj).sum())
    assert (
        sidecar["checkpoint"] == str(trained["cord_source"])
        and json.loads(sidecar_path.read_text()) == sidecar
    )
    # It becomes the unit's cord mask (cord source 'model').
    info = make_cord_mask(t2w, "model", str(pred), tmp_path / "mask.nii.gz", tmp_path / "mask.json")
    assert info["source"] == "model" and info["voxels"] == sidecar["voxels"]
    assert Path(tmp_path / "mask.nii.gz").exists()
