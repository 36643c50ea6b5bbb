# Input functions of the classification stage (classification.smk): each split's units with the files
# their lesion features come from (a test unit's from the segmentation model's prediction, never its
# labels), and the study's tables. Functions only; included by the Snakefile after common_evaluation.smk.

CLASS_TASKS = config["classification"]["tasks"]
CLASS_DIR = f"{RESULTS}/classification"
CLASS_FEATURES = f"{CLASS_DIR}/split-{{split}}/features.tsv"
CLASS_PREDICTIONS = f"{CLASS_DIR}/split-{{split}}/predictions.tsv"
CLASS_METRICS = f"{TABLES}/classification_metrics.tsv"


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


def classification_predictions(wildcards):
    return [CLASS_PREDICTIONS.format(split=k) for k in sorted(set(split_table()["split"]))]


def classification_targets(wildcards):
    """The classification tables and figures (none without tasks or models)."""
    if not CLASS_SEG_MODEL:
        return []
    return [CLASS_METRICS, f"{TABLES}/classification_table.tsv", f"{FIGURES}/classification_roc.png"]
