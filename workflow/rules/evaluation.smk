# Metrics of every test prediction, the papers' tables, the comparisons, the provenance of every
# trained run, the figures, all collected by `snakemake --report`.


rule per_case_metrics:
    input:
        files=evaluation_files,
        participants=PARTICIPANTS,
        splits=SPLITS_TSV,
    output:
        table=report(PER_CASE, caption="../report/per_case_metrics.rst", category="Evaluation", subcategory="Tables"),
    params:
        cases=evaluation_cases,
        pathology=config["evaluation"]["pathology_column"],
        min_overlap_mm3=config["evaluation"]["min_overlap_mm3"],
    log:
        f"{LOGS}/evaluation/per_case_metrics.log",
    benchmark:
        f"{BENCH}/evaluation/per_case_metrics.tsv"
    conda:
        f"{ENVS}/report.yaml"
    threads: 1
    resources:
        mem_mb=res("evaluation", "mem_mb"),
        runtime=res("evaluation", "runtime"),
    script:
        "../scripts/per_case_metrics.py"


rule model_tables:
    input:
        per_case=PER_CASE,
    output:
        **{
            f"lemay_{ext}": report(path, caption="../report/lemay_table.rst", category="Evaluation",
                                   subcategory="{model}")
            for ext, path in model_table_files("lemay_table3").items()
        },
        **{
            f"stanford_{ext}": report(path, caption="../report/stanford_table.rst", category="Evaluation",
                                      subcategory="{model}")
            for ext, path in model_table_files("stanford_table").items()
        },
    params:
        stanford_label=config["evaluation"]["stanford_label"],
    log:
        f"{LOGS}/evaluation/{{model}}_tables.log",
    benchmark:
        f"{BENCH}/evaluation/{{model}}_tables.tsv"
    conda:
        f"{ENVS}/report.yaml"
    threads: 1
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    script:
        "../scripts/model_tables.py"


rule compare_models:
    input:
        per_case=PER_CASE,
    output:
        tsv=report(f"{TABLES}/model_comparison.tsv", caption="../report/model_comparison.rst",
                   category="Evaluation", subcategory="Tables"),
        md=f"{TABLES}/model_comparison.md",
    params:
        pairs=COMPARISON_PAIRS,
        bootstrap=config["evaluation"]["bootstrap"],
        predicted={name: list(st_models.predicted_labels(model)) for name, model in MODELS.items()},
    log:
        f"{LOGS}/evaluation/model_comparison.log",
    benchmark:
        f"{BENCH}/evaluation/model_comparison.tsv"
    conda:
        f"{ENVS}/report.yaml"
    threads: 1
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    script:
        "../scripts/compare_models.py"


rule cord_localisation:
    input:
        files=cord_files,
        participants=PARTICIPANTS,
    output:
        table=report(f"{TABLES}/cord_localisation.tsv", caption="../report/cord_localisation.rst",
                     category="Evaluation", subcategory="Tables"),
        summary=report(f"{TABLES}/cord_localisation_summary.tsv", caption="../report/cord_localisation.rst",
                       category="Evaluation", subcategory="Tables"),
    params:
        cases=cord_cases,
        pathology=config["evaluation"]["pathology_column"],
    log:
        f"{LOGS}/evaluation/cord_localisation.log",
    benchmark:
        f"{BENCH}/evaluation/cord_localisation.tsv"
    conda:
        f"{ENVS}/report.yaml"
    threads: 1
    resources:
        mem_mb=res("evaluation", "mem_mb"),
        runtime=res("evaluation", "runtime"),
    script:
        "../scripts/cord_localisation.py"


rule provenance_table:
    input:
        checkpoints=provenance_checkpoints,
        summaries=provenance_summaries,
    output:
        table=report(PROVENANCE, caption="../report/provenance.rst", category="Evaluation", subcategory="Tables"),
    params:
        runs=provenance_runs,
        results_dir=tables_results_dir,
    log:
        f"{LOGS}/evaluation/provenance.log",
    benchmark:
        f"{BENCH}/evaluation/provenance.tsv"
    conda:
        f"{ENVS}/report.yaml"
    threads: 1
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    script:
        "../scripts/provenance_table.py"


rule calibration:
    input:
        files=calibration_files,
    output:
        table=report(CALIBRATION, caption="../report/calibration.rst", category="Evaluation", subcategory="Tables"),
        bins=f"{TABLES}/calibration_bins.tsv",
        png=report(f"{FIGURES}/reliability.png", caption="../report/reliability.rst",
                   category="Evaluation", subcategory="Figures"),
        pdf=f"{FIGURES}/reliability.pdf",
    params:
        cases=calibration_cases,
    log:
        f"{LOGS}/evaluation/calibration.log",
    benchmark:
        f"{BENCH}/evaluation/calibration.tsv"
    conda:
        f"{ENVS}/report.yaml"
    threads: 1
    resources:
        mem_mb=res("evaluation", "mem_mb"),
        runtime=res("evaluation", "runtime"),
    script:
        "../scripts/calibration.py"


rule summary_figures:
    input:
        per_case=PER_CASE,
    output:
        dice_png=report(f"{FIGURES}/dice_per_label.png", caption="../report/dice_figure.rst",
                        category="Evaluation", subcategory="Figures"),
        dice_pdf=f"{FIGURES}/dice_per_label.pdf",
        detection_png=report(f"{FIGURES}/detection_rates.png", caption="../report/detection_figure.rst",
                             category="Evaluation", subcategory="Figures"),
        detection_pdf=f"{FIGURES}/detection_rates.pdf",
        volume_png=report(f"{FIGURES}/volume_agreement.png", caption="../report/volume_figure.rst",
                          category="Evaluation", subcategory="Figures"),
        volume_pdf=f"{FIGURES}/volume_agreement.pdf",
    log:
        f"{LOGS}/evaluation/summary_figures.log",
    benchmark:
        f"{BENCH}/evaluation/summary_figures.tsv"
    conda:
        f"{ENVS}/report.yaml"
    threads: 1
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    script:
        "../scripts/summary_figures.py"


rule model_figures:
    input:
        per_case=PER_CASE,
        images=model_image_files,
        summaries=lambda wildcards: list(training_summaries(wildcards).values()),
    output:
        overlay_png=report(f"{FIGURES}/{{model}}_overlays.png", caption="../report/overlays.rst",
                           category="Models", subcategory="{model}"),
        overlay_pdf=f"{FIGURES}/{{model}}_overlays.pdf",
        curves_png=report(f"{FIGURES}/{{model}}_training_curves.png", caption="../report/training_curves.rst",
                          category="Models", subcategory="{model}"),
        curves_pdf=f"{FIGURES}/{{model}}_training_curves.pdf",
    params:
        images=model_images,
        curve_names=lambda wildcards: list(training_summaries(wildcards)),
    log:
        f"{LOGS}/evaluation/{{model}}_figures.log",
    benchmark:
        f"{BENCH}/evaluation/{{model}}_figures.tsv"
    conda:
        f"{ENVS}/report.yaml"
    threads: 1
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    script:
        "../scripts/model_figures.py"


rule registration_mosaic:
    input:
        qc=lambda wildcards: list(registration_qcs(wildcards).values()),
        table=REGISTRATION_TABLE,  # failures flagged there too
    output:
        png=report(f"{FIGURES}/registration_qc_mosaic.png", caption="../report/registration_qc.rst",
                   category="Registration"),
        pdf=f"{FIGURES}/registration_qc_mosaic.pdf",
    params:
        qc=registration_qcs,
    log:
        f"{LOGS}/evaluation/registration_qc_mosaic.log",
    benchmark:
        f"{BENCH}/evaluation/registration_qc_mosaic.tsv"
    conda:
        f"{ENVS}/report.yaml"
    threads: 1
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    script:
        "../scripts/registration_mosaic.py"
