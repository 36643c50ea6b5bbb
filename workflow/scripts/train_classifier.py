"""The deep tumour-type classifier on one split: DenseNet121 per task on the lesion crops."""

from spinetumor import smk
from spinetumor.classification import zhuo2022

p = snakemake.params
smk.run(
    snakemake,
    zhuo2022.train_classifier,
    p.tasks,
    int(snakemake.wildcards.split),
    p.units,
    snakemake.input.participants,
    snakemake.input.splits,
    p.settings,
    dict(snakemake.output.items()),
    threads=snakemake.threads,
    device=p.device,
)
