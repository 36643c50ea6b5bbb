"""Predict one test unit of a split with a trained model, on its native T2w grid."""

from spinetumor import smk
from spinetumor.inference import jobs

inp, out, params, wc = snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards
stages = {stage: inp[stage] for stage in ("cord", "lesion") if stage in inp.keys()}
smk.run(
    snakemake,
    jobs.predict_subject,
    params.model,
    int(wc.split),
    params.chain,
    inp.t2w,
    inp.t1w,
    stages,
    out.dseg,
    out.sidecar,
    out_cord=out.get("cord"),
    out_probs=out.probs,
    stage1_chain_steps=params.get("stage1_chain"),
    subject=wc.prefix,
    threads=snakemake.threads,
    device=params.device,
)
