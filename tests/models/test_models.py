"""Networks from config: shapes, deep supervision, spec checks and the loss."""

from __future__ import annotations

import math

import pytest
import torch
from monai.networks.nets import DynUNet, UNet

from spinetumor.models.models import (
    build_loss,
    build_network,
    check_patch_divisible,
    downsampling_factors,
    head_weights,
    resolve_spec,
)

SMALL_UNET = {
    "architecture": "unet",
    "in_channels": 2,
    "out_channels": 3,
    "channels": [8, 16, 32],
    "strides": [2, 2],
}
SMALL_DYNUNET = {
    "architecture": "dynunet",
    "in_channels": 2,
    "out_channels": 3,
    "depth": 2,
    "base_filters": 8,
}


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


def test_unet_output_shape_in_train_and_eval_mode():
    net = build_network(SMALL_UNET)
    x = torch.randn(1, 2, 32, 32, 16)
    assert isinstance(net, UNet)
    assert net(x).shape == (1, 3, 32, 32, 16)
    net.eval()
    assert net(x).shape == (1, 3, 32, 32, 16)


def test_unet_defaults_are_the_stanford_network():
    spec = resolve_spec({"architecture": "unet", "in_channels": 1, "out_channels": 1})
    assert spec["channels"] == [16, 32, 64, 128, 256]
    assert spec["strides"] == [2, 2, 2, 2]
    assert (spec["kernel_size"], spec["up_kernel_size"], spec["num_res_units"]) == (3, 3, 0)
    assert downsampling_factors(spec) == (16, 16, 16)
    assert resolve_spec({**spec, "num_res_units": 2})["num_res_units"] == 2


def test_dynunet_depth4_heads_in_train_mode_and_single_output_in_eval():
    spec = {"architecture": "dynunet", "in_channels": 1, "out_channels": 2, "depth": 4, "base_filters": 8}
    net = build_network(spec)
    assert isinstance(net, DynUNet)
    assert list(net.filters) == [8, 16, 32, 64, 128]  # doubling per level
    x = torch.randn(1, 1, 32, 32, 16)
    net.train()
    # depth 4 -> depth - 2 = 2 auxiliary heads + the main one, stacked on dim 1 at full size.
    assert net(x).shape == (1, 3, 2, 32, 32, 16)
    net.eval()
    assert net(x).shape == (1, 2, 32, 32, 16)


def test_dynunet_defaults_and_filter_cap():
    spec = resolve_spec({"architecture": "dynunet", "in_channels": 2, "out_channels": 4})
    assert spec["strides"] == [1, 2, 2, 2, 2]  # full resolution first, then halving
    assert spec["kernel_size"] == [3, 3, 3, 3, 3]
    assert (spec["depth"], spec["base_filters"], spec["max_filters"]) == (4, 16, 320)
    assert spec["deep_supervision"] is True and spec["deep_supr_num"] == 2
    capped = build_network({**SMALL_DYNUNET, "depth": 4, "max_filters": 20})
    assert list(capped.filters) == [8, 16, 20, 20, 20]


def test_dynunet_small_and_without_deep_supervision():
    net = build_network(SMALL_DYNUNET)
    x = torch.randn(1, 2, 32, 32, 16)
    assert net(x).shape == (1, 2, 3, 32, 32, 16)  # depth 2: one auxiliary head
    plain = build_network({**SMALL_DYNUNET, "deep_supervision": False})
    assert plain(x).shape == (1, 3, 32, 32, 16)


def test_anisotropic_dynunet_infers_depth_from_strides():
    spec = {
        "architecture": "dynunet",
        "in_channels": 1,
        "out_channels": 1,
        "strides": [[1, 1, 1], [2, 2, 1], [2, 2, 2]],
        "kernel_size": [[3, 3, 1], 3, 3],
    }
    resolved = resolve_spec(spec)
    assert resolved["depth"] == 2
    assert downsampling_factors(spec) == (4, 4, 2)
    net = build_network({**spec, "deep_supervision": False})
    assert net(torch.randn(1, 1, 16, 16, 6)).shape == (1, 1, 16, 16, 6)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"architecture": "vnet", "in_channels": 1, "out_channels": 1}, "unknown architecture"),
        ({**SMALL_UNET, "depth": 3}, "unknown key"),
        ({**SMALL_DYNUNET, "channels": [8, 16]}, "unknown key"),
        ({"architecture": "unet", "out_channels": 1}, "in_channels is required"),
        ({**SMALL_UNET, "strides": [2, 2, 2]}, "strides must list 2 entries"),
        ({**SMALL_UNET, "dropout": 1.5}, "dropout"),
        ({**SMALL_UNET, "num_res_units": -1}, "num_res_units"),
        ({**SMALL_DYNUNET, "depth": 1}, "depth >= 2"),
        ({**SMALL_DYNUNET, "deep_supr_num": 2}, "deep_supr_num must be at most"),
        ({**SMALL_DYNUNET, "base_filters": 0}, "base_filters"),
        ({**SMALL_DYNUNET, "strides": [1, 2]}, "strides must list 3 entries"),
    ],
)
def test_bad_specs_are_rejected_with_a_clear_message(spec, message):
    with pytest.raises(ValueError, match=message):
        build_network(spec)


def test_patch_divisibility():
    unet = {"architecture": "unet", "in_channels": 1, "out_channels": 1}
    check_patch_divisible(unet, (128, 128, 32))
    with pytest.raises(ValueError, match=r"not divisible .*\(16, 16, 16\) along axis \[2\]"):
        check_patch_divisible(unet, (128, 128, 24))
    lemay_stage1 = {
        "architecture": "dynunet",
        "in_channels": 1,
        "out_channels": 1,
        "depth": 4,
        "base_filters": 8,
    }
    check_patch_divisible(lemay_stage1, (512, 256, 32))
    with pytest.raises(ValueError, match="3 axes"):
        check_patch_divisible(lemay_stage1, (512, 256))


def test_head_weights_halve_and_sum_to_one():
    assert head_weights(1) == [1.0]
    assert head_weights(3) == pytest.approx([4 / 7, 2 / 7, 1 / 7])
    assert math.fsum(head_weights(5)) == pytest.approx(1.0)


def test_deep_supervision_loss_is_the_weighted_sum_of_head_losses():
    target = torch.zeros(1, 1, 4, 4, 2)
    target[..., :2, :, :] = 1
    perfect = torch.where(target > 0, 20.0, -20.0)
    wrong = -perfect
    loss = build_loss(batch=True, smooth=1.0)
    single_perfect, single_wrong = loss(perfect, target), loss(wrong, target)
    # Dice loss 1 - (2I + 1)/(P + T + 1): ~0 when perfect; 16 target voxels, 16 predicted, I = 0 -> 1 - 1/33.
    assert float(single_perfect) == pytest.approx(0.0, abs=1e-6)
    assert float(single_wrong) == pytest.approx(1 - 1 / 33, abs=1e-6)
    stacked = torch.stack([perfect, wrong], dim=1)  # main head first: weights 2/3, 1/3
    assert float(loss(stacked, target)) == pytest.approx((2 * 0.0 + 1 * (1 - 1 / 33)) / 3, abs=1e-6)
    with pytest.raises(ValueError, match="does not fit"):
        loss(stacked[None], target)
