"""Prediction: settings, the two network stages, the crop, post-processing and the sliding window."""
