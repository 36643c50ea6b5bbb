"""Predict the cord mask of a unit without a cord label with the cord-source model."""

from spinetumor import smk
from spinetumor.inference import jobs

inp, out, params, wc = snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards
smk.run(
    snakemake,
    jobs.predict_cord_source,
    params.model,
    params.chain,
    inp.t2w,
    inp.model,
    out.mask,
    out.sidecar,
    subject=wc.prefix,
    threads=snakemake.threads,
    device=params.device,
)
