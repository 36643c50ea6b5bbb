"""The study's file layout: unit ids, preprocessed files, run folders, and Snakemake patterns through it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from spinetumor import layout
from tests.conftest import REPO


def test_a_unit_id_gives_its_subject_and_folder():
    assert layout.unit_subject("sub-01") == "sub-01" and layout.unit_subpath("sub-01") == "sub-01"
    assert layout.unit_subject("sub-01_ses-2") == "sub-01"
    assert layout.unit_subpath("sub-01_ses-2") == "sub-01/ses-2"
    for bad in ("01", "sub-01/ses-2", "sub-01_ses-2_T2w", "sub-01_run-1", "sub-_ses-1", "/r/sub-01"):
        with pytest.raises(ValueError, match="not a unit id"):
            layout.unit_subpath(bad)


def test_preprocessed_files_of_a_unit():
    chain = layout.preprocessed_dir("/r", "lemay2021")
    assert chain == "/r/preprocessed/lemay2021"
    prefix = layout.preprocessed_prefix(chain, "sub-01_ses-2")
    assert prefix == "/r/preprocessed/lemay2021/sub-01/ses-2/anat/sub-01_ses-2_desc-preproc"
    assert layout.preprocessed_file(prefix, "cord") == (
        "/r/preprocessed/lemay2021/sub-01/ses-2/anat/sub-01_ses-2_label-SC_desc-preproc_mask.nii.gz"
    )
    assert layout.preprocessed_file(prefix, "geometry").endswith("sub-01_ses-2_desc-preproc_geometry.json")
    with pytest.raises(ValueError, match="unknown preprocessed kind 'mask'"):
        layout.preprocessed_file(prefix, "mask")
    with pytest.raises(ValueError, match="ends with _desc-preproc"):
        layout.preprocessed_file("/r/sub-01", "T2w")


def test_unit_files_go_unit_by_unit_in_the_kinds_order():
    files = layout.unit_files("/c", ["sub-2", "sub-1"])
    assert len(files) == 2 * len(layout.PREPROC_IMAGE_KINDS)
    assert files[0] == "/c/sub-2/anat/sub-2_desc-preproc_T2w.nii.gz"
    assert files[4] == "/c/sub-1/anat/sub-1_desc-preproc_T2w.nii.gz"
    assert layout.unit_files("/c", ["sub-1"], ["dseg"]) == ["/c/sub-1/anat/sub-1_desc-preproc_dseg.nii.gz"]
    assert layout.PREPROC_IMAGE_KINDS[0] == "T2w" and set(layout.PREPROC_IMAGE_KINDS) < set(
        layout.PREPROC_KINDS
    )


def test_a_snakemake_pattern_goes_through_the_layout():
    pattern = f"{layout.preprocessed_dir('/r', '{chain}')}/{layout.UNIT_PREPROC}"
    filled = pattern.format(chain="c", subpath="sub-1/ses-2", prefix="sub-1_ses-2")
    assert filled == layout.preprocessed_prefix(layout.preprocessed_dir("/r", "c"), "sub-1_ses-2")
    run = layout.model_run_dir("/r", "{model}", "{split}", "{stage}")
    assert run.format(model="m", split=1, stage="cord") == layout.model_run_dir("/r", "m", 1, "cord")
    assert layout.model_run_dir("/r", "m", 1, "cord") == "/r/models/m/split-1/cord"
    assert layout.cord_source_run_dir("/r", "m") == "/r/models/m/cordsource/cord"


def test_run_folder_names_are_distinct():
    names = [
        layout.MODEL_FILE,
        layout.TRAINING_SUMMARY,
        layout.CHECKPOINT_LAST,
        layout.CHECKPOINT_BEST,
        layout.TRAINING_LOG,
        layout.CROP_BOXES,
    ]
    assert len(set(names)) == len(names)


def test_layout_imports_without_numeric_libraries():
    code = "import sys, spinetumor.layout; assert not {'torch', 'numpy'} & set(sys.modules), sys.modules"
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow" / "scripts")}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env=env)
