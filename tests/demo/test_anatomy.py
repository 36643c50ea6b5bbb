"""The analytic anatomy (spinetumor.demo.anatomy) as seen in the written labels, and its paint order."""

from __future__ import annotations

import nibabel as nib
import numpy as np

from spinetumor import LABELS
from spinetumor.demo.anatomy import PAINT_ORDER, AnatomyModel
from spinetumor.demo.params import SubjectParameters
from spinetumor.demo.sampling import subject_parameters
from spinetumor.io import voxel_sizes
from tests.demo import demo_fixtures
from tests.demo.demo_fixtures import N_CLI, SEED, first_index, world_coordinates

# Fixtures shared by the demo test modules (one dataset per session; ``load`` needs all three).
cli_dataset = demo_fixtures.cli_dataset
subject_files = demo_fixtures.subject_files
load = demo_fixtures.load


def test_lesions_are_painted_edema_then_cavity_then_tumour():
    assert PAINT_ORDER == (LABELS["edema"], LABELS["cavity"], LABELS["tumor"])
    p = subject_parameters(first_index(lambda q: q.has_edema and q.has_cavity), SEED)
    order = [les.label for les in AnatomyModel(p).lesions]
    assert order == sorted(order, key=PAINT_ORDER.index)
    assert order[-1] == LABELS["tumor"]


def test_centreline_passes_through_the_origin_and_runs_along_s_i():
    model = AnatomyModel(subject_parameters(1, SEED))
    line = model.centreline()
    centre = line[np.argmin(np.abs(line[:, 2]))]
    np.testing.assert_allclose(centre[:2], 0.0, atol=0.05)  # the anatomy frame starts at the cord
    frame = model.frame(*(np.float32(line[::200, k]) for k in range(3)))
    np.testing.assert_allclose(frame.u, 0.0, atol=0.05)
    np.testing.assert_allclose(frame.n, 0.0, atol=0.05)


def test_labels_mark_the_cord_centre_and_nothing_far_outside():
    p = subject_parameters(1, SEED)
    model = AnatomyModel(p)
    # The anatomy frame's origin is on the cord; 60 mm to its right is outside the canal.
    x, y, z = np.float32([0.0, 60.0]), np.float32([0.0, 0.0]), np.float32([0.0, 0.0])
    dseg, cord = model.labels(model.frame(x, y, z))
    assert cord.tolist() == [True, False] and dseg[1] == 0


def test_labels_live_on_the_t2w_grid_and_lesions_inside_the_cord(load):
    for index in range(1, N_CLI + 1):
        images = load(index)
        t2w = images["t2w"]
        for key in ("dseg", "cord", "centerline"):
            img = images[key]
            assert img.shape == t2w.shape, key
            np.testing.assert_allclose(img.affine, t2w.affine, atol=1e-5, err_msg=key)
            assert img.get_data_dtype() == np.uint8, key
        dseg = np.asarray(images["dseg"].dataobj)
        cord = np.asarray(images["cord"].dataobj)
        assert set(np.unique(dseg)) <= {0, 1, 2, 3}
        assert set(np.unique(cord)) == {0, 1}
        assert (dseg == 1).any(), "every subject has a tumour core"
        assert np.all(cord[dseg > 0] == 1), "lesions are intramedullary"
        p = subject_parameters(index, SEED)
        assert (dseg == 2).any() == p.has_edema
        assert (dseg == 3).any() == p.has_cavity


def test_centreline_one_voxel_per_si_position_inside_the_cord(load):
    for index in range(1, N_CLI + 1):
        images = load(index)
        line = np.asarray(images["centerline"].dataobj)
        cord = np.asarray(images["cord"].dataobj)
        codes = nib.aff2axcodes(images["t2w"].affine)
        si_axis = [c in "SI" for c in codes].index(True)
        per_position = line.sum(axis=tuple(a for a in range(3) if a != si_axis))
        assert set(np.unique(line)) == {0, 1}
        assert per_position.max() == 1
        # The cord runs through the whole field of view (a few end rows may miss it).
        assert per_position.sum() >= 0.95 * line.shape[si_axis]
        assert cord[line > 0].mean() >= 0.97


def _enlargement_in_view_and_clear(p: SubjectParameters) -> bool:
    """Cervical field of view, and no lesion within 20 mm of C5 (L = 65 mm below the top of C1)."""
    if p.anatomy.coverage != "cervical":
        return False
    s_c5 = p.anatomy.level_at_center_mm - 65.0
    return all(abs(les.center_uns_mm[2] - s_c5) > les.radii_uns_mm[2] + 20.0 for les in p.lesions)


def test_cord_is_about_13_by_8_mm_at_its_widest(load):
    images = load(first_index(_enlargement_in_view_and_clear))
    img = images["cord"]
    cord = np.asarray(img.dataobj) > 0
    dseg = np.asarray(images["dseg"].dataobj)
    sizes = voxel_sizes(img.affine)
    codes = nib.aff2axcodes(img.affine)
    si_axis = [c in "SI" for c in codes].index(True)
    slice_axis = int(np.argmax(sizes))
    thickness, pixel = sizes[slice_axis], float(np.delete(sizes, slice_axis).mean())
    lesion_z = world_coordinates(img, dseg > 0)[:, 2]
    widths_lr, widths_ap, areas = [], [], []
    for row in range(cord.shape[si_axis]):  # one S-I position at a time
        mask = np.zeros_like(cord)
        index = [slice(None)] * 3
        index[si_axis] = row
        mask[tuple(index)] = cord[tuple(index)]
        if mask.sum() < 3:
            continue
        pts = world_coordinates(img, mask)
        if np.any(np.abs(lesion_z - pts[:, 2].mean()) < 15.0):
            continue  # tumours, cysts and edema swell the cord
        widths_lr.append(np.ptp(pts[:, 0]) + thickness)
        widths_ap.append(np.ptp(pts[:, 1]) + pixel)
        areas.append(len(pts) * thickness * pixel)
    assert len(areas) > 50
    # Ellipse 13 x 8 mm: area pi * 6.5 * 4 = 82 mm^2; +-7 % subject scale, voxelisation.
    assert 60.0 <= max(areas) <= 105.0
    assert 7.0 <= max(widths_ap) <= 10.0
    # Thick slices quantise the L-R width to whole slices (2.5-4 mm each).
    assert 9.0 <= max(widths_lr) <= 18.0
    assert max(widths_lr) > max(widths_ap)
    # Tapering: the lower thoracic end of the view is thinner than the enlargement.
    assert min(areas) < 0.8 * max(areas)
