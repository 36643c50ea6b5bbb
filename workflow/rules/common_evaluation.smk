# Input functions of the evaluation stage (evaluation.smk): which predictions, references and
# training records the tables and figures read. Functions only; included after common_models.smk.

TABLES = f"{RESULTS}/tables"
FIGURES = f"{RESULTS}/figures"
PER_CASE = f"{TABLES}/per_case_metrics.tsv"
PROVENANCE = f"{TABLES}/provenance.tsv"
CALIBRATION = f"{TABLES}/calibration.tsv"
CASCADES = [name for name, m in MODELS.items() if m["type"] == "cascade"]


def _comparison_pairs():
    """Model pairs to compare: `evaluation.compare`, or every pair of the run's models."""
    import itertools

    configured = config["evaluation"]["compare"]
    if not configured:
        return [list(pair) for pair in itertools.combinations(MODELS, 2)]
    for pair in configured:
        if len(pair) != 2 or pair[0] == pair[1] or not set(pair) <= set(MODELS):
            raise WorkflowError(f"evaluation.compare: {pair} must be two different models of models.run {list(MODELS)}")
    return [list(pair) for pair in configured]


COMPARISON_PAIRS = _comparison_pairs()


def test_predictions():
    """(model, split, unit) of every test prediction, in a stable order."""
    table = split_table()
    by_subject = {}
    for u in valid_units():
        by_subject.setdefault(u.participant_id, []).append(u)
    tests = table[table["role"] == "test"].sort_values(["split", "subject"])
    return [
        (name, int(row.split), u)
        for name in MODELS
        for row in tests.itertuples()
        for u in by_subject.get(row.subject, [])
    ]


def evaluation_cases(wildcards):
    """One case per test prediction: model, split, unit, predicted and reference dseg."""
    return [
        {
            "model": name,
            "split": split,
            "subject": u.prefix,
            "participant": u.participant_id,
            "pred": unit_path(PRED_DSEG, u, model=name, split=split),
            "truth": unit_path(LESION_DSEG, u),
        }
        for name, split, u in test_predictions()
    ]


def calibration_cases(wildcards):
    """`evaluation_cases` with each prediction's probabilities and sidecar (its channels)."""
    return [
        {
            **case,
            "probs": unit_path(PRED_PROBSEG, UNITS[case["subject"]], model=case["model"], split=case["split"]),
            "sidecar": unit_path(PRED_JSON, UNITS[case["subject"]], model=case["model"], split=case["split"]),
        }
        for case in evaluation_cases(wildcards)
    ]


def calibration_files(wildcards):
    return [case[k] for case in calibration_cases(wildcards) for k in ("probs", "sidecar", "truth")]


def evaluation_files(wildcards):
    return [path for case in evaluation_cases(wildcards) for path in (case["pred"], case["truth"])]


def cord_cases(wildcards):
    """One case per cascade test prediction: its stage-1 cord against the reference cord mask."""
    return [
        {
            "model": name,
            "split": split,
            "subject": u.prefix,
            "participant": u.participant_id,
            "pred_cord": unit_path(PRED_CORD, u, model=name, split=split),
            "ref_cord": unit_path(CORD_MASK, u),
            "sidecar": unit_path(PRED_JSON, u, model=name, split=split),
            "preproc_dseg": st_layout.preprocessed_file(unit_path(PREPROC, u, chain=MODELS[name]["chain"]), "dseg"),
        }
        for name, split, u in test_predictions()
        if name in CASCADES and u.prefix not in PREDICTED_CORDS  # no reference cord: nothing to score
    ]


def cord_files(wildcards):
    keys = ("pred_cord", "ref_cord", "sidecar", "preproc_dseg")
    return [case[k] for case in cord_cases(wildcards) for k in keys]


def model_images(wildcards):
    """split -> unit -> native images and maps of the model's test cases (for the overlays)."""
    images = {}
    for name, split, u in test_predictions():
        if name == wildcards.model:
            images.setdefault(str(split), {})[u.prefix] = {
                "t2w": u.t2w,
                "t1w": unit_path(REG_T1W, u),
                "truth": unit_path(LESION_DSEG, u),
                "pred": unit_path(PRED_DSEG, u, model=name, split=split),
            }
    return images


def model_image_files(wildcards):
    return [f for per_split in model_images(wildcards).values() for files in per_split.values() for f in files.values()]


def training_summaries(wildcards):
    """Curve name (``split-K STAGE``) -> the training summary of every stage and split of the model,
    which carries the run's curves (its `training_log.tsv` is resume state, not an output)."""
    return {
        f"split-{k} {stage}": MODEL_SUMMARY.format(model=wildcards.model, split=k, stage=stage)
        for k, stage in trained_runs(model_of(wildcards))
    }


def provenance_runs(wildcards):
    """Every trained run of every model (model, split, stage) with its `model.pt` and training summary."""
    return [
        {
            "model": name,
            "split": k,
            "stage": stage,
            "checkpoint": MODEL_PT.format(model=name, split=k, stage=stage),
            "summary": MODEL_SUMMARY.format(model=name, split=k, stage=stage),
        }
        for name, model in MODELS.items()
        for k, stage in trained_runs(model)
    ]


def tables_results_dir(wildcards, output):
    """The results folder of a job whose first output is `tables/NAME`, taken from that path (not from config)
    so that it names the folder the job's files are in."""
    return str(Path(output[0]).parents[1])


def provenance_checkpoints(wildcards):
    return [run["checkpoint"] for run in provenance_runs(wildcards)]


def provenance_summaries(wildcards):
    return [run["summary"] for run in provenance_runs(wildcards)]


def registration_qcs(wildcards):
    return {u.prefix: unit_path(REG_QC, u) for u in valid_units()}


def model_table_files(kind):
    return {ext: f"{TABLES}/{{model}}/{kind}.{ext}" for ext in ("tsv", "tex", "md")}


def evaluation_targets(wildcards):
    """Every table and figure of the study."""
    targets = [PER_CASE, PROVENANCE, CALIBRATION, f"{TABLES}/model_comparison.tsv", f"{FIGURES}/dice_per_label.png",
               f"{FIGURES}/registration_qc_mosaic.png"]
    for name in MODELS:
        targets += [f"{TABLES}/{name}/lemay_table3.tsv", f"{FIGURES}/{name}_overlays.png"]
    if CASCADES:
        targets.append(f"{TABLES}/cord_localisation.tsv")
    return targets
