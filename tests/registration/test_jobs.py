"""Tests of spinetumor.registration.jobs: the outputs of a unit's registration, and the study's table."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from spinetumor.registration.jobs import registration_table, run_registration
from spinetumor.registration.settings import RegistrationSettings
from tests.registration.phantoms import TRUTH, TRUTH_ANGLE_DEG, PhantomPair, make_phantom_pair, rigid_lps


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> PhantomPair:
    return make_phantom_pair(tmp_path_factory.mktemp("phantom"), rigid_lps(*TRUTH))


def test_run_registration_writes_consistent_outputs(phantom: PhantomPair, tmp_path: Path) -> None:
    out_image = tmp_path / "out" / "sub-ph_space-T2w_T1w.nii.gz"
    out_tfm = tmp_path / "out" / "sub-ph_from-T2w_to-T1w_xfm.tfm"
    out_png = tmp_path / "out" / "sub-ph_qc.png"
    out_json = tmp_path / "out" / "sub-ph_registration.json"
    summary = run_registration(
        phantom.t2w,
        phantom.t1w,
        out_image,
        out_tfm,
        out_png,
        RegistrationSettings(stages=("rigid",)),
        subject="ph",
        out_summary=out_json,
    )

    t2w, image = nib.load(phantom.t2w), nib.load(out_image)
    assert image.shape == t2w.shape
    np.testing.assert_allclose(image.affine, t2w.affine, atol=1e-5)
    assert image.get_data_dtype() == np.float32
    transform = sitk.ReadTransform(str(out_tfm))
    moved = np.asarray(transform.TransformPoint((1.0, 2.0, 3.0)))
    assert np.linalg.norm(moved - (1.0, 2.0, 3.0)) > 1.0  # the phantom's 3 mm shift, not identity
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out_png.stat().st_size > 10_000
    assert json.loads(out_json.read_text())["metric"] == "mattes"
    assert summary["transform_type"] == "Euler3DTransform"
    assert summary["rigid_rotation_deg"] == pytest.approx(TRUTH_ANGLE_DEG, abs=1.0)
    assert sorted(p.name for p in out_image.parent.iterdir()) == sorted(
        [out_image.name, out_tfm.name, out_png.name, out_json.name]
    )  # no temporary files left behind


def test_failed_registration_is_flagged_in_summary_and_qc(real_spine: Path, tmp_path: Path) -> None:
    # A "T1w" of smooth noise on the real T1w's grid: nothing to match.
    anat = real_spine / "sub-errsm30" / "anat"
    t1w = nib.load(anat / "sub-errsm30_T1w.nii.gz")
    rng = np.random.default_rng(0)
    from scipy import ndimage

    noise = ndimage.gaussian_filter(rng.normal(size=t1w.shape), 3) * 1000 + 500
    nib.save(nib.Nifti1Image(noise.astype(np.float32), t1w.affine), tmp_path / "noise.nii.gz")
    out = tmp_path / "out"
    summary = run_registration(
        anat / "sub-errsm30_T2w.nii.gz",
        tmp_path / "noise.nii.gz",
        out / "t1w.nii.gz",
        out / "xfm.tfm",
        out / "qc.png",
        RegistrationSettings(),
        subject="noise",
        out_summary=out / "t1w.json",
    )
    assert summary["registration_ok"] is False and summary["failure_reasons"]
    assert json.loads((out / "t1w.json").read_text())["registration_ok"] is False
    import matplotlib.image

    rgb = matplotlib.image.imread(out / "qc.png")[..., :3]
    red = (rgb[..., 0] > 0.8) & (rgb[..., 1] < 0.2) & (rgb[..., 2] < 0.2)
    assert red.mean() > 0.05  # the red frame and banner


def test_registration_table_puts_failures_first(tmp_path: Path) -> None:
    base = {
        "metric": "mattes",
        "final_metric_value": -0.2,
        "rigid_translation_mm_lps": [3.0, 4.0, 0.0],
        "rigid_rotation_deg": 2.0,
        "transform_type": "Euler3DTransform",
        "seconds": 1.5,
    }
    (tmp_path / "a.json").write_text(json.dumps({**base, "registration_ok": True, "failure_reasons": []}))
    (tmp_path / "b.json").write_text(
        json.dumps({**base, "registration_ok": False, "failure_reasons": ["one", "two"]})
    )
    summaries = {"sub-a": tmp_path / "a.json", "sub-b": tmp_path / "b.json"}
    table = registration_table(summaries, tmp_path / "r.tsv")
    written = pd.read_csv(tmp_path / "r.tsv", sep="\t", keep_default_na=False)
    assert written["unit"].tolist() == ["sub-b", "sub-a"] == table["unit"].tolist()
    assert written["registration_ok"].tolist() == [False, True]
    assert written["failure_reasons"].tolist() == ["one; two", ""]
    assert written["rigid_translation_mm"].tolist() == [5.0, 5.0]
