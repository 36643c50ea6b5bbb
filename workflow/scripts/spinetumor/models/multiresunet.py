"""MultiResUNet (Ibtehaz & Rahman 2020), the 2-D network of Zhuo et al. (2022), run slice by slice.

MONAI has no MultiResUNet, so it is written here, compactly, as published:

* a **MultiRes block** of ``U`` filters replaces the two 3x3 convolutions of
  a U-Net level: with ``W = alpha * U`` (``alpha`` = 1.67), three chained 3x3
  convolutions of ``W/6``, ``W/3`` and ``W/2`` filters (a cheap stand-in for
  3x3, 5x5 and 7x7 kernels) are concatenated, batch-normalised and added to a
  1x1 convolution of the block's input (a residual), then ReLU and batch norm;
* a **Res path** carries each encoder level's features to the decoder through
  ``depth - level`` residual 3x3 convolutions (4 at the first level, 1 at the
  last), to narrow the semantic gap between encoder and decoder features;
* the encoder halves the slice with 2x2 max pooling ``depth`` times (4 in the
  paper), doubling ``U`` per level from ``filters`` (32 in the paper); the
  decoder upsamples with 2x2 transposed convolutions; a 1x1 convolution gives
  one logit map per output channel (the paper's sigmoid is the loss's and
  the post-processing's).

:class:`SliceWise` runs a 2-D network on each slice of a 3-D volume along one
axis and stacks the slices back: ``(B, C, X, Y, Z)`` with ``slice_axis`` 2
becomes ``B * Z`` images of ``X x Y``. On the project's ``SAR`` grids axis 2
is right-left, so the slices are sagittal, as Zhuo et al. segment them. Each
slice is segmented on its own (in eval mode, batch norm uses its running
statistics, so a slice's output does not depend on its neighbours), which
lets the 3-D training, sliding-window inference and post-processing of the
other models serve the 2-D one unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MultiResUNet", "SliceWise", "block_width"]


def block_width(filters: int, alpha: float) -> tuple[int, int, int]:
    """The widths of a MultiRes block's three chained convolutions, about ``W/6``, ``W/3``, ``W/2`` of ``W = alpha * U``.

    As the authors' implementation computes them: ``int(W * 0.167)``, ``int(W * 0.333)``, ``int(W * 0.5)``.
    """
    width = alpha * filters
    return int(width * 0.167), int(width * 0.333), int(width * 0.5)


def _conv_bn(cin: int, cout: int, kernel: int, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, padding=kernel // 2), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class MultiResBlock(nn.Module):
    """Three chained 3x3 convolutions, concatenated, plus a 1x1 residual."""

    def __init__(self, cin: int, filters: int, alpha: float) -> None:
        super().__init__()
        a, b, c = block_width(filters, alpha)
        if min(a, b, c) < 1:
            raise ValueError(
                f"a MultiRes block of {filters} filters (alpha {alpha}) has a convolution of no filter"
            )
        self.out_channels = a + b + c
        self.shortcut = _conv_bn(cin, self.out_channels, 1, act=False)
        self.conv3, self.conv5, self.conv7 = _conv_bn(cin, a, 3), _conv_bn(a, b, 3), _conv_bn(b, c, 3)
        self.norm_cat = nn.BatchNorm2d(self.out_channels)
        self.norm_out = nn.BatchNorm2d(self.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv3(x)
        b = self.conv5(a)
        c = self.conv7(b)
        out = self.norm_cat(torch.cat([a, b, c], dim=1)) + self.shortcut(x)
        return self.norm_out(torch.relu(out))


class ResPath(nn.Module):
    """``length`` residual 3x3 convolutions on a skip connection."""

    def __init__(self, channels: int, length: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(_conv_bn(channels, channels, 3) for _ in range(length))
        self.shortcuts = nn.ModuleList(_conv_bn(channels, channels, 1, act=False) for _ in range(length))
        self.norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(length))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, shortcut, norm in zip(self.convs, self.shortcuts, self.norms, strict=True):
            x = norm(torch.relu(conv(x) + shortcut(x)))
        return x


class MultiResUNet(nn.Module):
    """The 2-D MultiResUNet: ``depth`` poolings, ``filters * 2**level`` per level.

    Args:
        in_channels: Input channels (contrasts).
        out_channels: Output channels (logits).
        filters: ``U`` of the first level (the paper: 32).
        alpha: Width multiplier of the MultiRes blocks (the paper: 1.67).
        depth: Number of poolings (the paper: 4); a slice's sides must be multiples of ``2**depth``.
        dropout: Dropout before the last convolution (not in the paper: 0).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        filters: int = 32,
        alpha: float = 1.67,
        depth: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.encoders, self.paths = nn.ModuleList(), nn.ModuleList()
        cin, skip_channels = in_channels, []
        for level in range(depth):
            block = MultiResBlock(cin, filters * 2**level, alpha)
            self.encoders.append(block)
            self.paths.append(ResPath(block.out_channels, depth - level))
            cin = block.out_channels
            skip_channels.append(cin)
        self.bottom = MultiResBlock(cin, filters * 2**depth, alpha)
        cin = self.bottom.out_channels
        self.ups, self.decoders = nn.ModuleList(), nn.ModuleList()
        for level in reversed(range(depth)):
            up_channels = filters * 2**level
            self.ups.append(nn.ConvTranspose2d(cin, up_channels, 2, stride=2))
            block = MultiResBlock(up_channels + skip_channels[level], up_channels, alpha)
            self.decoders.append(block)
            cin = block.out_channels
        self.dropout = nn.Dropout2d(dropout) if dropout else nn.Identity()
        self.head = nn.Conv2d(cin, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for encoder, path in zip(self.encoders, self.paths, strict=True):
            x = encoder(x)
            skips.append(path(x))
            x = nn.functional.max_pool2d(x, 2)
        x = self.bottom(x)
        for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips), strict=True):
            x = decoder(torch.cat([up(x), skip], dim=1))
        return self.head(self.dropout(x))


class SliceWise(nn.Module):
    """Run a 2-D network on every slice of a 3-D batch along ``slice_axis`` (0-2) and stack them back.

    Args:
        net: A 2-D network (``N, C, H, W`` in and out).
        slice_axis: Spatial axis of the slices: 2 is right-left on a ``SAR`` grid (sagittal slices).
    """

    def __init__(self, net: nn.Module, slice_axis: int = 2) -> None:
        super().__init__()
        if slice_axis not in (0, 1, 2):
            raise ValueError(f"slice_axis must be 0, 1 or 2, got {slice_axis!r}")
        self.net, self.slice_axis = net, slice_axis

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            raise ValueError(f"SliceWise takes B, C, X, Y, Z volumes, got shape {tuple(x.shape)}")
        axis = 2 + self.slice_axis
        moved = x.movedim(axis, 1)  # B, S, C, H, W
        b, s = moved.shape[:2]
        out = self.net(moved.reshape(b * s, *moved.shape[2:]))
        return out.reshape(b, s, *out.shape[1:]).movedim(1, axis)
