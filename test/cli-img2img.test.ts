// sd-mali generate with --init-image / --mask / --scheduler lcm --cfg 1: the real binary on
// tiny-sd-a built by sd-mali build, its PNG against diffusers' image (the CLI's defaults are
// the references' settings: PNDM and DDIM space timesteps "leading", LCM has its own), and the
// infotext read back with AUTOMATIC1111's own parser regex.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPngText } from '../lib/image/png.js';
import { cliEnv, runCli, runCliAsync } from './support/cli.js';
import { readNpyU8 } from './support/npy.js';
import { decodeRgbaPng } from './support/png-decode.js';
import { allOf, sharedData, titled } from './support/shared-data.js';
import { tinyModel } from './support/compiled-models.js';

const runtime = sharedData('tvm/v0.26.0/linux-x64/libtvm_runtime.so', 'the TVM v0.26.0 runtime');
const references = sharedData('golden-compile/tiny-sd-a/references', 'the tiny-sd-a references');
const model = tinyModel('cpu', 'float32');
const PROMPT = 'a photograph of an astronaut riding a horse';

/**
 * modules/infotext_utils.py parse_generation_parameters: the last line's key-value pairs,
 * with A1111's re_param_code.
 */
function a1111Parse(text: string): Record<string, string> {
  const lines = text.trim().split('\n');
  const last = lines[lines.length - 1]!;
  const out: Record<string, string> = {};
  const re = /\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/g;
  for (const m of last.matchAll(re)) out[m[1]!.trim()] = m[2]!.trim();
  return out;
}

function imageMatches(png: Buffer, referenceFile: string): { withinOne: number; max: number } {
  const { rgba } = decodeRgbaPng(png);
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

describe('generate refuses bad img2img options before loading anything', () => {
  it('a strength outside (0, 1], a missing init image, a mask without an image', () => {
    const bad = runCli(['generate', 'x', '--model', '/nonexistent', '--init-image', 'a.png', '--strength', '1.5']);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/--strength.*must be a number in \(0, 1\]/);
    const missing = runCli(['generate', 'x', '--model', '/nonexistent', '--init-image', '/nonexistent/in.png', '--seed', '1', '-o', join(tmpdir(), 'never.png')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/--init-image: \/nonexistent\/in\.png cannot be read \(ENOENT\)/);
    const maskOnly = runCli(['generate', 'x', '--model', '/nonexistent', '--mask', 'm.png', '--seed', '1', '-o', join(tmpdir(), 'never.png')]);
    expect(maskOnly.status).toBe(1);
    expect(maskOnly.stderr).toMatch(/a mask needs the image/);
  });
});

const ready = allOf(runtime, references, model);
describe.skipIf(!ready.available)(titled('sd-mali generate on tiny-sd-a (cpu, float32)', ready), () => {
  const env = cliEnv({ SD_MALI_TVM_RUNTIME: runtime.path });
  const dir = mkdtempSync(join(tmpdir(), 'sd-mali-cli-img2img-'));
  const run = (args: string[]) => runCliAsync(['generate', PROMPT, '--model', model.path, '--device', 'cpu', '--json', ...args], { env });

  it('--init-image --strength 0.6 writes diffusers\' img2img image, with Denoising strength in the infotext', async () => {
    const out = join(dir, 'img2img.png');
    const r = await run(['--init-image', join(references.path, 'image_gradient.png'), '--strength', '0.6', '--steps', '10', '--scheduler', 'pndm', '--seed', '11', '-o', out]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ denoisingStrength: 0.6, unetCalls: 7 });
    const png = readFileSync(out);
    const fit = imageMatches(png, join(references.path, 'pipe_img2img_pndm_image_uint8.npy'));
    expect(fit.withinOne).toBeGreaterThanOrEqual(0.99);
    expect(fit.max).toBeLessThanOrEqual(2);
    const fields = a1111Parse(readPngText(png)['parameters']!);
    expect(fields).toMatchObject({ 'Denoising strength': '0.6', Steps: '10', Seed: '11', 'CFG scale': '7.5', Size: '128x128' });
  });

  it('--mask with --scheduler ddim inpaints as diffusers does', async () => {
    const out = join(dir, 'inpaint.png');
    const r = await run(['--init-image', join(references.path, 'image_random.png'), '--mask', join(references.path, 'inpaint_mask.png'), '--strength', '1', '--steps', '10', '--scheduler', 'ddim', '--seed', '5', '-o', out]);
    expect(r.status).toBe(0);
    const fit = imageMatches(readFileSync(out), join(references.path, 'pipe_inpaint_ddim_image_uint8.npy'));
    expect(fit.withinOne).toBeGreaterThanOrEqual(0.99);
    expect(fit.max).toBeLessThanOrEqual(2);
  });

  it('--scheduler lcm --steps 4 --cfg 1 runs four batch-1 UNet calls and writes diffusers\' LCM image', async () => {
    const out = join(dir, 'lcm.png');
    const r = await run(['--scheduler', 'lcm', '--steps', '4', '--cfg', '1', '--seed', '9', '-o', out]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ unetCalls: 4, guidanceScale: 1 });
    const png = readFileSync(out);
    const fit = imageMatches(png, join(references.path, 'pipe_txt2img_lcm_image_uint8.npy'));
    expect(fit.withinOne).toBeGreaterThanOrEqual(0.99);
    expect(fit.max).toBeLessThanOrEqual(2);
    expect(a1111Parse(readPngText(png)['parameters']!)).toMatchObject({ Sampler: 'LCM', 'CFG scale': '1' });
  });
});
