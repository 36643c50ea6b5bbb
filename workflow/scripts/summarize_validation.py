"""Gather the per-subject validation reports into the study's tables."""

from spinetumor import smk
from spinetumor.data import validation

smk.run(
    snakemake,
    validation.summarize_reports,
    list(snakemake.input.reports),
    snakemake.output.table,
    snakemake.output.excluded,
    invalid_folders=snakemake.params.invalid_folders,
)
