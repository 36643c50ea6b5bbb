"""Run every preprocessing chain of the study on a subject's co-registered volumes."""

from spinetumor import smk
from spinetumor.layout import PREPROC_KINDS
from spinetumor.preprocessing import jobs

inp, out = snakemake.input, snakemake.output
# The rule names each output CHAIN_KIND, the kind in lower case (common.smk, PREPROC_OUTPUTS).
kinds = {kind: kind.lower() for kind in PREPROC_KINDS}
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
