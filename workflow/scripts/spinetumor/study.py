"""What a study trains by default, and where it may write.

Two sets of models ship, and they must not be mixed by accident:

* the published methods (:data:`PUBLISHED_MODELS`, the presets of
  :mod:`spinetumor.models.presets`, with the papers' values), which a study on its
  own data trains when its config does not set ``models.run``;
* the demo study's CPU-sized entries and chains (``demo_study.yaml`` beside
  this module, the one place where they live), which apply when the study is
  the embedded demo. A study on its own data gets them only by naming them.

:func:`study_models` applies that rule to the config and says, in its
``notes``, every default it chose, so the workflow can state them when it
starts. :func:`check_read_only` keeps every output away from the raw dataset.

This module imports neither torch nor MONAI.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from spinetumor.models.definitions import deep_merge
from spinetumor.models.presets import PRESETS

__all__ = [
    "PUBLISHED_MODELS",
    "DEMO_STUDY_FILE",
    "StudyModels",
    "demo_study",
    "study_models",
    "classifier_settings",
    "check_read_only",
]

#: The models a study on its own data trains when `models.run` is not set.
PUBLISHED_MODELS: tuple[str, ...] = ("lemay2021", "lemay2021single", "stanford2023", "zhuo2022")
#: The demo study's models and chains.
DEMO_STUDY_FILE = Path(__file__).with_name("demo_study.yaml")


@dataclass
class StudyModels:
    """The models and chains a study resolves its names against.

    Attributes:
        run: The models to train, in order.
        definitions: Model entries by name (a name missing here is a preset).
        chains: Custom preprocessing chains by name (a name missing here is a preset).
        notes: One sentence per default the study did not choose itself.
        hints: Model name -> what to add to an error about its definition.
    """

    run: list[str]
    definitions: dict[str, Any]
    chains: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    hints: dict[str, str] = field(default_factory=dict)


@cache
def _load_demo_study() -> dict[str, Any]:
    return yaml.safe_load(DEMO_STUDY_FILE.read_text())


def demo_study() -> dict[str, Any]:
    """The demo study's ``chains`` and ``models`` (``run`` and ``definitions``), as a new mapping."""
    return copy.deepcopy(_load_demo_study())


def study_models(
    models: Mapping[str, Any], preprocessing: Mapping[str, Any], *, is_demo: bool
) -> StudyModels:
    """The study's models and chains, with the demo's entries only where they belong.

    Args:
        models: The config's ``models`` (``run`` may be None: the study's default).
        preprocessing: The config's ``preprocessing`` (``run`` and ``chains``).
        is_demo: Whether the study runs on the embedded demo dataset.

    Returns:
        On the demo, the demo's entries overlaid by the config's (key by key)
        and ``run`` defaulting to the demo's models. Otherwise the config's own
        entries, ``run`` defaulting to :data:`PUBLISHED_MODELS`, plus a demo
        entry or chain only where the config names it without defining it.
    """
    demo = demo_study()
    own_defs = dict(models.get("definitions") or {})
    own_chains = dict(preprocessing.get("chains") or {})
    if is_demo:
        return _demo_models(demo, models.get("run"), own_defs, own_chains)
    return _own_models(demo, models.get("run"), own_defs, own_chains, preprocessing.get("run") or [])


def _demo_models(
    demo: Mapping[str, Any], run: list[str] | None, own_defs: dict[str, Any], own_chains: dict[str, Any]
) -> StudyModels:
    """On the demo: the demo's entries overlaid by the config's, ``run`` defaulting to the demo's."""
    notes: list[str] = []
    definitions = {
        name: deep_merge(entry, own_defs.get(name) or {})
        for name, entry in demo["models"]["definitions"].items()
    }
    definitions.update({k: v for k, v in own_defs.items() if k not in definitions})
    all_chains = {**demo["chains"], **own_chains}
    if run is None:
        run = list(demo["models"]["run"])
        notes.append(
            f"models.run not set: the demo study trains its CPU-sized models {', '.join(run)} "
            f"({DEMO_STUDY_FILE.name}); name the presets {', '.join(PUBLISHED_MODELS)} "
            "for the papers' values"
        )
    return StudyModels(list(run), definitions, all_chains, notes)


def _own_models(
    demo: Mapping[str, Any],
    run: list[str] | None,
    own_defs: dict[str, Any],
    own_chains: dict[str, Any],
    chains_run: list[str],
) -> StudyModels:
    """On a user's data: the config's own entries, plus a demo entry or chain only where named, not defined."""
    notes: list[str] = []
    if run is None:
        run = list(PUBLISHED_MODELS)
        notes.append(
            f"models.run not set: training the published methods {', '.join(run)} with the papers' values"
        )
    definitions = copy.deepcopy(own_defs)
    for name in run:
        if name not in definitions and name not in PRESETS and name in demo["models"]["definitions"]:
            definitions[name] = demo["models"]["definitions"][name]
            notes.append(
                f"model {name}: the demo's CPU-sized entry ({DEMO_STUDY_FILE.name}: fewer epochs, "
                "coarser chain), as models.run names it"
            )
    hints = {
        name: (
            f"on your own data a definition named {name} is not merged with the demo's entry of that name; "
            f"give it a preset, or copy the demo's entry from {DEMO_STUDY_FILE.name}"
        )
        for name in own_defs
        if name in demo["models"]["definitions"]
    }
    all_chains = copy.deepcopy(own_chains)
    named = [*chains_run, *(chain for d in definitions.values() if d for chain in _chains_named(d))]
    for name in dict.fromkeys(named):
        if name not in all_chains and name in demo["chains"]:
            all_chains[name] = demo["chains"][name]
            notes.append(
                f"chain {name}: the demo's CPU-sized chain ({DEMO_STUDY_FILE.name}), as the study names it"
            )
    return StudyModels(list(run), definitions, all_chains, notes, hints)


def _chains_named(definition: Mapping[str, Any]) -> list[str]:
    """The chains a model entry names itself: its own and its stages' (e.g. a cascade's cord chain)."""
    stages = definition.get("stages") or {}
    named = [definition.get("chain"), *((stage or {}).get("chain") for stage in stages.values())]
    return [name for name in named if isinstance(name, str)]


def classifier_settings(
    validated: Mapping[str, Any], own: Mapping[str, Any], *, is_demo: bool
) -> tuple[dict[str, Any], list[str]]:
    """The deep classifier's settings (``classification.zhuo2022``), with the demo's only on the demo.

    Args:
        validated: The setting after schema validation (its defaults, the paper's, filled in).
        own: The study's own keys, as its config gave them before validation.
        is_demo: Whether the study runs on the embedded demo dataset.

    Returns:
        On the demo, ``validated`` overlaid by the demo's entry (``classification.zhuo2022`` of
        ``demo_study.yaml``) and that by the study's own keys, with a note; otherwise ``validated``.
    """
    if not is_demo:
        return copy.deepcopy(dict(validated)), []
    demo = demo_study()["classification"]["zhuo2022"]
    note = f"classification.zhuo2022: the demo's CPU-sized DenseNet ({DEMO_STUDY_FILE.name}) under the study's own keys"
    return deep_merge(validated, deep_merge(demo, own)), [note]


def check_read_only(bids_dir: str | Path, results_dir: str | Path) -> None:
    """Refuse a results folder that would put outputs inside the raw dataset (or the dataset inside it).

    Raises:
        ValueError: the two folders are the same or one contains the other.
    """
    raw, results = Path(bids_dir).resolve(), Path(results_dir).resolve()
    if raw == results or raw in results.parents:
        raise ValueError(
            f"results_dir {results_dir} is inside bids_dir {bids_dir}: the raw dataset is read-only, "
            "so every output must go elsewhere (e.g. a folder beside the dataset)"
        )
    if results in raw.parents:
        raise ValueError(
            f"bids_dir {bids_dir} is inside results_dir {results_dir}: outputs and cleaning of the results "
            "would touch the raw dataset; move one of them"
        )
