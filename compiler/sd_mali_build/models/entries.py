"""The executable's entry functions: which network each one runs, and its argument specs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tvm.relax.frontend import nn
from tvm.relax.frontend.nn import op

from ..architecture import Architecture
from .clip import ClipTextModel
from .unet import UNet2DConditionModel
from .vae import VaeDecoder, VaeEncoder

TEXT_LENGTH = 77


class ConcatEmbeddings(nn.Module):
    """`concat_embeddings(negative, prompt) -> [2, L, D]`: kept for directories of the older flow's shape."""

    def forward(self, a: nn.Tensor, b: nn.Tensor) -> nn.Tensor:
        return op.concat([a, b], dim=0)


class ImageToRgba(nn.Module):
    """`image_to_rgba([1, H, W, 3] in 0..255) -> uint32 [H, W]`, RGBA packed little-endian, alpha 255."""

    def forward(self, image: nn.Tensor) -> nn.Tensor:
        return op.tensor_expr_op(_pack_rgba, "pack_rgba", [image])


def _pack_rgba(image):  # type: ignore[no-untyped-def]
    from tvm import te, tirx

    def pixel(y, x):  # type: ignore[no-untyped-def]
        r = image[0, y, x, 0].astype("uint32")
        g = image[0, y, x, 1].astype("uint32")
        b = image[0, y, x, 2].astype("uint32")
        return r | (g << tirx.const(8, "uint32")) | (b << tirx.const(16, "uint32")) | tirx.const(255 << 24, "uint32")

    return te.compute((image.shape[1], image.shape[2]), pixel, name="image_to_rgba")


@dataclass(frozen=True)
class Entry:
    """One entry function: its name, its network, the input specs, and which params group it takes."""

    name: str
    module: nn.Module
    inputs: dict[str, Any]
    # The weight group (records <group>_0..N-1, metadata <group>ParamSize), None for parameter-free functions.
    params: str | None
    doc: str


def entries(arch: Architecture, dtype: str, vae_dtype: str) -> list[Entry]:
    d = arch.clip.hidden_size
    lc = arch.unet.in_channels
    lh = lw = arch.unet.sample_size
    h, w = arch.image_size
    f32 = "float32"
    return [
        Entry("clip", ClipTextModel(arch.clip, dtype), {"input_ids": nn.spec.Tensor([1, TEXT_LENGTH], "int32")}, "clip",
              "the prompt's last_hidden_state"),
        Entry("unet", UNet2DConditionModel(arch.unet, dtype), {
            "latents": nn.spec.Tensor([1, lc, lh, lw], f32),
            "timestep": nn.spec.Tensor([], "int32"),
            "embeddings": nn.spec.Tensor(["B", TEXT_LENGTH, arch.unet.cross_attention_dim], f32),
        }, "unet", "the unguided noise prediction for each embedding (B = 1 or 2)"),
        Entry("vae", VaeDecoder(arch.vae, vae_dtype), {"latents": nn.spec.Tensor([1, arch.vae.latent_channels, lh, lw], f32)}, "vae",
              "the decoded image, 0..255 rounded, NHWC"),
        Entry("vae_encode", VaeEncoder(arch.vae, vae_dtype), {"image": nn.spec.Tensor([1, arch.vae.in_channels, h, w], f32)}, "vaeEncode",
              "latent_dist mean (index 0) and std (index 1), unscaled"),
        Entry("concat_embeddings", ConcatEmbeddings(), {
            "a": nn.spec.Tensor([1, TEXT_LENGTH, d], f32),
            "b": nn.spec.Tensor([1, TEXT_LENGTH, d], f32),
        }, None, "negative and prompt embeddings as one batch of 2"),
        Entry("image_to_rgba", ImageToRgba(), {"image": nn.spec.Tensor([1, h, w, 3], f32)}, None, "packed RGBA pixels"),
    ]
