"""A mosaic of the registration QC images."""

from spinetumor import smk
from spinetumor.evaluation import jobs

smk.run(snakemake, jobs.registration_figure, snakemake.params.qc, snakemake.output.png, snakemake.output.pdf)
