"""Run one preprocessing chain on a subject's co-registered volumes."""

from spinetumor import smk
from spinetumor.preprocessing import jobs

out = snakemake.output
smk.run(
    snakemake,
    jobs.preprocess_subject,
    snakemake.input.t2w,
    snakemake.input.t1w,
    snakemake.input.dseg,
    snakemake.input.cord,
    snakemake.params.steps,
    {"T2w": out.t2w, "T1w": out.t1w, "dseg": out.dseg, "cord": out.cord},
    out.geometry,
    threads=snakemake.threads,
)
