"""Write the dseg.tsv lookup table of a folder of label maps."""

from spinetumor import derivatives, smk

smk.run(snakemake, derivatives.write_dseg_tsv, snakemake.output.table)
