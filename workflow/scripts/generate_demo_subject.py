"""Write one subject of the embedded demo dataset."""
from pathlib import Path

from spinetumor import demo, smk

smk.run(snakemake, demo.write_subject, Path(snakemake.params.bids_dir), int(snakemake.params.index), int(snakemake.params.seed))
