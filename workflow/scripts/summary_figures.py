"""Dice per label and model, detection rates, volume agreement."""
from spinetumor import reporting, smk

smk.run(snakemake, reporting.summary_figures, snakemake.input.per_case, dict(snakemake.output.items()))
