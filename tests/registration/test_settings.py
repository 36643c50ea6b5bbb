"""Tests of spinetumor.registration.settings: the config section, its validation and its schema."""

from __future__ import annotations

import pytest
import yaml

from spinetumor.registration.settings import RegistrationSettings
from tests.conftest import REPO


def test_settings_from_config() -> None:
    assert RegistrationSettings.from_config(None) == RegistrationSettings()
    settings = RegistrationSettings.from_config(
        {"metric": "ANTS_CC", "shrink_factors": [2, 1], "smoothing_sigmas_mm": [1, 0], "learning_rate": 2}
    )
    assert settings.metric == "ants_cc"
    assert settings.shrink_factors == (2, 1) and settings.smoothing_sigmas_mm == (1.0, 0.0)
    assert settings.learning_rate == 2.0 and settings.mattes_bins == 32
    with pytest.raises(ValueError, match="metric 'mutual_info' is unknown"):
        RegistrationSettings.from_config({"metric": "mutual_info"})
    with pytest.raises(ValueError, match="stages"):
        RegistrationSettings.from_config({"stages": ["affine", "rigid"]})
    with pytest.raises(ValueError, match="equal length"):
        RegistrationSettings.from_config({"shrink_factors": [4, 2, 1], "smoothing_sigmas_mm": [1, 0]})
    with pytest.raises(ValueError, match="mattes_bins"):
        RegistrationSettings.from_config({"mattes_bins": 32.5})


def test_the_schema_defaults_are_the_settings_defaults() -> None:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    keys = schema["properties"]["registration"]["properties"]
    code = RegistrationSettings()
    for key, spec in keys.items():
        default = spec["default"]
        assert getattr(code, key) == (tuple(default) if isinstance(default, list) else default), key
    # Every failure check and the search can be set from the config.
    assert {"search_range_mm", "max_displacement_mm", "min_overlap", "min_mutual_information"} <= set(keys)


def test_the_new_checks_and_the_rotation_search_are_validated() -> None:
    with pytest.raises(ValueError, match="min_shared_fraction"):
        RegistrationSettings(min_shared_fraction=1.5)
    with pytest.raises(ValueError, match="min_rival_contrast"):
        RegistrationSettings(min_rival_contrast=-0.1)
    with pytest.raises(ValueError, match="search_rotation_deg"):
        RegistrationSettings(search_rotation_deg=-4.0)
    assert RegistrationSettings.from_config({"search_rotation_deg": 0}).search_rotation_deg == 0.0
