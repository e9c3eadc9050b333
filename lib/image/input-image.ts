/**
 * Input images for img2img and inpainting: PNG, JPEG or WebP (a path or the file's bytes)
 * or raw RGBA, decoded and resized to the model's size with sharp (libvips, on libuv's
 * pool: the event loop only waits) the way AUTOMATIC1111's resize_image does:
 *   0 "Just resize"     stretch to the size;
 *   1 "Crop and resize" cover the size, keep the aspect ratio, cut what overflows (centred);
 *   2 "Resize and fill" fit inside, keep the aspect ratio, fill the borders with the edge
 *                        pixels stretched outwards.
 * The resampling is Lanczos-3, the filter A1111 and diffusers' image processor use (PIL's LANCZOS).
 */
import { readFile, stat } from 'node:fs/promises';
import type { Metadata, Sharp, SharpOptions } from 'sharp';
import { InvalidImageError } from '../errors.js';

type SharpFactory = (input?: Buffer | Uint8Array, options?: SharpOptions) => Sharp;
let sharpModule: Promise<SharpFactory> | undefined;

/** sharp, loaded on first use: text-to-image alone never maps libvips. */
function loadSharp(): Promise<SharpFactory> {
  sharpModule ??= import('sharp').then((m) => m.default as unknown as SharpFactory);
  return sharpModule;
}

/** Raw pixels, row-major: RGBA (channels 4, the default) or RGB (channels 3). */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels?: 3 | 4;
}

/** A file path, the bytes of a PNG/JPEG/WebP file, or raw pixels. */
export type ImageInput = string | Uint8Array | RawImage;

/** A1111's resize_mode: 0 just resize, 1 crop and resize, 2 resize and fill. */
export type ResizeMode = 0 | 1 | 2;
export const RESIZE_MODES: readonly ResizeMode[] = [0, 1, 2];

export interface ImageLimits {
  /** Largest decoded size accepted, in pixels. Default 64 megapixels. */
  maxPixels?: number;
  /** Largest encoded file accepted, in bytes. Default 64 MiB. */
  maxBytes?: number;
}

export const DEFAULT_MAX_PIXELS = 64 * 1024 * 1024;
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** RGB bytes at the model's size. */
export interface RgbImage {
  rgb: Uint8Array;
  width: number;
  height: number;
}

export interface Size {
  width: number;
  height: number;
}

function describe(input: ImageInput): string {
  if (typeof input === 'string') return input;
  if (input instanceof Uint8Array) return `the image data (${input.byteLength} bytes)`;
  return `the raw image (${input.width}x${input.height})`;
}

/** A sharp instance over `input`, with the size limits checked before any pixel is decoded. */
async function open(input: ImageInput, what: string, limits: ImageLimits): Promise<Sharp> {
  const sharp = await loadSharp();
  const maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS;
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  let source: Buffer | undefined;
  if (typeof input === 'string') {
    let size: number;
    try {
      size = (await stat(input)).size;
    } catch (err) {
      throw new InvalidImageError('unreadable', `${what}: ${input} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
    }
    if (size > maxBytes) throw new InvalidImageError('too-many-bytes', `${what}: ${input} is ${size} bytes; the limit is ${maxBytes}`);
    source = await readFile(input);
  } else if (input instanceof Uint8Array) {
    if (input.byteLength > maxBytes) throw new InvalidImageError('too-many-bytes', `${what} is ${input.byteLength} bytes; the limit is ${maxBytes}`);
    source = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  } else if (typeof input === 'object' && input !== null && input.data instanceof Uint8Array) {
    const { width, height } = input;
    const channels = input.channels ?? 4;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || (channels !== 3 && channels !== 4)) {
      throw new InvalidImageError('bad-raw-data', `${what}: raw images need positive integer width and height and 3 or 4 channels`);
    }
    if (width * height > maxPixels) throw new InvalidImageError('too-many-pixels', `${what} is ${width}x${height} = ${width * height} pixels; the limit is ${maxPixels}`);
    if (input.data.byteLength !== width * height * channels) {
      throw new InvalidImageError('bad-raw-data', `${what}: ${input.data.byteLength} bytes for ${width}x${height} with ${channels} channels (expected ${width * height * channels})`);
    }
    return sharp(input.data, { raw: { width, height, channels } });
  } else {
    throw new InvalidImageError('not-an-image', `${what} must be a file path, the bytes of a PNG/JPEG/WebP file, or { data, width, height } raw RGBA`);
  }
  let meta: Metadata;
  // The header alone (sharp's pixel limit would fail this read with a vaguer message).
  try {
    meta = await sharp(source, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new InvalidImageError('not-an-image', `${what}: ${describe(input)} is not a PNG, JPEG or WebP image (${(err as Error).message})`, { cause: err });
  }
  if (!['png', 'jpeg', 'webp'].includes(meta.format)) {
    throw new InvalidImageError('not-an-image', `${what}: ${describe(input)} is ${meta.format}; PNG, JPEG and WebP are accepted`);
  }
  if (meta.width * meta.height > maxPixels) {
    throw new InvalidImageError('too-many-pixels', `${what} is ${meta.width}x${meta.height} = ${meta.width * meta.height} pixels; the limit is ${maxPixels}`);
  }
  return sharp(source, { limitInputPixels: maxPixels, failOn: 'error' });
}

/** A1111's integer arithmetic for the intermediate size of resize modes 1 and 2. */
export function resizePlan(mode: ResizeMode, from: Size, to: Size): { resized: Size; left: number; top: number } {
  const { width, height } = to;
  if (mode === 0) return { resized: { width, height }, left: 0, top: 0 };
  const ratio = width / height;
  const srcRatio = from.width / from.height;
  const cover = mode === 1;
  const w = (cover ? ratio > srcRatio : ratio < srcRatio) ? width : Math.floor((from.width * height) / from.height);
  const h = (cover ? ratio <= srcRatio : ratio >= srcRatio) ? height : Math.floor((from.height * width) / from.width);
  // Where A1111 pastes the resized image: floor(width/2) - floor(w/2) (negative when cropping).
  return { resized: { width: w, height: h }, left: Math.floor(width / 2) - Math.floor(w / 2), top: Math.floor(height / 2) - Math.floor(h / 2) };
}

async function decodeRaw(image: Sharp, what: string): Promise<{ data: Buffer; width: number; height: number }> {
  try {
    const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data, width: info.width, height: info.height };
  } catch (err) {
    throw new InvalidImageError('not-an-image', `${what} cannot be decoded (${(err as Error).message})`, { cause: err });
  }
}

/**
 * Decodes `input` to 3-channel bytes at `to`, resized as A1111's `resize_mode` says.
 * `flatten` puts transparent pixels on white (A1111's img2img background); without it the
 * alpha channel is dropped (what PIL's convert does to a mask).
 */
async function decodeResized(input: ImageInput, to: Size, mode: ResizeMode, what: string, limits: ImageLimits, flatten: boolean): Promise<RgbImage> {
  if (!RESIZE_MODES.includes(mode)) throw new InvalidImageError('bad-raw-data', `resize mode ${String(mode)} is not one of 0 (just resize), 1 (crop and resize), 2 (resize and fill)`);
  const sharp = await loadSharp();
  const image = await open(input, what, limits);
  const oriented = image.autoOrient();
  const rgb = (flatten ? oriented.flatten({ background: '#ffffff' }) : oriented.removeAlpha()).toColourspace('srgb');
  const source = await decodeRaw(rgb, what);
  if (source.width === to.width && source.height === to.height) return { rgb: new Uint8Array(source.data.buffer, source.data.byteOffset, source.data.length), ...to };
  const plan = resizePlan(mode, source, to);
  const raw = { raw: { width: source.width, height: source.height, channels: 3 as const } };
  let resized = await decodeRaw(sharp(source.data, raw).resize(plan.resized.width, plan.resized.height, { fit: 'fill', kernel: 'lanczos3' }), what);
  if (mode !== 0) {
    const step = sharp(resized.data, { raw: { width: resized.width, height: resized.height, channels: 3 } });
    if (mode === 1) {
      resized = await decodeRaw(step.extract({ left: -plan.left, top: -plan.top, width: to.width, height: to.height }), what);
    } else {
      const right = to.width - plan.resized.width - plan.left;
      const bottom = to.height - plan.resized.height - plan.top;
      resized = await decodeRaw(step.extend({ left: plan.left, top: plan.top, right, bottom, extendWith: 'copy' }), what);
    }
  }
  return { rgb: new Uint8Array(resized.data.buffer, resized.data.byteOffset, resized.data.length), width: resized.width, height: resized.height };
}

/** The img2img / inpainting image at the model's size, RGB. */
export function loadInputImage(input: ImageInput, to: Size, mode: ResizeMode = 0, limits: ImageLimits = {}): Promise<RgbImage> {
  return decodeResized(input, to, mode, 'the image', limits, true);
}

/** An image's size without decoding its pixels (a mask must match its image's). */
export async function inputImageSize(input: ImageInput, what: string, limits: ImageLimits = {}): Promise<Size> {
  if (typeof input === 'object' && !(input instanceof Uint8Array)) {
    await open(input, what, limits);
    return { width: input.width, height: input.height };
  }
  const meta = await (await open(input, what, limits)).metadata();
  // Orientations 5-8 swap width and height, as autoOrient will.
  return (meta.orientation ?? 1) >= 5 ? { width: meta.height, height: meta.width } : { width: meta.width, height: meta.height };
}

export interface MaskOptions {
  /** Gaussian blur of the mask in pixels (A1111's mask_blur), before it is binarised. */
  blur?: number;
  /** Repaint what is black instead of what is white (A1111's inpainting_mask_invert). */
  invert?: boolean;
}

/**
 * The inpainting mask at the model's size: one byte per pixel, 1 = repaint, 0 = keep.
 * As diffusers' mask processor: grayscale by PIL's ITU-R 601 luma, then >= 0.5 (128 of 255).
 */
export async function loadMask(input: ImageInput, to: Size, mode: ResizeMode = 0, options: MaskOptions = {}, limits: ImageLimits = {}): Promise<Uint8Array> {
  let { rgb, width, height } = await decodeResized(input, to, mode, 'the mask', limits, false);
  const blur = options.blur ?? 0;
  if (!(Number.isFinite(blur) && blur >= 0 && blur <= 64)) throw new InvalidImageError('bad-raw-data', `mask blur must be 0 to 64 pixels, got ${blur}`);
  if (blur > 0) {
    const sharp = await loadSharp();
    // A1111 blurs with PIL's GaussianBlur(radius = mask_blur); sharp's sigma plays that part.
    const blurred = await decodeRaw(sharp(rgb, { raw: { width, height, channels: 3 } }).blur(Math.max(0.3, blur)), 'the mask');
    rgb = new Uint8Array(blurred.data.buffer, blurred.data.byteOffset, blurred.data.length);
  }
  const mask = new Uint8Array(width * height);
  for (let p = 0, k = 0; p < mask.length; p++, k += 3) {
    // PIL's RGB -> L: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.
    const luma = (rgb[k]! * 19595 + rgb[k + 1]! * 38470 + rgb[k + 2]! * 7471 + 0x8000) >> 16;
    const repaint = luma >= 128 ? 1 : 0;
    mask[p] = options.invert ? 1 - repaint : repaint;
  }
  return mask;
}
