# Input functions of the classification stage (classification.smk): each split's units with the files
# their classifiers read (a test unit's lesion from the segmentation model's prediction, never its
# labels), the deep classifier's settings, and the study's tables. Functions only; included by the
# Snakefile after common_evaluation.smk.

from spinetumor.classification import settings as st_classification  # noqa: E402

CLASS_TASKS = config["classification"]["tasks"]
CLASSIFIERS = config["classification"]["classifiers"]
CLASS_DIR = f"{RESULTS}/classification"
CLASS_FEATURES = f"{CLASS_DIR}/split-{{split}}/features.tsv"
CLASS_PREDICTIONS = f"{CLASS_DIR}/split-{{split}}/predictions.tsv"
ZHUO_DIR = f"{CLASS_DIR}/split-{{split}}/zhuo2022"
ZHUO_PREDICTIONS = f"{ZHUO_DIR}/predictions.tsv"
CLASS_METRICS = f"{TABLES}/classification_metrics.tsv"
CLASS_COMPARISON = f"{TABLES}/classification_comparison.tsv"


def _zhuo2022_settings():
    """classification.zhuo2022: the schema's (the paper's), under the demo's on the demo; checked at start."""
    settings, notes = st_study.classifier_settings(
        config["classification"]["zhuo2022"], OWN_ZHUO2022, is_demo=IS_DEMO
    )
    try:
        st_classification.zhuo2022_settings(settings)
    except ValueError as exc:
        raise WorkflowError(f"classification.zhuo2022: {exc}")
    if CLASS_TASKS and "zhuo2022" in CLASSIFIERS:
        for note in notes:
            logger.info(f"spinetumor: {note}")
    return settings


ZHUO2022 = _zhuo2022_settings()


def _segmentation_model():
    """The model whose test predictions give the test units' lesions (None: no model, no classification)."""
    name = config["classification"]["segmentation_model"]
    if name is None:
        return next((n for n, m in MODELS.items() if m["type"] == "cascade"), next(iter(MODELS), None))
    if name not in MODELS:
        raise WorkflowError(f"classification.segmentation_model: {name!r} is not in models.run ({list(MODELS)})")
    return name


CLASS_SEG_MODEL = _segmentation_model() if CLASS_TASKS else None


def classification_units(wildcards):
    """The split's units: role, where their features come from, and the files."""
    units, model = [], CLASS_SEG_MODEL
    for role in ("train", "val", "test"):
        for u in split_units(wildcards.split, role):
            files = {"T2w": u.t2w, "T1w": unit_path(REG_T1W, u), "dseg": unit_path(LESION_DSEG, u),
                     "cord": unit_path(CORD_MASK, u)}
            if role == "test":
                files["dseg"] = unit_path(PRED_DSEG, u, model=model, split=wildcards.split)
                if MODELS[model]["type"] == "cascade":  # its own stage-1 cord, not the study's label
                    files["cord"] = unit_path(PRED_CORD, u, model=model, split=wildcards.split)
            source = model if role == "test" else "reference"
            units.append({"unit": u.prefix, "participant": u.participant_id, "role": role, "source": source, **files})
    return units


def classification_files(wildcards):
    return [u[k] for u in classification_units(wildcards) for k in ("T2w", "T1w", "dseg", "cord")]


def zhuo2022_files(wildcards):
    """The files the deep classifier reads: its contrasts, the label map and the cord mask of every unit."""
    keys = ("dseg", "cord", *ZHUO2022["contrasts"])
    return [u[k] for u in classification_units(wildcards) for k in keys]


def classification_predictions(wildcards):
    """Every split's test predictions of every classifier of `classification.classifiers`."""
    files = {"features": CLASS_PREDICTIONS, "zhuo2022": ZHUO_PREDICTIONS}
    splits = sorted(set(split_table()["split"]))
    return [files[c].format(split=k) for c in CLASSIFIERS for k in splits]


def classification_targets(wildcards):
    """The classification tables and figures (none without tasks, models or classifiers)."""
    if not CLASS_SEG_MODEL or not CLASSIFIERS:
        return []
    return [CLASS_METRICS, CLASS_COMPARISON, f"{TABLES}/classification_table.tsv", f"{FIGURES}/classification_roc.png"]
