"""Everything along the spine of a demo subject, tabulated by level, and the cord frame of points.

The level coordinate ``L`` is in mm caudal from the top of C1; ``s = L(centre) - L``
is the arc length along the cord from the centre of the T2w field of view. The
level table holds, every :data:`TABLE_STEP_MM`, the vertebral period and phase,
the cord, dural sac and canal cross-sections (swollen around lesions), the
vertebral body size, the skin depth and the spinous processes; a :class:`Frame`
looks its columns up for a batch of points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spinetumor.demo.params import AnatomyParameters, LesionParameters

__all__ = [
    "N_LEVEL_FACTORS",
    "LEVEL_OFFSET",
    "TABLE_STEP_MM",
    "TABLE_HALF_MM",
    "cord_semi_axes",
    "thoracic_weight",
    "table_index",
    "LevelTable",
    "level_table",
    "Frame",
]

# Cord semi-axes (mm) along the level coordinate L (mm caudal from the top of C1):
# about 13 mm x 8 mm at C5, tapering caudally, lumbar enlargement, conus.
_CORD_L = np.array([-40.0, 0.0, 30.0, 65.0, 100.0, 140.0, 250.0, 360.0, 400.0, 440.0, 480.0])
_CORD_SEMI_LR = np.array([6.0, 5.7, 6.0, 6.5, 5.6, 4.6, 4.1, 4.3, 4.8, 2.6, 2.0])
_CORD_SEMI_AP = np.array([4.4, 4.2, 4.1, 4.0, 3.7, 3.5, 3.3, 3.4, 3.8, 2.6, 2.0])

N_LEVEL_FACTORS = 48  # per-vertebra marrow and disc factors (covers phase -12..35)
LEVEL_OFFSET = 12
TABLE_STEP_MM = 0.1  # fine enough for nearest-neighbour look-ups
TABLE_HALF_MM = 420.0

# Rows of the level table.
_LEVEL_COLUMNS = (
    "tau", "period", "phase", "disc", "cord_a", "cord_b", "dura_a", "dura_b", "dura_n",
    "canal_a", "canal_b", "canal_n", "body_b", "body_w", "skin", "spinous_slope", "spinous_len",
    "body_back", "body_front", "canal_back",
)  # fmt: skip


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    """Logistic function (float64)."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def cord_semi_axes(level_mm: np.ndarray | float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Unswollen cord semi-axes (L-R, A-P) in mm at level coordinate(s) ``level_mm``."""
    level = np.asarray(level_mm, dtype=float)
    return scale * np.interp(level, _CORD_L, _CORD_SEMI_LR), scale * np.interp(level, _CORD_L, _CORD_SEMI_AP)


def thoracic_weight(level_mm: np.ndarray | float) -> np.ndarray:
    """0 in the cervical spine, 1 in the thoracic spine, smooth around C7-T1."""
    return _sigmoid((np.asarray(level_mm, dtype=float) - 115.0) / 12.0)


def table_index(values: np.ndarray, start: float, size: int) -> np.ndarray:
    """Nearest row of a table sampled every ``TABLE_STEP_MM`` from ``start``."""
    pos = (values - np.float32(start)) * np.float32(1.0 / TABLE_STEP_MM)
    return np.clip(np.rint(pos), 0, size - 1).astype(np.intp)


@dataclass(frozen=True)
class LevelTable:
    """Spine columns sampled every :data:`TABLE_STEP_MM` of level.

    Attributes:
        start: Level (mm) of the first sample.
        centre: Level at the centre of the T2w field of view (``s = 0``).
        columns: Row of ``table`` of each column name.
        table: The columns (float32, one row each).
        bounds: Extremes over the whole table that let each structure work
            on the few points that can touch it.
    """

    start: float
    centre: float
    columns: dict[str, int]
    table: np.ndarray
    bounds: dict[str, float]


def _vertebral_columns(anat: AnatomyParameters, level: np.ndarray) -> dict[str, np.ndarray]:
    """Thoracic weight, vertebral period, phase (integer at disc centres) and disc height."""
    tau = thoracic_weight(level)
    # About 16.5 mm per cervical level, 21 mm at T1 growing to ~27 mm at T12.
    thoracic_period = 21.0 + 0.025 * np.maximum(level - 120.0, 0.0)
    period = anat.period_scale * ((1 - tau) * 16.5 + tau * thoracic_period)
    phase = np.concatenate([[0.0], np.cumsum(TABLE_STEP_MM / period[:-1])])
    phase -= np.interp(0.0, level, phase)  # a disc centre at the top of C1
    disc = period * ((1 - tau) * 0.26 + tau * 0.22)
    return dict(tau=tau, period=period, phase=phase, disc=disc)


def _cord_swelling(s: np.ndarray, lesions: Sequence[LesionParameters]) -> np.ndarray:
    """Relative enlargement of the cord along ``s`` from the lesions that swell it (at most 0.3)."""
    swelling = np.zeros_like(s)
    for les in lesions:
        if les.swelling > 0:
            # Smooth window that vanishes 3 mm beyond the structure's poles.
            x = (s - les.center_uns_mm[2]) / (les.radii_uns_mm[2] + 3.0)
            swelling += les.swelling * np.clip(1 - x * x, 0, 1) ** 2
    return np.minimum(swelling, 0.3)


def _canal_columns(
    anat: AnatomyParameters, level: np.ndarray, s: np.ndarray, tau: np.ndarray, swelling: np.ndarray
) -> dict[str, np.ndarray]:
    """Cord, dural sac and bony canal cross-sections (semi-axes and A-P centres)."""
    a0, b0 = cord_semi_axes(level, anat.cord_scale)
    cord_a, cord_b = a0 * (1 + swelling), b0 * (1 + swelling)
    # The dural sac and the canal make room for a swollen cord.
    dura_n = -anat.dura_offset_mm * np.ones_like(s)
    dura_a = np.maximum(a0 + anat.csf_lateral_mm, cord_a + 0.6)
    dura_b = np.maximum(b0 + anat.csf_ap_mm, cord_b + anat.dura_offset_mm + 0.6)
    front_wall = dura_n + dura_b + 0.5
    # The dorsal epidural fat pad is scant in the neck and thicker in the chest.
    back_wall = dura_n - dura_b - anat.posterior_epidural_fat_mm * (0.5 + 0.5 * tau)
    canal_b = (front_wall - back_wall) / 2
    canal_n = (front_wall + back_wall) / 2
    canal_a = dura_a + anat.lateral_epidural_mm
    return dict(
        cord_a=cord_a, cord_b=cord_b, dura_a=dura_a, dura_b=dura_b, dura_n=dura_n,
        canal_a=canal_a, canal_b=canal_b, canal_n=canal_n,
    )  # fmt: skip


def _body_columns(
    anat: AnatomyParameters, s: np.ndarray, tau: np.ndarray, canal_n: np.ndarray, canal_b: np.ndarray
) -> dict[str, np.ndarray]:
    """Vertebral bodies, posterior skin depth and spinous processes."""
    body_b = anat.bone_scale * (7.8 + 5.5 * tau)
    body_w = anat.bone_scale * (8.5 + 7.0 * tau)
    skin = (1 - tau) * anat.skin_depth_cervical_mm + tau * anat.skin_depth_thoracic_mm
    skin = skin + anat.skin_wave_mm * np.sin(2 * np.pi * s / 260.0 + anat.skin_wave_phase)
    spinous_slope = 0.3 + 0.6 * tau  # thoracic spinous processes point steeply down
    spinous_len = anat.bone_scale * (22.0 + 10.0 * tau)
    return dict(
        body_b=body_b, body_w=body_w, skin=skin, spinous_slope=spinous_slope, spinous_len=spinous_len,
        body_back=canal_n + canal_b, body_front=canal_n + canal_b + 2 * body_b, canal_back=canal_n - canal_b,
    )  # fmt: skip


def _bounds(c: dict[str, np.ndarray]) -> dict[str, float]:
    """Extremes of the columns over the table (see :attr:`LevelTable.bounds`)."""
    canal_n, canal_b = c["canal_n"], c["canal_b"]
    return {
        "canal_a": float(c["canal_a"].max()),
        "canal_extent": float(max(np.abs(canal_n - canal_b).max(), np.abs(canal_n + canal_b).max())),
        "skin": float(c["skin"].min()),
        "body_back": float(c["body_back"].min()),
        "body_front_min": float(c["body_front"].min()),
        "body_front_max": float(c["body_front"].max()),
        "body_w": float(c["body_w"].max()),
        "posterior_min": float((canal_n - canal_b - c["spinous_len"]).min()),
        "body_back_max": float(c["body_back"].max()),
    }


def level_table(anat: AnatomyParameters, lesions: Sequence[LesionParameters]) -> LevelTable:
    """Tabulate the spine of a subject over the whole table range.

    Args:
        anat: The subject's anatomy.
        lesions: Its lesions (those with a swelling enlarge the cord, dura and canal).

    Returns:
        The level table, from ``TABLE_HALF_MM + 40`` mm above to as far below the centre level.
    """
    half = TABLE_HALF_MM + 40.0
    level = np.arange(anat.level_at_center_mm - half, anat.level_at_center_mm + half, TABLE_STEP_MM)
    s = anat.level_at_center_mm - level
    columns = _vertebral_columns(anat, level)
    tau = columns["tau"]
    columns.update(_canal_columns(anat, level, s, tau, _cord_swelling(s, lesions)))
    columns.update(_body_columns(anat, s, tau, columns["canal_n"], columns["canal_b"]))
    rows = [np.broadcast_to(columns[c], level.shape) for c in _LEVEL_COLUMNS]
    return LevelTable(
        start=float(level[0]),
        centre=anat.level_at_center_mm,
        columns={name: i for i, name in enumerate(_LEVEL_COLUMNS)},
        table=np.stack(rows).astype(np.float32),
        bounds=_bounds(columns),
    )


class Frame:
    """Cord-frame coordinates of a batch of points, with level-table columns looked up on demand.

    Attributes:
        levels: The subject's level table.
        u: Left-right offset from the cord centreline (mm, +right).
        n: Offset perpendicular to the cord in the sagittal plane (mm, +anterior).
        s: Arc length along the cord from the T2w field-of-view centre (mm, +superior).
    """

    def __init__(self, levels: LevelTable, u: np.ndarray, n: np.ndarray, s: np.ndarray) -> None:
        self.levels = levels
        self.u, self.n, self.s = u, n, s
        size = levels.table.shape[1]
        self._index = table_index(np.float32(levels.centre) - s, levels.start, size)
        self._cache: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = self.levels.table[self.levels.columns[name]].take(self._index)
        return self._cache[name]

    def subset(self, idx: np.ndarray) -> Frame:
        """The points ``idx`` (cached columns come along)."""
        sub = object.__new__(Frame)
        sub.levels = self.levels
        sub.u, sub.n, sub.s = self.u[idx], self.n[idx], self.s[idx]
        sub._index = self._index[idx]
        sub._cache = {k: v[idx] for k, v in self._cache.items()}
        return sub
