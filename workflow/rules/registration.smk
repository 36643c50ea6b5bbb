# T1w registered onto T2w: affine (rigid first), multi-resolution, SimpleITK.


rule register_t1w:
    input:
        t2w=t2w_of,
        t1w=t1w_of,
        validated=validated,
    output:
        t1w=REG_T1W,
        xfm=REG_XFM,
        qc=REG_QC,
        summary=REG_JSON,
    params:
        settings=config["registration"],
        subject=lambda wildcards: wildcards.prefix.removeprefix("sub-"),
    log:
        f"{LOGS}/registration/{{subpath}}/{{prefix}}.log",
    benchmark:
        f"{BENCH}/registration/{{subpath}}/{{prefix}}.tsv"
    conda:
        f"{ENVS}/imaging.yaml"
    group:
        "subject"
    threads: config["threads"]["registration"]
    resources:
        mem_mb=res("registration", "mem_mb"),
        runtime=res("registration", "runtime"),
    script:
        "../scripts/register_t1w.py"


rule registration_table:
    input:
        summaries=lambda wildcards: [unit_path(REG_JSON, u) for u in valid_units()],
    output:
        table=report(REGISTRATION_TABLE, caption="../report/registration_table.rst",
                     category="Registration"),
    params:
        summaries=lambda wildcards: {u.prefix: unit_path(REG_JSON, u) for u in valid_units()},
    log:
        f"{LOGS}/registration/registration_table.log",
    benchmark:
        f"{BENCH}/registration/registration_table.tsv"
    conda:
        f"{ENVS}/imaging.yaml"
    threads: 1
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    script:
        "../scripts/registration_table.py"
