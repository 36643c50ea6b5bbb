"""Compute the study's subject-level splits once and save them."""

from spinetumor import smk
from spinetumor.data import jobs

smk.run(
    snakemake,
    jobs.make_splits,
    snakemake.input.participants,
    snakemake.input.validation,
    snakemake.params.settings,
    snakemake.output.splits,
)
