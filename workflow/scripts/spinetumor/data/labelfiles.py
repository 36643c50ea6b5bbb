"""Where a unit's label files are: the path templates of the ``labels`` config section.

Label files live in a derivative folder whose naming varies between groups
(one ``dseg`` map, or one binary file per structure as in ivadomed), so they
are located with path templates from config, filled in per unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spinetumor import LABELS

__all__ = ["LESION_STRUCTURES", "LESION_LABEL_KINDS", "label_path", "label_templates", "resolve_label_paths"]

#: Per-structure label files, in the order of their ``dseg`` values (1, 2, 3).
LESION_STRUCTURES: tuple[str, ...] = tuple(sorted(LABELS, key=LABELS.__getitem__))
#: Label kinds that hold lesions: one ``dseg`` map, or one file per structure.
LESION_LABEL_KINDS: tuple[str, ...] = ("dseg", *LESION_STRUCTURES)


def label_path(labels_dir: Path, template: str, subpath: str, prefix: str) -> Path:
    """Fill one label path template for a unit.

    Args:
        labels_dir: Folder of the label derivative.
        template: Template with ``{subpath}`` and ``{prefix}`` placeholders.
        subpath: Unit folder, e.g. ``sub-01/ses-02``.
        prefix: Unit file prefix, e.g. ``sub-01_ses-02``.

    Returns:
        The path the template names (it may not exist).
    """
    return labels_dir / template.format(subpath=subpath, prefix=prefix)


def resolve_label_paths(
    labels_dir: Path,
    templates: Mapping[str, str | None],
    subpath: str,
    prefix: str,
) -> dict[str, str]:
    """Fill the label path templates of one unit and keep the files that exist.

    Args:
        labels_dir: Folder of the label derivative (e.g. ``derivatives/labels``).
        templates: Structure name to template with ``{subpath}`` and
            ``{prefix}`` placeholders; ``None`` disables a structure.
        subpath: Unit folder, e.g. ``sub-01/ses-02``.
        prefix: Unit file prefix, e.g. ``sub-01_ses-02``.

    Returns:
        Structure name to path, for the files found.
    """
    found: dict[str, str] = {}
    for name, template in templates.items():
        if not template:
            continue
        path = label_path(labels_dir, template, subpath, prefix)
        if path.exists():
            found[name] = str(path)
    return found


def label_templates(labels_cfg: Mapping[str, Any]) -> dict[str, str | None]:
    """The label templates selected by the ``labels`` config section.

    Args:
        labels_cfg: The ``labels`` section (``lesions.format`` is ``dseg``,
            ``per_structure`` or ``none``).

    Returns:
        Structure name to template.

    Raises:
        ValueError: unknown lesion format.
    """
    lesions = labels_cfg.get("lesions", {})
    fmt = lesions.get("format", "dseg")
    templates: dict[str, str | None] = {}
    if fmt == "dseg":
        templates["dseg"] = lesions.get("dseg")
    elif fmt == "per_structure":
        per = lesions.get("per_structure", {})
        for name in LESION_STRUCTURES:
            templates[name] = per.get(name)
    elif fmt != "none":
        raise ValueError(f"labels.lesions.format: unknown value {fmt!r} (dseg, per_structure or none)")
    templates["cord"] = labels_cfg.get("cord")
    templates["centerline"] = labels_cfg.get("centerline")
    return templates
