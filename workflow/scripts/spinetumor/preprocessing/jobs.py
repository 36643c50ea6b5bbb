"""The preprocessing stage's job: what the workflow's script calls to preprocess one subject.

:func:`preprocess_chains` runs every chain of the study on one unit in one job
(one process start, and torch and MONAI imported once, instead of once per
chain: that start is most of a chain's cost on the demo's volumes);
:func:`preprocess_subject` runs one chain.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from spinetumor import __version__
from spinetumor.io import load_nifti, save_nifti, voxel_sizes, write_json
from spinetumor.preprocessing.chains import validate_chain
from spinetumor.preprocessing.preprocessing import run_chain
from spinetumor.preprocessing.volumes import SubjectVolumes, check_grids

__all__ = ["preprocess_chains", "preprocess_subject"]

logger = logging.getLogger(__name__)


def _grid_summary(shape: Sequence[int], affine: np.ndarray) -> dict[str, Any]:
    return {
        "shape": [int(n) for n in shape[:3]],
        "affine": np.asarray(affine, dtype=float).tolist(),
        "axcodes": "".join(nib.aff2axcodes(affine)),
        "voxel_sizes_mm": voxel_sizes(affine).tolist(),
    }


# Long only for its docstring (the geometry record is documented); the body is ~30 lines.
def preprocess_subject(
    t2w: Path,
    t1w: Path | None,
    dseg: Path | None,
    cord: Path | None,
    steps: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    outputs: Mapping[str, Path],
    geometry_json: Path,
    threads: int = 1,
) -> dict[str, Any]:
    """Preprocess one subject's files and record the geometry for the way back.

    Args:
        t2w: T2w image (defines the native grid).
        t1w: T1w image on the T2w grid, or None.
        dseg: Lesion label map on the T2w grid, or None.
        cord: Cord mask on the T2w grid, or None.
        steps: Chain steps or a preset dict.
        outputs: Destination per output key (``"T2w"``, ``"T1w"``, ``"dseg"``,
            ``"cord"``); exactly the keys of the inputs given.
        geometry_json: Where to write the geometry record.
        threads: CPU threads.

    Returns:
        The geometry record: ``native`` and ``preprocessed`` grids (shape, affine,
        axcodes, voxel sizes), the normalised ``steps``, per spatial step
        ``transforms`` (shapes, affines, crop/pad ``offset_voxels``), ``inputs``,
        ``outputs`` and ``spinetumor_version``.

    Raises:
        ValueError: an input is not on the T2w grid (the message names the file),
            ``outputs`` does not match the inputs, or the chain is invalid.
        FileNotFoundError: an input file is missing.
    """
    paths = {"T2w": t2w, "T1w": t1w, "dseg": dseg, "cord": cord}
    paths = {key: Path(p) for key, p in paths.items() if p is not None}
    if set(outputs) != set(paths):
        raise ValueError(f"outputs must name exactly {sorted(paths)}, got {sorted(outputs)}")
    validate_chain(steps)
    loaded = {key: load_nifti(p) for key, p in paths.items()}
    check_grids(loaded, {key: str(p) for key, p in paths.items()})
    vols = SubjectVolumes(loaded["T2w"], loaded.get("T1w"), loaded.get("dseg"), loaded.get("cord"))
    images, chain, records = run_chain(vols, steps, threads)
    for key, img in images.items():
        save_nifti(np.asanyarray(img.dataobj), img.affine, outputs[key], dtype=img.get_data_dtype())
    ref = next(iter(images.values()))
    geometry = {
        "native": _grid_summary(loaded["T2w"].shape, loaded["T2w"].affine),
        "preprocessed": _grid_summary(ref.shape, ref.affine),
        "steps": chain,
        "transforms": records,
        "inputs": {key: str(p) for key, p in paths.items()},
        "outputs": {key: str(Path(outputs[key])) for key in images},
        "spinetumor_version": __version__,
    }
    write_json(geometry, geometry_json)
    logger.info(
        "preprocessed %s -> %s %s",
        t2w,
        geometry["preprocessed"]["shape"],
        geometry["preprocessed"]["axcodes"],
    )
    return geometry


def preprocess_chains(
    inputs: Mapping[str, Path | None],
    chains: Mapping[str, Sequence[Mapping[str, Any]]],
    outputs: Mapping[str, Mapping[str, Path]],
    threads: int = 1,
) -> dict[str, dict[str, Any]]:
    """Every chain on one subject's files (:func:`preprocess_subject` per chain).

    Args:
        inputs: ``T2w``, ``T1w``, ``dseg`` and ``cord`` files (None: not given).
        chains: Chain name to its steps.
        outputs: Chain name to its destinations: the keys of the inputs given,
            and ``geometry``.
        threads: CPU threads.

    Returns:
        Chain name to its geometry record.

    Raises:
        ValueError: a chain without destinations, or as :func:`preprocess_subject`
            (the message names the chain).
    """
    missing = sorted(set(chains) - set(outputs))
    if missing:
        raise ValueError(f"no destinations for the chain(s) {missing}")
    records = {}
    for name, steps in chains.items():
        files = dict(outputs[name])
        geometry = files.pop("geometry")
        logger.info("chain %s", name)
        try:
            records[name] = preprocess_subject(
                inputs["T2w"],
                inputs.get("T1w"),
                inputs.get("dseg"),
                inputs.get("cord"),
                steps,
                files,
                geometry,
                threads=threads,
            )
        except ValueError as exc:
            raise ValueError(f"chain {name}: {exc}") from exc
    return records
