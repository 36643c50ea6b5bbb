"""Training settings: defaults, checks, and the config schema that lists them (all torch-free)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
import yaml

from spinetumor.models.spec import ARCHITECTURES, NETWORK_DEFAULTS
from spinetumor.training.settings import (
    CHOICES,
    INPUTS,
    TARGETS,
    AugmentationSettings,
    TrainingSettings,
    training_defaults,
)
from tests.conftest import REPO

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def test_settings_defaults_follow_lemay():
    s = TrainingSettings.from_config({})
    assert (s.optimizer, s.lr, s.scheduler, s.max_epochs, s.patience, s.min_delta) == (
        "adam",
        1e-3,
        "cosine",
        200,
        50,
        0.001,
    )
    assert (s.augmentation.rotate_deg, s.augmentation.scale, s.augmentation.translate) == (5.0, 0.10, 0.03)
    assert (s.val_patch_overlap, s.val_blend, s.amp) == (0.5, "constant", "bf16")
    assert TrainingSettings.from_config({"augmentation": None, "amp": None}).augmentation.enabled is False
    assert TrainingSettings.from_config({"amp": None}).amp == "none"
    assert s.to_dict()["augmentation"]["rotate_deg"] == 5.0


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"learning_rate": 0.1}, "unknown key"),
        ({"augmentation": {"rotate": 5}}, "unknown key"),
        ({"targets": ["whole", "whole"]}, "twice"),
        ({"inputs": ["FLAIR"]}, "unknown inputs"),
        ({"inputs": "T2w"}, "must be a list"),
        ({"patch_size": [64, 64]}, "patch_size"),
        ({"batch_size": 0}, "batch_size"),
        ({"scheduler": "step"}, "scheduler"),
        ({"val_blend": "max"}, "val_blend"),
        ({"augmentation": {"prob": 2}}, "prob"),
    ],
)
def test_settings_errors(cfg, message):
    with pytest.raises(ValueError, match=message):
        TrainingSettings.from_config(cfg)


def test_training_defaults_are_the_settings_defaults_as_plain_values():
    assert training_defaults("lr", "patch_size", "augmentation") == {
        "lr": 1e-3,
        "patch_size": [128, 128, 32],
        "augmentation": {
            "rotate_deg": 5.0,
            "scale": 0.1,
            "translate": 0.03,
            "prob": 1.0,
            "flip_axes": [],
            "intensity_scale": 0.0,
            "intensity_shift": 0.0,
            "noise_std": 0.0,
        },
    }


def test_the_schema_lists_every_training_key_with_the_settings_default():
    defs = yaml.safe_load(SCHEMA.read_text())["$defs"]
    keys = defs["training"]["properties"]
    assert list(keys) == [f.name for f in dataclasses.fields(TrainingSettings)]
    defaults = TrainingSettings().to_dict()
    for key, spec in keys.items():
        # `x-default`, not `default`: the validator would write a default into the entry, over its preset.
        assert "default" not in spec, key
        if key != "augmentation":
            assert spec["x-default"] == defaults[key], key
    augmentation = keys["augmentation"]["properties"]
    assert list(augmentation) == [f.name for f in dataclasses.fields(AugmentationSettings)]
    assert {k: v["x-default"] for k, v in augmentation.items()} == defaults["augmentation"]
    for key, names in CHOICES.items():
        assert [n for n in keys[key]["enum"] if isinstance(n, str)] == list(names), key
    assert tuple(keys["inputs"]["items"]["enum"]) == INPUTS
    assert tuple(keys["targets"]["items"]["enum"]) == TARGETS


def test_the_schema_refuses_a_misspelt_key_and_writes_no_default_into_an_entry():
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    def config(training):
        stages = {"lesion": {"training": training}}
        return {"models": {"definitions": {"mine": {"preset": "lemay2021", "stages": stages}}}}

    good = config({"max_epochs": 3, "augmentation": {"prob": 0.5}})
    validate(good, str(SCHEMA))
    # The preset keeps every value the entry leaves out.
    assert good["models"]["definitions"]["mine"]["stages"]["lesion"]["training"] == {
        "max_epochs": 3,
        "augmentation": {"prob": 0.5},
    }
    with pytest.raises(WorkflowError, match="'lrr' was unexpected"):
        validate(config({"lrr": 0.1}), str(SCHEMA))


def test_the_schema_lists_every_network_key():
    network = yaml.safe_load(SCHEMA.read_text())["$defs"]["network"]["properties"]
    assert tuple(network["architecture"]["enum"]) == ARCHITECTURES
    keys = {"architecture", "in_channels", "out_channels", *(k for d in NETWORK_DEFAULTS.values() for k in d)}
    assert set(network) == keys


def test_settings_and_model_definitions_import_without_torch():
    code = (
        "import sys; import spinetumor.training.settings, spinetumor.models.definitions; "
        "assert not {'torch', 'monai'} & set(sys.modules), sorted(sys.modules)"
    )
    env_path = str(REPO / "workflow" / "scripts")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": env_path})
