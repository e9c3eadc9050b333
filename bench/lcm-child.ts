/**
 * The LCM bench in a process of its own (the model needs TVM v0.26's runtime, and two TVM
 * runtimes cannot share one process): node lcm-child.js <runtime> <model dir>... Prints
 * `BENCH_JSON {...}` for bench/run.ts.
 */
import { benchLcm, type LcmBenchRow } from './lcm.js';

const [runtimePath, ...models] = process.argv.slice(2) as [string, ...string[]];
const rows: LcmBenchRow[] = [];
const skipped: string[] = [];
for (const model of models) {
  const device = model.includes('-opencl-') ? 'opencl' : 'cpu';
  const result = await benchLcm(model, runtimePath, device);
  if (typeof result === 'string') skipped.push(`${model}: ${result}`);
  else rows.push(...result);
}
process.stdout.write(`BENCH_JSON ${JSON.stringify({ rows, skipped })}\n`);
