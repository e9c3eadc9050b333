/**
 * One TVM runtime's pipeline rows, in a process of its own (two TVM runtimes cannot share
 * one): node pipeline-child.js <runtime> <model dir> <tokenizer> <label>. Prints its rows
 * as one line `BENCH_JSON {...}` for bench/run.ts.
 */
import { benchPipeline, type PipelineBench } from './pipeline.js';

const [runtimePath, modelDir, tokenizer, label] = process.argv.slice(2) as [string, string, string, string];
const rows: PipelineBench[] = [];
const skipped: string[] = [];
for (const device of ['cpu', 'opencl']) {
  const row = await benchPipeline(modelDir, runtimePath, tokenizer, device, label);
  if (typeof row === 'string') skipped.push(`${label} ${device}: ${row}`);
  else rows.push(row);
}
process.stdout.write(`BENCH_JSON ${JSON.stringify({ rows, skipped })}\n`);
