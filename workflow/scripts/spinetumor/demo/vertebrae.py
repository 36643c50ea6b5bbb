"""Vertebrae of a demo subject: bodies and discs, and the posterior elements behind the canal."""

from __future__ import annotations

import numpy as np

from spinetumor.demo.levels import LEVEL_OFFSET, N_LEVEL_FACTORS, Frame
from spinetumor.demo.shapes import ellipse, paint, ramp
from spinetumor.demo.tissues import TISSUE

__all__ = ["paint_vertebrae", "paint_posterior_elements", "bone_value"]


def paint_vertebrae(
    image: np.ndarray, fr: Frame, v: np.ndarray, w: float, marrow: np.ndarray, nucleus: np.ndarray
) -> None:
    """Paint the vertebral bodies (cortex, marrow) and the discs (annulus, nucleus) in place.

    Args:
        image: Signal of the points, painted so far; painted in place.
        fr: Cord frame of the points.
        v: Per-tissue signal for this contrast.
        w: Edge ramp width (one in-plane pixel), mm.
        marrow: Per-vertebra marrow factors (:data:`~spinetumor.demo.levels.N_LEVEL_FACTORS`).
        nucleus: Per-disc nucleus factors (degenerated discs are darker).
    """
    b = fr.levels.bounds
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
    k_disc = np.clip(nearest.astype(np.intp) + LEVEL_OFFSET, 0, N_LEVEL_FACTORS - 1)
    in_nucleus = np.clip((1.0 - rho_nuc) / 0.35, 0.0, 1.0)
    disc_value = (
        v[TISSUE["annulus"]] + (v[TISSUE["nucleus"]] * nucleus[k_disc] - v[TISSUE["annulus"]]) * in_nucleus
    )
    paint(sub, ramp(d_disc, w), disc_value)
    d_body = np.maximum(d_cross, disc / 2 - t)
    k_body = np.clip(np.floor(phase).astype(np.intp) + LEVEL_OFFSET, 0, N_LEVEL_FACTORS - 1)
    paint(sub, ramp(d_body, w), bone_value(d_body, v, w, marrow[k_body]))
    image[idx] = sub


def bone_value(d: np.ndarray, v: np.ndarray, w: float, marrow_factor: np.ndarray | float = 1.0) -> np.ndarray:
    """Cortical rim (about 1 mm, dark) around marrow."""
    inner = ramp(d + 1.1, w)
    return v[TISSUE["cortex"]] + (v[TISSUE["marrow"]] * marrow_factor - v[TISSUE["cortex"]]) * inner


def paint_posterior_elements(image: np.ndarray, fr: Frame, v: np.ndarray, w: float) -> None:
    """Paint pedicles, laminae, articular pillars and spinous processes, in ligament, in place.

    Args:
        image: Signal of the points, painted so far; painted in place.
        fr: Cord frame of the points.
        v: Per-tissue signal for this contrast.
        w: Edge ramp width (one in-plane pixel), mm.
    """
    b = fr.levels.bounds
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
    d_canal, _ = ellipse(u, n - c_n, c_a, c_b)
    d_outer, _ = ellipse(u, n - c_n, c_a + 5.5, c_b + 5.5)
    ring = np.maximum(np.maximum(d_outer, -d_canal), n - front)  # pedicles and laminae
    sp_len = f["spinous_len"]
    spinous = np.maximum(np.maximum(au - 3.5, n - (bw - 2.0)), (bw - sp_len) - n)
    pillar = np.maximum(  # articular pillars, beside the canal
        np.maximum(c_a + 1.5 - au, au - (c_a + 13.0)), np.maximum(bw - 1.0 - n, n - (front - 1.0))
    )
    nuchal = np.maximum(au - 1.2, n - (bw - sp_len + 1.0))  # nuchal / supraspinous ligament
    # Ligaments fill the whole posterior-element zone; bone is cut into it per level.
    zone = np.minimum(np.minimum(ring, spinous), np.minimum(pillar, nuchal))
    paint(sub, ramp(zone, w), v[TISSUE["ligament"]])

    def band(shift: np.ndarray | float, half_gap: float) -> np.ndarray:
        ph = phase + shift
        return half_gap * period - np.abs(ph - np.rint(ph)) * period

    depth = np.maximum(bw - 2.0 - n, 0.0)
    bone = np.minimum(
        np.minimum(np.maximum(ring, band(0.2, 0.17)), np.maximum(pillar, band(0.15, 0.05))),
        np.maximum(spinous, band(0.2 - f["spinous_slope"] * depth / period, 0.22)),
    )
    paint(sub, ramp(bone, w), bone_value(bone, v, w))
    image[idx] = sub
