"""Seeded synthetic BIDS dataset of sagittal spinal MRI with intramedullary tumours.

No spinal tumour data set is public, so the pipeline ships a generator that
writes a small but realistic one. Each subject has:

* a sagittal T2-weighted image and a gadolinium-enhanced T1-weighted image, each
  on its own anisotropic grid (thin in-plane pixels, thick R-L slices), with
  per-subject matrix, field of view and header orientation (array axis order and
  flips vary; the affine says where every voxel is, so the world-space anatomy is
  the same whatever the storage);
* labels on the T2w grid: a ``dseg`` map (1 tumour core, 2 edema, 3 cavity), a
  binary spinal cord mask and a one-voxel-per-slice-position cord centreline.

The anatomy is analytic, in world millimetres (RAS+): a curved cord with an
elliptical cross-section inside a CSF-filled dural sac, epidural fat, a bony
canal, vertebral bodies (cortical rim, marrow) and discs (bright nucleus),
posterior elements and ligaments, muscle, subcutaneous fat, air, an airway in
the neck and lungs and aorta in the chest. Tumours (astrocytoma, ependymoma,
hemangioblastoma), edema and cavities (syrinx or tumour cyst) are irregular
ellipsoids in a frame that follows the cord, always clipped to the cord.

Acquisition effects: partial volume (three sub-samples through each thick slice
plus a linear ramp of one in-plane pixel at every edge, which is exactly the
box-filtered profile of a straight edge), a smooth multiplicative bias field
(posterior coil sensitivity plus a random low-order polynomial, different per
contrast), Rician noise (magnitude of complex Gaussian noise), a per-scanner
intensity scale, and int16 or float32 storage.

The T1w anatomy is rigidly moved with respect to the T2w anatomy while its
header knows nothing of it (see :class:`Misalignment` for the exact convention),
so that registration is needed and its result can be checked.

Everything about subject ``i`` is drawn from ``np.random.default_rng([seed, i])``;
a subject is therefore the same whatever the number of subjects, and the same
seed gives byte-identical arrays.

Command line::

    PYTHONPATH=workflow/scripts python -m spinetumor.demo OUT_DIR --n-subjects 6 --seed 0
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spinetumor import __version__
from spinetumor.io import atomic_path, save_nifti, write_json

__all__ = [
    "PATHOLOGIES",
    "ORIENTATIONS",
    "DSEG_LABELS",
    "GridParameters",
    "LesionParameters",
    "Misalignment",
    "AnatomyParameters",
    "SequenceParameters",
    "SubjectParameters",
    "subject_id",
    "subject_parameters",
    "subject_paths",
    "render_subject",
    "write_subject",
    "write_dataset_files",
    "generate_dataset",
    "main",
]

log = logging.getLogger(__name__)

#: Tumour types, assigned in turn by subject index so that any three
#: consecutive subjects cover all of them.
PATHOLOGIES: tuple[str, ...] = ("astrocytoma", "ependymoma", "hemangioblastoma")

#: Header orientations (``nibabel.aff2axcodes`` of the stored array) drawn per
#: subject. Sagittal scans converted by different tools end up in many of these.
ORIENTATIONS: tuple[str, ...] = ("RAS", "LPS", "PSR", "ASL", "PIL", "LAS", "SPL", "IAR", "RPI", "ASR")

#: Label values of the ``dseg`` map.
DSEG_LABELS: dict[int, str] = {1: "tumor", 2: "edema", 3: "cavity"}

#: (Manufacturer, model, field strength in T, typical intensity scale).
_SCANNERS: tuple[tuple[str, str, float, float], ...] = (
    ("Siemens", "MAGNETOM Prisma", 3.0, 650.0),
    ("GE", "Discovery MR750", 3.0, 1800.0),
    ("Philips", "Ingenia", 1.5, 320.0),
    ("Siemens", "MAGNETOM Aera", 1.5, 1100.0),
)

# Tissue signal relative to the spinal cord (cord = 1) as (T2w, T1w post-Gd), after
# METHODS.md, "How the tissues look". CSF and fat swap places between the two
# contrasts, which is what makes the T1w/T2w pair informative.
_TISSUES: dict[str, tuple[float, float]] = {
    "air": (0.0, 0.0),
    "cord": (1.0, 1.0),
    "csf": (2.7, 0.35),
    "fat": (2.1, 2.3),
    "marrow": (1.15, 1.45),
    "cortex": (0.12, 0.15),
    "ligament": (0.22, 0.3),
    "nucleus": (2.3, 0.75),
    "annulus": (0.55, 0.6),
    "muscle": (0.62, 0.85),
    "soft": (0.95, 0.95),
    "lung": (0.05, 0.05),
    "vessel": (0.08, 0.1),  # flow void of the aorta on spin-echo images
}
_TISSUE_NAMES: tuple[str, ...] = tuple(_TISSUES)
_T = {name: i for i, name in enumerate(_TISSUE_NAMES)}
# Axis code letter -> (world axis, direction).
_AXIS_LETTERS = {"R": (0, 1.0), "L": (0, -1.0), "A": (1, 1.0), "P": (1, -1.0), "S": (2, 1.0), "I": (2, -1.0)}

# Cord semi-axes (mm) along the level coordinate L (mm caudal from the top of C1):
# about 13 mm x 8 mm at C5, tapering caudally, lumbar enlargement, conus.
_CORD_L = np.array([-40.0, 0.0, 30.0, 65.0, 100.0, 140.0, 250.0, 360.0, 400.0, 440.0, 480.0])
_CORD_SEMI_LR = np.array([6.0, 5.7, 6.0, 6.5, 5.6, 4.6, 4.1, 4.3, 4.8, 2.6, 2.0])
_CORD_SEMI_AP = np.array([4.4, 4.2, 4.1, 4.0, 3.7, 3.5, 3.3, 3.4, 3.8, 2.6, 2.0])

_N_LEVEL_FACTORS = 48  # per-vertebra marrow and disc factors (covers phase -12..35)
_LEVEL_OFFSET = 12
_TABLE_STEP_MM = 0.1  # fine enough for nearest-neighbour look-ups
_TABLE_HALF_MM = 420.0
_SUBSAMPLES = (-1.0 / 3.0, 0.0, 1.0 / 3.0)  # through-slice partial-volume sampling
_CHUNK_POINTS = 80_000  # small batches stay in cache


# --------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class GridParameters:
    """One acquisition grid.

    Attributes:
        voxel_size_mm: Voxel edge lengths along world R-L (slice thickness),
            A-P and S-I, in mm.
        shape_ras: Number of voxels along world R-L, A-P and S-I.
        orientation: Axis codes of the stored array (``nibabel.aff2axcodes``),
            e.g. ``"PSR"``: array axis 0 runs to posterior, 1 to superior, 2 to right.
        center_mm: World (scanner RAS+, mm) position of the centre of the field of view.
        oblique_deg: Rotation of the field of view about its centre, about the
            world R, A and S axes (applied in that order), in degrees.
    """

    voxel_size_mm: tuple[float, float, float]
    shape_ras: tuple[int, int, int]
    orientation: str
    center_mm: tuple[float, float, float]
    oblique_deg: tuple[float, float, float]

    @property
    def axes(self) -> tuple[tuple[int, float], ...]:
        """For each stored axis: (world axis 0/1/2 for R/A/S, direction sign)."""
        return tuple(_AXIS_LETTERS[c] for c in self.orientation)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of the stored array."""
        return tuple(self.shape_ras[w] for w, _ in self.axes)  # type: ignore[return-value]

    @property
    def fov_mm(self) -> tuple[float, float, float]:
        """Field of view along world R-L, A-P and S-I, in mm."""
        return tuple(n * d for n, d in zip(self.shape_ras, self.voxel_size_mm))  # type: ignore[return-value]

    @property
    def slice_axis(self) -> int:
        """Stored axis that runs R-L (the thick one)."""
        return [w for w, _ in self.axes].index(0)

    @property
    def si_axis(self) -> int:
        """Stored axis that runs S-I."""
        return [w for w, _ in self.axes].index(2)

    @property
    def affine(self) -> np.ndarray:
        """4x4 voxel-to-world (RAS+, mm) matrix of the stored array."""
        cols = np.zeros((3, 3))
        for k, (w, sign) in enumerate(self.axes):
            cols[w, k] = sign * self.voxel_size_mm[w]
        rot = _rotation_matrix(self.oblique_deg)
        linear = rot @ cols
        centre_index = (np.asarray(self.shape, float) - 1.0) / 2.0
        affine = np.eye(4)
        affine[:3, :3] = linear
        affine[:3, 3] = np.asarray(self.center_mm) - linear @ centre_index
        return affine


@dataclass(frozen=True)
class LesionParameters:
    """One intramedullary structure (tumour core, edema or cavity).

    Coordinates are in the cord frame: ``u`` left-right offset from the cord
    centre (mm, +right), ``n`` antero-posterior offset perpendicular to the cord
    (mm, +anterior), ``s`` arc length along the cord from the centre of the T2w
    field of view (mm, +superior).

    Attributes:
        label: dseg value (1 tumour core, 2 edema, 3 cavity).
        center_uns_mm: Centre (u, n, s).
        radii_uns_mm: Semi-axes along u, n, s.
        irregularity: Amplitude of the smooth radial perturbation (0 = ellipsoid).
        shape_waves: Random Fourier waves (k_u, k_n, k_s, phase) of the shape
            perturbation, in ellipsoid-normalised coordinates.
        edge_mm: Width of the intensity transition at the border (ill-defined
            lesions have a wide one); labels always cut at the border itself.
        t2w: Mean T2w signal relative to the cord.
        t1w: Mean T1w (post-Gd) signal relative to the cord.
        texture_t2w: Amplitude of the T2w heterogeneity.
        texture_t1w: Amplitude of the T1w heterogeneity.
        patchy_t1w: Extra enhancement where the texture is positive (patchy enhancement).
        texture_waves: Fourier waves (k_u, k_n, k_s in rad/mm, phase) of the texture.
        swelling: Relative enlargement of the cord around this structure.
    """

    label: int
    center_uns_mm: tuple[float, float, float]
    radii_uns_mm: tuple[float, float, float]
    irregularity: float
    shape_waves: tuple[tuple[float, float, float, float], ...]
    edge_mm: float
    t2w: float
    t1w: float
    texture_t2w: float
    texture_t1w: float
    patchy_t1w: float
    texture_waves: tuple[tuple[float, float, float, float], ...]
    swelling: float


@dataclass(frozen=True)
class Misalignment:
    """True rigid displacement of the T1w anatomy relative to the T2w anatomy.

    A point of the anatomy at world position ``p`` in the T2w image (RAS+, mm)
    appears at world position ``p' = R (p - c) + c + t`` in the T1w image, where
    ``R = Rz(rz) @ Ry(ry) @ Rx(rx)`` (angles ``rotation_deg`` about the world R,
    A and S axes, right-handed), ``c = center_mm`` and ``t = translation_mm``;
    :attr:`matrix` is this map as a 4x4 RAS matrix ``M``.

    In ITK terms (fixed = T2w, moving = T1w, transform maps fixed points to
    moving points) the exact registration result is ``M``; in LPS it is
    ``F M F`` with ``F = diag(-1, -1, 1, 1)``. To put the T1w onto the T2w grid,
    sample the T1w at ``M @ p`` for every T2w voxel position ``p``; equivalently,
    replacing the T1w affine ``A`` by ``inv(M) @ A`` corrects its header.

    Attributes:
        rotation_deg: (rx, ry, rz) in degrees.
        translation_mm: (tx, ty, tz) in mm.
        center_mm: Rotation centre ``c`` (the centre of the T2w field of view).
    """

    rotation_deg: tuple[float, float, float]
    translation_mm: tuple[float, float, float]
    center_mm: tuple[float, float, float]

    @property
    def matrix(self) -> np.ndarray:
        """The 4x4 world-to-world (RAS+, mm) map from T2w to T1w anatomy positions."""
        rot = _rotation_matrix(self.rotation_deg)
        centre = np.asarray(self.center_mm)
        out = np.eye(4)
        out[:3, :3] = rot
        out[:3, 3] = centre - rot @ centre + np.asarray(self.translation_mm)
        return out

    def to_json(self) -> dict[str, Any]:
        """Sidecar representation (``SyntheticMisalignment``)."""
        return {
            "rotation_deg": [round(v, 6) for v in self.rotation_deg],
            "translation_mm": [round(v, 6) for v in self.translation_mm],
            "center_mm": [round(v, 6) for v in self.center_mm],
            "matrix_ras": np.round(self.matrix, 9).tolist(),
            "convention": (
                "p_T1w = R (p_T2w - center_mm) + center_mm + translation_mm, R = Rz Ry Rx with "
                "rotation_deg = [rx, ry, rz] about the world R, A, S axes; RAS+ mm. Maps the world "
                "position of an anatomical point in the T2w image to its world position in this "
                "T1w image (matrix_ras). To align this image to the T2w, sample it at "
                "matrix_ras @ p for each T2w position p (ITK fixed=T2w, moving=T1w transform)."
            ),
        }


@dataclass(frozen=True)
class AnatomyParameters:
    """Subject anatomy (all lengths in mm).

    Attributes:
        coverage: ``"cervical"`` (C1 down to the upper thoracic cord) or ``"thoracic"``.
        level_at_center_mm: Level coordinate L (mm caudal from the top of C1)
            at the centre of the T2w field of view.
        origin_mm: World position of the cord centre at the T2w field-of-view centre level.
        cord_scale: Scale of the cord cross-section.
        lordosis_mm: Anterior bulge of the cervical curve.
        kyphosis_mm: Posterior bulge of the thoracic curve.
        tilt: Slope of the spine in the sagittal plane (dy/dz; neck flexion).
        lateral_wave_mm: Amplitude of a gentle left-right deviation of the cord.
        lateral_wave_period_mm: Its wavelength.
        lateral_wave_phase: Its phase (rad).
        period_scale: Scale of the vertebral period.
        bone_scale: Scale of vertebral body size and posterior elements.
        csf_lateral_mm: CSF sleeve on each side of the cord.
        csf_ap_mm: CSF sleeve in front of and behind the cord.
        dura_offset_mm: Posterior shift of the dural sac with respect to the cord.
        posterior_epidural_fat_mm: Thickness of the dorsal epidural fat pad.
        lateral_epidural_mm: Epidural space on each side.
        skin_depth_cervical_mm: Cord to posterior skin distance in the neck.
        skin_depth_thoracic_mm: Cord to posterior skin distance in the back.
        skin_wave_mm: Amplitude of a slow undulation of the posterior skin.
        skin_wave_phase: Its phase (rad).
        subcutaneous_fat_mm: Thickness of the posterior subcutaneous fat.
        anterior_neck_mm: Distance from the front of the vertebral bodies to the
            front of the neck.
        marrow_factors: Per-vertebra marrow signal factors.
        nucleus_factors: Per-disc nucleus T2w factors (degenerated discs are darker).
    """

    coverage: str
    level_at_center_mm: float
    origin_mm: tuple[float, float, float]
    cord_scale: float
    lordosis_mm: float
    kyphosis_mm: float
    tilt: float
    lateral_wave_mm: float
    lateral_wave_period_mm: float
    lateral_wave_phase: float
    period_scale: float
    bone_scale: float
    csf_lateral_mm: float
    csf_ap_mm: float
    dura_offset_mm: float
    posterior_epidural_fat_mm: float
    lateral_epidural_mm: float
    skin_depth_cervical_mm: float
    skin_depth_thoracic_mm: float
    skin_wave_mm: float
    skin_wave_phase: float
    subcutaneous_fat_mm: float
    anterior_neck_mm: float
    marrow_factors: tuple[float, ...]
    nucleus_factors: tuple[float, ...]


@dataclass(frozen=True)
class SequenceParameters:
    """One acquisition (T2w or T1w).

    Attributes:
        grid: The grid it is stored on.
        intensity_scale: Scanner units of the cord signal (before bias and noise).
        snr: Cord signal over the noise standard deviation.
        bias_coefficients: Log bias field: coil fall-off along A-P then the
            x, y, z, x², y², z², xy, yz, xz terms (coordinates in units of 100 mm
            from the field-of-view centre).
        tissue_factors: Per-tissue signal jitter, in the order of the tissue table.
        repetition_time_s: TR.
        echo_time_s: TE.
        flip_angle_deg: Flip angle.
    """

    grid: GridParameters
    intensity_scale: float
    snr: float
    bias_coefficients: tuple[float, ...]
    tissue_factors: tuple[float, ...]
    repetition_time_s: float
    echo_time_s: float
    flip_angle_deg: float


@dataclass(frozen=True)
class SubjectParameters:
    """Everything that defines one synthetic subject (cheap to compute).

    Attributes:
        index: 1-based subject index.
        subject: BIDS label (``"001"``).
        pathology: One of :data:`PATHOLOGIES`.
        age: Years.
        sex: ``"M"`` or ``"F"``.
        manufacturer: Scanner manufacturer.
        model: Scanner model.
        field_strength_t: 1.5 or 3.
        dtype: On-disk type of the images (``"int16"`` or ``"float32"``).
        n_lesions: Number of tumour cores.
        has_edema: Whether there is edema.
        has_cavity: Whether there is a cavity (syrinx or tumour cyst).
        anatomy: Anatomy parameters.
        lesions: Tumour cores, edema and cavities.
        t2w: The T2w acquisition.
        t1w: The T1w acquisition (own grid).
        misalignment: True displacement of the T1w anatomy.
        noise_seed: Seed of the noise generator (drawn from the subject generator).
    """

    index: int
    subject: str
    pathology: str
    age: int
    sex: str
    manufacturer: str
    model: str
    field_strength_t: float
    dtype: str
    n_lesions: int
    has_edema: bool
    has_cavity: bool
    anatomy: AnatomyParameters
    lesions: tuple[LesionParameters, ...]
    t2w: SequenceParameters
    t1w: SequenceParameters
    misalignment: Misalignment
    noise_seed: int = field(repr=False)

    @property
    def voxel_size_mm(self) -> tuple[float, float, float]:
        """T2w voxel size along world R-L, A-P, S-I."""
        return self.t2w.grid.voxel_size_mm

    @property
    def shape(self) -> tuple[int, int, int]:
        """Stored T2w array shape."""
        return self.t2w.grid.shape

    @property
    def orientation(self) -> str:
        """Axis codes of the stored T2w (and T1w) arrays."""
        return self.t2w.grid.orientation

    @property
    def scanner_scale(self) -> tuple[float, float]:
        """Scanner units of the cord signal in the (T2w, T1w) images."""
        return self.t2w.intensity_scale, self.t1w.intensity_scale


# --------------------------------------------------------------------------- small helpers
def _rotation_matrix(angles_deg: Sequence[float]) -> np.ndarray:
    """``Rz @ Ry @ Rx`` for angles (rx, ry, rz) in degrees about the world axes."""
    rx, ry, rz = np.deg2rad(np.asarray(angles_deg, dtype=float))
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    mx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    my = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    mz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return mz @ my @ mx


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def _unit_vector(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def _waves(rng: np.random.Generator, count: int, k_min: float, k_max: float) -> tuple[tuple[float, ...], ...]:
    """Random plane waves (k vector of magnitude in [k_min, k_max], phase)."""
    out = []
    for _ in range(count):
        k = _unit_vector(rng) * rng.uniform(k_min, k_max)
        out.append((float(k[0]), float(k[1]), float(k[2]), float(rng.uniform(0, 2 * np.pi))))
    return tuple(out)


def _cord_semi_axes(level_mm: np.ndarray | float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Unswollen cord semi-axes (L-R, A-P) in mm at level coordinate(s) ``level_mm``."""
    level = np.asarray(level_mm, dtype=float)
    return scale * np.interp(level, _CORD_L, _CORD_SEMI_LR), scale * np.interp(level, _CORD_L, _CORD_SEMI_AP)


def _thoracic_weight(level_mm: np.ndarray | float) -> np.ndarray:
    """0 in the cervical spine, 1 in the thoracic spine, smooth around C7-T1."""
    return _sigmoid((np.asarray(level_mm, dtype=float) - 115.0) / 12.0)


def subject_id(index: int) -> str:
    """BIDS subject label of the 1-based ``index``.

    Args:
        index: 1 to 999.

    Returns:
        Zero-padded three-digit label, e.g. ``"001"``.

    Raises:
        ValueError: ``index`` is outside 1..999.
    """
    if not 1 <= int(index) <= 999:
        raise ValueError(f"subject index must be in 1..999, got {index}")
    return f"{int(index):03d}"


# --------------------------------------------------------------------------- drawing parameters
def _draw_t2w_grid(rng: np.random.Generator, centre: np.ndarray) -> GridParameters:
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
    cervical = rng.random() < 0.6
    # Level of the top of the field of view: just above C1 (cervical protocol) or C6-T2.
    top = rng.uniform(-8.0, 12.0) if cervical else rng.uniform(95.0, 160.0)
    degenerated = rng.random(_N_LEVEL_FACTORS) < 0.25
    nucleus = np.where(
        degenerated, rng.uniform(0.3, 0.6, _N_LEVEL_FACTORS), rng.uniform(0.85, 1.05, _N_LEVEL_FACTORS)
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
        marrow_factors=tuple(float(v) for v in rng.uniform(0.85, 1.15, _N_LEVEL_FACTORS)),
        nucleus_factors=tuple(float(v) for v in nucleus),
    )


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
    a, b = _cord_semi_axes(level, anatomy.cord_scale)
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
    (s_lo, s_hi), (f_lo, f_hi), (i_lo, i_hi), (w_lo, w_hi) = _TUMOUR_SIZE[pathology]
    t2w, t1w, tex2, tex1, patchy, edge = _TUMOUR_LOOK[pathology]
    rs = float(np.exp(rng.uniform(np.log(s_lo), np.log(s_hi)))) * size_factor
    swelling = float(rng.uniform(w_lo, w_hi))
    level = anatomy.level_at_center_mm - s_centre
    ru, rn = _cross_radii(float(rng.uniform(f_lo, f_hi)), level, anatomy, swelling, thickness)
    a, b = _cord_semi_axes(level, anatomy.cord_scale)
    if pathology == "hemangioblastoma":  # often dorsal, subpial
        u0, n0 = rng.uniform(-0.2, 0.2) * a, -rng.uniform(0.1, 0.3) * b
    elif pathology == "astrocytoma":  # eccentric, infiltrative
        u0, n0 = rng.uniform(-0.15, 0.15) * a, rng.uniform(-0.15, 0.15) * b
    else:  # ependymoma: central canal
        u0, n0 = 0.0, 0.0
    return LesionParameters(
        label=1,
        center_uns_mm=(float(u0), float(n0), float(s_centre)),
        radii_uns_mm=(ru, rn, rs),
        irregularity=float(rng.uniform(i_lo, i_hi)),
        shape_waves=_waves(rng, 6, 1.5, 4.0),
        edge_mm=edge,
        t2w=t2w * float(rng.uniform(0.9, 1.1)),
        t1w=t1w * float(rng.uniform(0.92, 1.08)),
        texture_t2w=tex2,
        texture_t1w=tex1,
        patchy_t1w=patchy * float(rng.uniform(0.0, 1.0)),  # some astrocytomas do not enhance
        texture_waves=_waves(rng, 8, 2 * np.pi / 9.0, 2 * np.pi / 3.0),
        swelling=swelling,
    )


def _draw_edema(
    rng: np.random.Generator, tumour: LesionParameters, anatomy: AnatomyParameters
) -> LesionParameters:
    """Edema: fills most of the cord around the tumour and extends along it."""
    s0 = tumour.center_uns_mm[2]
    a, b = _cord_semi_axes(anatomy.level_at_center_mm - s0, anatomy.cord_scale)
    frac = float(rng.uniform(0.85, 1.0)) * (1 + tumour.swelling)
    return LesionParameters(
        label=2,
        center_uns_mm=(0.0, 0.0, s0),
        radii_uns_mm=(float(a) * frac, float(b) * frac, tumour.radii_uns_mm[2] + float(rng.uniform(6, 30))),
        irregularity=float(rng.uniform(0.1, 0.2)),
        shape_waves=_waves(rng, 6, 1.5, 3.5),
        edge_mm=float(rng.uniform(2.0, 3.5)),  # ill-defined
        t2w=1.6 * float(rng.uniform(0.92, 1.08)),
        t1w=0.88 * float(rng.uniform(0.95, 1.05)),
        texture_t2w=0.08,
        texture_t1w=0.03,
        patchy_t1w=0.0,
        texture_waves=_waves(rng, 6, 2 * np.pi / 12.0, 2 * np.pi / 5.0),
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
                label=3,
                center_uns_mm=(0.0, float(rng.uniform(-0.3, 0.3)), float(sc)),
                radii_uns_mm=(ru, rn, float(rs)),
                irregularity=float(rng.uniform(0.02, 0.08)),  # fluid: smooth walls
                shape_waves=_waves(rng, 6, 1.0, 3.0),
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


def _draw_lesions(
    rng: np.random.Generator,
    pathology: str,
    anatomy: AnatomyParameters,
    grid: GridParameters,
    has_edema: bool,
    has_cavity: bool,
) -> tuple[LesionParameters, ...]:
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


def _draw_sequence(
    rng: np.random.Generator, grid: GridParameters, base_scale: float, contrast: str
) -> SequenceParameters:
    coil = -rng.uniform(0.25, 0.5)  # posterior spine coil: signal falls off anteriorly
    poly = rng.normal(0.0, 0.08, 9)
    if contrast == "T2w":
        tr, te, flip, snr = rng.uniform(2.5, 4.0), rng.uniform(0.085, 0.12), 90.0, rng.uniform(12.0, 25.0)
    else:
        tr, te, flip, snr = rng.uniform(0.4, 0.75), rng.uniform(0.008, 0.015), 90.0, rng.uniform(14.0, 30.0)
    factors = rng.uniform(0.93, 1.07, len(_TISSUE_NAMES))
    factors[_T["cord"]] = 1.0  # the cord is the reference tissue
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
    rotation = _unit_vector(rng) * rng.uniform(1.0, 4.0)
    translation = _unit_vector(rng) * rng.uniform(1.0, 4.0)
    return Misalignment(
        rotation_deg=tuple(float(v) for v in rotation),
        translation_mm=tuple(float(v) for v in translation),
        center_mm=tuple(float(v) for v in centre),
    )


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
    lesions = _draw_lesions(rng, pathology, anatomy, t2w_grid, has_edema, has_cavity)

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
        n_lesions=sum(1 for les in lesions if les.label == 1),
        has_edema=has_edema,
        has_cavity=has_cavity,
        anatomy=anatomy,
        lesions=lesions,
        t2w=t2w,
        t1w=t1w,
        misalignment=misalignment,
        noise_seed=int(rng.integers(2**62)),
    )


# --------------------------------------------------------------------------- anatomy model
def _ramp(distance: np.ndarray, width: float) -> np.ndarray:
    """Fraction inside a straight edge at signed ``distance`` (negative inside).

    A linear ramp one pixel wide is the exact box-filtered (partial-volume)
    profile of a straight edge, and much cheaper than supersampling in-plane.
    """
    return np.clip(0.5 - distance / np.float32(width), 0.0, 1.0)


def _paint(image: np.ndarray, fraction: np.ndarray, value: np.ndarray | float) -> None:
    """Blend ``value`` into ``image`` in place with weight ``fraction``."""
    image += fraction * (value - image)


def _ellipse(u: np.ndarray, v: np.ndarray, a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """Approximate signed distance (mm) to an ellipse, and its normalised radius.

    First order: ``(rho - 1) / |grad rho|``, exact on the boundary and on the axes.
    """
    qu, qv = u / a, v / b
    rho = np.sqrt(qu * qu + qv * qv)
    grad = np.sqrt((qu / a) ** 2 + (qv / b) ** 2)
    eps = np.float32(1e-4)
    return (rho - 1.0) * (rho + eps) / (grad + eps / np.minimum(a, b)), rho


def _wave_noise(coords: Sequence[np.ndarray], waves: Sequence[Sequence[float]]) -> np.ndarray:
    """Smooth random field with unit variance: a sum of random plane waves."""
    out = np.zeros_like(coords[0])
    for ku, kn, ks, phase in waves:
        f32 = np.float32
        out += np.cos(coords[0] * f32(ku) + coords[1] * f32(kn) + coords[2] * f32(ks) + f32(phase))
    return out * np.float32(np.sqrt(2.0 / max(len(waves), 1)))


def _table_index(values: np.ndarray, start: float, size: int) -> np.ndarray:
    """Nearest row of a table sampled every ``_TABLE_STEP_MM`` from ``start``."""
    pos = (values - np.float32(start)) * np.float32(1.0 / _TABLE_STEP_MM)
    return np.clip(np.rint(pos), 0, size - 1).astype(np.intp)


class _Frame:
    """Cord-frame coordinates of a batch of points, with level-table columns looked up on demand."""

    def __init__(self, model: _Model, u: np.ndarray, n: np.ndarray, s: np.ndarray) -> None:
        self.model = model
        self.u, self.n, self.s = u, n, s
        size = model.level_table.shape[1]
        self._index = _table_index(np.float32(model.level_centre) - s, model.level_start, size)
        self._cache: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = self.model.level_table[self.model.level_columns[name]].take(self._index)
        return self._cache[name]

    def subset(self, idx: np.ndarray) -> _Frame:
        """The points ``idx`` (cached columns come along)."""
        sub = object.__new__(_Frame)
        sub.model = self.model
        sub.u, sub.n, sub.s = self.u[idx], self.n[idx], self.s[idx]
        sub._index = self._index[idx]
        sub._cache = {k: v[idx] for k, v in self._cache.items()}
        return sub


class _Model:
    """Analytic anatomy of one subject, evaluated at arbitrary points.

    Points are in the anatomy frame: world RAS mm minus ``anatomy.origin_mm``.
    The cord centreline is ``(xc(z), yc(z), z)``; a point is described by its
    offsets ``u`` (left-right) and ``n`` (perpendicular, anterior) from the
    centreline and its arc length ``s`` along it (first-order projection, good
    for the gentle curvature of the spine). Everything along the spine is a
    function of the level coordinate ``L = level_at_center - s``.
    """

    _LEVEL_COLUMNS = (
        "tau", "period", "phase", "disc", "cord_a", "cord_b", "dura_a", "dura_b", "dura_n",
        "canal_a", "canal_b", "canal_n", "body_b", "body_w", "skin", "spinous_slope", "spinous_len",
        "body_back", "body_front", "canal_back",
    )  # fmt: skip

    def __init__(self, params: SubjectParameters) -> None:
        self.params = params
        anat = params.anatomy
        self.level_centre = anat.level_at_center_mm
        self._build_centreline_table(anat)
        self._build_level_table(anat, params.lesions)
        self.marrow = np.asarray(anat.marrow_factors, dtype=np.float32)
        self.nucleus = np.asarray(anat.nucleus_factors, dtype=np.float32)
        self.lesions = sorted(params.lesions, key=lambda les: {2: 0, 3: 1, 1: 2}[les.label])  # paint order

    # ---- tables
    def _build_centreline_table(self, anat: AnatomyParameters) -> None:
        z = np.arange(-_TABLE_HALF_MM, _TABLE_HALF_MM + _TABLE_STEP_MM / 2, _TABLE_STEP_MM)
        level = anat.level_at_center_mm - z

        def profile(lv: np.ndarray | float) -> np.ndarray:
            # Cervical lordosis bulges forward, thoracic kyphosis backward.
            lv = np.asarray(lv, dtype=float)
            return anat.lordosis_mm * np.exp(-(((lv - 55.0) / 55.0) ** 2)) - anat.kyphosis_mm * np.exp(
                -(((lv - 230.0) / 110.0) ** 2)
            )

        yc = profile(level) - profile(anat.level_at_center_mm) + anat.tilt * z
        slope = np.gradient(yc, _TABLE_STEP_MM)
        speed = np.sqrt(1 + slope**2)
        arc = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * _TABLE_STEP_MM)])
        arc -= np.interp(0.0, z, arc)
        wave = 2 * np.pi / anat.lateral_wave_period_mm
        phase = anat.lateral_wave_phase
        xc = anat.lateral_wave_mm * (np.sin(wave * z + phase) - np.sin(phase))
        self.z_start = float(z[0])
        self.z_table = np.stack([yc, slope, arc, xc]).astype(np.float32)

    def _build_level_table(self, anat: AnatomyParameters, lesions: Sequence[LesionParameters]) -> None:
        half = _TABLE_HALF_MM + 40.0
        level = np.arange(anat.level_at_center_mm - half, anat.level_at_center_mm + half, _TABLE_STEP_MM)
        s = anat.level_at_center_mm - level
        tau = _thoracic_weight(level)
        # About 16.5 mm per cervical level, 21 mm at T1 growing to ~27 mm at T12.
        thoracic_period = 21.0 + 0.025 * np.maximum(level - 120.0, 0.0)
        period = anat.period_scale * ((1 - tau) * 16.5 + tau * thoracic_period)
        phase = np.concatenate([[0.0], np.cumsum(_TABLE_STEP_MM / period[:-1])])
        phase -= np.interp(0.0, level, phase)  # a disc centre at the top of C1
        disc = period * ((1 - tau) * 0.26 + tau * 0.22)

        swelling = np.zeros_like(s)
        for les in lesions:
            if les.swelling > 0:
                # Smooth window that vanishes 3 mm beyond the structure's poles.
                x = (s - les.center_uns_mm[2]) / (les.radii_uns_mm[2] + 3.0)
                swelling += les.swelling * np.clip(1 - x * x, 0, 1) ** 2
        swelling = np.minimum(swelling, 0.3)
        a0, b0 = _cord_semi_axes(level, anat.cord_scale)
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
        body_b = anat.bone_scale * (7.8 + 5.5 * tau)
        body_w = anat.bone_scale * (8.5 + 7.0 * tau)
        skin = (1 - tau) * anat.skin_depth_cervical_mm + tau * anat.skin_depth_thoracic_mm
        skin = skin + anat.skin_wave_mm * np.sin(2 * np.pi * s / 260.0 + anat.skin_wave_phase)
        spinous_slope = 0.3 + 0.6 * tau  # thoracic spinous processes point steeply down
        spinous_len = anat.bone_scale * (22.0 + 10.0 * tau)
        columns = dict(
            tau=tau, period=period, phase=phase, disc=disc, cord_a=cord_a, cord_b=cord_b, dura_a=dura_a,
            dura_b=dura_b, dura_n=dura_n, canal_a=canal_a, canal_b=canal_b, canal_n=canal_n, body_b=body_b,
            body_w=body_w, skin=skin, spinous_slope=spinous_slope, spinous_len=spinous_len,
            body_back=canal_n + canal_b, body_front=canal_n + canal_b + 2 * body_b,
            canal_back=canal_n - canal_b,
        )  # fmt: skip
        self.level_start = float(level[0])
        self.level_columns = {name: i for i, name in enumerate(self._LEVEL_COLUMNS)}
        rows = [np.broadcast_to(columns[c], level.shape) for c in self._LEVEL_COLUMNS]
        self.level_table = np.stack(rows).astype(np.float32)
        # Global bounds let each structure work on the few points that can touch it.
        self.bounds = {
            "canal_a": float(canal_a.max()),
            "canal_extent": float(max(np.abs(canal_n - canal_b).max(), np.abs(canal_n + canal_b).max())),
            "skin": float(skin.min()),
            "body_back": float(columns["body_back"].min()),
            "body_front_min": float(columns["body_front"].min()),
            "body_front_max": float(columns["body_front"].max()),
            "body_w": float(body_w.max()),
            "posterior_min": float((canal_n - canal_b - spinous_len).min()),
            "body_back_max": float(columns["body_back"].max()),
        }

    # ---- geometry
    def frame(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> _Frame:
        """Cord-frame coordinates of anatomy-frame points."""
        i = _table_index(z, self.z_start, self.z_table.shape[1])
        yc, slope, arc, xc = (self.z_table[r].take(i) for r in range(4))
        dy = y - yc
        inv = 1.0 / np.sqrt(1.0 + slope * slope)
        return _Frame(self, u=x - xc, n=dy * inv, s=arc + dy * slope * inv)

    def centreline(self, step_mm: float = 0.05) -> np.ndarray:
        """Dense samples (N, 3) of the cord centreline in the anatomy frame."""
        z = np.arange(-_TABLE_HALF_MM + 1, _TABLE_HALF_MM - 1, step_mm)
        zz = np.arange(self.z_table.shape[1]) * _TABLE_STEP_MM + self.z_start
        return np.stack([np.interp(z, zz, self.z_table[3]), np.interp(z, zz, self.z_table[0]), z], axis=1)

    # ---- rendering
    def render(
        self, x: np.ndarray, y: np.ndarray, z: np.ndarray, values: np.ndarray, contrast: int, width: float
    ) -> tuple[np.ndarray, _Frame]:
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
        image = np.full(x.shape, values[_T["muscle"]], dtype=np.float32)
        self._paint_body_wall(image, fr, values, width)
        self._paint_vertebrae(image, fr, values, width)
        self._paint_posterior_elements(image, fr, values, width)
        self._paint_canal(image, fr, values, contrast, width)
        return image, fr

    def _paint_body_wall(self, image: np.ndarray, fr: _Frame, v: np.ndarray, w: float) -> None:
        anat, bounds = self.params.anatomy, self.bounds
        n = fr.n
        # Behind the back muscles: subcutaneous fat, then air.
        idx = np.nonzero(n < np.float32(-bounds["skin"] + anat.subcutaneous_fat_mm + w))[0]
        if idx.size:
            f, sub = fr.subset(idx), image[idx]
            skin = -f["skin"]
            fat_inner = skin + np.float32(anat.subcutaneous_fat_mm)
            _paint(sub, _ramp(np.maximum(skin - f.n, f.n - fat_inner), w), v[_T["fat"]])
            _paint(sub, _ramp(f.n - skin, w), v[_T["air"]])
            image[idx] = sub
        # In front of the spine: neck (airway, front of the neck) and chest (lungs,
        # aorta), cross-faded around C7-T1 by the thoracic weight tau.
        idx = np.nonzero(n > np.float32(bounds["body_back"] - 8.0))[0]
        if not idx.size:
            return
        f, sub = fr.subset(idx), image[idx]
        tau = f["tau"]
        neck = np.nonzero((tau < 0.999) & (f.n > f["body_front"] - 1.0))[0]
        if neck.size:
            piece = sub[neck]
            self._paint_neck(piece, f.subset(neck), 1.0 - tau[neck], v, w)
            sub[neck] = piece
        chest = np.nonzero(tau > 0.001)[0]
        if chest.size:
            piece = sub[chest]
            self._paint_chest(piece, f.subset(chest), tau[chest], v, w)
            sub[chest] = piece
        image[idx] = sub

    def _paint_neck(self, image: np.ndarray, f: _Frame, weight: np.ndarray, v: np.ndarray, w: float) -> None:
        """Prevertebral muscle, airway, soft tissues of the neck, skin fat, air."""
        front = f["body_front"]
        _paint(image, weight * _ramp(front + 4.0 - f.n, w), v[_T["soft"]])
        near = np.nonzero((np.abs(f.u) < 10.0) & (f.n < front + 18.0))[0]
        if near.size:
            d_air, _ = _ellipse(f.u[near], f.n[near] - (front[near] + 10.5), 9.0, 6.5)
            piece = image[near]
            _paint(piece, weight[near] * _ramp(d_air, w), v[_T["air"]])
            image[near] = piece
        neck_front = front + np.float32(self.params.anatomy.anterior_neck_mm)
        _paint(image, weight * _ramp(np.maximum(f.n - neck_front, neck_front - 4.0 - f.n), w), v[_T["fat"]])
        _paint(image, weight * _ramp(neck_front - f.n, w), v[_T["air"]])

    def _paint_chest(self, image: np.ndarray, f: _Frame, weight: np.ndarray, v: np.ndarray, w: float) -> None:
        """Mediastinum, lungs beside and in front of the vertebral bodies, descending aorta."""
        nn, au = f.n, np.abs(f.u)
        back, front, bw, bb = f["body_back"], f["body_front"], f["body_w"], f["body_b"]
        _paint(image, weight * _ramp(front + 2.0 - nn, w), v[_T["soft"]])
        beside = np.maximum(bw + 5.0 - au, back - 6.0 - nn)
        ahead = np.maximum(front + 3.0 - nn, 14.0 + 0.3 * (nn - front) - au)
        _paint(image, weight * _ramp(np.minimum(beside, ahead), w), v[_T["lung"]])
        du, dn = f.u + bw + 6.0, nn - (back + bb + 4.0)
        near = np.nonzero((np.abs(du) < 12.0) & (np.abs(dn) < 12.0))[0]
        if near.size:
            d_aorta, _ = _ellipse(du[near], dn[near], 11.0, 11.0)
            piece = image[near]
            _paint(piece, weight[near] * _ramp(d_aorta, w), v[_T["vessel"]])
            image[near] = piece

    def _paint_vertebrae(self, image: np.ndarray, fr: _Frame, v: np.ndarray, w: float) -> None:
        b = self.bounds
        idx = np.nonzero(
            (fr.n > np.float32(b["body_back"] - 1.5))
            & (fr.n < np.float32(b["body_front_max"] + 2.0))
            & (np.abs(fr.u) < np.float32(b["body_w"] + 2.0))
        )[0]
        if not idx.size:
            return
        sub, f = image[idx], fr.subset(idx)
        hb, wb, period, disc = f["body_b"], f["body_w"], f["period"], f["disc"]
        phase = f["phase"]
        nearest = np.rint(phase)
        t = np.abs(phase - nearest) * period  # distance to the nearest disc centre along the cord
        centre = f["body_back"] + hb
        qu, qn = f.u / wb, (f.n - centre) / hb
        qu, qn = qu * qu, qn * qn
        d_cross = (np.sqrt(np.sqrt(qu * qu + qn * qn)) - 1.0) * hb  # rounded-box cross-section
        # Disc first (annulus, bright nucleus), then the body over it so endplates stay dark.
        d_disc = np.maximum(d_cross - 0.8, t - disc / 2)
        qu_n, qn_n, qs_n = f.u / (0.55 * wb), (f.n - centre + 0.15 * hb) / (0.5 * hb), t / (0.4 * disc)
        rho_nuc = np.sqrt(qu_n * qu_n + qn_n * qn_n + qs_n * qs_n)
        k_disc = np.clip(nearest.astype(np.intp) + _LEVEL_OFFSET, 0, _N_LEVEL_FACTORS - 1)
        nucleus = np.clip((1.0 - rho_nuc) / 0.35, 0.0, 1.0)
        disc_value = v[_T["annulus"]] + (v[_T["nucleus"]] * self.nucleus[k_disc] - v[_T["annulus"]]) * nucleus
        _paint(sub, _ramp(d_disc, w), disc_value)
        d_body = np.maximum(d_cross, disc / 2 - t)
        k_body = np.clip(np.floor(phase).astype(np.intp) + _LEVEL_OFFSET, 0, _N_LEVEL_FACTORS - 1)
        _paint(sub, _ramp(d_body, w), self._bone_value(d_body, v, w, self.marrow[k_body]))
        image[idx] = sub

    @staticmethod
    def _bone_value(
        d: np.ndarray, v: np.ndarray, w: float, marrow_factor: np.ndarray | float = 1.0
    ) -> np.ndarray:
        """Cortical rim (about 1 mm, dark) around marrow."""
        inner = _ramp(d + 1.1, w)
        return v[_T["cortex"]] + (v[_T["marrow"]] * marrow_factor - v[_T["cortex"]]) * inner

    def _paint_posterior_elements(self, image: np.ndarray, fr: _Frame, v: np.ndarray, w: float) -> None:
        b = self.bounds
        idx = np.nonzero(
            (fr.n < np.float32(b["body_back_max"] + 1.0))
            & (fr.n > np.float32(b["posterior_min"] - 4.0))
            & (np.abs(fr.u) < np.float32(b["canal_a"] + 16.0))
        )[0]
        if not idx.size:
            return
        sub, f = image[idx], fr.subset(idx)
        u, n, au = f.u, f.n, np.abs(f.u)
        c_n, c_b, c_a = f["canal_n"], f["canal_b"], f["canal_a"]
        bw, front = f["canal_back"], f["body_back"]
        period, phase = f["period"], f["phase"]
        d_canal, _ = _ellipse(u, n - c_n, c_a, c_b)
        d_outer, _ = _ellipse(u, n - c_n, c_a + 5.5, c_b + 5.5)
        ring = np.maximum(np.maximum(d_outer, -d_canal), n - front)  # pedicles and laminae
        sp_len = f["spinous_len"]
        spinous = np.maximum(np.maximum(au - 3.5, n - (bw - 2.0)), (bw - sp_len) - n)
        pillar = np.maximum(  # articular pillars, beside the canal
            np.maximum(c_a + 1.5 - au, au - (c_a + 13.0)), np.maximum(bw - 1.0 - n, n - (front - 1.0))
        )
        nuchal = np.maximum(au - 1.2, n - (bw - sp_len + 1.0))  # nuchal / supraspinous ligament
        # Ligaments fill the whole posterior-element zone; bone is cut into it per level.
        zone = np.minimum(np.minimum(ring, spinous), np.minimum(pillar, nuchal))
        _paint(sub, _ramp(zone, w), v[_T["ligament"]])

        def band(shift: np.ndarray | float, half_gap: float) -> np.ndarray:
            ph = phase + shift
            return half_gap * period - np.abs(ph - np.rint(ph)) * period

        depth = np.maximum(bw - 2.0 - n, 0.0)
        bone = np.minimum(
            np.minimum(np.maximum(ring, band(0.2, 0.17)), np.maximum(pillar, band(0.15, 0.05))),
            np.maximum(spinous, band(0.2 - f["spinous_slope"] * depth / period, 0.22)),
        )
        _paint(sub, _ramp(bone, w), self._bone_value(bone, v, w))
        image[idx] = sub

    def _paint_canal(self, image: np.ndarray, fr: _Frame, v: np.ndarray, contrast: int, w: float) -> None:
        b = self.bounds
        near_u, near_n = np.float32(b["canal_a"] + 1.0), np.float32(b["canal_extent"] + 1.0)
        idx = np.nonzero((np.abs(fr.u) < near_u) & (np.abs(fr.n) < near_n))[0]
        if not idx.size:
            return
        sub, f = image[idx], fr.subset(idx)
        d_canal, _ = _ellipse(f.u, f.n - f["canal_n"], f["canal_a"], f["canal_b"])
        dura_n = f["dura_n"]
        # Dorsal and lateral epidural space holds fat; ventrally the ligament and veins.
        epidural = v[_T["ligament"]] + (v[_T["fat"]] - v[_T["ligament"]]) * _ramp(f.n - dura_n + 1.0, 1.5)
        _paint(sub, _ramp(d_canal, w), epidural)
        d_dura, _ = _ellipse(f.u, f.n - dura_n, f["dura_a"], f["dura_b"])
        _paint(sub, _ramp(d_dura, w), v[_T["csf"]])
        d_cord, rho = _ellipse(f.u, f.n, f["cord_a"], f["cord_b"])
        grey = np.float32((0.1, -0.04)[contrast]) * np.clip((0.55 - rho) / 0.2, 0.0, 1.0)  # grey matter
        _paint(sub, _ramp(d_cord, w), v[_T["cord"]] + grey)
        inside = np.nonzero(d_cord < w)[0]
        if inside.size:
            cord_sub, fc, dc = sub[inside], f.subset(inside), d_cord[inside]
            for les in self.lesions:
                sel, d = self._lesion_distance(les, fc, dc)
                if sel is None:
                    continue
                tex = _wave_noise((fc.u[sel], fc.n[sel], fc.s[sel]), les.texture_waves)
                if contrast == 0:
                    value = les.t2w * (1.0 + les.texture_t2w * tex)
                else:
                    value = les.t1w * (1.0 + les.texture_t1w * tex) + les.patchy_t1w * np.maximum(tex, 0.0)
                piece = cord_sub[sel]
                _paint(piece, _ramp(d, max(w, les.edge_mm)), value)
                cord_sub[sel] = piece
            sub[inside] = cord_sub
        image[idx] = sub

    @staticmethod
    def _lesion_distance(
        les: LesionParameters, f: _Frame, d_cord: np.ndarray, margin: float = 4.0
    ) -> tuple[np.ndarray | None, np.ndarray]:
        """Points near a lesion and their signed distance to it, clipped to the cord.

        Clipping (``max`` with the cord distance) keeps every lesion intramedullary.
        """
        u0, n0, s0 = les.center_uns_mm
        ru, rn, rs = les.radii_uns_mm
        reach = rs * (1 + 2 * les.irregularity) + max(les.edge_mm, 1.0) + margin
        sel = np.nonzero(np.abs(f.s - s0) < reach)[0]
        if not sel.size:
            return None, np.empty(0, np.float32)
        qu, qn, qs = (f.u[sel] - u0) / ru, (f.n[sel] - n0) / rn, (f.s[sel] - s0) / rs
        rho = np.sqrt(qu * qu + qn * qn + qs * qs)
        grad = np.sqrt((qu / ru) ** 2 + (qn / rn) ** 2 + (qs / rs) ** 2)
        threshold = 1.0 + les.irregularity * _wave_noise((qu, qn, qs), les.shape_waves)
        eps = np.float32(1e-4)
        d = (rho - threshold) * (rho + eps) / (grad + eps / min(ru, rn, rs))
        return sel, np.maximum(d, d_cord[sel])

    def labels(self, fr: _Frame) -> tuple[np.ndarray, np.ndarray]:
        """dseg values and cord mask at points (hard edges, from the same geometry)."""
        dseg = np.zeros(fr.u.shape, np.uint8)
        cord = np.zeros(fr.u.shape, bool)
        b = self.bounds
        near_u, near_n = np.float32(b["canal_a"]), np.float32(b["canal_extent"])
        idx = np.nonzero((np.abs(fr.u) < near_u) & (np.abs(fr.n) < near_n))[0]
        if not idx.size:
            return dseg, cord
        f = fr.subset(idx)
        d_cord, _ = _ellipse(f.u, f.n, f["cord_a"], f["cord_b"])
        in_cord = d_cord < 0
        cord[idx] = in_cord
        sub = np.zeros(idx.shape, np.uint8)
        for les in self.lesions:  # edema, then cavity, then tumour: tumour > cavity > edema
            sel, d = self._lesion_distance(les, f, d_cord, margin=0.0)
            if sel is not None:
                sub[sel[d < 0]] = les.label
        dseg[idx] = np.where(in_cord, sub, 0)
        return dseg, cord


# --------------------------------------------------------------------------- acquisition
def _grid_coordinates(
    affine: np.ndarray, shape: Sequence[int], rows: slice, offset: Sequence[float]
) -> tuple[np.ndarray, ...]:
    """Coordinates (float32, flattened) of voxels ``rows`` of axis 0 under ``affine``."""
    f32 = np.float32
    axes = [
        (np.arange(rows.start, rows.stop, dtype=f32) + f32(offset[0]))[:, None, None],
        (np.arange(shape[1], dtype=f32) + f32(offset[1]))[None, :, None],
        (np.arange(shape[2], dtype=f32) + f32(offset[2]))[None, None, :],
    ]
    out = []
    for r in range(3):
        # Sum the two small broadcasts first, then the big one, to save a full-size pass.
        partial = axes[0] * f32(affine[r, 0]) + (axes[1] * f32(affine[r, 1]) + f32(affine[r, 3]))
        out.append((partial + axes[2] * f32(affine[r, 2])).ravel())
    return tuple(out)


def _bias_field(seq: SequenceParameters) -> np.ndarray:
    """Smooth multiplicative field on the grid, from scanner coordinates."""
    grid = seq.grid
    affine, shape = grid.affine, grid.shape
    x, y, z = (
        c.reshape(shape) for c in _grid_coordinates(affine, shape, slice(0, shape[0]), (0.0, 0.0, 0.0))
    )
    centre = np.asarray(grid.center_mm, dtype=np.float32)
    x, y, z = (x - centre[0]) / 100.0, (y - centre[1]) / 100.0, (z - centre[2]) / 100.0
    c = seq.bias_coefficients
    log_field = c[0] * y + c[1] * x + c[2] * y + c[3] * z + c[4] * x * x + c[5] * y * y + c[6] * z * z
    log_field += c[7] * x * y + c[8] * y * z + c[9] * x * z
    return np.exp(log_field).astype(np.float32)


def _acquire(
    model: _Model, seq: SequenceParameters, contrast: int, world_to_anatomy: np.ndarray, with_labels: bool
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Noise-free signal on a grid (partial-volume averaged) and optional labels.

    Args:
        model: The subject's anatomy.
        seq: The acquisition.
        contrast: 0 for T2w, 1 for T1w.
        world_to_anatomy: 4x4 map from this image's world coordinates to the anatomy frame.
        with_labels: Also compute dseg and cord mask at voxel centres.

    Returns:
        Signal (cord = 1) and, when asked, dseg (uint8) and cord mask (bool) arrays.
    """
    grid = seq.grid
    shape = grid.shape
    affine = world_to_anatomy @ grid.affine
    values = np.asarray([_TISSUES[t][contrast] for t in _TISSUE_NAMES], np.float32)
    values *= np.asarray(seq.tissue_factors, np.float32)
    width = float(min(grid.voxel_size_mm[1], grid.voxel_size_mm[2]))
    image = np.zeros(shape, np.float32)
    dseg = np.zeros(shape, np.uint8) if with_labels else None
    cord = np.zeros(shape, bool) if with_labels else None
    rows_per_chunk = max(1, _CHUNK_POINTS // (shape[1] * shape[2]))
    for start in range(0, shape[0], rows_per_chunk):
        rows = slice(start, min(start + rows_per_chunk, shape[0]))
        acc = None
        for sub in _SUBSAMPLES:
            offset = [0.0, 0.0, 0.0]
            offset[grid.slice_axis] = sub
            x, y, z = _grid_coordinates(affine, shape, rows, offset)
            signal, fr = model.render(x, y, z, values, contrast, width)
            acc = signal if acc is None else acc + signal
            if with_labels and sub == 0.0:
                d, c = model.labels(fr)
                dseg[rows] = d.reshape(dseg[rows].shape)
                cord[rows] = c.reshape(cord[rows].shape)
        image[rows] = (acc / np.float32(len(_SUBSAMPLES))).reshape(image[rows].shape)
    return image, dseg, cord


def _finish(image: np.ndarray, seq: SequenceParameters, rng: np.random.Generator, dtype: str) -> np.ndarray:
    """Scanner scale, bias field, Rician noise, storage type."""
    scale = np.float32(seq.intensity_scale)
    signal = image * _bias_field(seq) * scale
    sigma = scale / np.float32(seq.snr)
    real = signal + sigma * rng.standard_normal(signal.shape, dtype=np.float32)
    imag = sigma * rng.standard_normal(signal.shape, dtype=np.float32)
    magnitude = np.sqrt(real * real + imag * imag)
    if dtype == "int16":
        return np.clip(np.rint(magnitude), 0, np.iinfo(np.int16).max).astype(np.int16)
    return magnitude.astype(np.float32)


def _centreline_mask(model: _Model, grid: GridParameters, world_to_anatomy: np.ndarray) -> np.ndarray:
    """One voxel per S-I position of the grid: the voxel nearest the cord centre."""
    points = model.centreline()
    anatomy_to_voxel = np.linalg.inv(world_to_anatomy @ grid.affine)
    vox = points @ anatomy_to_voxel[:3, :3].T + anatomy_to_voxel[:3, 3]
    si = grid.si_axis
    rounded = np.rint(vox).astype(np.int64)
    inside = np.all((rounded >= 0) & (rounded < np.asarray(grid.shape)), axis=1)
    rounded, off = rounded[inside], np.abs(vox[inside, si] - rounded[inside, si])
    # Per S-I index keep the sample closest to the plane through the voxel centres.
    order = np.lexsort((off, rounded[:, si]))
    _, first = np.unique(rounded[order, si], return_index=True)
    chosen = rounded[order][first]
    mask = np.zeros(grid.shape, np.uint8)
    mask[tuple(chosen.T)] = 1
    return mask


def _world_to_anatomy(origin: Sequence[float], misalignment: np.ndarray | None = None) -> np.ndarray:
    out = np.eye(4)
    out[:3, 3] = -np.asarray(origin, dtype=float)
    return out if misalignment is None else out @ np.linalg.inv(misalignment)


def render_subject(params: SubjectParameters) -> dict[str, np.ndarray]:
    """Compute all arrays of a subject (nothing is written).

    Args:
        params: From :func:`subject_parameters`.

    Returns:
        ``t2w`` and ``t1w`` (stored dtype), ``dseg`` and ``cord`` and
        ``centerline`` (uint8, T2w grid).
    """
    model = _Model(params)
    t2w_to_anatomy = _world_to_anatomy(params.anatomy.origin_mm)
    # The T1w shows the anatomy moved by M: the anatomy point seen at world p is M^-1 p.
    t1w_to_anatomy = _world_to_anatomy(params.anatomy.origin_mm, params.misalignment.matrix)
    t2w, dseg, cord = _acquire(model, params.t2w, 0, t2w_to_anatomy, with_labels=True)
    t1w, _, _ = _acquire(model, params.t1w, 1, t1w_to_anatomy, with_labels=False)
    if dseg is None or cord is None:  # pragma: no cover - with_labels=True always returns them
        raise RuntimeError("labels were not computed")
    return {
        "t2w": _finish(t2w, params.t2w, np.random.default_rng([params.noise_seed, 0]), params.dtype),
        "t1w": _finish(t1w, params.t1w, np.random.default_rng([params.noise_seed, 1]), params.dtype),
        "dseg": dseg,
        "cord": cord.astype(np.uint8),
        "centerline": _centreline_mask(model, params.t2w.grid, t2w_to_anatomy),
    }


# --------------------------------------------------------------------------- writing
def subject_paths(bids_dir: str | Path, index: int) -> dict[str, Path]:
    """Paths of every file of subject ``index``.

    Args:
        bids_dir: Dataset root.
        index: 1-based subject index.

    Returns:
        Keys ``t2w``, ``t2w_json``, ``t1w``, ``t1w_json``, ``dseg``, ``cord``, ``centerline``.
    """
    sub = f"sub-{subject_id(index)}"
    anat = Path(bids_dir) / sub / "anat"
    labels = Path(bids_dir) / "derivatives" / "labels" / sub / "anat"
    return {
        "t2w": anat / f"{sub}_T2w.nii.gz",
        "t2w_json": anat / f"{sub}_T2w.json",
        "t1w": anat / f"{sub}_ce-gadolinium_T1w.nii.gz",
        "t1w_json": anat / f"{sub}_ce-gadolinium_T1w.json",
        "dseg": labels / f"{sub}_T2w_dseg.nii.gz",
        "cord": labels / f"{sub}_T2w_seg-manual.nii.gz",
        "centerline": labels / f"{sub}_T2w_centerline-manual.nii.gz",
    }


def _sidecar(params: SubjectParameters, seq: SequenceParameters, contrast: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Modality": "MR",
        "Manufacturer": params.manufacturer,
        "ManufacturersModelName": params.model,
        "MagneticFieldStrength": params.field_strength_t,
        "BodyPartExamined": "SPINE",
        "MRAcquisitionType": "2D",
        "ScanningSequence": "SE",
        "SequenceVariant": "SK",
        "RepetitionTime": seq.repetition_time_s,
        "EchoTime": seq.echo_time_s,
        "FlipAngle": seq.flip_angle_deg,
        "SliceThickness": round(seq.grid.voxel_size_mm[0], 4),
        "SeriesDescription": f"sag {contrast}" + (" post-Gd" if contrast == "T1w" else ""),
        "SyntheticData": True,
    }
    if contrast == "T1w":
        out["ContrastBolusIngredient"] = "GADOLINIUM"
        out["SyntheticMisalignment"] = params.misalignment.to_json()
    return out


def write_subject(bids_dir: str | Path, index: int, seed: int) -> dict[str, Path]:
    """Write the images, sidecars and labels of subject ``index``.

    Args:
        bids_dir: Dataset root (created if needed).
        index: 1-based subject index.
        seed: Dataset seed.

    Returns:
        The written paths (see :func:`subject_paths`).

    Raises:
        ValueError: ``index`` or ``seed`` is out of range.
    """
    started = time.perf_counter()
    params = subject_parameters(index, seed)
    arrays = render_subject(params)
    paths = subject_paths(bids_dir, index)
    t2w_affine, t1w_affine = params.t2w.grid.affine, params.t1w.grid.affine
    save_nifti(arrays["t2w"], t2w_affine, paths["t2w"])
    save_nifti(arrays["t1w"], t1w_affine, paths["t1w"])
    for key in ("dseg", "cord", "centerline"):
        save_nifti(arrays[key], t2w_affine, paths[key], dtype=np.uint8)
    write_json(_sidecar(params, params.t2w, "T2w"), paths["t2w_json"])
    write_json(_sidecar(params, params.t1w, "T1w"), paths["t1w_json"])
    log.info(
        "sub-%s: %s, %d lesion(s), edema=%s, cavity=%s, T2w %s %s, T1w %s, %.1f s",
        params.subject, params.pathology, params.n_lesions, params.has_edema, params.has_cavity,
        params.orientation, params.t2w.grid.shape, params.t1w.grid.shape, time.perf_counter() - started,
    )  # fmt: skip
    return paths


_README = """\
# spinetumor synthetic demo dataset

Synthetic sagittal spinal MRI with intramedullary tumours, written by
`python -m spinetumor.demo` (seed {seed}, {n} subjects). No real person is
depicted. Each subject has a T2-weighted and a gadolinium-enhanced T1-weighted
image (each on its own anisotropic grid; header orientations vary), and under
`derivatives/labels` a `dseg` map (1 tumour core, 2 edema, 3 cavity), a manual-
style spinal cord mask (`seg-manual`) and a cord centreline, all on the T2w grid.

The T1w anatomy is rigidly displaced with respect to the T2w on purpose; the
true displacement is in the T1w sidecar under `SyntheticMisalignment`.
Pathologies cycle by subject: astrocytoma, ependymoma, hemangioblastoma.
"""

_PARTICIPANTS_JSON: dict[str, Any] = {
    "participant_id": {"Description": "Subject label"},
    "pathology": {
        "Description": "Intramedullary tumour type",
        "Levels": {p: p.capitalize() for p in PATHOLOGIES},
    },
    "age": {"Description": "Age at scan", "Units": "year"},
    "sex": {"Description": "Sex", "Levels": {"M": "male", "F": "female"}},
}


def _write_text(text: str, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_dataset_files(bids_dir: str | Path, n_subjects: int, seed: int) -> None:
    """Write the dataset-level files (description, participants, README, derivative descriptors).

    Args:
        bids_dir: Dataset root (created if needed).
        n_subjects: Number of subjects (1..999).
        seed: Dataset seed.

    Raises:
        ValueError: ``n_subjects`` or ``seed`` is out of range.
    """
    if not 1 <= int(n_subjects) <= 999:
        raise ValueError(f"n_subjects must be in 1..999, got {n_subjects}")
    root = Path(bids_dir)
    write_json(
        {
            "Name": "spinetumor synthetic demo: sagittal spinal MRI with intramedullary tumours",
            "BIDSVersion": "1.9.0",
            "DatasetType": "raw",
            "License": "CC0",
            "GeneratedBy": [
                {"Name": "spinetumor.demo", "Version": __version__, "Description": f"seed {seed}"}
            ],
        },
        root / "dataset_description.json",
    )
    rows = ["participant_id\tpathology\tage\tsex"]
    for index in range(1, int(n_subjects) + 1):
        p = subject_parameters(index, seed)
        rows.append(f"sub-{p.subject}\t{p.pathology}\t{p.age}\t{p.sex}")
    _write_text("\n".join(rows) + "\n", root / "participants.tsv")
    write_json(_PARTICIPANTS_JSON, root / "participants.json")
    _write_text(_README.format(seed=seed, n=n_subjects), root / "README")
    labels = root / "derivatives" / "labels"
    write_json(
        {
            "Name": "Manual-style labels of the spinetumor synthetic demo",
            "BIDSVersion": "1.9.0",
            "DatasetType": "derivative",
            "GeneratedBy": [
                {
                    "Name": "spinetumor.demo",
                    "Version": __version__,
                    "Description": "Labels computed from the analytic anatomy on the T2w grid",
                }
            ],
        },
        labels / "dataset_description.json",
    )
    _write_text("index\tname\n" + "".join(f"{k}\t{v}\n" for k, v in DSEG_LABELS.items()), labels / "dseg.tsv")


def generate_dataset(bids_dir: str | Path, n_subjects: int, seed: int) -> Path:
    """Write a complete dataset: dataset-level files and every subject.

    Args:
        bids_dir: Dataset root.
        n_subjects: Number of subjects (1..999).
        seed: Dataset seed.

    Returns:
        ``bids_dir`` as a path.
    """
    write_dataset_files(bids_dir, n_subjects, seed)
    for index in range(1, int(n_subjects) + 1):
        write_subject(bids_dir, index, seed)
    return Path(bids_dir)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m spinetumor.demo OUT_DIR --n-subjects N --seed S``."""
    parser = argparse.ArgumentParser(prog="python -m spinetumor.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="dataset root to write")
    parser.add_argument("--n-subjects", type=int, default=6, help="number of subjects (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    args = parser.parse_args(argv)
    if not 1 <= args.n_subjects <= 999:
        parser.error("--n-subjects must be in 1..999")
    if args.seed < 0:
        parser.error("--seed must be >= 0")
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    generate_dataset(args.out_dir, args.n_subjects, args.seed)
    print(f"wrote {args.n_subjects} subject(s) to {args.out_dir} in {time.perf_counter() - started:.1f} s")
    return 0
