"""Find a study's scans and labels in a BIDS dataset, once per workflow start.

A *unit* is one subject (and session, when the dataset has sessions): the T2w,
the contrast-enhanced T1w and the label files that belong to it. Raw images
are indexed with pybids (entities chosen by config); label files are located
with path templates from config (:mod:`spinetumor.data.labelfiles`).

Subject and session labels are read from the folder names, not from pybids'
entity parse: pybids cuts a label at its first non-alphanumeric character
(``sub-c-d`` would become subject ``c``), so a file is only attributed to the
unit whose folders hold it, and a ``sub-*``/``ses-*`` folder whose label is not
alphanumeric is reported by :func:`invalid_folders`.

A unit without any lesion label file is healthy only when declared so
(:mod:`spinetumor.data.participants`); any other unit without a lesion file
is invalid input.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spinetumor.data.labelfiles import LESION_LABEL_KINDS, label_path, label_templates, resolve_label_paths
from spinetumor.data.participants import HealthDeclaration
from spinetumor.layout import CONTRASTS

__all__ = [
    "LESION_LABEL_KINDS",
    "Unit",
    "discover_units",
    "demo_units",
    "invalid_folders",
    "is_bids_label",
]

log = logging.getLogger(__name__)

_NIFTI_EXTENSIONS = [".nii.gz", ".nii"]

#: Contrast to (subject, session) to the files found.
_FilesByUnit = dict[str, dict[tuple[str, str | None], list[str]]]


@dataclass(frozen=True)
class Unit:
    """One subject (and optional session) with the files the study needs.

    Attributes:
        subject: BIDS subject label, without ``sub-``.
        session: BIDS session label without ``ses-``, or ``None``.
        t2w: Path of the T2w image.
        t1w: Path of the T1w image, or ``None`` if none matched.
        labels: Label files found, keyed by ``dseg``, ``tumor``, ``edema``,
            ``cavity``, ``cord`` or ``centerline``.
        problems: Problems found while indexing (missing or ambiguous files,
            a missing lesion label).
        healthy: Declared healthy (``participants.tsv`` or lesion format
            ``none``): no lesion label is expected.
    """

    subject: str
    session: str | None
    t2w: str | None
    t1w: str | None
    labels: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    healthy: bool = False

    @property
    def participant_id(self) -> str:
        """``sub-<label>``, as in ``participants.tsv``."""
        return f"sub-{self.subject}"

    @property
    def prefix(self) -> str:
        """BIDS file-name prefix, e.g. ``sub-01`` or ``sub-01_ses-02``."""
        return self.participant_id + (f"_ses-{self.session}" if self.session else "")

    @property
    def subpath(self) -> str:
        """BIDS folder of the unit, e.g. ``sub-01`` or ``sub-01/ses-02``."""
        return self.participant_id + (f"/ses-{self.session}" if self.session else "")

    def as_dict(self) -> dict[str, Any]:
        """A plain, JSON-serialisable view (for Snakemake params and reports)."""
        return {
            "subject": self.subject,
            "session": self.session,
            "prefix": self.prefix,
            "t2w": self.t2w,
            "t1w": self.t1w,
            "labels": dict(self.labels),
            "problems": list(self.problems),
            "healthy": self.healthy,
        }


def _entity_filters(spec: Mapping[str, Any]) -> dict[str, Any]:
    """pybids filters from a config entity spec; ``null`` values are not filtered."""
    filters = {key: value for key, value in spec.items() if value is not None}
    filters.setdefault("extension", _NIFTI_EXTENSIONS)
    return filters


def _select(files: Sequence[str], contrast: str, where: str) -> tuple[str | None, str | None]:
    """Pick the single file of a contrast, or say why none can be picked."""
    if not files:
        return None, f"{contrast}: no file matches the configured BIDS entities in {where}"
    if len(files) > 1:
        names = ", ".join(sorted(os.path.basename(f) for f in files))
        return (
            None,
            f"{contrast}: {len(files)} files match the configured BIDS entities ({names}); add an entity to choose one",
        )
    return files[0], None


# Long only for its docstring (every selection argument is documented); the body is ~30 lines.
def discover_units(
    bids_dir: str | os.PathLike[str],
    contrasts: Mapping[str, Mapping[str, Any]],
    labels_cfg: Mapping[str, Any],
    *,
    include_subjects: Iterable[str] = (),
    exclude_subjects: Iterable[str] = (),
    sessions: Iterable[str] = (),
    participants_tsv: str | os.PathLike[str] | None = None,
    healthy_column: str | None = None,
) -> list[Unit]:
    """Index a BIDS dataset once and return its units.

    Args:
        bids_dir: Root of the raw BIDS dataset.
        contrasts: ``{"T2w": {...}, "T1w": {...}}`` pybids entity filters
            (e.g. ``suffix``, ``ceagent``, ``acquisition``); ``null`` means
            "not filtered".
        labels_cfg: The ``labels`` config section (folder, templates, and
            ``lesions.healthy.values``).
        include_subjects: Subject labels (with or without ``sub-``) to keep;
            empty keeps all.
        exclude_subjects: Subject labels to leave out.
        sessions: Session labels to keep; empty keeps all.
        participants_tsv: The participants table that declares healthy
            subjects (a missing file declares none).
        healthy_column: Its column whose value, when one of
            ``labels.lesions.healthy.values``, declares a subject healthy;
            ``None``: no subject is declared healthy by the table.

    Returns:
        Units sorted by subject and session. A unit whose files are missing
        or ambiguous, or that has no lesion label without being declared
        healthy, is returned with its ``problems`` filled, so that the caller
        decides whether that stops the study or skips the subject. Files in
        a folder whose label is not alphanumeric belong to no unit (see
        :func:`invalid_folders`).

    Raises:
        FileNotFoundError: ``bids_dir`` is not a folder.
    """
    from bids import BIDSLayout, BIDSLayoutIndexer  # slow import; only when a dataset is indexed

    root = Path(bids_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"bids_dir: {root} is not a folder")
    indexer = BIDSLayoutIndexer(validate=False, index_metadata=False)
    layout = BIDSLayout(str(root), validate=False, derivatives=False, indexer=indexer)

    wanted = {_strip(s, "sub-") for s in include_subjects}
    unwanted = {_strip(s, "sub-") for s in exclude_subjects}
    wanted_sessions = {_strip(s, "ses-") for s in sessions}
    labels_dir = root / labels_cfg.get("dir", "derivatives/labels")
    templates = label_templates(labels_cfg)
    health = HealthDeclaration.from_config(labels_cfg, participants_tsv, healthy_column)

    found = _contrast_files(layout, root, contrasts)
    keys = _unit_keys(root, found)

    units: list[Unit] = []
    for subject, session in sorted(keys, key=lambda k: (k[0], k[1] or "")):
        if (wanted and subject not in wanted) or subject in unwanted:
            continue
        if session is not None and wanted_sessions and session not in wanted_sessions:
            continue
        units.append(_make_unit(found, subject, session, labels_dir, templates, health))
    missing = wanted - {u.subject for u in units}
    if missing:
        log.warning("include_subjects: not found in %s: %s", root, ", ".join(sorted(missing)))
    return units


def _contrast_files(layout: Any, root: Path, contrasts: Mapping[str, Mapping[str, Any]]) -> _FilesByUnit:
    """Each contrast's matching files, grouped by (subject, session)."""
    # One query per contrast, grouped here: a query per subject costs ~0.1 s,
    # which is 40 s of every Snakemake start on a 343-subject study.
    found: _FilesByUnit = {}
    for contrast in CONTRASTS:
        found[contrast] = {}
        for path in layout.get(return_type="filename", **_entity_filters(contrasts[contrast])):
            # Parsed from the name: BIDSFile.get_entities() costs a database query per file.
            entities = layout.parse_file_entities(path)
            key = (str(entities["subject"]), entities.get("session"))
            # pybids cuts labels at the first non-alphanumeric character: a file of
            # sub-c-d/ parses as subject c. Only the unit's own folders count.
            if _in_unit_folder(root, path, *key):
                found[contrast].setdefault(key, []).append(path)
    return found


def _unit_keys(root: Path, found: _FilesByUnit) -> set[tuple[str, str | None]]:
    """The (subject, session) pairs with files, plus subject folders without any."""
    keys = set(found["T2w"]) | set(found["T1w"])
    # Subjects without any T2w/T1w match still become units (with problems). Their
    # sub-* folders are listed directly: layout.get_subjects() walks every indexed
    # file's entities, ~1.5 s of each Snakemake start on 343 subjects.
    with_files = {k[0] for k in keys}
    subject_dirs = {p.name[4:] for p in root.glob("sub-*") if p.is_dir() and is_bids_label(p.name[4:])}
    return keys | {(s, None) for s in subject_dirs - with_files}


def is_bids_label(label: str) -> bool:
    """Whether a subject or session label is a BIDS label (ASCII letters and digits only)."""
    return bool(label) and label.isascii() and label.isalnum()


def _in_unit_folder(root: Path, path: str, subject: str, session: str | None) -> bool:
    """Whether ``path`` lies in the folder of the unit its name was parsed as."""
    parts = Path(os.path.relpath(path, root)).parts
    folders = [f"sub-{subject}"] + ([f"ses-{session}"] if session else [])
    return list(parts[: len(folders)]) == folders


def invalid_folders(
    bids_dir: str | os.PathLike[str],
    *,
    include_subjects: Iterable[str] = (),
    exclude_subjects: Iterable[str] = (),
    sessions: Iterable[str] = (),
) -> list[dict[str, str]]:
    """The ``sub-*`` and ``ses-*`` folders whose label is not a BIDS label.

    Their files belong to no unit (pybids would attribute them to the label
    cut at the first non-alphanumeric character). A folder left out by the
    subject or session selection is not reported.

    Args:
        bids_dir: Root of the raw BIDS dataset.
        include_subjects: As in :func:`discover_units`, compared with the
            whole folder label (e.g. ``c-d`` for ``sub-c-d``).
        exclude_subjects: As in :func:`discover_units`.
        sessions: As in :func:`discover_units`.

    Returns:
        One row per folder, as in ``excluded_subjects.tsv``: ``subject``
        (``sub-<label>``), ``session`` (label or ``n/a``), ``file`` (the
        folder) and ``reason``.
    """
    root = Path(bids_dir)
    wanted = {_strip(s, "sub-") for s in include_subjects}
    unwanted = {_strip(s, "sub-") for s in exclude_subjects}
    wanted_sessions = {_strip(s, "ses-") for s in sessions}
    rows = []
    for folder in sorted(p for p in root.glob("sub-*") if p.is_dir()):
        subject = folder.name[4:]
        if (wanted and subject not in wanted) or subject in unwanted:
            continue
        if not is_bids_label(subject):
            rows.append(_folder_row(folder, folder.name, "n/a", subject))
            continue
        for ses_folder in sorted(p for p in folder.glob("ses-*") if p.is_dir()):
            session = ses_folder.name[4:]
            if not is_bids_label(session) and not (wanted_sessions and session not in wanted_sessions):
                rows.append(_folder_row(ses_folder, folder.name, session, session))
    return rows


def _folder_row(folder: Path, subject: str, session: str, label: str) -> dict[str, str]:
    reason = (
        f"folder label {label!r} is not a BIDS label (letters and digits only); "
        "none of its files is used: rename the folder and its files"
    )
    return {"subject": subject, "session": session, "file": str(folder), "reason": reason}


def _make_unit(found, subject, session, labels_dir, templates, health) -> Unit:
    subpath = f"sub-{subject}" + (f"/ses-{session}" if session else "")
    prefix = f"sub-{subject}" + (f"_ses-{session}" if session else "")
    paths: dict[str, str | None] = {}
    problems: list[str] = []
    for contrast in CONTRASTS:
        paths[contrast], problem = _select(found[contrast].get((subject, session), []), contrast, subpath)
        if problem:
            problems.append(problem)
    labels = resolve_label_paths(labels_dir, templates, subpath, prefix)
    healthy = health.healthy(f"sub-{subject}")
    lesion_kinds = [k for k in templates if k in LESION_LABEL_KINDS and templates[k]]
    if lesion_kinds and not healthy and not set(lesion_kinds) & set(labels):
        expected = [str(label_path(labels_dir, templates[k], subpath, prefix)) for k in lesion_kinds]
        why = health.why_not(f"sub-{subject}")
        problems.append(f"lesions: no lesion label file (expected {', '.join(expected)}), and {why}")
    return Unit(subject, session, paths["T2w"], paths["T1w"], labels, tuple(problems), healthy)


def demo_units(bids_dir: str | os.PathLike[str], subject_ids: Iterable[str]) -> list[Unit]:
    """Units of the embedded demo dataset, known without reading any file.

    The demo dataset is written by a workflow rule, so at the time the DAG is
    built its files may not exist; their names are fixed by
    :mod:`spinetumor.demo`.

    Args:
        bids_dir: Where the demo dataset is (or will be) written.
        subject_ids: Demo subject labels (e.g. ``"001"``).

    Returns:
        One unit per subject.
    """
    root = Path(bids_dir)
    units = []
    for sid in subject_ids:
        anat = root / f"sub-{sid}" / "anat"
        labels = root / "derivatives" / "labels" / f"sub-{sid}" / "anat"
        units.append(
            Unit(
                subject=sid,
                session=None,
                t2w=str(anat / f"sub-{sid}_T2w.nii.gz"),
                t1w=str(anat / f"sub-{sid}_ce-gadolinium_T1w.nii.gz"),
                labels={
                    "dseg": str(labels / f"sub-{sid}_T2w_dseg.nii.gz"),
                    "cord": str(labels / f"sub-{sid}_T2w_seg-manual.nii.gz"),
                    "centerline": str(labels / f"sub-{sid}_T2w_centerline-manual.nii.gz"),
                },
            )
        )
    return units


def _strip(value: str, prefix: str) -> str:
    value = str(value)
    return value[len(prefix) :] if value.startswith(prefix) else value
