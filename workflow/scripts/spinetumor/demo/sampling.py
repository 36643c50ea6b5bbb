"""Draw every parameter of a demo subject from its own seeded generator.

Everything about subject ``i`` is drawn from ``np.random.default_rng([seed, i])``;
a subject is therefore the same whatever the number of subjects, and the same
seed gives byte-identical arrays. The order of the draws is part of the dataset.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spinetumor import LABELS
from spinetumor.demo.grid import ORIENTATIONS, GridParameters, Misalignment
from spinetumor.demo.lesion_sampling import draw_lesions, unit_vector
from spinetumor.demo.levels import N_LEVEL_FACTORS
from spinetumor.demo.params import (
    PATHOLOGIES,
    AnatomyParameters,
    SequenceParameters,
    SubjectParameters,
    subject_id,
)
from spinetumor.demo.tissues import TISSUE, TISSUE_NAMES

__all__ = ["subject_parameters"]

#: (Manufacturer, model, field strength in T, typical intensity scale).
_SCANNERS: tuple[tuple[str, str, float, float], ...] = (
    ("Siemens", "MAGNETOM Prisma", 3.0, 650.0),
    ("GE", "Discovery MR750", 3.0, 1800.0),
    ("Philips", "Ingenia", 1.5, 320.0),
    ("Siemens", "MAGNETOM Aera", 1.5, 1100.0),
)


def _draw_t2w_grid(rng: np.random.Generator, centre: np.ndarray) -> GridParameters:
    """The T2w grid: matrix, pixel size, slice thickness, orientation and obliquity, centred on ``centre``."""
    n_si = int(rng.choice([192, 224, 256, 288, 320]))
    d_si = rng.uniform(max(0.6, 160.0 / n_si), min(0.9, 260.0 / n_si))
    n_ap = int(rng.choice([160, 192, 224, 256]))
    lo_ap, hi_ap = max(0.6, 120.0 / n_ap), min(0.9, 200.0 / n_ap)
    # Square pixels are the rule; some protocols use rectangular ones.
    d_ap = d_si if (lo_ap <= d_si <= hi_ap and rng.random() < 0.7) else rng.uniform(lo_ap, hi_ap)
    thickness = rng.uniform(2.5, 4.0)
    n_rl = int(np.clip(round(rng.uniform(45.0, 70.0) / thickness), 12, 20))
    oblique = tuple(rng.uniform(-3.0, 3.0, 3) * (rng.random() < 0.6))
    return GridParameters(
        voxel_size_mm=(float(thickness), float(d_ap), float(d_si)),
        shape_ras=(n_rl, n_ap, n_si),
        orientation=str(rng.choice(ORIENTATIONS)),
        center_mm=tuple(float(v) for v in centre),
        oblique_deg=tuple(float(v) for v in oblique),
    )


def _draw_t1w_grid(rng: np.random.Generator, t2w: GridParameters) -> GridParameters:
    """A grid of its own: other pixel size, matrix, field of view and obliquity."""
    factor = rng.uniform(1.06, 1.22) if rng.random() < 0.6 else rng.uniform(0.84, 0.94)
    fov = np.asarray(t2w.fov_mm) * rng.uniform(0.92, 1.08, 3)
    d_ap = float(np.clip(t2w.voxel_size_mm[1] * factor, 0.55, 1.0))
    d_si = float(np.clip(t2w.voxel_size_mm[2] * factor, 0.55, 1.0))
    thickness = float(np.clip(t2w.voxel_size_mm[0] + rng.choice([-0.5, 0.0, 0.5]), 2.5, 4.0))
    shape = (
        int(np.clip(round(fov[0] / thickness), 12, 20)),
        int(np.clip(round(fov[1] / d_ap), 128, 288)),
        int(np.clip(round(fov[2] / d_si), 160, 352)),
    )
    centre = np.asarray(t2w.center_mm) + rng.uniform(-6.0, 6.0, 3) * np.array([0.4, 1.0, 1.0])
    oblique = tuple(rng.uniform(-2.0, 2.0, 3) * (rng.random() < 0.5))
    return GridParameters(
        voxel_size_mm=(thickness, d_ap, d_si),
        shape_ras=shape,
        orientation=t2w.orientation,  # same protocol family: same storage convention
        center_mm=tuple(float(v) for v in centre),
        oblique_deg=tuple(float(v) for v in oblique),
    )


def _draw_anatomy(rng: np.random.Generator, origin: np.ndarray, fov_si: float) -> AnatomyParameters:
    """Coverage, curvature, cord and bone scales, CSF and fat layers, per-level factors."""
    cervical = rng.random() < 0.6
    # Level of the top of the field of view: just above C1 (cervical protocol) or C6-T2.
    top = rng.uniform(-8.0, 12.0) if cervical else rng.uniform(95.0, 160.0)
    degenerated = rng.random(N_LEVEL_FACTORS) < 0.25
    nucleus = np.where(
        degenerated, rng.uniform(0.3, 0.6, N_LEVEL_FACTORS), rng.uniform(0.85, 1.05, N_LEVEL_FACTORS)
    )
    return AnatomyParameters(
        coverage="cervical" if cervical else "thoracic",
        level_at_center_mm=float(top + fov_si / 2.0),
        origin_mm=tuple(float(v) for v in origin),
        cord_scale=float(rng.uniform(0.93, 1.07)),
        lordosis_mm=float(rng.uniform(3.0, 12.0)),
        kyphosis_mm=float(rng.uniform(6.0, 20.0)),
        tilt=float(rng.uniform(-0.1, 0.1)),
        lateral_wave_mm=float(rng.uniform(0.0, 1.5)),
        lateral_wave_period_mm=float(rng.uniform(150.0, 400.0)),
        lateral_wave_phase=float(rng.uniform(0, 2 * np.pi)),
        period_scale=float(rng.uniform(0.93, 1.07)),
        bone_scale=float(rng.uniform(0.92, 1.08)),
        csf_lateral_mm=float(rng.uniform(2.5, 4.0)),
        csf_ap_mm=float(rng.uniform(2.0, 3.2)),
        dura_offset_mm=float(rng.uniform(0.0, 0.8)),
        posterior_epidural_fat_mm=float(rng.uniform(1.0, 3.0)),
        lateral_epidural_mm=float(rng.uniform(1.5, 2.5)),
        skin_depth_cervical_mm=float(rng.uniform(48.0, 62.0)),
        skin_depth_thoracic_mm=float(rng.uniform(55.0, 75.0)),
        skin_wave_mm=float(rng.uniform(0.0, 5.0)),
        skin_wave_phase=float(rng.uniform(0, 2 * np.pi)),
        subcutaneous_fat_mm=float(rng.uniform(4.0, 14.0)),
        anterior_neck_mm=float(rng.uniform(38.0, 55.0)),
        marrow_factors=tuple(float(v) for v in rng.uniform(0.85, 1.15, N_LEVEL_FACTORS)),
        nucleus_factors=tuple(float(v) for v in nucleus),
    )


def _draw_sequence(
    rng: np.random.Generator, grid: GridParameters, base_scale: float, contrast: str
) -> SequenceParameters:
    """Bias field, timing, SNR, intensity scale and tissue jitter of one acquisition on ``grid``."""
    coil = -rng.uniform(0.25, 0.5)  # posterior spine coil: signal falls off anteriorly
    poly = rng.normal(0.0, 0.08, 9)
    if contrast == "T2w":
        tr, te, flip, snr = rng.uniform(2.5, 4.0), rng.uniform(0.085, 0.12), 90.0, rng.uniform(12.0, 25.0)
    else:
        tr, te, flip, snr = rng.uniform(0.4, 0.75), rng.uniform(0.008, 0.015), 90.0, rng.uniform(14.0, 30.0)
    factors = rng.uniform(0.93, 1.07, len(TISSUE_NAMES))
    factors[TISSUE["cord"]] = 1.0  # the cord is the reference tissue
    return SequenceParameters(
        grid=grid,
        intensity_scale=float(base_scale * np.exp(rng.uniform(np.log(0.7), np.log(1.5)))),
        snr=float(snr),
        bias_coefficients=(float(coil), *(float(v) for v in poly)),
        tissue_factors=tuple(float(v) for v in factors),
        repetition_time_s=float(round(tr, 4)),
        echo_time_s=float(round(te, 5)),
        flip_angle_deg=flip,
    )


def _draw_misalignment(rng: np.random.Generator, centre: Sequence[float]) -> Misalignment:
    """1-4 degrees and 1-4 mm in random directions."""
    rotation = unit_vector(rng) * rng.uniform(1.0, 4.0)
    translation = unit_vector(rng) * rng.uniform(1.0, 4.0)
    return Misalignment(
        rotation_deg=tuple(float(v) for v in rotation),
        translation_mm=tuple(float(v) for v in translation),
        center_mm=tuple(float(v) for v in centre),
    )


# One piece on purpose: the order of its draws from the subject generator defines the dataset.
def subject_parameters(index: int, seed: int) -> SubjectParameters:
    """Draw every parameter of subject ``index`` (no image is computed).

    All draws come from ``np.random.default_rng([seed, index])``, so a subject
    does not depend on how many subjects the dataset has. The pathology cycles
    with the index (astrocytoma, ependymoma, hemangioblastoma, ...) so any three
    consecutive subjects cover all three; the rest is random.

    Args:
        index: 1-based subject index (1..999).
        seed: Dataset seed (>= 0).

    Returns:
        The subject's parameters.

    Raises:
        ValueError: ``index`` or ``seed`` is out of range.
    """
    label = subject_id(index)
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    rng = np.random.default_rng([int(seed), int(index)])
    pathology = PATHOLOGIES[(int(index) - 1) % len(PATHOLOGIES)]
    age = int(rng.integers(8, 76))
    sex = str(rng.choice(["M", "F"]))
    manufacturer, model, field_t, base_scale = _SCANNERS[int(rng.integers(len(_SCANNERS)))]
    dtype = str(rng.choice(["int16", "float32"]))

    # World position of the cord at the FOV centre level (scanner coordinates), and
    # the FOV centre itself: anterior to the cord, slightly off it in R-L.
    origin = np.array([rng.uniform(-8, 8), rng.uniform(-45, -15), rng.uniform(-40, 40)])
    fov_centre = origin + np.array([rng.uniform(-3, 3), rng.uniform(8, 30), 0.0])
    t2w_grid = _draw_t2w_grid(rng, fov_centre)
    t1w_grid = _draw_t1w_grid(rng, t2w_grid)
    anatomy = _draw_anatomy(rng, origin, t2w_grid.fov_mm[2])

    has_edema = bool(rng.random() < 0.5)
    cavity_rate = {"astrocytoma": 0.5, "ependymoma": 0.7, "hemangioblastoma": 0.8}[pathology]
    has_cavity = bool(rng.random() < cavity_rate)
    lesions = draw_lesions(rng, pathology, anatomy, t2w_grid, has_edema, has_cavity)

    t2w = _draw_sequence(rng, t2w_grid, base_scale, "T2w")
    t1w = _draw_sequence(rng, t1w_grid, base_scale, "T1w")
    misalignment = _draw_misalignment(rng, t2w_grid.center_mm)
    return SubjectParameters(
        index=int(index),
        subject=label,
        pathology=pathology,
        age=age,
        sex=sex,
        manufacturer=manufacturer,
        model=model,
        field_strength_t=field_t,
        dtype=dtype,
        n_lesions=sum(1 for les in lesions if les.label == LABELS["tumor"]),
        has_edema=has_edema,
        has_cavity=has_cavity,
        anatomy=anatomy,
        lesions=lesions,
        t2w=t2w,
        t1w=t1w,
        misalignment=misalignment,
        noise_seed=int(rng.integers(2**62)),
    )
