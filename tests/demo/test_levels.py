"""Tables along the spine and the cord frame (spinetumor.demo.levels)."""

from __future__ import annotations

import numpy as np

from spinetumor.demo.levels import (
    TABLE_STEP_MM,
    Frame,
    cord_semi_axes,
    level_table,
    table_index,
    thoracic_weight,
)
from spinetumor.demo.sampling import subject_parameters
from tests.demo.demo_fixtures import SEED, first_index


def test_cord_is_widest_at_c5_and_scales():
    a, b = cord_semi_axes(np.array([0.0, 65.0, 250.0]), 1.0)
    assert (a[1], b[1]) == (6.5, 4.0)  # about 13 x 8 mm at C5
    assert a[1] > a[0] and a[1] > a[2]
    a2, b2 = cord_semi_axes(65.0, 1.1)
    assert np.isclose(a2, 6.5 * 1.1) and np.isclose(b2, 4.0 * 1.1)


def test_thoracic_weight_switches_around_c7_t1():
    w = thoracic_weight(np.array([0.0, 115.0, 300.0]))
    assert w[0] < 0.001 and np.isclose(w[1], 0.5) and w[2] > 0.999


def test_table_index_rounds_to_the_nearest_row_and_clips():
    rows = table_index(np.float32([10.0, 10.04, 10.06, -5.0, 1e6]), 10.0, 100)
    assert rows.tolist() == [0, 0, 1, 0, 99]


def _table_at(table, name: str, level_mm: float) -> float:
    row = int(round((level_mm - table.start) / TABLE_STEP_MM))
    return float(table.table[table.columns[name], row])


def test_canal_holds_the_dura_which_holds_the_cord():
    p = subject_parameters(1, SEED)
    table = level_table(p.anatomy, p.lesions)
    t = {name: table.table[row] for name, row in table.columns.items()}
    assert np.all(t["dura_a"] > t["cord_a"]) and np.all(t["canal_a"] > t["dura_a"])
    # Along A-P: cord (centred on 0) inside the dura, inside the canal.
    assert np.all(t["dura_n"] + t["dura_b"] > t["cord_b"]) and np.all(
        t["dura_n"] - t["dura_b"] < -t["cord_b"]
    )
    assert np.all(t["canal_n"] + t["canal_b"] >= t["dura_n"] + t["dura_b"])
    assert np.all(t["canal_n"] - t["canal_b"] <= t["dura_n"] - t["dura_b"])
    assert np.all(t["body_front"] > t["body_back"])
    assert np.isclose(table.bounds["canal_a"], float(t["canal_a"].max()))  # bounds come from float64


def test_a_disc_centre_sits_at_the_top_of_c1():
    p = subject_parameters(1, SEED)
    table = level_table(p.anatomy, p.lesions)
    assert abs(_table_at(table, "phase", 0.0)) < 0.01
    # The vertebral period is longer in the chest than in the neck.
    assert _table_at(table, "period", 250.0) > _table_at(table, "period", 50.0)


def test_lesions_swell_the_cord_only_around_them():
    p = subject_parameters(first_index(lambda q: any(les.swelling > 0.05 for les in q.lesions)), SEED)
    les = max(p.lesions, key=lambda x: x.swelling)
    swollen, plain = level_table(p.anatomy, p.lesions), level_table(p.anatomy, ())
    at = p.anatomy.level_at_center_mm - les.center_uns_mm[2]
    far = at + les.radii_uns_mm[2] + 300.0  # well beyond every lesion of the field of view
    assert _table_at(swollen, "cord_a", at) > _table_at(plain, "cord_a", at)
    assert _table_at(swollen, "cord_a", far) == _table_at(plain, "cord_a", far)


def test_frame_looks_up_the_row_of_each_point_and_subsets_keep_it():
    p = subject_parameters(1, SEED)
    table = level_table(p.anatomy, p.lesions)
    s = np.float32([0.0, 20.0, -35.0])
    frame = Frame(table, u=np.zeros(3, np.float32), n=np.zeros(3, np.float32), s=s)
    expected = [_table_at(table, "cord_a", table.centre - float(v)) for v in s]
    np.testing.assert_allclose(frame["cord_a"], expected, rtol=1e-6)
    sub = frame.subset(np.array([2]))
    np.testing.assert_allclose(sub["cord_a"], expected[2:], rtol=1e-6)
    assert sub.s.tolist() == [-35.0]
