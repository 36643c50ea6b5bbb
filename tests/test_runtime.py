"""The one place that picks the device and the torch threads (spinetumor.runtime)."""

from __future__ import annotations

import pytest
import torch

from spinetumor.runtime import autocast, model_device, pick_device, torch_threads


def test_pick_device_takes_what_is_asked_else_the_gpu_when_visible(monkeypatch):
    assert pick_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device(None) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device(None) == torch.device("cuda")
    assert pick_device("") == torch.device("cuda")


def test_torch_threads_are_restored_even_after_an_error():
    before = torch.get_num_threads()
    wanted = 1 if before != 1 else 2
    with torch_threads(wanted):
        assert torch.get_num_threads() == wanted
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(wanted):
        raise RuntimeError("job failed")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_model_device_and_autocast():
    assert model_device(torch.nn.Conv3d(1, 1, 1)) == torch.device("cpu")
    assert model_device(torch.nn.Identity()) == torch.device("cpu")  # no parameters
    with autocast(torch.device("cpu"), None):
        assert not torch.is_autocast_enabled("cpu")
    with autocast(torch.device("cpu"), torch.bfloat16):
        assert torch.is_autocast_enabled("cpu")
