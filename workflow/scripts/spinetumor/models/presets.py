"""The shipped model presets: the papers' models, with the papers' values, and ours (torch-free).

An entry of the ``models`` config may start from a preset and change only
what differs (:func:`spinetumor.models.definitions.resolve_model`). The demo
study's smaller entries live in ``demo_study.yaml`` (see
:mod:`spinetumor.study`).
"""

from __future__ import annotations

from typing import Any

from spinetumor.training.settings import training_defaults

__all__ = ["MODEL_TYPES", "PRESETS", "STAGES"]

#: Model types and the stages each one trains, in training order.
STAGES: dict[str, tuple[str, ...]] = {
    "cascade": ("cord", "lesion"),
    "single_stage": ("lesion",),
    "unet": ("lesion",),
}
MODEL_TYPES: tuple[str, ...] = tuple(STAGES)

# The training settings' defaults are Lemay et al.'s values; the preset states them, so that a
# checkpoint's model_config and the run's fingerprint name every value the paper fixed.
_LEMAY_TRAINING: dict[str, Any] = training_defaults(
    "optimizer", "lr", "scheduler", "max_epochs", "patience", "min_delta", "augmentation", "amp", "seed"
)

_LEMAY_LESION: dict[str, Any] = {
    "network": {"architecture": "dynunet", "depth": 4, "base_filters": 16, "deep_supervision": True},
    "training": {
        **_LEMAY_TRAINING,
        "inputs": ["T1w", "T2w"],
        "targets": ["tumor", "edema", "cavity", "whole"],
        "batch_size": 8,
        "patch_size": [128, 128, 32],
        "patches_per_volume": 8,
        "sampling": "foreground",
        "pos_neg_ratio": 1.0,
    },
}

_LEMAY_CORD: dict[str, Any] = {
    "network": {"architecture": "dynunet", "depth": 4, "base_filters": 8, "deep_supervision": True},
    "training": {
        **_LEMAY_TRAINING,
        "inputs": ["T2w"],
        "targets": ["cord"],
        "batch_size": 1,
        "patch_size": [512, 256, 32],
        "patches_per_volume": 1,
        "sampling": "uniform",
    },
}

# Stage 1 of the cascade: threshold, one window over the whole volume, the crop's margin.
_LEMAY_STAGE1_INFERENCE: dict[str, Any] = {
    "stage1_threshold": 0.5,
    "stage1_patch_size": None,
    "crop_margin_mm": [5.0, 5.0, 5.0],
}

# Lesion windows of 128 x 128 x 32 at stride 64 x 64 x 32, overlapping probabilities averaged.
_LEMAY_LESION_INFERENCE: dict[str, Any] = {
    "patch_size": [128, 128, 32],
    "overlap": [0.5, 0.5, 0.0],
    "batch_size": 1,
    "blend_mode": "constant",
}

# As published: each sigmoid channel (tumour, edema, cavity) thresholded on its own, overlaps
# resolved tumour over cavity over edema; `whole_argmax` is our own option, not the paper's.
_LEMAY_POSTPROCESSING: dict[str, Any] = {
    "threshold": 0.5,
    "fill_holes": True,
    "min_size_mm3": {"tumor": 200.0, "edema": 500.0, "cavity": 500.0},
    "assemble": "independent",
}

#: The papers' models, with the papers' values.
PRESETS: dict[str, dict[str, Any]] = {
    "lemay2021": {
        "type": "cascade",
        "chain": "lemay2021",
        "stages": {
            "cord": _LEMAY_CORD,
            "lesion": _LEMAY_LESION,
        },
        "inference": {**_LEMAY_STAGE1_INFERENCE, **_LEMAY_LESION_INFERENCE},
        "postprocessing": _LEMAY_POSTPROCESSING,
    },
    # Ours: the lemay2021 cascade with its cord stage on a coarse grid of its own (2 x 2 x 4 mm,
    # `cordcoarse`) and the lesion stage run in one window fitted to the cord's box (a multiple of
    # the DynUNet's total stride of 16) instead of 128 x 128 x 32 tiles: 4 s instead of 11 s per
    # scan on 2 CPU threads (benchmarks/RESULTS.md). Trained as lemay2021, but validated in the window
    # it infers with.
    "fastcascade": {
        "type": "cascade",
        "chain": "lemay2021",
        "stages": {
            "cord": {
                "chain": "cordcoarse",
                "network": _LEMAY_CORD["network"],
                "training": {**_LEMAY_CORD["training"], "patch_size": [256, 128, 16]},
            },
            # Validated as it infers: each validation crop in one window (val_window), so the best
            # checkpoint is chosen on the prediction it will make.
            "lesion": {**_LEMAY_LESION, "training": {**_LEMAY_LESION["training"], "val_window": "whole"}},
        },
        "inference": {
            **_LEMAY_STAGE1_INFERENCE,
            **_LEMAY_LESION_INFERENCE,
            # One window fitted to the cord's box instead of the tiles.
            "patch_size": None,
            "window_multiple": [16, 16, 16],
            "overlap": 0.5,
        },
        "postprocessing": _LEMAY_POSTPROCESSING,
    },
    "lemay2021single": {
        "type": "single_stage",
        "chain": "lemay2021",
        "stages": {"lesion": _LEMAY_LESION},
        "inference": _LEMAY_LESION_INFERENCE,
        "postprocessing": _LEMAY_POSTPROCESSING,
    },
    "stanford2023": {
        "type": "unet",
        "chain": "stanford2023",
        "stages": {
            "lesion": {
                "network": {
                    "architecture": "unet",
                    "channels": [16, 32, 64, 128, 256],
                    "strides": [2, 2, 2, 2],
                    "kernel_size": 3,
                    "up_kernel_size": 3,
                },
                "training": {
                    "inputs": ["T1w"],
                    "targets": ["tumor"],
                    # Adam at 1e-3 with cosine annealing, bf16, seed 0: the settings' defaults.
                    **training_defaults("optimizer", "lr", "scheduler"),
                    "max_epochs": 400,
                    # The paper trains its 400 epochs through; no early stopping.
                    "patience": 400,
                    "min_delta": 0.0,
                    "batch_size": 2,
                    "patch_size": [128, 128, 32],
                    "patches_per_volume": 1,
                    "sampling": "uniform",
                    "augmentation": {"rotate_deg": 0.0, "scale": 0.0, "translate": 0.0, "prob": 0.0},
                    **training_defaults("amp", "seed"),
                },
            }
        },
        "inference": {"patch_size": None, "overlap": 0.0, "batch_size": 1, "blend_mode": "constant"},
        "postprocessing": {
            "threshold": 0.5,
            "fill_holes": False,
            "min_size_mm3": {"tumor": 0.0, "edema": 0.0, "cavity": 0.0},
            "assemble": "independent",
        },
    },
    # Zhuo et al. 2022: a 2-D MultiResUNet on sagittal T2w slices, one by one, over the whole
    # field of view. The paper gives no training recipe nor label set beyond "lesion"; ours are
    # the settings' defaults (Adam at 1e-3, cosine) and Lemay's four channels, so that its
    # maps go through the same post-processing and per-structure tables as the other models.
    "zhuo2022": {
        "type": "single_stage",
        "chain": "zhuo2022",
        "stages": {
            "lesion": {
                "network": {"architecture": "multiresunet", "filters": 32, "alpha": 1.67, "depth": 4},
                "training": {
                    **_LEMAY_TRAINING,
                    "inputs": ["T2w"],
                    "targets": ["tumor", "edema", "cavity", "whole"],
                    "batch_size": 16,
                    "patch_size": [256, 256, 1],  # one sagittal slice per patch
                    "patches_per_volume": 8,
                    "sampling": "foreground",
                    "pos_neg_ratio": 1.0,
                    # No 3-D affine: it would blend a one-slice patch with the padding around it.
                    "augmentation": {"prob": 0.0, "intensity_scale": 0.1, "intensity_shift": 0.1},
                },
            }
        },
        # Every slice of a scan in one batch of the 2-D network.
        "inference": {"patch_size": None, "overlap": 0.0, "batch_size": 1, "blend_mode": "constant"},
        "postprocessing": _LEMAY_POSTPROCESSING,
    },
}
