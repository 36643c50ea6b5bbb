"""Preprocessing chains as data: the presets' steps and parameters, and validation naming the bad step."""

from __future__ import annotations

import logging

import pytest
import yaml

from spinetumor.preprocessing.chains import (
    RAS_LABELS,
    SPATIAL_STEPS,
    STEP_NAMES,
    normalise_chain,
    preset,
    validate_chain,
)


def test_presets_are_deep_copies_valid_and_yaml_friendly():
    lemay = preset("lemay2021")
    assert [s["name"] for s in lemay["steps"]] == ["reorient", "resample", "zscore", "crop_pad"]
    assert lemay["steps"][0]["axcodes"] == "SAR"
    assert lemay["steps"][1]["spacing_mm"] == [1.0, 1.0, 2.0]
    assert lemay["steps"][3]["shape"] == [512, 256, 32]
    stanford = preset("stanford2023")
    assert [s["name"] for s in stanford["steps"]] == [
        "reorient",
        "gamma",
        "n4",
        "scale_intensity",
        "resize",
        "pad",
    ]
    lemay["steps"].clear()
    assert len(preset("lemay2021")["steps"]) == 4
    for name in ("lemay2021", "stanford2023"):
        chain = preset(name)
        validate_chain(chain["steps"])
        assert yaml.safe_load(yaml.safe_dump(chain)) == chain
    assert set(STEP_NAMES) >= {
        "reorient",
        "resample",
        "resize",
        "crop_pad",
        "pad",
        "gamma",
        "n4",
        "scale_intensity",
        "zscore",
        "clip_percentiles",
    }
    with pytest.raises(ValueError, match="unknown preprocessing preset"):
        preset("nnunet")


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"name": "blur"}], "unknown step name 'blur'"),
        ([{"axcodes": "SAR"}], "unknown step name None"),
        ("reorient", "must be a list"),
        ([{"name": "reorient", "axcodes": "SAR", "foo": 1}], r"unknown parameter\(s\) \['foo'\]"),
        ([{"name": "reorient"}], "missing required parameter 'axcodes'"),
        ([{"name": "reorient", "axcodes": "SSR"}], "exactly one of P/A"),
        ([{"name": "resample", "spacing_mm": [1, 1]}], "must have 3 entries"),
        ([{"name": "resample", "spacing_mm": [1, -1, 2]}], r"spacing_mm\[1\]: must be a positive number"),
        ([{"name": "crop_pad", "shape": [512, 256.5, 32]}], "positive integer"),
        ([{"name": "crop_pad", "shape": [True, 2, 3]}], "positive integer"),
        ([{"name": "resize", "shape": [128, 0, -1]}], "positive integer"),
        ([{"name": "gamma", "gamma": 0}], "positive number"),
        ([{"name": "n4", "iterations": []}], "must not be empty"),
        ([{"name": "n4", "mask": "brain"}], "must be one of"),
        ([{"name": "zscore", "nonzero": "yes"}], "true or false"),
        ([{"name": "scale_intensity", "minv": 1.0, "maxv": 0.0}], "minv .* must be below maxv"),
        ([{"name": "clip_percentiles", "lower": 99, "upper": 1}], "lower .* must be below upper"),
        ([{"name": "zscore"}, {"name": "pad"}], r"step 1 \(pad\): missing required parameter 'shape'"),
    ],
)
def test_validate_chain_rejects_bad_steps(steps, message):
    with pytest.raises(ValueError, match=message):
        validate_chain(steps)


def test_validate_chain_accepts_preset_mapping_and_defaults():
    validate_chain(preset("stanford2023"))
    validate_chain([{"name": "n4"}, {"name": "resize", "shape": [64, 64, -1]}, {"name": "clip_percentiles"}])


def test_preset_steps_and_parameters():
    assert preset("lemay2021") == {
        "steps": [
            {"name": "reorient", "axcodes": "SAR"},
            {"name": "resample", "spacing_mm": [1.0, 1.0, 2.0]},
            {"name": "zscore", "nonzero": False},
            {"name": "crop_pad", "shape": [512, 256, 32]},
        ]
    }
    assert preset("stanford2023") == {
        "steps": [
            {"name": "reorient", "axcodes": "SAR"},
            {"name": "gamma", "gamma": 1.5},
            {
                "name": "n4",
                "shrink_factor": 4,
                "iterations": [50, 50, 30],
                "convergence": 0.001,
                "mask": "otsu",
            },
            {"name": "scale_intensity", "minv": 0.0, "maxv": 1.0},
            {"name": "resize", "shape": [128, 128, -1], "anti_aliasing": False},
            {"name": "pad", "shape": [128, 128, 32]},
        ]
    }
    # The presets spell out every parameter: normalising them changes nothing.
    for name in ("lemay2021", "stanford2023"):
        assert normalise_chain(preset(name)) == preset(name)["steps"]


def test_step_kinds():
    assert STEP_NAMES == (
        "reorient",
        "resample",
        "resize",
        "crop_pad",
        "pad",
        "gamma",
        "n4",
        "scale_intensity",
        "zscore",
        "clip_percentiles",
    )
    assert SPATIAL_STEPS == {"reorient", "resample", "resize", "crop_pad", "pad"}
    assert RAS_LABELS == (("L", "R"), ("P", "A"), ("I", "S"))


def test_normalise_chain_fills_defaults_and_converts_values():
    steps = normalise_chain(
        [
            {"name": "reorient", "axcodes": "sar"},
            {"name": "resample", "spacing_mm": (1, 1, 2)},
            {"name": "n4"},
            {"name": "resize", "shape": [64, 64, -1]},
            {"name": "clip_percentiles", "upper": 99},
            {"name": "scale_intensity"},
        ]
    )
    assert steps == [
        {"name": "reorient", "axcodes": "SAR"},
        {"name": "resample", "spacing_mm": [1.0, 1.0, 2.0]},
        {"name": "n4", "shrink_factor": 4, "iterations": [50, 50, 30], "convergence": 0.001, "mask": "otsu"},
        {"name": "resize", "shape": [64, 64, -1], "anti_aliasing": False},
        {"name": "clip_percentiles", "lower": 0.5, "upper": 99.0, "nonzero": False},
        {"name": "scale_intensity", "minv": 0.0, "maxv": 1.0},
    ]
    assert isinstance(steps[1]["spacing_mm"][0], float) and isinstance(steps[4]["upper"], float)
    # Defaults are copies: changing one chain's list leaves the next one alone.
    steps[2]["iterations"].append(10)
    assert normalise_chain([{"name": "n4"}])[0]["iterations"] == [50, 50, 30]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"name": "zscore"}, "pad"], r"^step 1: must be a mapping with a 'name', got 'pad'$"),
        ({"chain": []}, r"a chain mapping needs a 'steps' list, got keys \['chain'\]"),
        (
            [{"name": "zscore"}, {"name": "resize", "shape": [1, 2]}],
            r"^step 1 \(resize\)\.shape: must have 3 entries",
        ),
        (
            [{"name": "zscore"}, {"name": "gamma", "gamma": float("nan")}],
            r"^step 1 \(gamma\)\.gamma: must be a positive",
        ),
        (
            [{"name": "n4", "iterations": [50, 0]}],
            r"^step 0 \(n4\)\.iterations\[1\]: must be a positive integer",
        ),
        (
            [{"name": "clip_percentiles", "upper": 101}],
            r"^step 0 \(clip_percentiles\)\.upper: must lie in \[0, 100\]",
        ),
        (
            [{"name": "reorient", "axcodes": "SA"}],
            r"^step 0 \(reorient\)\.axcodes: axcodes must be a 3-letter string",
        ),
        (
            [{"name": "scale_intensity", "minv": "0"}],
            r"^step 0 \(scale_intensity\)\.minv: must be a finite number",
        ),
    ],
)
def test_errors_name_the_bad_step_and_parameter(steps, message):
    with pytest.raises(ValueError, match=message):
        normalise_chain(steps)


def test_intensity_steps_after_padding_are_warned_about(caplog):
    with caplog.at_level(logging.WARNING, logger="spinetumor.preprocessing.chains"):
        normalise_chain([{"name": "zscore"}, {"name": "pad", "shape": [4, 4, 4]}])
    assert not caplog.records
    with caplog.at_level(logging.WARNING, logger="spinetumor.preprocessing.chains"):
        normalise_chain(
            [{"name": "pad", "shape": [4, 4, 4]}, {"name": "reorient", "axcodes": "RAS"}, {"name": "zscore"}]
        )
    assert [r.getMessage() for r in caplog.records] == [
        "step 2 (zscore) runs after zero padding: padded voxels enter its statistics"
    ]
