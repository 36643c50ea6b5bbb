"""Write a derivative folder's dataset_description.json."""

from spinetumor import derivatives, smk

p = snakemake.params
smk.run(
    snakemake, derivatives.write_description, snakemake.output.description, p.folder, p.version, p.purpose
)
