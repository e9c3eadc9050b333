// Many boards behind one API: a real redis-server, three real `sd-mali worker` processes on
// the stand-in model (cpu) and `sd-mali serve --redis`, checked against the single-process
// server for the same seeds.
import { Job, Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, stopWorker, waitForStatus, type TestWorker } from './support/cluster.js';
import { runCliAsync } from './support/cli.js';
import { redisAvailability, removeRedis, startRedis, type TestRedis } from './support/redis.js';
import { getJson, postJson, serverReady, startServer, type RunningServer, type Txt2ImgResponse } from './support/server.js';
import { allOf, titled } from './support/shared-data.js';

const redis = redisAvailability();
const ready = allOf(serverReady, redis);

const REQUESTS = 30;
const CLIENTS = 10;
const STEPS = 3;
const FIRST_SEED = 7000;
const body = (seed: number) => ({ prompt: 'a lighthouse on a cliff', steps: STEPS, seed, sampler_name: 'Euler a' });

describe.skipIf(!ready.available)(titled('sd-mali serve --redis with three workers', ready), () => {
  let db: TestRedis;
  let workers: TestWorker[] = [];
  let cluster: RunningServer;
  let single: RunningServer;

  beforeAll(async () => {
    db = await startRedis();
    workers = await Promise.all(['board-1', 'board-2', 'board-3'].map((name) => startWorker(db.url(), name)));
    cluster = await startServer({ redis: db.url(), model: undefined });
    single = await startServer();
    await waitForStatus(db.url(), (s) => s.workers.filter((w) => w.state === 'idle').length === 3);
  }, 180_000);
  afterAll(async () => {
    await cluster?.server.close();
    await single?.server.close();
    await Promise.all(workers.map(stopWorker));
    await removeRedis(db);
  }, 60_000);

  it('lists the model the live workers serve with the identity a single server gives it, and refuses one nobody serves with a 503 that says so', async () => {
    type Listed = { title: string; model_name: string; hash: string | null; sha256: string | null; filename: string };
    const models = await getJson<Listed[]>(`${cluster.url}/sdapi/v1/sd-models`);
    expect(models.status).toBe(200);
    const local = (await getJson<Listed[]>(`${single.url}/sdapi/v1/sd-models`)).body;
    // The boards hash their own weight index and send it in their heartbeat: the same name,
    // sha256 and "name [shorthash]" title as the single-process server on the same files.
    expect(models.body.map(({ title, model_name, hash, sha256 }) => ({ title, model_name, hash, sha256 }))).toEqual(
      local.map(({ title, model_name, hash, sha256 }) => ({ title, model_name, hash, sha256 })),
    );
    expect(models.body[0]!.model_name).toBe('standin-tvm0.20');
    expect(models.body[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(models.body[0]!.title).toBe(`standin-tvm0.20 [${models.body[0]!.sha256!.slice(0, 10)}]`);
    const options = await getJson<{ sd_model_checkpoint: string; sd_checkpoint_hash: string }>(`${cluster.url}/sdapi/v1/options`);
    expect(options.body).toMatchObject({ sd_model_checkpoint: models.body[0]!.title, sd_checkpoint_hash: models.body[0]!.sha256 });
    const missing = await postJson<{ detail: string }>(`${cluster.url}/sdapi/v1/txt2img`, { ...body(1), override_settings: { sd_model_checkpoint: 'sd15-anything' } });
    expect(missing.status).toBe(503);
    expect(missing.body.detail).toBe(`no live worker serves the model "sd15-anything"; the workers serve "${models.body[0]!.title}"`);
  });

  it(`answers ${REQUESTS} requests from ${CLIENTS} clients once each, with the single-process server's bytes for each seed`, async () => {
    const seeds = Array.from({ length: REQUESTS }, (_, k) => FIRST_SEED + k);
    const answers = new Map<number, Txt2ImgResponse[]>();
    // Each client sends its share one after the other; the clients run at once.
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, client) => {
        for (let k = client; k < REQUESTS; k += CLIENTS) {
          const seed = seeds[k]!;
          const r = await postJson<Txt2ImgResponse>(`${cluster.url}/sdapi/v1/txt2img`, body(seed));
          expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(200);
          answers.set(seed, [...(answers.get(seed) ?? []), r.body]);
        }
      }),
    );
    for (const seed of seeds) {
      const got = answers.get(seed) ?? [];
      expect(got).toHaveLength(1);
      const answer = got[0]!;
      expect((JSON.parse(answer.info) as { all_seeds: number[] }).all_seeds).toEqual([seed]);
      const reference = await postJson<Txt2ImgResponse>(`${single.url}/sdapi/v1/txt2img`, body(seed));
      expect(reference.status).toBe(200);
      expect(answer.images).toHaveLength(1);
      expect(Buffer.from(answer.images[0]!, 'base64').equals(Buffer.from(reference.body.images[0]!, 'base64')), `seed ${seed}`).toBe(true);
    }
    // None lost or run twice: the boards completed exactly one job per request between them.
    const status = await waitForStatus(db.url(), (s) => s.workers.every((w) => w.state === 'idle'));
    const completed = status.workers.map((w) => w.completed);
    expect(completed.reduce((a, b) => a + b, 0)).toBe(REQUESTS);
    expect(completed.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    expect(status.workers.map((w) => w.failed + w.cancelled)).toEqual([0, 0, 0]);
    expect(status.queues).toEqual([{ model: 'standin-tvm0.20', queue: 'txt2img.standin-tvm0.20', waiting: 0, active: 0, delayed: 0, completed: REQUESTS, failed: 0 }]);
  }, 180_000);

  it('sd-mali status shows the boards, their model and the queue counts', async () => {
    const r = await runCliAsync(['status', '--redis', db.url()]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`Redis ${db.url()}`);
    for (const name of ['board-1', 'board-2', 'board-3']) expect(r.stdout).toMatch(new RegExp(`^${name}\\s+standin-tvm0\\.20\\s+idle\\s+-\\s+-\\s+\\d+\\s+0\\s+0\\s`, 'm'));
    expect(r.stdout).toMatch(/^standin-tvm0\.20\s+0\s+0\s+0\s+30\s+0$/m);
    const json = JSON.parse((await runCliAsync(['status', '--redis', db.url(), '--json'])).stdout) as { workers: { name: string }[] };
    expect(json.workers.map((w) => w.name)).toEqual(['board-1', 'board-2', 'board-3']);
  });

  it('a job whose data is not a request fails on the board at once, without a retry', async () => {
    const queue = new Queue('txt2img.standin-tvm0.20', { connection: { url: db.url() }, prefix: 'sd-mali' });
    try {
      const job = await queue.add('txt2img', { request: { prompt: 5 }, seeds: ['1'] }, { attempts: 3, backoff: { type: 'fixed', delay: 100 } });
      const deadline = Date.now() + 20_000;
      while ((await job.getState()) !== 'failed' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const failed = (await Job.fromId(queue, job.id!))!;
      expect(await failed.getState()).toBe('failed');
      expect(failed.failedReason).toBe('invalid job data: request.prompt is not a string');
      expect(failed.attemptsMade).toBe(1);
    } finally {
      await queue.close();
    }
    // The boards are still there and serve the next request.
    expect((await postJson<Txt2ImgResponse>(`${cluster.url}/sdapi/v1/txt2img`, body(1))).status).toBe(200);
  }, 60_000);

  // Last: these jobs would change the counts the tests above check.
  it('a request may name the model by any of its A1111 names: title, short hash, sha256, name; POST /options likewise', async () => {
    const listed = (await getJson<{ title: string; hash: string; sha256: string }[]>(`${cluster.url}/sdapi/v1/sd-models`)).body[0]!;
    for (const name of [listed.title, listed.hash, listed.sha256, 'standin-tvm0.20']) {
      const named = await postJson<Txt2ImgResponse>(`${cluster.url}/sdapi/v1/txt2img`, { ...body(2), override_settings: { sd_model_checkpoint: name } });
      expect(named.status, name).toBe(200);
      expect(JSON.parse(named.body.info)).toMatchObject({ sd_model_name: 'standin-tvm0.20', sd_model_hash: listed.hash });
    }
    // Another build's hash is another model, as in A1111.
    const stale = await postJson<{ detail: string }>(`${cluster.url}/sdapi/v1/txt2img`, { ...body(2), override_settings: { sd_model_checkpoint: 'standin-tvm0.20 [0123456789]' } });
    expect(stale.status).toBe(503);
    expect((await postJson(`${cluster.url}/sdapi/v1/options`, { sd_model_checkpoint: listed.hash })).status).toBe(200);
    expect((await getJson<{ sd_model_checkpoint: string }>(`${cluster.url}/sdapi/v1/options`)).body.sd_model_checkpoint).toBe(listed.title);
    const refused = await postJson<{ detail: string }>(`${cluster.url}/sdapi/v1/options`, { sd_model_checkpoint: 'sd15-anything' });
    expect(refused.status).toBe(400);
    expect(refused.body.detail).toBe(`model "sd15-anything" not found; this server serves "${listed.title}"`);
  }, 60_000);
});
