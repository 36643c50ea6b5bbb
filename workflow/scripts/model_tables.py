"""One model's tables in the papers' layouts (Lemay Table 3, Stanford per split)."""

from spinetumor import smk
from spinetumor.evaluation import jobs

out = snakemake.output
smk.run(
    snakemake,
    jobs.model_tables,
    snakemake.input.per_case,
    snakemake.wildcards.model,
    {ext: out[f"lemay_{ext}"] for ext in ("tsv", "tex", "md")},
    {ext: out[f"stanford_{ext}"] for ext in ("tsv", "tex", "md")},
    snakemake.params.stanford_label,
)
