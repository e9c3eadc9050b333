// What happens when a part of the cluster fails: a board killed mid-job, a GPU process that
// dies, /interrupt, a client that leaves, Redis restarted mid-run. Real redis-server (with
// an append-only file, as docs/cluster.md asks for), real `sd-mali worker` processes on the
// stand-in model (cpu), the server with --redis on a loopback port.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, stopWorker, waitForStatus, workerNamed, type TestWorker } from './support/cluster.js';
import { redisAvailability, removeRedis, startRedis, type TestRedis } from './support/redis.js';
import { getJson, postJson, serverReady, startServer, waitForProgress, type RunningServer, type Txt2ImgResponse } from './support/server.js';
import { allOf, titled } from './support/shared-data.js';

const redis = redisAvailability();
const ready = allOf(serverReady, redis);

/** The stand-in's unet takes a few ms: enough steps to act while a job runs. */
const LONG_STEPS = 400;
/** A short lock, so a dead board's job moves on within seconds. */
const LOCK_MS = 3000;
const body = (seed: number, steps: number) => ({ prompt: 'a red fox in a misty forest', steps, seed, sampler_name: 'Euler a' });
const interruptedOf = (r: Txt2ImgResponse): boolean => (JSON.parse(r.info) as { interrupted: boolean }).interrupted;

describe.skipIf(!ready.available)(titled('the cluster when parts fail', ready), () => {
  let db: TestRedis;
  const workers = new Map<string, TestWorker>();
  let cluster: RunningServer;
  let single: RunningServer;
  const txt2img = (seed: number, steps: number, init?: RequestInit) => postJson<Txt2ImgResponse>(`${cluster.url}/sdapi/v1/txt2img`, body(seed, steps), init);
  const reference = async (seed: number, steps: number): Promise<Buffer> => {
    const r = await postJson<Txt2ImgResponse>(`${single.url}/sdapi/v1/txt2img`, body(seed, steps));
    expect(r.status).toBe(200);
    return Buffer.from(r.body.images[0]!, 'base64');
  };
  const imageOf = (r: { status: number; body: Txt2ImgResponse }): Buffer => {
    expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(200);
    expect(r.body.images).toHaveLength(1);
    return Buffer.from(r.body.images[0]!, 'base64');
  };
  const addWorker = async (name: string): Promise<void> => {
    workers.set(name, await startWorker(db.url(), name, { lockMs: LOCK_MS }));
  };
  /** The board running a job now, once it has made `step` steps. */
  const busyBoard = async (step: number) => {
    const status = await waitForStatus(db.url(), (s) => s.workers.some((w) => w.state === 'busy' && (w.job?.step ?? 0) >= step));
    return status.workers.find((w) => w.state === 'busy')!;
  };
  const totals = async () => {
    const s = await waitForStatus(db.url(), (x) => x.workers.every((w) => w.state === 'idle'));
    return { completed: s.workers.reduce((a, w) => a + w.completed, 0), cancelled: s.workers.reduce((a, w) => a + w.cancelled, 0), status: s };
  };

  beforeAll(async () => {
    db = await startRedis({ durable: true });
    await Promise.all([addWorker('board-1'), addWorker('board-2')]);
    cluster = await startServer({ redis: db.url(), model: undefined, limits: { maxSteps: 1000 } });
    single = await startServer({ limits: { maxSteps: 1000 } });
    await waitForStatus(db.url(), (s) => s.workers.filter((w) => w.state === 'idle').length === 2);
  }, 180_000);
  afterAll(async () => {
    await cluster?.server.close();
    await single?.server.close();
    await Promise.all([...workers.values()].map(stopWorker));
    await removeRedis(db);
  }, 60_000);

  it('kill -9 of a board while it runs a job: another board completes that request, with the same image', async () => {
    const answer = txt2img(11, LONG_STEPS);
    const victim = await busyBoard(2);
    workers.get(victim.name)!.process.kill('SIGKILL');
    const image = imageOf(await answer);
    expect(image.equals(await reference(11, LONG_STEPS))).toBe(true);
    // The survivor ran it; the dead board drops out of the registry once its heartbeat expires.
    const status = await waitForStatus(db.url(), (s) => s.workers.length === 1, 15_000);
    expect(status.workers[0]!.name).not.toBe(victim.name);
    expect(status.workers[0]!.completed).toBe(1);
    workers.delete(victim.name);
    await addWorker('board-3');
  }, 120_000);

  it('a GPU process that dies fails the attempt, and the job is retried to completion', async () => {
    const before = await totals();
    const answer = txt2img(12, LONG_STEPS);
    const board = await busyBoard(2);
    process.kill(board.info!.pid, 'SIGKILL');
    const image = imageOf(await answer);
    expect(image.equals(await reference(12, LONG_STEPS))).toBe(true);
    const after = await waitForStatus(db.url(), (s) => s.workers.every((w) => w.state === 'idle'));
    expect(workerNamed(after, board.name)!.failed).toBe(1);
    expect(after.workers.reduce((a, w) => a + w.completed, 0)).toBe(before.completed + 1);
    expect(after.queues[0]!.failed).toBe(0);
  }, 120_000);

  it('/interrupt stops the caller\'s job on its board within one step', async () => {
    const answer = txt2img(13, LONG_STEPS);
    await waitForProgress(cluster.url, (p) => p.state.sampling_step >= 3);
    expect((await postJson(`${cluster.url}/sdapi/v1/interrupt`, {})).status).toBe(200);
    const r = await answer;
    expect(r.status).toBe(200);
    expect(interruptedOf(r.body)).toBe(true);
    // As A1111 (and the single-process server): the image is decoded where it stopped and returned.
    expect(r.body.images).toHaveLength(1);
    expect(Buffer.from(r.body.images[0]!, 'base64').subarray(1, 4).toString('latin1')).toBe('PNG');
    const status = await waitForStatus(db.url(), (s) => s.workers.some((w) => w.lastJob?.outcome === 'interrupted'));
    const last = status.workers.find((w) => w.lastJob?.outcome === 'interrupted')!.lastJob!;
    expect(last.cancelledAtStep).toBeGreaterThanOrEqual(3);
    // The board counts steps from the GPU process's events, which can trail the GPU process by
    // a step on a loaded machine when the cancel arrives: one step to honour it, one in flight.
    expect(last.step - last.cancelledAtStep!).toBeLessThanOrEqual(2);
    expect(last.step).toBeLessThan(LONG_STEPS);
  }, 60_000);

  it("a client that disconnects has its job cancelled on the board", async () => {
    const before = await totals();
    const client = new AbortController();
    const answer = txt2img(14, LONG_STEPS, { signal: client.signal }).catch((err: Error) => err);
    await waitForProgress(cluster.url, (p) => p.state.sampling_step >= 3);
    client.abort();
    expect(await answer).toBeInstanceOf(Error);
    const status = await waitForStatus(db.url(), (s) => s.workers.reduce((a, w) => a + w.cancelled, 0) === before.cancelled + 1 && s.workers.every((w) => w.state === 'idle'));
    const cancelled = status.workers.map((w) => w.lastJob).filter((j) => j?.outcome === 'interrupted' && j.id !== undefined);
    expect(cancelled.some((j) => j!.step < LONG_STEPS)).toBe(true);
    expect(status.workers.reduce((a, w) => a + w.completed, 0)).toBe(before.completed);
  }, 60_000);

  it('Redis restarted mid-run: 503 meanwhile, then it works again and every acknowledged request is answered', async () => {
    const seeds = [21, 22, 23, 24];
    const steps = 150;
    const answers = seeds.map((seed) => txt2img(seed, steps));
    await busyBoard(2);
    await db.stop('SIGKILL');
    // Meanwhile: a 503 at once, for a new request and for the menus that need Redis.
    let during = await txt2img(31, 1);
    for (let tries = 0; during.status !== 503 && tries < 20; tries++) {
      await new Promise((r) => setTimeout(r, 100));
      during = await txt2img(31, 1);
    }
    expect(during.status).toBe(503);
    expect(String((during.body as unknown as { detail: string }).detail)).toMatch(/^Redis at redis:\/\/127\.0\.0\.1:\d+\/? is unreachable/);
    expect((await getJson(`${cluster.url}/sdapi/v1/sd-models`)).status).toBe(503);
    await db.start();
    // Back by itself: a new request works again within a bounded wait.
    let after = await txt2img(32, 1);
    for (let tries = 0; after.status !== 200 && tries < 60; tries++) {
      await new Promise((r) => setTimeout(r, 250));
      after = await txt2img(32, 1);
    }
    expect(after.status).toBe(200);
    const got = await Promise.all(answers);
    for (const [k, seed] of seeds.entries()) expect(imageOf(got[k]!).equals(await reference(seed, steps)), `seed ${seed}`).toBe(true);
  }, 120_000);
});
