"""Segment one unit with an exported model (the `apply` target)."""

from spinetumor import smk
from spinetumor.apply.segment import segment

inp, p = snakemake.input, snakemake.params
smk.run(
    snakemake,
    segment,
    p.model,
    inp.t2w,
    p.out_dir,
    t1w=inp.get("t1w"),
    device=p.device or "cpu",
    threads=snakemake.threads,
    stem=p.stem,
)
