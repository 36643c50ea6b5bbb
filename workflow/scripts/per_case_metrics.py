"""Every metric of every test prediction of every split, in one long table."""

from spinetumor import smk
from spinetumor.evaluation import jobs

p = snakemake.params
smk.run(
    snakemake,
    jobs.metrics_table,
    p.cases,
    snakemake.input.participants,
    p.pathology,
    snakemake.output.table,
    p.min_overlap_mm3,
)
