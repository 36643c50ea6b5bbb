"""What an exported model folder holds and where (torch-free).

The layout follows the MONAI Bundle specification, so that MONAI's tools can
read what the model is::

    {model}/
      configs/metadata.json       MONAI bundle metadata (versions, task, input and output format)
      configs/spinetumor.json     everything prediction needs: the resolved model, its
                                  preprocessing chain(s), post-processing, contrasts, outputs,
                                  registration settings, folds and stages
      models/split-K/STAGE.pt     each split's trained weights (the fold ensemble)
      models/split-K/STAGE_training_summary.json   units, seed, epochs, validation figures
      docs/README.md              what it is, how it was trained, how to run it
      manifest.json               the SHA-256 of every other file
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from spinetumor import LABELS
from spinetumor.models.spec import downsampling_factors

__all__ = [
    "CONFIG",
    "FORMAT",
    "METADATA",
    "README",
    "SCHEMA_URL",
    "metadata",
    "readme",
    "summary_path",
    "onnx_weights_path",
    "weights_path",
]

#: Version of the folder's layout and of ``configs/spinetumor.json``.
FORMAT = 1
CONFIG = "configs/spinetumor.json"
METADATA = "configs/metadata.json"
README = "docs/README.md"
#: The MONAI bundle metadata schema that ``configs/metadata.json`` follows.
SCHEMA_URL = (
    "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/meta_schema_20240725.json"
)
_DESCRIPTIONS = {
    "cascade": "two stages: a cord network finds the spinal cord, a lesion network segments inside its box",
    "single_stage": "one lesion network over the whole field of view",
    "unet": "one network over the whole field of view",
}


def weights_path(split: int, stage: str) -> str:
    """The folder-relative path of one split's weights of one stage."""
    return f"models/split-{split}/{stage}.pt"


def onnx_weights_path(split: int, stage: str) -> str:
    """The folder-relative path of one split's ONNX network of one stage (``spinetumor export-onnx``)."""
    return weights_path(split, stage).removesuffix(".pt") + ".onnx"


def summary_path(split: int, stage: str) -> str:
    """The folder-relative path of one split's training summary of one stage."""
    return f"models/split-{split}/{stage}_training_summary.json"


def _channels(names: Sequence[str]) -> dict[str, str]:
    return {str(i): name for i, name in enumerate(names)}


def metadata(config: Mapping[str, Any], versions: Mapping[str, str], code_version: str) -> dict[str, Any]:
    """``configs/metadata.json``: MONAI bundle metadata of an exported model.

    Args:
        config: The folder's ``configs/spinetumor.json`` contents.
        versions: Library versions of the training (:func:`spinetumor.provenance.library_versions`).
        code_version: The spinetumor version that trained it.
    """
    model = config["model"]
    optional = {k: v for k, v in versions.items() if k not in ("python", "torch", "monai", "numpy")}
    return {
        "schema": SCHEMA_URL,
        "version": "1.0.0",
        "changelog": {"1.0.0": f"exported from a spinetumor study ({code_version})"},
        "monai_version": versions.get("monai", ""),
        "pytorch_version": versions.get("torch", ""),
        "numpy_version": versions.get("numpy", ""),
        "required_packages_version": {"nibabel": versions.get("nibabel", ""), "spinetumor": code_version},
        "optional_packages_version": optional,
        "name": f"spinetumor {model['name']}",
        "task": "Spinal cord tumour segmentation (tumour core, edema, cavity) on sagittal MRI",
        "description": (
            f"{model['name']} ({model['type']}: {_DESCRIPTIONS.get(model['type'], model['type'])}), "
            f"an ensemble of {len(config['folds'])} cross-validation folds; run with `spinetumor predict`."
        ),
        "authors": "spinetumor study",
        "copyright": "the study's authors",
        "data_type": "nifti",
        "intended_use": "research only, not for clinical use",
        "network_data_format": _data_format(config),
        "spinetumor_format": FORMAT,
    }


def _spatial_shape(config: Mapping[str, Any]) -> list[str]:
    """The lesion network's input shape in the bundle's terms: each axis a multiple of its downsampling."""
    network = config["model"]["stages"]["lesion"]["network"]
    spec = {"in_channels": len(config["contrasts"]), "out_channels": len(config["outputs"]), **network}
    return [f"{factor}*n" for factor in downsampling_factors(spec)]


def _data_format(config: Mapping[str, Any]) -> dict[str, Any]:
    """The lesion network's inputs and outputs, in the bundle metadata's terms."""
    labels = {str(value): name for name, value in LABELS.items()}
    shape = _spatial_shape(config)
    return {
        "inputs": {
            "image": {
                "type": "image",
                "format": "magnitude",
                "modality": "MR",
                "num_channels": len(config["contrasts"]),
                "spatial_shape": shape,
                "dtype": "float32",
                "value_range": [],
                "is_patch_data": True,
                "channel_def": _channels(config["contrasts"]),
            }
        },
        "outputs": {
            "pred": {
                "type": "image",
                "format": "segmentation",
                "num_channels": len(config["outputs"]),
                "spatial_shape": shape,
                "dtype": "float32",
                "value_range": [0, 1],
                "is_patch_data": True,
                "channel_def": _channels(config["outputs"]),
                "label_map": {"0": "background", **labels},
            }
        },
    }


def readme(config: Mapping[str, Any], summaries: Mapping[tuple[int, str], Mapping[str, Any]]) -> str:
    """``docs/README.md``: what the model is, how each fold trained, how to run it."""
    model = config["model"]
    lines = [
        f"# spinetumor model `{model['name']}`",
        "",
        f"Type: {model['type']} ({_DESCRIPTIONS.get(model['type'], model['type'])}).",
        f"Inputs: {', '.join(config['contrasts'])} (the T1w is registered onto the T2w first)."
        if "T1w" in config["contrasts"]
        else f"Inputs: {', '.join(config['contrasts'])}.",
        f"Outputs: {', '.join(config['outputs'])}; label map 1 tumour, 2 edema, 3 cavity on the T2w's grid.",
        "",
        "Research use only. Trained on the study's data; check it on yours before trusting it.",
        "",
        "## Run it",
        "",
        "```",
        "spinetumor predict --model THIS_FOLDER --t2w sub-01_T2w.nii.gz --t1w sub-01_T1w.nii.gz --out OUT_DIR",
        "```",
        "",
        "## Training, per fold",
        "",
        "| split | stage | training units | validation units | seed | epochs | best epoch | selection | best value |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (split, stage), s in sorted(summaries.items()):
        lines.append(
            f"| {split} | {stage} | {len(s.get('train_units', []))} | {len(s.get('val_units', []))} | {s.get('seed', '')} | "
            f"{s.get('last_epoch', '')} | {s.get('best_epoch', '')} | {s.get('selection_metric', '')} | "
            f"{_number(s.get('best_metric'))} |"
        )
    lines += ["", "Every file's SHA-256 is in `manifest.json`; `spinetumor predict` checks them.", ""]
    return "\n".join(lines)


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value if value is not None else "")
