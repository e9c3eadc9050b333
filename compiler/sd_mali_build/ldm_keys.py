"""The original (LDM/CompVis) single-file names of SD 1.x's tensors, for diffusers' names.

The same renaming diffusers' `convert_ldm_unet_checkpoint` / `convert_ldm_vae_checkpoint`
do, written as a map from each diffusers name the architecture has to the file's name, so
that a missing tensor is named precisely and nothing in the file is guessed at.
"""

from __future__ import annotations

from .architecture import UNetConfig, VaeConfig

UNET = "model.diffusion_model."
VAE = "first_stage_model."

_UNET_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1", "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
_VAE_RESNET = {"norm1": "norm1", "conv1": "conv1", "norm2": "norm2", "conv2": "conv2", "conv_shortcut": "nin_shortcut"}
_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _rename(name: str, prefix_map: list[tuple[str, str]]) -> str | None:
    for diffusers_prefix, ldm_prefix in prefix_map:
        if name.startswith(diffusers_prefix):
            return ldm_prefix + name[len(diffusers_prefix):]
    return None


def _resnet(diffusers_prefix: str, ldm_prefix: str, table: dict[str, str]) -> list[tuple[str, str]]:
    return [(f"{diffusers_prefix}{d}.", f"{ldm_prefix}{l}.") for d, l in table.items()]


def unet_prefixes(cfg: UNetConfig) -> list[tuple[str, str]]:
    lpb = cfg.layers_per_block
    n = len(cfg.block_out_channels)
    out: list[tuple[str, str]] = [
        ("time_embedding.linear_1.", "time_embed.0."),
        ("time_embedding.linear_2.", "time_embed.2."),
        ("conv_in.", "input_blocks.0.0."),
        ("conv_norm_out.", "out.0."),
        ("conv_out.", "out.2."),
    ]
    for b in range(n):
        for layer in range(lpb):
            i = 1 + b * (lpb + 1) + layer
            out += _resnet(f"down_blocks.{b}.resnets.{layer}.", f"input_blocks.{i}.0.", _UNET_RESNET)
            out.append((f"down_blocks.{b}.attentions.{layer}.", f"input_blocks.{i}.1."))
        if b < n - 1:
            out.append((f"down_blocks.{b}.downsamplers.0.conv.", f"input_blocks.{1 + b * (lpb + 1) + lpb}.0.op."))
    out += _resnet("mid_block.resnets.0.", "middle_block.0.", _UNET_RESNET)
    out.append(("mid_block.attentions.0.", "middle_block.1."))
    out += _resnet("mid_block.resnets.1.", "middle_block.2.", _UNET_RESNET)
    for b in range(n):
        has_attn = cfg.up_block_types[b].startswith("CrossAttn")
        for layer in range(lpb + 1):
            i = b * (lpb + 1) + layer
            out += _resnet(f"up_blocks.{b}.resnets.{layer}.", f"output_blocks.{i}.0.", _UNET_RESNET)
            out.append((f"up_blocks.{b}.attentions.{layer}.", f"output_blocks.{i}.1."))
        if b < n - 1:
            last = b * (lpb + 1) + lpb
            out.append((f"up_blocks.{b}.upsamplers.0.conv.", f"output_blocks.{last}.{2 if has_attn else 1}.conv."))
    return [(d, UNET + l) for d, l in out]


def vae_prefixes(cfg: VaeConfig) -> list[tuple[str, str]]:
    """diffusers' names (encoder.*, decoder.*, quant_conv, post_quant_conv) to the file's."""
    n = len(cfg.block_out_channels)
    out: list[tuple[str, str]] = [
        ("quant_conv.", "quant_conv."),
        ("post_quant_conv.", "post_quant_conv."),
    ]
    for part in ("encoder", "decoder"):
        out += [(f"{part}.conv_in.", f"{part}.conv_in."), (f"{part}.conv_out.", f"{part}.conv_out."), (f"{part}.conv_norm_out.", f"{part}.norm_out.")]
        out += _resnet(f"{part}.mid_block.resnets.0.", f"{part}.mid.block_1.", _VAE_RESNET)
        out += _resnet(f"{part}.mid_block.resnets.1.", f"{part}.mid.block_2.", _VAE_RESNET)
        out += [(f"{part}.mid_block.attentions.0.{d}.", f"{part}.mid.attn_1.{l}.") for d, l in _VAE_ATTENTION.items()]
    for b in range(n):
        for layer in range(cfg.layers_per_block):
            out += _resnet(f"encoder.down_blocks.{b}.resnets.{layer}.", f"encoder.down.{b}.block.{layer}.", _VAE_RESNET)
        out.append((f"encoder.down_blocks.{b}.downsamplers.0.conv.", f"encoder.down.{b}.downsample.conv."))
        # The LDM decoder numbers its up blocks from the lowest resolution's end.
        ldm_b = n - 1 - b
        for layer in range(cfg.layers_per_block + 1):
            out += _resnet(f"decoder.up_blocks.{b}.resnets.{layer}.", f"decoder.up.{ldm_b}.block.{layer}.", _VAE_RESNET)
        out.append((f"decoder.up_blocks.{b}.upsamplers.0.conv.", f"decoder.up.{ldm_b}.upsample.conv."))
    return [(d, VAE + l) for d, l in out]


def ldm_name(group: str, name: str, unet: UNetConfig, vae: VaeConfig, clip_prefix: str) -> str | None:
    """The single file's key for a diffusers-named tensor of `group` (clip | unet | vae)."""
    if group == "clip":
        return clip_prefix + name
    if group == "unet":
        return _rename(name, unet_prefixes(unet))
    return _rename(name, vae_prefixes(vae))


def is_vae_attention_linear(name: str) -> bool:
    """The VAE mid-block attention's q/k/v/proj_out: 1x1 convs [C, C, 1, 1] in LDM files, linears in diffusers."""
    return ".mid_block.attentions.0." in name and name.endswith(".weight") and "group_norm" not in name
