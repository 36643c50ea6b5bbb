"""Sliding-window prediction, post-processing and the prediction job."""
