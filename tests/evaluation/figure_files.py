"""The check every figure test shares (imported by name, not collected)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image


def assert_figure_files(png: Path, pdf: Path) -> None:
    """Non-empty 300 dpi PNG and a PDF, no temporary file left beside them."""
    assert png.stat().st_size > 1000
    with Image.open(png) as image:
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.5)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert not [p for p in png.parent.iterdir() if p.name.startswith(".")]
