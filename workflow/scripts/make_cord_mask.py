"""Write a subject's spinal cord mask on the T2w grid."""

from spinetumor import smk
from spinetumor.data import jobs

smk.run(
    snakemake,
    jobs.make_cord_mask,
    snakemake.input.t2w,
    snakemake.params.source,
    snakemake.input.source_file,
    snakemake.output.mask,
    snakemake.output.info,
    diameter_mm=float(snakemake.params.diameter_mm),
)
