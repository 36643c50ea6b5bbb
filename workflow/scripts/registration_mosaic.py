"""A mosaic of the registration QC images."""

from spinetumor import smk
from spinetumor.evaluation import reporting

smk.run(
    snakemake, reporting.registration_figure, snakemake.params.qc, snakemake.output.png, snakemake.output.pdf
)
