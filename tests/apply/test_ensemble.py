"""The fold ensemble: the mean of the folds' probabilities, their spread as the uncertainty."""

from __future__ import annotations

import numpy as np
import pytest

from spinetumor.apply.ensemble import combine, fold_uncertainty, predict_folds, settings_of
from spinetumor.export.folder import open_model


def test_the_uncertainty_is_the_folds_spread_or_one_folds_entropy():
    # Two folds, two channels, two voxels: std of two values is half their difference; the map
    # keeps the larger over the channels.
    folds = np.array(
        [
            [[[[0.2, 0.9]]], [[[0.5, 0.5]]]],
            [[[[0.6, 0.9]]], [[[0.5, 0.1]]]],
        ]
    )  # (folds, C, 1, 1, 2)
    assert np.allclose(fold_uncertainty(folds), [[[0.2, 0.2]]])
    # One fold: binary entropy in bits, 1 at p = 0.5, 0.469 at p = 0.9, the larger over the channels.
    one = np.array([[[[[0.9, 0.1]]], [[[0.5, 0.9]]]]])
    h = -(0.9 * np.log2(0.9) + 0.1 * np.log2(0.1))
    assert np.allclose(fold_uncertainty(one), [[[1.0, h]]], atol=1e-6)


def test_the_ensemble_is_the_mean_of_the_folds_on_the_native_grid(exported):
    model = open_model(exported["folder"])
    cfg = settings_of(model, "cpu", 1)
    t2w, t1w = exported["scan"]["T2w"], exported["scan"]["T1w"]
    results = predict_folds(model, [0, 1], t2w, t1w, cfg)
    both = combine(results, cfg)
    single = [np.asarray(combine([r], cfg)["probabilities"].dataobj) for r in results]
    assert not np.allclose(single[0], single[1])  # the folds disagree
    # Linear interpolation commutes with the mean: the native ensemble is the native folds' mean.
    assert np.asarray(both["probabilities"].dataobj) == pytest.approx((single[0] + single[1]) / 2, abs=1e-5)
    spread = np.abs(results[0]["probabilities"] - results[1]["probabilities"]).max(axis=0) / 2
    assert np.asarray(both["uncertainty"].dataobj).max() == pytest.approx(spread.max(), abs=0.05)
    assert both["channels"] == ("tumor", "edema", "cavity", "whole") and len(both["crop_boxes"]) == 2
    assert both["cord"] is not None and both["timings"]["stage2"] > 0
