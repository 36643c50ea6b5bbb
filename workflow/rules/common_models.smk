# Input functions of the model stages (training.smk, inference.smk): which model, chain, split and
# units a job works on. Functions only (the rule files hold the rules); included by the Snakefile
# after common.smk.

def model_of(wildcards):
    """The resolved model of a job."""
    try:
        return MODELS[wildcards.model]
    except KeyError:
        raise WorkflowError(f"model {wildcards.model!r} is not in models.run ({list(MODELS)})")


def job_chain(wildcards):
    """The chain of the job's stage (training), else the model's (the lesion stage's)."""
    model = model_of(wildcards)
    return st_models.stage_chain(model, wildcards.stage) if hasattr(wildcards, "stage") else model["chain"]


def model_chain_steps(wildcards):
    return CHAIN_STEPS[job_chain(wildcards)]


def training_priority(wildcards):
    """Start a model's training stages by how many of its stages still follow them: a cascade's
    cord stage gates its lesion stage, so it starts before single-stage trainings, and a cascade
    does not end the study alone on one core (scheduling only; results do not change)."""
    stages = st_models.model_stages(model_of(wildcards))
    return len(stages) - stages.index(wildcards.stage)


def model_stage1_chain_steps(wildcards):
    """The steps of the model's cord-stage chain when it has one of its own, else None."""
    return stage1_chain_steps(model_of(wildcards))


def model_names(kinds):
    """Regex matching the names of the run's models of the given types (never matches if none)."""
    names = [name for name, m in MODELS.items() if m["type"] in kinds]
    return "|".join(names) if names else "(?!)"


def split_table():
    """The split table (the splits checkpoint; the DAG grows once it exists)."""
    import pandas as pd

    path = checkpoints.make_splits.get().output.splits
    return pd.read_csv(path, sep="\t", dtype={"subject": str, "split": int, "role": str})


def model_chain_dir(wildcards):
    """The folder of the preprocessed files of the job's chain (:func:`job_chain`)."""
    return st_layout.preprocessed_dir(RESULTS, job_chain(wildcards))


def model_cord_chain(wildcards):
    """[steps, folder] of a cascade's cord-stage chain of its own, for its lesion stage's crops; else None."""
    model = model_of(wildcards)
    if wildcards.stage != "lesion" or stage1_chain_steps(model) is None:
        return None
    return [stage1_chain_steps(model), cord_chain_dir(wildcards)]


def cord_chain_dir(wildcards):
    """The folder of the preprocessed files of the model's cord-stage chain."""
    return st_layout.preprocessed_dir(RESULTS, st_models.stage_chain(model_of(wildcards), "cord"))


def split_units(split, role):
    """Valid units of the subjects with `role` in `split`."""
    table = split_table()
    subjects = set(table.loc[(table["split"] == int(split)) & (table["role"] == role), "subject"])
    return [u for u in valid_units() if u.participant_id in subjects]


def training_units(wildcards):
    """Ids of the split's training and validation units ({"train": [...], "val": [...]}, never a test unit)."""
    units = {}
    for role in ("train", "val"):
        role_units = split_units(wildcards.split, role)
        if wildcards.stage == "cord":  # a predicted cord mask is not a target
            predicted = [u.prefix for u in role_units if u.prefix in PREDICTED_CORDS]
            role_units = [u for u in role_units if u.prefix not in PREDICTED_CORDS]
            if predicted and not role_units:
                raise WorkflowError(
                    f"split {wildcards.split}: every {role} unit ({', '.join(predicted)}) has a predicted cord mask "
                    f"(cord_mask source 'model'), so the cord stage of {wildcards.model} has no {role} unit; "
                    "give one of them a cord label (manual or centerline), or change splits.seed or splits.val_fraction"
                )
        units[role] = [u.prefix for u in role_units]
    return units


def training_inputs(wildcards):
    """The split table and the preprocessed files of the units of `training_units` (for the DAG;
    the job names each unit's files from its id), and a cascade's trained cord stage."""
    model = model_of(wildcards)
    if wildcards.stage not in st_models.model_stages(model):
        raise WorkflowError(f"model {wildcards.model} ({model['type']}) has no stage {wildcards.stage}")
    files = {"splits": SPLITS_TSV}
    for role, units in training_units(wildcards).items():
        files[role] = st_layout.unit_files(model_chain_dir(wildcards), units)
    if model["type"] == "cascade" and wildcards.stage == "lesion":
        files["cord_model"] = MODEL_PT.format(model=wildcards.model, split=wildcards.split, stage="cord")
        if stage1_chain_steps(model) is not None:  # stage 1 predicts the crops on its own grid
            for role, units in training_units(wildcards).items():
                files[f"cord_chain_{role}"] = st_layout.unit_files(cord_chain_dir(wildcards), units)
    return files


def trained_stages(wildcards):
    """The trained `model.pt` of each stage of the job's model and split."""
    model = model_of(wildcards)
    return {
        stage: MODEL_PT.format(model=wildcards.model, split=wildcards.split, stage=stage)
        for stage in st_models.model_stages(model)
    }


def prediction_targets(wildcards):
    """Every model's prediction of every test unit of every split (and each cascade's cord)."""
    targets = []
    for name, split, u in test_predictions():
        targets.append(unit_path(PRED_DSEG, u, model=name, split=split))
        if MODELS[name]["type"] == "cascade":
            targets.append(unit_path(PRED_CORD, u, model=name, split=split))
    return targets


def trained_runs(model):
    """(split, stage) of every trained run of a resolved model: each of its stages on every split."""
    splits = sorted(int(k) for k in set(split_table()["split"]))
    return [(k, stage) for k in splits for stage in st_models.model_stages(model)]


def export_runs(wildcards):
    """[split, stage, model.pt, training summary] of every split and stage of the job's model."""
    return [
        [k, stage, MODEL_PT.format(model=wildcards.model, split=k, stage=stage),
         MODEL_SUMMARY.format(model=wildcards.model, split=k, stage=stage)]
        for k, stage in trained_runs(model_of(wildcards))
    ]


def export_inputs(wildcards):
    return [path for run in export_runs(wildcards) for path in run[2:]]


def export_targets(wildcards):
    """Every model's exported folder."""
    return [EXPORT_DIR.format(model=name) for name in MODELS]
