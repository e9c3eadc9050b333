// sd-mali serve as a client sees it: the real server on a loopback port, the stand-in model
// in the worker process on the real TVM runtime (cpu), spoken to over HTTP.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngText } from '../lib/image/index.js';
import { StableDiffusion } from '../lib/pipeline/index.js';
import { SAMPLERS } from '../lib/server/index.js';
import {
  getJson,
  pngSize,
  postJson,
  serverReady,
  serverRuntime,
  serverStandin,
  serverTokenizer,
  startServer,
  waitForProgress,
  type RunningServer,
  type Txt2ImgResponse,
} from './support/server.js';
import { decodeRgbaPng } from './support/png-decode.js';
import { REPO_ROOT, titled } from './support/shared-data.js';

interface Info {
  seed: number;
  all_seeds: number[];
  sampler_name: string;
  scheduler: string;
  cfg_scale: number;
  cfg_scale_requested: number;
  guidance_baked: boolean;
  interrupted: boolean;
  skipped_images: number[];
  image_seeds: number[];
  infotexts: string[];
}

const info = (r: Txt2ImgResponse): Info => JSON.parse(r.info) as Info;
const png = (b64: string): Buffer => Buffer.from(b64, 'base64');
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const LONG_STEPS = 600; // the stand-in's unet takes a few ms: enough steps to watch a run

describe.skipIf(!serverReady.available)(titled('sd-mali serve over HTTP', serverReady), () => {
  let s: RunningServer;
  let outputDir: string;
  const txt2img = (body: Record<string, unknown>, init?: RequestInit) => postJson<Txt2ImgResponse>(`${s.url}/sdapi/v1/txt2img`, body, init);

  beforeAll(async () => {
    outputDir = mkdtempSync(join(tmpdir(), 'sd-mali-serve-out-'));
    s = await startServer({ queueSize: 2, outputDir, limits: { maxSteps: 1000 } });
  });
  afterAll(async () => {
    await s?.server.close();
  });

  it('listens on loopback and answers ping, the menus and the page', async () => {
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await getJson(`${s.url}/internal/ping`)).status).toBe(200);
    const samplers = await getJson<{ name: string }[]>(`${s.url}/sdapi/v1/samplers`);
    // A1111 1.10's names and order, those whose scheduler sd-mali has.
    expect(samplers.body.map((x) => x.name)).toEqual(SAMPLERS.map((x) => x.name));
    expect(samplers.body.map((x) => x.name)).toEqual(expect.arrayContaining(['DPM++ 2M', 'Euler a', 'Euler', 'LMS', 'DDIM', 'PLMS']));
    expect(samplers.body[0]!.name).toBe('DPM++ 2M');
    const schedulers = await getJson<{ label: string }[]>(`${s.url}/sdapi/v1/schedulers`);
    expect(schedulers.body.map((x) => x.label)).toEqual(['Automatic', 'Karras', 'Exponential', 'Beta']);
    const models = await getJson<{ title: string; filename: string }[]>(`${s.url}/sdapi/v1/sd-models`);
    expect(models.body).toHaveLength(1);
    expect(models.body[0]!.title).toMatch(/^standin-tvm0\.20 \[[0-9a-f]{10}\]$/);
    const options = await getJson<Record<string, unknown>>(`${s.url}/sdapi/v1/options`);
    expect(options.body['sd_model_checkpoint']).toBe(models.body[0]!.title);
    expect((await postJson(`${s.url}/sdapi/v1/options`, { samples_format: 'jpg', some_setting: 3 })).status).toBe(200);
    const after = (await getJson<Record<string, unknown>>(`${s.url}/sdapi/v1/options`)).body;
    expect(after['samples_format']).toBe('jpg');
    expect(after).not.toHaveProperty('some_setting');
    expect((await postJson(`${s.url}/sdapi/v1/options`, { samples_format: 'png' })).status).toBe(200);
    const flags = await getJson<Record<string, unknown>>(`${s.url}/sdapi/v1/cmd-flags`);
    expect(flags.body).toMatchObject({ api: true, listen: false, api_auth: null });
    const memory = await getJson<{ ram: { total: number } }>(`${s.url}/sdapi/v1/memory`);
    expect(memory.body.ram.total).toBeGreaterThan(0);
    for (const empty of ['loras', 'upscalers', 'extensions']) expect((await getJson(`${s.url}/sdapi/v1/${empty}`)).body).toEqual([]);
    expect((await getJson(`${s.url}/sdapi/v1/scripts`)).body).toEqual({ txt2img: [], img2img: [] });
    const page = await fetch(`${s.url}/`);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('<script src="/page/app.js">');
    expect((await fetch(`${s.url}/page/app.js`)).status).toBe(200);
    expect((await getJson(`${s.url}/sdapi/v1/nothing-here`)).body).toEqual({ detail: 'Not Found' });
  });

  it('txt2img makes the same pixels as a direct generate, with the infotext A1111 writes', async () => {
    const r = await txt2img({ prompt: 'a red fox in a misty forest', negative_prompt: 'blurry', steps: 12, seed: 42, sampler_name: 'Euler a' });
    expect(r.status).toBe(200);
    expect(r.body.images).toHaveLength(1);
    const image = png(r.body.images[0]!);
    expect(pngSize(image)).toEqual([512, 512]);
    const pipe = await StableDiffusion.load(serverStandin.path, { tvmRuntime: serverRuntime.path, tokenizer: serverTokenizer.path, device: 'cpu' });
    try {
      const direct = await pipe.generate('a red fox in a misty forest', { negativePrompt: 'blurry', steps: 12, seed: 42, scheduler: 'euler-a' });
      expect(Buffer.from(decodeRgbaPng(image).rgba).equals(Buffer.from(direct.rgba))).toBe(true);
    } finally {
      pipe.dispose();
    }
    const hash = (await getJson<{ hash: string }[]>(`${s.url}/sdapi/v1/sd-models`)).body[0]!.hash;
    const text = readPngText(image)['parameters']!;
    // create_infotext's order; no Schedule type for Automatic (Euler a has no default schedule).
    expect(text).toBe(
      `a red fox in a misty forest\nNegative prompt: blurry\nSteps: 12, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 512x512, Model hash: ${hash}, Model: standin-tvm0.20, RNG: CPU, Version: sd-mali ${VERSION}`,
    );
    expect(r.body.parameters).toMatchObject({ prompt: 'a red fox in a misty forest', steps: 12, seed: 42, sampler_name: 'Euler a', cfg_scale: 7, width: 512, height: 512, batch_size: 1, n_iter: 1 });
    expect(info(r.body).infotexts).toEqual([text]);
    // png-info reads the chunk back, parsed as A1111 parses it.
    const read = await postJson<{ info: string; parameters: Record<string, string> }>(`${s.url}/sdapi/v1/png-info`, { image: `data:image/png;base64,${r.body.images[0]}` });
    expect(read.body.info).toBe(text);
    expect(read.body.parameters).toMatchObject({ Prompt: 'a red fox in a misty forest', 'Negative prompt': 'blurry', Steps: '12', Sampler: 'Euler a', Seed: '42', 'Size-1': '512', 'Size-2': '512', 'Model hash': hash, 'Schedule type': 'Automatic' });
    expect((await postJson(`${s.url}/sdapi/v1/png-info`, { image: 'bm90IGEgcG5n' })).status).toBe(422);
  });

  it('runs every A1111 sampler name, the scheduler field and the sampler_index alias', async () => {
    const bytes = new Map<string, string>();
    for (const sampler of SAMPLERS) {
      const r = await txt2img({ prompt: 'a lighthouse', steps: 6, seed: 7, sampler_name: sampler.name });
      expect(r.status, sampler.name).toBe(200);
      expect(info(r.body).sampler_name).toBe(sampler.name);
      expect(readPngText(png(r.body.images[0]!))['parameters']).toContain(`Sampler: ${sampler.name},`);
      bytes.set(sampler.name, r.body.images[0]!);
    }
    // Every sampler a different image.
    expect(new Set(bytes.values()).size).toBe(SAMPLERS.length);
    // DPM++ 2M's Automatic is Karras (A1111's default schedule for it), written as such.
    const karras = await txt2img({ prompt: 'a lighthouse', steps: 6, seed: 7, sampler_name: 'DPM++ 2M', scheduler: 'Karras' });
    expect(karras.body.images[0]).toBe(bytes.get('DPM++ 2M'));
    expect(info(karras.body).scheduler).toBe('Karras');
    expect(readPngText(png(karras.body.images[0]!))['parameters']).toContain('Sampler: DPM++ 2M, Schedule type: Karras, CFG scale');
    const legacy = await txt2img({ prompt: 'a lighthouse', steps: 6, seed: 7, sampler_name: 'DPM++ 2M Karras' });
    expect(legacy.body.images[0]).toBe(bytes.get('DPM++ 2M'));
    const alias = await txt2img({ prompt: 'a lighthouse', steps: 6, seed: 7, sampler_index: 'DDIM' });
    expect(alias.body.images[0]).toBe(bytes.get('DDIM'));
    const byAlias = await txt2img({ prompt: 'a lighthouse', steps: 6, seed: 7, sampler_name: 'k_euler_a' });
    expect(byAlias.body.images[0]).toBe(bytes.get('Euler a'));
  });

  it('seeds: the same seed the same image, -1 a random seed reported in info, batch_size 2 seeds s and s+1', async () => {
    const one = await txt2img({ prompt: 'a cat', steps: 5, seed: 1234 });
    const again = await txt2img({ prompt: 'a cat', steps: 5, seed: 1234 });
    const other = await txt2img({ prompt: 'a cat', steps: 5, seed: 1235 });
    expect(again.body.images[0]).toBe(one.body.images[0]);
    expect(other.body.images[0]).not.toBe(one.body.images[0]);

    const random = await txt2img({ prompt: 'a cat', steps: 5, seed: -1 });
    const seed = info(random.body).seed;
    expect(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32).toBe(true);
    expect(readPngText(png(random.body.images[0]!))['parameters']).toContain(`Seed: ${seed},`);
    const replay = await txt2img({ prompt: 'a cat', steps: 5, seed });
    expect(replay.body.images[0]).toBe(random.body.images[0]);

    const batch = await txt2img({ prompt: 'a cat', steps: 5, seed: 1234, batch_size: 2 });
    expect(batch.status).toBe(200);
    expect(batch.body.images).toHaveLength(2);
    expect(info(batch.body).all_seeds).toEqual([1234, 1235]);
    expect(batch.body.images).toEqual([one.body.images[0], other.body.images[0]]);
    const iter = await txt2img({ prompt: 'a cat', steps: 5, seed: 1234, n_iter: 2, send_images: false });
    expect(iter.body.images).toEqual([]);
    expect(info(iter.body).all_seeds).toEqual([1234, 1235]);
  });

  it('applies the baked guidance scale, says so in info and a header, and refuses a size it cannot make', async () => {
    const r = await txt2img({ prompt: 'x', steps: 2, seed: 1, cfg_scale: 7 });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-sd-mali-guidance')).toBe('baked 7.5; requested cfg_scale 7 not applied');
    expect(info(r.body)).toMatchObject({ cfg_scale: 7.5, cfg_scale_requested: 7, guidance_baked: true });
    // Fields sd-mali does not use are accepted and ignored, as A1111 ignores what it does not use.
    const extras = await txt2img({ prompt: 'x', steps: 2, seed: 1, restore_faces: true, enable_hr: false, hr_scale: 2, styles: ['a'], override_settings: { CLIP_stop_at_last_layers: 2 }, script_args: [] });
    expect(extras.status).toBe(200);
    expect(extras.body.images[0]).toBe(r.body.images[0]);
    expect(Object.keys(extras.body.parameters)).not.toContain('restore_faces');
    const wide = await txt2img({ prompt: 'x', width: 768 });
    expect(wide.status).toBe(422);
    expect(wide.body).toEqual({ detail: [{ loc: ['body', 'width'], msg: expect.stringContaining('compiled for one size, 512x512'), type: 'value_error' }] });
  });

  it('save_images writes under the output directory with generated names', async () => {
    const r = await txt2img({ prompt: 'saved', steps: 2, seed: 99, batch_size: 2, save_images: true });
    expect(r.status).toBe(200);
    const files = readdirSync(outputDir);
    expect(files).toHaveLength(2);
    for (const f of files) expect(f).toMatch(/^\d{14}-\d{5}-(99|100)\.png$/);
    const saved = files.map((f) => readFileSync(join(outputDir, f)).toString('base64')).sort();
    expect(saved).toEqual([...r.body.images].sort());
  });

  it('rejects bad JSON, wrong types, out-of-bounds values and an oversized body in FastAPI shape', async () => {
    const bad = await postJson<{ detail: { loc: unknown[]; type: string }[] }>(`${s.url}/sdapi/v1/txt2img`, '{"prompt": "a",');
    expect(bad.status).toBe(422);
    expect(bad.body.detail[0]).toMatchObject({ loc: ['body', 0], type: 'value_error.jsondecode' });
    const types = await txt2img({ prompt: { text: 'a' }, steps: 'many', batch_size: 1.5, send_images: 'maybe' });
    expect(types.status).toBe(422);
    const detail = (types.body as unknown as { detail: { loc: string[]; type: string }[] }).detail;
    expect(detail.map((d) => d.loc.join('.')).sort()).toEqual(['body.batch_size', 'body.prompt', 'body.send_images', 'body.steps']);
    expect(detail.find((d) => d.loc[1] === 'steps')!.type).toBe('type_error.integer');
    const bounds = await txt2img({ steps: 5000, batch_size: 0 });
    expect(bounds.status).toBe(422);
    expect((bounds.body as unknown as { detail: { loc: string[] }[] }).detail.map((d) => d.loc[1]).sort()).toEqual(['batch_size', 'steps']);
    const tooMany = await txt2img({ batch_size: 8, n_iter: 4 });
    expect(tooMany.status).toBe(422);
    expect(JSON.stringify(tooMany.body)).toContain('at most 16 images');
    const longPrompt = await txt2img({ prompt: 'a'.repeat(5000) });
    expect(longPrompt.status).toBe(422);
    const huge = await postJson(`${s.url}/sdapi/v1/txt2img`, JSON.stringify({ prompt: 'a'.repeat(9 * 1024 * 1024) }));
    expect(huge.status).toBe(413);
    expect(huge.body).toEqual({ detail: expect.stringContaining('larger than') });
    // Nothing above leaked a stack trace.
    for (const r of [bad, types, bounds, tooMany, huge]) expect(JSON.stringify(r.body)).not.toMatch(/ at .*\.(ts|js):\d+/);
  });

  it('progress during a run shows the steps advancing and a 64x64 latent preview', async () => {
    const run = txt2img({ prompt: 'progress', steps: LONG_STEPS, seed: 3 });
    const first = await waitForProgress(s.url, (p) => p.state.sampling_step > 0 && p.current_image !== null);
    const later = await waitForProgress(s.url, (p) => (p.state.sampling_step > first.state.sampling_step + 20 && p.current_image !== first.current_image) || p.state.job_count === 0);
    expect(first.state).toMatchObject({ job_count: 1, job_no: 0, sampling_steps: LONG_STEPS, interrupted: false });
    expect(later.state.sampling_step).toBeGreaterThan(first.state.sampling_step);
    expect(later.progress).toBeGreaterThan(first.progress);
    expect(first.eta_relative).toBeGreaterThan(0);
    // The preview follows the latents as they change.
    expect(later.current_image).not.toBeNull();
    expect(later.current_image).not.toBe(first.current_image);
    const preview = png(first.current_image!);
    expect(pngSize(preview)).toEqual([64, 64]);
    const skipImage = await getJson<{ current_image: string | null; state: { job_count: number } }>(`${s.url}/sdapi/v1/progress?skip_current_image=true`);
    if (skipImage.body.state.job_count > 0) expect(skipImage.body.current_image).toBeNull();
    expect((await run).status).toBe(200);
    const idle = await getJson<{ state: { job_count: number }; progress: number }>(`${s.url}/sdapi/v1/progress`);
    expect(idle.body).toMatchObject({ progress: 0, state: { job_count: 0 } });
  });

  it('interrupt stops the job at the next step and returns the image reached; skip moves on to the next image', async () => {
    const run = txt2img({ prompt: 'interrupt me', steps: LONG_STEPS, seed: 5, batch_size: 2 });
    await waitForProgress(s.url, (p) => p.state.sampling_step > 2);
    expect((await postJson(`${s.url}/sdapi/v1/interrupt`, {})).status).toBe(200);
    const r = await run;
    // Left alone it would have made two images; interrupted in the first, it returns that one
    // decoded from the latents reached (as A1111 does), and not the second.
    expect(r.status).toBe(200);
    expect(r.body.images).toHaveLength(1);
    expect(pngSize(png(r.body.images[0]!))).toEqual([512, 512]);
    expect(info(r.body)).toMatchObject({ interrupted: true, image_seeds: [5] });

    const skipped = txt2img({ prompt: 'skip the first', steps: LONG_STEPS, seed: 10, batch_size: 2 });
    await waitForProgress(s.url, (p) => p.state.job_no === 0 && p.state.sampling_step > 2);
    expect((await postJson(`${s.url}/sdapi/v1/skip`, {})).status).toBe(200);
    const k = await skipped;
    expect(k.body.images).toHaveLength(2);
    expect(info(k.body)).toMatchObject({ interrupted: false, skipped_images: [0], image_seeds: [10, 11] });
    const direct = await txt2img({ prompt: 'skip the first', steps: LONG_STEPS, seed: 11 });
    expect(k.body.images[1]).toBe(direct.body.images[0]);
  });

  it('queues in order, one at a time, and answers 429 when the queue is full', async () => {
    const finished: string[] = [];
    const go = (name: string, steps: number) =>
      txt2img({ prompt: name, steps, seed: 1 }).then((r) => {
        finished.push(name);
        return r;
      });
    const a = go('a', LONG_STEPS);
    await waitForProgress(s.url, (p) => p.state.sampling_step > 0);
    const b = go('b', 3);
    await new Promise((r) => setTimeout(r, 50));
    const c = go('c', 3);
    await new Promise((r) => setTimeout(r, 50));
    const full = await txt2img({ prompt: 'd', steps: 3 });
    expect(full.status).toBe(429);
    expect(full.body).toEqual({ detail: expect.stringContaining('the queue is full') });
    const results = await Promise.all([a, b, c]);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(finished).toEqual(['a', 'b', 'c']);
  });

  it('drops a client that disconnects while waiting, and interrupts one that disconnects mid-run', async () => {
    const a = txt2img({ prompt: 'first', steps: 300, seed: 1 });
    await waitForProgress(s.url, (p) => p.state.sampling_step > 0);
    const waiting = new AbortController();
    const b = txt2img({ prompt: 'leaves the queue', steps: LONG_STEPS, seed: 2 }, { signal: waiting.signal });
    await new Promise((r) => setTimeout(r, 50));
    waiting.abort();
    await expect(b).rejects.toThrow();
    expect((await a).status).toBe(200);
    // b never ran: after a the server is idle at once instead of starting b's 600 steps.
    await waitForProgress(s.url, (p) => p.state.job_count === 0, 200);
    await new Promise((r) => setTimeout(r, 100));
    expect((await getJson<{ state: { job_count: number } }>(`${s.url}/sdapi/v1/progress`)).body.state.job_count).toBe(0);
    expect(s.logs.some((l) => l.includes('dropped: the request was cancelled while it waited in the queue'))).toBe(true);

    const running = new AbortController();
    const c = txt2img({ prompt: 'goes away mid-run', steps: LONG_STEPS, seed: 3 }, { signal: running.signal });
    const seen = await waitForProgress(s.url, (p) => p.state.sampling_step > 2);
    running.abort();
    await expect(c).rejects.toThrow();
    const last = await waitForProgress(s.url, (p) => p.state.job_count === 0);
    expect(last.state.job_count).toBe(0);
    expect(seen.state.sampling_steps).toBe(LONG_STEPS);
    await new Promise((r) => setTimeout(r, 50));
    expect(s.logs.some((l) => /txt2img interrupted: the client disconnected \(1 of 1 images made\)/.test(l))).toBe(true);
    // And the worker is fine for the next one.
    expect((await txt2img({ prompt: 'after', steps: 2, seed: 1 })).status).toBe(200);
  });
});

describe.skipIf(!serverReady.available)(titled('sd-mali serve with --api-auth', serverReady), () => {
  let s: RunningServer;
  beforeAll(async () => {
    s = await startServer({ apiAuth: 'alice:wonder land,bob:builder' });
  });
  afterAll(async () => {
    await s?.server.close();
  });
  const basic = (user: string, pass: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` });

  it('answers 401 without or with wrong credentials, and serves the right ones', async () => {
    const none = await getJson(`${s.url}/sdapi/v1/samplers`);
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ detail: 'Not authenticated' });
    expect(none.headers.get('www-authenticate')).toBe('Basic');
    const wrong = await getJson(`${s.url}/sdapi/v1/samplers`, { headers: basic('alice', 'wonderland') });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ detail: 'Incorrect username or password' });
    expect((await getJson(`${s.url}/sdapi/v1/samplers`, { headers: basic('mallory', 'builder') })).status).toBe(401);
    expect((await postJson(`${s.url}/sdapi/v1/txt2img`, { steps: 2 })).status).toBe(401);
    expect((await fetch(`${s.url}/`)).status).toBe(401);
    expect((await getJson(`${s.url}/sdapi/v1/samplers`, { headers: basic('alice', 'wonder land') })).status).toBe(200);
    const ok = await postJson<Txt2ImgResponse>(`${s.url}/sdapi/v1/txt2img`, { steps: 2, seed: 1 }, { headers: basic('bob', 'builder') });
    expect(ok.status).toBe(200);
    expect(ok.body.images).toHaveLength(1);
    expect((await getJson(`${s.url}/internal/ping`)).status).toBe(200);
  });
});
