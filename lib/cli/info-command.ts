/** sd-mali info <dir>: what a model directory holds. */
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { loadRuntime } from '../tvm/index.js';
import { summarizeWeights } from '../artifacts/index.js';
import { describeTokenizerSource, resolveTokenizerSource } from '../pipeline/index.js';
import { entryFunctions, formatBytes, readModel, summarizeSchedulerConsts } from './model-report.js';
import { describeRuntimeTvm, executableTvmReports, runtimeTvmReport } from './abi-report.js';
import { abiMismatchRemedy, executableMachine, hostMachine } from '../artifacts/index.js';
import { readManifest } from '../build/read-manifest.js';

export interface InfoCommandOptions {
  runtime?: string;
  json?: boolean;
}

export async function infoCommand(dir: string, opts: InfoCommandOptions): Promise<number> {
  const { model, index, indexError } = await readModel(dir);
  const executables: Record<string, { file: string; bytes: number; machine?: string; functions?: string[]; functionsFrom?: 'executable' | 'manifest' }> = {};
  const manifest = readManifest(dir);
  let functionsNote: string | undefined;
  let runtime;
  try {
    runtime = loadRuntime(opts.runtime !== undefined ? { library: opts.runtime } : {});
  } catch (err) {
    functionsNote = `functions not listed: ${(err as Error).message.split('\n')[0]}`;
  }
  const tvmReports = executableTvmReports(model.executables, runtime);
  for (const [kind, file] of Object.entries(model.executables)) {
    const machine = executableMachine(file);
    const entry: (typeof executables)[string] = { file: basename(file), bytes: statSync(file).size, ...(machine ? { machine } : {}) };
    if (machine !== undefined && machine !== hostMachine()) {
      // Host code for another processor (a --target mali build on an x86-64 machine) cannot be loaded here.
      if (manifest && !(manifest instanceof Error)) {
        entry.functions = Object.keys(manifest.functions).sort();
        entry.functionsFrom = 'manifest';
      }
    } else if (runtime && tvmReports[kind]?.matchesRuntime !== false) {
      try {
        entry.functions = entryFunctions(runtime, file);
        entry.functionsFrom = 'executable';
      } catch (err) {
        entry.functions = [];
        functionsNote = `${basename(file)}: ${(err as Error).message.split('\n')[0]}`;
      }
    }
    executables[kind] = entry;
  }
  const weights = index ? summarizeWeights(index) : undefined;
  const schedulers = summarizeSchedulerConsts(model);
  const tokenizer = resolveTokenizerSource(model);
  const report = {
    dir: model.dir,
    executables,
    weights: weights ?? null,
    weightsError: indexError?.message ?? (model.weightIndex ? null : 'no params/ndarray-cache.json or params/tensor-cache.json'),
    schedulerConsts: schedulers,
    tokenizer: { origin: tokenizer.origin, path: tokenizer.path },
    tvm: { runtime: runtime ? runtimeTvmReport(runtime) : null, executables: tvmReports },
    manifest: manifest instanceof Error ? { error: manifest.message } : (manifest ?? null),
    ...(functionsNote ? { note: functionsNote } : {}),
  };
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  }
  const out: string[] = [`model directory: ${model.dir}`, '', 'executables:'];
  if (Object.keys(executables).length === 0) out.push('  (none: no stable_diffusion_<kind>.so)');
  for (const [kind, e] of Object.entries(executables)) {
    const foreign = e.machine !== undefined && e.machine !== hostMachine();
    out.push(`  ${kind.padEnd(7)} ${e.file} (${formatBytes(e.bytes)}${e.machine ? `, ${e.machine} host code${foreign ? ': runs on such a board, not on this machine' : ''}` : ''})`);
    if (e.functions) out.push(`          functions${e.functionsFrom === 'manifest' ? ' (from sd-mali.json)' : ''}: ${e.functions.join(', ') || '(none)'}`);
  }
  if (functionsNote) out.push(`  note: ${functionsNote}`);
  out.push('', 'TVM:');
  if (runtime) out.push(`  ${describeRuntimeTvm(runtimeTvmReport(runtime))}: ${runtime.libraryPath}`);
  for (const [kind, r] of Object.entries(tvmReports)) {
    out.push(`  ${kind.padEnd(7)} compiled by ${r.tvmVersion}${r.matchesRuntime === false ? ' — MISMATCH: this runtime cannot run it' : ''}`);
    if (r.matchesRuntime === false && r.abi !== 'unknown') out.push(`          -> ${abiMismatchRemedy(r.abi)}`);
  }
  if (manifest instanceof Error) out.push('', `manifest: ${manifest.message}`);
  else if (manifest) {
    const m = manifest;
    out.push('', `built by ${m.generator} with TVM ${m.tvmVersion} (the runtime must be this version): target ${m.target.name} (${m.target.host} host), ${m.precision}${m.vaePrecision !== m.precision ? ` (VAE ${m.vaePrecision})` : ''}`);
    out.push(`  image ${m.image.width}x${m.image.height}, latents ${m.latent.channels}x${m.latent.height}x${m.latent.width}, guidance on the host, UNet batches ${m.unetBatchSizes.join(' and ')}`);
    out.push(`  source ${m.source.file} (${m.source.format}, sha256 ${m.source.sha256.slice(0, 12)}…)${m.loras.length ? `; LoRAs ${m.loras.map((l) => `${l.file}:${l.scale}`).join(', ')}` : ''}`);
    if (m.opencl) out.push(`  OpenCL: ${m.opencl.programs} programs, ${formatBytes(m.opencl.sourceBytes)} of source (TVM's own output: ${formatBytes(m.opencl.sourceBytesWithoutStripping)})`);
  }
  out.push('', 'weights:');
  if (weights) {
    out.push(`  index: ${weights.indexFile} (${weights.shards} shard${weights.shards === 1 ? '' : 's'})`);
    out.push(`  stored ${formatBytes(weights.storedBytes)}, on the device ${formatBytes(weights.deviceBytes)}; formats ${weights.formats.join(', ')}; dtypes ${weights.dtypes.join(', ')}`);
    for (const [name, m] of Object.entries(weights.models)) {
      out.push(`  ${name.padEnd(6)} ${String(m.count).padStart(5)} weights  ${formatBytes(m.storedBytes).padStart(10)} stored  ${formatBytes(m.deviceBytes).padStart(10)} on device`);
    }
  } else {
    out.push(`  ${report.weightsError}`);
  }
  out.push('', 'compiled scheduler constants:');
  if (Object.keys(schedulers).length === 0) out.push('  (none)');
  for (const [name, s] of Object.entries(schedulers)) out.push(`  ${name}: ${s.file}, ${s.numSteps ?? '?'} steps, keys ${s.keys.join(', ')}`);
  out.push('', `tokenizer: ${describeTokenizerSource(tokenizer)}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}
