"""Model definitions: presets hold the papers' values, entries merge over them, errors name the model."""

from __future__ import annotations

import pytest

from spinetumor.inference.settings import inference_settings
from spinetumor.models.definitions import (
    deep_merge,
    inference_config,
    model_stages,
    predicted_labels,
    resolve_model,
    stage_chain,
)
from spinetumor.models.networks import build_network
from spinetumor.models.presets import PRESETS
from spinetumor.models.spec import check_patch_divisible, resolve_spec
from spinetumor.preprocessing.chains import preset as chain_preset
from spinetumor.study import study_models
from spinetumor.training.settings import TrainingSettings


def test_deep_merge_merges_mappings_and_replaces_lists():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 3}
    merged = deep_merge(base, {"a": {"c": [9]}, "e": 4})
    assert merged == {"a": {"b": 1, "c": [9]}, "d": 3, "e": 4}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 3}  # untouched


def test_lemay2021_preset_holds_the_papers_values():
    model = resolve_model("lemay2021")
    assert model["type"] == "cascade" and model_stages(model) == ("cord", "lesion")
    cord, lesion = model["stages"]["cord"], model["stages"]["lesion"]
    assert cord["network"] == {
        "architecture": "dynunet",
        "depth": 4,
        "base_filters": 8,
        "deep_supervision": True,
        "in_channels": 1,
        "out_channels": 1,
    }
    assert cord["training"]["patch_size"] == [512, 256, 32] and cord["training"]["batch_size"] == 1
    assert lesion["network"]["base_filters"] == 16 and lesion["network"]["out_channels"] == 4
    assert lesion["training"]["inputs"] == ["T1w", "T2w"]
    assert lesion["training"]["targets"] == ["tumor", "edema", "cavity", "whole"]
    assert lesion["training"]["patch_size"] == [128, 128, 32] and lesion["training"]["batch_size"] == 8
    for stage in (cord, lesion):
        t = stage["training"]
        assert (t["lr"], t["max_epochs"], t["patience"], t["min_delta"]) == (1e-3, 200, 50, 0.001)
        # The paper's affine, and none of our mirroring or intensity changes.
        aug = t["augmentation"]
        paper = {"rotate_deg": 5.0, "scale": 0.10, "translate": 0.03, "prob": 1.0}
        assert {k: aug[k] for k in paper} == paper and aug["flip_axes"] == []
        assert aug["intensity_scale"] == aug["intensity_shift"] == aug["noise_std"] == 0.0
        assert t.get("loss", "dice") == "dice"
    assert model["postprocessing"]["min_size_mm3"] == {"tumor": 200.0, "edema": 500.0, "cavity": 500.0}
    cfg = inference_settings(inference_config(model, chain_preset("lemay2021")["steps"]))
    # Published post-processing: every sigmoid channel thresholded at 0.5 on its own.
    assert model["postprocessing"]["assemble"] == "independent"
    assert cfg.postprocessing.assemble == "independent" and cfg.postprocessing.threshold == 0.5
    assert resolve_model("lemay2021single")["postprocessing"]["assemble"] == "independent"
    assert cfg.patch_size == (128, 128, 32) and cfg.overlap == (0.5, 0.5, 0.0)  # stride 64 x 64 x 32


def test_stanford2023_preset_is_the_monai_unet_on_t1w():
    model = resolve_model("stanford2023")
    lesion = model["stages"]["lesion"]
    assert model["type"] == "unet" and model["chain"] == "stanford2023"
    assert lesion["network"]["channels"] == [16, 32, 64, 128, 256] and lesion["network"]["strides"] == [
        2,
        2,
        2,
        2,
    ]
    assert lesion["training"]["inputs"] == ["T1w"] and lesion["training"]["max_epochs"] == 400


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_trains_and_infers(name):
    model = resolve_model(name)
    for stage in model_stages(model):
        spec = resolve_spec(model["stages"][stage]["network"])
        settings = TrainingSettings.from_config(model["stages"][stage]["training"])
        check_patch_divisible(spec, settings.patch_size)
        assert build_network(spec) is not None
    stage1 = stage_chain(model, "cord") if "cord" in model["stages"] else model["chain"]
    stage1_steps = chain_preset(stage1)["steps"] if stage1 != model["chain"] else None
    inference_settings(
        inference_config(model, chain_preset(model["chain"])["steps"], stage1_chain_steps=stage1_steps)
    )


def test_fastcascade_is_lemay2021_with_a_coarse_cord_stage_and_one_fitted_window():
    fast, lemay = resolve_model("fastcascade"), resolve_model("lemay2021")
    lesion = fast["stages"]["lesion"]
    assert (
        lesion["training"].pop("val_window") == "whole"
        and "val_window" not in lemay["stages"]["lesion"]["training"]
    )
    assert lesion == lemay["stages"]["lesion"] and fast["chain"] == "lemay2021"
    assert fast["postprocessing"] == lemay["postprocessing"]
    assert stage_chain(fast, "cord") == "cordcoarse"
    coarse, published = chain_preset("cordcoarse")["steps"], chain_preset("lemay2021")["steps"]
    assert coarse[1]["spacing_mm"] == [2.0, 2.0, 4.0]
    # The same field of view as lemay2021's (512 x 256 x 64 mm), at half the resolution.
    extent = [n * s for n, s in zip(coarse[3]["shape"], coarse[1]["spacing_mm"])]
    assert extent == [n * s for n, s in zip(published[3]["shape"], published[1]["spacing_mm"])]
    assert fast["stages"]["cord"]["training"]["patch_size"] == coarse[3]["shape"]
    cord = {k: v for k, v in fast["stages"]["cord"]["training"].items() if k != "patch_size"}
    assert cord == {k: v for k, v in lemay["stages"]["cord"]["training"].items() if k != "patch_size"}
    assert fast["inference"]["patch_size"] is None and fast["inference"]["window_multiple"] == [16, 16, 16]


def test_the_demo_studys_models_resolve_and_fit_their_chains():
    study = study_models({"run": None, "definitions": {}}, {"run": [], "chains": {}}, is_demo=True)
    for name in study.run:
        model = resolve_model(name, study.definitions)
        steps = study.chains[model["chain"]]["steps"]
        for stage in model_stages(model):
            spec = resolve_spec(model["stages"][stage]["network"])
            check_patch_divisible(
                spec, TrainingSettings.from_config(model["stages"][stage]["training"]).patch_size
            )
        inference_settings(inference_config(model, steps))
    # The demo entries shrink the presets but keep their architecture.
    cascade = resolve_model("cascade", study.definitions)
    assert cascade["type"] == "cascade" and cascade["stages"]["cord"]["network"]["base_filters"] == 8
    assert cascade["preset"] == "lemay2021"


def test_an_entry_changes_only_what_it_gives():
    model = resolve_model(
        "mine", {"mine": {"preset": "lemay2021", "stages": {"lesion": {"training": {"lr": 0.01}}}}}
    )
    assert model["name"] == "mine" and model["stages"]["lesion"]["training"]["lr"] == 0.01
    assert model["stages"]["lesion"]["training"]["batch_size"] == 8
    assert PRESETS["lemay2021"]["stages"]["lesion"]["training"]["lr"] == 1e-3


@pytest.mark.parametrize(
    "definitions, message",
    [
        ({}, "not defined under models.definitions"),
        ({"m": {"preset": "nnunet"}}, "unknown preset 'nnunet'"),
        ({"m": {"preset": "lemay2021", "epochs": 3}}, "unknown key(s) ['epochs']"),
        ({"m": {"preset": "lemay2021", "type": "unet"}}, "a unet model has the stage(s) ['lesion']"),
        ({"m": {"preset": "stanford2023", "inference": {"chain": "x"}}}, "inference.chain comes from"),
        (
            {"m": {"preset": "lemay2021", "stages": {"cord": {"training": {"targets": ["whole"]}}}}},
            "cord stage must have targets [cord]",
        ),
        (
            {"m": {"preset": "lemay2021", "stages": {"lesion": {"network": {"out_channels": 2}}}}},
            "in/out channels must match",
        ),
        ({"m": {"type": "cascade", "chain": "lemay2021"}}, "has the stage(s) ['cord', 'lesion']"),
        # Each stage's settings and network are checked as its training job will check them.
        (
            {"m": {"preset": "lemay2021", "stages": {"lesion": {"training": {"lrr": 0.1}}}}},
            "stage 'lesion': training settings: unknown key(s) ['lrr']",
        ),
        (
            {"m": {"preset": "stanford2023", "stages": {"lesion": {"training": {"batch_size": 0}}}}},
            "stage 'lesion': training settings: batch_size must be an integer >= 1",
        ),
        (
            {"m": {"preset": "lemay2021", "stages": {"cord": {"training": {"val_patch_overlap": "x"}}}}},
            "stage 'cord': training settings: val_patch_overlap must be in [0, 1), got x",
        ),
        (
            {"m": {"preset": "lemay2021", "stages": {"cord": {"network": {"depth": 1}}}}},
            "stage 'cord': network spec: dynunet needs depth >= 2",
        ),
        (
            {
                "m": {
                    "preset": "stanford2023",
                    "stages": {"lesion": {"training": {"patch_size": [96, 96, 24]}}},
                }
            },
            "stage 'lesion': patch shape (96, 96, 24) is not divisible",
        ),
        # Only a cascade's cord stage may run on a chain of its own.
        (
            {"m": {"preset": "lemay2021", "stages": {"lesion": {"chain": "stanford2023"}}}},
            "only a cascade's cord stage may have a chain of its own",
        ),
        (
            {"m": {"preset": "lemay2021", "stages": {"cord": {"chain": "lemay-2021"}}}},
            "stages.cord.chain must name a preprocessing chain",
        ),
        (
            {"m": {"preset": "lemay2021", "inference": {"stage1_chain": "stanford2023"}}},
            "inference.stage1_chain comes from the stages",
        ),
    ],
)
def test_bad_definitions_are_refused_naming_the_model(definitions, message):
    with pytest.raises(ValueError) as err:
        resolve_model("m", definitions)
    assert "model 'm'" in str(err.value) and message in str(err.value)


def test_predicted_labels_follow_the_lesion_targets():
    assert predicted_labels(resolve_model("lemay2021")) == ("whole", "tumor", "edema", "cavity")
    assert predicted_labels(resolve_model("stanford2023")) == ("tumor",)
    # Whole lesion only with all three classes: tumour + whole predicts tumour alone.
    definitions = {
        name: {"preset": "stanford2023", "stages": {"lesion": {"training": {"targets": targets}}}}
        for name, targets in (("tw", ["tumor", "whole"]), ("te", ["edema", "tumor"]))
    }
    assert predicted_labels(resolve_model("tw", definitions)) == ("tumor",)
    assert predicted_labels(resolve_model("te", definitions)) == ("tumor", "edema")


def test_a_cascades_cord_stage_may_run_on_a_chain_of_its_own():
    plain = resolve_model("lemay2021")
    assert stage_chain(plain, "cord") == stage_chain(plain, "lesion") == "lemay2021"
    own = resolve_model("m", {"m": {"preset": "lemay2021", "stages": {"cord": {"chain": "coarse1"}}}})
    assert stage_chain(own, "cord") == "coarse1" and stage_chain(own, "lesion") == "lemay2021"
    steps = chain_preset("lemay2021")["steps"]
    coarse = [*steps[:1], {"name": "resample", "spacing_mm": [2.0, 2.0, 4.0]}, *steps[2:]]
    cfg = inference_settings(inference_config(own, steps, stage1_chain_steps=coarse))
    assert cfg.stage1_steps == coarse and cfg.steps == steps
    assert inference_settings(inference_config(plain, steps)).stage1_chain is None


def test_the_schema_offers_every_preset():
    import yaml

    from tests.conftest import REPO

    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    entry = schema["properties"]["models"]["properties"]["definitions"]["additionalProperties"]
    assert sorted(entry["properties"]["preset"]["enum"]) == sorted(PRESETS)
