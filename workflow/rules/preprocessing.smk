# Preprocessing chains (presets: lemay2021, stanford2023, zhuo2022, ...) on the T2w grid's volumes: every
# chain of the study in one job per unit (a job's start, importing torch and MONAI, costs more than a
# chain on the demo's volumes); a change to any chain's steps reruns the unit's job.


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
        chains=CHAIN_STEPS,
    log:
        f"{LOGS}/preprocessed/{{subpath}}/{{prefix}}.log",
    benchmark:
        f"{BENCH}/preprocessed/{{subpath}}/{{prefix}}.tsv"
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
