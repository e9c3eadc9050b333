// createServer's network options with the scripted worker (no model needed): the warning
// when listening wider than loopback without auth, CORS, and what close() does.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createServer } from '../lib/server/index.js';
import { REPO_ROOT } from './support/shared-data.js';

const FAKE = join(REPO_ROOT, 'test', 'fixtures', 'fake-generation-worker.mjs');

function fakeServer(options: Parameters<typeof createServer>[0] extends infer O ? Partial<O> : never) {
  const logs: string[] = [];
  const server = createServer({ model: 'fake-model', workerEntry: FAKE, port: 0, log: (l) => logs.push(l), ...options });
  return { server, logs };
}

describe('createServer options', () => {
  it('warns when it listens beyond loopback without --api-auth, and not with it or on loopback', async () => {
    for (const [options, warns] of [
      [{ host: '0.0.0.0' }, true],
      [{ host: '0.0.0.0', apiAuth: 'me:secret' }, false],
      [{}, false],
    ] as const) {
      const { server, logs } = fakeServer(options);
      const url = await server.listen();
      try {
        expect(url).toMatch(options.host === undefined ? /^http:\/\/127\.0\.0\.1:\d+$/ : /^http:\/\/0\.0\.0\.0:\d+$/);
        expect(logs.some((l) => l.includes('without --api-auth: anyone who can reach this machine'))).toBe(warns);
      } finally {
        await server.close();
      }
    }
  });

  it('answers CORS preflights and tags responses for the allowed origin', async () => {
    const { server } = fakeServer({ corsOrigin: 'http://editor.local:3000', apiAuth: 'a:b' });
    const url = await server.listen();
    try {
      const preflight = await fetch(`${url}/sdapi/v1/txt2img`, { method: 'OPTIONS', headers: { origin: 'http://editor.local:3000', 'access-control-request-method': 'POST' } });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('http://editor.local:3000');
      expect(preflight.headers.get('access-control-allow-headers')).toBe('authorization, content-type');
      const ping = await fetch(`${url}/internal/ping`);
      expect(ping.headers.get('access-control-allow-origin')).toBe('http://editor.local:3000');
    } finally {
      await server.close();
    }
  });

  it('passes cfg_scale to an executable that does not bake guidance in, without the baked header', async () => {
    const { server } = fakeServer({ model: 'model-unbaked' });
    const url = await server.listen();
    try {
      const r = await fetch(`${url}/sdapi/v1/txt2img`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'p', steps: 1, cfg_scale: 5.5 }) });
      const info = JSON.parse(((await r.json()) as { info: string }).info) as Record<string, unknown>;
      expect(r.status).toBe(200);
      expect(r.headers.get('x-sd-mali-guidance')).toBeNull();
      expect(info).toMatchObject({ cfg_scale: 5.5, cfg_scale_requested: 5.5, guidance_baked: false, infotexts: ['p | guidance 5.5'], extra_generation_params: {} });
    } finally {
      await server.close();
    }
  });

  it('hands programCache (a directory, resolved, or false) to the generation worker, as serve --program-cache does', async () => {
    for (const [programCache, expected] of [
      ['relative-cache', join(process.cwd(), 'relative-cache')],
      [false, false],
      [undefined, undefined],
    ] as const) {
      const { server } = fakeServer(programCache === undefined ? {} : { programCache });
      const url = await server.listen();
      try {
        const r = await fetch(`${url}/sdapi/v1/txt2img`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'config', steps: 1 }) });
        const info = JSON.parse(((await r.json()) as { info: string }).info) as { infotexts: string[] };
        expect((JSON.parse(info.infotexts[0]!) as { programCache?: unknown }).programCache).toEqual(expected);
      } finally {
        await server.close();
      }
    }
  });

  it('txt2img on the scripted worker returns its image; a model that cannot load fails listen()', async () => {
    const { server } = fakeServer({});
    const url = await server.listen();
    try {
      const r = await fetch(`${url}/sdapi/v1/txt2img`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'hello', steps: 1, seed: 9 }) });
      const body = (await r.json()) as { images: string[]; info: string };
      expect(r.status).toBe(200);
      expect(Buffer.from(body.images[0]!, 'base64')).toEqual(Buffer.from([1, 2, 3]));
      expect(JSON.parse(body.info)).toMatchObject({ infotexts: ['hello'], all_seeds: [9] });
      expect(server.workerPid).toBeGreaterThan(0);
    } finally {
      await server.close();
    }
    expect(server.workerPid).toBeUndefined();
    const broken = fakeServer({ model: 'fail-load' }).server;
    await expect(broken.listen()).rejects.toThrow('the generation worker could not load the model: fail-load: no such model');
    expect(() => createServer({ model: 'x', apiAuth: 'nocolon' })).toThrow(/--api-auth takes user:password/);
  });
});
