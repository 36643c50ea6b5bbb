"""Test helpers: the deep classifier's config as the schema fills it in, and a tiny variant of it."""

from __future__ import annotations

from typing import Any

from snakemake.utils import validate

from spinetumor.models.definitions import deep_merge
from tests.conftest import REPO

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"

#: Widths and sizes for tests that train: seconds on one CPU core.
TINY = {
    "spacing_mm": [1.0, 1.0, 1.0],
    "crop_shape": [32, 32, 8],
    "margin_mm": 4.0,
    "network": {"init_features": 4, "growth_rate": 4},
    "training": {"max_epochs": 8, "batch_size": 8, "lr": 1.0e-2, "val_every": 1, "patience": 8},
}


def zhuo_config(update: dict[str, Any] | None = None) -> dict[str, Any]:
    """``classification.zhuo2022`` of a config that sets only ``update`` there, after schema validation."""
    config = {"bids_dir": "demo", "classification": {"zhuo2022": deep_merge({}, update or {})}}
    validate(config, str(SCHEMA))
    return config["classification"]["zhuo2022"]


def tiny_config(update: dict[str, Any] | None = None) -> dict[str, Any]:
    """The schema's config with :data:`TINY` and ``update`` over it."""
    return zhuo_config(deep_merge(TINY, update or {}))
