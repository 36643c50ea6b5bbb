"""Body wall of a demo subject: back fat and skin, and the neck or chest in front of the spine."""

from __future__ import annotations

import numpy as np

from spinetumor.demo.levels import Frame
from spinetumor.demo.params import AnatomyParameters
from spinetumor.demo.shapes import ellipse, paint, ramp
from spinetumor.demo.tissues import TISSUE

__all__ = ["paint_body_wall"]


def paint_body_wall(image: np.ndarray, fr: Frame, v: np.ndarray, w: float, anat: AnatomyParameters) -> None:
    """Paint, in place, what lies behind the back muscles and in front of the spine.

    Args:
        image: Signal of the points, painted so far (muscle).
        fr: Cord frame of the points.
        v: Per-tissue signal for this contrast.
        w: Edge ramp width (one in-plane pixel), mm.
        anat: The subject's anatomy.
    """
    bounds = fr.levels.bounds
    n = fr.n
    # Behind the back muscles: subcutaneous fat, then air.
    idx = np.nonzero(n < np.float32(-bounds["skin"] + anat.subcutaneous_fat_mm + w))[0]
    if idx.size:
        f, sub = fr.subset(idx), image[idx]
        skin = -f["skin"]
        fat_inner = skin + np.float32(anat.subcutaneous_fat_mm)
        paint(sub, ramp(np.maximum(skin - f.n, f.n - fat_inner), w), v[TISSUE["fat"]])
        paint(sub, ramp(f.n - skin, w), v[TISSUE["air"]])
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
        _paint_neck(piece, f.subset(neck), 1.0 - tau[neck], v, w, anat.anterior_neck_mm)
        sub[neck] = piece
    chest = np.nonzero(tau > 0.001)[0]
    if chest.size:
        piece = sub[chest]
        _paint_chest(piece, f.subset(chest), tau[chest], v, w)
        sub[chest] = piece
    image[idx] = sub


def _paint_neck(
    image: np.ndarray, f: Frame, weight: np.ndarray, v: np.ndarray, w: float, anterior_neck_mm: float
) -> None:
    """Prevertebral muscle, airway, soft tissues of the neck, skin fat, air."""
    front = f["body_front"]
    paint(image, weight * ramp(front + 4.0 - f.n, w), v[TISSUE["soft"]])
    near = np.nonzero((np.abs(f.u) < 10.0) & (f.n < front + 18.0))[0]
    if near.size:
        d_air, _ = ellipse(f.u[near], f.n[near] - (front[near] + 10.5), 9.0, 6.5)
        piece = image[near]
        paint(piece, weight[near] * ramp(d_air, w), v[TISSUE["air"]])
        image[near] = piece
    neck_front = front + np.float32(anterior_neck_mm)
    paint(image, weight * ramp(np.maximum(f.n - neck_front, neck_front - 4.0 - f.n), w), v[TISSUE["fat"]])
    paint(image, weight * ramp(neck_front - f.n, w), v[TISSUE["air"]])


def _paint_chest(image: np.ndarray, f: Frame, weight: np.ndarray, v: np.ndarray, w: float) -> None:
    """Mediastinum, lungs beside and in front of the vertebral bodies, descending aorta."""
    nn, au = f.n, np.abs(f.u)
    back, front, bw, bb = f["body_back"], f["body_front"], f["body_w"], f["body_b"]
    paint(image, weight * ramp(front + 2.0 - nn, w), v[TISSUE["soft"]])
    beside = np.maximum(bw + 5.0 - au, back - 6.0 - nn)
    ahead = np.maximum(front + 3.0 - nn, 14.0 + 0.3 * (nn - front) - au)
    paint(image, weight * ramp(np.minimum(beside, ahead), w), v[TISSUE["lung"]])
    du, dn = f.u + bw + 6.0, nn - (back + bb + 4.0)
    near = np.nonzero((np.abs(du) < 12.0) & (np.abs(dn) < 12.0))[0]
    if near.size:
        d_aorta, _ = ellipse(du[near], dn[near], 11.0, 11.0)
        piece = image[near]
        paint(piece, weight[near] * ramp(d_aorta, w), v[TISSUE["vessel"]])
        image[near] = piece
