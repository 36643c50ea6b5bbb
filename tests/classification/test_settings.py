"""The deep classifier's settings: the schema's defaults (the paper's), the checks, the demo's overlay."""

from __future__ import annotations

import pytest
from snakemake.exceptions import WorkflowError

from spinetumor.classification.settings import zhuo2022_settings
from spinetumor.study import classifier_settings, demo_study
from tests.classification.zhuo import zhuo_config


def test_the_schema_defaults_are_the_papers_densenet_on_2d_t2w():
    settings = zhuo2022_settings(zhuo_config())
    assert (settings.dims, settings.contrasts) == (2, ("T2w",))
    assert (settings.init_features, settings.growth_rate) == (64, 32)
    assert settings.input_shape == settings.crop_shape[:2]
    assert zhuo2022_settings(zhuo_config({"dims": 3, "crop_shape": [64, 64, 32]})).input_shape == (64, 64, 32)


def test_an_unknown_key_is_refused_by_the_schema():
    with pytest.raises(WorkflowError, match="init_feature"):
        zhuo_config({"network": {"init_feature": 8}})


def test_crops_the_network_cannot_take_and_missing_flip_axes_are_errors():
    with pytest.raises(ValueError, match=r"3D input \[128, 64, 16\] needs at least 32"):
        zhuo2022_settings(zhuo_config({"dims": 3}))
    with pytest.raises(ValueError, match=r"flip_axes \[2\]: a 2D input"):
        zhuo2022_settings(zhuo_config({"training": {"augmentation": {"flip_axes": [2]}}}))


def test_the_demo_narrows_the_densenet_under_the_studys_own_keys():
    validated, own = zhuo_config({"network": {"growth_rate": 12}}), {"network": {"growth_rate": 12}}
    demo = demo_study()["classification"]["zhuo2022"]
    on_demo, notes = classifier_settings(validated, own, is_demo=True)
    assert on_demo["network"]["init_features"] == demo["network"]["init_features"] != 64
    assert on_demo["network"]["growth_rate"] == 12 and notes
    assert on_demo["dims"] == 2  # a key neither sets: the schema's
    zhuo2022_settings(on_demo)  # the demo's values pass the checks
    assert zhuo_config(demo)["network"]["init_features"] == demo["network"]["init_features"]  # and the schema
    own_data, notes = classifier_settings(validated, own, is_demo=False)
    assert own_data == validated and not notes
