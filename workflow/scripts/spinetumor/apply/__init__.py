"""Segmenting new scans with an exported model (``spinetumor predict``)."""
