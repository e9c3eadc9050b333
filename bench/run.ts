/**
 * npm run bench: measures the host numerics and, where the stand-in model and a TVM runtime
 * are found (as for the tests), the whole pipeline. Prints tables and writes
 * bench/results/latest.json.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchNumerics } from './numerics.js';
import { printTable } from './measure.js';
import { benchPipeline, printPipeline, type PipelineBench } from './pipeline.js';
import { benchWeights, printWeights } from './weights.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), dirname(fileURLToPath(import.meta.url)).includes('/dist/') ? '../..' : '..');
const shared = resolve(process.env['SD_MALI_TEST_DATA'] ?? join(root, '..', 'shared'));
const tokenizerDir = existsSync(join(shared, 'clip-tokenizer')) ? join(shared, 'clip-tokenizer') : undefined;

// `npm run bench -- weights` runs only the named sections (numerics, pipeline, weights).
const only = new Set(process.argv.slice(2));
const wanted = (section: string): boolean => only.size === 0 || only.has(section);

const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, platform: `${process.platform}-${process.arch}` };
if (wanted('numerics')) {
  const numerics = await benchNumerics(tokenizerDir);
  printTable('Host numerics', numerics);
  results['numerics'] = numerics;
}

const runtimePath = process.env['SD_MALI_TVM_RUNTIME'] ?? join(shared, 'tvm', 'v0.20.0', 'linux-x64', 'libtvm_runtime.so');
const standin = join(shared, 'fixtures', 'standin-tvm0.20');
if (!wanted('pipeline')) {
  // not asked for
} else if (existsSync(runtimePath) && existsSync(standin) && tokenizerDir) {
  const rows: PipelineBench[] = [];
  for (const device of ['cpu', 'opencl']) {
    const row = await benchPipeline(standin, runtimePath, tokenizerDir, device);
    if (typeof row === 'string') console.log(`\n(pipeline on ${device} skipped: ${row})`);
    else rows.push(row);
  }
  printPipeline(rows);
  results['pipeline'] = rows;
} else {
  console.log(`\n(pipeline skipped: needs ${runtimePath}, ${standin} and the tokenizer)`);
}

if (!wanted('weights')) {
  // not asked for
} else if (!existsSync(runtimePath)) {
  console.log(`\n(weight loading skipped: needs the TVM runtime ${runtimePath})`);
} else {
  const weights = await benchWeights(shared, runtimePath, root);
  if (typeof weights === 'string') console.log(`\n(weight loading skipped: ${weights})`);
  else {
    printWeights(weights);
    results['weights'] = weights;
  }
}

const out = join(root, 'bench', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nwrote ${join(out, 'latest.json')}`);
