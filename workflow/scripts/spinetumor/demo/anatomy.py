"""The analytic anatomy of one demo subject, evaluated at arbitrary points.

:class:`AnatomyModel` holds the cord centreline and the level table
(:mod:`spinetumor.demo.levels`) and paints the tissues in turn: the body wall
(:mod:`spinetumor.demo.body`), the vertebrae and posterior elements
(:mod:`spinetumor.demo.vertebrae`), then the canal with the cord and its
lesions (:mod:`spinetumor.demo.canal`), which also gives the labels.
"""

from __future__ import annotations

import numpy as np

from spinetumor import LABELS
from spinetumor.demo import body, canal, vertebrae
from spinetumor.demo.levels import TABLE_HALF_MM, TABLE_STEP_MM, Frame, level_table, table_index
from spinetumor.demo.params import AnatomyParameters, SubjectParameters
from spinetumor.demo.tissues import TISSUE

__all__ = ["AnatomyModel", "PAINT_ORDER"]

#: Lesions are painted (and labelled) in this order, so that a tumour core wins
#: over a cavity and a cavity over edema where they overlap.
PAINT_ORDER: tuple[int, ...] = (LABELS["edema"], LABELS["cavity"], LABELS["tumor"])


def centreline_table(anat: AnatomyParameters) -> tuple[float, np.ndarray]:
    """The cord centreline every :data:`TABLE_STEP_MM` of the anatomy-frame S-I axis ``z``.

    Args:
        anat: The subject's anatomy.

    Returns:
        The first ``z`` and a float32 table with rows ``yc`` (A-P position),
        its slope ``dy/dz``, the arc length from ``z = 0`` and ``xc`` (R-L position).
    """
    z = np.arange(-TABLE_HALF_MM, TABLE_HALF_MM + TABLE_STEP_MM / 2, TABLE_STEP_MM)
    level = anat.level_at_center_mm - z

    def profile(lv: np.ndarray | float) -> np.ndarray:
        # Cervical lordosis bulges forward, thoracic kyphosis backward.
        lv = np.asarray(lv, dtype=float)
        return anat.lordosis_mm * np.exp(-(((lv - 55.0) / 55.0) ** 2)) - anat.kyphosis_mm * np.exp(
            -(((lv - 230.0) / 110.0) ** 2)
        )

    yc = profile(level) - profile(anat.level_at_center_mm) + anat.tilt * z
    slope = np.gradient(yc, TABLE_STEP_MM)
    speed = np.sqrt(1 + slope**2)
    arc = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * TABLE_STEP_MM)])
    arc -= np.interp(0.0, z, arc)
    wave = 2 * np.pi / anat.lateral_wave_period_mm
    phase = anat.lateral_wave_phase
    xc = anat.lateral_wave_mm * (np.sin(wave * z + phase) - np.sin(phase))
    return float(z[0]), np.stack([yc, slope, arc, xc]).astype(np.float32)


class AnatomyModel:
    """Analytic anatomy of one subject, evaluated at arbitrary points.

    Points are in the anatomy frame: world RAS mm minus ``anatomy.origin_mm``.
    The cord centreline is ``(xc(z), yc(z), z)``; a point is described by its
    offsets ``u`` (left-right) and ``n`` (perpendicular, anterior) from the
    centreline and its arc length ``s`` along it (first-order projection, good
    for the gentle curvature of the spine). Everything along the spine is a
    function of the level coordinate ``L = level_at_center - s``.
    """

    def __init__(self, params: SubjectParameters) -> None:
        self.params = params
        anat = params.anatomy
        self.z_start, self.z_table = centreline_table(anat)
        self.levels = level_table(anat, params.lesions)
        self.marrow = np.asarray(anat.marrow_factors, dtype=np.float32)
        self.nucleus = np.asarray(anat.nucleus_factors, dtype=np.float32)
        self.lesions = sorted(params.lesions, key=lambda les: PAINT_ORDER.index(les.label))

    def frame(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> Frame:
        """Cord-frame coordinates of anatomy-frame points."""
        i = table_index(z, self.z_start, self.z_table.shape[1])
        yc, slope, arc, xc = (self.z_table[r].take(i) for r in range(4))
        dy = y - yc
        inv = 1.0 / np.sqrt(1.0 + slope * slope)
        return Frame(self.levels, u=x - xc, n=dy * inv, s=arc + dy * slope * inv)

    def centreline(self, step_mm: float = 0.05) -> np.ndarray:
        """Dense samples (N, 3) of the cord centreline in the anatomy frame."""
        z = np.arange(-TABLE_HALF_MM + 1, TABLE_HALF_MM - 1, step_mm)
        zz = np.arange(self.z_table.shape[1]) * TABLE_STEP_MM + self.z_start
        return np.stack([np.interp(z, zz, self.z_table[3]), np.interp(z, zz, self.z_table[0]), z], axis=1)

    def render(
        self, x: np.ndarray, y: np.ndarray, z: np.ndarray, values: np.ndarray, contrast: int, width: float
    ) -> tuple[np.ndarray, Frame]:
        """Noise-free signal (cord = 1) at anatomy-frame points.

        Args:
            x, y, z: Coordinates (float32, same shape).
            values: Per-tissue signal for this contrast (jitter included).
            contrast: 0 for T2w, 1 for T1w.
            width: Edge ramp width (one in-plane pixel), mm.

        Returns:
            The signal and the cord frame of the points (for labels).
        """
        fr = self.frame(x, y, z)
        image = np.full(x.shape, values[TISSUE["muscle"]], dtype=np.float32)
        body.paint_body_wall(image, fr, values, width, self.params.anatomy)
        vertebrae.paint_vertebrae(image, fr, values, width, self.marrow, self.nucleus)
        vertebrae.paint_posterior_elements(image, fr, values, width)
        canal.paint_canal(image, fr, values, contrast, width, self.lesions)
        return image, fr

    def labels(self, fr: Frame) -> tuple[np.ndarray, np.ndarray]:
        """dseg values and cord mask at points (hard edges, from the same geometry)."""
        return canal.cord_labels(fr, self.lesions)
