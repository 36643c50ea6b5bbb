"""Draw the lesions of a demo subject: tumour cores, edema and cavities, by pathology.

Every structure is a :class:`~spinetumor.demo.params.LesionParameters` in the
cord frame; its look (signal, texture, edge) and size depend on the pathology.
"""

from __future__ import annotations

import numpy as np

from spinetumor import LABELS
from spinetumor.demo.grid import GridParameters
from spinetumor.demo.levels import cord_semi_axes
from spinetumor.demo.params import AnatomyParameters, LesionParameters

__all__ = ["draw_lesions", "random_waves", "unit_vector"]


def unit_vector(rng: np.random.Generator) -> np.ndarray:
    """A random direction (uniform on the sphere)."""
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def random_waves(
    rng: np.random.Generator, count: int, k_min: float, k_max: float
) -> tuple[tuple[float, ...], ...]:
    """Random plane waves (k vector of magnitude in [k_min, k_max], phase)."""
    out = []
    for _ in range(count):
        k = unit_vector(rng) * rng.uniform(k_min, k_max)
        out.append((float(k[0]), float(k[1]), float(k[2]), float(rng.uniform(0, 2 * np.pi))))
    return tuple(out)


# Tumour look per pathology: (T2w, T1w, texture T2w, texture T1w, patchy T1w, edge mm).
_TUMOUR_LOOK: dict[str, tuple[float, float, float, float, float, float]] = {
    "astrocytoma": (1.5, 1.0, 0.2, 0.08, 0.6, 1.2),  # ill-defined, weak patchy or no enhancement
    "ependymoma": (1.35, 1.9, 0.18, 0.15, 0.0, 0.0),  # well-defined, moderate enhancement
    "hemangioblastoma": (1.45, 2.6, 0.15, 0.12, 0.0, 0.0),  # intensely enhancing nodule
}
# Size per pathology: (semi-length range along the cord, cross-section fraction range,
# irregularity range, swelling range).
_TUMOUR_SIZE: dict[str, tuple[tuple[float, float], ...]] = {
    "astrocytoma": ((6.0, 45.0), (0.55, 0.9), (0.18, 0.3), (0.05, 0.22)),
    "ependymoma": ((4.5, 35.0), (0.6, 0.85), (0.05, 0.12), (0.05, 0.2)),
    "hemangioblastoma": ((2.5, 7.0), (0.45, 0.7), (0.03, 0.08), (0.0, 0.08)),
}


def _cross_radii(
    frac: float, level: float, anatomy: AnatomyParameters, swelling: float, thickness: float
) -> tuple[float, float]:
    """Semi-axes (u, n) of a structure occupying ``frac`` of the local (swollen) cord.

    The L-R semi-axis is kept above ~0.6 slice thickness so that at least one
    slice centre falls inside the structure, and below 0.9 of the cord.
    """
    a, b = cord_semi_axes(level, anatomy.cord_scale)
    a, b = float(a) * (1 + swelling), float(b) * (1 + swelling)
    ru = min(max(frac * a, 0.6 * thickness), 0.9 * a)
    return ru, frac * b


def _draw_tumour(
    rng: np.random.Generator,
    pathology: str,
    s_centre: float,
    anatomy: AnatomyParameters,
    thickness: float,
    size_factor: float,
) -> LesionParameters:
    """A tumour core of ``pathology`` centred at arc length ``s_centre``, scaled by ``size_factor``."""
    (s_lo, s_hi), (f_lo, f_hi), (i_lo, i_hi), (w_lo, w_hi) = _TUMOUR_SIZE[pathology]
    t2w, t1w, tex2, tex1, patchy, edge = _TUMOUR_LOOK[pathology]
    rs = float(np.exp(rng.uniform(np.log(s_lo), np.log(s_hi)))) * size_factor
    swelling = float(rng.uniform(w_lo, w_hi))
    level = anatomy.level_at_center_mm - s_centre
    ru, rn = _cross_radii(float(rng.uniform(f_lo, f_hi)), level, anatomy, swelling, thickness)
    a, b = cord_semi_axes(level, anatomy.cord_scale)
    if pathology == "hemangioblastoma":  # often dorsal, subpial
        u0, n0 = rng.uniform(-0.2, 0.2) * a, -rng.uniform(0.1, 0.3) * b
    elif pathology == "astrocytoma":  # eccentric, infiltrative
        u0, n0 = rng.uniform(-0.15, 0.15) * a, rng.uniform(-0.15, 0.15) * b
    else:  # ependymoma: central canal
        u0, n0 = 0.0, 0.0
    return LesionParameters(
        label=LABELS["tumor"],
        center_uns_mm=(float(u0), float(n0), float(s_centre)),
        radii_uns_mm=(ru, rn, rs),
        irregularity=float(rng.uniform(i_lo, i_hi)),
        shape_waves=random_waves(rng, 6, 1.5, 4.0),
        edge_mm=edge,
        t2w=t2w * float(rng.uniform(0.9, 1.1)),
        t1w=t1w * float(rng.uniform(0.92, 1.08)),
        texture_t2w=tex2,
        texture_t1w=tex1,
        patchy_t1w=patchy * float(rng.uniform(0.0, 1.0)),  # some astrocytomas do not enhance
        texture_waves=random_waves(rng, 8, 2 * np.pi / 9.0, 2 * np.pi / 3.0),
        swelling=swelling,
    )


def _draw_edema(
    rng: np.random.Generator, tumour: LesionParameters, anatomy: AnatomyParameters
) -> LesionParameters:
    """Edema: fills most of the cord around the tumour and extends along it."""
    s0 = tumour.center_uns_mm[2]
    a, b = cord_semi_axes(anatomy.level_at_center_mm - s0, anatomy.cord_scale)
    frac = float(rng.uniform(0.85, 1.0)) * (1 + tumour.swelling)
    return LesionParameters(
        label=LABELS["edema"],
        center_uns_mm=(0.0, 0.0, s0),
        radii_uns_mm=(float(a) * frac, float(b) * frac, tumour.radii_uns_mm[2] + float(rng.uniform(6, 30))),
        irregularity=float(rng.uniform(0.1, 0.2)),
        shape_waves=random_waves(rng, 6, 1.5, 3.5),
        edge_mm=float(rng.uniform(2.0, 3.5)),  # ill-defined
        t2w=1.6 * float(rng.uniform(0.92, 1.08)),
        t1w=0.88 * float(rng.uniform(0.95, 1.05)),
        texture_t2w=0.08,
        texture_t1w=0.03,
        patchy_t1w=0.0,
        texture_waves=random_waves(rng, 6, 2 * np.pi / 12.0, 2 * np.pi / 5.0),
        swelling=0.0,
    )


def _draw_cavities(
    rng: np.random.Generator,
    pathology: str,
    tumour: LesionParameters,
    anatomy: AnatomyParameters,
    thickness: float,
) -> list[LesionParameters]:
    """Cavities rostral and/or caudal to the tumour, inside the cord.

    A hemangioblastoma comes with a large cyst next to the nodule; the other
    tumours with a syrinx (polar cyst) along the central canal.
    """
    s0, rs_t = tumour.center_uns_mm[2], tumour.radii_uns_mm[2]
    side = rng.choice(["rostral", "caudal", "both"], p=[0.4, 0.35, 0.25])
    sides = [1.0, -1.0] if side == "both" else [1.0 if side == "rostral" else -1.0]
    out = []
    for sign in sides:
        if pathology == "hemangioblastoma":
            rs, frac, swelling = rng.uniform(8.0, 35.0), rng.uniform(0.55, 0.85), rng.uniform(0.05, 0.2)
        else:
            rs, frac, swelling = rng.uniform(6.0, 35.0), rng.uniform(0.3, 0.6), rng.uniform(0.0, 0.08)
        # Overlap the tumour pole a little so the cyst touches it.
        sc = s0 + sign * (rs_t + rs - min(1.5, 0.3 * rs_t))
        level = anatomy.level_at_center_mm - sc
        ru, rn = _cross_radii(float(frac), level, anatomy, float(swelling), thickness)
        out.append(
            LesionParameters(
                label=LABELS["cavity"],
                center_uns_mm=(0.0, float(rng.uniform(-0.3, 0.3)), float(sc)),
                radii_uns_mm=(ru, rn, float(rs)),
                irregularity=float(rng.uniform(0.02, 0.08)),  # fluid: smooth walls
                shape_waves=random_waves(rng, 6, 1.0, 3.0),
                edge_mm=0.0,
                t2w=2.5 * float(rng.uniform(0.95, 1.05)),
                t1w=0.4 * float(rng.uniform(0.9, 1.1)),
                texture_t2w=0.0,
                texture_t1w=0.0,
                patchy_t1w=0.0,
                texture_waves=(),
                swelling=float(swelling),
            )
        )
    return out


def draw_lesions(
    rng: np.random.Generator,
    pathology: str,
    anatomy: AnatomyParameters,
    grid: GridParameters,
    has_edema: bool,
    has_cavity: bool,
) -> tuple[LesionParameters, ...]:
    """Draw the tumour cores of a subject, then its edema and cavities.

    Args:
        rng: The subject's generator (the order of draws is part of the dataset).
        pathology: One of :data:`~spinetumor.demo.params.PATHOLOGIES`.
        anatomy: The subject's anatomy.
        grid: The T2w grid (lesions are placed within its field of view).
        has_edema: Draw edema around the main tumour (and around some of the others).
        has_cavity: Draw cavities next to the main tumour.

    Returns:
        Tumour cores first (the main one first), then edema, then cavities.
    """
    fov_si = grid.fov_mm[2]
    thickness = grid.voxel_size_mm[0]
    # Hemangioblastomas are often multiple (von Hippel-Lindau disease).
    counts = [0.6, 0.25, 0.15] if pathology == "hemangioblastoma" else [0.8, 0.2, 0.0]
    wanted = int(rng.choice([1, 2, 3], p=counts))
    s_main = float(rng.uniform(-0.25, 0.25) * fov_si)
    tumours = [_draw_tumour(rng, pathology, s_main, anatomy, thickness, 1.0)]
    for _ in range(wanted - 1):
        # Further lesions are smaller and must not overlap the others along the cord.
        for _attempt in range(20):
            s_centre = float(rng.uniform(-0.38, 0.38) * fov_si)
            size = float(rng.uniform(0.4, 0.8))
            candidate = _draw_tumour(rng, pathology, s_centre, anatomy, thickness, size)
            clear = all(
                abs(s_centre - t.center_uns_mm[2]) > candidate.radii_uns_mm[2] + t.radii_uns_mm[2] + 5.0
                for t in tumours
            )
            if clear:
                tumours.append(candidate)
                break
    others: list[LesionParameters] = []
    if has_edema:
        others.append(_draw_edema(rng, tumours[0], anatomy))
        others.extend(_draw_edema(rng, t, anatomy) for t in tumours[1:] if rng.random() < 0.5)
    if has_cavity:
        others.extend(_draw_cavities(rng, pathology, tumours[0], anatomy, thickness))
    return tuple(tumours + others)
