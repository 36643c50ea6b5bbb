"""Network specs: defaults, checks with clear messages, downsampling (torch-free)."""

from __future__ import annotations

import pytest

from spinetumor.models.spec import check_patch_divisible, downsampling_factors, dynunet_filters, resolve_spec
from tests.models.small_specs import SMALL_DYNUNET, SMALL_UNET


def test_unet_defaults_are_the_stanford_network():
    spec = resolve_spec({"architecture": "unet", "in_channels": 1, "out_channels": 1})
    assert spec["channels"] == [16, 32, 64, 128, 256]
    assert spec["strides"] == [2, 2, 2, 2]
    assert (spec["kernel_size"], spec["up_kernel_size"], spec["num_res_units"]) == (3, 3, 0)
    assert downsampling_factors(spec) == (16, 16, 16)
    assert resolve_spec({**spec, "num_res_units": 2})["num_res_units"] == 2


def test_dynunet_filters_double_per_level_up_to_the_cap():
    spec = resolve_spec({**SMALL_DYNUNET, "depth": 4})
    assert dynunet_filters(spec) == [8, 16, 32, 64, 128]
    assert dynunet_filters({**spec, "max_filters": 20}) == [8, 16, 20, 20, 20]


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
        resolve_spec(spec)


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
