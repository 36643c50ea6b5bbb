"""Checkpoints: written atomically, read back with weights_only."""

from __future__ import annotations

from pathlib import Path

import torch

from spinetumor.training.checkpoints import load_checkpoint, save_checkpoint
from spinetumor.training.settings import TrainingSettings


def test_checkpoint_round_trip_is_weights_only(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Conv3d(2, 1, 3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
    model(torch.randn(1, 2, 4, 4, 4)).sum().backward()
    optimizer.step()
    scheduler.step()
    settings = TrainingSettings.from_config({"seed": 7})
    path = save_checkpoint(
        tmp_path / "c.pt",
        model,
        optimizer,
        scheduler,
        3,
        0.5,
        settings,
        {"split": 2, "data": Path("/x"), "shape": (1, 2)},
        best_epoch=2,
    )
    raw = torch.load(path, weights_only=True)
    assert (raw["epoch"], raw["best_metric"], raw["best_epoch"], raw["seed"]) == (3, 0.5, 2, 7)
    assert raw["settings"]["patch_size"] == [128, 128, 32]
    assert raw["extra"] == {"split": 2, "data": "/x", "shape": [1, 2]}
    fresh = torch.nn.Conv3d(2, 1, 3)
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=1e-3)
    fresh_sched = torch.optim.lr_scheduler.CosineAnnealingLR(fresh_opt, T_max=10)
    load_checkpoint(path, fresh, fresh_opt, fresh_sched)
    torch.testing.assert_close(fresh.weight, model.weight)
    assert fresh_sched.last_epoch == 1 and fresh_opt.state_dict()["state"][0]["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left behind
