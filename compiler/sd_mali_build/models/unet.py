"""diffusers' UNet2DConditionModel as SD 1.x configures it, returning the unguided noise prediction.

`unet(latents [1, C, h, w], timestep int32 [], embeddings [B, L, D]) -> float32 [B, C, h, w]`:
the latents are broadcast to the embeddings' batch, so one call serves classifier-free
guidance (B = 2: unconditional, conditional; the host combines them with any scale) and
guidance-free sampling such as LCM (B = 1).
"""

from __future__ import annotations

from tvm.relax.frontend import nn
from tvm.relax.frontend.nn import op

from ..architecture import UNetConfig
from .blocks import Downsample2D, ResnetBlock2D, Upsample2D
from .common import F32, GroupNorm, LayerNorm, attention, cast, conv, linear


class CrossAttention(nn.Module):
    def __init__(self, query_dim: int, context_dim: int, heads: int, dtype: str) -> None:
        self.heads = heads
        self.to_q = linear(query_dim, query_dim, dtype, bias=False)
        self.to_k = linear(context_dim, query_dim, dtype, bias=False)
        self.to_v = linear(context_dim, query_dim, dtype, bias=False)
        self.to_out = nn.ModuleList([linear(query_dim, query_dim, dtype)])

    def forward(self, x: nn.Tensor, context: nn.Tensor | None) -> nn.Tensor:
        ctx = x if context is None else context
        return self.to_out[0](attention(self.to_q(x), self.to_k(ctx), self.to_v(ctx), self.heads))


class GEGLU(nn.Module):
    def __init__(self, dim: int, inner: int, dtype: str) -> None:
        self.proj = linear(dim, inner * 2, dtype)

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        hidden, gate = op.chunk(self.proj(x), 2, dim=-1)
        return hidden * op.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, dtype: str) -> None:
        # diffusers' names: net.0 is the GEGLU projection, net.1 dropout, net.2 the output.
        self.net = nn.ModuleList([GEGLU(dim, dim * 4, dtype), nn.modules.Identity(), linear(dim * 4, dim, dtype)])

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        return self.net[2](self.net[0](x))


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim: int, context_dim: int, heads: int, dtype: str) -> None:
        self.norm1 = LayerNorm(dim, 1e-5, dtype)
        self.attn1 = CrossAttention(dim, dim, heads, dtype)
        self.norm2 = LayerNorm(dim, 1e-5, dtype)
        self.attn2 = CrossAttention(dim, context_dim, heads, dtype)
        self.norm3 = LayerNorm(dim, 1e-5, dtype)
        self.ff = FeedForward(dim, dtype)

    def forward(self, x: nn.Tensor, context: nn.Tensor) -> nn.Tensor:
        x = x + self.attn1(self.norm1(x), None)
        x = x + self.attn2(self.norm2(x), context)
        return x + self.ff(self.norm3(x))


class Transformer2DModel(nn.Module):
    def __init__(self, ch: int, heads: int, cfg: UNetConfig, dtype: str) -> None:
        self.linear_projection = cfg.use_linear_projection
        self.norm = GroupNorm(cfg.norm_num_groups, ch, 1e-6, dtype)
        self.proj_in = linear(ch, ch, dtype) if self.linear_projection else conv(ch, ch, 1, dtype)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(ch, cfg.cross_attention_dim, heads, dtype)])
        self.proj_out = linear(ch, ch, dtype) if self.linear_projection else conv(ch, ch, 1, dtype)

    def forward(self, x: nn.Tensor, context: nn.Tensor) -> nn.Tensor:
        b, c, h, w = x.shape
        hidden = self.norm(x)
        if not self.linear_projection:
            hidden = self.proj_in(hidden)
        hidden = op.reshape(op.permute_dims(hidden, [0, 2, 3, 1]), [b, h * w, c])
        if self.linear_projection:
            hidden = self.proj_in(hidden)
        for block in self.transformer_blocks:
            hidden = block(hidden, context)
        if self.linear_projection:
            hidden = self.proj_out(hidden)
        hidden = op.permute_dims(op.reshape(hidden, [b, h, w, c]), [0, 3, 1, 2])
        if not self.linear_projection:
            hidden = self.proj_out(hidden)
        return hidden + x


class DownBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, temb: int, heads: int, attn: bool, downsample: bool, cfg: UNetConfig, dtype: str) -> None:
        n = cfg.layers_per_block
        g, eps = cfg.norm_num_groups, cfg.norm_eps
        self.resnets = nn.ModuleList([ResnetBlock2D(in_ch if i == 0 else out_ch, out_ch, temb, g, eps, dtype) for i in range(n)])
        self.attentions = nn.ModuleList([Transformer2DModel(out_ch, heads, cfg, dtype) for _ in range(n)]) if attn else None
        self.downsamplers = nn.ModuleList([Downsample2D(out_ch, cfg.downsample_padding, dtype)]) if downsample else None

    def forward(self, x: nn.Tensor, temb: nn.Tensor, context: nn.Tensor) -> tuple[nn.Tensor, list[nn.Tensor]]:
        states: list[nn.Tensor] = []
        for i, resnet in enumerate(self.resnets):
            x = resnet(x, temb)
            if self.attentions is not None:
                x = self.attentions[i](x, context)
            states.append(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            states.append(x)
        return x, states


class UpBlock(nn.Module):
    def __init__(self, in_ch: int, prev_ch: int, out_ch: int, temb: int, heads: int, attn: bool, upsample: bool, cfg: UNetConfig, dtype: str) -> None:
        n = cfg.layers_per_block + 1
        g, eps = cfg.norm_num_groups, cfg.norm_eps
        resnets = []
        for i in range(n):
            skip = in_ch if i == n - 1 else out_ch
            res_in = prev_ch if i == 0 else out_ch
            resnets.append(ResnetBlock2D(res_in + skip, out_ch, temb, g, eps, dtype))
        self.resnets = nn.ModuleList(resnets)
        self.attentions = nn.ModuleList([Transformer2DModel(out_ch, heads, cfg, dtype) for _ in range(n)]) if attn else None
        self.upsamplers = nn.ModuleList([Upsample2D(out_ch, dtype)]) if upsample else None

    def forward(self, x: nn.Tensor, skips: list[nn.Tensor], temb: nn.Tensor, context: nn.Tensor) -> nn.Tensor:
        for i, resnet in enumerate(self.resnets):
            x = resnet(op.concat([x, skips.pop()], dim=1), temb)
            if self.attentions is not None:
                x = self.attentions[i](x, context)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x


class MidBlock(nn.Module):
    def __init__(self, ch: int, temb: int, heads: int, cfg: UNetConfig, dtype: str) -> None:
        g, eps = cfg.norm_num_groups, cfg.norm_eps
        self.resnets = nn.ModuleList([ResnetBlock2D(ch, ch, temb, g, eps, dtype), ResnetBlock2D(ch, ch, temb, g, eps, dtype)])
        self.attentions = nn.ModuleList([Transformer2DModel(ch, heads, cfg, dtype)])

    def forward(self, x: nn.Tensor, temb: nn.Tensor, context: nn.Tensor) -> nn.Tensor:
        x = self.resnets[0](x, temb)
        x = self.attentions[0](x, context)
        return self.resnets[1](x, temb)


class TimestepEmbedding(nn.Module):
    def __init__(self, in_ch: int, dim: int, dtype: str) -> None:
        self.linear_1 = linear(in_ch, dim, dtype)
        self.linear_2 = linear(dim, dim, dtype)

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        return self.linear_2(op.silu(self.linear_1(x)))


class UNet2DConditionModel(nn.Module):
    def __init__(self, cfg: UNetConfig, dtype: str) -> None:
        self.cfg = cfg
        self.dtype = dtype
        boc = cfg.block_out_channels
        temb = boc[0] * 4
        self.time_embedding = TimestepEmbedding(boc[0], temb, dtype)
        self.conv_in = conv(cfg.in_channels, boc[0], 3, dtype, padding=1)
        down = []
        out_ch = boc[0]
        for i, kind in enumerate(cfg.down_block_types):
            in_ch, out_ch = out_ch, boc[i]
            down.append(DownBlock(in_ch, out_ch, temb, cfg.attention_heads[i], kind.startswith("CrossAttn"), i < len(boc) - 1, cfg, dtype))
        self.down_blocks = nn.ModuleList(down)
        self.mid_block = MidBlock(boc[-1], temb, cfg.attention_heads[-1], cfg, dtype)
        rev = list(reversed(boc))
        rev_heads = list(reversed(cfg.attention_heads))
        up = []
        out_ch = rev[0]
        for i, kind in enumerate(cfg.up_block_types):
            prev, out_ch = out_ch, rev[i]
            in_ch = rev[min(i + 1, len(boc) - 1)]
            up.append(UpBlock(in_ch, prev, out_ch, temb, rev_heads[i], kind.startswith("CrossAttn"), i < len(boc) - 1, cfg, dtype))
        self.up_blocks = nn.ModuleList(up)
        self.conv_norm_out = GroupNorm(cfg.norm_num_groups, boc[0], cfg.norm_eps, dtype)
        self.conv_out = conv(boc[0], cfg.out_channels, 3, dtype, padding=1)

    def forward(self, latents: nn.Tensor, timestep: nn.Tensor, embeddings: nn.Tensor) -> nn.Tensor:
        batch = embeddings.shape[0]
        _, c, h, w = latents.shape
        x = op.broadcast_to(cast(latents, self.dtype), [batch, c, h, w])
        context = cast(embeddings, self.dtype)
        # The sinusoidal embedding in float32 (diffusers' Timesteps), then the weights' dtype.
        steps = op.broadcast_to(op.reshape(timestep, [1]), [batch])
        t_emb = op.get_timestep_embedding(steps, self.cfg.block_out_channels[0], self.cfg.flip_sin_to_cos, self.cfg.freq_shift)
        temb = self.time_embedding(cast(t_emb, self.dtype))

        x = self.conv_in(x)
        skips: list[nn.Tensor] = [x]
        for block in self.down_blocks:
            x, states = block(x, temb, context)
            skips.extend(states)
        x = self.mid_block(x, temb, context)
        for block in self.up_blocks:
            x = block(x, skips, temb, context)
        x = self.conv_out(op.silu(self.conv_norm_out(x)))
        return cast(x, F32)
