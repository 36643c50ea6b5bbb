"""Write a subject's lesion labels as one dseg map on the T2w grid."""

from spinetumor import smk
from spinetumor.data import jobs

smk.run(
    snakemake,
    jobs.standardize_labels,
    snakemake.input.t2w,
    snakemake.params.label_files,
    snakemake.output.dseg,
)
