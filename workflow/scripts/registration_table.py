"""The study's registration table: every unit's registration summary, failures first."""

from spinetumor import smk
from spinetumor.registration import registration

smk.run(snakemake, registration.registration_table, snakemake.params.summaries, snakemake.output.table)
