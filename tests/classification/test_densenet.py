"""DenseNet121 on lesion crops: it learns a trivially separable set, selects by validation, repeats."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spinetumor.classification.densenet import Samples, fit, predict_units, sample_weights
from spinetumor.classification.settings import zhuo2022_settings
from spinetumor.runtime import torch_threads
from tests.classification.zhuo import tiny_config


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: a second one only waits for the other tests' core."""
    with torch_threads(1):
        yield


def _toy(n_units: int, seed: int) -> Samples:
    """Bright (class 0) or dark (class 1) lesions in noise, two slices per unit."""
    rng = np.random.default_rng(seed)
    per_unit = []
    for k in range(n_units):
        label = k % 2
        x = rng.normal(0, 0.3, (2, 1, 32, 32)).astype(np.float32)
        x[:, :, 12:20, 12:20] += 2.0 if label == 0 else -2.0
        per_unit.append((f"sub-{seed}{k:02d}", x, label))
    return Samples.of(per_unit)


def test_sample_weights_balance_classes_then_units():
    y, unit = np.array([0, 0, 0, 1]), np.array([0, 0, 1, 2])
    # class 0: units 0 (two samples) and 1 (one); class 1: unit 2 alone.
    np.testing.assert_allclose(sample_weights(y, unit), np.array([0.25, 0.25, 0.5, 1.0]) * 4 / 2)


def test_a_tiny_densenet_learns_bright_from_dark_and_repeats_exactly():
    settings = zhuo2022_settings(tiny_config())
    train, val, test = _toy(8, 0), _toy(4, 1), _toy(6, 2)
    result = fit(train, val, 2, settings)
    prob = predict_units(result.network, test)
    assert prob.shape == (6, 2) and np.allclose(prob.sum(axis=1), 1)
    assert (prob.argmax(axis=1) == np.arange(6) % 2).all()
    # The epoch kept is the first of the lowest validation loss.
    losses = [row["val_loss"] for row in result.history]
    assert result.epoch == 1 + int(np.argmin(losses)) and len(result.history) <= settings.max_epochs
    again = fit(train, val, 2, settings)
    np.testing.assert_array_equal(predict_units(again.network, test), prob)


def test_without_validation_units_the_last_epoch_is_kept(caplog):
    settings = zhuo2022_settings(tiny_config({"training": {"max_epochs": 2}}))
    result = fit(_toy(4, 0), Samples.of([]), 2, settings)
    assert result.epoch == 2 and all(math.isnan(row["val_loss"]) for row in result.history)
    assert "no validation unit" in caplog.text
    with pytest.raises(ValueError, match="no training sample"):
        fit(Samples.of([]), Samples.of([]), 2, settings)


def test_a_3d_network_trains_and_predicts_on_volumes():
    settings = zhuo2022_settings(
        tiny_config({"dims": 3, "crop_shape": [32, 32, 32], "training": {"max_epochs": 1}})
    )
    rng = np.random.default_rng(0)
    volumes = Samples.of(
        [(f"sub-{k}", rng.normal(0, 1, (1, 1, 32, 32, 32)).astype(np.float32), k % 2) for k in range(4)]
    )
    result = fit(volumes, volumes, 2, settings)
    assert predict_units(result.network, volumes).shape == (4, 2) and result.epoch == 1
