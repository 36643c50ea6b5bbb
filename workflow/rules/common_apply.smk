# Input functions of the apply stage (apply.smk): the exported model folder `apply_model`, read and
# checked once at start (its name names the outputs, its outputs the probsegs), and each unit's files.
# Functions only; included by the Snakefile after common.smk.

APPLY_MODEL = config["apply_model"]
try:
    APPLY = st_export.describe_folder(APPLY_MODEL) if APPLY_MODEL else None
except ValueError as exc:
    raise WorkflowError(f"apply_model: {exc}")
# `applied` is the model's desc label; without `apply_model` it matches nothing, so the rule never runs.
APPLIED = APPLY["desc"] if APPLY else "(?!)"
APPLY_BASE = f"{RESULTS}/apply/{{applied}}/{{subpath}}/anat/{{prefix}}_space-T2w_desc-{{applied}}"


def apply_outputs():
    """The outputs of one unit, as `spinetumor predict` names them."""
    files = {"dseg": f"{APPLY_BASE}_dseg.nii.gz", "sidecar": f"{APPLY_BASE}_dseg.json",
             "uncertainty": f"{APPLY_BASE}_uncertainty.nii.gz"}
    files.update({f"probseg_{c}": f"{APPLY_BASE}_label-{c}_probseg.nii.gz" for c in (APPLY or {}).get("outputs", [])})
    if APPLY and APPLY["cascade"]:
        files["cord"] = f"{APPLY_BASE}_label-SC_mask.nii.gz"
    return files


def apply_inputs(wildcards):
    """The unit's raw T2w (and T1w, when the model takes it) and the model folder's manifest."""
    u = unit(wildcards)
    files = {"t2w": u.t2w, "manifest": f"{APPLY_MODEL}/manifest.json"}
    if "T1w" in APPLY["contrasts"]:
        if not u.t1w:
            raise WorkflowError(f"{u.prefix}: the model {APPLY_MODEL} needs a T1w image; the unit has none")
        files["t1w"] = u.t1w
    return files


def apply_targets(wildcards):
    """Every valid unit's segmentation and the folder's derivative metadata."""
    if not APPLY:
        raise WorkflowError("the target `apply` needs `apply_model`: an exported model folder "
                            "(e.g. --config apply_model=results/export/cascade)")
    targets = [unit_path(f"{APPLY_BASE}_dseg.nii.gz", u, applied=APPLIED) for u in valid_units()]
    return targets + derivative_metadata([f"apply/{APPLIED}"])
