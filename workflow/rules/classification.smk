# Classification (spinetumor.classification): per split, the tumour-type classifier on measured lesion
# features and the DenseNet121 of Zhuo et al. (2022) on the lesion's crop; then every split's test
# predictions into the metric tables, the figures and the paired comparison of the classifiers.


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


rule train_classifier:
    input:
        files=zhuo2022_files,
        participants=PARTICIPANTS,
        splits=SPLITS_TSV,
    output:
        predictions=ZHUO_PREDICTIONS,
        crops=f"{ZHUO_DIR}/crops.tsv",
        log=f"{ZHUO_DIR}/training_log.tsv",
        checkpoint=f"{ZHUO_DIR}/model.pt",
    params:
        tasks=CLASS_TASKS,
        units=classification_units,
        settings=ZHUO2022,
        device=config["models"]["device"],
    log:
        f"{LOGS}/classification/split-{{split}}/zhuo2022.log",
    benchmark:
        f"{BENCH}/classification/split-{{split}}/zhuo2022.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    threads: config["threads"]["train"]
    resources:
        mem_mb=res("train", "mem_mb"),
        runtime=res("train", "runtime"),
        gpu=res("train", "gpu", 0),
    script:
        "../scripts/train_classifier.py"


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
        comparison=report(CLASS_COMPARISON, caption="../report/classification_comparison.rst",
                          category="Evaluation", subcategory="Classification"),
    params:
        tasks=CLASS_TASKS,
        unit_participants=lambda wildcards: {u.prefix: u.participant_id for u in valid_units()},
        models=CLASSIFIERS,
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
