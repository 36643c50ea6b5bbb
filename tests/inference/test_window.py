"""The one sliding window (spinetumor.inference.window): validation during training and prediction use it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spinetumor.inference.window import sliding_window


class Recorder(torch.nn.Module):
    """Wraps a network and records each batch's shape and the mode it ran in."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.shapes: list[tuple[int, ...]] = []
        self.modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        self.modes.append(self.training)
        return self.inner(x)


class WindowMean(torch.nn.Module):
    """Logit = the mean of the window, everywhere in it: different per window."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2, 3, 4), keepdim=True).expand(-1, 1, *x.shape[2:])


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + np.exp(-x))


def test_sliding_window_averages_patch_probabilities():
    image = np.zeros((1, 8, 2, 2), dtype=np.float32)
    image[0, 4:] = 4.0
    # Windows of 4 at stride 2 start at 0, 2, 4 with means 0, 2, 4.
    probs = sliding_window(WindowMean(), image, (4, 2, 2), overlap=0.5, batch_size=2)
    expected = [
        sigmoid(0),
        sigmoid(0),
        (sigmoid(0) + sigmoid(2)) / 2,
        (sigmoid(0) + sigmoid(2)) / 2,
        (sigmoid(2) + sigmoid(4)) / 2,
        (sigmoid(2) + sigmoid(4)) / 2,
        sigmoid(4),
        sigmoid(4),
    ]
    np.testing.assert_allclose(probs[0, :, 0, 0], expected, rtol=1e-5)


def test_sliding_window_shapes_and_single_window():
    recorder = Recorder(torch.nn.Conv3d(2, 3, 1))
    image = np.random.default_rng(0).normal(size=(2, 12, 10, 6)).astype(np.float32)
    probs = sliding_window(recorder, image, None)
    assert probs.shape == (3, 12, 10, 6) and probs.dtype == np.float32
    assert recorder.shapes == [(1, 2, 12, 10, 6)]
    assert ((probs > 0) & (probs < 1)).all()
    recorder.shapes.clear()
    sliding_window(recorder, image, (4, 10, 6), overlap=0.5, batch_size=8)
    assert recorder.shapes == [(5, 2, 4, 10, 6)]  # starts 0, 2, 4, 6, 8 in one batch
    # Every window runs in eval mode; the model's own mode is given back afterwards.
    assert set(recorder.modes) == {False} and recorder.training
    recorder.eval()
    sliding_window(recorder, image, None)
    assert not recorder.training


def test_sliding_window_uses_the_main_head_of_deep_supervision():
    class TwoHeads(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x, -x

    image = np.full((1, 4, 4, 4), 3.0, dtype=np.float32)
    np.testing.assert_allclose(sliding_window(TwoHeads(), image, None), sigmoid(3.0), rtol=1e-6)


def test_sliding_window_rejects_a_3d_image():
    with pytest.raises(ValueError, match="C, X, Y, Z"):
        sliding_window(torch.nn.Identity(), np.zeros((4, 4, 4), np.float32), None)


def test_sliding_window_stitches_overlapping_patches_exactly():
    # A 1x1x1 convolution with weight 1: the probability is sigmoid(input) wherever the window sits.
    model = torch.nn.Conv3d(1, 1, kernel_size=1)
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.bias.zero_()
    image = np.random.default_rng(0).normal(size=(1, 20, 18, 6)).astype(np.float32)
    prob = sliding_window(model, image, (8, 8, 4), overlap=0.5, batch_size=3, device="cpu")
    assert prob.shape == (1, 20, 18, 6)
    np.testing.assert_allclose(prob, 1 / (1 + np.exp(-image)), rtol=1e-5)
    small = sliding_window(model, image[:, :5, :5, :3], (8, 8, 4), device="cpu")  # padded, then cut back
    np.testing.assert_allclose(small, 1 / (1 + np.exp(-image[:, :5, :5, :3])), rtol=1e-5)
