/**
 * The TVM version and ABI of the runtime and of each model executable, for `doctor` and
 * `info`: neither TVM generation runs the other's executables, so a mismatch is named
 * with its remedy before anything is loaded.
 */
import { basename } from 'node:path';
import { abiMismatchRemedy, executableAbi, tvmVersionOfExecutableAbi, type ExecutableAbi } from '../artifacts/index.js';
import type { TvmRuntime } from '../tvm/index.js';
import type { Check } from './doctor-command.js';

export interface RuntimeTvmReport {
  path: string;
  abi: 'legacy' | 'tvm-ffi';
  /** 'TVM <= v0.20' or 'TVM >= v0.22' (the library records no release number). */
  tvmVersion: string;
  /** tvm-ffi's own version, where the library reports it. */
  abiVersion: string | null;
}

export interface ExecutableTvmReport {
  file: string;
  abi: ExecutableAbi;
  tvmVersion: string;
  /** Whether the runtime can run it; null when either side is unknown. */
  matchesRuntime: boolean | null;
}

export function runtimeTvmReport(runtime: TvmRuntime): RuntimeTvmReport {
  return { path: runtime.libraryPath, abi: runtime.abi, tvmVersion: runtime.tvmVersion, abiVersion: runtime.abiVersion ?? null };
}

export function describeRuntimeTvm(r: RuntimeTvmReport): string {
  return `runtime is ${r.tvmVersion} (${r.abi} ABI${r.abiVersion ? `, tvm-ffi ${r.abiVersion}` : ''})`;
}

export function executableTvmReports(executables: Record<string, string>, runtime: TvmRuntime | undefined): Record<string, ExecutableTvmReport> {
  const out: Record<string, ExecutableTvmReport> = {};
  for (const [kind, file] of Object.entries(executables)) {
    const abi = executableAbi(file);
    out[kind] = {
      file: basename(file),
      abi,
      tvmVersion: tvmVersionOfExecutableAbi(abi),
      matchesRuntime: runtime && abi !== 'unknown' ? abi === runtime.abi : null,
    };
  }
  return out;
}

/** One check per executable: which TVM compiled it, failing where the runtime cannot run it. */
export function tvmAbiChecks(executables: Record<string, string>, runtime: TvmRuntime | undefined): Check[] {
  const checks: Check[] = [];
  for (const r of Object.values(executableTvmReports(executables, runtime))) {
    if (r.matchesRuntime === false && runtime) {
      checks.push({
        area: 'tvm',
        status: 'fail',
        message: `${r.file} was compiled by ${r.tvmVersion}, but the ${describeRuntimeTvm(runtimeTvmReport(runtime))}`,
        remedy: abiMismatchRemedy(r.abi as 'legacy' | 'tvm-ffi'),
      });
    } else {
      checks.push({ area: 'tvm', status: r.abi === 'unknown' ? 'info' : 'ok', message: `${r.file} was compiled by ${r.tvmVersion}${r.matchesRuntime ? ': the runtime matches' : ''}` });
    }
  }
  return checks;
}
