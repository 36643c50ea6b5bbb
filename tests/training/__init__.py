"""Tests of spinetumor.training (a package, so that test modules named like those of other folders stay apart)."""
