"""The registration's settings (the ``registration`` config section), validated.

Torch-free and SimpleITK-free, so that the workflow can read and check the
config without the imaging stack.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["METRICS", "STAGES", "RegistrationSettings"]

logger = logging.getLogger(__name__)

#: Metric names accepted by :class:`RegistrationSettings`.
METRICS: tuple[str, ...] = ("mattes", "correlation", "ants_cc")
#: Transform stages, in the order they run.
STAGES: tuple[str, ...] = ("rigid", "affine")


@dataclass(frozen=True)
class RegistrationSettings:
    """Knobs of the T1w-to-T2w registration (the ``registration`` config section).

    Attributes:
        metric: ``"mattes"``, ``"correlation"`` or ``"ants_cc"``.
        mattes_bins: Histogram bins of Mattes mutual information.
        cc_radius: Neighbourhood radius (voxels) of ANTs cross-correlation.
        shrink_factors: Pyramid factors, coarse to fine, relative to the
            finest voxel spacing of the T2w.
        smoothing_sigmas_mm: Gaussian sigma (mm) per pyramid level.
        sampling_percentage: Fraction of the voxels of a level sampled by the
            metric (random, seeded); 1.0 uses every voxel.
        max_samples: Cap on the samples per level, so a 512x512 scan costs
            no more than a small one.
        iterations: Maximum optimiser iterations per level and stage.
        learning_rate: First step of the regular-step gradient descent, in
            about mm of physical shift (the optimiser scales make it so).
        stages: Transform stages in order, an ordered subset of
            ``("rigid", "affine")``.
        max_scaling_change: An affine stage whose matrix scales any direction
            by more than this fraction is discarded for the rigid result (as
            is one that ends with a worse metric than the rigid stage).
        max_displacement_mm: Registration fails when it moves the centre of
            the part of the T2w that the T1w covers more than this from the
            header alignment (same-session scans do not move that much)...
        max_rotation_deg: ... or turns it by more than this.
        min_overlap: Registration fails when it keeps less than this
            fraction of the T2w voxels that the headers put inside the T1w.
        min_shared_fraction: Registration fails when the two images, as it
            aligns them, share less than this fraction of the smaller field
            of view: too little common anatomy to trust (a thin slab
            shifted through its thickness).
        min_peak_contrast: Registration fails when shifting its result by
            3 mm along each axis worsens the metric by less than this
            fraction on average: a flat metric means no anatomy matched.
        min_mutual_information: With ``mattes``, registration fails when the
            final mutual information (nats) is under this.
        min_rival_contrast: Registration fails when the rigid search ends
            a descent 5 mm or more from the result whose metric is within
            this fraction of the result's: the match is ambiguous (one
            vertebral level off, say).
        ignore_fixed_zeros: Leave the T2w's zero filling (blocks of exact
            zeros outside the acquired field of view, as in cropped or
            reformatted scans) out of the metric: it has no counterpart in
            the T1w.
        search_range_mm: The rigid stage first searches translations up to
            this far from the header alignment (0: no search).
        search_step_mm: Spacing of that search grid.
        search_starts: Descents started from the best points of the grid.
        search_rotation_deg: The best of those starts is also turned by up to
            two steps of this either way about each axis, and the best turn
            descends too; the winner of the middle pyramid level is then
            polished by a compass search starting at half this step, when
            that level is small (0: neither).
        seed: Seed of the random metric sampling.
        threads: Threads given to SimpleITK (1 makes runs bit-reproducible).
    """

    metric: str = "mattes"
    mattes_bins: int = 32
    cc_radius: int = 2
    shrink_factors: tuple[int, ...] = (4, 2, 1)
    smoothing_sigmas_mm: tuple[float, ...] = (2.0, 1.0, 0.0)
    sampling_percentage: float = 0.25
    max_samples: int = 20_000
    iterations: int = 200
    learning_rate: float = 1.0
    stages: tuple[str, ...] = ("rigid", "affine")
    max_scaling_change: float = 0.05
    max_displacement_mm: float = 30.0
    max_rotation_deg: float = 20.0
    min_overlap: float = 0.25
    min_shared_fraction: float = 0.5
    min_peak_contrast: float = 0.05
    min_mutual_information: float = 0.04
    min_rival_contrast: float = 0.1
    ignore_fixed_zeros: bool = True
    search_range_mm: float = 20.0
    search_step_mm: float = 5.0
    search_starts: int = 4
    search_rotation_deg: float = 4.0
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"registration metric {self.metric!r} is unknown; choose one of {list(METRICS)}")
        if not self.shrink_factors or len(self.shrink_factors) != len(self.smoothing_sigmas_mm):
            raise ValueError(
                "registration shrink_factors and smoothing_sigmas_mm must be non-empty and of equal length, "
                f"got {self.shrink_factors} and {self.smoothing_sigmas_mm}"
            )
        if min(self.shrink_factors) < 1 or min(self.smoothing_sigmas_mm) < 0:
            raise ValueError("registration shrink factors must be >= 1 and smoothing sigmas >= 0")
        if not 0.0 < self.sampling_percentage <= 1.0:
            raise ValueError(
                f"registration sampling_percentage must be in (0, 1], got {self.sampling_percentage}"
            )
        positive = (
            "max_samples",
            "iterations",
            "learning_rate",
            "threads",
            "max_scaling_change",
            "max_displacement_mm",
            "max_rotation_deg",
            "search_step_mm",
            "search_starts",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"registration {name} must be positive, got {getattr(self, name)}")
        if (
            min(self.search_range_mm, self.search_rotation_deg) < 0
            or not 0 <= self.min_overlap <= 1
            or not 0 <= self.min_shared_fraction <= 1
            or min(self.min_peak_contrast, self.min_mutual_information, self.min_rival_contrast) < 0
        ):
            raise ValueError(
                "registration search_range_mm, search_rotation_deg, min_overlap, min_shared_fraction, "
                "min_peak_contrast, min_mutual_information and min_rival_contrast must be >= 0 "
                "(min_overlap and min_shared_fraction <= 1)"
            )
        if self.mattes_bins < 4 or self.cc_radius < 1:
            raise ValueError("registration mattes_bins must be >= 4 and cc_radius >= 1")
        ordered = [s for s in STAGES if s in self.stages]
        if not self.stages or list(self.stages) != ordered:
            raise ValueError(
                f"registration stages must be an ordered subset of {list(STAGES)}, got {self.stages}"
            )

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> RegistrationSettings:
        """Build settings from a config mapping; missing keys keep their defaults.

        Args:
            cfg: The ``registration`` section of the config (``None`` gives
                the defaults). Lists become tuples; unknown keys are ignored
                with a warning, since the config schema is the gatekeeper.

        Returns:
            The validated settings.

        Raises:
            ValueError: the metric is unknown or a value has the wrong type or
                range.
        """
        cfg = dict(cfg or {})
        defaults = {f.name: f.default for f in fields(cls)}
        unknown = sorted(set(cfg) - set(defaults))
        if unknown:
            logger.warning("ignoring unknown registration settings: %s", ", ".join(unknown))
        kwargs = {
            name: _cast_like(name, value, defaults[name]) for name, value in cfg.items() if name in defaults
        }
        if "metric" in kwargs:
            kwargs["metric"] = kwargs["metric"].lower()
        return cls(**kwargs)


def _cast_like(name: str, value: Any, default: Any) -> Any:
    """Cast a YAML value to the type of the field's default (YAML writes 1 for 1.0)."""
    try:
        if isinstance(default, tuple):
            items = value if isinstance(value, (list, tuple)) else [value]
            return tuple(_cast_scalar(item, type(default[0])) for item in items)
        return _cast_scalar(value, type(default))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"registration setting {name}={value!r}: {exc}") from exc


def _cast_scalar(value: Any, kind: type) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise TypeError("expected true or false")
        return value
    if kind is int and (isinstance(value, bool) or float(value) != int(float(value))):
        raise ValueError("expected an integer")
    if kind is str and not isinstance(value, str):
        raise TypeError("expected a string")
    return kind(int(float(value))) if kind is int else kind(value)
