"""Train the cord-source model: a cascade's cord stage on every unit whose cord mask is a label."""

from spinetumor import smk
from spinetumor.training import modelruns

inp, out, params = snakemake.input, snakemake.output, snakemake.params
smk.run(
    snakemake,
    modelruns.train_cord_source,
    params.model,
    params.chain,
    list(inp.t2w),
    out.model,
    out.summary,
    val_fraction=float(params.val_fraction),
    seed=int(params.seed),
    threads=snakemake.threads,
    device=params.device,
)
