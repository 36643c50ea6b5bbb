"""Tests for spinetumor.inference.settings: defaults, validation, and no torch at import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from spinetumor.inference.settings import InferenceSettings, inference_settings
from spinetumor.preprocessing.chains import preset

SCRIPTS = Path(__file__).resolve().parents[2] / "workflow" / "scripts"


def test_default_settings_are_the_papers():
    cfg = inference_settings(None)
    assert cfg.patch_size == (128, 128, 32) and cfg.overlap == 0.5 and cfg.batch_size == 1
    assert cfg.contrasts == ("T1w", "T2w") and cfg.outputs == ("tumor", "edema", "cavity", "whole")
    assert [s["name"] for s in cfg.steps] == ["reorient", "resample", "zscore", "crop_pad"]
    assert cfg.postprocessing.min_size_mm3["tumor"] == 200.0
    assert inference_settings(cfg) is cfg


@pytest.mark.parametrize(
    "settings",
    [
        {"patch": [1, 2, 3]},
        {"overlap": 1.0},
        {"batch_size": 0},
        {"contrasts": ["T1w", "FLAIR"]},
        {"outputs": []},
        {"patch_size": [128, 128]},
        {"crop_margin_mm": [-1, 0, 0]},
        {"chain": "nope"},
        {"blend_mode": "max"},
        {"postprocessing": {"threshold": 2}},
    ],
)
def test_bad_settings_are_rejected(settings):
    with pytest.raises(ValueError):
        inference_settings(settings)


def test_scalar_margin_and_list_patch_are_normalised():
    cfg = inference_settings({"crop_margin_mm": 4, "patch_size": [64, 64, 16], "stage1_patch_size": None})
    assert cfg.crop_margin_mm == (4.0, 4.0, 4.0) and cfg.patch_size == (64, 64, 16)
    assert isinstance(cfg, InferenceSettings)


def test_chain_as_preset_name_dict_or_step_list():
    by_name = inference_settings({"chain": "stanford2023"}).steps
    by_dict = inference_settings({"chain": preset("stanford2023")}).steps
    by_list = inference_settings({"chain": preset("stanford2023")["steps"]}).steps
    assert by_name == by_dict == by_list and by_name[1]["name"] == "gamma"
    with pytest.raises(ValueError, match="unknown step"):
        inference_settings({"chain": [{"name": "blur"}]})


def test_settings_and_crop_import_and_validate_without_torch():
    # The workflow checks a model's settings at start, where torch must not be loaded.
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from spinetumor.inference.settings import inference_settings\n"
        "import spinetumor.inference.crop\n"
        "inference_settings({'chain': 'stanford2023', 'patch_size': [64, 64, 16]})\n"
        "assert 'monai' not in sys.modules and 'SimpleITK' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=SCRIPTS)


def test_the_schema_lists_every_settable_key_with_the_settings_default():
    import dataclasses

    import yaml

    from spinetumor.models.definitions import DERIVED_INFERENCE
    from tests.conftest import REPO

    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    keys = schema["$defs"]["inference"]["properties"]
    fields = [f for f in dataclasses.fields(InferenceSettings) if f.name not in DERIVED_INFERENCE]
    assert list(keys) == [f.name for f in fields]
    defaults = InferenceSettings()
    for field in fields:
        # `x-default`, not `default`: the validator would write it into the entry, over its preset.
        assert "default" not in keys[field.name], field.name
        value = getattr(defaults, field.name)
        expected = list(value) if isinstance(value, tuple) else value
        assert keys[field.name]["x-default"] == expected, field.name
    assert keys["blend_mode"]["enum"] == ["constant", "gaussian"]
