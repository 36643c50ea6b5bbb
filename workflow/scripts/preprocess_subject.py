"""Run every preprocessing chain of the study on a subject's co-registered volumes."""

from spinetumor import smk
from spinetumor.preprocessing import jobs

inp, out = snakemake.input, snakemake.output
kinds = {"T2w": "t2w", "T1w": "t1w", "dseg": "dseg", "cord": "cord", "geometry": "geometry"}
smk.run(
    snakemake,
    jobs.preprocess_chains,
    {"T2w": inp.t2w, "T1w": inp.t1w, "dseg": inp.dseg, "cord": inp.cord},
    snakemake.params.chains,
    {
        chain: {kind: out[f"{chain}_{key}"] for kind, key in kinds.items()}
        for chain in snakemake.params.chains
    },
    threads=snakemake.threads,
)
