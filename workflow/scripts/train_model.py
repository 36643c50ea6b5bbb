"""Train one stage of one model on one split."""

from spinetumor import smk
from spinetumor.training import jobs

inp, out, params, wc = snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards
smk.run(
    snakemake,
    jobs.train_stage,
    params.model,
    wc.stage,
    int(wc.split),
    params.chain,
    params.chain_dir,
    list(params.units["train"]),
    list(params.units["val"]),
    inp.splits,
    out.model,
    out.summary,
    cord_model=inp.get("cord_model"),
    predicted_cords=list(params.predicted_cords),
    cord_chain=params.cord_chain,
    declared_inputs=list(inp),
    threads=snakemake.threads,
    device=params.device,
)
