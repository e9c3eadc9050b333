// What third-party A1111 clients hit (issue 21, "What clients hit" 2–6; 1 is in
// server.test.ts), each as the client sends it, against the real server on a loopback port
// with the stand-in model.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngText } from '../lib/image/index.js';
import { getJson, postJson, serverReady, startServer, waitForProgress, type RunningServer, type Txt2ImgResponse } from './support/server.js';
import { titled } from './support/shared-data.js';

interface Info {
  seed: number;
  all_seeds: number[];
  sampler_name: string;
  scheduler: string;
  steps: number;
  infotexts: string[];
}
const info = (r: Txt2ImgResponse): Info => JSON.parse(r.info) as Info;

/** A JPEG holding `parameters` as A1111 writes it (EXIF UserComment, piexif "unicode" = UTF-16BE, big-endian TIFF). */
function jpegWithParameters(parameters: string): string {
  const text = Buffer.from(parameters, 'utf16le');
  text.swap16();
  const comment = Buffer.concat([Buffer.from('UNICODE\0', 'latin1'), text]);
  const entry = (tag: number, type: number, count: number, value: number): Buffer => {
    const b = Buffer.alloc(12);
    b.writeUInt16BE(tag, 0);
    b.writeUInt16BE(type, 2);
    b.writeUInt32BE(count, 4);
    b.writeUInt32BE(value, 8);
    return b;
  };
  const ifd = (e: Buffer): Buffer => Buffer.concat([Buffer.from([0, 1]), e, Buffer.alloc(4)]);
  const ifd0 = ifd(entry(0x8769, 4, 1, 8 + 18));
  const exifIfd = ifd(entry(0x9286, 7, comment.length, 8 + 18 + 18));
  const tiff = Buffer.concat([Buffer.from('MM\0\x2a\0\0\0\x08', 'latin1'), ifd0, exifIfd, comment]);
  const app1 = Buffer.alloc(4);
  app1.writeUInt16BE(0xffe1, 0);
  app1.writeUInt16BE(2 + 6 + tiff.length, 2);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), app1, Buffer.from('Exif\0\0', 'latin1'), tiff, Buffer.from([0xff, 0xd9])]).toString('base64');
}

describe.skipIf(!serverReady.available)(titled('A1111 clients against sd-mali serve', serverReady), () => {
  let s: RunningServer;
  const txt2img = (body: Record<string, unknown>) => postJson<Txt2ImgResponse>(`${s.url}/sdapi/v1/txt2img`, body);
  beforeAll(async () => {
    s = await startServer({ limits: { maxSteps: 1000 } });
  });
  afterAll(async () => {
    await s?.server.close();
  });

  it("2. SillyTavern's default (DDIM + normal), unknown schedule types, legacy names and samplers sd-mali lacks all run", async () => {
    const st = await txt2img({ prompt: 'x', steps: 3, seed: 1, sampler_name: 'DDIM', scheduler: 'normal' });
    expect(st.status).toBe(200);
    expect(info(st.body)).toMatchObject({ sampler_name: 'DDIM', scheduler: 'Automatic' });
    const ddim = await txt2img({ prompt: 'x', steps: 3, seed: 1, sampler_name: 'DDIM' });
    expect(st.body.images[0]).toBe(ddim.body.images[0]);
    const unknownType = await txt2img({ prompt: 'x', steps: 3, seed: 1, sampler_name: 'Euler', scheduler: 'Turbo Wobble' });
    expect(unknownType.status).toBe(200);
    expect(info(unknownType.body).scheduler).toBe('Automatic');
    const legacy = await txt2img({ prompt: 'x', steps: 3, seed: 1, sampler_name: 'LMS Karras' });
    expect(legacy.status).toBe(200);
    expect(info(legacy.body)).toMatchObject({ sampler_name: 'LMS', scheduler: 'Karras' });
    const explicit = await txt2img({ prompt: 'x', steps: 3, seed: 1, sampler_name: 'LMS', scheduler: 'karras' });
    expect(explicit.body.images[0]).toBe(legacy.body.images[0]);
    for (const name of ['Heun', 'DPM2', 'DPM2 a', 'DPM++ 2M SDE', 'DPM++ 2M SDE Karras', 'DPM++ 2S a', 'UniPC', 'Euler Karras', 'LCM', 'DDPM', 'DPM adaptive']) {
      const r = await txt2img({ prompt: 'x', steps: 2, seed: 1, sampler_name: name });
      expect(r.status, name).toBe(200);
    }
    expect(s.logs.some((l) => l.includes('schedule type "Turbo Wobble" is unknown; using Automatic'))).toBe(true);
  });

  it('3. the list and no-op endpoints A1111 has answer as A1111 does', async () => {
    for (const name of ['latent-upscale-modes', 'realesrgan-models', 'script-info']) {
      const r = await getJson(`${s.url}/sdapi/v1/${name}`);
      expect(r.status, name).toBe(200);
      expect(r.body, name).toEqual([]);
    }
    for (const name of ['refresh-checkpoints', 'refresh-vae', 'refresh-embeddings', 'refresh-loras']) {
      const r = await postJson(`${s.url}/sdapi/v1/${name}`, {});
      expect(r.status, name).toBe(200);
      expect(r.body, name).toBeNull();
    }
    for (const name of ['unload-checkpoint', 'reload-checkpoint']) expect((await postJson(`${s.url}/sdapi/v1/${name}`, {})).body, name).toEqual({});
  });

  it('4. a POST with Content-Type: application/json and an empty body (axios) is no body, not a 422', async () => {
    for (const path of ['refresh-checkpoints', 'interrupt', 'skip']) {
      const r = await fetch(`${s.url}/sdapi/v1/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' } });
      expect(r.status, path).toBe(200);
      const bare = await fetch(`${s.url}/sdapi/v1/${path}`, { method: 'POST' });
      expect(bare.status, path).toBe(200);
    }
    // A route that needs a body still says so, in FastAPI's shape.
    const empty = await fetch(`${s.url}/sdapi/v1/png-info`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    expect(empty.status).toBe(422);
  });

  it("5. the infotext is A1111's: labels, no Schedule type for Automatic, Model hash, fields where position readers look", async () => {
    const r = await txt2img({ prompt: 'a cat', steps: 4, seed: 1234, sampler_name: 'Euler a', width: 512, height: 512 });
    const text = readPngText(Buffer.from(r.body.images[0]!, 'base64'))['parameters']!;
    // node-sd-webui's pngInfo reads the last line by position: steps, sampler, cfg, seed, size, model hash, model.
    const fields = text.split('\n').at(-1)!.split(', ').map((f) => f.split(': ')[1]);
    const hash = (await getJson<{ hash: string }[]>(`${s.url}/sdapi/v1/sd-models`)).body[0]!.hash;
    expect(fields.slice(0, 7)).toEqual(['4', 'Euler a', '7.5', '1234', '512x512', hash, 'standin-tvm0.20']);
    const plms = await txt2img({ prompt: 'a cat', steps: 4, seed: 1, sampler_name: 'PLMS' });
    expect(readPngText(Buffer.from(plms.body.images[0]!, 'base64'))['parameters']).toContain('Sampler: PLMS,');
    // Its own Schedule type value is one txt2img takes.
    const dpm = await txt2img({ prompt: 'a cat', steps: 4, seed: 1, sampler_name: 'DPM++ 2M' });
    const own = /Schedule type: ([^,]+),/.exec(info(dpm.body).infotexts[0]!)![1]!;
    expect(own).toBe('Karras');
    const again = await txt2img({ prompt: 'a cat', steps: 4, seed: 1, sampler_name: 'DPM++ 2M', scheduler: own });
    expect(again.status).toBe(200);
    expect(again.body.images[0]).toBe(dpm.body.images[0]);
  });

  it('6a. seed null is random; infotext fills the fields the request leaves out', async () => {
    const a = await txt2img({ prompt: 'x', steps: 2, seed: null });
    const b = await txt2img({ prompt: 'x', steps: 2, seed: null });
    expect(a.status).toBe(200);
    expect(info(a.body).seed).not.toBe(info(b.body).seed);
    const reference = await txt2img({ prompt: 'from infotext', negative_prompt: 'ugly', steps: 5, seed: 777, sampler_name: 'DDIM' });
    const replay = await txt2img({ infotext: info(reference.body).infotexts[0] });
    expect(replay.status).toBe(200);
    expect(info(replay.body)).toMatchObject({ seed: 777, steps: 5, sampler_name: 'DDIM' });
    expect(replay.body.images[0]).toBe(reference.body.images[0]);
    // A field the request sets wins over the infotext.
    const mixed = await txt2img({ infotext: info(reference.body).infotexts[0], steps: 3 });
    expect(info(mixed.body)).toMatchObject({ seed: 777, steps: 3 });
    const bad = await txt2img({ infotext: 'p\nSteps: many, Sampler: Euler, Seed: 1' });
    expect(bad.status).toBe(422);
  });

  it('6b. sd-models has hashes, options has A1111\'s keys and refuses an unknown checkpoint, samplers have options', async () => {
    const models = (await getJson<{ title: string; hash: string; sha256: string; model_name: string }[]>(`${s.url}/sdapi/v1/sd-models`)).body;
    expect(models[0]!.hash).toMatch(/^[0-9a-f]{10}$/);
    expect(models[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(models[0]!.sha256.startsWith(models[0]!.hash)).toBe(true);
    expect(models[0]!.title).toBe(`${models[0]!.model_name} [${models[0]!.hash}]`);
    const options = (await getJson<Record<string, unknown>>(`${s.url}/sdapi/v1/options`)).body;
    expect(Object.keys(options).length).toBeGreaterThan(40);
    expect(options).toMatchObject({ sd_model_checkpoint: models[0]!.title, sd_checkpoint_hash: models[0]!.sha256, CLIP_stop_at_last_layers: 1, sd_vae: 'Automatic' });
    for (const name of [models[0]!.title, models[0]!.model_name, models[0]!.hash]) {
      expect((await postJson(`${s.url}/sdapi/v1/options`, { sd_model_checkpoint: name })).status, name).toBe(200);
    }
    const unknown = await postJson<{ detail: string }>(`${s.url}/sdapi/v1/options`, { sd_model_checkpoint: 'sdxl.safetensors' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.detail).toMatch(/^model "sdxl\.safetensors" not found/);
    const samplers = (await getJson<{ name: string; options: Record<string, string> }[]>(`${s.url}/sdapi/v1/samplers`)).body;
    expect(samplers.find((x) => x.name === 'DPM++ 2M')!.options).toEqual({ scheduler: 'karras' });
  });

  it('6c. progress has current_task (force_task_id honoured); png-info reads JPEG and gives Size-1/Size-2', async () => {
    const run = txt2img({ prompt: 'slow', steps: 400, seed: 1, force_task_id: 'task(client-chosen)' });
    const seen = await waitForProgress(s.url, (p) => p.state.sampling_step > 0);
    expect((seen as unknown as { current_task: string }).current_task).toBe('task(client-chosen)');
    await postJson(`${s.url}/sdapi/v1/interrupt`, {});
    await run;
    expect((await getJson<{ current_task: string | null }>(`${s.url}/sdapi/v1/progress`)).body.current_task).toBeNull();
    const parameters = 'a café\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 640x480';
    const r = await postJson<{ info: string; parameters: Record<string, string> }>(`${s.url}/sdapi/v1/png-info`, { image: `data:image/jpeg;base64,${jpegWithParameters(parameters)}` });
    expect(r.status).toBe(200);
    expect(r.body.info).toBe(parameters);
    expect(r.body.parameters).toMatchObject({ Prompt: 'a café', 'Size-1': '640', 'Size-2': '480', Steps: '20' });
  });
});
