"""Writes random weight shards for a model directory whose params/tensor-cache.json is there but
whose shards are not (a real-size build carried to a GPU machine without its 2-4 GB of weights).

Values: N(0, 0.02), 1-D `.weight`-like records near 1 would need names; the records are
anonymous (clip_0, unet_1, ...), so 1-D records get 1 + N(0, 0.02) (norm scales and biases
alike): the network's activations stay finite, which is all a timing run needs.

usage: python3 fill-weights.py MODEL_DIR
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np


def main(model: str) -> None:
    params = os.path.join(model, "params")
    with open(os.path.join(params, "tensor-cache.json"), encoding="utf-8") as f:
        index = json.load(f)
    rng = np.random.default_rng(5)
    for shard in index["records"]:
        path = os.path.join(params, shard["dataPath"])
        if os.path.exists(path) and os.path.getsize(path) == shard["nbytes"]:
            continue
        with open(path, "wb") as out:
            for r in shard["records"]:
                n = int(np.prod(r["shape"])) if r["shape"] else 1
                values = rng.standard_normal(n, dtype=np.float32) * 0.02 + (1.0 if len(r["shape"]) == 1 else 0.0)
                out.write(values.astype(r["dtype"]).tobytes())


if __name__ == "__main__":
    for d in sys.argv[1:]:
        main(d)
