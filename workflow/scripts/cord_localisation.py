"""Stage-1 cord localisation Dice and lesions inside the stage-1 crop."""

from spinetumor import smk
from spinetumor.evaluation import jobs

smk.run(
    snakemake,
    jobs.cord_table,
    snakemake.params.cases,
    snakemake.input.participants,
    snakemake.params.pathology,
    snakemake.output.table,
    snakemake.output.summary,
)
