"""diffusers' ResnetBlock2D, Downsample2D and Upsample2D (shared by the UNet and the VAE)."""

from __future__ import annotations

from tvm.relax.frontend import nn
from tvm.relax.frontend.nn import op

from .common import GroupNorm, conv, linear


class ResnetBlock2D(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, temb_ch: int | None, groups: int, eps: float, dtype: str) -> None:
        self.norm1 = GroupNorm(groups, in_ch, eps, dtype)
        self.conv1 = conv(in_ch, out_ch, 3, dtype, padding=1)
        self.time_emb_proj = linear(temb_ch, out_ch, dtype) if temb_ch is not None else None
        self.norm2 = GroupNorm(groups, out_ch, eps, dtype)
        self.conv2 = conv(out_ch, out_ch, 3, dtype, padding=1)
        self.conv_shortcut = conv(in_ch, out_ch, 1, dtype) if in_ch != out_ch else None

    def forward(self, x: nn.Tensor, temb: nn.Tensor | None) -> nn.Tensor:
        h = self.conv1(op.silu(self.norm1(x)))
        if self.time_emb_proj is not None and temb is not None:
            t = self.time_emb_proj(op.silu(temb))
            h = h + op.reshape(t, [t.shape[0], t.shape[1], 1, 1])
        h = self.conv2(op.silu(self.norm2(h)))
        shortcut = self.conv_shortcut(x) if self.conv_shortcut is not None else x
        return shortcut + h


class Downsample2D(nn.Module):
    """A stride-2 3x3 conv; with padding 0 (the VAE encoder) diffusers pads right and bottom by one first."""

    def __init__(self, ch: int, padding: int, dtype: str) -> None:
        self.padding = padding
        self.conv = conv(ch, ch, 3, dtype, stride=2, padding=padding)

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        if self.padding == 0:
            x = op.pad(x, [0, 0, 0, 0, 0, 1, 0, 1])
        return self.conv(x)


class Upsample2D(nn.Module):
    """Nearest-neighbour 2x (each pixel repeated), then a 3x3 conv."""

    def __init__(self, ch: int, dtype: str) -> None:
        self.conv = conv(ch, ch, 3, dtype, padding=1)

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        # torch's nearest 2x (floor(out / 2)); nn.interpolate's asymmetric mode rounds 0.5 up instead.
        return self.conv(op.repeat(op.repeat(x, 2, axis=2), 2, axis=3))
