// The cluster on a Redis that asks for credentials: requirepass, an ACL user with its
// password in the URL, and TLS (rediss://) with a CA the processes are told to trust.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, stopWorker, type TestWorker } from './support/cluster.js';
import { cliEnv, runCliAsync, startCli } from './support/cli.js';
import { freePort, redisAvailability, removeRedis, startRedis, type TestRedis } from './support/redis.js';
import { getJson, postJson, serverReady, type Txt2ImgResponse } from './support/server.js';
import { allOf, titled } from './support/shared-data.js';

const redis = redisAvailability();
const ready = allOf(serverReady, redis);

/** `sd-mali serve --redis` as its own process (it must read NODE_EXTRA_CA_CERTS at start). */
async function startServeCli(redisUrl: string, env: Record<string, string>): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const child = startCli(['serve', '--redis', redisUrl, '--port', String(port)], { env: cliEnv(env) });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!output.includes('listening on')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`serve did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

describe.skipIf(!ready.available)(titled('the cluster on a Redis with a password, a user, and TLS', ready), () => {
  let db: TestRedis;
  let worker: TestWorker | undefined;
  const user = { name: 'sdmali', password: 'b0ard-p4ss' };

  beforeAll(async () => {
    db = await startRedis({ tls: true, password: 'default-secret', user });
  }, 60_000);
  afterAll(async () => {
    await stopWorker(worker);
    await removeRedis(db);
  }, 30_000);

  it('a wrong password is said at once, with the URL shown without it', async () => {
    const r = await runCliAsync(['status', '--redis', db.url(`${user.name}:wrong`)], { env: cliEnv({ NODE_EXTRA_CA_CERTS: db.caFile! }) });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^sd-mali status: Redis refused the connection: WRONGPASS invalid username-password pair/);
    expect(r.stderr).not.toContain('wrong');
  });

  it('a TLS connection to a CA the process does not trust fails with the reason', async () => {
    const r = await runCliAsync(['status', '--redis', db.url(`${user.name}:${user.password}`)]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^sd-mali status: Redis refused the connection: .*(self[- ]signed certificate|unable to verify|unable to get local issuer)/);
  });

  it('worker, serve and status work over rediss:// with the user and password in the URL, and with requirepass', async () => {
    const env = { NODE_EXTRA_CA_CERTS: db.caFile! };
    const userUrl = db.url(`${user.name}:${encodeURIComponent(user.password)}`);
    worker = await startWorker(userUrl, 'tls-board', { env });
    // The API with the default user's requirepass password (no user name in the URL).
    const serve = await startServeCli(db.url(':default-secret'), env);
    try {
      const models = await getJson<{ title: string; model_name: string }[]>(`${serve.url}/sdapi/v1/sd-models`);
      expect(models.status).toBe(200);
      expect(models.body.map((m) => m.model_name)).toEqual(['standin-tvm0.20']);
      expect(models.body[0]!.title).toMatch(/^standin-tvm0\.20 \[[0-9a-f]{10}\]$/);
      const r = await postJson<Txt2ImgResponse>(`${serve.url}/sdapi/v1/txt2img`, { prompt: 'a lighthouse', steps: 2, seed: 5 });
      expect(r.status).toBe(200);
      expect(Buffer.from(r.body.images[0]!, 'base64').subarray(1, 4).toString('latin1')).toBe('PNG');
      const status = await runCliAsync(['status', '--redis', userUrl, '--json'], { env: cliEnv(env) });
      expect(status.status).toBe(0);
      const parsed = JSON.parse(status.stdout) as { redis: string; workers: { name: string; completed: number }[] };
      expect(parsed.redis).toBe(`rediss://${user.name}:***@127.0.0.1:${db.port}`);
      expect(parsed.workers.map((w) => [w.name, w.completed])).toEqual([['tls-board', 1]]);
    } finally {
      await serve.stop();
    }
  }, 120_000);
});
