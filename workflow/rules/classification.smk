# Classification (spinetumor.classification): per split, the tumour-type classifier on measured lesion
# features; then every split's test predictions into the metric tables and figures.


rule classify_split:
    input:
        files=classification_files,
        participants=PARTICIPANTS,
        splits=SPLITS_TSV,
    output:
        features=CLASS_FEATURES,
        predictions=CLASS_PREDICTIONS,
    params:
        tasks=CLASS_TASKS,
        units=classification_units,
        seed=config["splits"]["seed"],
    log:
        f"{LOGS}/classification/split-{{split}}.log",
    benchmark:
        f"{BENCH}/classification/split-{{split}}.tsv"
    conda:
        f"{ENVS}/report.yaml"
    threads: 1
    resources:
        mem_mb=res("evaluation", "mem_mb"),
        runtime=res("evaluation", "runtime"),
    script:
        "../scripts/classify_split.py"


rule classification_tables:
    input:
        predictions=classification_predictions,
        participants=PARTICIPANTS,
    output:
        metrics=report(CLASS_METRICS, caption="../report/classification_metrics.rst", category="Evaluation",
                       subcategory="Classification"),
        table_tsv=report(f"{TABLES}/classification_table.tsv", caption="../report/classification_table.rst",
                         category="Evaluation", subcategory="Classification"),
        table_tex=f"{TABLES}/classification_table.tex",
        table_md=f"{TABLES}/classification_table.md",
        roc_png=report(f"{FIGURES}/classification_roc.png", caption="../report/classification_roc.rst",
                       category="Evaluation", subcategory="Classification"),
        roc_pdf=f"{FIGURES}/classification_roc.pdf",
        confusion_png=report(f"{FIGURES}/classification_confusion.png",
                             caption="../report/classification_confusion.rst", category="Evaluation",
                             subcategory="Classification"),
        confusion_pdf=f"{FIGURES}/classification_confusion.pdf",
    params:
        tasks=CLASS_TASKS,
        unit_participants=lambda wildcards: {u.prefix: u.participant_id for u in valid_units()},
        n_boot=config["evaluation"]["bootstrap"]["n"],
        seed=config["evaluation"]["bootstrap"]["seed"],
    log:
        f"{LOGS}/classification/tables.log",
    benchmark:
        f"{BENCH}/classification/tables.tsv"
    conda:
        f"{ENVS}/report.yaml"
    threads: 1
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    script:
        "../scripts/classification_tables.py"
