"""The registration's QC figure: checkerboards before and after, T1w edges over the T2w."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from spinetumor.io import atomic_path

__all__ = ["qc_figure"]

_AXIS_NAMES = ("left - right", "posterior - anterior", "inferior - superior")


@dataclass(frozen=True)
class _View:
    """Middle slice across an image's thinnest extent, in RAS display order.

    Attributes:
        plane: 2D array, rows along ``axes[0]`` and columns along ``axes[1]``.
        axes: The two RAS axes shown (0 R-L, 1 A-P, 2 S-I).
        aspect: Display aspect (column spacing / row spacing).
    """

    plane: np.ndarray
    axes: tuple[int, int]
    aspect: float


def qc_figure(
    t2w_img: nib.Nifti1Image,
    t1w_on_t2w_img: nib.Nifti1Image,
    out_png: Path,
    title: str,
    t1w_before_img: nib.Nifti1Image | None = None,
    failures: Sequence[str] = (),
) -> Path:
    """QC: T2w/T1w checkerboards before and after, and T1w edges over the T2w.

    The slice is the middle one across the image's thinnest extent: the
    mid-sagittal slice of a sagittal scan, the mid-axial of a thin axial slab.

    Args:
        t2w_img: T2w image.
        t1w_on_t2w_img: Registered T1w on the T2w grid.
        out_png: Destination PNG (written atomically).
        title: Figure title.
        t1w_before_img: T1w on the T2w grid with the header alignment only;
            adds the "before" panel when given.
        failures: Why the registration failed its checks; when given, a red
            frame and banner say so.

    Returns:
        The PNG path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    view = _middle_slice(t2w_img)
    t2w = _normalise(view.plane)
    after = _normalise(_middle_slice(t1w_on_t2w_img).plane)
    panels = [("after: checkerboard", _checkerboard(t2w, after))]
    if t1w_before_img is not None:
        before = _normalise(_middle_slice(t1w_before_img).plane)
        panels.insert(0, ("before (header alignment): checkerboard", _checkerboard(t2w, before)))

    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(4 * (len(panels) + 1), 4.5), squeeze=False)
    _draw_panels(axes[0], panels, t2w, after, view)
    fig.suptitle(title, fontsize=10)
    top = 0.95  # leave room for the title
    if failures:
        _failure_banner(fig, failures, len(panels) + 1)
    fig.tight_layout(rect=(0, 0.12 if failures else 0, 1, top))
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=100, format="png", edgecolor=fig.get_edgecolor())
    plt.close(fig)
    return Path(out_png)


def _draw_panels(
    axes: Sequence[Any],
    panels: Sequence[tuple[str, np.ndarray]],
    t2w: np.ndarray,
    after: np.ndarray,
    view: _View,
) -> None:
    """Checkerboard panels, then the T1w edges over the T2w in the last axes."""
    display = {"cmap": "gray", "origin": "lower", "aspect": view.aspect, "vmin": 0, "vmax": 1}
    for ax, (name, plane) in zip(axes, panels, strict=False):
        ax.imshow(plane.T, **display)
        ax.set_title(name, fontsize=9)
    overlay = axes[-1]
    overlay.imshow(t2w.T, **display)
    edges = np.ma.masked_where(~_edges(after).T, np.ones_like(after.T))
    overlay.imshow(edges, cmap="autumn", origin="lower", aspect=view.aspect, alpha=0.8, vmin=0, vmax=1)
    overlay.set_title("after: T1w edges on T2w", fontsize=9)
    for ax in axes:
        ax.set_xlabel(_AXIS_NAMES[view.axes[0]])
        ax.set_ylabel(_AXIS_NAMES[view.axes[1]])
        ax.set_xticks([])
        ax.set_yticks([])


def _failure_banner(fig: Any, failures: Sequence[str], columns: int) -> None:
    """A red banner with the failures under the panels, and a red frame round the figure."""
    banner = "REGISTRATION FAILED: " + "; ".join(failures)
    fig.text(
        0.5,
        0.01,
        textwrap.fill(banner, 40 * columns),
        ha="center",
        va="bottom",
        color="white",
        fontsize=9,
        fontweight="bold",
        backgroundcolor="red",
    )
    fig.patch.set_edgecolor("red")
    fig.patch.set_linewidth(12)


def _middle_slice(img: nib.Nifti1Image) -> _View:
    """Mid-slice across the slab: sagittal for sagittal scans, axial for thin axial slabs."""
    canonical = nib.as_closest_canonical(img)
    data = np.asarray(canonical.dataobj, dtype=np.float32)
    data = data.reshape(data.shape[:3])
    zooms = np.asarray(canonical.header.get_zooms()[:3], dtype=float)
    across = int(np.argmin(np.asarray(data.shape) * zooms))
    shown = tuple(a for a in range(3) if a != across)
    plane = np.take(data, data.shape[across] // 2, axis=across)
    return _View(plane, shown, float(zooms[shown[1]] / zooms[shown[0]]))


def _normalise(plane: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] between the 1st and 99th percentiles, so contrasts compare."""
    low, high = np.percentile(plane, [1, 99])
    return np.clip((plane - low) / max(high - low, 1e-6), 0.0, 1.0)


def _checkerboard(a: np.ndarray, b: np.ndarray, tiles: int = 8) -> np.ndarray:
    """Alternate tiles of ``a`` and ``b``: misalignment shows as broken edges."""
    rows = (np.arange(a.shape[0]) * tiles // a.shape[0]) % 2
    cols = (np.arange(a.shape[1]) * tiles // a.shape[1]) % 2
    return np.where((rows[:, None] + cols[None, :]) % 2 == 0, a, b)


def _edges(plane: np.ndarray) -> np.ndarray:
    """Strongest 10 % of the gradient magnitude of a slice."""
    from scipy import ndimage

    magnitude = np.hypot(ndimage.sobel(plane, 0), ndimage.sobel(plane, 1))
    return magnitude > np.percentile(magnitude, 90)
