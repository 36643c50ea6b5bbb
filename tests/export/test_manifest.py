"""The manifest of a model folder: every file's SHA-256, and the refusal of a folder that differs."""

from __future__ import annotations

import hashlib
import json

import pytest

from spinetumor.export.manifest import MANIFEST, ModelFolderError, check_manifest, write_manifest


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "model"
    (root / "models" / "split-0").mkdir(parents=True)
    (root / "models" / "split-0" / "lesion.pt").write_bytes(b"weights")
    (root / "configs").mkdir()
    (root / "configs" / "spinetumor.json").write_text("{}")
    write_manifest(root)
    return root


def test_the_manifest_lists_every_other_file_with_its_digest(folder):
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest == {
        "algorithm": "sha256",
        "files": {
            "configs/spinetumor.json": hashlib.sha256(b"{}").hexdigest(),
            "models/split-0/lesion.pt": hashlib.sha256(b"weights").hexdigest(),
        },
    }
    assert check_manifest(folder) == manifest["files"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda root: (root / "models/split-0/lesion.pt").write_bytes(b"other"),
            "changed since export: models/split-0/lesion.pt",
        ),
        (lambda root: (root / "models/split-0/lesion.pt").unlink(), "missing models/split-0/lesion.pt"),
        (
            lambda root: (root / "models/split-0/cord.pt").write_bytes(b"x"),
            "not in the manifest: models/split-0/cord.pt",
        ),
        (lambda root: (root / MANIFEST).unlink(), "no manifest.json; not an exported spinetumor model"),
        (lambda root: (root / MANIFEST).write_text("{"), "unreadable manifest"),
    ],
)
def test_a_folder_that_differs_from_its_manifest_is_refused(folder, change, message):
    change(folder)
    with pytest.raises(ModelFolderError, match=message):
        check_manifest(folder)


def test_hidden_files_are_neither_listed_nor_refused(folder):
    # Snakemake marks a directory output with `.snakemake_timestamp`; a copy may add `.DS_Store`.
    (folder / ".snakemake_timestamp").write_text("")
    (folder / "models" / ".DS_Store").write_bytes(b"x")
    assert set(check_manifest(folder)) == {"configs/spinetumor.json", "models/split-0/lesion.pt"}
    assert set(write_manifest(folder)["files"]) == {"configs/spinetumor.json", "models/split-0/lesion.pt"}


def test_no_folder_is_named(tmp_path):
    with pytest.raises(ModelFolderError, match="absent: no such model folder"):
        check_manifest(tmp_path / "absent")
