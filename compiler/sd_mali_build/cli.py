"""`sd-mali-build CHECKPOINT --out DIR [--target mali|opencl|cpu] [--dtype float16] [--lora F[:S]]…`

Exit codes: 0 built; 2 bad input (the message says which); 1 anything else; 130 interrupted.
With --json-progress every line on stdout is one JSON event: `progress`, then `done` (with
the manifest) or `error` (with `code` and `message`).
"""

from __future__ import annotations

import argparse
import resource
import signal
import sys
import traceback
from types import FrameType

from . import __version__
from .build import BuildOptions, build
from .errors import BuildError
from .lora import LoraSpec
from .progress import Reporter


class Interrupted(Exception):
    pass


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sd-mali-build", description="Compile an SD 1.x checkpoint into a model directory for sd-mali.")
    p.add_argument("checkpoint", help="a .safetensors single file (original LDM layout) or a diffusers folder")
    p.add_argument("--out", required=True, help="the model directory to write")
    p.add_argument("--target", default="mali", choices=["mali", "opencl", "cpu"], help="mali: OpenCL + aarch64 host code (RK3588); opencl: this machine; cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    p.add_argument("--vae-dtype", default=None, choices=["float32", "float16"], help="the VAE's precision (default: --dtype)")
    p.add_argument("--lora", action="append", default=[], metavar="FILE[:SCALE]", help="merge a LoRA (repeatable)")
    p.add_argument("--config", default=None, metavar="DIR", help="a diffusers folder whose config.json files give the architecture (for a single file)")
    p.add_argument("--force", action="store_true", help="replace a non-empty output directory")
    p.add_argument("--json-progress", action="store_true", help="JSON lines on stdout (for sd-mali build)")
    p.add_argument("--version", action="version", version=f"sd-mali-build {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    reporter = Reporter(args.json_progress)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    options = BuildOptions(
        checkpoint=args.checkpoint, out=args.out, target=args.target, dtype=args.dtype, vae_dtype=args.vae_dtype,
        loras=[LoraSpec.parse(s) for s in args.lora], config=args.config, force=args.force,
    )
    try:
        manifest = build(options, reporter)
    except BuildError as e:
        reporter.result("error", {"code": e.code, "message": str(e), "path": e.path})
        if not args.json_progress:
            sys.stderr.write(f"sd-mali-build: {e}\n")
        return 2
    except Interrupted as e:
        reporter.result("error", {"code": "INTERRUPTED", "message": f"interrupted by {e}; nothing was written"})
        if not args.json_progress:
            sys.stderr.write("sd-mali-build: interrupted; nothing was written\n")
        return 130
    except Exception as e:  # noqa: BLE001 - reported whole, with the traceback for a bug report
        reporter.result("error", {"code": "INTERNAL", "message": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()})
        if not args.json_progress:
            traceback.print_exc()
        return 1
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    linker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    reporter.result("done", {"manifest": manifest, "peakRssBytes": own, "childPeakRssBytes": linker})
    if not args.json_progress:
        sys.stderr.write(f"built {args.out} ({manifest['precision']}, {manifest['target']['name']}, {manifest['weights']['bytes']} weight bytes)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
