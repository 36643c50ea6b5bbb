"""Train one stage of one model on one split."""

from spinetumor import smk
from spinetumor.training import modelruns

inp, out, params, wc = snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards
smk.run(
    snakemake,
    modelruns.train_stage,
    params.model,
    wc.stage,
    int(wc.split),
    params.chain,
    list(inp.train_t2w),
    list(inp.val_t2w),
    inp.splits,
    out.model,
    out.summary,
    cord_model=inp.get("cord_model"),
    predicted_cords=list(params.predicted_cords),
    threads=snakemake.threads,
    device=params.device,
)
