// Issue 15, items 3 and 4: a worker_threads Worker that ends with runtime handles still alive
// or model calls still queued. Run in child processes: their memory is measured whole, and
// the old behaviour (a leak, a terminate() that waits for every queued call) stays contained.
import { describe, expect, it } from 'vitest';
import { buildPackedFuncsLibrary } from './support/c-libraries.js';
import { testRuntime, titled } from './support/shared-data.js';
import { distModule, runScript } from './support/subprocess.js';

const runtimeInfo = testRuntime();
const MiB = 1024 * 1024;

describe.skipIf(!runtimeInfo.available)(titled('worker_threads shutdown (issue 15)', runtimeInfo), () => {
  it('item 3: a Worker that ends without dispose() leaves none of its NDArrays behind', async () => {
    const tvmUrl = distModule('lib/tvm/index.js');
    const code = `
      import { Worker } from 'node:worker_threads';
      const tvm = await import(${JSON.stringify(tvmUrl)});
      tvm.loadRuntime({ library: ${JSON.stringify(runtimeInfo.path)} });
      const workerCode = \`
        import { parentPort } from 'node:worker_threads';
        const tvm = await import(${JSON.stringify(tvmUrl)});
        const rt = tvm.loadRuntime({ library: ${JSON.stringify(runtimeInfo.path)} });
        // 64 MiB, written so every page is resident; kept alive until the Worker ends.
        globalThis.kept = await rt.emptyAsync([16 * 1024 * 1024], 'float32');
        await globalThis.kept.copyFromAsync(new Float32Array(16 * 1024 * 1024).fill(1));
        parentPort.postMessage('allocated');
      \`;
      const rss = () => { globalThis.gc(); return process.memoryUsage().rss; };
      const runWorker = async () => {
        const worker = new Worker(workerCode, { eval: true });
        await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
        await new Promise((resolve) => worker.once('exit', resolve));
      };
      await runWorker(); // the first Worker pays for what stays (thread stacks, code)
      const before = rss();
      for (let i = 0; i < 4; i++) await runWorker();
      console.log(JSON.stringify({ grownBytes: rss() - before }));
    `;
    const r = await runScript(code, { args: ['--expose-gc'], timeoutMs: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const { grownBytes } = r.report as { grownBytes: number };
    // Four leaked Workers would hold 4 x 64 MiB.
    expect(grownBytes).toBeLessThan(64 * MiB);
  }, 150_000);

  it('item 4: terminate() cancels queued model calls instead of running every one of them', async () => {
    const tvmUrl = distModule('lib/tvm/index.js');
    const lib = buildPackedFuncsLibrary();
    const code = `
      import { Worker } from 'node:worker_threads';
      const tvm = await import(${JSON.stringify(tvmUrl)});
      const rt = tvm.loadRuntime({ library: ${JSON.stringify(runtimeInfo.path)} });
      const started = await (await rt.loadModuleAsync(${JSON.stringify(lib)})).getFunctionAsync('sleep_calls');
      const worker = new Worker(\`
        import { parentPort } from 'node:worker_threads';
        const tvm = await import(${JSON.stringify(tvmUrl)});
        const rt = tvm.loadRuntime({ library: ${JSON.stringify(runtimeInfo.path)} });
        const sleep = await (await rt.loadModuleAsync(${JSON.stringify(lib)})).getFunctionAsync('sleep_ms');
        // Five 500 ms "model calls" queued on this Worker's runtime thread; never awaited.
        for (let i = 0; i < 5; i++) sleep.callAsync(tvm.int(500)).catch(() => {});
        parentPort.postMessage('queued');
      \`, { eval: true });
      await new Promise((resolve) => worker.once('message', resolve));
      // Wait until the first call runs, so one is in flight when terminate() comes.
      while ((await started.callAsync()) < 1) await new Promise((resolve) => setTimeout(resolve, 10));
      await worker.terminate();
      const atTerminate = await started.callAsync();
      // Anything still queued would start within the next 2.5 s.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      console.log(JSON.stringify({ atTerminate, later: await started.callAsync() }));
    `;
    const r = await runScript(code, { timeoutMs: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const { atTerminate, later } = r.report as { atTerminate: number; later: number };
    // The call in flight finishes (it cannot be interrupted); the four queued behind it never start.
    expect(atTerminate).toBe(1);
    expect(later).toBe(1);
  }, 90_000);
});
