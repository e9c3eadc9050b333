"""The numpy path the weight bench compares with: what TVM's Python loader does per shard
(read the file, expand bf16 with (u16.astype(u32) << 16).view(f32), copy into the array
that stays), with every array kept alive until the end like device weights on the CPU.
Prints one JSON line: seconds and peak RSS."""
import json
import os
import resource
import sys
import time

import numpy as np

params = sys.argv[1]
with open(os.path.join(params, "ndarray-cache.json")) as f:
    index = json.load(f)
kept = []
t = time.perf_counter()
for shard in index["records"]:
    data = np.fromfile(os.path.join(params, shard["dataPath"]), dtype=np.uint8)
    for r in shard["records"]:
        raw = data[r["byteOffset"] : r["byteOffset"] + r["nbytes"]]
        if r["format"] == "f32-to-bf16":
            value = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            value = raw.view(r["dtype"])
        out = np.empty(r["shape"], dtype=r["dtype"])
        np.copyto(out, value.reshape(r["shape"]))
        kept.append(out)
    del data
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
