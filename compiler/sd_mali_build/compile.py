"""From the networks to one Relax VM executable: export, lower, schedule, generate code, link."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable

import tvm
from tvm import relax
from tvm.relax.frontend import nn

from .models.entries import Entry
from .opencl_source import lean_opencl_programs
from .targets import BuildTarget

Progress = Callable[[dict[str, object]], None]


@dataclass
class ExportedModel:
    mod: tvm.IRModule
    params: dict[str, list[tuple[str, nn.Parameter]]]  # entry name -> its packed params, in order


@dataclass
class CompileReport:
    seconds: float = 0.0
    kernels: int = 0
    opencl: dict[str, int] = field(default_factory=dict)
    schedules: dict[str, int] = field(default_factory=dict)  # kernels per DLight rule


def export(entries: list[Entry]) -> ExportedModel:
    """Each network exported on its own (its params packed into one tuple), then merged into one module."""
    merged: dict[str, tuple[tvm.ir.GlobalVar, relax.Function | tvm.tirx.PrimFunc]] = {}
    params: dict[str, list[tuple[str, nn.Parameter]]] = {}
    for e in entries:
        mode = "packed" if e.params is not None else "none"
        mod, p = e.module.export_tvm(spec={"forward": {**e.inputs, "$": {"param_mode": mode, "effect_mode": "none"}}})
        params[e.name] = list(p) if e.params is not None else []
        for gvar, func in mod.functions.items():
            name = e.name if gvar.name_hint == "forward" else gvar.name_hint
            if name in merged:
                raise RuntimeError(f"two entry modules define {name}")
            if gvar.name_hint == "forward":
                # Nothing calls an entry, so it gets a new GlobalVar; helpers keep theirs (calls refer to them).
                gvar, func = tvm.ir.GlobalVar(name), func.with_attr("global_symbol", name)
            merged[name] = (gvar, func)
    return ExportedModel(tvm.IRModule(dict(merged.values())), params)


def _schedule_gpu(mod: tvm.IRModule, target: tvm.target.Target, progress: Progress, counts: dict[str, int]) -> tvm.IRModule:
    """DLight's GPU rules on each kernel, in order, the first that applies wins.

    A rule that raises on a kernel it does not really fit (DLight's Matmul asserts on some
    fused convolution epilogues at SD 1.5's size) is passed over for the next one, down to
    Fallback, then TVM's DefaultGPUSchedule; `counts` tells how many kernels each scheduled.
    """
    from tvm.s_tir import dlight as dl
    from tvm.s_tir import transform as s_tir_transform

    rules = [("Matmul", dl.gpu.Matmul()), ("GEMV", dl.gpu.GEMV()), ("Reduction", dl.gpu.Reduction()),
             ("GeneralReduction", dl.gpu.GeneralReduction()), ("Fallback", dl.gpu.Fallback())]
    prims = [(g, f) for g, f in mod.functions.items() if isinstance(f, tvm.tirx.PrimFunc)]
    updates = {}
    for i, (gvar, func) in enumerate(prims):
        single = tvm.IRModule({gvar: func})
        chosen = None
        for name, rule in rules:
            try:
                with target:
                    scheduled = dl.ApplyDefaultSchedule(rule)(single)
            except Exception:  # noqa: BLE001 - a rule that does not fit this kernel
                continue
            if not scheduled[gvar].same_as(func):
                chosen = (name, scheduled[gvar])
                break
        if chosen is None:
            with target:
                chosen = ("DefaultGPUSchedule", s_tir_transform.DefaultGPUSchedule()(single)[gvar])
        counts[chosen[0]] = counts.get(chosen[0], 0) + 1
        updates[gvar] = chosen[1]
        progress({"phase": "schedule", "done": i + 1, "total": len(prims), "function": gvar.name_hint, "rule": chosen[0]})
    for gvar, func in updates.items():
        mod[gvar] = func
    return mod


def _pipeline(target: BuildTarget, tvm_target: tvm.target.Target, progress: Progress, counts: dict[str, int]) -> tvm.transform.Pass:
    from tvm.relax import backend

    generic = backend.gpu_generic.pipeline if target.is_gpu else backend.cpu_generic.pipeline

    @tvm.transform.module_pass(opt_level=0)
    def run(mod: tvm.IRModule, _ctx: tvm.transform.PassContext) -> tvm.IRModule:
        with tvm_target:
            progress({"phase": "lower"})
            mod = tvm.transform.Sequential(
                generic.library_dispatch_passes(tvm_target)
                + [relax.transform.LegalizeOps(), relax.transform.AnnotateTIROpPattern(), relax.transform.FoldConstant(),
                   relax.transform.FuseOps(), relax.transform.FuseTIR(), relax.transform.DeadCodeElimination()]
            )(mod)
            if target.is_gpu:
                mod = _schedule_gpu(mod, tvm_target, progress, counts)
            progress({"phase": "codegen"})
            return tvm.transform.Sequential(generic.dataflow_lower_passes(tvm_target) + generic.finalize_passes(tvm_target))(mod)

    return run


def build_executable(exported: ExportedModel, target: BuildTarget, out_path: str, progress: Progress) -> CompileReport:
    """Compiles and links the executable to `out_path` (written beside, renamed by the caller)."""
    report = CompileReport()
    started = time.monotonic()
    tvm_target = tvm.target.Target(target.tvm)
    with lean_opencl_programs(report.opencl):
        executable = relax.build(exported.mod, target=tvm_target, relax_pipeline=_pipeline(target, tvm_target, progress, report.schedules))
    report.kernels = sum(1 for _ in _kernel_names(executable))
    progress({"phase": "link"})
    if target.cross_compiler is not None:
        from tvm.support import cc

        executable.export_library(out_path, fcompile=cc.cross_compiler(target.cross_compiler))
    else:
        executable.export_library(out_path)
    if not os.path.exists(out_path):
        raise RuntimeError(f"TVM wrote no {out_path}")
    report.seconds = time.monotonic() - started
    return report


def _kernel_names(executable: relax.VMExecutable) -> list[str]:
    try:
        text = executable.stats()
    except Exception:  # pragma: no cover - stats are informational
        return []
    return [line for line in text.splitlines() if line.strip()]
