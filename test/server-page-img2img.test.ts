// The page's img2img mode in headless Chromium: pick an image, set the strength, draw a mask
// with the mouse, generate. On the stand-in (no vae_encode) the request the page sends is
// checked and the server's 501 shows in the status line; on tiny-sd-a built by sd-mali build
// the image comes back and the page shows it (that screenshot is docs/img2img.md's picture).
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { createServer, type SdMaliServer } from '../lib/server/index.js';
import { chromiumAvailability, launchChromium } from './support/browser.js';
import { pngSize, serverReady, startServer, type RunningServer } from './support/server.js';
import { allOf, REPO_ROOT, sharedData, titled } from './support/shared-data.js';
import { tinyModel } from './support/compiled-models.js';

const browserReady = chromiumAvailability();
const references = sharedData('golden-compile/tiny-sd-a/references', 'the tiny-sd-a references');
const runtime26 = sharedData('tvm/v0.26.0/linux-x64/libtvm_runtime.so', 'the TVM v0.26.0 runtime');
const tiny = tinyModel('cpu', 'float32');

interface Img2ImgBody {
  init_images: string[];
  denoising_strength: number;
  mask?: string;
  inpainting_fill?: number;
  width: number;
  height: number;
}

/** Switches to img2img, picks the gradient image, sets the strength and draws a stroke across the middle. */
async function fillImg2img(page: Page, strength: string, drawMask: boolean): Promise<void> {
  await page.check('#mode-img2img');
  expect(await page.locator('#img2img').isHidden()).toBe(false);
  await page.setInputFiles('#init-file', join(references.path, 'image_gradient.png'));
  await page.waitForSelector('#canvases:not([hidden])');
  await page.locator('#strength').fill(strength);
  expect(await page.locator('#strength-value').textContent()).toBe(strength);
  if (!drawMask) return;
  await page.check('#draw-mask');
  const box = (await page.locator('#mask-canvas').boundingBox())!;
  // A horizontal stroke through the centre, the brush 16 screen pixels wide.
  await page.mouse.move(box.x + box.width * 0.25, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.75, box.y + box.height / 2, { steps: 8 });
  await page.mouse.up();
}

const ready = allOf(serverReady, browserReady, references);
describe.skipIf(!ready.available)(titled("the page's img2img mode against a model without vae_encode", ready), () => {
  let s: RunningServer;
  let browser: BrowserContext;
  beforeAll(async () => {
    s = await startServer();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await s?.server.close();
  });

  it('sends the picked image, the strength and the drawn mask, and shows the 501', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${s.url}/`);
    await expect.poll(() => page.locator('#sampler option').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    expect(await page.locator('#img2img').isHidden()).toBe(true);
    await page.fill('#prompt', 'a lighthouse');
    await fillImg2img(page, '0.6', true);
    const sent = page.waitForRequest((r) => r.url().endsWith('/sdapi/v1/img2img'));
    await page.click('#generate');
    const body = (await sent).postDataJSON() as Img2ImgBody;
    expect(body.init_images[0]!.startsWith('data:image/png;base64,')).toBe(true);
    expect(body.denoising_strength).toBe(0.6);
    expect(body.inpainting_fill).toBe(1);
    expect([body.width, body.height]).toEqual([512, 512]);
    // The mask: a PNG of the image's size, white along the stroke, black elsewhere.
    const mask = await sharp(Buffer.from(body.mask!.split(',')[1]!, 'base64')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    expect([mask.info.width, mask.info.height]).toEqual([128, 128]);
    const at = (x: number, y: number): number => mask.data[(y * 128 + x) * 3]!;
    expect(at(64, 64)).toBe(255);
    expect(at(40, 64)).toBe(255);
    expect(at(64, 10)).toBe(0);
    expect(at(5, 120)).toBe(0);
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 30_000 }).toMatch(/^501: img2img needs a model with a VAE encoder .* rebuild it with sd-mali build$/);
    expect(await page.locator('#status').getAttribute('class')).toBe('error');

    // Clear mask: the next request is plain img2img.
    await page.click('#clear-mask');
    const again = page.waitForRequest((r) => r.url().endsWith('/sdapi/v1/img2img'));
    await page.click('#generate');
    expect(((await again).postDataJSON() as Img2ImgBody).mask).toBeUndefined();
    expect(errors).toEqual([]);
  });

  it('asks for an image before sending anything', async () => {
    const page = await browser.newPage();
    await page.goto(`${s.url}/`);
    await page.check('#mode-img2img');
    await page.fill('#prompt', 'x');
    await page.click('#generate');
    await expect.poll(() => page.locator('#status').textContent()).toBe('pick or drop an image first');
  });
});

const tinyReady = allOf(ready, runtime26, tiny);
describe.skipIf(!tinyReady.available)(titled("the page's img2img mode on tiny-sd-a", tinyReady), () => {
  let server: SdMaliServer;
  let url: string;
  let browser: BrowserContext;
  beforeAll(async () => {
    server = createServer({ model: tiny.path, runtime: runtime26.path, device: 'cpu', port: 0, log: () => undefined });
    url = await server.listen();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('inpaints the drawn stroke and shows the image with its caption', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${url}/`);
    await expect.poll(() => page.locator('#sampler option').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    await page.fill('#prompt', 'a photograph of an astronaut riding a horse');
    await page.selectOption('#sampler', 'DDIM');
    await page.fill('#steps', '10');
    await page.fill('#seed', '5');
    await fillImg2img(page, '0.75', true);
    await page.click('#generate');
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 120_000 }).toBe('done');
    expect(await page.locator('#info').textContent()).toBe('seed 5 · DDIM · 10 steps · CFG 7 · inpaint strength 0.75');
    const size = await page.evaluate("[document.getElementById('image').naturalWidth, document.getElementById('image').naturalHeight]");
    expect(size).toEqual([128, 128]);
    expect(errors).toEqual([]);
    const dir = process.env['SD_MALI_UPDATE_SCREENSHOT'] === '1' ? join(REPO_ROOT, 'docs') : mkdtempSync(join(tmpdir(), 'sd-mali-page-'));
    mkdirSync(dir, { recursive: true });
    expect(pngSize(await page.screenshot({ path: join(dir, 'serve-page-img2img.png') }))).toEqual([1100, 900]);
  });
});
