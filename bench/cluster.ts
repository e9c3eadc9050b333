/**
 * `npm run bench -- cluster`: the cluster (issue 20) beside the single-process server on the
 * same machine. A real redis-server on a loopback port, 1, 2 and 3 `sd-mali worker`
 * processes on the stand-in model (cpu), and `createServer({ redis })`:
 * - throughput: the same burst of requests from concurrent clients, images per second;
 * - added latency: one request at a time, cluster and single-process runs interleaved, p50
 *   of each and the difference (the queue, Redis round trips, the PNG through Redis).
 * On a 2-core machine the boards share the cores, so more workers cannot make more images
 * per second here; on real boards each worker has its own GPU.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, type SdMaliServer } from '../lib/server/index.js';
import { summarize, type BenchRow } from './measure.js';

export interface ClusterThroughputRow {
  setup: string;
  requests: number;
  clients: number;
  steps: number;
  seconds: number;
  imagesPerSecond: number;
}

export interface ClusterLatencyRow {
  steps: number;
  runs: number;
  single: BenchRow;
  cluster: BenchRow;
  /** p50 of the cluster − p50 of the single-process server. */
  addedMs: number;
}

export interface ClusterBench {
  throughput: ClusterThroughputRow[];
  latency: ClusterLatencyRow[];
}

const REDIS_SERVER = '/usr/bin/redis-server';
const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'cli', 'main.js');

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function startRedis(dir: string): Promise<{ url: string; process: ChildProcess }> {
  const port = await freePort();
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() !== 'PONG') {
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `redis://127.0.0.1:${port}`, process: child };
}

async function startWorker(redisUrl: string, name: string, model: string, runtime: string, tokenizer: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, 'worker', '--redis', redisUrl, '--model', model, '--runtime', runtime, '--tokenizer', tokenizer, '--device', 'cpu', '--name', name], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await new Promise<void>((resolveStart, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      if (output.includes(' serving ')) resolveStart();
    });
    child.once('exit', (code) => reject(new Error(`worker ${name} exited with ${code}: ${output}`)));
  });
  child.removeAllListeners('exit');
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(force);
}

async function txt2img(url: string, seed: number, steps: number): Promise<void> {
  const response = await fetch(`${url}/sdapi/v1/txt2img`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'a photo of an astronaut riding a horse on mars', steps, seed, sampler_name: 'Euler a' }),
  });
  const body = (await response.json()) as { images?: string[] };
  if (response.status !== 200 || body.images?.length !== 1) throw new Error(`txt2img answered ${response.status}`);
}

/** `requests` requests from `clients` clients at once; seconds from the first sent to the last answered. */
async function burst(url: string, requests: number, clients: number, steps: number): Promise<number> {
  const t = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let k = c; k < requests; k += clients) await txt2img(url, 500 + k, steps);
    }),
  );
  return (performance.now() - t) / 1000;
}

export async function benchCluster(model: string, runtime: string, tokenizer: string): Promise<ClusterBench | string> {
  if (!existsSync(REDIS_SERVER)) return `${REDIS_SERVER} not found (Debian package redis-server)`;
  if (!existsSync(CLI)) return `${CLI} is not built (npm run build:ts)`;
  const dir = mkdtempSync(join(tmpdir(), 'sd-mali-bench-redis-'));
  const redis = await startRedis(dir);
  const workers: ChildProcess[] = [];
  let single: SdMaliServer | undefined;
  let cluster: SdMaliServer | undefined;
  const result: ClusterBench = { throughput: [], latency: [] };
  try {
    single = createServer({ model, runtime, tokenizer, device: 'cpu', port: 0, queueSize: 64, log: () => undefined });
    const singleUrl = await single.listen();
    cluster = createServer({ redis: redis.url, port: 0, log: () => undefined });
    const clusterUrl = await cluster.listen();
    const requests = 24;
    const clients = 6;
    const steps = 20;
    await burst(singleUrl, clients, clients, steps); // warm-up
    result.throughput.push({ setup: 'single-process server', requests, clients, steps, seconds: 0, imagesPerSecond: 0 });
    const singleSeconds = await burst(singleUrl, requests, clients, steps);
    Object.assign(result.throughput[0]!, { seconds: singleSeconds, imagesPerSecond: requests / singleSeconds });
    for (let n = 1; n <= 3; n++) {
      workers.push(await startWorker(redis.url, `bench-${n}`, model, runtime, tokenizer));
      // The API sees a new board within its registry refresh (1 s).
      await new Promise((r) => setTimeout(r, 1500));
      await burst(clusterUrl, clients, clients, steps); // warm-up
      const seconds = await burst(clusterUrl, requests, clients, steps);
      result.throughput.push({ setup: `cluster, ${n} worker${n > 1 ? 's' : ''}`, requests, clients, steps, seconds, imagesPerSecond: requests / seconds });
    }
    // Added latency: one request at a time (3 workers idle), interleaved with the single server.
    for (const latencySteps of [1, 20]) {
      const runs = 12;
      const a: number[] = [];
      const b: number[] = [];
      for (let i = -2; i < runs; i++) {
        let t = performance.now();
        await txt2img(singleUrl, 900 + i, latencySteps);
        const s = performance.now() - t;
        t = performance.now();
        await txt2img(clusterUrl, 900 + i, latencySteps);
        const c = performance.now() - t;
        if (i < 0) continue;
        a.push(s);
        b.push(c);
      }
      const row: ClusterLatencyRow = { steps: latencySteps, runs, single: summarize('single-process server', a, 'image'), cluster: summarize('cluster', b, 'image'), addedMs: 0 };
      row.addedMs = row.cluster.p50Ms - row.single.p50Ms;
      result.latency.push(row);
    }
    return result;
  } finally {
    await cluster?.close();
    await single?.close();
    await Promise.all(workers.map(stop));
    await stop(redis.process);
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printCluster(bench: ClusterBench): void {
  const t0 = bench.throughput[0];
  console.log(`\nCluster throughput (stand-in model, cpu, Euler a, ${t0?.steps} steps, ${t0?.requests} requests from ${t0?.clients} clients at once)`);
  console.log(`${'setup'.padEnd(24)} ${'seconds'.padStart(9)} ${'images/s'.padStart(9)} ${'× single'.padStart(9)}`);
  const base = t0?.imagesPerSecond ?? 1;
  for (const r of bench.throughput) console.log(`${r.setup.padEnd(24)} ${r.seconds.toFixed(2).padStart(9)} ${r.imagesPerSecond.toFixed(2).padStart(9)} ${(r.imagesPerSecond / base).toFixed(2).padStart(9)}`);
  console.log('\nCluster latency per request, one at a time (p50 of 12 interleaved runs, 3 idle workers)');
  console.log(`${'steps'.padStart(5)} ${'single ms'.padStart(10)} ${'cluster ms'.padStart(11)} ${'added ms'.padStart(9)}`);
  for (const r of bench.latency) console.log(`${String(r.steps).padStart(5)} ${r.single.p50Ms.toFixed(1).padStart(10)} ${r.cluster.p50Ms.toFixed(1).padStart(11)} ${r.addedMs.toFixed(1).padStart(9)}`);
}
