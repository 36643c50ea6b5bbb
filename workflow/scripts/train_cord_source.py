"""Train the cord-source model: a cascade's cord stage on every unit whose cord mask is a label."""

from spinetumor import smk
from spinetumor.training import jobs

inp, out, params = snakemake.input, snakemake.output, snakemake.params
smk.run(
    snakemake,
    jobs.train_cord_source,
    params.model,
    params.chain,
    params.chain_dir,
    list(params.units),
    out.model,
    out.summary,
    val_fraction=float(params.val_fraction),
    seed=int(params.seed),
    declared_inputs=list(inp),
    threads=snakemake.threads,
    device=params.device,
)
