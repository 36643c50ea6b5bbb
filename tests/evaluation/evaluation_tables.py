"""Hand-made inputs shared by the tests of the evaluation tables (imported by name, not collected)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from spinetumor.evaluation.per_case import PER_CASE_COLUMNS
from tests.conftest import write_nifti

NAN = math.nan


# (model, split, subject, pathology) -> {(label, metric): value}; a missing
# (label, metric) is NaN. Model B's tumour values equal model A's.
TUMOUR_A = {
    (0, "s1"): (0.8, 1.0),  # (dice, detection_tpr)
    (0, "s2"): (0.1, 0.0),  # missed: some overlap, below the detection threshold
    (0, "s3"): (NAN, NAN),  # no tumour in the truth
    (1, "s1"): (0.6, 0.5),
    (1, "s4"): (0.4, 1.0),
    (1, "s5"): (0.5, 1.0),
}


WHOLE = {
    "A": {(0, "s1"): 0.8, (0, "s2"): 0.6, (0, "s3"): 0.4, (1, "s1"): 0.7, (1, "s4"): 0.9, (1, "s5"): 0.5},
    "B": {(0, "s1"): 0.6, (0, "s2"): 0.5, (0, "s3"): 0.25, (1, "s1"): 0.5, (1, "s4"): 0.85, (1, "s5"): NAN},
}


EDEMA_A = {(0, "s1"): 0.5, (0, "s3"): 0.3}


PATHOLOGY = {
    "s1": "astrocytoma",
    "s2": "ependymoma",
    "s3": "astrocytoma",
    "s4": "ependymoma",
    "s5": "astrocytoma",
}


def per_case_table() -> pd.DataFrame:
    """Two models x two splits x three subjects (s1 is tested in both splits)."""
    rows = []
    for model in ("A", "B"):
        for (split, subject), whole in WHOLE[model].items():
            dice, tpr = TUMOUR_A[(split, subject)]
            edema = EDEMA_A.get((split, subject), NAN) if model == "A" else NAN
            values = {
                ("whole", "dice"): whole,
                ("tumor", "dice"): dice,
                ("tumor", "detection_tpr"): tpr,
                ("edema", "dice"): edema,
                ("cavity", "dice"): NAN,
            }
            rows += [
                {
                    "model": model,
                    "split": split,
                    "subject": subject,
                    "participant": subject,
                    "pathology": PATHOLOGY[subject],
                    "label": label,
                    "metric": metric,
                    "value": value,
                }
                for (label, metric), value in values.items()
            ]
    return pd.DataFrame(rows, columns=list(PER_CASE_COLUMNS))


def dseg_pair(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """Truth: 4 tumour voxels; prediction: 2 of them -> Dice 2*2/(2+4) = 2/3."""
    truth = np.zeros((6, 6, 6), np.uint8)
    truth[1:3, 1:3, 1] = 1
    pred = np.zeros_like(truth)
    pred[1:3, 1, 1] = 1
    return write_nifti(tmp_path / f"{name}_pred.nii.gz", pred), write_nifti(
        tmp_path / f"{name}_truth.nii.gz", truth
    )
