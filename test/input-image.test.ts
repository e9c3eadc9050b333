// Input images for img2img and inpainting: decoding (PNG, JPEG, WebP; path, bytes, raw
// RGBA), A1111's resize modes, the mask as diffusers' mask processor binarises it and as
// F.interpolate(nearest) brings it to the latent size, and the typed refusals.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { InvalidImageError } from '../lib/errors.js';
import { loadInputImage, loadMask, resizePlan } from '../lib/image/input-image.js';
import { imageToTensor, latentMask } from '../lib/pipeline/prepare-latents.js';
import { readNpyU8 } from './support/npy.js';
import { sharedData, titled } from './support/shared-data.js';

const references = sharedData('golden-compile/tiny-sd-a/references', 'the tiny-sd-a references');
const SIZE = { width: 128, height: 128 };

/** A W x H RGB image whose every pixel is distinct: R = x, G = y, B = (x * 7 + y * 13) & 255. */
function pattern(width: number, height: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const k = (y * width + x) * 3;
      rgb[k] = x & 255;
      rgb[k + 1] = y & 255;
      rgb[k + 2] = (x * 7 + y * 13) & 255;
    }
  }
  return rgb;
}

function encode(rgb: Uint8Array, width: number, height: number, format: 'png' | 'webp' | 'jpeg'): Promise<Buffer> {
  const image = sharp(rgb, { raw: { width, height, channels: 3 } });
  if (format === 'png') return image.png().toBuffer();
  if (format === 'webp') return image.webp({ lossless: true }).toBuffer();
  return image.jpeg({ quality: 95 }).toBuffer();
}

describe.skipIf(!references.available)(titled('the tiny-sd-a reference inputs', references), () => {
  it('decodes the gradient PNG to the bytes diffusers read from it', async () => {
    const { rgb, width, height } = await loadInputImage(join(references.path, 'image_gradient.png'), SIZE);
    expect([width, height]).toEqual([128, 128]);
    expect(Buffer.from(rgb).equals(Buffer.from(readNpyU8(join(references.path, 'image_gradient_uint8.npy'))))).toBe(true);
  });

  it('binarises the mask PNG as diffusers does (255 = repaint) and picks latent pixels as nearest interpolation does', async () => {
    const mask = await loadMask(join(references.path, 'inpaint_mask.png'), SIZE);
    const source = readNpyU8(join(references.path, 'inpaint_mask_uint8.npy'));
    expect(Array.from(mask)).toEqual(Array.from(source, (v) => (v >= 128 ? 1 : 0)));
    // mask[32:96, 32:96] = 255 at 128x128 -> latent rows and columns 4..11 of 16.
    const latent = latentMask(mask, SIZE, [1, 4, 16, 16]);
    for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) expect(latent[y * 16 + x]).toBe(y >= 4 && y < 12 && x >= 4 && x < 12 ? 1 : 0);
    const inverted = await loadMask(join(references.path, 'inpaint_mask.png'), SIZE, 0, { invert: true });
    expect(inverted.every((v, i) => v === 1 - mask[i]!)).toBe(true);
  });
});

describe('decoding', () => {
  const rgb = pattern(128, 128);

  it('reads PNG and lossless WebP exactly, from bytes and from a path, and raw RGBA', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-mali-images-'));
    for (const format of ['png', 'webp'] as const) {
      const bytes = await encode(rgb, 128, 128, format);
      writeFileSync(join(dir, `p.${format}`), bytes);
      expect(Buffer.from((await loadInputImage(bytes, SIZE)).rgb).equals(Buffer.from(rgb))).toBe(true);
      expect(Buffer.from((await loadInputImage(join(dir, `p.${format}`), SIZE)).rgb).equals(Buffer.from(rgb))).toBe(true);
    }
    const rgba = new Uint8Array(128 * 128 * 4);
    for (let p = 0; p < 128 * 128; p++) rgba.set([...rgb.subarray(p * 3, p * 3 + 3), 255], p * 4);
    expect(Buffer.from((await loadInputImage({ data: rgba, width: 128, height: 128 }, SIZE)).rgb).equals(Buffer.from(rgb))).toBe(true);
  });

  it('reads JPEG within its compression error', async () => {
    // A smooth image: JPEG's error on it is small.
    const smooth = pattern(128, 128).map((v, i) => (i % 3 === 2 ? 100 : v));
    const { rgb: got } = await loadInputImage(await encode(smooth, 128, 128, 'jpeg'), SIZE);
    let sum = 0;
    for (let i = 0; i < got.length; i++) sum += Math.abs(got[i]! - smooth[i]!);
    expect(sum / got.length).toBeLessThan(4);
  });

  it('puts transparent pixels on white (A1111 img2img background) in images', async () => {
    const rgba = new Uint8Array(128 * 128 * 4); // all transparent black
    const { rgb: got } = await loadInputImage({ data: rgba, width: 128, height: 128 }, SIZE);
    expect(got.every((v) => v === 255)).toBe(true);
  });

  it('gives the image processor tensor: NCHW, uint8 / 255 * 2 - 1 in float32', () => {
    const t = imageToTensor(Uint8Array.of(0, 128, 255, 64, 1, 2), 2, 1);
    expect(Array.from(t)).toEqual([-1, Math.fround(Math.fround(2 * Math.fround(64 / 255)) - 1), Math.fround(Math.fround(2 * Math.fround(128 / 255)) - 1), Math.fround(Math.fround(2 * Math.fround(1 / 255)) - 1), 1, Math.fround(Math.fround(2 * Math.fround(2 / 255)) - 1)]);
  });
});

describe('A1111 resize modes', () => {
  it('0 stretches, 1 crops the middle of a wider image at scale 1, 2 fills with the edge pixels', async () => {
    const wide = pattern(256, 128);
    const stretched = await loadInputImage({ data: wide, width: 256, height: 128, channels: 3 }, SIZE, 0);
    expect([stretched.width, stretched.height]).toEqual([128, 128]);

    // Crop and resize: the height already fits (scale 1, Lanczos is the identity), so the
    // result is columns 64..191 of the source (A1111 pastes at 64 - 128 = -64).
    expect(resizePlan(1, { width: 256, height: 128 }, SIZE)).toEqual({ resized: { width: 256, height: 128 }, left: -64, top: 0 });
    const cropped = await loadInputImage({ data: wide, width: 256, height: 128, channels: 3 }, SIZE, 1);
    for (let y = 0; y < 128; y++) {
      const row = Buffer.from(cropped.rgb.subarray(y * 128 * 3, (y + 1) * 128 * 3));
      expect(row.equals(Buffer.from(wide.subarray((y * 256 + 64) * 3, (y * 256 + 192) * 3)))).toBe(true);
    }

    // Resize and fill: a 64-wide source in a 128-wide frame, pasted at 32, the 32 columns
    // either side repeating its first and last column.
    const tall = pattern(64, 128);
    expect(resizePlan(2, { width: 64, height: 128 }, SIZE)).toEqual({ resized: { width: 64, height: 128 }, left: 32, top: 0 });
    const filled = await loadInputImage({ data: tall, width: 64, height: 128, channels: 3 }, SIZE, 2);
    for (let y = 0; y < 128; y++) {
      const at = (x: number): number[] => Array.from(filled.rgb.subarray((y * 128 + x) * 3, (y * 128 + x) * 3 + 3));
      const src = (x: number): number[] => Array.from(tall.subarray((y * 64 + x) * 3, (y * 64 + x) * 3 + 3));
      for (let x = 0; x < 32; x++) expect(at(x)).toEqual(src(0));
      for (let x = 0; x < 64; x++) expect(at(32 + x)).toEqual(src(x));
      for (let x = 96; x < 128; x++) expect(at(x)).toEqual(src(63));
    }
  });

  it('follows A1111 integer arithmetic when both sides scale', () => {
    // ratio 1 > src 640/480? no: 1 < 1.333 -> crop: src_h = 128, src_w = 640 * 128 // 480 = 170.
    expect(resizePlan(1, { width: 640, height: 480 }, SIZE)).toEqual({ resized: { width: 170, height: 128 }, left: 64 - 85, top: 0 });
    // fill: src_w = 128, src_h = 480 * 128 // 640 = 96, pasted at 64 - 48 = 16.
    expect(resizePlan(2, { width: 640, height: 480 }, SIZE)).toEqual({ resized: { width: 128, height: 96 }, left: 0, top: 16 });
  });
});

describe('refusals', () => {
  it('names what is wrong: not an image, too many bytes, too many pixels, bad raw data, a missing file', async () => {
    await expect(loadInputImage(Buffer.from('definitely not an image'), SIZE)).rejects.toMatchObject({ name: 'InvalidImageError', reason: 'not-an-image' });
    const png = await encode(pattern(128, 128), 128, 128, 'png');
    await expect(loadInputImage(png, SIZE, 0, { maxBytes: 100 })).rejects.toMatchObject({ reason: 'too-many-bytes' });
    await expect(loadInputImage(png, SIZE, 0, { maxPixels: 1000 })).rejects.toMatchObject({ reason: 'too-many-pixels' });
    await expect(loadInputImage({ data: new Uint8Array(10), width: 128, height: 128 }, SIZE)).rejects.toMatchObject({ reason: 'bad-raw-data' });
    await expect(loadInputImage('/nonexistent/image.png', SIZE)).rejects.toBeInstanceOf(InvalidImageError);
    const gif = await sharp(pattern(8, 8), { raw: { width: 8, height: 8, channels: 3 } }).gif().toBuffer();
    await expect(loadInputImage(gif, SIZE)).rejects.toThrow(/is gif; PNG, JPEG and WebP/);
  });
});
