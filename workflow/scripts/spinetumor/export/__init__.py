"""Trained models out of the study: self-contained folders laid out as MONAI bundles (torch-free)."""
