"""The 2-D MultiResUNet of Zhuo et al. (2022) and its slice-by-slice wrapper."""

import pytest
import torch

from spinetumor.models.multiresunet import MultiResBlock, MultiResUNet, SliceWise, block_width
from spinetumor.models.networks import build_network
from spinetumor.models.spec import check_patch_divisible, downsampling_factors, resolve_spec


def test_block_widths_are_the_papers_sixth_third_and_half_of_alpha_u():
    # Ibtehaz & Rahman: W = 1.67 U, convolutions of int(0.167 W), int(0.333 W) and int(0.5 W) filters.
    assert block_width(32, 1.67) == (8, 17, 26)
    assert MultiResBlock(1, 32, 1.67).out_channels == 51
    assert block_width(8, 1.67) == (2, 4, 6)
    with pytest.raises(ValueError, match="no filter"):
        MultiResBlock(1, 2, 1.67)


def test_the_papers_network_shapes_and_res_path_lengths():
    torch.manual_seed(0)
    net = MultiResUNet(1, 4)  # filters 32, alpha 1.67, depth 4
    assert [len(p.convs) for p in net.paths] == [4, 3, 2, 1]
    assert [b.out_channels for b in net.encoders] == [51, 105, 212, 426] and net.bottom.out_channels == 853
    out = net.eval()(torch.randn(2, 1, 32, 48))
    assert out.shape == (2, 4, 32, 48)


def _tiny(slice_axis=2, seed=0):
    torch.manual_seed(seed)
    return SliceWise(MultiResUNet(2, 3, filters=6, depth=2), slice_axis).eval()


@pytest.mark.parametrize("slice_axis", [0, 1, 2])
def test_slicewise_segments_each_slice_on_its_own_and_stacks_them_back(slice_axis):
    net = _tiny(slice_axis)
    x = torch.randn(2, 2, 8, 12, 16)
    with torch.no_grad():
        out = net(x)
        assert out.shape == (2, 3, 8, 12, 16)
        for k in (0, 3):
            one = net.net(x.select(2 + slice_axis, k))  # the 2-D network on that slice alone
            assert torch.allclose(out.select(2 + slice_axis, k), one, atol=1e-5)
        # A change in one slice leaves every other slice's output as it was.
        changed = x.clone()
        changed.select(2 + slice_axis, 1).mul_(-3.0)
        diff = (net(changed) - out).abs().amax(dim=(0, 1))
    others = [i for i in range(x.shape[2 + slice_axis]) if i != 1]
    assert diff.select(slice_axis, 1).max() > 1e-3
    assert diff.index_select(slice_axis, torch.tensor(others)).max() == 0


def test_slicewise_refuses_a_wrong_axis_or_shape():
    with pytest.raises(ValueError, match="slice_axis"):
        SliceWise(MultiResUNet(1, 1, filters=6, depth=1), 3)
    with pytest.raises(ValueError, match="B, C, X, Y, Z"):
        _tiny()(torch.randn(1, 2, 8, 8))


def test_spec_defaults_downsampling_and_build():
    spec = resolve_spec({"architecture": "multiresunet", "in_channels": 1, "out_channels": 4})
    assert {k: spec[k] for k in ("filters", "alpha", "depth", "slice_axis", "dropout")} == {
        "filters": 32,
        "alpha": 1.67,
        "depth": 4,
        "slice_axis": 2,
        "dropout": 0.0,
    }
    assert downsampling_factors(spec) == (16, 16, 1)  # no pooling across slices
    check_patch_divisible(spec, (256, 256, 1))
    with pytest.raises(ValueError, match="axis \\[1\\]"):
        check_patch_divisible(spec, (256, 40, 3))
    small = {**spec, "filters": 8, "depth": 3, "slice_axis": 0}
    assert downsampling_factors(small) == (1, 8, 8)
    net = build_network(small)
    assert isinstance(net, SliceWise) and net.slice_axis == 0
    assert net.eval()(torch.zeros(1, 1, 3, 16, 24)).shape == (1, 4, 3, 16, 24)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"alpha": 0.1}, "alpha"),
        ({"slice_axis": 3}, "slice_axis"),
        ({"filters": 0}, "filters"),
        ({"strides": [2]}, "unknown key"),
    ],
)
def test_a_bad_multiresunet_spec_is_refused(change, message):
    with pytest.raises(ValueError, match=message):
        resolve_spec({"architecture": "multiresunet", "in_channels": 1, "out_channels": 1, **change})


def test_it_learns_a_bright_square_slice_by_slice():
    # A separable toy: each slice holds a bright square (or none) in noise; a few steps of Adam
    # must segment it, so the 2-D path carries gradients through every block.
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 1, 16, 16, 3, generator=gen) * 0.3
    y = torch.zeros(4, 1, 16, 16, 3)
    y[:, :, 4:10, 5:12, :2] = 1.0  # the third slice of each patch has no square
    x = x + 2.0 * y
    torch.manual_seed(0)
    net = SliceWise(MultiResUNet(1, 1, filters=6, depth=1))
    opt = torch.optim.Adam(net.parameters(), lr=2e-2)
    for _ in range(25):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = net.eval()(x) > 0
    dice = 2 * (pred & (y > 0)).sum() / (pred.sum() + (y > 0).sum())
    assert dice > 0.9 and not pred[..., 2].any()
