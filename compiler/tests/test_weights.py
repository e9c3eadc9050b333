"""Weights mapped by name: the single file and the diffusers folder give the same tensors, SD 1.5's
real layout maps completely, and LoRAs merge as W + scale·(alpha/rank)·up·down in both key styles."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import SHARED, TINY, need_tiny
from safetensors.numpy import save_file

from sd_mali_build import architecture as arch_mod
from sd_mali_build.architecture import ClipConfig, UNetConfig, VaeConfig
from sd_mali_build.compile import export
from sd_mali_build.ldm_keys import unet_prefixes, vae_prefixes
from sd_mali_build.lora import LoraMerger, LoraSpec
from sd_mali_build.models.entries import entries
from sd_mali_build.source import open_checkpoint

CONFIG = os.path.join(TINY, "diffusers")


def _group(entry: str) -> str:
    return "vae" if entry.startswith("vae") else entry


def test_single_file_and_diffusers_folder_give_identical_weights() -> None:
    need_tiny()
    with open_checkpoint(os.path.join(TINY, "checkpoint.safetensors"), CONFIG) as single, open_checkpoint(CONFIG) as folder:
        assert single.architecture == folder.architecture
        exported = export(entries(single.architecture, "float32", "float32"))
        count = 0
        for entry, params in exported.params.items():
            for name, param in params:
                shape = tuple(int(d) for d in param.shape)
                a = single.tensor(_group(entry), name, shape)
                b = folder.tensor(_group(entry), name, shape)
                assert a.dtype == b.dtype == np.float32
                np.testing.assert_array_equal(a, b, err_msg=f"{entry} {name}")
                count += 1
        assert count == 900  # every tensor of the tiny file: 684 UNet + 180 VAE + 36 text


def test_unet_and_vae_architecture_read_from_shapes_equals_the_config() -> None:
    need_tiny()
    from sd_mali_build.safetensors_file import SafetensorsFile

    with SafetensorsFile(os.path.join(TINY, "checkpoint.safetensors")) as f:
        keys = set(f.keys())
        shapes = lambda k: f.shape(k) if k in f else None  # noqa: E731
        # The text encoder's head count is not in its shapes (tiny CLIP is 32 wide): only it needs --config.
        with pytest.raises(arch_mod.BuildError, match="--config"):
            arch_mod.infer_from_shapes(shapes, keys, "tiny")
        from_config = arch_mod.from_diffusers_folder(CONFIG)
        unet_keys = {k for k in keys if not k.startswith("cond_stage_model.")} | {"cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"}
        fake_clip = {"cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": (49408, 768),
                     "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight": (77, 768),
                     "cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.weight": (3072, 768)}
        inferred = arch_mod.infer_from_shapes(lambda k: fake_clip.get(k) or shapes(k), unet_keys | set(fake_clip), "tiny")
    expected_unet = from_config.unet
    for field in ("block_out_channels", "down_block_types", "up_block_types", "layers_per_block", "attention_heads", "cross_attention_dim", "use_linear_projection", "in_channels", "out_channels"):
        assert getattr(inferred.unet, field) == getattr(expected_unet, field), field
    for field in ("block_out_channels", "layers_per_block", "latent_channels", "in_channels", "out_channels"):
        assert getattr(inferred.vae, field) == getattr(from_config.vae, field), field


def test_sd15_single_file_layout_maps_every_weight_by_name_and_shape() -> None:
    path = os.path.join(SHARED, "realscale", "sd15-ldm-keys.json")
    if not os.path.exists(path):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing")
        pytest.skip(f"{path} is missing")
    with open(path, encoding="utf-8") as f:
        listed = json.load(f)
    items = listed["tensors"] if isinstance(listed, dict) else listed
    shapes = {t["name"]: tuple(t["shape"]) for t in items}
    arch = arch_mod.infer_from_shapes(shapes.get, set(shapes), "sd15")
    # SD 1.5's own configs, read from nothing but the shapes.
    assert arch.clip == ClipConfig() and arch.unet == UNetConfig() and arch.vae == VaeConfig()
    maps = {"unet": unet_prefixes(arch.unet), "vae": vae_prefixes(arch.vae)}
    exported = export(entries(arch, "float16", "float16"))
    used = set()
    total = 0
    for entry, params in exported.params.items():
        for name, param in params:
            group = _group(entry)
            if group == "clip":
                ldm = "cond_stage_model.transformer.text_model." + name
            else:
                ldm = next(l + name[len(d):] for d, l in maps[group] if name.startswith(d))
            assert ldm in shapes, f"{entry} {name} -> {ldm} not in the SD 1.5 file"
            expected = tuple(int(d) for d in param.shape)
            got = shapes[ldm]
            if len(got) == 4 and len(expected) == 2:  # the VAE attention's 1x1 convs
                got = got[:2]
            assert got == expected, f"{ldm}: {shapes[ldm]} vs {expected}"
            used.add(ldm)
            total += int(np.prod(expected))
    assert len(used) == 1130 and total == 1_066_235_307  # every tensor and parameter of the file


def test_kohya_and_peft_loras_merge_as_the_formula_says(tmp_path) -> None:  # type: ignore[no-untyped-def]
    need_tiny()
    rng = np.random.default_rng(7)
    arch = arch_mod.from_diffusers_folder(CONFIG)
    q_down, q_up = rng.standard_normal((4, 32)).astype(np.float32), rng.standard_normal((32, 4)).astype(np.float32)
    c_down, c_up = rng.standard_normal((2, 32, 3, 3)).astype(np.float32), rng.standard_normal((32, 2, 1, 1)).astype(np.float32)
    t_down, t_up = rng.standard_normal((2, 32)).astype(np.float32), rng.standard_normal((32, 2)).astype(np.float32)
    kohya = str(tmp_path / "k.safetensors")
    save_file({
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight": q_down,
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_up.weight": q_up,
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.alpha": np.array(2.0, np.float32),
        # LDM-style module name for a 3x3 conv (LoCon): input_blocks.1.0.in_layers.2 = down_blocks.0.resnets.0.conv1
        "lora_unet_input_blocks_1_0_in_layers_2.lora_down.weight": c_down,
        "lora_unet_input_blocks_1_0_in_layers_2.lora_up.weight": c_up,
        "lora_te_text_model_encoder_layers_1_self_attn_v_proj.lora_down.weight": t_down,
        "lora_te_text_model_encoder_layers_1_self_attn_v_proj.lora_up.weight": t_up,
    }, kohya)
    peft = str(tmp_path / "p.safetensors")
    save_file({
        "unet.mid_block.attentions.0.proj_out.lora_A.weight": rng.standard_normal((4, 64, 1, 1)).astype(np.float32),
        "unet.mid_block.attentions.0.proj_out.lora_B.weight": rng.standard_normal((64, 4, 1, 1)).astype(np.float32),
    }, peft)
    merger = LoraMerger.load([LoraSpec(kohya, 0.8), LoraSpec(peft, 0.5)], arch)
    with open_checkpoint(CONFIG) as src:
        def merged(group: str, name: str) -> tuple[np.ndarray, np.ndarray]:
            base = src.tensor(group, name)
            return base, merger.apply(group, name, base)

        base, got = merged("unet", "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight")
        np.testing.assert_allclose(got, base + 0.8 * (2.0 / 4) * (q_up @ q_down), rtol=1e-6, atol=1e-6)
        base, got = merged("unet", "down_blocks.0.resnets.0.conv1.weight")
        expected = base + 0.8 * np.einsum("or,rihw->oihw", c_up[:, :, 0, 0], c_down)  # no alpha: alpha = rank
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
        base, got = merged("clip", "encoder.layers.1.self_attn.v_proj.weight")
        np.testing.assert_allclose(got, base + 0.8 * (t_up @ t_down), rtol=1e-6, atol=1e-6)
        base, got = merged("unet", "mid_block.attentions.0.proj_out.weight")
        assert not np.array_equal(base, got)
        untouched_base, untouched = merged("unet", "conv_in.weight")
        np.testing.assert_array_equal(untouched_base, untouched)
    merger.check_all_used()
    described = merger.specs_described
    assert [d["style"] for d in described] == ["kohya", "diffusers"] and [d["modules"] for d in described] == [3, 1]
