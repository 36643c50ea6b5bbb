"""A model's overlays (best, median, worst) and training curves."""

from spinetumor import smk
from spinetumor.evaluation import jobs

smk.run(
    snakemake,
    jobs.model_figures,
    snakemake.input.per_case,
    snakemake.wildcards.model,
    snakemake.params.images,
    dict(zip(snakemake.params.curve_names, snakemake.input.summaries, strict=True)),
    dict(snakemake.output.items()),
)
