"""Layers shared by the text encoder, the UNet and the VAE.

Parameter names follow diffusers/transformers exactly (the attribute path is the name), so
weights are mapped by name. `dtype` is the compute and storage type of the weights; what
diffusers' fp16 pipeline keeps accurate stays float32 here too: normalisation statistics
and softmax are computed in float32 and cast back.
"""

from __future__ import annotations

from tvm.relax.frontend import nn
from tvm.relax.frontend.nn import op

F32 = "float32"


def clamp(x: nn.Tensor, lo: float, hi: float) -> nn.Tensor:
    from tvm import relax

    return nn.wrap_nested(relax.op.clip(x._expr, lo, hi), "clip")


def cast(x: nn.Tensor, dtype: str) -> nn.Tensor:
    return x if x.dtype == dtype else op.astype(x, dtype)


class GroupNorm(nn.Module):
    """torch.nn.GroupNorm over NCHW, statistics in float32 whatever the weights' dtype."""

    def __init__(self, num_groups: int, num_channels: int, eps: float, dtype: str) -> None:
        self.num_groups = num_groups
        self.eps = eps
        self.weight = nn.Parameter((num_channels,), dtype)
        self.bias = nn.Parameter((num_channels,), dtype)

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        y = op.group_norm(cast(x, F32), self.num_groups, cast(self.weight, F32), cast(self.bias, F32), self.eps, channel_axis=1, axes=[2, 3])
        return cast(y, x.dtype)


class LayerNorm(nn.Module):
    """torch.nn.LayerNorm over the last axis, statistics in float32."""

    def __init__(self, dim: int, eps: float, dtype: str) -> None:
        self.dim = dim
        self.eps = eps
        self.weight = nn.Parameter((dim,), dtype)
        self.bias = nn.Parameter((dim,), dtype)

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        y = op.layer_norm(cast(x, F32), [self.dim], cast(self.weight, F32), cast(self.bias, F32), self.eps)
        return cast(y, x.dtype)


class Linear(nn.Module):
    """torch.nn.Linear; products accumulate in float32 and are rounded to the dtype once, as
    torch's float16 GEMMs do (accumulating in float16 triples the error against diffusers)."""

    def __init__(self, in_features: int, out_features: int, dtype: str, bias: bool = True) -> None:
        self.weight = nn.Parameter((out_features, in_features), dtype)
        self.bias = nn.Parameter((out_features,), dtype) if bias else None

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        y = op.matmul(x, op.permute_dims(self.weight), out_dtype=F32)
        if self.bias is not None:
            y = y + cast(self.bias, F32)
        return cast(y, self.weight.dtype)


class Conv2D(nn.Module):
    """torch.nn.Conv2d (NCHW), accumulating in float32 like Linear."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, dtype: str, stride: int, padding: int) -> None:
        self.stride = stride
        self.padding = padding
        self.weight = nn.Parameter((out_ch, in_ch, kernel, kernel), dtype)
        self.bias = nn.Parameter((out_ch,), dtype)

    def forward(self, x: nn.Tensor) -> nn.Tensor:
        from tvm import relax

        y = nn.wrap_nested(
            relax.op.nn.conv2d(x._expr, self.weight._expr, strides=self.stride, padding=self.padding, out_dtype=F32),
            "conv2d",
        )
        y = y + op.reshape(cast(self.bias, F32), [1, -1, 1, 1])
        return cast(y, self.weight.dtype)


def linear(in_features: int, out_features: int, dtype: str, bias: bool = True) -> Linear:
    return Linear(in_features, out_features, dtype, bias)


def conv(in_ch: int, out_ch: int, kernel: int, dtype: str, stride: int = 1, padding: int = 0) -> Conv2D:
    return Conv2D(in_ch, out_ch, kernel, dtype, stride, padding)


def attention(q: nn.Tensor, k: nn.Tensor, v: nn.Tensor, heads: int, mask: nn.Tensor | None = None) -> nn.Tensor:
    """softmax(q·kᵀ/√d [+ mask]) · v over [B, S, C] tensors split into `heads`.

    Scores and softmax are float32 (torch's fp16 SDPA accumulates in float32 as well);
    the probabilities go back to the input dtype for the second product.
    """
    b, s, c = q.shape
    t = k.shape[1]
    d = c // heads
    qh = op.permute_dims(op.reshape(q, [b, s, heads, d]), [0, 2, 1, 3])
    kh = op.permute_dims(op.reshape(k, [b, t, heads, d]), [0, 2, 3, 1])
    vh = op.permute_dims(op.reshape(v, [b, t, heads, d]), [0, 2, 1, 3])
    scores = op.matmul(qh, kh, out_dtype=F32) * (float(d) ** -0.5)
    if mask is not None:
        scores = scores + mask
    probs = cast(op.softmax(scores, axis=-1), q.dtype)
    out = cast(op.matmul(probs, vh, out_dtype=F32), q.dtype)
    return op.reshape(op.permute_dims(out, [0, 2, 1, 3]), [b, s, c])
