/**
 * Warm start: load + first step in a new process with an empty program cache (cold) and
 * again with the cache the cold run filled (warm), side by side, with the driver's own
 * kernel cache off (PoCL: POCL_KERNEL_CACHE=0; NVIDIA: CUDA_CACHE_DISABLE=1), as on Mali,
 * whose driver keeps none.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OpenClCacheStats } from '../lib/tvm/index.js';

export interface WarmStartRun {
  deviceName: string | undefined;
  loadMs: number;
  firstStepMs: number;
  totalMs: number;
  stats: OpenClCacheStats | null;
}

export interface WarmStartBench {
  device: string;
  deviceName: string | undefined;
  cold: WarmStartRun;
  warm: WarmStartRun;
  /** warm total / cold total */
  ratio: number;
}

const child = join(dirname(fileURLToPath(import.meta.url)), 'warm-start-child.js');

function run(model: string, runtime: string, device: string, cache: string): WarmStartRun | string {
  const r = spawnSync(process.execPath, [child, model, device, cache], {
    env: { ...process.env, SD_MALI_TVM_RUNTIME: runtime, POCL_KERNEL_CACHE: '0', CUDA_CACHE_DISABLE: '1' },
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (r.status !== 0) return `child failed (${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`;
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as WarmStartRun;
}

export function benchWarmStart(model: string, runtime: string, device = 'opencl'): WarmStartBench | string {
  const cache = mkdtempSync(join(tmpdir(), 'sd-mali-bench-cache-'));
  try {
    const cold = run(model, runtime, device, cache);
    if (typeof cold === 'string') return cold;
    const warm = run(model, runtime, device, cache);
    if (typeof warm === 'string') return warm;
    return { device, deviceName: cold.deviceName, cold, warm, ratio: warm.totalMs / cold.totalMs };
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}

export function printWarmStart(r: WarmStartBench): void {
  console.log(`\nWarm start on ${r.device} (${r.deviceName ?? '?'}), driver cache off: load + first step in a new process`);
  const line = (name: string, x: WarmStartRun): string =>
    `${name.padEnd(6)} ${(x.loadMs / 1000).toFixed(2).padStart(8)} s ${(x.firstStepMs / 1000).toFixed(2).padStart(8)} s ${(x.totalMs / 1000).toFixed(2).padStart(8)} s   ${x.stats ? `${x.stats.sourceBuilds} built, ${x.stats.binaryHits} from cache` : 'no forwarder'}`;
  console.log(`${''.padEnd(6)} ${'load'.padStart(10)} ${'1st step'.padStart(10)} ${'total'.padStart(10)}   programs`);
  console.log(line('cold', r.cold));
  console.log(line('warm', r.warm));
  console.log(`warm / cold = ${r.ratio.toFixed(3)}`);
}
