"""A mosaic of the registration QC images."""
from spinetumor import reporting, smk

smk.run(snakemake, reporting.registration_figure, snakemake.params.qc, snakemake.output.png, snakemake.output.pdf)
