# Config validation, the study's units, wildcard constraints and input functions.
# Rule files hold only rules; everything they compute from config lives here.

import copy
import sys
from pathlib import Path

from snakemake.logging import logger
from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

from spinetumor.data import bids as st_bids  # noqa: E402
from spinetumor.data import cordsource as st_cordsource  # noqa: E402
from spinetumor import derivatives as st_derivatives  # noqa: E402
from spinetumor.export import folder as st_export  # noqa: E402
from spinetumor import layout as st_layout  # noqa: E402
from spinetumor.models import definitions as st_models  # noqa: E402
from spinetumor import study as st_study  # noqa: E402


# The deep classifier's keys as the study gave them, before the schema fills in the paper's defaults:
# on the demo, its narrower DenseNet goes under them (common_classification.smk).
OWN_ZHUO2022 = copy.deepcopy((config.get("classification") or {}).get("zhuo2022") or {})
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
# The cord source is a cascade's cord stage: the chain of that stage.
CORD_SOURCE_CHAIN = st_models.stage_chain(CORD_SOURCE_MODEL, "cord") if CORD_SOURCE_MODEL else None
# Chains to run: the configured ones and those the models' stages are trained on.
CHAINS = list(
    dict.fromkeys(
        [
            *config["preprocessing"]["run"],
            *(st_models.stage_chain(m, stage) for m in MODELS.values() for stage in st_models.model_stages(m)),
            *([CORD_SOURCE_CHAIN] if CORD_SOURCE_MODEL else []),
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


def stage1_chain_steps(model):
    """The steps of a cascade's cord-stage chain when it has one of its own, else None."""
    if "cord" not in model["stages"] or st_models.stage_chain(model, "cord") == model["chain"]:
        return None
    return CHAIN_STEPS[st_models.stage_chain(model, "cord")]


def _check_inference():
    """Every model's inference and post-processing settings, checked at start with its chain (torch-free)."""
    from spinetumor.inference.settings import inference_settings

    models = {**MODELS, **({CORD_SOURCE_MODEL["name"]: CORD_SOURCE_MODEL} if CORD_SOURCE_MODEL else {})}
    for name, model in models.items():
        try:
            inference_settings(
                st_models.inference_config(model, CHAIN_STEPS[model["chain"]], stage1_chain_steps=stage1_chain_steps(model))
            )
        except (ValueError, TypeError) as exc:
            raise WorkflowError(f"model {name!r}: inference settings: {exc}")


_check_inference()


# Derivative folders that hold dseg maps (the others: registration, cordmask).
DSEG_FOLDERS = r"labels|(preprocessed|predictions|apply)/[A-Za-z0-9]+"


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
# The preprocessing rule's outputs: one per chain and file kind, named CHAIN_KIND (kind in lower case).
PREPROC_OUTPUTS = {
    f"{chain}_{kind.lower()}": st_layout.preprocessed_file(PREPROC.replace("{chain}", chain), kind)
    for chain in CHAINS
    for kind in st_layout.PREPROC_KINDS
}
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
# Its probabilities on the same grid, one channel per network output (the sidecar's `channels`).
PRED_PROBSEG = f"{PRED}_desc-{{model}}_probseg.nii.gz"
# Per model: the exported folder (every split's weights and the settings to run them).
EXPORT_DIR = f"{RESULTS}/export/{{model}}"
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
    return st_layout.preprocessed_dir(RESULTS, CORD_SOURCE_CHAIN)


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
        "apply": f"segmentations of every unit by the exported model {APPLY_MODEL}, on the native T2w grid",
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


def demo_root(path, levels):
    """The demo dataset's root, `levels` folders above one of its files."""
    return str(Path(path).parents[levels - 1])


def res(family, key, default=None):
    return config["resources"][family].get(key, default)
