/**
 * npm run bench: measures the host numerics and, where the stand-in model and a TVM runtime
 * are found (as for the tests), the whole pipeline. Prints tables and writes
 * bench/results/latest.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchBuild, printBuild } from './build.js';
import { benchCluster, printCluster } from './cluster.js';
import { printLcm, type LcmBenchRow } from './lcm.js';
import { benchNumerics } from './numerics.js';
import { printTable } from './measure.js';
import { printPipeline, type PipelineBench } from './pipeline.js';
import { benchRealscale, printRealscale } from './realscale.js';
import { benchRobustness, printRobustness, type RobustnessBench } from './robustness.js';
import { benchServer, printServer } from './server.js';
import { benchBodyStalls, printBodyStalls } from './server-bodies.js';
import { benchWarmStart, printWarmStart, type WarmStartBench } from './warm-start.js';
import { benchWeights, printWeights } from './weights.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), dirname(fileURLToPath(import.meta.url)).includes('/dist/') ? '../..' : '..');
const shared = resolve(process.env['SD_MALI_TEST_DATA'] ?? join(root, '..', 'shared'));
const tokenizerDir = existsSync(join(shared, 'clip-tokenizer')) ? join(shared, 'clip-tokenizer') : undefined;

// `npm run bench -- weights warm-start` runs only the named sections (numerics, pipeline,
// warm-start, robustness, server, cluster, weights, realscale, lcm; build only when named).
const only = new Set(process.argv.slice(2));
const wanted = (section: string): boolean => only.size === 0 || only.has(section);

const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, platform: `${process.platform}-${process.arch}` };
if (wanted('numerics')) {
  const numerics = await benchNumerics(tokenizerDir);
  printTable('Host numerics', numerics);
  results['numerics'] = numerics;
}

// Each TVM runtime in a process of its own: v0.20 (legacy ABI) and v0.26 (tvm-ffi) side by
// side on their own stand-in builds, or only SD_MALI_TVM_RUNTIME's.
const fromEnv = process.env['SD_MALI_TVM_RUNTIME'];
const runtimes = fromEnv
  ? [
      existsSync(join(dirname(resolve(fromEnv)), 'libtvm_ffi.so'))
        ? { label: 'env tvm-ffi', path: resolve(fromEnv), standin: join(shared, 'fixtures', 'standin-tvm0.26') }
        : { label: 'env legacy', path: resolve(fromEnv), standin: join(shared, 'fixtures', 'standin-tvm0.20') },
    ]
  : [
      { label: 'v0.20 legacy', path: join(shared, 'tvm', 'v0.20.0', 'linux-x64', 'libtvm_runtime.so'), standin: join(shared, 'fixtures', 'standin-tvm0.20') },
      { label: 'v0.26 tvm-ffi', path: join(shared, 'tvm', 'v0.26.0', 'linux-x64', 'libtvm_runtime.so'), standin: join(shared, 'fixtures', 'standin-tvm0.26') },
    ];
const pipelineRows: PipelineBench[] = [];
for (const r of wanted('pipeline') ? runtimes : []) {
  if (!existsSync(r.path) || !existsSync(r.standin) || !tokenizerDir) {
    console.log(`\n(pipeline ${r.label} skipped: needs ${r.path}, ${r.standin} and the tokenizer)`);
    continue;
  }
  const child = spawnSync(process.execPath, ['--expose-gc', join(dirname(fileURLToPath(import.meta.url)), 'pipeline-child.js'), r.path, r.standin, tokenizerDir, r.label], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = child.stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (child.status !== 0 || !line) {
    console.log(`\n(pipeline ${r.label} failed: exit ${child.status})`);
    continue;
  }
  const { rows, skipped } = JSON.parse(line.slice('BENCH_JSON '.length)) as { rows: PipelineBench[]; skipped: string[] };
  for (const why of skipped) console.log(`\n(pipeline ${why}: skipped)`);
  pipelineRows.push(...rows);
}
if (pipelineRows.length > 0) {
  printPipeline(pipelineRows);
  results['pipeline'] = pipelineRows;
}

// LCM 4 steps vs PNDM 20 steps on tiny-sd-a built by sd-mali build (TVM v0.26), cpu and OpenCL.
if (wanted('lcm')) {
  const modelsDir = resolve(process.env['SD_MALI_TINY_MODELS'] ?? '/work/helpers/models');
  const runtime26 = join(shared, 'tvm', 'v0.26.0', 'linux-x64', 'libtvm_runtime.so');
  const models = ['cpu', 'opencl'].map((t) => join(modelsDir, `tiny-sd-a-${t}-float32`)).filter((d) => existsSync(join(d, 'READY')));
  if (models.length === 0 || !existsSync(runtime26)) {
    console.log(`\n(LCM vs PNDM skipped: needs tiny-sd-a built by sd-mali build in ${modelsDir} (SD_MALI_TINY_MODELS) and ${runtime26})`);
  } else {
    const child = spawnSync(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), 'lcm-child.js'), runtime26, ...models], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const line = child.stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
    if (child.status !== 0 || !line) console.log(`\n(LCM vs PNDM failed: exit ${child.status})`);
    else {
      const { rows, skipped } = JSON.parse(line.slice('BENCH_JSON '.length)) as { rows: LcmBenchRow[]; skipped: string[] };
      for (const why of skipped) console.log(`\n(LCM vs PNDM ${why}: skipped)`);
      printLcm(rows);
      results['lcm'] = rows;
    }
  }
}

// Warm start (the OpenCL program cache), per runtime: cold and warm processes side by side.
const warmStarts: Array<WarmStartBench & { runtime: string }> = [];
for (const r of wanted('warm-start') ? runtimes : []) {
  if (!existsSync(r.path) || !existsSync(r.standin)) continue;
  const warm = benchWarmStart(r.standin, r.path, 'opencl');
  if (typeof warm === 'string') {
    console.log(`\n(warm start ${r.label} skipped: ${warm})`);
    continue;
  }
  console.log(`\n[${r.label}]`);
  printWarmStart(warm);
  warmStarts.push({ runtime: r.label, ...warm });
}
if (warmStarts.length > 0) results['warmStart'] = warmStarts;

// Event-loop stalls and long prompts (issue 15), in this process on the first runtime.
const first = runtimes[0];
const firstReady = first !== undefined && existsSync(first.path) && existsSync(first.standin) && tokenizerDir !== undefined;
if (first && firstReady && tokenizerDir && wanted('robustness')) {
  const robustness: RobustnessBench[] = [];
  for (const device of ['cpu', 'opencl']) {
    const row = await benchRobustness(first.standin, first.path, tokenizerDir, device);
    if (typeof row === 'string') console.log(`\n(robustness on ${device} skipped: ${row})`);
    else robustness.push(row);
  }
  printRobustness(robustness);
  results['robustness'] = robustness;
}
if (first && firstReady && tokenizerDir && wanted('server')) {
  // The server's added latency (issue 12), beside direct generates on the same runtime.
  const server = await benchServer(first.standin, first.path, tokenizerDir);
  printServer(server);
  results['server'] = server;
  // The stall while the largest allowed body of each route is handled (issue 21), beside idle.
  const bodies = await benchBodyStalls(first.standin, first.path, tokenizerDir);
  printBodyStalls(bodies);
  results['serverBodies'] = bodies;
}

if (first && firstReady && tokenizerDir && wanted('cluster')) {
  // Many boards behind one API (issue 20): 1, 2, 3 workers beside the single-process server.
  const cluster = await benchCluster(first.standin, first.path, tokenizerDir);
  if (typeof cluster === 'string') console.log(`\n(cluster skipped: ${cluster})`);
  else {
    printCluster(cluster);
    results['cluster'] = cluster;
  }
}

// SD 1.5-sized weights (issue 11): the loader beside this machine's floor and numpy's path.
if (wanted('weights')) {
  if (!first || !existsSync(first.path)) {
    console.log(`\n(weight loading skipped: needs a TVM runtime${first ? ` at ${first.path}` : ''})`);
  } else {
    const weights = await benchWeights(shared, first.path, root);
    if (typeof weights === 'string') console.log(`\n(weight loading skipped: ${weights})`);
    else {
      printWeights(weights);
      results['weights'] = weights;
    }
  }
}

// The compile flow at SD 1.5's real size (issue 18): tens of minutes, so only when named.
if (only.has('build')) {
  const rows = await benchBuild(shared, root);
  if (typeof rows === 'string') console.log(`\n(build skipped: ${rows})`);
  else {
    printBuild(rows);
    results['build'] = rows;
  }
} else {
  console.log('\n(build: run `npm run bench -- build` for the SD 1.5-sized compile, about 15 minutes)');
}

// Event-loop blocks at SD 1.5's real layout (issue 23): load, first and steady generate, toPNG.
if (wanted('realscale')) {
  const ready = runtimes.filter((r) => existsSync(r.path) && existsSync(r.standin));
  const realscale = ready.length === 0 ? 'needs a TVM runtime and its stand-in model' : benchRealscale(shared, ready);
  if (typeof realscale === 'string') console.log(`\n(real-layout event-loop bench skipped: ${realscale})`);
  else {
    printRealscale(realscale);
    results['realscale'] = realscale;
  }
}

const out = join(root, 'bench', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nwrote ${join(out, 'latest.json')}`);
