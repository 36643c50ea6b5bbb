# BIDS-derivative metadata of every output folder that holds per-subject files:
# dataset_description.json (DatasetType derivative, GeneratedBy) and, beside dseg maps, dseg.tsv.


rule derivative_description:
    output:
        description=DERIVATIVE_DESCRIPTION,
    params:
        folder=lambda wildcards: wildcards.derivative,
        purpose=lambda wildcards: derivative_purpose(wildcards.derivative),
        version=CODE_VERSION,
    log:
        f"{LOGS}/derivatives/{{derivative}}/dataset_description.log",
    benchmark:
        f"{BENCH}/derivatives/{{derivative}}/dataset_description.tsv"
    conda:
        f"{ENVS}/imaging.yaml"
    threads: 1
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    script:
        "../scripts/write_derivative_description.py"


rule dseg_lookup:
    output:
        table=DERIVATIVE_DSEG_TSV,
    log:
        f"{LOGS}/derivatives/{{derivative}}/dseg.log",
    benchmark:
        f"{BENCH}/derivatives/{{derivative}}/dseg.tsv"
    wildcard_constraints:
        derivative=DSEG_FOLDERS,
    conda:
        f"{ENVS}/imaging.yaml"
    threads: 1
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    script:
        "../scripts/write_dseg_lookup.py"
