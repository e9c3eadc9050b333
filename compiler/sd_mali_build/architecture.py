"""The architecture of an SD 1.x model: from diffusers' config.json files, or inferred from a
single file's tensor shapes with SD 1.x's conventions.

Only what the compiled graph depends on is kept. Everything SD 1.x does not use (SD 2.x's
linear projections with v-prediction, SDXL's added conditions, 9-channel inpainting UNets)
is refused by name rather than built wrong.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from .errors import BuildError, UnsupportedCheckpointError


@dataclass(frozen=True)
class ClipConfig:
    vocab_size: int = 49408
    hidden_size: int = 768
    intermediate_size: int = 3072
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    max_position_embeddings: int = 77
    hidden_act: str = "quick_gelu"
    layer_norm_eps: float = 1e-5


@dataclass(frozen=True)
class UNetConfig:
    in_channels: int = 4
    out_channels: int = 4
    block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280)
    down_block_types: tuple[str, ...] = ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",)
    up_block_types: tuple[str, ...] = ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3
    layers_per_block: int = 2
    attention_heads: tuple[int, ...] = (8, 8, 8, 8)  # per down block; SD 1.x: 8 heads everywhere
    cross_attention_dim: int = 768
    norm_num_groups: int = 32
    norm_eps: float = 1e-5
    flip_sin_to_cos: bool = True
    freq_shift: float = 0.0
    use_linear_projection: bool = False
    downsample_padding: int = 1
    sample_size: int = 64


@dataclass(frozen=True)
class VaeConfig:
    in_channels: int = 3
    out_channels: int = 3
    latent_channels: int = 4
    block_out_channels: tuple[int, ...] = (128, 256, 512, 512)
    layers_per_block: int = 2
    norm_num_groups: int = 32
    scaling_factor: float = 0.18215
    sample_size: int = 512


SD15_SCHEDULER: dict[str, Any] = {
    "_class_name": "PNDMScheduler",
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "steps_offset": 1,
    "skip_prk_steps": True,
    "set_alpha_to_one": False,
    "clip_sample": False,
    "timestep_spacing": "leading",
}


@dataclass(frozen=True)
class Architecture:
    clip: ClipConfig
    unet: UNetConfig
    vae: VaeConfig
    scheduler: dict[str, Any] = field(default_factory=lambda: dict(SD15_SCHEDULER))

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) in pixels: the UNet's sample size times the VAE's downscale factor."""
        s = self.unet.sample_size * self.vae_factor
        return (s, s)

    @property
    def vae_factor(self) -> int:
        return 2 ** (len(self.vae.block_out_channels) - 1)

    def to_json(self) -> dict[str, Any]:
        return {"clip": asdict(self.clip), "unet": asdict(self.unet), "vae": asdict(self.vae)}


# --- diffusers folders -------------------------------------------------------------------

def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError as e:
        raise BuildError(f"{path} is missing: a diffusers folder has model_index.json and unet/, vae/, text_encoder/ with a config.json each", path=path) from e
    except json.JSONDecodeError as e:
        raise BuildError(f"{path} is not valid JSON: {e}", path=path) from e
    if not isinstance(data, dict):
        raise BuildError(f"{path} is not a JSON object", path=path)
    return data


def _heads(value: Any, blocks: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * blocks
    return tuple(int(v) for v in value)


def unet_config_from_diffusers(cfg: dict[str, Any], where: str) -> UNetConfig:
    for key, bad, what in (
        ("addition_embed_type", None, "SDXL-style added conditions"),
        ("class_embed_type", None, "class embeddings"),
        ("time_cond_proj_dim", None, "a guidance-embedding (LCM-distilled) UNet"),
    ):
        if cfg.get(key, None) is not bad:
            raise UnsupportedCheckpointError(f"{where}: {key}={cfg[key]!r} ({what}) is not SD 1.x's UNet; sd-mali builds SD 1.x models", path=where)
    in_ch = int(cfg.get("in_channels", 4))
    if in_ch != 4:
        raise UnsupportedCheckpointError(f"{where}: the UNet has {in_ch} input channels; " + _inpaint_or_other(in_ch), path=where)
    cross = cfg.get("cross_attention_dim", 768)
    if not isinstance(cross, int):
        raise UnsupportedCheckpointError(f"{where}: cross_attention_dim {cross!r} per block is not SD 1.x", path=where)
    if cross == 1024:
        raise UnsupportedCheckpointError(f"{where}: cross_attention_dim 1024 is Stable Diffusion 2.x (OpenCLIP ViT-H); sd-mali builds SD 1.x models", path=where)
    if cross == 2048:
        raise UnsupportedCheckpointError(f"{where}: cross_attention_dim 2048 is SDXL; sd-mali builds SD 1.x models", path=where)
    tlpb = cfg.get("transformer_layers_per_block", 1)
    if tlpb not in (1, None) and not (isinstance(tlpb, list) and all(v == 1 for v in tlpb)):
        raise UnsupportedCheckpointError(f"{where}: transformer_layers_per_block {tlpb!r} is SDXL-style; SD 1.x has one", path=where)
    for key, expected in (("time_embedding_type", "positional"), ("resnet_time_scale_shift", "default"), ("act_fn", "silu"), ("mid_block_type", "UNetMidBlock2DCrossAttn")):
        if cfg.get(key, expected) != expected:
            raise UnsupportedCheckpointError(f"{where}: {key}={cfg[key]!r}; sd-mali builds SD 1.x's {expected!r}", path=where)
    boc = tuple(int(c) for c in cfg.get("block_out_channels", (320, 640, 1280, 1280)))
    heads_value = cfg.get("num_attention_heads") or cfg.get("attention_head_dim", 8)
    down = tuple(str(t) for t in cfg.get("down_block_types", UNetConfig.down_block_types))
    up = tuple(str(t) for t in cfg.get("up_block_types", UNetConfig.up_block_types))
    for t in down + up:
        if t not in ("CrossAttnDownBlock2D", "DownBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"):
            raise UnsupportedCheckpointError(f"{where}: block type {t} is not one of SD 1.x's", path=where)
    return UNetConfig(
        in_channels=in_ch,
        out_channels=int(cfg.get("out_channels", 4)),
        block_out_channels=boc,
        down_block_types=down,
        up_block_types=up,
        layers_per_block=int(cfg.get("layers_per_block", 2)),
        attention_heads=_heads(heads_value, len(boc)),
        cross_attention_dim=int(cross),
        norm_num_groups=int(cfg.get("norm_num_groups", 32)),
        norm_eps=float(cfg.get("norm_eps", 1e-5)),
        flip_sin_to_cos=bool(cfg.get("flip_sin_to_cos", True)),
        freq_shift=float(cfg.get("freq_shift", 0)),
        use_linear_projection=bool(cfg.get("use_linear_projection", False)),
        downsample_padding=int(cfg.get("downsample_padding", 1)),
        sample_size=int(cfg.get("sample_size", 64)),
    )


def _inpaint_or_other(channels: int) -> str:
    if channels == 9:
        return "this is an inpainting UNet (9 channels: latents, mask, masked image). sd-mali builds the ordinary 4-channel UNet and inpaints with it; use the base model of this checkpoint"
    if channels == 8:
        return "this is an instruct-pix2pix UNet (8 channels), which sd-mali does not build"
    return "sd-mali builds SD 1.x's 4-channel UNet"


def vae_config_from_diffusers(cfg: dict[str, Any]) -> VaeConfig:
    return VaeConfig(
        in_channels=int(cfg.get("in_channels", 3)),
        out_channels=int(cfg.get("out_channels", 3)),
        latent_channels=int(cfg.get("latent_channels", 4)),
        block_out_channels=tuple(int(c) for c in cfg.get("block_out_channels", (128, 256, 512, 512))),
        layers_per_block=int(cfg.get("layers_per_block", 2)),
        norm_num_groups=int(cfg.get("norm_num_groups", 32)),
        scaling_factor=float(cfg.get("scaling_factor", 0.18215)),
        sample_size=int(cfg.get("sample_size", 512)),
    )


def clip_config_from_transformers(cfg: dict[str, Any], where: str) -> ClipConfig:
    act = str(cfg.get("hidden_act", "quick_gelu"))
    if act not in ("quick_gelu", "gelu"):
        raise UnsupportedCheckpointError(f"{where}: hidden_act {act!r} is not CLIP's", path=where)
    hidden = int(cfg.get("hidden_size", 768))
    if hidden == 1024:
        raise UnsupportedCheckpointError(f"{where}: a 1024-wide text encoder is Stable Diffusion 2.x's OpenCLIP; sd-mali builds SD 1.x models", path=where)
    return ClipConfig(
        vocab_size=int(cfg.get("vocab_size", 49408)),
        hidden_size=hidden,
        intermediate_size=int(cfg.get("intermediate_size", 3072)),
        num_hidden_layers=int(cfg.get("num_hidden_layers", 12)),
        num_attention_heads=int(cfg.get("num_attention_heads", 12)),
        max_position_embeddings=int(cfg.get("max_position_embeddings", 77)),
        hidden_act=act,
        layer_norm_eps=float(cfg.get("layer_norm_eps", 1e-5)),
    )


def from_diffusers_folder(folder: str) -> Architecture:
    index = _read_json(os.path.join(folder, "model_index.json"))
    cls = str(index.get("_class_name", ""))
    if "XL" in cls:
        raise UnsupportedCheckpointError(f"{folder}: {cls} is SDXL; sd-mali builds SD 1.x models", path=folder)
    if "Inpaint" in cls:
        raise UnsupportedCheckpointError(f"{folder}: {cls} is an inpainting model; " + _inpaint_or_other(9), path=folder)
    unet = unet_config_from_diffusers(_read_json(os.path.join(folder, "unet", "config.json")), os.path.join(folder, "unet"))
    vae = vae_config_from_diffusers(_read_json(os.path.join(folder, "vae", "config.json")))
    clip = clip_config_from_transformers(_read_json(os.path.join(folder, "text_encoder", "config.json")), os.path.join(folder, "text_encoder"))
    sched_path = os.path.join(folder, "scheduler", "scheduler_config.json")
    scheduler = dict(SD15_SCHEDULER)
    if os.path.exists(sched_path):
        scheduler = {k: v for k, v in _read_json(sched_path).items() if not k.startswith("_diffusers")}
        if scheduler.get("prediction_type", "epsilon") != "epsilon":
            raise UnsupportedCheckpointError(f"{sched_path}: prediction_type {scheduler['prediction_type']!r}; sd-mali's schedulers predict epsilon as SD 1.x does", path=sched_path)
    return Architecture(clip=clip, unet=unet, vae=vae, scheduler=scheduler)


# --- single files: shapes with SD 1.x's conventions -----------------------------------------

ShapeOf = Callable[[str], "tuple[int, ...] | None"]

UNET = "model.diffusion_model."
VAE = "first_stage_model."


def refuse_other_families(keys: set[str], name: str) -> None:
    """Name SDXL, SD 2.x, inpainting and other non-SD-1.x files before anything else is read."""
    if any(k.startswith("conditioner.embedders.") for k in keys) or f"{UNET}label_emb.0.0.weight" in keys:
        raise UnsupportedCheckpointError(f"{name} is an SDXL checkpoint; sd-mali builds SD 1.x models", path=name)
    if any(k.startswith("cond_stage_model.model.") for k in keys):
        raise UnsupportedCheckpointError(f"{name} is a Stable Diffusion 2.x checkpoint (OpenCLIP text encoder); sd-mali builds SD 1.x models", path=name)
    if not any(k.startswith(UNET) for k in keys):
        if any(k.startswith(("lora_", "lora_unet_", "lora_te_")) or ".lora_" in k or "lora_A" in k for k in keys):
            raise UnsupportedCheckpointError(f"{name} is a LoRA, not a checkpoint: pass it with --lora beside a base model", path=name)
        raise UnsupportedCheckpointError(f"{name} has no 'model.diffusion_model.*' tensors: not an SD 1.x checkpoint in the original (LDM) layout", path=name)


def infer_from_shapes(shape: ShapeOf, keys: set[str], name: str) -> Architecture:
    refuse_other_families(keys, name)

    def need(key: str) -> tuple[int, ...]:
        s = shape(key)
        if s is None:
            from .errors import MissingTensorError

            raise MissingTensorError(f"{name}: tensor {key} is missing", path=name)
        return s

    conv_in = need(f"{UNET}input_blocks.0.0.weight")
    if conv_in[1] != 4:
        raise UnsupportedCheckpointError(f"{name}: the UNet has {conv_in[1]} input channels; " + _inpaint_or_other(conv_in[1]), path=name)
    input_ids = sorted({int(k[len(UNET) + len("input_blocks."):].split(".")[0]) for k in keys if k.startswith(f"{UNET}input_blocks.")})
    downsamplers = [i for i in input_ids if f"{UNET}input_blocks.{i}.0.op.weight" in keys]
    blocks = len(downsamplers) + 1
    lpb = (len(input_ids) - 1 - len(downsamplers)) // blocks
    boc: list[int] = []
    down_types: list[str] = []
    for b in range(blocks):
        first = 1 + b * (lpb + 1)
        boc.append(need(f"{UNET}input_blocks.{first}.0.out_layers.3.weight")[0])
        down_types.append("CrossAttnDownBlock2D" if f"{UNET}input_blocks.{first}.1.proj_in.weight" in keys else "DownBlock2D")
    up_types: list[str] = []
    for b in range(blocks):
        first = b * (lpb + 1)
        up_types.append("CrossAttnUpBlock2D" if f"{UNET}output_blocks.{first}.1.proj_in.weight" in keys else "UpBlock2D")
    attn_key = next((k for k in sorted(keys) if k.startswith(UNET) and k.endswith("attn2.to_k.weight")), None)
    if attn_key is None:
        raise UnsupportedCheckpointError(f"{name}: the UNet has no cross-attention; not an SD 1.x UNet", path=name)
    cross = need(attn_key)[1]
    if cross == 1024:
        raise UnsupportedCheckpointError(f"{name}: cross-attention width 1024 is Stable Diffusion 2.x; sd-mali builds SD 1.x models", path=name)
    proj_in = need(next(k for k in sorted(keys) if k.startswith(UNET) and k.endswith("proj_in.weight")))
    unet = UNetConfig(
        in_channels=4,
        out_channels=need(f"{UNET}out.2.weight")[0],
        block_out_channels=tuple(boc),
        down_block_types=tuple(down_types),
        up_block_types=tuple(up_types),
        layers_per_block=lpb,
        attention_heads=(8,) * blocks,  # SD 1.x: attention_head_dim 8 = 8 heads in every block
        cross_attention_dim=cross,
        norm_num_groups=32,
        use_linear_projection=len(proj_in) == 2,
        sample_size=64,
    )
    # VAE
    enc_blocks = sorted({int(k.split(".")[3]) for k in keys if k.startswith(f"{VAE}encoder.down.")})
    vae_boc = tuple(need(f"{VAE}encoder.down.{b}.block.0.conv2.weight")[0] for b in enc_blocks)
    vae_lpb = len({k.split(".")[5] for k in keys if k.startswith(f"{VAE}encoder.down.0.block.")})
    vae = VaeConfig(
        in_channels=need(f"{VAE}encoder.conv_in.weight")[1],
        out_channels=need(f"{VAE}decoder.conv_out.weight")[0],
        latent_channels=need(f"{VAE}post_quant_conv.weight")[0],
        block_out_channels=vae_boc,
        layers_per_block=vae_lpb,
        sample_size=64 * 2 ** (len(vae_boc) - 1),
    )
    # CLIP
    prefix = clip_prefix(keys)
    emb = need(f"{prefix}embeddings.token_embedding.weight")
    layers = len({k[len(prefix) + len("encoder.layers."):].split(".")[0] for k in keys if k.startswith(f"{prefix}encoder.layers.")})
    hidden = emb[1]
    if hidden % 64 != 0:
        raise BuildError(
            f"{name}: a {hidden}-wide text encoder does not follow SD 1.x's CLIP convention (64-wide heads), so its "
            "head count cannot be read from the file; pass --config with the model's diffusers folder "
            "(the one that has text_encoder/config.json)",
            path=name,
        )
    clip = ClipConfig(
        vocab_size=emb[0],
        hidden_size=hidden,
        intermediate_size=need(f"{prefix}encoder.layers.0.mlp.fc1.weight")[0],
        num_hidden_layers=layers,
        num_attention_heads=hidden // 64,
        max_position_embeddings=need(f"{prefix}embeddings.position_embedding.weight")[0],
    )
    return Architecture(clip=clip, unet=unet, vae=vae)


def clip_prefix(keys: set[str]) -> str:
    """Where the CLIP text model's tensors live in a single file (with or without `text_model.`)."""
    for p in ("cond_stage_model.transformer.text_model.", "cond_stage_model.transformer."):
        if f"{p}embeddings.token_embedding.weight" in keys:
            return p
    from .errors import MissingTensorError

    raise MissingTensorError("no CLIP text encoder: cond_stage_model.transformer.text_model.embeddings.token_embedding.weight is missing")
