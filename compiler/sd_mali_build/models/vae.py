"""diffusers' AutoencoderKL: the decoder (`vae`) and the encoder (`vae_encode`).

`vae(latents [1, C, h, w]) -> float32 [1, H, W, 3]` in 0..255, rounded as diffusers'
image processor does ((x / 2 + 0.5).clamp(0, 1) * 255, round half to even as numpy).
`vae_encode(image [1, 3, H, W] in [-1, 1]) -> float32 [2, C, h, w]`: latent_dist.mean
and latent_dist.std (exp(0.5 * clamp(logvar, -30, 20))), stacked; the host samples.
"""

from __future__ import annotations

from tvm.relax.frontend import nn
from tvm.relax.frontend.nn import op

from ..architecture import VaeConfig
from .blocks import Downsample2D, ResnetBlock2D, Upsample2D
from .common import F32, GroupNorm, attention, cast, clamp, conv, linear

VAE_EPS = 1e-6


class VaeAttention(nn.Module):
    """The mid-block self-attention: one head as wide as the channels, with its own group norm."""

    def __init__(self, ch: int, groups: int, dtype: str) -> None:
        self.group_norm = GroupNorm(groups, ch, VAE_EPS, dtype)
        self.to_q = linear(ch, ch, dtype)
        self.to_k = linear(ch, ch, dtype)
        self.to_v = linear(ch, ch, dtype)
        self.to_out = nn.ModuleList([linear(ch, ch, dtype)])

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        b, c, h, w = x.shape
        hidden = op.reshape(op.permute_dims(self.group_norm(x), [0, 2, 3, 1]), [b, h * w, c])
        out = self.to_out[0](attention(self.to_q(hidden), self.to_k(hidden), self.to_v(hidden), 1))
        return op.permute_dims(op.reshape(out, [b, h, w, c]), [0, 3, 1, 2]) + x


class VaeMidBlock(nn.Module):
    def __init__(self, ch: int, groups: int, dtype: str) -> None:
        self.resnets = nn.ModuleList([ResnetBlock2D(ch, ch, None, groups, VAE_EPS, dtype) for _ in range(2)])
        self.attentions = nn.ModuleList([VaeAttention(ch, groups, dtype)])

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        x = self.resnets[0](x, None)
        x = self.attentions[0](x)
        return self.resnets[1](x, None)


class EncoderBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, layers: int, groups: int, downsample: bool, dtype: str) -> None:
        self.resnets = nn.ModuleList([ResnetBlock2D(in_ch if i == 0 else out_ch, out_ch, None, groups, VAE_EPS, dtype) for i in range(layers)])
        self.downsamplers = nn.ModuleList([Downsample2D(out_ch, 0, dtype)]) if downsample else None

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        for resnet in self.resnets:
            x = resnet(x, None)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
        return x


class DecoderBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, layers: int, groups: int, upsample: bool, dtype: str) -> None:
        self.resnets = nn.ModuleList([ResnetBlock2D(in_ch if i == 0 else out_ch, out_ch, None, groups, VAE_EPS, dtype) for i in range(layers)])
        self.upsamplers = nn.ModuleList([Upsample2D(out_ch, dtype)]) if upsample else None

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        for resnet in self.resnets:
            x = resnet(x, None)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x


class Encoder(nn.Module):
    def __init__(self, cfg: VaeConfig, dtype: str) -> None:
        boc, g = cfg.block_out_channels, cfg.norm_num_groups
        self.conv_in = conv(cfg.in_channels, boc[0], 3, dtype, padding=1)
        blocks = []
        out_ch = boc[0]
        for i in range(len(boc)):
            in_ch, out_ch = out_ch, boc[i]
            blocks.append(EncoderBlock(in_ch, out_ch, cfg.layers_per_block, g, i < len(boc) - 1, dtype))
        self.down_blocks = nn.ModuleList(blocks)
        self.mid_block = VaeMidBlock(boc[-1], g, dtype)
        self.conv_norm_out = GroupNorm(g, boc[-1], VAE_EPS, dtype)
        self.conv_out = conv(boc[-1], 2 * cfg.latent_channels, 3, dtype, padding=1)

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        x = self.conv_in(x)
        for block in self.down_blocks:
            x = block(x)
        x = self.mid_block(x)
        return self.conv_out(op.silu(self.conv_norm_out(x)))


class Decoder(nn.Module):
    def __init__(self, cfg: VaeConfig, dtype: str) -> None:
        boc, g = cfg.block_out_channels, cfg.norm_num_groups
        rev = list(reversed(boc))
        self.conv_in = conv(cfg.latent_channels, rev[0], 3, dtype, padding=1)
        self.mid_block = VaeMidBlock(rev[0], g, dtype)
        blocks = []
        out_ch = rev[0]
        for i in range(len(rev)):
            prev, out_ch = out_ch, rev[i]
            blocks.append(DecoderBlock(prev, out_ch, cfg.layers_per_block + 1, g, i < len(rev) - 1, dtype))
        self.up_blocks = nn.ModuleList(blocks)
        self.conv_norm_out = GroupNorm(g, boc[0], VAE_EPS, dtype)
        self.conv_out = conv(boc[0], cfg.out_channels, 3, dtype, padding=1)

    def forward(self, z: nn.Tensor) -> nn.Tensor:
        x = self.conv_in(z)
        x = self.mid_block(x)
        for block in self.up_blocks:
            x = block(x)
        return self.conv_out(op.silu(self.conv_norm_out(x)))


class VaeDecoder(nn.Module):
    """Parameters `post_quant_conv.*` and `decoder.*`, as in diffusers' AutoencoderKL."""

    def __init__(self, cfg: VaeConfig, dtype: str) -> None:
        self.cfg = cfg
        self.dtype = dtype
        self.post_quant_conv = conv(cfg.latent_channels, cfg.latent_channels, 1, dtype)
        self.decoder = Decoder(cfg, dtype)

    def forward(self, latents: nn.Tensor) -> nn.Tensor:
        z = cast(latents, self.dtype) * (1.0 / self.cfg.scaling_factor)
        image = cast(self.decoder(self.post_quant_conv(z)), F32)
        # diffusers' postprocess: [-1, 1] -> [0, 1] clamped -> x255, rounded (half to even, as numpy).
        image = clamp(image / 2.0 + 0.5, 0.0, 1.0) * 255.0
        image = op.tensor_expr_op(_round_half_even, "round_half_even", [image])
        return op.permute_dims(image, [0, 2, 3, 1])


class VaeEncoder(nn.Module):
    """Parameters `encoder.*` and `quant_conv.*`, as in diffusers' AutoencoderKL."""

    def __init__(self, cfg: VaeConfig, dtype: str) -> None:
        self.cfg = cfg
        self.dtype = dtype
        self.encoder = Encoder(cfg, dtype)
        self.quant_conv = conv(2 * cfg.latent_channels, 2 * cfg.latent_channels, 1, dtype)

    def forward(self, image: nn.Tensor) -> nn.Tensor:
        moments = cast(self.quant_conv(self.encoder(cast(image, self.dtype))), F32)
        mean, logvar = op.chunk(moments, 2, dim=1)
        std = op.exp(clamp(logvar, -30.0, 20.0) * 0.5)
        return op.concat([mean, std], dim=0)


def _round_half_even(x):  # type: ignore[no-untyped-def]
    from tvm import te, tirx

    return te.compute(x.shape, lambda *i: tirx.nearbyint(x(*i)), name="round_half_even")
