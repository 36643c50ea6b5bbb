"""Compute the study's subject-level splits once and save them."""

from spinetumor import smk
from spinetumor.data import splits

smk.run(
    snakemake,
    splits.splits_from_files,
    snakemake.input.participants,
    snakemake.input.validation,
    snakemake.params.settings,
    snakemake.output.splits,
)
