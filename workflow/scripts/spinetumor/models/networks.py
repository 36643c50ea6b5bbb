"""The segmentation networks, built with MONAI from a network spec (:mod:`spinetumor.models.spec`).

In training mode a deeply supervised ``DynUNet`` returns its heads stacked on
dimension 1 (``B, heads, C, X, Y, Z``), all upsampled to the output size; in
eval mode it returns the main head only.
:class:`spinetumor.models.losses.DeepSupervisionDiceLoss` takes either form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from monai.networks.nets import DynUNet, UNet

from spinetumor.models.multiresunet import MultiResUNet, SliceWise
from spinetumor.models.spec import dynunet_filters, resolve_spec

__all__ = ["build_network"]


def build_network(spec: Mapping[str, Any]) -> torch.nn.Module:
    """Build the segmentation network of 3-D volumes that ``spec`` describes.

    Args:
        spec: Network spec (:mod:`spinetumor.models.spec`); defaults are filled in.

    Returns:
        An untrained MONAI ``UNet`` or ``DynUNet``, or a 2-D MultiResUNet run slice by
        slice (:class:`~spinetumor.models.multiresunet.SliceWise`); outputs are logits.

    Raises:
        ValueError: the spec is invalid (see :func:`resolve_spec`).
    """
    spec = resolve_spec(spec)
    if spec["architecture"] == "unet":
        return UNet(
            spatial_dims=3,
            in_channels=spec["in_channels"],
            out_channels=spec["out_channels"],
            channels=spec["channels"],
            strides=spec["strides"],
            kernel_size=spec["kernel_size"],
            up_kernel_size=spec["up_kernel_size"],
            num_res_units=spec["num_res_units"],
            dropout=spec["dropout"],
        )
    if spec["architecture"] == "multiresunet":
        net = MultiResUNet(
            spec["in_channels"],
            spec["out_channels"],
            filters=spec["filters"],
            alpha=spec["alpha"],
            depth=spec["depth"],
            dropout=spec["dropout"],
        )
        return SliceWise(net, spec["slice_axis"])
    return DynUNet(
        spatial_dims=3,
        in_channels=spec["in_channels"],
        out_channels=spec["out_channels"],
        kernel_size=spec["kernel_size"],
        strides=spec["strides"],
        upsample_kernel_size=spec["strides"][1:],
        filters=dynunet_filters(spec),
        dropout=spec["dropout"] or None,
        norm_name=("INSTANCE", {"affine": True}),
        act_name=("leakyrelu", {"inplace": True, "negative_slope": 0.01}),
        deep_supervision=spec["deep_supervision"],
        deep_supr_num=spec["deep_supr_num"],
        res_block=spec["res_block"],
    )
