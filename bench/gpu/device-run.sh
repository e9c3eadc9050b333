#!/bin/bash
# On a lent GPU machine (x86-64, NVIDIA OpenCL driver, python3 with numpy, no Node):
# a real-size SD 1.5 UNet step and VAE decode through sd-mali, cold and warm, FP32 and
# (where the driver has cl_khr_fp16) FP16. Everything it needs arrives in .devicerun/ (see
# bench/gpu/README.md): node (xz), the v0.26.0 runtime and libOpenCL.so.1, the two real-size
# builds without their weights (made here with numpy). Results: RESULT lines, and $OUT.
set -euo pipefail
D=.devicerun
python3 -c "import lzma, shutil; shutil.copyfileobj(lzma.open('$D/node.xz'), open('/tmp/node', 'wb'))"
chmod +x /tmp/node
# The driver's ICD file: only PoCL is registered on these machines, and TVM would quietly use it.
mkdir -p /tmp/icd && echo /usr/local/nvidia/lib64/libnvidia-opencl.so.1 > /tmp/icd/nvidia.icd
export OCL_ICD_VENDORS=/tmp/icd LD_LIBRARY_PATH="$PWD/$D/tvm:${LD_LIBRARY_PATH:-}" SD_MALI_CACHE_DIR=/tmp/sd-mali-cache
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
started=$(date +%s)
python3 bench/gpu/fill-weights.py $D/sd15-opencl-*
echo "weights made in $(( $(date +%s) - started )) s"
for model in $D/sd15-opencl-*; do
  label=$(basename "$model")
  cache=/tmp/cache-$label
  rm -rf "$cache"
  /tmp/node bench/gpu/run.mjs "$PWD/$D/tvm/libtvm_runtime.so" "$model" "$label cold" "$cache" 2>&1 | tee -a "${OUT:-/tmp}/log.txt" | grep -E "RESULT|Error|error" || true
  /tmp/node bench/gpu/run.mjs "$PWD/$D/tvm/libtvm_runtime.so" "$model" "$label warm" "$cache" 2>&1 | tee -a "${OUT:-/tmp}/log.txt" | grep -E "RESULT|Error|error" || true
done
