"""Gather the per-subject validation reports into the study's tables."""

from spinetumor import smk
from spinetumor.data import jobs

smk.run(
    snakemake,
    jobs.summarize_validation,
    list(snakemake.input.reports),
    snakemake.output.table,
    snakemake.output.excluded,
    invalid_folders=snakemake.params.invalid_folders,
)
