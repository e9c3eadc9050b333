/**
 * Facts about a model directory that `info` prints and `doctor` checks: executables and
 * their entry functions, weights per model, scheduler constants, tokenizer. Nothing is put
 * on a device: executables are loaded to read their function tables only.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readWeightIndexFile, type WeightIndex } from '../artifacts/index.js';
import { inspectModelDirectory, REQUIRED_FUNCTIONS, type ModelDirectory } from '../pipeline/index.js';
import { loadVmExecutable } from '../pipeline/relax-vm.js';
import type { TvmRuntime } from '../tvm/index.js';

export interface ShardProblem {
  file: string;
  problem: string;
}

/** Shards that are missing or not the size the index says (no bytes are read). */
export function checkShards(index: WeightIndex): ShardProblem[] {
  const problems: ShardProblem[] = [];
  for (const shard of index.shards) {
    const file = join(index.dir, shard.dataPath);
    try {
      const size = statSync(file).size;
      if (size !== shard.nbytes) problems.push({ file, problem: `has ${size} bytes, the index says ${shard.nbytes} (truncated or damaged)` });
    } catch {
      problems.push({ file, problem: 'is missing' });
    }
  }
  return problems;
}

/**
 * The entry functions of a Relax VM executable: the globals of its function table that
 * the VM itself answers (kernels and VM builtins are left out).
 */
export async function entryFunctions(runtime: TvmRuntime, file: string): Promise<string[]> {
  const { library, vm } = await loadVmExecutable(runtime, file);
  try {
    const stats = await library.findFunctionAsync('stats');
    let text = '';
    try {
      text = stats ? String(await stats.callAsync()) : '';
    } finally {
      stats?.dispose();
    }
    const globals = /Globals \(#\d+\): \[([^\]]*)\]/.exec(text)?.[1]?.split(',').map((s) => s.trim()) ?? [...REQUIRED_FUNCTIONS];
    const found: string[] = [];
    for (const name of globals) {
      if (name.startsWith('vm.builtin.')) continue;
      try {
        const fn = await vm.findFunctionAsync(name, false);
        fn?.dispose();
        if (fn !== undefined) found.push(name);
      } catch {
        // the VM refuses to hand out its kernels and builtins as closures
      }
    }
    return [...new Set(found)].sort();
  } finally {
    vm.dispose();
    library.dispose();
  }
}

export interface SchedulerConstsSummary {
  file: string;
  numSteps: number | undefined;
  keys: string[];
}

export function summarizeSchedulerConsts(model: ModelDirectory): Record<string, SchedulerConstsSummary> {
  const out: Record<string, SchedulerConstsSummary> = {};
  for (const [name, file] of Object.entries(model.schedulerConsts)) {
    try {
      const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      const steps = json['num_steps'];
      out[name] = { file: basename(file), numSteps: typeof steps === 'number' ? steps : undefined, keys: Object.keys(json) };
    } catch {
      out[name] = { file: basename(file), numSteps: undefined, keys: [] };
    }
  }
  return out;
}

export async function readModel(dir: string): Promise<{ model: ModelDirectory; index: WeightIndex | undefined; indexError: Error | undefined }> {
  const model = inspectModelDirectory(dir);
  if (!model.weightIndex) return { model, index: undefined, indexError: undefined };
  try {
    return { model, index: await readWeightIndexFile(model.weightIndex), indexError: undefined };
  } catch (err) {
    return { model, index: undefined, indexError: err as Error };
  }
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}
