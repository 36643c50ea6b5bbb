"""Metrics, tables, statistics and figures of the study."""
