"""Build targets, as TVM v0.26 wants them: dicts, not CLI strings."""

from __future__ import annotations

import platform
import shutil
from dataclasses import dataclass
from typing import Any

from .errors import BuildError

# Mali-G610 MP4 (RK3588): Valhall, 16-wide warps in hardware, but TVM's OpenCL codegen
# treats a work-item as a thread (warp size 1); 256 work-items per group is the limit the
# driver reports, and 32 KB of local memory.
MALI_G610 = {"kind": "opencl", "device": "mali", "max_num_threads": 256, "max_threads_per_block": 256, "max_shared_memory_per_block": 32768, "thread_warp_size": 1}


@dataclass(frozen=True)
class BuildTarget:
    name: str  # what the user asked for: mali | opencl | cpu
    device_kind: str  # the sd-mali device kind: opencl | cpu
    executable_kind: str  # <kind> in stable_diffusion_<kind>.so
    host_triple: str
    tvm: dict[str, Any]
    cross_compiler: str | None  # the C++ driver that links for the host, when it is not this machine

    @property
    def is_gpu(self) -> bool:
        return self.device_kind != "cpu"


def _this_host() -> str:
    return {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu", "arm64": "aarch64-linux-gnu"}.get(platform.machine(), platform.machine() + "-linux-gnu")


def resolve_target(name: str) -> BuildTarget:
    host = _this_host()
    if name == "cpu":
        return BuildTarget("cpu", "cpu", "llvm", host, {"kind": "llvm", "mtriple": host}, None)
    if name == "opencl":
        return BuildTarget("opencl", "opencl", "opencl", host, {"kind": "opencl", "host": {"kind": "llvm", "mtriple": host}}, None)
    if name == "mali":
        triple = "aarch64-linux-gnu"
        cross = None if host == triple else "aarch64-linux-gnu-g++"
        if cross is not None and shutil.which(cross) is None:
            raise BuildError(
                "--target mali links aarch64 host code and needs aarch64-linux-gnu-g++ on this machine: "
                "apt install g++-aarch64-linux-gnu (Debian/Ubuntu), or build on the board itself"
            )
        return BuildTarget("mali", "opencl", "opencl", triple, {**MALI_G610, "host": {"kind": "llvm", "mtriple": triple}}, cross)
    raise BuildError(f"unknown target {name!r}: use mali, opencl or cpu")
