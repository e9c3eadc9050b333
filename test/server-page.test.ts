// The page at `/` in a real browser (headless Chromium): type a prompt, press Generate, wait
// for the image, check what the page shows. The screenshot is docs/server.md's picture.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext } from 'playwright-core';
import { chromiumAvailability, launchChromium } from './support/browser.js';
import { pngSize, postJson, serverReady, startServer, type RunningServer, type Txt2ImgResponse } from './support/server.js';
import { SAMPLERS } from '../lib/server/index.js';
import { allOf, REPO_ROOT, titled } from './support/shared-data.js';

const browserReady = chromiumAvailability();
const ready = allOf(serverReady, browserReady);

describe.skipIf(!ready.available)(titled('the page at / in headless Chromium', ready), () => {
  let s: RunningServer;
  let browser: BrowserContext;
  beforeAll(async () => {
    s = await startServer({ limits: { maxSteps: 1000 } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await s?.server.close();
  });

  it('generates from a typed prompt, shows the image, its caption and the session strip', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`${s.url}/`);
    await expect.poll(() => page.locator('#sampler option').count(), { timeout: 30_000 }).toBe(SAMPLERS.length);
    expect(await page.locator('#model').textContent()).toMatch(/^model: standin-tvm0\.20 \[[0-9a-f]{10}\]$/);

    await page.fill('#prompt', 'a lighthouse on a cliff at dawn');
    await page.fill('#negative', 'blurry');
    await page.fill('#steps', '1000');
    await page.selectOption('#sampler', 'DPM++ 2M');
    await page.fill('#seed', '42');
    await page.click('#generate');
    // While it runs: the button is disabled, the live preview and the step show; Interrupt stops it.
    await page.waitForSelector('#preview:not([hidden])', { timeout: 30_000 });
    expect(await page.locator('#generate').isDisabled()).toBe(true);
    expect(await page.locator('#status').textContent()).toMatch(/^image 1 of 1, step \d+ of 1000$/);
    await page.click('#interrupt');
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 30_000 }).toBe('interrupted');
    // The image where it stopped is shown (as A1111 returns it), not kept in the strip.
    expect(await page.locator('#info').textContent()).toBe('seed 42 · DPM++ 2M · 1000 steps · CFG 7.5 (baked) · interrupted');
    expect(await page.locator('#image').isHidden()).toBe(false);
    expect(await page.locator('#strip img').count()).toBe(0);
    expect(await page.locator('#generate').isDisabled()).toBe(false);

    await page.fill('#steps', '20');
    await page.click('#generate');
    await page.waitForSelector('#image:not([hidden])', { timeout: 60_000 });
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 30_000 }).toBe('done');
    expect(await page.locator('#info').textContent()).toBe('seed 42 · DPM++ 2M · 20 steps · CFG 7.5 (baked)');
    const src = (await page.locator('#image').getAttribute('src'))!;
    expect(src.startsWith('data:image/png;base64,')).toBe(true);
    // The page shows what the API gives any client for the same request.
    const same = await postJson<Txt2ImgResponse>(`${s.url}/sdapi/v1/txt2img`, { prompt: 'a lighthouse on a cliff at dawn', negative_prompt: 'blurry', steps: 20, seed: 42, sampler_name: 'DPM++ 2M' });
    expect(src.slice('data:image/png;base64,'.length)).toBe(same.body.images[0]);
    expect(pngSize(Buffer.from(same.body.images[0]!, 'base64'))).toEqual([512, 512]);
    // What the browser decoded (the test's tsconfig has no DOM types, hence the string).
    const size = await page.evaluate("[document.getElementById('image').naturalWidth, document.getElementById('image').naturalHeight]");
    expect(size).toEqual([512, 512]);
    expect(await page.locator('#strip img').count()).toBe(1);
    expect(await page.locator('#generate').isDisabled()).toBe(false);
    expect(await page.evaluate("document.getElementById('progress').value")).toBe(1);

    // A second image joins the strip.
    await page.fill('#steps', '4');
    await page.fill('#seed', '7');
    await page.click('#generate');
    await expect.poll(() => page.locator('#strip img').count(), { timeout: 30_000 }).toBe(2);
    await expect.poll(() => page.locator('#info').textContent(), { timeout: 30_000 }).toBe('seed 7 · DPM++ 2M · 4 steps · CFG 7.5 (baked)');

    // Everything it loaded came from this server: no CDN.
    expect(requests.every((u) => u.startsWith(s.url) || u.startsWith('data:'))).toBe(true);
    expect(errors).toEqual([]);
    // docs/server.md's picture; rewritten only when asked, so a test run leaves the tree clean
    // (Chromium's bytes differ slightly from run to run).
    const dir = process.env['SD_MALI_UPDATE_SCREENSHOT'] === '1' ? join(REPO_ROOT, 'docs') : mkdtempSync(join(tmpdir(), 'sd-mali-page-'));
    mkdirSync(dir, { recursive: true });
    const shot = await page.screenshot({ path: join(dir, 'serve-page.png') });
    expect(pngSize(shot)).toEqual([1100, 900]);
  });

  it('shows a server error in the status line', async () => {
    const page = await browser.newPage();
    await page.goto(`${s.url}/`);
    await page.fill('#prompt', 'x');
    await page.fill('#steps', '5000');
    await page.click('#generate');
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 30_000 }).toMatch(/^422: steps: must be <= 1000$/);
    expect(await page.locator('#status').getAttribute('class')).toBe('error');
  });
});
