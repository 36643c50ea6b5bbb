"""The provenance table from hand-made checkpoints and training summaries, digests recomputed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from spinetumor import layout
from spinetumor.evaluation import jobs
from spinetumor.evaluation.provenance import COLUMNS, provenance_frame
from spinetumor.training.checkpoints import save_checkpoint
from spinetumor.training.settings import TrainingSettings

CONFIGS = {
    "cascade": {
        "name": "cascade",
        "type": "cascade",
        "stages": {"cord": {"lr": 0.01}, "lesion": {"lr": 0.01}},
    },
    "single": {"name": "single", "type": "single_stage", "stages": {"lesion": {"lr": 0.001}}},
}
STAGES = {"cascade": ("cord", "lesion"), "single": ("lesion",)}
OLD_LIBRARIES = {"numpy": "2.4.6", "python": "3.11.9", "torch": "2.13.0"}
NEW_LIBRARIES = {"python": "3.11.9", "torch": "2.13.0", "numpy": "2.4.6", "onnx": "1.19.0", "zstd": "1.5"}


def write_run(
    results: Path,
    model: str,
    split: int,
    stage: str,
    *,
    seed: int = 0,
    epoch: int = 3,
    last_epoch: int = 5,
    code: str = "0.1.0+gabc",
    libraries: dict | None = None,
    extra: dict | None = None,
    summary_drops: tuple[str, ...] = (),
) -> dict:
    """A trained run's ``model.pt`` (weights of ``epoch``) and summary; returns the rule's run entry."""
    run_dir = Path(layout.model_run_dir(results, model, split, stage))
    torch.manual_seed(seed + split)
    network = torch.nn.Linear(2, 1)
    identity = {"model_name": model, "split": split, "stage": stage, "model_config": CONFIGS[model]}
    save_checkpoint(
        run_dir / layout.MODEL_FILE,
        network,
        torch.optim.SGD(network.parameters(), lr=0.1),
        None,
        epoch,
        0.5,
        TrainingSettings.from_config({"seed": seed}),
        identity if extra is None else extra,
        best_epoch=epoch,
    )
    summary = {
        "model": model,
        "stage": stage,
        "split": split,
        "best_epoch": epoch,
        "last_epoch": last_epoch,
        "code_version": code,
        "libraries": OLD_LIBRARIES if libraries is None else libraries,
    }
    summary = {k: v for k, v in summary.items() if k not in summary_drops}
    (run_dir / layout.TRAINING_SUMMARY).write_text(json.dumps(summary))
    return {
        "model": model,
        "split": split,
        "stage": stage,
        "checkpoint": str(run_dir / layout.MODEL_FILE),
        "summary": str(run_dir / layout.TRAINING_SUMMARY),
    }


@pytest.fixture
def study(tmp_path):
    """Two splits of a cascade (seed 7) and of a single-stage model (seed 3); split 1 of the latter
    trained by newer code with more libraries, its weights from epoch 2 of 4."""
    results = tmp_path / "results"
    runs = [
        write_run(results, "cascade", split, stage, seed=7) for split in (0, 1) for stage in STAGES["cascade"]
    ]
    runs.append(write_run(results, "single", 0, "lesion", seed=3))
    runs.append(
        write_run(
            results,
            "single",
            1,
            "lesion",
            seed=3,
            epoch=2,
            last_epoch=4,
            code="0.2.0",
            libraries=NEW_LIBRARIES,
        )
    )
    return results, runs


def canonical_sha256(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def test_one_row_per_run_with_its_files_values_and_digests(study, tmp_path):
    results, runs = study
    out = tmp_path / "provenance.tsv"
    jobs.provenance_table(runs, results, out)
    table = pd.read_csv(out, sep="\t", dtype=str, keep_default_na=False)
    # The fixed columns, then the libraries in the order library_versions() gives them, then others.
    assert list(table.columns) == [*COLUMNS, "python", "torch", "numpy", "onnx", "zstd"]
    assert list(zip(table.model, table.split, table.stage)) == [
        (r["model"], str(r["split"]), r["stage"]) for r in runs
    ]
    for row, run in zip(table.itertuples(), runs):
        assert row.checkpoint == f"models/{run['model']}/split-{run['split']}/{run['stage']}/model.pt"
        assert row.checkpoint_sha256 == hashlib.sha256((results / row.checkpoint).read_bytes()).hexdigest()
        assert row.config_sha256 == canonical_sha256(CONFIGS[run["model"]])
    # Every split and stage of a model: one config digest; the runs' weights all differ.
    assert table.groupby("model").config_sha256.nunique().to_dict() == {"cascade": 1, "single": 1}
    assert table.config_sha256.nunique() == 2 and table.checkpoint_sha256.nunique() == len(runs)
    by_run = table.set_index(["model", "split", "stage"])
    assert by_run.loc[("cascade", "1", "cord"), ["seed", "epochs", "best_epoch"]].tolist() == ["7", "5", "3"]
    newer = by_run.loc[("single", "1", "lesion")]
    assert newer[["seed", "epochs", "best_epoch", "code_version"]].tolist() == ["3", "4", "2", "0.2.0"]
    assert newer[["python", "torch", "numpy", "onnx", "zstd"]].tolist() == list(NEW_LIBRARIES.values())
    older = by_run.loc[("single", "0", "lesion")]
    assert older[["code_version", "torch", "onnx", "zstd"]].tolist() == ["0.1.0+gabc", "2.13.0", "n/a", "n/a"]


def test_a_missing_file_names_the_run_and_the_file(study):
    results, runs = study
    Path(runs[1]["summary"]).unlink()
    with pytest.raises(
        ValueError,
        match=r"model cascade, split 0, stage lesion: training summary .*split-0/lesion/training_summary.json not found",
    ):
        provenance_frame(runs, results)
    Path(runs[2]["checkpoint"]).unlink()
    with pytest.raises(
        ValueError, match=r"model cascade, split 1, stage cord: checkpoint .*split-1/cord/model.pt not found"
    ):
        provenance_frame(runs[2:], results)


def test_a_summary_without_a_key_names_the_run_the_file_and_the_key(tmp_path):
    run = write_run(tmp_path, "single", 2, "lesion", summary_drops=("last_epoch",))
    with pytest.raises(
        ValueError,
        match=r"model single, split 2, stage lesion: training summary .*training_summary.json lacks \['last_epoch'\]",
    ):
        provenance_frame([run], tmp_path)


def test_an_older_summary_takes_the_versions_its_checkpoint_recorded(tmp_path):
    # Runs trained before the summary recorded code and library versions: their checkpoints name
    # spinetumor, torch and monai; the other libraries are unknown (n/a), not this machine's.
    import monai

    import spinetumor

    run = write_run(tmp_path, "single", 0, "lesion", summary_drops=("code_version", "libraries"))
    row = provenance_frame([run], tmp_path).iloc[0]
    assert row["code_version"] == spinetumor.__version__
    assert (row["torch"], row["monai"]) == (torch.__version__, monai.__version__)
    assert "numpy" not in row.index


def test_a_checkpoint_without_its_config_or_of_another_run_is_refused(tmp_path):
    config_less = write_run(
        tmp_path, "single", 0, "lesion", extra={"model_name": "single", "split": 0, "stage": "lesion"}
    )
    with pytest.raises(
        ValueError,
        match=r"model single, split 0, stage lesion: checkpoint .*model.pt \(extra\) lacks \['model_config'\]",
    ):
        provenance_frame([config_less], tmp_path)
    moved = write_run(tmp_path, "cascade", 1, "cord")
    with pytest.raises(
        ValueError,
        match=r"model cascade, split 0, stage cord: checkpoint .* holds model cascade, split 1, stage cord",
    ):
        provenance_frame([{**moved, "split": 0}], tmp_path)
    Path(config_less["checkpoint"]).write_bytes(b"not a checkpoint")
    with pytest.raises(
        ValueError, match=r"model single, split 0, stage lesion: cannot read checkpoint .*model.pt"
    ):
        provenance_frame([config_less], tmp_path)


def test_a_checkpoint_outside_the_results_folder_is_refused(study, tmp_path):
    _, runs = study
    with pytest.raises(
        ValueError, match=r"checkpoint .*model.pt is not under the results folder .*elsewhere"
    ):
        provenance_frame(runs[:1], tmp_path / "elsewhere")
