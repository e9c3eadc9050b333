// The worker supervisor's failure paths with a scripted worker (test/fixtures/fake-generation-worker.mjs):
// a device-poisoning error replaces the worker, an exit restarts it with a doubling back-off,
// a failed first load is reported and not retried.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TvmError, InvalidArgumentError, AbortError } from '../lib/errors.js';
import { describeFailure, isDevicePoisoning } from '../lib/server/worker/failure.js';
import { WorkerCrashedError, WorkerJobError, WorkerLoadError, WorkerSupervisor } from '../lib/server/worker/supervisor.js';
import { REPO_ROOT } from './support/shared-data.js';

const FAKE = join(REPO_ROOT, 'test', 'fixtures', 'fake-generation-worker.mjs');
const request = (prompt: string) => ({ prompt, negativePrompt: '', steps: 1, scheduler: 'pndm' as const, seed: '5' });

describe('the worker supervisor', () => {
  let supervisor: WorkerSupervisor | undefined;
  const logs: string[] = [];
  const start = (model = 'fake', watchdog = { stepTimeoutMs: 60_000, cancelTimeoutMs: 60_000 }): WorkerSupervisor => {
    supervisor = new WorkerSupervisor(FAKE, { model }, { initialMs: 20, maxMs: 1000 }, (l) => logs.push(l), watchdog);
    supervisor.start();
    return supervisor;
  };
  afterEach(async () => {
    await supervisor?.close();
    logs.length = 0;
  });

  it('classifies TVM errors as device-poisoning, bad arguments and aborts not', () => {
    expect(isDevicePoisoning(new TvmError('CL_OUT_OF_RESOURCES'))).toBe(true);
    expect(isDevicePoisoning(new InvalidArgumentError('steps'))).toBe(false);
    expect(isDevicePoisoning(new AbortError())).toBe(false);
    expect(describeFailure(new TvmError('x'))).toEqual({ name: 'TvmError', code: 'TVM_ERROR', message: 'x', poisoned: true });
  });

  it('replaces a worker that reports a device-poisoning error; the next request runs on the new one', async () => {
    const s = start();
    const first = await s.ready();
    const err = await s.generate(request('poison')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect((err as Error).message).toMatch(/^the TVM runtime failed \(CL_OUT_OF_RESOURCES\) and may have left the device unusable, so the generation worker was replaced/);
    const image = await s.generate(request('fine'));
    expect(image.parameters).toBe('fine');
    expect(s.info!.pid).not.toBe(first.pid);
    expect(s.restarts).toBe(1);
  });

  it('passes an ordinary failure through without a restart', async () => {
    const s = start();
    const first = await s.ready();
    const err = await s.generate(request('bad argument')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerJobError);
    expect((err as WorkerJobError).failure.code).toBe('INVALID_ARGUMENT');
    expect((await s.generate(request('ok'))).seed).toBe('5');
    expect(s.info!.pid).toBe(first.pid);
    expect(s.restarts).toBe(0);
  });

  it('restarts after exits with a back-off that doubles while they come in a row', async () => {
    const s = start();
    await s.ready();
    for (let i = 0; i < 3; i++) await expect(s.generate(request('exit'))).rejects.toThrow(/exited with code 3 during this request/);
    expect(logs.filter((l) => l.includes('exited with code 3')).map((l) => /in (\d+) ms/.exec(l)![1])).toEqual(['20', '40', '80']);
    expect((await s.generate(request('ok'))).parameters).toBe('ok');
    // A success resets the back-off.
    await expect(s.generate(request('exit'))).rejects.toThrow(WorkerCrashedError);
    expect(logs.at(-1)).toMatch(/in 20 ms$/);
  });

  it('fails the requests waiting for a reload that fails, instead of holding them', async () => {
    const s = start(join(mkdtempSync(join(tmpdir(), 'sd-mali-fake-')), 'fail-reload'));
    await s.ready();
    await expect(s.generate(request('exit'))).rejects.toThrow(WorkerCrashedError);
    const err = await s.generate(request('waits for the reload')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerLoadError);
    expect(s.restarts).toBeGreaterThanOrEqual(1);
  });

  it('reports a first load that fails, and does not retry it', async () => {
    const s = start('fail-load');
    const err = await s.ready().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerLoadError);
    expect((err as Error).message).toBe('the generation worker could not load the model: fail-load: no such model');
    await new Promise((r) => setTimeout(r, 100));
    expect(s.restarts).toBe(0);
    await expect(s.generate(request('x'))).rejects.toThrow(WorkerLoadError);
  });

  it('the watchdog kills a worker that stops making progress; the request fails saying so, the next runs on a new worker', async () => {
    const s = start('fake', { stepTimeoutMs: 300, cancelTimeoutMs: 60_000 });
    const first = await s.ready();
    const err = await s.generate(request('hang')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect((err as Error).message).toBe(
      `the generation worker (pid ${first.pid}) made no progress for 300 ms (a hung driver or GPU call?), so the server killed it; a new worker is being started for the requests after it`,
    );
    expect((await s.generate(request('fine'))).parameters).toBe('fine');
    expect(s.info!.pid).not.toBe(first.pid);
    expect(s.restarts).toBe(1);
  });

  it('the watchdog kills a worker that does not honour a cancel in time, though it keeps stepping', async () => {
    const s = start('fake', { stepTimeoutMs: 60_000, cancelTimeoutMs: 300 });
    const first = await s.ready();
    const stop = new AbortController();
    let steps = 0;
    const run = s.generate(request('deaf'), { signal: stop.signal, onStep: () => void steps++ }).catch((e: unknown) => e);
    while (steps < 3) await new Promise((r) => setTimeout(r, 10));
    stop.abort();
    const err = await run;
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect((err as Error).message).toMatch(new RegExp(`^the generation worker \\(pid ${first.pid}\\) did not stop within 300 ms of being asked to`));
    expect((await s.generate(request('fine'))).parameters).toBe('fine');
  });

  it('a request stopped by the server shutting down says so, not that a new worker is starting', async () => {
    const s = start();
    await s.ready();
    const run = s.generate(request('hang')).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    await s.close();
    const err = await run;
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect((err as Error).message).toBe('the server is shutting down; this request was stopped');
  });
});
