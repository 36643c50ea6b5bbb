"""Tests for spinetumor.evaluation.figures: per-case figures from small synthetic tables, 300 dpi PNG + PDF out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spinetumor.evaluation.figures import detection_rates, dice_boxplot, volume_agreement
from spinetumor.evaluation.masks import LABEL_NAMES
from spinetumor.evaluation.per_case import PER_CASE_COLUMNS
from tests.evaluation.figure_files import assert_figure_files


def synthetic_per_case(seed: int = 0) -> pd.DataFrame:
    """Two models x two splits x four subjects with random but plausible metrics."""
    rng = np.random.default_rng(seed)
    rows = []
    for model in ("cascade", "single"):
        for split in (0, 1):
            for subject in ("01", "02", "03", "04"):
                for label in LABEL_NAMES:
                    truth = 0.0 if (label == "edema" and subject == "04") else float(rng.uniform(100, 5000))
                    values = {
                        "dice": rng.uniform(0.2, 0.95) if truth else np.nan,
                        "detection_tpr": rng.choice([0.0, 0.5, 1.0]) if truth else np.nan,
                        "detection_fdr": rng.choice([0.0, 0.5]),
                        "vol_truth_mm3": truth,
                        "vol_pred_mm3": 0.0 if subject == "03" else truth * rng.uniform(0.6, 1.4) + 1.0,
                    }
                    rows += [
                        {
                            "model": model,
                            "split": split,
                            "subject": subject,
                            "pathology": "ependymoma",
                            "label": label,
                            "metric": metric,
                            "value": float(value),
                        }
                        for metric, value in values.items()
                    ]
    return pd.DataFrame(rows, columns=list(PER_CASE_COLUMNS))


@pytest.fixture(scope="module")
def per_case() -> pd.DataFrame:
    return synthetic_per_case()


@pytest.mark.parametrize("plot", [dice_boxplot, detection_rates, volume_agreement])
def test_per_case_figures_write_png_and_pdf(tmp_path, per_case, plot):
    png, pdf = plot(per_case, tmp_path / "fig.png", tmp_path / "fig.pdf")
    assert (png, pdf) == (tmp_path / "fig.png", tmp_path / "fig.pdf")
    assert_figure_files(png, pdf)


def test_per_case_figure_without_data_is_an_error(tmp_path, per_case):
    with pytest.raises(ValueError, match="no defined value of dice"):
        dice_boxplot(per_case[per_case["metric"] != "dice"], tmp_path / "f.png", tmp_path / "f.pdf")
    assert not (tmp_path / "f.png").exists()
