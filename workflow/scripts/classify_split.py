"""The tumour-type classifier on one split: lesion features, fit on training units, predict test units."""

from spinetumor import smk
from spinetumor.classification import jobs

p, out = snakemake.params, snakemake.output
smk.run(
    snakemake,
    jobs.classify_split,
    p.tasks,
    int(snakemake.wildcards.split),
    p.units,
    snakemake.input.participants,
    out.features,
    out.predictions,
    seed=p.seed,
)
