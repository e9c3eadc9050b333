"""Every bad input is refused with its own error before anything is compiled, and leaves the
output directory as it was (the build writes beside it and renames only at the end)."""

from __future__ import annotations

import os
import shutil
from typing import Callable

import numpy as np
import pytest
from conftest import TINY, need_tiny
from safetensors.numpy import load_file, save_file

from sd_mali_build.build import BuildOptions, build
from sd_mali_build.errors import (
    BuildError,
    CheckpointFormatError,
    LoraError,
    MissingTensorError,
    OutputError,
    TensorShapeError,
    UnsupportedCheckpointError,
)

CONFIG = os.path.join(TINY, "diffusers")


@pytest.fixture(scope="module")
def tensors() -> dict[str, np.ndarray]:
    need_tiny()
    return load_file(os.path.join(TINY, "checkpoint.safetensors"))


@pytest.fixture()
def out(tmp_path):  # type: ignore[no-untyped-def]
    """An existing output directory holding a file the failed build must not touch."""
    d = tmp_path / "dist"
    d.mkdir()
    (d / "keep.txt").write_text("previous model")
    return d


def run(checkpoint: str, out_dir: str, **kw: object) -> None:
    build(BuildOptions(checkpoint=checkpoint, out=out_dir, target="cpu", force=True, **kw), lambda _e: None)  # type: ignore[arg-type]


def untouched(out_dir: os.PathLike[str]) -> None:
    assert sorted(os.listdir(out_dir)) == ["keep.txt"]
    parent = os.path.dirname(os.path.abspath(out_dir))
    assert [n for n in os.listdir(parent) if ".partial-" in n] == []


def write(tmp_path, name: str, data: dict[str, np.ndarray]) -> str:  # type: ignore[no-untyped-def]
    path = str(tmp_path / name)
    save_file(data, path)
    return path


def test_pickle_checkpoint_is_refused(tmp_path, out) -> None:  # type: ignore[no-untyped-def]
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"PK\x03\x04" + b"\0" * 64)  # a torch zip pickle
    with pytest.raises(UnsupportedCheckpointError, match="pickle"):
        run(str(ckpt), str(out))
    untouched(out)


def test_sdxl_is_named(tmp_path, out, tensors) -> None:  # type: ignore[no-untyped-def]
    data = dict(tensors)
    data["conditioner.embedders.1.model.ln_final.weight"] = np.zeros(4, np.float16)
    with pytest.raises(UnsupportedCheckpointError, match="SDXL"):
        run(write(tmp_path, "xl.safetensors", data), str(out))
    untouched(out)


def test_sd2_is_named(tmp_path, out, tensors) -> None:  # type: ignore[no-untyped-def]
    data = {k: v for k, v in tensors.items() if not k.startswith("cond_stage_model.")}
    data["cond_stage_model.model.ln_final.weight"] = np.zeros(4, np.float16)
    with pytest.raises(UnsupportedCheckpointError, match="2.x"):
        run(write(tmp_path, "sd2.safetensors", data), str(out))
    untouched(out)


def test_inpainting_unet_is_named(tmp_path, out, tensors) -> None:  # type: ignore[no-untyped-def]
    data = dict(tensors)
    w = data["model.diffusion_model.input_blocks.0.0.weight"]
    data["model.diffusion_model.input_blocks.0.0.weight"] = np.zeros((w.shape[0], 9, *w.shape[2:]), w.dtype)
    with pytest.raises(UnsupportedCheckpointError, match="inpainting"):
        run(write(tmp_path, "inpaint.safetensors", data), str(out))
    untouched(out)


def test_missing_tensor_is_named(tmp_path, out, tensors) -> None:  # type: ignore[no-untyped-def]
    key = "model.diffusion_model.middle_block.1.proj_in.weight"
    data = {k: v for k, v in tensors.items() if k != key}
    with pytest.raises(MissingTensorError, match=key.replace(".", r"\.")):
        run(write(tmp_path, "missing.safetensors", data), str(out), config=CONFIG)
    untouched(out)


def test_misshaped_tensor_is_named(tmp_path, out, tensors) -> None:  # type: ignore[no-untyped-def]
    key = "first_stage_model.decoder.conv_in.weight"
    data = dict(tensors)
    data[key] = np.zeros((3, 3), np.float16)
    with pytest.raises(TensorShapeError, match=key.replace(".", r"\.")):
        run(write(tmp_path, "shape.safetensors", data), str(out), config=CONFIG)
    untouched(out)


def test_truncated_file_is_named(tmp_path, out) -> None:  # type: ignore[no-untyped-def]
    need_tiny()
    src = os.path.join(TINY, "checkpoint.safetensors")
    cut = tmp_path / "cut.safetensors"
    with open(src, "rb") as f:
        cut.write_bytes(f.read(os.path.getsize(src) - 1000))
    with pytest.raises(CheckpointFormatError, match="truncated"):
        run(str(cut), str(out), config=CONFIG)
    untouched(out)


def test_not_a_safetensors_file(tmp_path, out) -> None:  # type: ignore[no-untyped-def]
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\0\0\0\0\0\0\0not json at all!")
    with pytest.raises(CheckpointFormatError, match="not JSON"):
        run(str(junk), str(out))
    untouched(out)


def test_single_file_without_config_needs_one_for_non_sd15_text_width(out) -> None:  # type: ignore[no-untyped-def]
    need_tiny()
    with pytest.raises(BuildError, match="--config"):
        run(os.path.join(TINY, "checkpoint.safetensors"), str(out))
    untouched(out)


def test_lora_for_another_model_is_refused(tmp_path, out) -> None:  # type: ignore[no-untyped-def]
    need_tiny()
    lora = write(tmp_path, "xl-lora.safetensors", {
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_1_attn1_to_q.lora_down.weight": np.zeros((4, 32), np.float16),
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_1_attn1_to_q.lora_up.weight": np.zeros((32, 4), np.float16),
    })
    from sd_mali_build.lora import LoraSpec

    with pytest.raises(LoraError, match="matches no weight"):
        run(os.path.join(TINY, "checkpoint.safetensors"), str(out), config=CONFIG, loras=[LoraSpec(lora, 1.0)])
    untouched(out)


def test_non_empty_output_needs_force(tmp_path, out) -> None:  # type: ignore[no-untyped-def]
    need_tiny()
    with pytest.raises(OutputError, match="--force"):
        build(BuildOptions(checkpoint=os.path.join(TINY, "checkpoint.safetensors"), out=str(out), target="cpu", config=CONFIG), lambda _e: None)
    untouched(out)
