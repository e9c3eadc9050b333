// POST /sdapi/v1/img2img on the real server (loopback, worker process, TVM runtime): the
// refusals every model gets (not an image, too large, a mask of another size: 422s that say
// why; a model without vae_encode: 501 naming sd-mali build), and on tiny-sd-a built by
// sd-mali build an A1111 client's img2img and inpainting calls, unchanged, answered with
// diffusers' images (PLMS = PNDM, leading spacing; DDIM) and an infotext with Denoising strength.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type SdMaliServer } from '../lib/server/index.js';
import { readNpyU8 } from './support/npy.js';
import { decodeRgbaPng } from './support/png-decode.js';
import { getJson, postJson, serverReady, startServer, type RunningServer, type Txt2ImgResponse } from './support/server.js';
import { allOf, sharedData, titled } from './support/shared-data.js';
import { tinyModel } from './support/compiled-models.js';

const references = sharedData('golden-compile/tiny-sd-a/references', 'the tiny-sd-a references');
const runtime26 = sharedData('tvm/v0.26.0/linux-x64/libtvm_runtime.so', 'the TVM v0.26.0 runtime');
const tiny = tinyModel('cpu', 'float32');
const b64 = (file: string): string => readFileSync(file).toString('base64');
type Detail = { detail: Array<{ loc: string[]; msg: string; type: string }> | string };

describe.skipIf(!serverReady.available || !references.available)(titled('img2img refusals (the stand-in: no vae_encode)', allOf(serverReady, references)), () => {
  let s: RunningServer;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(async () => {
    await s?.server.close();
  });
  const post = (body: Record<string, unknown>) => postJson<Detail>(`${s.url}/sdapi/v1/img2img`, body);
  const gradient = (): string => b64(join(references.path, 'image_gradient.png'));

  it('422 for what is not an image, naming the field', async () => {
    const r = await post({ init_images: [Buffer.from('hello, not a picture').toString('base64')] });
    expect(r.status).toBe(422);
    expect(r.body.detail).toEqual([expect.objectContaining({ loc: ['body', 'init_images'], type: 'value_error.image.not-an-image', msg: expect.stringMatching(/not a PNG, JPEG or WebP/) })]);
    const notBase64 = await post({ init_images: ['***'] });
    expect(notBase64.status).toBe(422);
    const missing = await post({ prompt: 'x' });
    expect(missing.status).toBe(422);
  });

  it('422 for too many pixels, and for a mask of another size', async () => {
    // A 7000 x 7000 PNG (49 MP) compresses to a few hundred KB: the pixel limit, not the byte one.
    const huge = await sharp({ create: { width: 7000, height: 7000, channels: 3, background: '#808080' } }).png().toBuffer();
    const big = await post({ init_images: [huge.toString('base64')] });
    expect(big.status).toBe(422);
    expect(JSON.stringify(big.body)).toMatch(/too-many-pixels/);
    const small = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#ffffff' } }).png().toBuffer();
    const mismatch = await post({ init_images: [gradient()], mask: `data:image/png;base64,${small.toString('base64')}` });
    expect(mismatch.status).toBe(422);
    expect(mismatch.body.detail).toEqual([expect.objectContaining({ loc: ['body', 'mask'], msg: expect.stringMatching(/mask is 64x64 but the init image is 128x128/) })]);
  });

  it('413 for a body beyond the route limit, and the server lives on', async () => {
    const r = await fetch(`${s.url}/sdapi/v1/img2img`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ init_images: ['A'.repeat(50 * 1024 * 1024)] }) });
    expect(r.status).toBe(413);
    expect((await getJson(`${s.url}/internal/ping`)).status).toBe(200);
  });

  it('501 for a model built without vae_encode, saying to rebuild it', async () => {
    const r = await post({ init_images: [`data:image/png;base64,${gradient()}`], denoising_strength: 0.5, steps: 2 });
    expect(r.status).toBe(501);
    expect(String(r.body.detail)).toMatch(/rebuild it with sd-mali build/);
  });

  it('lists LCM among the samplers', async () => {
    const samplers = await getJson<{ name: string }[]>(`${s.url}/sdapi/v1/samplers`);
    expect(samplers.body.map((x) => x.name)).toContain('LCM');
  });
});

const tinyReady = allOf(references, runtime26, tiny);
describe.skipIf(!tinyReady.available)(titled('img2img on tiny-sd-a built by sd-mali build', tinyReady), () => {
  let server: SdMaliServer;
  let url: string;
  beforeAll(async () => {
    server = createServer({ model: tiny.path, runtime: runtime26.path, device: 'cpu', port: 0, log: () => undefined });
    url = await server.listen();
  });
  afterAll(async () => {
    await server?.close();
  });

  function fit(pngB64: string, referenceFile: string): { withinOne: number; max: number } {
    const { rgba } = decodeRgbaPng(Buffer.from(pngB64, 'base64'));
    const rgb = readNpyU8(referenceFile);
    let within = 0;
    let max = 0;
    for (let p = 0; p < rgb.length / 3; p++) {
      for (let c = 0; c < 3; c++) {
        const d = Math.abs(rgba[p * 4 + c]! - rgb[p * 3 + c]!);
        if (d <= 1) within++;
        max = Math.max(max, d);
      }
    }
    return { withinOne: within / rgb.length, max };
  }

  it("an A1111 client's img2img call (as webuiapi's img2img sends it) gets diffusers' image", async () => {
    // The body webuiapi 0.9 builds for img2img(images=[...], denoising_strength=0.6, ...), its defaults included.
    const body = {
      init_images: [b64(join(references.path, 'image_gradient.png'))],
      resize_mode: 0,
      denoising_strength: 0.6,
      image_cfg_scale: 1.5,
      mask_blur: 4,
      inpainting_fill: 0,
      inpaint_full_res: true,
      inpaint_full_res_padding: 0,
      inpainting_mask_invert: 0,
      initial_noise_multiplier: 1,
      prompt: 'a photograph of an astronaut riding a horse',
      styles: [],
      seed: 11,
      subseed: -1,
      subseed_strength: 0,
      seed_resize_from_h: 0,
      seed_resize_from_w: 0,
      sampler_name: 'PLMS',
      batch_size: 1,
      n_iter: 1,
      steps: 10,
      cfg_scale: 7.5,
      width: 128,
      height: 128,
      restore_faces: false,
      tiling: false,
      do_not_save_samples: false,
      do_not_save_grid: false,
      negative_prompt: '',
      eta: 1.0,
      s_churn: 0,
      s_tmax: 0,
      s_tmin: 0,
      s_noise: 1,
      override_settings: {},
      override_settings_restore_afterwards: true,
      script_args: [],
      include_init_images: false,
      script_name: null,
      send_images: true,
      save_images: false,
      alwayson_scripts: {},
    };
    const r = await postJson<Txt2ImgResponse>(`${url}/sdapi/v1/img2img`, body);
    expect(r.status).toBe(200);
    expect(r.body.images).toHaveLength(1);
    const f = fit(r.body.images[0]!, join(references.path, 'pipe_img2img_pndm_image_uint8.npy'));
    expect(f.withinOne).toBeGreaterThanOrEqual(0.99);
    expect(f.max).toBeLessThanOrEqual(2);
    const info = JSON.parse(r.body.info) as { denoising_strength: number; infotexts: string[] };
    expect(info.denoising_strength).toBe(0.6);
    expect(info.infotexts[0]).toMatch(/Denoising strength: 0\.6/);
  });

  it('inpainting with a mask (data URLs), DDIM', async () => {
    const r = await postJson<Txt2ImgResponse>(`${url}/sdapi/v1/img2img`, {
      init_images: [`data:image/png;base64,${b64(join(references.path, 'image_random.png'))}`],
      mask: `data:image/png;base64,${b64(join(references.path, 'inpaint_mask.png'))}`,
      mask_blur: 0,
      inpainting_fill: 1,
      denoising_strength: 1,
      prompt: 'a photograph of an astronaut riding a horse',
      sampler_name: 'DDIM',
      steps: 10,
      cfg_scale: 7.5,
      seed: 5,
      width: 128,
      height: 128,
    });
    expect(r.status).toBe(200);
    const f = fit(r.body.images[0]!, join(references.path, 'pipe_inpaint_ddim_image_uint8.npy'));
    expect(f.withinOne).toBeGreaterThanOrEqual(0.99);
    expect(f.max).toBeLessThanOrEqual(2);
  });
});
