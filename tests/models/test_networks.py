"""Networks from a spec: shapes in training and eval mode, deep supervision."""

from __future__ import annotations

import pytest
import torch
from monai.networks.nets import DynUNet, UNet

from spinetumor.models.networks import build_network
from spinetumor.models.spec import downsampling_factors, resolve_spec
from tests.models.small_specs import SMALL_DYNUNET, SMALL_UNET


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


def test_a_bad_spec_is_refused_before_building():
    with pytest.raises(ValueError, match="unknown key"):
        build_network({**SMALL_UNET, "depth": 3})
