# Subject-level, seeded, stratified splits, computed once (a checkpoint: the model jobs
# and their targets are read from the table).


checkpoint make_splits:
    input:
        participants=PARTICIPANTS,
        validation=VALIDATION_TABLE,
    output:
        splits=SPLITS_TSV,
    params:
        settings=config["splits"],
    log:
        f"{LOGS}/splits/splits.log",
    benchmark:
        f"{BENCH}/splits/splits.tsv"
    conda:
        f"{ENVS}/imaging.yaml"
    threads: 1
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    script:
        "../scripts/make_splits.py"
