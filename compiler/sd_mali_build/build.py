"""`build()`: a checkpoint into a model directory, written beside the output and renamed at the end."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import FORMAT_VERSION, __version__
from .errors import BuildError, OutputError, TensorShapeError
from .lora import LoraMerger, LoraSpec
from .source import CheckpointSource, open_checkpoint

# TVM (seconds to import) is imported once the input has been checked: bad input is refused at once.
Progress = Callable[[dict[str, object]], None]
from .targets import BuildTarget, resolve_target
from .weights import TensorCacheWriter

DTYPES = ("float32", "float16")


@dataclass
class BuildOptions:
    checkpoint: str
    out: str
    target: str = "opencl"
    dtype: str = "float32"
    vae_dtype: str | None = None  # None: the same as dtype
    loras: list[LoraSpec] = field(default_factory=list)
    config: str | None = None  # a diffusers folder whose config.json files give the architecture
    force: bool = False


def _source_group(entry: str) -> str:
    return "vae" if entry in ("vae", "vae_encode") else entry


def _check_output(out: str, force: bool) -> None:
    if os.path.exists(out):
        if not os.path.isdir(out):
            raise OutputError(f"{out} exists and is not a directory", path=out)
        if os.listdir(out) and not force:
            raise OutputError(f"{out} exists and is not empty; pass --force to replace it", path=out)
    parent = os.path.dirname(os.path.abspath(out)) or "."
    if not os.path.isdir(parent):
        raise OutputError(f"{parent} does not exist", path=out)
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{parent} is not writable", path=out)


def _write_weights(source: CheckpointSource, exported: Any, model_entries: list[Any], folder: str, dtype: str, vae_dtype: str,
                   lora: LoraMerger | None, progress: Progress) -> tuple[TensorCacheWriter, dict[str, int]]:
    writer = TensorCacheWriter(folder)
    total = sum(len(p) for p in exported.params.values())
    done = 0
    counts: dict[str, int] = {}
    groups = {e.name: e.params for e in model_entries}
    for entry, params in exported.params.items():
        if not params:
            continue
        group = _source_group(entry)
        records = groups[entry]
        store = np.dtype(vae_dtype if group == "vae" else dtype)
        counts[entry] = len(params)
        writer.metadata[f"{records}ParamSize"] = len(params)
        for i, (name, param) in enumerate(params):
            expected = tuple(int(d) for d in param.shape)
            array = source.tensor(group, name, expected)
            if lora is not None:
                array = lora.apply(group, name, array)
            stored = array.astype(store)
            if store == np.float16 and not np.isfinite(stored).all():
                raise TensorShapeError(f"{group} tensor {name} has values outside float16's range; build with --dtype float32")
            writer.add(f"{records}_{i}", stored)
            done += 1
            if done % 8 == 0 or done == total:
                progress({"phase": "weights", "done": done, "total": total, "bytes": writer.total_bytes})
    writer.finish()
    return writer, counts


def _dims(ty: Any) -> list[int | str]:
    import tvm

    return [int(d) if isinstance(d, tvm.tirx.IntImm) else str(d) for d in ty.shape.values]


def _signature(exported: Any, name: str) -> dict[str, Any]:
    """Argument and result shapes as the exported function declares them (symbolic dims by name)."""
    func = exported.mod[name]
    inputs = [{"name": p.name, "shape": _dims(p.ty), "dtype": str(p.ty.dtype)} for p in func.params if p.name != "packed_params"]
    return {"inputs": inputs, "output": {"shape": _dims(func.ret_ty), "dtype": str(func.ret_ty.dtype)}}


def build(options: BuildOptions, progress: Progress) -> dict[str, Any]:
    """Builds the model directory; returns the manifest. Nothing is left at `out` on failure."""
    if options.dtype not in DTYPES:
        raise BuildError(f"--dtype {options.dtype!r}: use float32 or float16")
    vae_dtype = options.vae_dtype or options.dtype
    if vae_dtype not in DTYPES:
        raise BuildError(f"--vae-dtype {vae_dtype!r}: use float32 or float16")
    target: BuildTarget = resolve_target(options.target)
    _check_output(options.out, options.force)

    progress({"phase": "read"})
    with open_checkpoint(options.checkpoint, options.config) as source:
        arch = source.architecture
        lora = LoraMerger.load(options.loras, arch) if options.loras else None
        import tvm

        from .compile import build_executable, export
        from .models.entries import TEXT_LENGTH, entries

        progress({"phase": "hash"})
        source.hash()  # type: ignore[attr-defined]
        progress({"phase": "export"})
        model_entries = entries(arch, options.dtype, vae_dtype)
        exported = export(model_entries)

        parent = os.path.dirname(os.path.abspath(options.out)) or "."
        staging = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(options.out))}.partial-", dir=parent)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 is for the staging name only
        try:
            writer, counts = _write_weights(source, exported, model_entries, os.path.join(staging, "params"), options.dtype, vae_dtype, lora, progress)
            if lora is not None:
                lora.check_all_used()
            executable = f"stable_diffusion_{target.executable_kind}.so"
            report = build_executable(exported, target, os.path.join(staging, executable), progress)
            h, w = arch.image_size
            manifest: dict[str, Any] = {
                "formatVersion": FORMAT_VERSION,
                "generator": f"sd-mali-build {__version__}",
                "tvmVersion": tvm.__version__,
                "target": {"name": target.name, "deviceKind": target.device_kind, "host": target.host_triple, "tvm": target.tvm},
                "executable": executable,
                "precision": options.dtype,
                "vaePrecision": vae_dtype,
                "image": {"width": w, "height": h},
                "latent": {"channels": arch.unet.in_channels, "width": arch.unet.sample_size, "height": arch.unet.sample_size},
                "vaeScalingFactor": arch.vae.scaling_factor,
                "text": {"maxLength": TEXT_LENGTH, "hiddenSize": arch.clip.hidden_size},
                "guidance": "host",
                "unetBatchSizes": [1, 2],
                "functions": {e.name: {"params": e.params, "paramCount": counts.get(e.name, 0), "doc": e.doc, **_signature(exported, e.name)} for e in model_entries},
                "scheduler": arch.scheduler,
                "architecture": arch.to_json(),
                "source": {"file": source.info.file, "sha256": source.info.sha256, "format": source.info.format},
                "loras": lora.specs_described if lora else [],
                "weights": {"bytes": writer.total_bytes, "shards": len(writer.shards)},
                "opencl": {"programs": report.opencl.get("programs", 0), "sourceBytes": report.opencl.get("sourceBytes", 0),
                           "sourceBytesWithoutStripping": report.opencl.get("sourceBytesBefore", 0)} if target.is_gpu else None,
                "schedules": report.schedules,
                "compileSeconds": round(report.seconds, 1),
            }
            with open(os.path.join(staging, "sd-mali.json"), "w", encoding="utf-8") as f:
                json.dump(manifest, f, indent=2)
            _replace(staging, options.out)
            staging = ""
            return manifest
        finally:
            if staging:
                shutil.rmtree(staging, ignore_errors=True)


def _replace(staging: str, out: str) -> None:
    """Moves the finished directory into place; an existing one (--force) is swapped out only now."""
    if os.path.exists(out):
        old = out.rstrip("/") + ".replaced"
        shutil.rmtree(old, ignore_errors=True)
        os.rename(out, old)
        os.rename(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, out)
