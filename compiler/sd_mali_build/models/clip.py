"""CLIP's text transformer (transformers' CLIPTextModel), last_hidden_state as SD 1.x uses it."""

from __future__ import annotations

import numpy as np
from tvm.relax.frontend import nn
from tvm.relax.frontend.nn import op

from ..architecture import ClipConfig
from .common import F32, LayerNorm, attention, cast, linear


class ClipAttention(nn.Module):
    def __init__(self, cfg: ClipConfig, dtype: str) -> None:
        h = cfg.hidden_size
        self.heads = cfg.num_attention_heads
        self.q_proj = linear(h, h, dtype)
        self.k_proj = linear(h, h, dtype)
        self.v_proj = linear(h, h, dtype)
        self.out_proj = linear(h, h, dtype)

    def forward(self, x: nn.Tensor, mask: nn.Tensor) -> nn.Tensor:
        return self.out_proj(attention(self.q_proj(x), self.k_proj(x), self.v_proj(x), self.heads, mask))


class ClipMlp(nn.Module):
    def __init__(self, cfg: ClipConfig, dtype: str) -> None:
        self.act = cfg.hidden_act
        self.fc1 = linear(cfg.hidden_size, cfg.intermediate_size, dtype)
        self.fc2 = linear(cfg.intermediate_size, cfg.hidden_size, dtype)

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        h = self.fc1(x)
        if self.act == "quick_gelu":
            h = h * op.sigmoid(h * 1.702)
        else:
            h = op.gelu(h)
        return self.fc2(h)


class ClipLayer(nn.Module):
    def __init__(self, cfg: ClipConfig, dtype: str) -> None:
        self.self_attn = ClipAttention(cfg, dtype)
        self.layer_norm1 = LayerNorm(cfg.hidden_size, cfg.layer_norm_eps, dtype)
        self.mlp = ClipMlp(cfg, dtype)
        self.layer_norm2 = LayerNorm(cfg.hidden_size, cfg.layer_norm_eps, dtype)

    def forward(self, x: nn.Tensor, mask: nn.Tensor) -> nn.Tensor:
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class ClipEmbeddings(nn.Module):
    def __init__(self, cfg: ClipConfig, dtype: str) -> None:
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.hidden_size, dtype=dtype)
        self.position_embedding = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size, dtype=dtype)


class ClipEncoder(nn.Module):
    def __init__(self, cfg: ClipConfig, dtype: str) -> None:
        self.layers = nn.ModuleList([ClipLayer(cfg, dtype) for _ in range(cfg.num_hidden_layers)])


class ClipTextModel(nn.Module):
    """`clip(input_ids int32 [1, L]) -> float32 [1, L, hidden]`, with CLIP's causal mask and final norm."""

    def __init__(self, cfg: ClipConfig, dtype: str) -> None:
        self.cfg = cfg
        self.embeddings = ClipEmbeddings(cfg, dtype)
        self.encoder = ClipEncoder(cfg, dtype)
        self.final_layer_norm = LayerNorm(cfg.hidden_size, cfg.layer_norm_eps, dtype)

    def forward(self, input_ids: nn.Tensor) -> nn.Tensor:
        length = input_ids.shape[1]
        positions = nn.Tensor.from_const(np.arange(length, dtype="int32"))
        x = self.embeddings.token_embedding(input_ids) + self.embeddings.position_embedding(positions)
        # transformers' causal mask: the dtype's lowest value above the diagonal (scores are float32).
        causal = np.triu(np.full((length, length), np.finfo(np.float32).min, dtype=np.float32), k=1)
        mask = nn.Tensor.from_const(causal.reshape(1, 1, length, length))
        for layer in self.encoder.layers:
            x = layer(x, mask)
        return cast(self.final_layer_norm(x), F32)
