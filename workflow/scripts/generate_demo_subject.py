"""Write one subject of the embedded demo dataset."""

from pathlib import Path

from spinetumor import smk
from spinetumor.demo import jobs

smk.run(
    snakemake,
    jobs.write_subject,
    Path(snakemake.params.bids_dir),
    int(snakemake.params.index),
    int(snakemake.params.seed),
)
