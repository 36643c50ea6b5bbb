# Per-subject input validation, before any other step reads a subject's files.


rule validate_subject:
    input:
        unpack(raw_inputs),
    output:
        report=VALIDATION_REPORT,
    params:
        unit=lambda wildcards: unit(wildcards).as_dict(),
        on_invalid=config["on_invalid_input"],
        require_cord=REQUIRE_CORD_LABEL,
    log:
        f"{LOGS}/validation/{{subpath}}/{{prefix}}.log",
    benchmark:
        f"{BENCH}/validation/{{subpath}}/{{prefix}}.tsv"
    conda:
        f"{ENVS}/imaging.yaml"
    group:
        "subject"
    threads: 1
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    script:
        "../scripts/validate_subject.py"


checkpoint summarize_validation:
    input:
        reports=[unit_path(VALIDATION_REPORT, u) for u in UNITS.values()],
    output:
        table=VALIDATION_TABLE,
        excluded=EXCLUDED_TABLE,
    params:
        invalid_folders=INVALID_FOLDERS,
    log:
        f"{LOGS}/validation/summary.log",
    benchmark:
        f"{BENCH}/validation/summary.tsv"
    conda:
        f"{ENVS}/imaging.yaml"
    threads: 1
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    script:
        "../scripts/summarize_validation.py"


rule standardize_labels:
    input:
        t2w=t2w_of,
        validated=validated,
        labels=lambda wildcards: list(lesion_label_files(wildcards).values()),
    output:
        dseg=LESION_DSEG,
    params:
        label_files=lesion_label_files,
    log:
        f"{LOGS}/labels/{{subpath}}/{{prefix}}.log",
    benchmark:
        f"{BENCH}/labels/{{subpath}}/{{prefix}}.tsv"
    conda:
        f"{ENVS}/imaging.yaml"
    group:
        "subject"
    threads: 1
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    script:
        "../scripts/standardize_labels.py"
