/**
 * What a model directory written by the TVM compile flow holds, found without loading
 * anything onto a device (used by load, `sd-mali info` and `sd-mali doctor`). Which files
 * these are: docs/artifact-contract.md ("Files").
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ArtifactError } from '../errors.js';
import { findIndexFile, INDEX_FILE_NAMES } from '../artifacts/index.js';
import { deviceOfTarget, type DeviceKind } from '../tvm/device.js';

/** Executable kinds in the order a default device is tried. */
export const EXECUTABLE_KINDS = ['opencl', 'cuda', 'vulkan', 'metal', 'cpu', 'llvm'] as const;
export type ExecutableKind = (typeof EXECUTABLE_KINDS)[number];

export interface ModelDirectory {
  dir: string;
  /** stable_diffusion_<kind>.so files present, by kind. */
  executables: Partial<Record<ExecutableKind, string>>;
  /** The weight index (params/ndarray-cache.json or params/tensor-cache.json), if present. */
  weightIndex?: string;
  /** Scheduler constant files of the compiled steps, by scheduler. */
  schedulerConsts: Record<string, string>;
  /** <dir>/tokenizer when it holds tokenizer files. */
  tokenizer?: string;
}

/** The device an executable kind runs on ('llvm' → 'cpu'). */
export function deviceOfExecutable(kind: ExecutableKind): DeviceKind {
  return deviceOfTarget(kind) as DeviceKind;
}

/** The model's executable for `device`, in EXECUTABLE_KINDS order (cpu before llvm). */
export function executableFor(model: ModelDirectory, device: DeviceKind): string | undefined {
  for (const kind of EXECUTABLE_KINDS) {
    if (deviceOfExecutable(kind) === device && model.executables[kind]) return model.executables[kind];
  }
  return undefined;
}

export function executableFileName(kind: string): string {
  return `stable_diffusion_${kind}.so`;
}

export function hasTokenizerFiles(dir: string): boolean {
  return (existsSync(join(dir, 'vocab.json')) && existsSync(join(dir, 'merges.txt'))) || existsSync(join(dir, 'tokenizer.json'));
}

export function inspectModelDirectory(dirInput: string): ModelDirectory {
  const dir = resolve(dirInput);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ArtifactError(dir, 'is not a directory; pass the model directory the TVM build wrote (dist/)');
  }
  const executables: Partial<Record<ExecutableKind, string>> = {};
  for (const kind of EXECUTABLE_KINDS) {
    const file = join(dir, executableFileName(kind));
    if (existsSync(file)) executables[kind] = file;
  }
  const schedulerConsts: Record<string, string> = {};
  for (const name of readdirSync(dir)) {
    const m = /^scheduler_(.+)_consts\.json$/.exec(name);
    if (m?.[1]) schedulerConsts[m[1]] = join(dir, name);
  }
  const out: ModelDirectory = { dir, executables, schedulerConsts };
  const index = findIndexFile(join(dir, 'params'));
  if (index) out.weightIndex = index;
  const tokenizer = join(dir, 'tokenizer');
  if (existsSync(tokenizer) && hasTokenizerFiles(tokenizer)) out.tokenizer = tokenizer;
  return out;
}

/** The weight index or an error naming what is missing. */
export function requireWeightIndex(model: ModelDirectory): string {
  if (!model.weightIndex) {
    throw new ArtifactError(join(model.dir, 'params', INDEX_FILE_NAMES[0]), `is missing (no params/${INDEX_FILE_NAMES.join(' or params/')}): the weights were not written`);
  }
  return model.weightIndex;
}
