"""Tests of spinetumor.inference (a package, so that test modules named like those of other folders stay apart)."""
