"""Export one trained model (every split) as a self-contained folder."""

from spinetumor import smk
from spinetumor.export import jobs

p = snakemake.params
smk.run(
    snakemake,
    jobs.export_model,
    p.model,
    p.chain,
    p.stage1_chain,
    p.registration,
    [tuple(run) for run in p.runs],
    snakemake.output[0],
)
