"""`spinetumor predict`: an exported model segments a new scan of any orientation on the scan's own grid."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from spinetumor.cli import main
from spinetumor.export.manifest import check_manifest
from spinetumor.provenance import sha256_file
from tests.conftest import REAL_SPINE

SPINETUMOR = str(Path(sys.executable).with_name("spinetumor"))
CHANNELS = ("tumor", "edema", "cavity", "whole")


def _outputs(out: Path, stem: str) -> dict[str, Path]:
    base = out / f"{stem}_space-T2w_desc-tiny"
    files = {
        "dseg": Path(f"{base}_dseg.nii.gz"),
        "sidecar": Path(f"{base}_dseg.json"),
        "uncertainty": Path(f"{base}_uncertainty.nii.gz"),
        "cord": Path(f"{base}_label-SC_mask.nii.gz"),
    }
    files.update({c: Path(f"{base}_label-{c}_probseg.nii.gz") for c in CHANNELS})
    return files


def _check_outputs(out: Path, stem: str, t2w: Path, t1w: Path, model: Path) -> dict:
    files = _outputs(out, stem)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        p.name for p in files.values()
    )  # no temp folder left
    ref = nib.load(t2w)
    for key, path in files.items():
        if key == "sidecar":
            continue
        img = nib.load(path)
        assert img.shape == ref.shape and np.allclose(img.affine, ref.affine), key
    dseg = np.asarray(nib.load(files["dseg"]).dataobj)
    assert nib.load(files["dseg"]).get_data_dtype() == np.uint8 and set(np.unique(dseg)) <= {0, 1, 2, 3}
    assert nib.load(files["cord"]).get_data_dtype() == np.uint8
    for channel in CHANNELS:
        p = nib.load(files[channel]).get_fdata()
        assert p.min() >= 0 and p.max() <= 1
    assert nib.load(files["uncertainty"]).get_fdata().min() >= 0
    sidecar = json.loads(files["sidecar"].read_text())
    assert sidecar["Sources"] == [str(t2w), str(t1w)]
    assert sidecar["SourcesSHA256"] == {str(t2w): sha256_file(t2w), str(t1w): sha256_file(t1w)}
    digests = check_manifest(model)
    assert sidecar["ModelSHA256"] == {k: v for k, v in digests.items() if k.endswith(".pt")}
    assert sidecar["Folds"] == [0, 1] and sidecar["GeneratedBy"][0]["Name"] == "spinetumor"
    assert sidecar["Registration"]["metric"] == "mattes"
    return sidecar


def test_the_console_script_segments_a_scan(exported, tmp_path):
    t2w, t1w = exported["scan"]["T2w"], exported["scan"]["T1w"]
    out = tmp_path / "out"
    cmd = [SPINETUMOR, "predict", "--model", str(exported["folder"]), "--t2w", str(t2w), "--t1w", str(t1w)]
    proc = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for step in ("loading model folder", "registering", "fold 0", "fold 1", "saving 8 outputs"):
        assert step in proc.stderr, step
    _check_outputs(out, "sub-5", t2w, t1w, exported["folder"])


@pytest.mark.parametrize(
    ("subject", "axcodes"), [("sub-unf01", ("R", "A", "S")), ("sub-errsm30", ("P", "S", "R"))]
)
def test_real_scans_get_outputs_on_their_own_grids(exported, tmp_path, subject, axcodes):
    if not REAL_SPINE.is_dir():
        pytest.skip(f"real data not found at {REAL_SPINE}")
    t2w, t1w = (REAL_SPINE / subject / "anat" / f"{subject}_{c}.nii.gz" for c in ("T2w", "T1w"))
    assert nib.aff2axcodes(nib.load(t2w).affine) == axcodes
    out = tmp_path / "out"
    argv = predict_argv(exported["folder"], t2w, t1w, out)
    assert main([*argv, "-q", "--threads", "1"]) == 0
    sidecar = _check_outputs(out, subject, t2w, t1w, exported["folder"])
    assert sidecar["Registration"]["registration_ok"] in (True, False)


def predict_argv(model: Path, t2w: Path, t1w: Path, out: Path) -> list[str]:
    """``spinetumor predict`` with a model folder, both images and an output folder."""
    return ["predict", "--model", str(model), "--t2w", str(t2w), "--t1w", str(t1w), "--out", str(out)]


def _four_d(tmp_path: Path) -> Path:
    path = tmp_path / "dwi.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4, 2), np.float32), np.eye(4)), path)
    return path


def _not_nifti(tmp_path: Path) -> Path:
    path = tmp_path / "notes_T2w.nii.gz"
    path.write_text("not an image")
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", r"T2w .*absent_T2w.nii.gz: no such file"),
        ("not_nifti", r"T2w .*notes_T2w.nii.gz: not a NIfTI image"),
        ("4d", r"T2w .*dwi.nii.gz: a 4D image of shape \(4, 4, 4, 2\); give one 3D volume"),
        ("no_t1w", r"the model needs a T1w image; give it with --t1w"),
        ("fold", r"no fold \[7\]; its folds are \[0, 1\]"),
        ("tampered", r"the files do not match manifest.json: changed since export: models/split-1/lesion.pt"),
    ],
)
def test_bad_input_is_one_clear_error_and_writes_nothing(exported, tmp_path, capsys, case, message):
    import shutil

    model, t2w, t1w = exported["folder"], exported["scan"]["T2w"], exported["scan"]["T1w"]
    extra: list[str] = ["--t1w", str(t1w)]
    if case == "missing":
        t2w = tmp_path / "absent_T2w.nii.gz"
    elif case == "not_nifti":
        t2w = _not_nifti(tmp_path)
    elif case == "4d":
        t2w = _four_d(tmp_path)
    elif case == "no_t1w":
        extra = []
    elif case == "fold":
        extra += ["--folds", "7"]
    elif case == "tampered":
        model = shutil.copytree(model, tmp_path / "model")
        weights = model / "models" / "split-1" / "lesion.pt"
        data = weights.read_bytes()
        weights.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit flipped
    out = tmp_path / "out"
    assert main(["predict", "--model", str(model), "--t2w", str(t2w), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("spinetumor predict: error: ")
    assert __import__("re").search(message, err[-1]), err[-1]
    assert not out.exists()


def test_a_failure_midway_leaves_the_output_folder_as_it_was(exported, tmp_path, monkeypatch, capsys):
    import spinetumor.apply.segment as segment

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(segment, "combine", broken)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier work")
    t2w, t1w = exported["scan"]["T2w"], exported["scan"]["T1w"]
    argv = predict_argv(exported["folder"], t2w, t1w, out)
    assert main(argv) == 1
    assert "spinetumor predict: failed: RuntimeError: out of memory" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_help_documents_the_outputs_and_exit_status():
    proc = subprocess.run([SPINETUMOR, "predict", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for text in (
        "--model DIR",
        "--t2w T2W",
        "--t1w T1W",
        "--out OUT_DIR",
        "--device {cpu,cuda}",
        "--folds all|K",
        "_dseg.nii.gz",
        "_probseg.nii.gz",
        "_uncertainty.nii.gz",
        "_label-SC_mask.nii.gz",
        "Exit",
    ):
        assert text in proc.stdout, text
