/**
 * What `sd-mali serve` adds to a generation: a txt2img request over HTTP (JSON, IPC to the
 * worker, PNG encoding and base64) against a direct generate in this process, side by side
 * on the stand-in model, runs interleaved so drift hits both alike.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { StableDiffusion } from '../lib/index.js';
import { createServer } from '../lib/server/index.js';
import { summarize, type BenchRow } from './measure.js';

export interface ServerBenchRow {
  steps: number;
  runs: number;
  direct: BenchRow;
  directWithPng: BenchRow;
  server: BenchRow;
  /** p50 of server − p50 of direct generate. */
  addedMs: number;
  /** p50 of server − p50 of direct generate + toPNG: HTTP, JSON, IPC and base64 alone. */
  addedOverPngMs: number;
  /** The server process's longest event-loop stall while it answered (the client shares the loop). */
  longestStallMs: number;
  /** The same during the direct generates: what the machine itself gives (load, GC, TVM's threads). */
  longestDirectStallMs: number;
}

export async function benchServer(modelDir: string, runtimePath: string, tokenizer: string): Promise<ServerBenchRow[]> {
  const server = createServer({ model: modelDir, runtime: runtimePath, tokenizer, device: 'cpu', port: 0, log: () => undefined });
  const url = await server.listen();
  const pipe = await StableDiffusion.load(modelDir, { tvmRuntime: runtimePath, tokenizer, device: 'cpu', warmup: true });
  const rows: ServerBenchRow[] = [];
  try {
    for (const steps of [1, 20]) {
      const runs = 12;
      const direct: number[] = [];
      const withPng: number[] = [];
      const viaServer: number[] = [];
      const stalls = monitorEventLoopDelay({ resolution: 1 });
      const directStalls = monitorEventLoopDelay({ resolution: 1 });
      for (let i = -2; i < runs; i++) {
        // Two warm-up rounds, then measured ones; the same seed and sampler in both paths.
        const seed = 100 + i;
        if (i >= 0) directStalls.enable();
        let t = performance.now();
        const image = await pipe.generate('a photo of an astronaut riding a horse on mars', { steps, seed, scheduler: 'euler-a' });
        const generated = performance.now() - t;
        await image.toPNG();
        const encoded = performance.now() - t;
        directStalls.disable();
        if (i >= 0) stalls.enable();
        t = performance.now();
        const response = await fetch(`${url}/sdapi/v1/txt2img`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ prompt: 'a photo of an astronaut riding a horse on mars', steps, seed, sampler_name: 'Euler a' }),
        });
        const body = (await response.json()) as { images: string[] };
        if (response.status !== 200 || body.images.length !== 1) throw new Error(`txt2img answered ${response.status}`);
        const served = performance.now() - t;
        stalls.disable();
        if (i < 0) continue;
        direct.push(generated);
        withPng.push(encoded);
        viaServer.push(served);
      }
      const row: ServerBenchRow = {
        steps,
        runs,
        direct: summarize('direct generate', direct, 'image'),
        directWithPng: summarize('direct generate + toPNG', withPng, 'image'),
        server: summarize('POST /sdapi/v1/txt2img', viaServer, 'image'),
        addedMs: 0,
        addedOverPngMs: 0,
        longestStallMs: stalls.max / 1e6,
        longestDirectStallMs: directStalls.max / 1e6,
      };
      row.addedMs = row.server.p50Ms - row.direct.p50Ms;
      row.addedOverPngMs = row.server.p50Ms - row.directWithPng.p50Ms;
      rows.push(row);
    }
  } finally {
    pipe.dispose();
    await server.close();
  }
  return rows;
}

export function printServer(rows: ServerBenchRow[]): void {
  console.log('\nsd-mali serve vs a direct generate (stand-in model, cpu, Euler a, p50 of 12 interleaved runs)');
  const f = (n: number): string => n.toFixed(1).padStart(12);
  console.log(`${'steps'.padStart(5)} ${'generate ms'.padStart(12)} ${'+ PNG ms'.padStart(12)} ${'server ms'.padStart(12)} ${'added ms'.padStart(12)} ${'added-PNG ms'.padStart(12)} ${'stall ms'.padStart(12)} ${'direct stall'.padStart(12)}`);
  for (const r of rows) {
    console.log(`${String(r.steps).padStart(5)} ${f(r.direct.p50Ms)} ${f(r.directWithPng.p50Ms)} ${f(r.server.p50Ms)} ${f(r.addedMs)} ${f(r.addedOverPngMs)} ${f(r.longestStallMs)} ${f(r.longestDirectStallMs)}`);
  }
}
