"""Calibration of every model's test probabilities: ECE per label and region, reliability diagrams."""

from spinetumor import smk
from spinetumor.evaluation import jobs

out = snakemake.output
smk.run(snakemake, jobs.calibration, snakemake.params.cases, out.table, out.bins, out.png, out.pdf)
