"""The study's defaults: the papers' methods on a user's data, the demo's sizes only on the demo."""

from __future__ import annotations

import pytest
import yaml

from spinetumor.models.definitions import resolve_model
from spinetumor.study import PUBLISHED_MODELS, check_read_only, demo_study, study_models
from tests.conftest import REPO

NO_CHAINS = {"run": [], "chains": {}}


def _config_yaml() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_config_yaml_holds_no_demo_entry_that_a_users_config_would_inherit():
    # A user's --configfile is layered over config.yaml: any model or chain defined there
    # would reach their study. The demo's sizes live in demo_study.yaml only.
    config = _config_yaml()
    assert config["models"]["run"] is None and config["models"]["definitions"] == {}
    assert config["preprocessing"]["chains"] == {} and config["preprocessing"]["run"] == []


def test_a_study_on_its_own_data_trains_the_published_methods_with_the_papers_values():
    config = _config_yaml()
    study = study_models(config["models"], config["preprocessing"], is_demo=False)
    assert study.run == list(PUBLISHED_MODELS) == ["lemay2021", "lemay2021single", "stanford2023", "zhuo2022"]
    assert study.definitions == {} and study.chains == {}
    assert study.notes == [
        "models.run not set: training the published methods lemay2021, lemay2021single, "
        "stanford2023, zhuo2022 with the papers' values"
    ]
    chains = {resolve_model(name, study.definitions)["chain"] for name in study.run}
    assert chains == {"lemay2021", "stanford2023", "zhuo2022"}
    lesion = resolve_model("lemay2021", study.definitions)["stages"]["lesion"]["training"]
    assert lesion["max_epochs"] == 200 and lesion["lr"] == 1.0e-3


def test_the_demo_study_trains_its_cpu_sized_entries_and_says_so():
    config = _config_yaml()
    study = study_models(config["models"], config["preprocessing"], is_demo=True)
    assert study.run == ["cascade", "singlestage", "unet", "multiresunet"]
    assert set(study.chains) == {"lemaydemo", "demofine", "stanforddemo"}
    cascade = resolve_model("cascade", study.definitions)
    # The multi-resolution cascade: the cord on the coarse demo grid, the lesions on the paper's.
    assert cascade["chain"] == "demofine" and cascade["stages"]["cord"]["chain"] == "lemaydemo"
    assert cascade["stages"]["lesion"]["training"]["sampling"] == "classes"
    assert (
        len(study.notes) == 1
        and "CPU-sized models cascade, singlestage, unet, multiresunet" in study.notes[0]
    )
    # Zhuo et al.'s 2-D network, slice by slice on the coarse demo grid's sagittal slices.
    slices = resolve_model("multiresunet", study.definitions)
    assert slices["preset"] == "zhuo2022" and slices["chain"] == "lemaydemo"
    assert slices["stages"]["lesion"]["network"]["architecture"] == "multiresunet"
    assert slices["stages"]["lesion"]["training"]["inputs"] == ["T2w"]


def test_on_the_demo_a_config_changes_the_demo_entries_key_by_key():
    models = {
        "run": ["cascade"],
        "definitions": {"cascade": {"stages": {"lesion": {"training": {"max_epochs": 1}}}}},
    }
    study = study_models(models, NO_CHAINS, is_demo=True)
    lesion = resolve_model("cascade", study.definitions)["stages"]["lesion"]["training"]
    assert lesion["max_epochs"] == 1 and lesion["patch_size"] == [64, 32, 16]  # the rest stays the demo's
    assert study.notes == []  # models.run was chosen by the study


def test_own_data_gets_a_demo_entry_only_by_naming_it_and_is_told():
    study = study_models({"run": ["cascade", "lemay2021"], "definitions": {}}, NO_CHAINS, is_demo=False)
    assert set(study.definitions) == {"cascade"}
    assert study.definitions["cascade"] == demo_study()["models"]["definitions"]["cascade"]
    assert set(study.chains) == {"demofine", "lemaydemo"}  # the chains it needs, and no other
    assert any(n.startswith("model cascade: the demo's CPU-sized entry") for n in study.notes)
    assert any(n.startswith("chain lemaydemo: the demo's CPU-sized chain") for n in study.notes)


def test_own_data_never_mixes_a_users_entry_with_the_demo_entry_of_the_same_name():
    mine = {"preset": "lemay2021", "stages": {"lesion": {"training": {"max_epochs": 100}}}}
    study = study_models({"run": ["cascade"], "definitions": {"cascade": mine}}, NO_CHAINS, is_demo=False)
    cascade = resolve_model("cascade", study.definitions)
    # The paper's values everywhere the user said nothing, not the demo's.
    assert cascade["chain"] == "lemay2021"
    assert cascade["stages"]["cord"]["network"]["depth"] == 4
    assert cascade["stages"]["lesion"]["training"]["lr"] == 1.0e-3
    assert cascade["stages"]["lesion"]["training"]["max_epochs"] == 100
    assert study.chains == {} and study.notes == []


def test_own_data_explains_why_a_partial_entry_named_like_a_demo_entry_is_not_merged():
    partial = {"cascade": {"stages": {"lesion": {"training": {"max_epochs": 1}}}}}
    study = study_models({"run": ["cascade"], "definitions": partial}, NO_CHAINS, is_demo=False)
    with pytest.raises(ValueError, match="type must be one of"):
        resolve_model("cascade", study.definitions)
    assert study.hints == {
        "cascade": "on your own data a definition named cascade is not merged with the demo's "
        "entry of that name; give it a preset, or copy the demo's entry from "
        "demo_study.yaml"
    }
    assert study_models({"run": ["cascade"], "definitions": partial}, NO_CHAINS, is_demo=True).hints == {}


def test_a_users_own_chain_wins_over_the_demo_chain_of_the_same_name():
    chain = {"steps": [{"name": "reorient", "axcodes": "SAR"}]}
    study = study_models(
        {"run": ["cascade"], "definitions": {}}, {"run": [], "chains": {"lemaydemo": chain}}, is_demo=False
    )
    assert study.chains == {"lemaydemo": chain, "demofine": demo_study()["chains"]["demofine"]}


@pytest.mark.parametrize("results", ["bids", "bids/derivatives/spinetumor"])
def test_results_inside_the_raw_dataset_are_refused(tmp_path, results):
    (tmp_path / "bids").mkdir()
    with pytest.raises(ValueError, match="inside bids_dir .*read-only"):
        check_read_only(tmp_path / "bids", tmp_path / results)


def test_a_raw_dataset_inside_the_results_is_refused_and_siblings_are_fine(tmp_path):
    with pytest.raises(ValueError, match="bids_dir .* is inside results_dir"):
        check_read_only(tmp_path / "results" / "bids", tmp_path / "results")
    check_read_only(tmp_path / "bids", tmp_path / "bids-results")  # a common prefix is not containment


def test_own_data_gets_the_demo_chain_a_stage_names():
    mine = {"preset": "lemay2021", "stages": {"cord": {"chain": "lemaydemo"}}}
    study = study_models({"run": ["mine"], "definitions": {"mine": mine}}, NO_CHAINS, is_demo=False)
    assert study.chains == {"lemaydemo": demo_study()["chains"]["lemaydemo"]}
    assert any(n.startswith("chain lemaydemo: the demo's CPU-sized chain") for n in study.notes)
