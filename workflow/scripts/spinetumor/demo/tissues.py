"""Tissue signals of the demo images, relative to the spinal cord, per contrast."""

__all__ = ["TISSUES", "TISSUE_NAMES", "TISSUE"]

#: Tissue signal relative to the spinal cord (cord = 1) as (T2w, T1w post-Gd), after
#: METHODS.md, "How the tissues look". CSF and fat swap places between the two
#: contrasts, which is what makes the T1w/T2w pair informative.
TISSUES: dict[str, tuple[float, float]] = {
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
#: The tissues in table order.
TISSUE_NAMES: tuple[str, ...] = tuple(TISSUES)
#: Row of each tissue in :data:`TISSUE_NAMES` (and in the per-sequence tissue factors).
TISSUE: dict[str, int] = {name: i for i, name in enumerate(TISSUE_NAMES)}
