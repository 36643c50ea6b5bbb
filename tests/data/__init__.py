"""Tests of spinetumor.data."""
