"""Write the dataset-level files of the embedded demo dataset."""

from pathlib import Path

from spinetumor import smk
from spinetumor.demo import jobs

smk.run(
    snakemake,
    jobs.write_dataset_files,
    Path(snakemake.params.bids_dir),
    int(snakemake.params.n_subjects),
    int(snakemake.params.seed),
)
