# Preprocessing chains (presets: lemay2021, stanford2023) on the T2w grid's volumes.


rule preprocess_subject:
    input:
        t2w=t2w_of,
        t1w=REG_T1W,
        dseg=LESION_DSEG,
        cord=CORD_MASK,
        validated=validated,
    output:
        **PREPROC_OUTPUTS,
    params:
        steps=chain_steps,
    log:
        f"{LOGS}/preprocessed/{{chain}}/{{subpath}}/{{prefix}}.log",
    benchmark:
        f"{BENCH}/preprocessed/{{chain}}/{{subpath}}/{{prefix}}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    group:
        "subject"
    threads: config["threads"]["preprocess"]
    resources:
        mem_mb=res("preprocess", "mem_mb"),
        runtime=res("preprocess", "runtime"),
    script:
        "../scripts/preprocess_subject.py"
