"""Where the weights come from: an original-layout single file or a diffusers folder.

Either way the build asks for tensors by (group, diffusers name) and gets float32 numpy
arrays; the mapping, the 1x1-conv reshape of the VAE attention and the key-style
differences (transformers 4 vs 5 text encoders) stay in here.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from . import architecture as arch_mod
from .architecture import Architecture
from .errors import BuildError, MissingTensorError, TensorShapeError, UnsupportedCheckpointError
from .ldm_keys import is_vae_attention_linear, unet_prefixes, vae_prefixes
from .safetensors_file import SafetensorsFile, refuse_pickle


@dataclass(frozen=True)
class SourceInfo:
    file: str
    sha256: str
    format: str  # ldm-safetensors | diffusers


class CheckpointSource:
    """Tensors by (group, diffusers name); group is clip | unet | vae (decoder and encoder)."""

    architecture: Architecture
    info: SourceInfo

    def tensor(self, group: str, name: str) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> "CheckpointSource":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(8 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def folder_sha256(paths: Iterable[str]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(os.path.basename(os.path.dirname(p)).encode() + b"/" + os.path.basename(p).encode() + b"\0")
        h.update(file_sha256(p).encode())
    return h.hexdigest()


def _checked(array: np.ndarray, expected: tuple[int, ...] | None, where: str, key: str) -> np.ndarray:
    if expected is not None and tuple(array.shape) != tuple(expected):
        raise TensorShapeError(f"{where}: tensor {key} has shape {list(array.shape)}, the architecture needs {list(expected)}", path=where)
    if not np.issubdtype(array.dtype, np.floating):
        raise TensorShapeError(f"{where}: tensor {key} is {array.dtype}, not a floating-point weight", path=where)
    return array.astype(np.float32, copy=False)


class SingleFileSource(CheckpointSource):
    def __init__(self, path: str, config_folder: str | None = None) -> None:
        self.path = path
        self.file = SafetensorsFile(path)
        keys = set(self.file.keys())
        name = os.path.basename(path)
        arch_mod.refuse_other_families(keys, name)
        if config_folder is not None:
            self.architecture = arch_mod.from_diffusers_folder(config_folder)
        else:
            self.architecture = arch_mod.infer_from_shapes(lambda k: self.file.shape(k) if k in self.file else None, keys, name)
        self._clip_prefix = arch_mod.clip_prefix(keys)
        self._maps = {
            "unet": unet_prefixes(self.architecture.unet),
            "vae": vae_prefixes(self.architecture.vae),
        }
        self.info = SourceInfo(name, "", "ldm-safetensors")

    def hash(self) -> None:
        self.info = SourceInfo(self.info.file, file_sha256(self.path), self.info.format)

    def key_for(self, group: str, name: str) -> str:
        if group == "clip":
            return self._clip_prefix + name
        for diffusers_prefix, ldm_prefix in self._maps[group]:
            if name.startswith(diffusers_prefix):
                return ldm_prefix + name[len(diffusers_prefix):]
        raise MissingTensorError(f"{self.info.file}: no single-file name is known for {group} tensor {name}")

    def tensor(self, group: str, name: str, expected: tuple[int, ...] | None = None) -> np.ndarray:
        key = self.key_for(group, name)
        if key not in self.file:
            raise MissingTensorError(f"{self.info.file}: tensor {key} is missing (the {group} needs it as {name})", path=self.path)
        array = self.file.get(key)
        if group == "vae" and is_vae_attention_linear(name) and array.ndim == 4:
            array = array.reshape(array.shape[0], array.shape[1])
        return _checked(array, expected, self.info.file, key)

    def close(self) -> None:
        self.file.close()


_WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "model.safetensors", "diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors")


class DiffusersFolderSource(CheckpointSource):
    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.architecture = arch_mod.from_diffusers_folder(folder)
        self.files: dict[str, SafetensorsFile] = {}
        for group, sub in (("clip", "text_encoder"), ("unet", "unet"), ("vae", "vae")):
            d = os.path.join(folder, sub)
            found = next((os.path.join(d, f) for f in _WEIGHT_FILES if os.path.exists(os.path.join(d, f))), None)
            if found is None:
                pickles = [f for f in os.listdir(d) if f.endswith((".bin", ".ckpt", ".pt"))] if os.path.isdir(d) else []
                if pickles:
                    refuse_pickle(os.path.join(d, pickles[0]))
                raise MissingTensorError(f"{d}: no .safetensors weights (looked for {', '.join(_WEIGHT_FILES)})", path=d)
            self.files[group] = SafetensorsFile(found)
        clip_keys = set(self.files["clip"].keys())
        # transformers 4 wrote CLIPTextModel's keys under `text_model.`, transformers >= 5.6 without.
        self._clip_prefix = "text_model." if "text_model.embeddings.token_embedding.weight" in clip_keys else ""
        self.info = SourceInfo(os.path.basename(os.path.normpath(folder)), "", "diffusers")

    def hash(self) -> None:
        self.info = SourceInfo(self.info.file, folder_sha256(f.path for f in self.files.values()), self.info.format)

    def tensor(self, group: str, name: str, expected: tuple[int, ...] | None = None) -> np.ndarray:
        f = self.files[group]
        key = self._clip_prefix + name if group == "clip" else name
        if key not in f:
            raise MissingTensorError(f"{f.path}: tensor {key} is missing", path=f.path)
        array = f.get(key)
        if group == "vae" and is_vae_attention_linear(name) and array.ndim == 4:
            array = array.reshape(array.shape[0], array.shape[1])
        return _checked(array, expected, os.path.relpath(f.path, self.folder), key)

    def close(self) -> None:
        for f in self.files.values():
            f.close()


def open_checkpoint(path: str, config_folder: str | None = None) -> CheckpointSource:
    if not os.path.exists(path):
        raise BuildError(f"{path} does not exist", path=path)
    if os.path.isdir(path):
        return DiffusersFolderSource(path)
    lower = path.lower()
    if lower.endswith((".ckpt", ".pt", ".pth", ".bin")):
        refuse_pickle(path)
    if not lower.endswith(".safetensors"):
        refuse_pickle(path)
    return SingleFileSource(path, config_folder)
