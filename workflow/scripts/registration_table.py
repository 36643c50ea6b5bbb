"""The study's registration table: every unit's registration summary, failures first."""

from spinetumor import smk
from spinetumor.registration import jobs

smk.run(snakemake, jobs.registration_table, snakemake.params.summaries, snakemake.output.table)
