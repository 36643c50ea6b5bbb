"""Dice per label and model, detection rates, volume agreement."""

from spinetumor import smk
from spinetumor.evaluation import jobs

smk.run(snakemake, jobs.summary_figures, snakemake.input.per_case, dict(snakemake.output.items()))
