"""What a prediction returns, the timing of its steps, and how it is written.

Every ``predict_*`` function of :mod:`spinetumor.inference.predict` returns a
:class:`Prediction` with per-step timings in seconds under :data:`TIMING_STEPS`;
the lesion network's time is ``stage2`` in every mode so that tables line up,
and ``stage1``/``crop`` are 0 when a mode has no such step.
:func:`save_prediction` adds ``save``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict

import nibabel as nib
import numpy as np

from spinetumor.inference.crop import Box
from spinetumor.io import save_nifti
from spinetumor.preprocessing.native import to_native

__all__ = ["TIMING_STEPS", "Prediction", "new_timings", "timed", "nifti_image", "save_prediction"]

logger = logging.getLogger(__name__)

#: Keys of a prediction's ``timings``, in pipeline order.
TIMING_STEPS: tuple[str, ...] = (
    "load",
    "preprocess",
    "stage1",
    "crop",
    "stage2",
    "postprocess",
    "native",
    "save",
)


class Prediction(TypedDict):
    """What the ``predict_*`` functions return.

    Keys:
        dseg: Native ``uint8`` lesion map (native T2w shape and affine).
        dseg_preprocessed: The same map on the preprocessed grid.
        probabilities: ``(C, X, Y, Z)`` float32 on the preprocessed grid (0 outside the crop).
        probabilities_native: ``(X, Y, Z, C)`` float32 native image, or None
            unless ``native_probabilities`` was asked.
        channels: Name of each probability channel.
        cord_mask: Stage-1 ``uint8`` cord mask on stage 1's preprocessed grid (that of
            ``stage1_chain`` when set; None without stage 1).
        cord_mask_native: The cord mask on the native grid (None without stage 1).
        crop_box: ``(start, stop)`` voxel indices of the region stage 2 saw.
        preprocessed_affine: 4x4 affine of the preprocessed grid.
        native_ref: The native T2w image (defines the output grid).
        timings: Seconds per step of :data:`TIMING_STEPS`.
    """

    dseg: nib.Nifti1Image
    dseg_preprocessed: np.ndarray
    probabilities: np.ndarray
    probabilities_native: nib.Nifti1Image | None
    channels: tuple[str, ...]
    cord_mask: np.ndarray | None
    cord_mask_native: nib.Nifti1Image | None
    crop_box: Box
    preprocessed_affine: np.ndarray
    native_ref: nib.Nifti1Image
    timings: dict[str, float]


def new_timings() -> dict[str, float]:
    """Zero seconds for every step of :data:`TIMING_STEPS`."""
    return {step: 0.0 for step in TIMING_STEPS}


@contextlib.contextmanager
def timed(timings: dict[str, float], step: str) -> Iterator[None]:
    """Add the wall time of the ``with`` block to ``timings[step]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[step] = timings.get(step, 0.0) + time.perf_counter() - start


def nifti_image(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    """An in-memory NIfTI image that keeps ``data``'s dtype."""
    img = nib.Nifti1Image(data, affine)
    img.set_data_dtype(data.dtype)
    return img


def save_prediction(
    result: Prediction,
    out_dseg: str | os.PathLike[str],
    out_probs: str | os.PathLike[str] | None = None,
) -> dict[str, Path]:
    """Write a prediction on the native T2w grid, atomically.

    The time spent is added to ``result["timings"]["save"]``.

    Args:
        result: What a ``predict_*`` function returned.
        out_dseg: Destination of the ``uint8`` dseg (native T2w affine).
        out_probs: Destination of the native ``(X, Y, Z, C)`` float32
            probabilities (channel order ``result["channels"]``), or None.
            They are resampled now if the prediction did not include them.

    Returns:
        ``{"dseg": path}`` and, if written, ``"probabilities": path``.
    """
    written: dict[str, Path] = {}
    native_affine = np.asarray(result["native_ref"].affine, dtype=np.float64)
    with timed(result["timings"], "save"):
        dseg = np.asarray(result["dseg"].dataobj, dtype=np.uint8)
        written["dseg"] = save_nifti(dseg, native_affine, out_dseg, dtype=np.uint8)
        if out_probs is not None:
            probs_img = result["probabilities_native"]
            if probs_img is None:
                probs_img = to_native(
                    nifti_image(np.moveaxis(result["probabilities"], 0, -1), result["preprocessed_affine"]),
                    result["native_ref"],
                    order=1,
                )
            written["probabilities"] = save_nifti(
                np.asarray(probs_img.dataobj, dtype=np.float32), native_affine, out_probs, dtype=np.float32
            )
    logger.info("saved %s", ", ".join(str(p) for p in written.values()))
    return written
