"""Writes a random-weight SD 1.5 single file (original LDM layout, float16) of the real size.

The tensor list is ../shared/realscale/sd15-ldm-keys.json (names and shapes of a published
SD 1.5 file, 1,130 tensors, 1.07 G parameters). Values: N(0, 0.02) per tensor, norms' weights
near 1, so a built model produces finite numbers; the header is safetensors' (u64 length +
JSON, padded to 8 bytes), the data written tensor by tensor (peak memory: one tensor).

usage: python make-sd15-checkpoint.py KEYS_JSON OUT.safetensors
"""

from __future__ import annotations

import json
import struct
import sys

import numpy as np


def main(keys_path: str, out_path: str) -> None:
    with open(keys_path, encoding="utf-8") as f:
        tensors = json.load(f)["tensors"]
    header: dict[str, object] = {}
    offset = 0
    for t in tensors:
        n = int(np.prod(t["shape"])) if t["shape"] else 1
        header[t["name"]] = {"dtype": "F16", "shape": t["shape"], "data_offsets": [offset, offset + 2 * n]}
        offset += 2 * n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    rng = np.random.default_rng(1234)
    with open(out_path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for t in tensors:
            shape = t["shape"]
            n = int(np.prod(shape)) if shape else 1
            is_norm_weight = t["name"].endswith(".weight") and len(shape) == 1
            values = rng.standard_normal(n, dtype=np.float32) * 0.02 + (1.0 if is_norm_weight else 0.0)
            f.write(values.astype("<f2").tobytes())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
