# Preprocessing chains (presets: lemay2021, stanford2023) on the T2w grid's volumes.


rule preprocess_subject:
    input:
        t2w=t2w_of,
        t1w=REG_T1W,
        dseg=LESION_DSEG,
        cord=CORD_MASK,
        validated=validated,
    output:
        t2w=st_layout.preprocessed_file(PREPROC, "T2w"),
        t1w=st_layout.preprocessed_file(PREPROC, "T1w"),
        dseg=st_layout.preprocessed_file(PREPROC, "dseg"),
        cord=st_layout.preprocessed_file(PREPROC, "cord"),
        geometry=st_layout.preprocessed_file(PREPROC, "geometry"),
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
