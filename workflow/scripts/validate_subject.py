"""Validate one subject's inputs before anything else reads them."""

from spinetumor import smk
from spinetumor.data import jobs

smk.run(
    snakemake,
    jobs.validate_subject,
    snakemake.params.unit,
    snakemake.output.report,
    on_invalid=snakemake.params.on_invalid,
    require_cord=snakemake.params.require_cord,
)
