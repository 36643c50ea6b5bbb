"""Parameter records of a demo subject: anatomy, lesions, acquisitions, and its BIDS label.

They are drawn by :mod:`spinetumor.demo.sampling` (cheap: no image is computed);
the grids and the misalignment are in :mod:`spinetumor.demo.grid`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spinetumor.demo.grid import GridParameters, Misalignment

__all__ = [
    "PATHOLOGIES",
    "LesionParameters",
    "AnatomyParameters",
    "SequenceParameters",
    "SubjectParameters",
    "subject_id",
]

#: Tumour types, assigned in turn by subject index so that any three
#: consecutive subjects cover all of them.
PATHOLOGIES: tuple[str, ...] = ("astrocytoma", "ependymoma", "hemangioblastoma")


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
