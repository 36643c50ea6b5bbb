"""Model definitions: the shipped presets and the study's own entries, resolved.

A model is a named entry of the ``models`` config. It names a ``type``:

* ``cascade`` (Lemay et al. 2021): stage ``cord`` localises the spinal cord on
  the preprocessed T2w, the image is cropped to the predicted cord's bounding
  box plus a margin, and stage ``lesion`` segments tumour, edema and cavity
  inside the crop;
* ``single_stage``: the ``lesion`` stage alone over the whole field of view
  (the paper's §3.3 ablation);
* ``unet``: one network over the whole field of view, any chain and contrasts
  (the Stanford 2023 baseline).

Each stage holds a ``network`` spec (:mod:`spinetumor.models.spec`, channel counts
filled in from the contrasts and targets) and ``training`` settings
(:class:`spinetumor.training.settings.TrainingSettings`). ``inference`` holds the
:class:`spinetumor.inference.settings.InferenceSettings` that are not derived from the
stages, and ``postprocessing`` the post-processing settings.

An entry may start from a ``preset`` (:mod:`spinetumor.models.presets`) and
change only what differs: mappings are merged key by key, lists and values
replace the preset's.

:func:`resolve_model` checks a model completely: its keys and stages, each
stage's network spec and training settings, and that its patches suit its
network. This module imports neither torch nor MONAI, so that the workflow
checks every model while it builds its DAG.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from spinetumor import LABELS
from spinetumor.models.presets import MODEL_TYPES, PRESETS, STAGES
from spinetumor.models.spec import check_patch_divisible, resolve_spec
from spinetumor.training.settings import TrainingSettings

__all__ = [
    "deep_merge",
    "resolve_model",
    "model_stages",
    "stage_chain",
    "inference_config",
    "training_config",
    "network_config",
    "predicted_labels",
]

_TOP_KEYS = ("preset", "type", "chain", "stages", "inference", "postprocessing")
_STAGE_KEYS = ("chain", "network", "training")
# Inference settings that come from the stages and the chains, never from the entry
# (`stage1_chain` from a cascade's cord stage's own chain).
DERIVED_INFERENCE = (
    "chain",
    "stage1_chain",
    "stage1_contrasts",
    "contrasts",
    "outputs",
    "postprocessing",
    "device",
    "threads",
)


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``update``: mappings merge key by key, anything else replaces.

    Neither argument is changed.
    """
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _fail(name: str, message: str) -> None:
    raise ValueError(f"model {name!r}: {message}")


def _check_keys(name: str, where: str, given: Mapping[str, Any], allowed: Sequence[str]) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        _fail(name, f"unknown key(s) {unknown} in {where}; allowed: {list(allowed)}")


def resolve_model(name: str, definitions: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The full definition of model ``name``: its config entry merged over its preset.

    Args:
        name: A key of ``definitions`` or a preset name (:data:`PRESETS`).
        definitions: The config's ``models.definitions``.

    Returns:
        A new mapping with ``name``, ``type``, ``chain``, ``stages`` (each with
        ``network`` and ``training``, channel counts filled in),
        ``inference`` and ``postprocessing``.

    Raises:
        ValueError: unknown name or preset, unknown keys, a missing or extra
            stage, stages whose contrasts or targets do not fit the type, or a
            stage's network spec or training settings that are not valid
            (:func:`spinetumor.models.spec.resolve_spec`,
            :class:`spinetumor.training.settings.TrainingSettings`).
    """
    definitions = definitions or {}
    if name in definitions:
        entry = dict(definitions[name] or {})
        _check_keys(name, "its definition", entry, _TOP_KEYS)
        base_name = entry.pop("preset", None)
        if base_name is not None and base_name not in PRESETS:
            _fail(name, f"unknown preset {base_name!r}; presets: {sorted(PRESETS)}")
        base = PRESETS[base_name] if base_name else {}
        model = deep_merge(base, entry)
        model["preset"] = base_name
    elif name in PRESETS:
        model = copy.deepcopy(PRESETS[name])
        model["preset"] = name
    else:
        _fail(name, f"not defined under models.definitions and not a preset ({sorted(PRESETS)})")
    model["name"] = name
    model.setdefault("inference", {})
    model.setdefault("postprocessing", {})
    _check_model(name, model)
    _check_stages(name, model)
    return model


def _check_model(name: str, model: dict[str, Any]) -> None:
    kind = model.get("type")
    if kind not in STAGES:
        _fail(name, f"type must be one of {list(MODEL_TYPES)}, got {kind!r}")
    if not isinstance(model.get("chain"), str) or not model["chain"].isalnum():
        _fail(name, f"chain must name a preprocessing chain (letters and digits), got {model.get('chain')!r}")
    stages = model.get("stages")
    if not isinstance(stages, Mapping) or set(stages) != set(STAGES[kind]):
        _fail(name, f"a {kind} model has the stage(s) {list(STAGES[kind])}, got {list(stages or {})}")
    for stage in STAGES[kind]:
        spec = stages[stage]
        if (
            not isinstance(spec, Mapping)
            or not isinstance(spec.get("network"), Mapping)
            or not isinstance(spec.get("training"), Mapping)
        ):
            _fail(name, f"stage {stage!r} needs a `network` and a `training` mapping")
        _check_keys(name, f"stage {stage!r}", spec, _STAGE_KEYS)
        chain = _stage_chain_entry(name, kind, stage, spec)
        training = spec["training"]
        for key in ("inputs", "targets"):
            if not isinstance(training.get(key), list) or not training[key]:
                _fail(name, f"stages.{stage}.training.{key} must be a non-empty list")
        network = dict(spec["network"])
        network.setdefault("in_channels", len(training["inputs"]))
        network.setdefault("out_channels", len(training["targets"]))
        if network["in_channels"] != len(training["inputs"]) or network["out_channels"] != len(
            training["targets"]
        ):
            _fail(name, f"stages.{stage}.network: in/out channels must match the training inputs and targets")
        stages[stage] = {
            "network": network,
            "training": dict(training),
            **({"chain": chain} if chain else {}),
        }
    if kind == "cascade" and stages["cord"]["training"]["targets"] != ["cord"]:
        _fail(name, "the cascade's cord stage must have targets [cord]")
    if "cord" in stages["lesion"]["training"]["targets"]:
        _fail(name, "the lesion stage predicts lesion classes; `cord` is the cascade's first stage")
    if not isinstance(model["inference"], Mapping) or not isinstance(model["postprocessing"], Mapping):
        _fail(name, "inference and postprocessing must be mappings")
    derived = sorted(set(model["inference"]) & set(DERIVED_INFERENCE))
    if derived:
        _fail(name, f"inference.{derived[0]} comes from the stages and the chain; remove it")


def _stage_chain_entry(name: str, kind: str, stage: str, spec: Mapping[str, Any]) -> str | None:
    """A stage's own chain: only a cascade's cord stage may have one."""
    chain = spec.get("chain")
    if chain is None:
        return None
    if kind != "cascade" or stage != "cord":
        _fail(
            name, f"only a cascade's cord stage may have a chain of its own, not the {kind}'s {stage} stage"
        )
    if not isinstance(chain, str) or not chain.isalnum():
        _fail(
            name, f"stages.{stage}.chain must name a preprocessing chain (letters and digits), got {chain!r}"
        )
    return chain


def _check_stages(name: str, model: Mapping[str, Any]) -> None:
    """Check each stage's network spec and training settings as the training job will."""
    for stage in STAGES[model["type"]]:
        try:
            settings = TrainingSettings.from_config(training_config(model, stage))
            check_patch_divisible(resolve_spec(network_config(model, stage)), settings.patch_size)
        except (TypeError, ValueError) as exc:  # TypeError: a value of a type no check expected
            _fail(name, f"stage {stage!r}: {exc}")


def model_stages(model: Mapping[str, Any]) -> tuple[str, ...]:
    """The stages a resolved model trains, in order (``cord`` before ``lesion``)."""
    return STAGES[model["type"]]


def stage_chain(model: Mapping[str, Any], stage: str) -> str:
    """The chain a stage is trained and run on: its own (a cascade's cord stage), else the model's."""
    return model["stages"][stage].get("chain", model["chain"])


def training_config(model: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """The ``training`` mapping of one stage."""
    return copy.deepcopy(dict(model["stages"][stage]["training"]))


def network_config(model: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """The network spec of one stage, channel counts included."""
    return copy.deepcopy(dict(model["stages"][stage]["network"]))


def inference_config(
    model: Mapping[str, Any],
    chain_steps: Sequence[Mapping[str, Any]],
    *,
    threads: int | None = None,
    device: str | None = None,
    stage1_chain_steps: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The inference settings of a resolved model (for :func:`spinetumor.inference.settings.inference_settings`).

    Args:
        model: A resolved model.
        chain_steps: The steps of the model's preprocessing chain.
        threads: Torch threads, or None.
        device: Torch device, or None (where the networks are).
        stage1_chain_steps: The steps of a cascade's cord-stage chain when it
            has one of its own (:func:`stage_chain`), else None.
    """
    stages = model["stages"]
    cfg: dict[str, Any] = copy.deepcopy(dict(model["inference"]))
    cfg.update(
        chain=[dict(step) for step in chain_steps],
        contrasts=list(stages["lesion"]["training"]["inputs"]),
        outputs=list(stages["lesion"]["training"]["targets"]),
        postprocessing=copy.deepcopy(dict(model["postprocessing"])),
        threads=threads,
        device=device,
    )
    if "cord" in stages:
        cfg["stage1_contrasts"] = list(stages["cord"]["training"]["inputs"])
        if stage1_chain_steps is not None:
            cfg["stage1_chain"] = [dict(step) for step in stage1_chain_steps]
    return cfg


#: Evaluation labels in table order; ``whole`` is the union of the three lesion classes.
_LESION_CLASSES: tuple[str, ...] = tuple(LABELS)
_EVALUATED_LABELS: tuple[str, ...] = ("whole", *_LESION_CLASSES)


def predicted_labels(model: Mapping[str, Any]) -> tuple[str, ...]:
    """The evaluation labels a resolved model predicts, in table order (whole, tumor, edema, cavity).

    A lesion class counts when it is a target of the lesion stage. ``whole``
    counts only when all three classes do: a tumour-only model's "whole" would
    be its tumour compared with the reference's tumour + edema + cavity.

    Args:
        model: A resolved model (:func:`resolve_model`).

    Returns:
        E.g. ``("tumor",)`` for ``stanford2023``, all four for ``lemay2021``.
    """
    targets = set(model["stages"]["lesion"]["training"]["targets"])
    classes = targets & set(_LESION_CLASSES)
    labels = classes | ({"whole"} if classes == set(_LESION_CLASSES) else set())
    return tuple(label for label in _EVALUATED_LABELS if label in labels)
