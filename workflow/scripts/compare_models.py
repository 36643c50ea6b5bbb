"""Paired comparisons of the models' Dice (bootstrap CI, Wilcoxon), overall and per tumour type."""

from spinetumor import smk
from spinetumor.evaluation import jobs

p = snakemake.params
smk.run(
    snakemake,
    jobs.comparison_table,
    snakemake.input.per_case,
    p.pairs,
    snakemake.output.tsv,
    snakemake.output.md,
    n_boot=p.bootstrap["n"],
    seed=p.bootstrap["seed"],
    predicted=p.predicted,
)
