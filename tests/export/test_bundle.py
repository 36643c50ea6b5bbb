"""An exported model folder: a MONAI bundle that holds every fold's weights and every setting prediction needs."""

from __future__ import annotations

import json
import shutil

import pytest
from monai.bundle import ConfigParser

from spinetumor.export import bundle
from spinetumor.export.folder import ModelFolderError, open_model
from spinetumor.export.jobs import export_model
from spinetumor.models.definitions import resolve_model
from spinetumor.models.spec import downsampling_factors
from spinetumor.provenance import sha256_file
from tests.export.tinymodel import EXPORT_STEPS
from tests.modelstudy import tiny_cascade


def test_the_folder_holds_each_folds_weights_byte_for_byte(exported):
    folder, runs = exported["folder"], exported["runs"]
    manifest = json.loads((folder / "manifest.json").read_text())["files"]
    for split, stage, weights, summary in runs:
        assert manifest[f"models/split-{split}/{stage}.pt"] == sha256_file(weights)
        assert json.loads((folder / bundle.summary_path(split, stage)).read_text()) == json.loads(
            open(summary).read()
        )
    assert set(manifest) == {
        *(f"models/split-{k}/{s}.pt" for k in (0, 1) for s in ("cord", "lesion")),
        *(f"models/split-{k}/{s}_training_summary.json" for k in (0, 1) for s in ("cord", "lesion")),
        "configs/spinetumor.json",
        "configs/metadata.json",
        "docs/README.md",
    }


def test_the_config_is_enough_to_predict_without_the_study(exported):
    config = json.loads((exported["folder"] / bundle.CONFIG).read_text())
    model = tiny_cascade()
    assert config["model"] == json.loads(json.dumps(model)) and config["stages"] == ["cord", "lesion"]
    assert config["chain"] == EXPORT_STEPS and config["inference"]["chain"] == EXPORT_STEPS
    assert config["contrasts"] == ["T1w", "T2w"] and config["outputs"] == [
        "tumor",
        "edema",
        "cavity",
        "whole",
    ]
    assert config["inference"]["postprocessing"] == model["postprocessing"]
    assert config["inference"]["patch_size"] == [32, 32, 16] and "threads" not in config["inference"]
    assert config["registration"]["metric"] == "mattes" and config["registration"]["stages"] == [
        "rigid",
        "affine",
    ]
    assert config["folds"] == [0, 1] and config["format"] == bundle.FORMAT


def test_monai_reads_the_bundle_metadata(exported):
    meta = ConfigParser.load_config_file(str(exported["folder"] / bundle.METADATA))
    for key in (
        "version",
        "changelog",
        "monai_version",
        "pytorch_version",
        "numpy_version",
        "task",
        "description",
        "authors",
        "copyright",
        "network_data_format",
    ):
        assert meta[key], key
    image = meta["network_data_format"]["inputs"]["image"]
    assert image["num_channels"] == 2 and image["channel_def"] == {"0": "T1w", "1": "T2w"}
    pred = meta["network_data_format"]["outputs"]["pred"]
    assert pred["channel_def"] == {"0": "tumor", "1": "edema", "2": "cavity", "3": "whole"}
    import monai
    import torch

    assert meta["monai_version"] == monai.__version__ and meta["pytorch_version"] == torch.__version__
    readme = (exported["folder"] / bundle.README).read_text()
    assert "| 1 | lesion | 3 | 1 |" in readme and "spinetumor predict --model" in readme
    # The input shape the lesion network takes: each axis a multiple of its own downsampling.
    config = json.loads((exported["folder"] / bundle.CONFIG).read_text())
    spec = {"in_channels": 2, "out_channels": 4, **config["model"]["stages"]["lesion"]["network"]}
    expected = [f"{f}*n" for f in downsampling_factors(spec)]
    assert image["spatial_shape"] == pred["spatial_shape"] == expected


@pytest.mark.parametrize(("preset", "shape"), [("lemay2021", "16 16 16"), ("zhuo2022", "16 16 1")])
def test_the_metadatas_input_shape_follows_the_network(preset, shape):
    model = resolve_model(preset)
    training = model["stages"]["lesion"]["training"]
    config = {"model": model, "contrasts": training["inputs"], "outputs": training["targets"], "folds": [0]}
    meta = bundle.metadata(config, {}, "test")
    image = meta["network_data_format"]["inputs"]["image"]
    assert image["spatial_shape"] == [f"{n}*n" for n in shape.split()]


def test_open_model_checks_the_folder(exported, tmp_path):
    model = open_model(exported["folder"])
    assert (model.name, model.type, model.folds, model.contrasts) == (
        "tiny",
        "cascade",
        [0, 1],
        ["T2w", "T1w"],
    )
    assert model.select_folds("all") == [0, 1] and model.select_folds(1) == [1]
    with pytest.raises(ModelFolderError, match=r"no fold \[3\]; its folds are \[0, 1\]"):
        model.select_folds(3)
    copy = shutil.copytree(exported["folder"], tmp_path / "copy")
    (copy / bundle.CONFIG).write_text((copy / bundle.CONFIG).read_text().replace('"tiny"', '"edited"'))
    with pytest.raises(ModelFolderError, match="changed since export: configs/spinetumor.json"):
        open_model(copy)


def test_an_export_needs_every_stage_of_every_split(exported, tmp_path):
    runs = [run for run in exported["runs"] if run[:2] != (1, "cord")]
    with pytest.raises(
        ValueError, match=r"model 'tiny': export needs each split's \['cord', 'lesion'\] once"
    ):
        export_model(tiny_cascade(), EXPORT_STEPS, None, None, runs, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.iterdir())
