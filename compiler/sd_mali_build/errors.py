"""Typed build errors. Each carries a stable `code` the Node driver maps to its own error classes."""

from __future__ import annotations


class BuildError(Exception):
    """A build that cannot go on; the message says why and what to do."""

    code = "BUILD_FAILED"

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class UnsupportedCheckpointError(BuildError):
    """A file that is not an SD 1.x checkpoint sd-mali builds (pickle, SD 2.x, SDXL, inpainting UNet)."""

    code = "UNSUPPORTED_CHECKPOINT"


class CheckpointFormatError(BuildError):
    """A damaged file: truncated, a header that does not parse, offsets past the end."""

    code = "CHECKPOINT_DAMAGED"


class MissingTensorError(BuildError):
    """A tensor the architecture needs is not in the checkpoint."""

    code = "MISSING_TENSOR"


class TensorShapeError(BuildError):
    """A tensor whose shape is not the one the architecture needs."""

    code = "TENSOR_SHAPE"


class LoraError(BuildError):
    """A LoRA file that does not fit the model (unknown keys, wrong shapes, bad scale)."""

    code = "LORA_INVALID"


class OutputError(BuildError):
    """The output directory cannot be written (exists and not empty without --force, unwritable)."""

    code = "OUTPUT_INVALID"
