"""Spinal canal of a demo subject: epidural space, dural sac, the cord and its lesions, and the labels.

Lesions are irregular ellipsoids in the cord frame, always clipped to the cord;
the labels come from the same geometry with hard edges.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spinetumor.demo.levels import Frame
from spinetumor.demo.params import LesionParameters
from spinetumor.demo.shapes import ellipse, paint, ramp, wave_noise
from spinetumor.demo.tissues import TISSUE

__all__ = ["paint_canal", "lesion_distance", "cord_labels"]


def paint_canal(
    image: np.ndarray, fr: Frame, v: np.ndarray, contrast: int, w: float, lesions: Sequence[LesionParameters]
) -> None:
    """Paint the epidural space, the CSF in the dural sac, the cord and its lesions, in place.

    Args:
        image: Signal of the points, painted so far; painted in place.
        fr: Cord frame of the points.
        v: Per-tissue signal for this contrast.
        contrast: 0 for T2w, 1 for T1w.
        w: Edge ramp width (one in-plane pixel), mm.
        lesions: The lesions in paint order (see :data:`~spinetumor.demo.anatomy.PAINT_ORDER`).
    """
    b = fr.levels.bounds
    near_u, near_n = np.float32(b["canal_a"] + 1.0), np.float32(b["canal_extent"] + 1.0)
    idx = np.nonzero((np.abs(fr.u) < near_u) & (np.abs(fr.n) < near_n))[0]
    if not idx.size:
        return
    sub, f = image[idx], fr.subset(idx)
    d_canal, _ = ellipse(f.u, f.n - f["canal_n"], f["canal_a"], f["canal_b"])
    dura_n = f["dura_n"]
    # Dorsal and lateral epidural space holds fat; ventrally the ligament and veins.
    epidural = v[TISSUE["ligament"]] + (v[TISSUE["fat"]] - v[TISSUE["ligament"]]) * ramp(
        f.n - dura_n + 1.0, 1.5
    )
    paint(sub, ramp(d_canal, w), epidural)
    d_dura, _ = ellipse(f.u, f.n - dura_n, f["dura_a"], f["dura_b"])
    paint(sub, ramp(d_dura, w), v[TISSUE["csf"]])
    d_cord, rho = ellipse(f.u, f.n, f["cord_a"], f["cord_b"])
    grey = np.float32((0.1, -0.04)[contrast]) * np.clip((0.55 - rho) / 0.2, 0.0, 1.0)  # grey matter
    paint(sub, ramp(d_cord, w), v[TISSUE["cord"]] + grey)
    inside = np.nonzero(d_cord < w)[0]
    if inside.size:
        cord_sub, fc, dc = sub[inside], f.subset(inside), d_cord[inside]
        for les in lesions:
            sel, d = lesion_distance(les, fc, dc)
            if sel is None:
                continue
            tex = wave_noise((fc.u[sel], fc.n[sel], fc.s[sel]), les.texture_waves)
            if contrast == 0:
                value = les.t2w * (1.0 + les.texture_t2w * tex)
            else:
                value = les.t1w * (1.0 + les.texture_t1w * tex) + les.patchy_t1w * np.maximum(tex, 0.0)
            piece = cord_sub[sel]
            paint(piece, ramp(d, max(w, les.edge_mm)), value)
            cord_sub[sel] = piece
        sub[inside] = cord_sub
    image[idx] = sub


def lesion_distance(
    les: LesionParameters, f: Frame, d_cord: np.ndarray, margin: float = 4.0
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
    threshold = 1.0 + les.irregularity * wave_noise((qu, qn, qs), les.shape_waves)
    eps = np.float32(1e-4)
    d = (rho - threshold) * (rho + eps) / (grad + eps / min(ru, rn, rs))
    return sel, np.maximum(d, d_cord[sel])


def cord_labels(fr: Frame, lesions: Sequence[LesionParameters]) -> tuple[np.ndarray, np.ndarray]:
    """dseg values and cord mask at points (hard edges, from the same geometry as the signal).

    Args:
        fr: Cord frame of the points.
        lesions: The lesions in paint order: a later one overwrites an earlier one.

    Returns:
        dseg (uint8) and cord mask (bool), shaped like the points.
    """
    dseg = np.zeros(fr.u.shape, np.uint8)
    cord = np.zeros(fr.u.shape, bool)
    b = fr.levels.bounds
    near_u, near_n = np.float32(b["canal_a"]), np.float32(b["canal_extent"])
    idx = np.nonzero((np.abs(fr.u) < near_u) & (np.abs(fr.n) < near_n))[0]
    if not idx.size:
        return dseg, cord
    f = fr.subset(idx)
    d_cord, _ = ellipse(f.u, f.n, f["cord_a"], f["cord_b"])
    in_cord = d_cord < 0
    cord[idx] = in_cord
    sub = np.zeros(idx.shape, np.uint8)
    for les in lesions:  # edema, then cavity, then tumour: tumour > cavity > edema
        sel, d = lesion_distance(les, f, d_cord, margin=0.0)
        if sel is not None:
            sub[sel[d < 0]] = les.label
    dseg[idx] = np.where(in_cord, sub, 0)
    return dseg, cord
