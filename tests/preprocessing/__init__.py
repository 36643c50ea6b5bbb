"""Tests of spinetumor.preprocessing."""
