"""ONNX networks in a model folder: exported beside each fold's weights, and the same probabilities as PyTorch."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from spinetumor.apply.ensemble import predict_folds, settings_of
from spinetumor.cli import main
from spinetumor.export.folder import open_model


@pytest.fixture(scope="module")
def onnx_folder(exported, tmp_path_factory):
    folder = shutil.copytree(exported["folder"], tmp_path_factory.mktemp("onnx") / "tiny")
    assert main(["export-onnx", "--model", str(folder), "-q"]) == 0
    return folder


def test_every_fold_and_stage_gets_an_onnx_network_in_the_manifest(onnx_folder):
    model = open_model(onnx_folder)  # the manifest was rewritten: every file checks
    names = {f"models/split-{k}/{s}.onnx" for k in (0, 1) for s in ("cord", "lesion")}
    assert names <= set(model.digests)
    assert model.weight_digests([0], onnx=True) == {
        n: model.digests[n] for n in sorted(names) if "split-0" in n
    }


def test_onnx_runtime_gives_pytorchs_probabilities(exported, onnx_folder):
    model = open_model(onnx_folder)
    cfg = settings_of(model, "cpu", 1)
    t2w, t1w = exported["scan"]["T2w"], exported["scan"]["T1w"]
    for fold in model.folds:
        ours, theirs = (predict_folds(model, [fold], t2w, t1w, cfg, onnx=onnx)[0] for onnx in (True, False))
        assert np.abs(ours["probabilities"] - theirs["probabilities"]).max() < 1e-4
        assert (
            np.array_equal(ours["cord_mask"], theirs["cord_mask"]) and ours["crop_box"] == theirs["crop_box"]
        )
        assert theirs["probabilities"].max() > 0.01  # not two empty maps


def test_predict_with_onnx_records_the_runtime_and_its_files(exported, onnx_folder, tmp_path):
    t2w, t1w = exported["scan"]["T2w"], exported["scan"]["T1w"]
    out = tmp_path / "out"
    argv = ["predict", "--model", str(onnx_folder), "--t2w", str(t2w), "--t1w", str(t1w), "--out", str(out)]
    assert main([*argv, "--onnx", "--folds", "1", "-q"]) == 0
    sidecar = json.loads((out / "sub-5_space-T2w_desc-tiny_dseg.json").read_text())
    assert sidecar["Runtime"] == "ONNX Runtime" and sidecar["Folds"] == [1]
    assert sorted(sidecar["ModelSHA256"]) == ["models/split-1/cord.onnx", "models/split-1/lesion.onnx"]


def test_onnx_without_exported_networks_says_what_to_run(exported, tmp_path, capsys):
    t2w, t1w = exported["scan"]["T2w"], exported["scan"]["T1w"]
    argv = ["predict", "--model", str(exported["folder"]), "--t2w", str(t2w), "--t1w", str(t1w)]
    assert main([*argv, "--out", str(tmp_path / "out"), "--onnx"]) == 2
    assert "run `spinetumor export-onnx --model" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_slice_by_slice_network_keeps_dynamic_axes_in_onnx(tmp_path):
    # The 2-D MultiResUNet reshapes B x slices into one batch: the export must not freeze either.
    import torch

    from spinetumor.export.onnx_networks import OnnxNetwork, _export_one
    from spinetumor.models.multiresunet import MultiResUNet, SliceWise

    torch.manual_seed(0)
    net = SliceWise(MultiResUNet(1, 4, filters=6, depth=2)).eval()
    assert _export_one(net, torch.randn(1, 1, 16, 16, 4), tmp_path / "net.onnx") < 1e-4
    other = torch.randn(2, 1, 24, 32, 7)
    with torch.inference_mode():
        expected = net(other).numpy()
    assert np.abs(OnnxNetwork(tmp_path / "net.onnx")(other).numpy() - expected).max() < 1e-4
