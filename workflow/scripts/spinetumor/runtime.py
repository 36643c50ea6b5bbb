"""Where torch runs: the one place that picks the device, sets the CPU threads and autocast.

Training, prediction and preprocessing all go through these helpers, so a job
given ``device: null`` lands on the same device whichever stage it runs, and
a job's thread count is restored when it is done.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["autocast", "model_device", "pick_device", "torch_threads"]


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The device asked for, or the GPU when one is visible, else the CPU."""
    if device is not None and device != "":
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def model_device(model: torch.nn.Module) -> torch.device:
    """Where ``model``'s parameters are (the CPU for a model without parameters)."""
    parameter = next(iter(model.parameters()), None)
    return parameter.device if parameter is not None else torch.device("cpu")


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch CPU threads (unchanged when None or 0), then restore them."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def autocast(device: torch.device, amp_dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision on ``device`` with ``amp_dtype``; no change when it is None."""
    if amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=amp_dtype)
