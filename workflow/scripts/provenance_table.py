"""The provenance of every trained run: weights, config, seed, epochs, code and libraries."""

from spinetumor import smk
from spinetumor.evaluation import jobs

p = snakemake.params
smk.run(snakemake, jobs.provenance_table, p.runs, p.results_dir, snakemake.output.table)
