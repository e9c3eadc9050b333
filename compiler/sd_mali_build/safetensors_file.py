"""A lazy reader of `.safetensors` files that never loads the whole file.

Our own reader instead of `safetensors.safe_open`: numpy has no bfloat16 (many published
checkpoints are bf16), and a damaged file must be named with what is wrong with it (a header
that does not parse, a tensor past the end of a truncated download) before anything is built.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .errors import CheckpointFormatError, UnsupportedCheckpointError

_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # expanded to float32 on read
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}

# A header larger than this is not a checkpoint header (the real SD 1.5 one is ~150 KB).
_MAX_HEADER_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def refuse_pickle(path: str) -> None:
    """Pickle checkpoints (`.ckpt`, `.pt`, `.bin`) run code when loaded: refuse them by content."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] == b"PK" or head[:1] == b"\x80":
        raise UnsupportedCheckpointError(
            f"{os.path.basename(path)} is a pickle (PyTorch .ckpt) file, which can run code when it is "
            "loaded; sd-mali reads only .safetensors. Convert it once on a trusted machine (e.g. with "
            "diffusers' convert_original_stable_diffusion_to_diffusers.py --to_safetensors) or download "
            "the .safetensors version.",
            path=path,
        )


class SafetensorsFile:
    """Tensors of one `.safetensors` file, read on demand through a memory map."""

    def __init__(self, path: str) -> None:
        self.path = path
        name = os.path.basename(path)
        refuse_pickle(path)
        size = os.path.getsize(path)
        if size < 8:
            raise CheckpointFormatError(f"{name} is {size} bytes: too short to be a .safetensors file", path=path)
        with open(path, "rb") as f:
            (header_len,) = struct.unpack("<Q", f.read(8))
            if header_len > _MAX_HEADER_BYTES or 8 + header_len > size:
                raise CheckpointFormatError(
                    f"{name}: the header claims {header_len} bytes but the file has {size}; "
                    "the file is truncated or not a .safetensors file",
                    path=path,
                )
            raw = f.read(header_len)
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CheckpointFormatError(f"{name}: the header is not JSON ({e}); not a .safetensors file", path=path) from e
        if not isinstance(header, dict):
            raise CheckpointFormatError(f"{name}: the header is not a JSON object", path=path)
        self.metadata: dict[str, str] = header.pop("__metadata__", None) or {}
        data_start = 8 + header_len
        data_size = size - data_start
        self._entries: dict[str, TensorEntry] = {}
        for key, info in header.items():
            try:
                dtype = str(info["dtype"])
                shape = tuple(int(d) for d in info["shape"])
                begin, end = (int(o) for o in info["data_offsets"])
            except (KeyError, TypeError, ValueError) as e:
                raise CheckpointFormatError(f"{name}: tensor {key!r} has a malformed header entry", path=path) from e
            if dtype not in _DTYPES:
                raise CheckpointFormatError(f"{name}: tensor {key!r} has dtype {dtype}, which sd-mali does not read", path=path)
            count = int(np.prod(shape)) if shape else 1
            if end - begin != count * _DTYPES[dtype].itemsize or begin < 0:
                raise CheckpointFormatError(f"{name}: tensor {key!r} has {end - begin} bytes for shape {list(shape)} {dtype}", path=path)
            if end > data_size:
                raise CheckpointFormatError(
                    f"{name} is truncated: tensor {key!r} ends at byte {data_start + end} but the file has {size} "
                    "(an interrupted download?)",
                    path=path,
                )
            self._entries[key] = TensorEntry(key, dtype, shape, data_start + begin, data_start + end)
        self._file = open(path, "rb")
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) if size > 0 else None

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        self._file.close()

    def __enter__(self) -> "SafetensorsFile":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def keys(self) -> Iterator[str]:
        return iter(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def entry(self, key: str) -> TensorEntry:
        return self._entries[key]

    def shape(self, key: str) -> tuple[int, ...]:
        return self._entries[key].shape

    def get(self, key: str) -> np.ndarray:
        """The tensor as a numpy array: float32 for BF16 tensors, its own dtype otherwise (a copy)."""
        e = self._entries[key]
        assert self._map is not None
        raw = np.frombuffer(self._map, dtype=_DTYPES[e.dtype], count=(e.end - e.begin) // _DTYPES[e.dtype].itemsize, offset=e.begin)
        if e.dtype == "BF16":
            return (raw.astype(np.uint32) << 16).view(np.float32).reshape(e.shape)
        return raw.reshape(e.shape).copy()
