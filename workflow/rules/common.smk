# Config validation, the study's units, wildcard constraints and input functions.
# Rule files hold only rules; everything they compute from config lives here.

import sys
from pathlib import Path

from snakemake.logging import logger
from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

from spinetumor.data import bids as st_bids  # noqa: E402
from spinetumor.data import cordsource as st_cordsource  # noqa: E402
from spinetumor import derivatives as st_derivatives  # noqa: E402
from spinetumor import layout as st_layout  # noqa: E402
from spinetumor.models import definitions as st_models  # noqa: E402
from spinetumor import study as st_study  # noqa: E402


validate(config, schema=str(Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"))

RESULTS = config["results_dir"].rstrip("/")
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
ENVS = str(Path(workflow.basedir) / "envs")
IS_DEMO = config["bids_dir"] == "demo"
# The embedded demo dataset is written here, under the results, never under a user's bids_dir.
DEMO_BIDS = f"{RESULTS}/demo/bids"
BIDS_DIR = DEMO_BIDS if IS_DEMO else config["bids_dir"].rstrip("/")
PARTICIPANTS = config["participants_tsv"] or f"{BIDS_DIR}/participants.tsv"
if not IS_DEMO:
    try:  # a user's raw dataset is read-only: no output may land inside it
        st_study.check_read_only(BIDS_DIR, RESULTS)
    except ValueError as exc:
        raise WorkflowError(str(exc))

# The models and chains of this study: the demo's CPU-sized entries only on the demo (or where named).
STUDY = st_study.study_models(config["models"], config["preprocessing"], is_demo=IS_DEMO)
for _note in STUDY.notes:
    logger.info(f"spinetumor: {_note}")


def _resolve_models():
    """The models of `models.run`, resolved over their presets and checked once, at start: keys, stages,
    each stage's network spec and training settings, and patches that suit the network."""
    resolved = {}
    for name in dict.fromkeys(STUDY.run):
        try:
            resolved[name] = st_models.resolve_model(name, STUDY.definitions)
        except ValueError as exc:
            raise WorkflowError("; ".join([str(exc), *([STUDY.hints[name]] if name in STUDY.hints else [])]))
    return resolved


MODELS = _resolve_models()


def _cord_source_model():
    """The cascade whose cord stage is the cord source `model`, or None when `model` is not listed."""
    priority = config["cord_mask"]["priority"]
    if "model" not in priority:
        return None
    if priority[-1] != "model" or len(priority) < 2:
        raise WorkflowError(
            f"cord_mask.priority {priority}: 'model' must come last, after manual and/or centerline: "
            "the cord-source model learns from the units whose cord mask is a label"
        )
    name = config["cord_mask"]["model"]
    if name is None:
        name = next((n for n, m in MODELS.items() if m["type"] == "cascade"), None)
        if name is None:
            raise WorkflowError("cord_mask.priority lists 'model', but models.run has no cascade; "
                                "name one in cord_mask.model")
    try:
        model = MODELS.get(name) or st_models.resolve_model(name, STUDY.definitions)
    except ValueError as exc:
        raise WorkflowError(f"cord_mask.model: {exc}")
    if model["type"] != "cascade":
        raise WorkflowError(f"cord_mask.model: {name!r} is a {model['type']}, not a cascade (it has no cord stage)")
    return model


CORD_SOURCE_MODEL = _cord_source_model()
# Chains to run: the configured ones and those the models are trained on.
CHAINS = list(
    dict.fromkeys(
        [
            *config["preprocessing"]["run"],
            *(m["chain"] for m in MODELS.values()),
            *([CORD_SOURCE_MODEL["chain"]] if CORD_SOURCE_MODEL else []),
        ]
    )
)


def _chain_steps(name):
    """A chain's steps: the config's own under `chains`, else a shipped preset."""
    from spinetumor.preprocessing.chains import preset, validate_chain

    custom = STUDY.chains
    try:
        steps = custom[name]["steps"] if name in custom else preset(name)["steps"]
        validate_chain(steps)
    except ValueError as exc:
        raise WorkflowError(f"preprocessing chain {name!r}: {exc}")
    return steps


CHAIN_STEPS = {name: _chain_steps(name) for name in CHAINS}


def _check_inference():
    """Every model's inference and post-processing settings, checked at start with its chain (torch-free)."""
    from spinetumor.inference.settings import inference_settings

    models = {**MODELS, **({CORD_SOURCE_MODEL["name"]: CORD_SOURCE_MODEL} if CORD_SOURCE_MODEL else {})}
    for name, model in models.items():
        try:
            inference_settings(st_models.inference_config(model, CHAIN_STEPS[model["chain"]]))
        except (ValueError, TypeError) as exc:
            raise WorkflowError(f"model {name!r}: inference settings: {exc}")


_check_inference()


# Derivative folders that hold dseg maps (the others: registration, cordmask).
DSEG_FOLDERS = r"labels|(preprocessed|predictions)/[A-Za-z0-9]+"


wildcard_constraints:
    subpath=r"sub-[A-Za-z0-9]+(/ses-[A-Za-z0-9]+)?",
    prefix=r"sub-[A-Za-z0-9]+(_ses-[A-Za-z0-9]+)?",
    chain=r"[A-Za-z0-9]+",
    model=r"[A-Za-z0-9]+",
    split=r"[0-9]+",
    stage=r"cord|lesion",
    demo_id=r"[0-9]{3}",
    derivative=rf"registration|cordmask|{DSEG_FOLDERS}",


BIDS_SELECTION = {k: config["bids"][k] for k in ("include_subjects", "exclude_subjects", "sessions")}


def _load_units():
    """Index the dataset once per workflow start (the demo's units come from config)."""
    if IS_DEMO:
        from spinetumor.demo.params import subject_id

        ids = [subject_id(i) for i in range(1, config["demo"]["n_subjects"] + 1)]
        return st_bids.demo_units(BIDS_DIR, ids)
    contrasts = {"T2w": config["bids"]["T2w"], "T1w": config["bids"]["T1w"]}
    # null: the tumour-type column of the evaluation declares healthy subjects too
    healthy = config["labels"]["lesions"]["healthy"]
    healthy_column = healthy["column"] or config["evaluation"]["pathology_column"]
    return st_bids.discover_units(BIDS_DIR, contrasts, config["labels"], **BIDS_SELECTION,
                                  participants_tsv=PARTICIPANTS, healthy_column=healthy_column)


UNITS = {unit.prefix: unit for unit in _load_units()}
# sub-*/ses-* folders that are not BIDS labels: no unit, listed in excluded_subjects.tsv with `skip`.
INVALID_FOLDERS = [] if IS_DEMO else st_bids.invalid_folders(BIDS_DIR, **BIDS_SELECTION)
if config["on_invalid_input"] == "error":
    _indexing_problems = [f"{p}: {msg}" for p, u in UNITS.items() for msg in u.problems]
    _indexing_problems += [f"{row['file']}: {row['reason']}" for row in INVALID_FOLDERS]
    if _indexing_problems:
        raise WorkflowError("invalid input (on_invalid_input: error):\n" + "\n".join(_indexing_problems))
if not UNITS:
    raise WorkflowError(f"bids_dir {BIDS_DIR}: no subject with a T2w image matches the configured entities")


def unit(wildcards):
    """The unit of a job, checking that its folder and prefix agree."""
    found = UNITS.get(wildcards.prefix)
    if found is None or found.subpath != wildcards.subpath:
        raise WorkflowError(f"{wildcards.subpath}/{wildcards.prefix}: not a unit of this study")
    return found


def unit_path(pattern, u, **extra):
    """Fill a per-unit output pattern for one unit (and other wildcards in `extra`)."""
    return pattern.format(subpath=u.subpath, prefix=u.prefix, **extra)


# Per-unit outputs; the patterns are shared by the rules and the targets.
VALIDATION_REPORT = f"{RESULTS}/validation/{{subpath}}/anat/{{prefix}}_desc-validation.json"
VALIDATION_TABLE = f"{RESULTS}/validation/validation.tsv"
EXCLUDED_TABLE = f"{RESULTS}/excluded_subjects.tsv"
LESION_DSEG = f"{RESULTS}/labels/{{subpath}}/anat/{{prefix}}_space-T2w_dseg.nii.gz"
REG_T1W = f"{RESULTS}/registration/{{subpath}}/anat/{{prefix}}_space-T2w_T1w.nii.gz"
REG_XFM = f"{RESULTS}/registration/{{subpath}}/anat/{{prefix}}_from-T1w_to-T2w_mode-image_xfm.tfm"
REG_QC = f"{RESULTS}/registration/{{subpath}}/figures/{{prefix}}_desc-registration_qc.png"
REG_JSON = f"{RESULTS}/registration/{{subpath}}/anat/{{prefix}}_space-T2w_T1w.json"
REGISTRATION_TABLE = f"{RESULTS}/tables/registration.tsv"
CORD_MASK = f"{RESULTS}/cordmask/{{subpath}}/anat/{{prefix}}_space-T2w_label-SC_mask.nii.gz"
CORD_JSON = f"{RESULTS}/cordmask/{{subpath}}/anat/{{prefix}}_space-T2w_label-SC_mask.json"
PREPROC = f"{st_layout.preprocessed_dir(RESULTS, '{chain}')}/{st_layout.UNIT_PREPROC}"
# The preprocessing rule's outputs: one per file kind, named by the kind in lower case.
PREPROC_OUTPUTS = {kind.lower(): st_layout.preprocessed_file(PREPROC, kind) for kind in st_layout.PREPROC_KINDS}
SPLITS_TSV = f"{RESULTS}/splits/splits.tsv"
# Per model, split and stage: the run folder (checkpoints, training log) and its final outputs.
MODEL_DIR = st_layout.model_run_dir(RESULTS, "{model}", "{split}", "{stage}")
MODEL_PT = f"{MODEL_DIR}/{st_layout.MODEL_FILE}"
MODEL_SUMMARY = f"{MODEL_DIR}/{st_layout.TRAINING_SUMMARY}"
# The cord source `model`: its cord stage (trained outside the splits) and its per-unit masks.
CORD_SOURCE_DIR = st_layout.cord_source_run_dir(RESULTS, "{model}")
CORD_SOURCE_PT = f"{CORD_SOURCE_DIR}/{st_layout.MODEL_FILE}"
CORD_SOURCE_SUMMARY = f"{CORD_SOURCE_DIR}/{st_layout.TRAINING_SUMMARY}"
CORD_PREDICTED = f"{RESULTS}/cordmask/{{subpath}}/anat/{{prefix}}_space-T2w_label-SC_desc-{{model}}_mask.nii.gz"
CORD_PREDICTED_JSON = f"{RESULTS}/cordmask/{{subpath}}/anat/{{prefix}}_space-T2w_label-SC_desc-{{model}}_mask.json"
# Per model, split and test unit: the prediction on the native T2w grid.
PRED = f"{RESULTS}/predictions/{{model}}/split-{{split}}/{{subpath}}/anat/{{prefix}}_space-T2w"
PRED_DSEG = f"{PRED}_desc-{{model}}_dseg.nii.gz"
PRED_JSON = f"{PRED}_desc-{{model}}_dseg.json"
PRED_CORD = f"{PRED}_label-SC_desc-{{model}}_mask.nii.gz"
# Per derivative folder (registration, cordmask, labels, preprocessed/CHAIN, predictions/MODEL).
DERIVATIVE_DESCRIPTION = f"{RESULTS}/{{derivative}}/dataset_description.json"
DERIVATIVE_DSEG_TSV = f"{RESULTS}/{{derivative}}/dseg.tsv"
CODE_VERSION = st_derivatives.code_version(workflow.basedir)


def raw_inputs(wildcards):
    """The raw files a unit's validation reads (only those that exist or a rule makes)."""
    u = unit(wildcards)
    files = {"t2w": u.t2w, "t1w": u.t1w, **{f"label_{k}": v for k, v in u.labels.items()}}
    return {k: v for k, v in files.items() if v}


def validated(wildcards):
    """The unit's validation report: every per-unit step waits for it."""
    return unit_path(VALIDATION_REPORT, unit(wildcards))


def t2w_of(wildcards):
    return unit(wildcards).t2w


def t1w_of(wildcards):
    return unit(wildcards).t1w


def lesion_label_files(wildcards):
    """Lesion label files of a unit (none only for a unit declared healthy: see `Unit.healthy`)."""
    labels = unit(wildcards).labels
    return {k: v for k, v in labels.items() if k in st_bids.LESION_LABEL_KINDS}


def cord_source(wildcards):
    """(source, file) of the unit's cord mask, by the configured priority."""
    u = unit(wildcards)
    try:
        source, path = st_cordsource.choose_source(config["cord_mask"]["priority"], u.labels)
    except ValueError as exc:
        raise WorkflowError(f"{wildcards.prefix}: {exc}")
    if source == "model":
        path = unit_path(CORD_PREDICTED, u, model=CORD_SOURCE_MODEL["name"])
    return source, path


def cord_from_model(u):
    """Whether the unit's cord mask is predicted (source `model`) rather than a label."""
    if CORD_SOURCE_MODEL is None:
        return False
    try:
        return st_cordsource.choose_source(config["cord_mask"]["priority"], u.labels)[0] == "model"
    except ValueError:
        return False


# Units whose cord mask is a prediction: never a cord stage's target (see train_model).
PREDICTED_CORDS = sorted(p for p, u in UNITS.items() if cord_from_model(u))
# A unit without a cord label is still valid when the model can supply its cord.
REQUIRE_CORD_LABEL = config["cord_mask"]["required"] and CORD_SOURCE_MODEL is None


def cord_source_units(wildcards):
    """Ids of every valid unit whose cord mask is a label (the cord-source model's data)."""
    return [u.prefix for u in valid_units() if not cord_from_model(u)]


def cord_source_chain_dir(wildcards):
    """The folder of the cord-source model's preprocessed files."""
    return st_layout.preprocessed_dir(RESULTS, CORD_SOURCE_MODEL["chain"])


def cord_source_training_inputs(wildcards):
    """The preprocessed files the cord-source model reads (for the DAG; the job names them from the ids)."""
    return {"units": st_layout.unit_files(cord_source_chain_dir(wildcards), cord_source_units(wildcards))}


def valid_units():
    """Units that passed validation.

    With `on_invalid_input: error` an invalid unit stops the study, so every
    unit is valid and the whole DAG is known up front; with `skip` the list
    comes from the validation checkpoint.
    """
    if config["on_invalid_input"] == "error":
        return list(UNITS.values())
    from spinetumor.data.validation import valid_prefixes

    table = checkpoints.summarize_validation.get().output.table
    return [UNITS[p] for p in valid_prefixes(table)]


def preprocess_targets(wildcards):
    return [
        st_layout.preprocessed_file(unit_path(PREPROC, u, chain=chain), kind)
        for u in valid_units()
        for chain in CHAINS
        for kind in st_layout.PREPROC_KINDS
    ]


def derivative_purpose(folder):
    """What a derivative folder holds, for its dataset_description.json."""
    stage, _, name = folder.partition("/")
    purposes = {
        "registration": "T1w registered onto the native T2w grid (SimpleITK), with its transform and QC figure",
        "cordmask": "spinal cord masks on the native T2w grid, with their source",
        "labels": "lesion label maps (dseg.tsv) on the native T2w grid, from the manual labels",
        "preprocessed": f"volumes, labels and cord masks after the preprocessing chain {name}",
        "predictions": f"predictions of model {name} for the test units of each split, on the native T2w grid",
    }
    return purposes[stage]


def derivative_metadata(folders):
    """dataset_description.json of each folder, and dseg.tsv where it holds dseg maps."""
    import re

    files = [DERIVATIVE_DESCRIPTION.format(derivative=f) for f in folders]
    files += [DERIVATIVE_DSEG_TSV.format(derivative=f) for f in folders if re.fullmatch(DSEG_FOLDERS, f)]
    return files


def data_derivative_metadata(wildcards):
    """Metadata of the data stages' folders (registration, cord masks, labels, each chain)."""
    return derivative_metadata(["registration", "cordmask", "labels", *(f"preprocessed/{c}" for c in CHAINS)])


def prediction_derivative_metadata(wildcards):
    return derivative_metadata([f"predictions/{m}" for m in MODELS])


def registration_targets(wildcards):
    """Every unit's registered T1w and QC figure, and the table that flags failed registrations."""
    return [unit_path(p, u) for u in valid_units() for p in (REG_T1W, REG_QC)] + [REGISTRATION_TABLE]


def chain_steps(wildcards):
    """The steps of a preprocessing chain (checked once, at start: CHAIN_STEPS)."""
    return CHAIN_STEPS[wildcards.chain]


def demo_root(path, levels):
    """The demo dataset's root, `levels` folders above one of its files."""
    return str(Path(path).parents[levels - 1])


def res(family, key, default=None):
    return config["resources"][family].get(key, default)


# --------------------------------------------------------------------------- models


def model_of(wildcards):
    """The resolved model of a job."""
    try:
        return MODELS[wildcards.model]
    except KeyError:
        raise WorkflowError(f"model {wildcards.model!r} is not in models.run ({list(MODELS)})")


def model_chain_steps(wildcards):
    return CHAIN_STEPS[model_of(wildcards)["chain"]]


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
    """The folder of the preprocessed files of the job's model's chain."""
    return st_layout.preprocessed_dir(RESULTS, model_of(wildcards)["chain"])


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


# --------------------------------------------------------------------------- evaluation

TABLES = f"{RESULTS}/tables"
FIGURES = f"{RESULTS}/figures"
PER_CASE = f"{TABLES}/per_case_metrics.tsv"
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


def training_logs(wildcards):
    """Curve name -> training log of every stage and split of the model (written beside `model.pt`)."""
    model = model_of(wildcards)
    splits = sorted(set(split_table()["split"]))
    return {
        f"split-{k} {stage}": str(Path(MODEL_DIR.format(model=wildcards.model, split=k, stage=stage)) / st_layout.TRAINING_LOG)
        for k in splits
        for stage in st_models.model_stages(model)
    }


def training_summaries(wildcards):
    return [str(Path(log).parent / st_layout.TRAINING_SUMMARY) for log in training_logs(wildcards).values()]


def registration_qcs(wildcards):
    return {u.prefix: unit_path(REG_QC, u) for u in valid_units()}


def model_table_files(kind):
    return {ext: f"{TABLES}/{{model}}/{kind}.{ext}" for ext in ("tsv", "tex", "md")}


def evaluation_targets(wildcards):
    """Every table and figure of the study."""
    targets = [PER_CASE, f"{TABLES}/model_comparison.tsv", f"{FIGURES}/dice_per_label.png",
               f"{FIGURES}/registration_qc_mosaic.png"]
    for name in MODELS:
        targets += [f"{TABLES}/{name}/lemay_table3.tsv", f"{FIGURES}/{name}_overlays.png"]
    if CASCADES:
        targets.append(f"{TABLES}/cord_localisation.tsv")
    return targets
