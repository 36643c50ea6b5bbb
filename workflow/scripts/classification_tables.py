"""Every split's classification predictions into the metric tables and figures."""

from spinetumor import smk
from spinetumor.classification import jobs

p, out = snakemake.params, snakemake.output
smk.run(
    snakemake,
    jobs.classification_tables,
    p.tasks,
    list(snakemake.input.predictions),
    snakemake.input.participants,
    p.unit_participants,
    dict(out.items()),
    models=list(p.models),
    n_boot=p.n_boot,
    seed=p.seed,
)
