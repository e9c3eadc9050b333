"""LoRA files merged into the weights at build time: W' = W + scale · (alpha / rank) · up · down.

Two key styles, as people find them:
- kohya / A1111: `lora_unet_<module>.lora_down.weight`, `.lora_up.weight`, `.alpha`, where
  `<module>` is the diffusers (or the original LDM) module path with `_` for `.`, and
  `lora_te_<module>` for the text encoder (LCM-LoRA for SD 1.5 is published this way);
- diffusers / PEFT: `unet.<module>.lora_A.weight` / `.lora_B.weight` (also
  `lora.down`/`lora.up` and `text_encoder.<module>…`).
A key that matches no weight of the model is an error naming it, never silently dropped.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .architecture import Architecture
from .errors import LoraError
from .ldm_keys import unet_prefixes
from .safetensors_file import SafetensorsFile


@dataclass(frozen=True)
class LoraSpec:
    path: str
    scale: float = 1.0

    @staticmethod
    def parse(text: str) -> "LoraSpec":
        """`FILE[:SCALE]`; a colon inside the path is kept when what follows it is no number."""
        path, sep, tail = text.rpartition(":")
        if sep and path:
            try:
                return LoraSpec(path, float(tail))
            except ValueError:
                pass
        return LoraSpec(text, 1.0)

    def describe(self) -> dict[str, Any]:
        return {"file": os.path.basename(self.path), "scale": self.scale}


@dataclass
class _Pair:
    down: np.ndarray
    up: np.ndarray
    alpha: float | None
    scale: float
    source: str


@dataclass
class _Loaded:
    spec: LoraSpec
    sha256: str
    style: str
    modules: int


_KOHYA = re.compile(r"^(lora_unet_|lora_te1?_)(.+?)\.(lora_down|lora_up|alpha)(?:\.weight)?$")
_PEFT = re.compile(r"^(unet|text_encoder)\.(.+?)\.(?:lora_A|lora_B|lora\.down|lora\.up|lora_down|lora_up|alpha)(?:\.weight)?$")


def _module_names(arch: Architecture) -> dict[str, tuple[str, str]]:
    """Every LoRA module spelling sd-mali knows -> (group, diffusers weight name)."""
    from .models.clip import ClipTextModel
    from .models.unet import UNet2DConditionModel

    names: dict[str, tuple[str, str]] = {}
    unet = UNet2DConditionModel(arch.unet, "float32")
    ldm = unet_prefixes(arch.unet)
    for weight, _ in unet.named_parameters():
        if not weight.endswith(".weight"):
            continue
        module = weight[: -len(".weight")]
        for spelling in (f"lora_unet_{module.replace('.', '_')}", f"unet.{module}"):
            names[spelling] = ("unet", weight)
        for diffusers_prefix, ldm_prefix in ldm:
            if weight.startswith(diffusers_prefix):
                ldm_module = (ldm_prefix + weight[len(diffusers_prefix):])[len("model.diffusion_model."): -len(".weight")]
                names[f"lora_unet_{ldm_module.replace('.', '_')}"] = ("unet", weight)
                break
    clip = ClipTextModel(arch.clip, "float32")
    for weight, _ in clip.named_parameters():
        if not weight.endswith(".weight"):
            continue
        module = weight[: -len(".weight")]
        for spelling in (f"lora_te_text_model_{module.replace('.', '_')}", f"lora_te1_text_model_{module.replace('.', '_')}",
                         f"text_encoder.text_model.{module}", f"text_encoder.{module}"):
            names[spelling] = ("clip", weight)
    return names


@dataclass
class LoraMerger:
    specs: list[LoraSpec]
    pairs: dict[tuple[str, str], list[_Pair]] = field(default_factory=dict)
    loaded: list[_Loaded] = field(default_factory=list)
    used: set[tuple[str, str]] = field(default_factory=set)

    @staticmethod
    def load(specs: list[LoraSpec], arch: Architecture) -> "LoraMerger":
        from .source import file_sha256

        merger = LoraMerger(list(specs))
        known = _module_names(arch)
        for spec in specs:
            name = os.path.basename(spec.path)
            if not os.path.isfile(spec.path):
                raise LoraError(f"LoRA {spec.path} does not exist", path=spec.path)
            if not np.isfinite(spec.scale):
                raise LoraError(f"LoRA {name}: scale {spec.scale} is not a number", path=spec.path)
            with SafetensorsFile(spec.path) as f:
                groups: dict[str, dict[str, np.ndarray]] = {}
                style = ""
                for key in f.keys():
                    m = _KOHYA.match(key)
                    if m:
                        module, part, style = m.group(1) + m.group(2), m.group(3), "kohya"
                    else:
                        m2 = _PEFT.match(key)
                        if not m2:
                            raise LoraError(f"LoRA {name}: key {key} is neither kohya (lora_unet_…, lora_te_…) nor diffusers/PEFT (unet.….lora_A…) style", path=spec.path)
                        module = m2.group(1) + "." + m2.group(2)
                        part = "down" if re.search(r"lora_A|lora\.down|lora_down", key) else "up" if re.search(r"lora_B|lora\.up|lora_up", key) else "alpha"
                        style = "diffusers"
                        module = module.replace(".processor.", ".").replace("_lora", "")
                    part = {"lora_down": "down", "lora_up": "up"}.get(part, part)
                    groups.setdefault(module, {})[part] = f.get(key)
                for module, parts in groups.items():
                    target = known.get(module) or known.get(_unprocessed(module))
                    if target is None:
                        raise LoraError(f"LoRA {name}: module {module} matches no weight of this model (is the LoRA for another architecture, e.g. SDXL or SD 2.x?)", path=spec.path)
                    if "down" not in parts or "up" not in parts:
                        raise LoraError(f"LoRA {name}: module {module} lacks its {'down (lora_A)' if 'down' not in parts else 'up (lora_B)'} matrix", path=spec.path)
                    alpha = float(np.asarray(parts["alpha"]).reshape(-1)[0]) if "alpha" in parts else None
                    merger.pairs.setdefault(target, []).append(_Pair(parts["down"].astype(np.float32), parts["up"].astype(np.float32), alpha, spec.scale, name))
                merger.loaded.append(_Loaded(spec, file_sha256(spec.path), style, len(groups)))
        return merger

    def apply(self, group: str, name: str, weight: np.ndarray) -> np.ndarray:
        pairs = self.pairs.get((group, name))
        if not pairs:
            return weight
        self.used.add((group, name))
        merged = weight.astype(np.float32, copy=True)
        for p in pairs:
            rank = p.down.shape[0]
            factor = p.scale * ((p.alpha / rank) if p.alpha is not None else 1.0)
            up2 = p.up.reshape(p.up.shape[0], rank)
            delta = up2 @ p.down.reshape(rank, -1)
            if delta.shape != (merged.shape[0], int(np.prod(merged.shape[1:]))):
                raise LoraError(f"LoRA {p.source}: {group} weight {name} is {list(merged.shape)}, the LoRA's product is {list(p.up.shape[:1]) + list(p.down.shape[1:])}")
            merged += factor * delta.reshape(merged.shape)
        return merged

    def check_all_used(self) -> None:
        unused = [k for k in self.pairs if k not in self.used]
        if unused:
            raise LoraError(f"LoRA modules for {', '.join(f'{g} {n}' for g, n in unused[:3])} were not merged: those weights are not in this build")

    @property
    def specs_described(self) -> list[dict[str, Any]]:
        return [{**l.spec.describe(), "sha256": l.sha256, "style": l.style, "modules": l.modules} for l in self.loaded]


def _unprocessed(module: str) -> str:
    # Old diffusers attention-processor LoRAs: `…attn1.processor.to_q_lora` -> `…attn1.to_q`.
    return module.replace(".processor", "").replace("_lora", "")
