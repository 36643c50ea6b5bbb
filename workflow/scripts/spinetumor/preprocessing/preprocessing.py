"""Running a preprocessing chain on one subject's co-registered volumes.

A *chain* is a list of steps read from config, for example::

    - {name: reorient, axcodes: SAR}
    - {name: resample, spacing_mm: [1.0, 1.0, 2.0]}
    - {name: zscore, nonzero: false}
    - {name: crop_pad, shape: [512, 256, 32]}

All volumes of a subject (T2w, T1w, the ``dseg`` lesion map and the cord mask)
live on the T2w grid and go through the same spatial steps
(:mod:`~spinetumor.preprocessing.spatial`), so they end on one common
preprocessed grid; intensity steps (:mod:`~spinetumor.preprocessing.intensity`)
touch images only, each channel on its own. Because each output carries a
correct world affine, :func:`spinetumor.preprocessing.native.to_native` maps
predictions back to the native T2w grid from the two affines alone.

Step names and parameters: :mod:`spinetumor.preprocessing.chains`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import nibabel as nib

from spinetumor.preprocessing.chains import SPATIAL_STEPS, normalise_chain
from spinetumor.preprocessing.intensity import apply_intensity
from spinetumor.preprocessing.spatial import apply_spatial
from spinetumor.preprocessing.volumes import SubjectVolumes, check_grids, stack_volumes, to_images
from spinetumor.runtime import torch_threads

__all__ = ["preprocess_volumes", "run_chain"]

logger = logging.getLogger(__name__)


def run_chain(
    vols: SubjectVolumes, steps: Sequence[Mapping[str, Any]] | Mapping[str, Any], threads: int
) -> tuple[dict[str, nib.Nifti1Image], list[dict[str, Any]], list[dict[str, Any]]]:
    """Run a chain and keep what the geometry record needs.

    Args:
        vols: The subject's volumes; all must share the T2w grid.
        steps: Chain steps or a preset dict.
        threads: CPU threads for torch and SimpleITK during the chain.

    Returns:
        The output images, the normalised steps, and one record per spatial step.

    Raises:
        ValueError: ``threads`` below 1, an invalid chain, mismatched grids or
            invalid label values.
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    chain = normalise_chain(steps)
    check_grids(vols.named())
    stack = stack_volumes(vols)
    records: list[dict[str, Any]] = []
    with torch_threads(threads):
        for index, step in enumerate(chain):
            start = time.perf_counter()
            if step["name"] in SPATIAL_STEPS:
                records.append(apply_spatial(stack, step))
            else:
                apply_intensity(stack, step, threads)
            logger.info(
                "step %d %s: %.2f s, grid %s", index, step["name"], time.perf_counter() - start, stack.shape
            )
    return to_images(stack), chain, records


def preprocess_volumes(
    vols: SubjectVolumes,
    steps: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    threads: int = 1,
) -> dict[str, nib.Nifti1Image]:
    """Run a preprocessing chain on one subject's volumes.

    Args:
        vols: The subject's volumes; all must share the T2w grid.
        steps: Chain steps (see the module docstring) or a preset dict.
        threads: CPU threads for torch and SimpleITK during the chain.

    Returns:
        ``{"T2w", "T1w", "dseg", "cord"}`` (those given) on one common grid;
        images float32, labels uint8, each with its world affine.

    Raises:
        ValueError: invalid chain, mismatched grids or invalid label values.
    """
    images, _, _ = run_chain(vols, steps, threads)
    return images
