"""The tissue table of the demo images (spinetumor.demo.tissues)."""

from __future__ import annotations

from spinetumor.demo.tissues import TISSUE, TISSUE_NAMES, TISSUES


def test_csf_and_fat_tell_the_contrasts_apart():
    t2w, t1w = 0, 1
    assert TISSUES["cord"] == (1.0, 1.0)  # the reference tissue
    assert TISSUES["csf"][t2w] > TISSUES["cord"][t2w] > TISSUES["csf"][t1w]  # bright on T2w, dark on T1w
    assert TISSUES["fat"][t2w] > 1.0 and TISSUES["fat"][t1w] > 1.0  # bright on both
    assert TISSUES["air"] == (0.0, 0.0)


def test_tissue_rows_follow_the_table_order():
    assert [TISSUE_NAMES[TISSUE[name]] for name in TISSUES] == list(TISSUES)
