/**
 * `build()`: runs sd-mali's compile flow (Python, TVM's compiler) on a checkpoint and
 * resolves with the manifest of the model directory it wrote. Progress arrives as the
 * flow's JSON lines; an AbortSignal interrupts it (the flow removes what it had staged, so
 * the output directory is left as it was).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { AbortError, InvalidArgumentError, throwIfAborted } from '../errors.js';
import { BuildError, type BuildFailureCode } from './errors.js';
import { findBuildPython, type BuildPython } from './find-python.js';
import type { ModelManifest } from './manifest.js';

export type BuildTarget = 'mali' | 'opencl' | 'cpu';
export type BuildDtype = 'float32' | 'float16';
export const BUILD_TARGETS: readonly BuildTarget[] = ['mali', 'opencl', 'cpu'];
export const BUILD_DTYPES: readonly BuildDtype[] = ['float32', 'float16'];

export interface LoraInput {
  /** A .safetensors LoRA (kohya/A1111 or diffusers/PEFT key style). */
  path: string;
  /** Its weight; 1 by default. */
  scale?: number;
}

/** One step of the flow: reading, hashing, export, weights (done/total tensors), lower, schedule (done/total kernels), codegen, link. */
export interface BuildProgress {
  phase: 'read' | 'hash' | 'export' | 'weights' | 'lower' | 'schedule' | 'codegen' | 'link' | (string & {});
  done?: number;
  total?: number;
  /** Weight bytes written so far (phase 'weights'). */
  bytes?: number;
  elapsedMs: number;
}

export interface BuildOptions {
  /** The model directory to write. */
  out: string;
  /** mali (OpenCL kernels, aarch64 host code), opencl (this machine's host), cpu. Default mali. */
  target?: BuildTarget;
  dtype?: BuildDtype;
  /** The VAE's precision when it should differ from `dtype`. */
  vaeDtype?: BuildDtype;
  loras?: readonly LoraInput[];
  /** A diffusers folder whose config.json files give the architecture of a single file. */
  config?: string;
  /** Replace a non-empty output directory. */
  force?: boolean;
  /** The Python to run (else SD_MALI_BUILD_PYTHON, ~/.sd-mali/build-venv, python3). */
  python?: string;
  onProgress?: (p: BuildProgress) => void;
  signal?: AbortSignal;
}

export interface BuildResult {
  out: string;
  manifest: ModelManifest;
  python: BuildPython;
  /** The compile flow's peak resident memory, and its linker's (bytes). */
  peakRssBytes: number;
  childPeakRssBytes: number;
}

interface FlowEvent {
  event: 'progress' | 'done' | 'error';
  phase?: string;
  done?: number;
  total?: number;
  bytes?: number;
  elapsedS?: number;
  manifest?: ModelManifest;
  peakRssBytes?: number;
  childPeakRssBytes?: number;
  code?: BuildFailureCode;
  message?: string;
  path?: string | null;
}

function check(checkpoint: string, opts: BuildOptions): void {
  if (typeof checkpoint !== 'string' || checkpoint.length === 0) throw new InvalidArgumentError('build: the checkpoint path is required');
  if (typeof opts.out !== 'string' || opts.out.length === 0) throw new InvalidArgumentError('build: out (the model directory to write) is required');
  if (opts.target !== undefined && !BUILD_TARGETS.includes(opts.target)) throw new InvalidArgumentError(`build: target must be one of ${BUILD_TARGETS.join(', ')}`);
  for (const d of [opts.dtype, opts.vaeDtype]) {
    if (d !== undefined && !BUILD_DTYPES.includes(d)) throw new InvalidArgumentError(`build: dtype must be one of ${BUILD_DTYPES.join(', ')}`);
  }
  for (const l of opts.loras ?? []) {
    if (typeof l.path !== 'string' || l.path.length === 0) throw new InvalidArgumentError('build: each LoRA needs a path');
    if (l.scale !== undefined && !Number.isFinite(l.scale)) throw new InvalidArgumentError(`build: LoRA ${l.path}: scale must be a finite number`);
  }
}

export function buildArguments(checkpoint: string, opts: BuildOptions): string[] {
  const args = ['-m', 'sd_mali_build', checkpoint, '--out', opts.out, '--target', opts.target ?? 'opencl', '--dtype', opts.dtype ?? 'float32', '--json-progress'];
  if (opts.vaeDtype) args.push('--vae-dtype', opts.vaeDtype);
  if (opts.config) args.push('--config', opts.config);
  if (opts.force) args.push('--force');
  for (const l of opts.loras ?? []) args.push('--lora', l.scale === undefined ? l.path : `${l.path}:${l.scale}`);
  return args;
}

export async function build(checkpoint: string, opts: BuildOptions): Promise<BuildResult> {
  check(checkpoint, opts);
  throwIfAborted(opts.signal);
  const python = await findBuildPython(opts.python);
  throwIfAborted(opts.signal);
  const child = spawn(python.python, buildArguments(checkpoint, opts), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  // TVM's warnings go to stderr; the last of it explains a crash.
  let stderrTail = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-16_384);
  });
  const onAbort = (): void => {
    child.kill('SIGINT');
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  let done: FlowEvent | undefined;
  let failure: FlowEvent | undefined;
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    let event: FlowEvent;
    try {
      event = JSON.parse(line) as FlowEvent;
    } catch {
      return; // not ours (a library printing to stdout)
    }
    if (event.event === 'progress' && event.phase) {
      opts.onProgress?.({
        phase: event.phase,
        ...(event.done !== undefined ? { done: event.done } : {}),
        ...(event.total !== undefined ? { total: event.total } : {}),
        ...(event.bytes !== undefined ? { bytes: event.bytes } : {}),
        elapsedMs: (event.elapsedS ?? 0) * 1000,
      });
    } else if (event.event === 'done') done = event;
    else if (event.event === 'error') failure = event;
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve([c, s]));
  }).finally(() => opts.signal?.removeEventListener('abort', onAbort));
  if (opts.signal?.aborted) throw new AbortError('build interrupted; the output directory was left as it was', { cause: opts.signal.reason });
  if (code === 0 && done?.manifest) return { out: opts.out, manifest: done.manifest, python, peakRssBytes: done.peakRssBytes ?? 0, childPeakRssBytes: done.childPeakRssBytes ?? 0 };
  if (failure) throw new BuildError(failure.code ?? 'INTERNAL', failure.message ?? 'the compile flow failed', failure.path ?? undefined);
  const how = signal ? `was killed by ${signal}` : `exited with code ${String(code)}`;
  throw new BuildError('INTERNAL', `the compile flow (${python.python}) ${how}:\n${stderrTail.trim().split('\n').slice(-15).join('\n')}`);
}
