"""Tumour-type classification (Zhuo et al. 2022): metrics with confidence intervals."""
