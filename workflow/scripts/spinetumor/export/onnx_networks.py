"""ONNX networks in an exported model folder, and running them with ONNX Runtime.

:func:`export_onnx` writes ``models/split-K/STAGE.onnx`` beside each fold's
weights (spatial axes dynamic, so the cascade's window fitted to the cord's
box runs as it is), checks that ONNX Runtime's logits match PyTorch's on a
random patch, and rewrites the manifest. :class:`OnnxNetwork` stands in for a
torch network in the study's own prediction code (it returns the logits as a
tensor), so ``spinetumor predict --onnx`` differs only in the runtime.

The networks go through PyTorch's TorchScript-based exporter
(``dynamo=False``): it keeps the spatial axes dynamic with a DynUNet in
seconds, where the dynamo exporter took a minute per network here.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spinetumor.export import bundle
from spinetumor.export.folder import ExportedModel, open_model
from spinetumor.export.manifest import write_manifest

__all__ = ["OPSET", "TOLERANCE", "OnnxNetwork", "export_onnx", "onnx_path"]

logger = logging.getLogger(__name__)

#: ONNX opset of the exported networks.
OPSET = 18
#: Largest difference in logits between ONNX Runtime and PyTorch accepted at export.
TOLERANCE = 1e-3


def onnx_path(model: ExportedModel, fold: int, stage: str) -> Path:
    """Where one fold's ONNX network of one stage lies in the folder."""
    return model.root / bundle.onnx_weights_path(fold, stage)


class OnnxNetwork(torch.nn.Module):
    """An ONNX network run by ONNX Runtime on the CPU, called like the torch network it was exported from."""

    def __init__(self, path: str | os.PathLike[str], threads: int | None = None) -> None:
        super().__init__()
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        return torch.from_numpy(self.session.run(None, {self.input: image})[0])


def _export_one(network: torch.nn.Module, example: torch.Tensor, dest: Path) -> float:
    """Export ``network`` to ``dest`` and return the largest logit difference ONNX Runtime makes on ``example``."""
    axes = {0: "batch", 2: "x", 3: "y", 4: "z"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notices
        torch.onnx.export(
            network,
            (example,),
            str(dest),
            dynamo=False,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": axes, "logits": axes},
            opset_version=OPSET,
        )
    with torch.inference_mode():
        expected = network(example).numpy()
    return float(np.abs(OnnxNetwork(dest)(example).numpy() - expected).max())


def export_onnx(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Add an ONNX network beside every fold's weights of an exported model folder.

    Returns:
        The folder's new manifest.

    Raises:
        ModelFolderError: the folder fails its manifest.
        ValueError: ONNX Runtime's logits differ from PyTorch's by more than :data:`TOLERANCE`.
    """
    from spinetumor.inference.jobs import load_trained  # torch networks, only here

    model = open_model(folder)
    generator = torch.Generator().manual_seed(0)
    for fold in model.folds:
        for stage in model.stages:
            network, ckpt = load_trained(model.weights(fold, stage), "cpu")
            patch = ckpt["settings"]["patch_size"]
            example = torch.randn(1, network_inputs(ckpt), *patch, generator=generator)
            dest = onnx_path(model, fold, stage)
            difference = _export_one(network, example, dest)
            if difference > TOLERANCE:
                dest.unlink()
                raise ValueError(
                    f"{dest}: ONNX Runtime's logits differ from PyTorch's by {difference:.2e} (> {TOLERANCE})"
                )
            logger.info("fold %d %s: %s (largest logit difference %.1e)", fold, stage, dest.name, difference)
    return write_manifest(model.root)


def network_inputs(ckpt: dict[str, Any]) -> int:
    """The number of input channels of a checkpoint's network."""
    return int(ckpt["extra"]["network"]["in_channels"])
