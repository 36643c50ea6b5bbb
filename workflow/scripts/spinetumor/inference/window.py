"""The one sliding window: validation Dice during training and test-time prediction both use it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from monai.inferers import sliding_window_inference

from spinetumor.runtime import autocast, model_device

__all__ = ["sliding_window"]


def _probabilities(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    output = model(batch)
    # Deep-supervision networks may return (main, *auxiliary); only the main head counts.
    if isinstance(output, (tuple, list)):
        output = output[0]
    return torch.sigmoid(output.float())


# Over 60 lines only through its docstring (the window contract both training and prediction rely on).
def sliding_window(
    model: torch.nn.Module,
    image: np.ndarray,
    patch_size: Sequence[int] | None,
    overlap: float | Sequence[float] = 0.5,
    batch_size: int = 1,
    device: str | torch.device | None = None,
    mode: str = "constant",
    amp_dtype: torch.dtype | None = None,
) -> np.ndarray:
    """Sigmoid probabilities of ``model`` over ``image``, patch by patch.

    Each window's logits go through a sigmoid before the overlaps are blended,
    so ``mode="constant"`` averages patch *probabilities* (Lemay et al.'s
    rule). Windows step by ``int(patch * (1 - overlap))``; the last one is
    aligned on the far edge; an image smaller than a patch is zero-padded (and
    the padding cut off again). The model runs in eval mode under
    ``torch.inference_mode``; its mode is restored afterwards.

    Args:
        model: Network mapping ``(B, C, *patch)`` to ``(B, K, *patch)`` logits.
        image: ``(C, X, Y, Z)`` array.
        patch_size: Window shape; None = the whole image in one window.
        overlap: Fraction of a window shared with its neighbour, per axis or for all.
        batch_size: Windows per forward pass.
        device: Where the model runs; None = where its parameters are. The
            blended output stays on the CPU.
        mode: MONAI blend mode, ``"constant"`` or ``"gaussian"``.
        amp_dtype: Autocast dtype of the forward passes, or None (float32).

    Returns:
        ``(K, X, Y, Z)`` float32 probabilities.

    Raises:
        ValueError: ``image`` is not 4D.
    """
    image = np.asarray(image)
    if image.ndim != 4:
        raise ValueError(f"sliding_window expects a (C, X, Y, Z) image, got shape {image.shape}")
    roi = tuple(image.shape[1:]) if patch_size is None else tuple(int(n) for n in patch_size)
    device = torch.device(device) if device is not None else model_device(model)
    inputs = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None]

    def predictor(batch: torch.Tensor) -> torch.Tensor:
        with autocast(device, amp_dtype):
            return _probabilities(model, batch)

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            probs = sliding_window_inference(
                inputs,
                roi_size=roi,
                sw_batch_size=batch_size,
                predictor=predictor,
                overlap=overlap,
                mode=mode,
                padding_mode="constant",
                cval=0.0,
                sw_device=device,
                device=torch.device("cpu"),
            )
    finally:
        model.train(was_training)
    return torch.as_tensor(probs)[0].float().numpy()
