# spinetumor: automatic segmentation of spinal cord tumours on MRI, as a reproducible study.
# Thin on purpose: config, stage files, target rules. See README.md.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/common_models.smk"
include: "workflow/rules/common_evaluation.smk"
include: "workflow/rules/common_apply.smk"
include: "workflow/rules/common_classification.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/validation.smk"
include: "workflow/rules/registration.smk"
include: "workflow/rules/cordmask.smk"
include: "workflow/rules/preprocessing.smk"
include: "workflow/rules/splits.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/inference.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/apply.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/classification.smk"
include: "workflow/rules/derivatives.smk"


localrules:
    all,
    preprocess,
    splits,
    predictions,
    evaluation,
    export,
    apply,
    derivative_description,
    dseg_lookup,


rule all:
    input:
        VALIDATION_TABLE,
        registration_targets,
        preprocess_targets,
        SPLITS_TSV,
        prediction_targets,
        export_targets,
        evaluation_targets,
        classification_targets,
        data_derivative_metadata,
        prediction_derivative_metadata,
    default_target: True


rule preprocess:
    input:
        preprocess_targets,
        REGISTRATION_TABLE,
        data_derivative_metadata,


rule splits:
    input:
        SPLITS_TSV,


rule predictions:
    input:
        prediction_targets,
        prediction_derivative_metadata,


rule export:
    input:
        export_targets,


rule apply:
    input:
        apply_targets,


rule evaluation:
    input:
        evaluation_targets,
        classification_targets,
