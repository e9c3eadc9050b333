"""Runs a built model directory's functions through TVM's own Python runtime (CPU builds)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import tvm
from tvm import relax


class BuiltModel:
    def __init__(self, folder: str) -> None:
        with open(os.path.join(folder, "sd-mali.json"), encoding="utf-8") as f:
            self.manifest: dict[str, Any] = json.load(f)
        self.device = tvm.cpu()
        lib = tvm.runtime.load_module(os.path.join(folder, self.manifest["executable"]))
        self.vm = relax.VirtualMachine(lib, self.device)
        with open(os.path.join(folder, "params", "tensor-cache.json"), encoding="utf-8") as f:
            index = json.load(f)
        records: dict[str, np.ndarray] = {}
        for shard in index["records"]:
            data = open(os.path.join(folder, "params", shard["dataPath"]), "rb").read()
            for r in shard["records"]:
                records[r["name"]] = np.frombuffer(data, dtype=r["dtype"], count=int(np.prod(r["shape"])) if r["shape"] else 1, offset=r["byteOffset"]).reshape(r["shape"])
        self.params: dict[str, list[Any]] = {}
        for fn, info in self.manifest["functions"].items():
            if info["params"]:
                self.params[fn] = [tvm.runtime.tensor(records[f"{info['params']}_{i}"], self.device) for i in range(info["paramCount"])]

    def __call__(self, fn: str, *args: np.ndarray) -> np.ndarray:
        inputs = [tvm.runtime.tensor(a, self.device) for a in args]
        if fn in self.params:
            inputs.append(self.params[fn])
        return self.vm[fn](*inputs).numpy()
