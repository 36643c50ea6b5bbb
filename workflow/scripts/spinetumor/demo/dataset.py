"""Contents of the demo dataset's BIDS files: paths, sidecars, participants, descriptions, README.

Pure functions of the subject parameters; :mod:`spinetumor.demo.jobs` writes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spinetumor import LABELS, __version__
from spinetumor.demo.params import PATHOLOGIES, SequenceParameters, SubjectParameters, subject_id
from spinetumor.demo.sampling import subject_parameters

__all__ = [
    "DSEG_LABELS",
    "PARTICIPANTS_JSON",
    "subject_paths",
    "sidecar",
    "dataset_description",
    "labels_description",
    "participants_tsv",
    "readme",
    "dseg_tsv",
]

#: Label values of the ``dseg`` map and their names (the project's lesion classes).
DSEG_LABELS: dict[int, str] = {value: name for name, value in LABELS.items()}


def subject_paths(bids_dir: str | Path, index: int) -> dict[str, Path]:
    """Paths of every file of subject ``index``.

    Args:
        bids_dir: Dataset root.
        index: 1-based subject index.

    Returns:
        Keys ``t2w``, ``t2w_json``, ``t1w``, ``t1w_json``, ``dseg``, ``cord``, ``centerline``.
    """
    sub = f"sub-{subject_id(index)}"
    anat = Path(bids_dir) / sub / "anat"
    labels = Path(bids_dir) / "derivatives" / "labels" / sub / "anat"
    return {
        "t2w": anat / f"{sub}_T2w.nii.gz",
        "t2w_json": anat / f"{sub}_T2w.json",
        "t1w": anat / f"{sub}_ce-gadolinium_T1w.nii.gz",
        "t1w_json": anat / f"{sub}_ce-gadolinium_T1w.json",
        "dseg": labels / f"{sub}_T2w_dseg.nii.gz",
        "cord": labels / f"{sub}_T2w_seg-manual.nii.gz",
        "centerline": labels / f"{sub}_T2w_centerline-manual.nii.gz",
    }


def sidecar(params: SubjectParameters, seq: SequenceParameters, contrast: str) -> dict[str, Any]:
    """BIDS sidecar of one image (``contrast`` is ``"T2w"`` or ``"T1w"``; the T1w one records the misalignment)."""
    out: dict[str, Any] = {
        "Modality": "MR",
        "Manufacturer": params.manufacturer,
        "ManufacturersModelName": params.model,
        "MagneticFieldStrength": params.field_strength_t,
        "BodyPartExamined": "SPINE",
        "MRAcquisitionType": "2D",
        "ScanningSequence": "SE",
        "SequenceVariant": "SK",
        "RepetitionTime": seq.repetition_time_s,
        "EchoTime": seq.echo_time_s,
        "FlipAngle": seq.flip_angle_deg,
        "SliceThickness": round(seq.grid.voxel_size_mm[0], 4),
        "SeriesDescription": f"sag {contrast}" + (" post-Gd" if contrast == "T1w" else ""),
        "SyntheticData": True,
    }
    if contrast == "T1w":
        out["ContrastBolusIngredient"] = "GADOLINIUM"
        out["SyntheticMisalignment"] = params.misalignment.to_json()
    return out


# README of the dataset, formatted with the seed and the number of subjects.
_README = """\
# spinetumor synthetic demo dataset

Synthetic sagittal spinal MRI with intramedullary tumours, written by
`python -m spinetumor.demo` (seed {seed}, {n} subjects). No real person is
depicted. Each subject has a T2-weighted and a gadolinium-enhanced T1-weighted
image (each on its own anisotropic grid; header orientations vary), and under
`derivatives/labels` a `dseg` map (1 tumour core, 2 edema, 3 cavity), a manual-
style spinal cord mask (`seg-manual`) and a cord centreline, all on the T2w grid.

The T1w anatomy is rigidly displaced with respect to the T2w on purpose; the
true displacement is in the T1w sidecar under `SyntheticMisalignment`.
Pathologies cycle by subject: astrocytoma, ependymoma, hemangioblastoma.
"""

#: Column descriptions of ``participants.tsv``.
PARTICIPANTS_JSON: dict[str, Any] = {
    "participant_id": {"Description": "Subject label"},
    "pathology": {
        "Description": "Intramedullary tumour type",
        "Levels": {p: p.capitalize() for p in PATHOLOGIES},
    },
    "age": {"Description": "Age at scan", "Units": "year"},
    "sex": {"Description": "Sex", "Levels": {"M": "male", "F": "female"}},
}


def dataset_description(seed: int) -> dict[str, Any]:
    """``dataset_description.json`` of the raw dataset."""
    return {
        "Name": "spinetumor synthetic demo: sagittal spinal MRI with intramedullary tumours",
        "BIDSVersion": "1.9.0",
        "DatasetType": "raw",
        "License": "CC0",
        "GeneratedBy": [{"Name": "spinetumor.demo", "Version": __version__, "Description": f"seed {seed}"}],
    }


def labels_description() -> dict[str, Any]:
    """``dataset_description.json`` of the ``derivatives/labels`` dataset."""
    return {
        "Name": "Manual-style labels of the spinetumor synthetic demo",
        "BIDSVersion": "1.9.0",
        "DatasetType": "derivative",
        "GeneratedBy": [
            {
                "Name": "spinetumor.demo",
                "Version": __version__,
                "Description": "Labels computed from the analytic anatomy on the T2w grid",
            }
        ],
    }


def participants_tsv(n_subjects: int, seed: int) -> str:
    """``participants.tsv``: label, pathology, age and sex of subjects 1..``n_subjects``."""
    rows = ["participant_id\tpathology\tage\tsex"]
    for index in range(1, int(n_subjects) + 1):
        p = subject_parameters(index, seed)
        rows.append(f"sub-{p.subject}\t{p.pathology}\t{p.age}\t{p.sex}")
    return "\n".join(rows) + "\n"


def readme(n_subjects: int, seed: int) -> str:
    """The dataset's ``README``."""
    return _README.format(seed=seed, n=n_subjects)


def dseg_tsv() -> str:
    """``derivatives/labels/dseg.tsv``: index and name of each dseg value."""
    return "index\tname\n" + "".join(f"{k}\t{v}\n" for k, v in DSEG_LABELS.items())
