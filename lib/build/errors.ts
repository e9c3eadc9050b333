/** Errors of `sd-mali build`: the compile flow's own (typed by its code) and a missing toolchain. */
import { SdMaliError } from '../errors.js';

/** The codes the compile flow reports (sd_mali_build/errors.py), plus INTERRUPTED and INTERNAL. */
export type BuildFailureCode =
  | 'UNSUPPORTED_CHECKPOINT'
  | 'CHECKPOINT_DAMAGED'
  | 'MISSING_TENSOR'
  | 'TENSOR_SHAPE'
  | 'LORA_INVALID'
  | 'OUTPUT_INVALID'
  | 'BUILD_FAILED'
  | 'INTERRUPTED'
  | 'INTERNAL';

/** The compile flow refused the input or failed; nothing was written to the output directory. */
export class BuildError extends SdMaliError {
  /** Which kind of failure: a bad checkpoint, a missing tensor, a LoRA that does not fit… */
  readonly reason: BuildFailureCode;
  /** The file it concerns, when there is one. */
  readonly path: string | undefined;
  constructor(reason: BuildFailureCode, message: string, path?: string) {
    super('BUILD_FAILED', message);
    this.reason = reason;
    this.path = path;
  }
}

/** No Python with sd-mali's compile flow was found; the message is the command that installs it. */
export class BuildToolsMissingError extends SdMaliError {
  readonly tried: readonly string[];
  constructor(tried: readonly string[], packageDir: string, venv: string) {
    super(
      'BUILD_TOOLS_MISSING',
      `no Python with sd-mali's compile flow (sd_mali_build and apache-tvm) was found. Tried:\n${tried.map((t) => `  - ${t}`).join('\n')}\n` +
        `Install it once (Python >= 3.10, about 400 MB with TVM's compiler):\n` +
        `  python3 -m venv ${venv} && ${venv}/bin/pip install '${packageDir}'\n` +
        `or point SD_MALI_BUILD_PYTHON (--python) at a python that has it.`,
    );
    this.tried = tried;
  }
}
