"""One OpenCL program per kernel, carrying only what that kernel uses.

TVM v0.26's OpenCL codegen writes each kernel as its own program (the runtime builds one
`cl_program` per kernel on first use) but puts the declarations of every kernel of the
module in front of each one: for SD 1.5, 998 programs and 185.8 MB of source that every
driver parses again per program. Kernels never call each other, so a kernel's program
needs none of the other declarations: the codegen's own post-processing hook
(`tvm_callback_opencl_postproc`, called with each kernel's source) drops them.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, Iterator

import tvm

_HOOK = "tvm_callback_opencl_postproc"
_DEFINITION = re.compile(r"^__kernel void (?:__attribute__\(\([^)]*\)\) )?(\w+)\(.*\{\s*$", re.M)
_DECLARATION = re.compile(r"^__kernel void (?:__attribute__\(\([^)]*\)\) )?(\w+)\([^;{]*\);\s*$\n?", re.M)


def strip_foreign_declarations(source: str) -> str:
    """The kernel's source without the declarations of kernels it does not define."""
    own = set(_DEFINITION.findall(source))
    return _DECLARATION.sub(lambda m: m.group(0) if m.group(1) in own else "", source)


@contextmanager
def lean_opencl_programs(stats: dict[str, int]) -> Iterator[None]:
    """While active, every OpenCL kernel TVM generates is stripped; `stats` counts programs and bytes."""
    stats.setdefault("programs", 0)
    stats.setdefault("sourceBytes", 0)
    stats.setdefault("sourceBytesBefore", 0)

    def postproc(source: str, _target: Any) -> str:
        lean = strip_foreign_declarations(source)
        stats["programs"] += 1
        stats["sourceBytes"] += len(lean.encode())
        stats["sourceBytesBefore"] += len(source.encode())
        return lean

    previous = tvm.get_global_func(_HOOK, allow_missing=True)
    tvm.register_global_func(_HOOK, postproc, override=True)
    try:
        yield
    finally:
        if previous is not None:
            tvm.register_global_func(_HOOK, previous, override=True)
        else:
            tvm.register_global_func(_HOOK, lambda s, _t: s, override=True)
