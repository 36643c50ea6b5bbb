"""Partial-volume primitives of the demo anatomy: edge ramps, blending, ellipses, smooth random fields."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["ramp", "paint", "ellipse", "wave_noise"]


def ramp(distance: np.ndarray, width: float) -> np.ndarray:
    """Fraction inside a straight edge at signed ``distance`` (negative inside).

    A linear ramp one pixel wide is the exact box-filtered (partial-volume)
    profile of a straight edge, and much cheaper than supersampling in-plane.
    """
    return np.clip(0.5 - distance / np.float32(width), 0.0, 1.0)


def paint(image: np.ndarray, fraction: np.ndarray, value: np.ndarray | float) -> None:
    """Blend ``value`` into ``image`` in place with weight ``fraction``."""
    image += fraction * (value - image)


def ellipse(u: np.ndarray, v: np.ndarray, a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """Approximate signed distance (mm) to an ellipse, and its normalised radius.

    First order: ``(rho - 1) / |grad rho|``, exact on the boundary and on the axes.
    """
    qu, qv = u / a, v / b
    rho = np.sqrt(qu * qu + qv * qv)
    grad = np.sqrt((qu / a) ** 2 + (qv / b) ** 2)
    eps = np.float32(1e-4)
    return (rho - 1.0) * (rho + eps) / (grad + eps / np.minimum(a, b)), rho


def wave_noise(coords: Sequence[np.ndarray], waves: Sequence[Sequence[float]]) -> np.ndarray:
    """Smooth random field with unit variance: a sum of random plane waves."""
    out = np.zeros_like(coords[0])
    for ku, kn, ks, phase in waves:
        f32 = np.float32
        out += np.cos(coords[0] * f32(ku) + coords[1] * f32(kn) + coords[2] * f32(ks) + f32(phase))
    return out * np.float32(np.sqrt(2.0 / max(len(waves), 1)))
