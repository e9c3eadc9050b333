"""Each compiled function against diffusers' and transformers' outputs for the same weights.

Tolerances (float32 build, CPU): single calls |a − b| ≤ 1e-4·max(1, |b|), the bound the golden
data's README measured for a change of thread count; a wrong formula (a missed scale, the
wrong norm epsilon, GELU's tanh approximation) moves outputs by 1e-3 or more.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ref
from reference_runner import BuiltModel

F32_TOL = 1e-4


def close(actual: np.ndarray, expected: np.ndarray, rel: float) -> None:
    assert actual.shape == expected.shape
    bound = rel * np.maximum(1.0, np.abs(expected))
    worst = float(np.max(np.abs(actual - expected) - bound))
    assert worst <= 0, f"off by {float(np.max(np.abs(actual - expected))):.3g} (limit {rel:g}·max(1,|b|))"


@pytest.fixture(scope="module")
def model(built) -> BuiltModel:  # type: ignore[no-untyped-def]
    return BuiltModel(built("file", "float32", "cpu"))


@pytest.mark.parametrize("case", [0, 1, 2])
def test_text_encoder(model: BuiltModel, case: int) -> None:
    out = model("clip", ref(f"text_{case}_input_ids.npy").astype("int32"))
    close(out, ref(f"text_{case}_last_hidden_state.npy"), F32_TOL)


@pytest.mark.parametrize("case,timestep", [(0, 999), (1, 500), (2, 1)])
def test_unet_batch_two_is_unguided(model: BuiltModel, case: int, timestep: int) -> None:
    out = model("unet", ref(f"unet_{case}_latents.npy"), np.array(timestep, dtype="int32"), ref(f"unet_{case}_encoder_hidden_states.npy"))
    close(out, ref(f"unet_{case}_noise_pred.npy"), F32_TOL)
    u, c = out[0:1], out[1:2]
    close(u + np.float32(7.5) * (c - u), ref(f"unet_{case}_noise_pred_guided.npy"), 1e-3)


def test_unet_batch_one_is_the_conditional_half(model: BuiltModel) -> None:
    hidden = ref("unet_1_encoder_hidden_states.npy")[1:2]
    out = model("unet", ref("unet_1_latents.npy"), np.array(500, dtype="int32"), hidden)
    close(out, ref("unet_1_noise_pred.npy")[1:2], F32_TOL)


@pytest.mark.parametrize("case", [0, 1])
def test_vae_decode(model: BuiltModel, case: int) -> None:
    out = model("vae", ref(f"vae_decode_{case}_latents.npy"))
    expected_float = np.clip(ref(f"vae_decode_{case}_image.npy") / 2 + 0.5, 0, 1).transpose(0, 2, 3, 1)[0] * 255
    # Rounded inside: at most half a step from diffusers' unrounded value (+ float32 noise).
    assert np.max(np.abs(out[0] - expected_float)) <= 0.5 + 255 * F32_TOL
    diff = np.abs(out[0].astype(np.int32) - ref(f"vae_decode_{case}_image_uint8.npy").astype(np.int32))
    assert diff.max() <= 1 and (diff == 0).mean() >= 0.99


@pytest.mark.parametrize("case", [0, 1])
def test_vae_encode(model: BuiltModel, case: int) -> None:
    out = model("vae_encode", ref(f"vae_encode_{case}_x.npy"))
    close(out[0:1], ref(f"vae_encode_{case}_mean.npy"), F32_TOL)
    close(out[1:2], ref(f"vae_encode_{case}_std.npy"), F32_TOL)


def test_image_to_rgba_packs_little_endian(model: BuiltModel) -> None:
    image = np.zeros((1, *model.manifest["image"].values(), 3), dtype="float32")
    image[0, 0, 0] = [1, 2, 3]
    packed = model("image_to_rgba", image)
    assert packed.dtype == np.uint32 and packed[0, 0] == 1 | 2 << 8 | 3 << 16 | 255 << 24 and packed[0, 1] == 255 << 24
