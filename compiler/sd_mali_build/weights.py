"""The tensor cache the sd-mali runtime loads: `params/tensor-cache.json` + `params_shard_<n>.bin`.

Records are written as the runtime wants them, `raw` bytes of the record's own dtype:
float16 for FP16 builds (no bfloat16 rounding), float32 otherwise.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SHARD_BYTES = 32 * 1024 * 1024


@dataclass
class TensorCacheWriter:
    folder: str
    metadata: dict[str, Any] = field(default_factory=dict)
    shards: list[dict[str, Any]] = field(default_factory=list)
    total_bytes: int = 0
    _current: Any = None
    _records: list[dict[str, Any]] = field(default_factory=list)
    _offset: int = 0

    def __post_init__(self) -> None:
        os.makedirs(self.folder, exist_ok=True)

    def _open_shard(self) -> None:
        self._close_shard()
        name = f"params_shard_{len(self.shards)}.bin"
        self._current = open(os.path.join(self.folder, name), "wb")
        self._records = []
        self._offset = 0
        self.shards.append({"dataPath": name, "format": "raw-shard", "nbytes": 0, "records": self._records})

    def _close_shard(self) -> None:
        if self._current is not None:
            self._current.close()
            self.shards[-1]["nbytes"] = self._offset
            self._current = None

    def add(self, name: str, array: np.ndarray) -> None:
        data = np.ascontiguousarray(array)
        nbytes = data.nbytes
        if self._current is None or (self._offset > 0 and self._offset + nbytes > SHARD_BYTES):
            self._open_shard()
        self._current.write(data.tobytes())
        self._records.append({
            "name": name,
            "shape": [int(d) for d in data.shape],
            "dtype": str(data.dtype),
            "format": "raw",
            "nbytes": nbytes,
            "byteOffset": self._offset,
        })
        self._offset += nbytes
        self.total_bytes += nbytes

    def finish(self) -> str:
        self._close_shard()
        path = os.path.join(self.folder, "tensor-cache.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"metadata": self.metadata, "records": self.shards}, f, indent=1)
        return path
