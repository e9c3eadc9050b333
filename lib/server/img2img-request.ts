/**
 * The body of POST /sdapi/v1/img2img: A1111's StableDiffusionImg2ImgProcessingAPI fields
 * sd-mali uses (everything txt2img takes, plus the init image, mask and strength), with
 * A1111's defaults; other fields are accepted and ignored, as A1111 ignores what its
 * pipeline does not use (image_cfg_scale is for instruct-pix2pix models). The images arrive
 * as base64 or data URLs and are checked here, before the request joins the queue: not an
 * image, too large in bytes or pixels, a mask of another size -> a 422 that says which.
 */
import { InvalidImageError } from '../errors.js';
import { inputImageSize } from '../image/input-image.js';
import { fieldError } from './http-errors.js';
import type { ServerLimits } from './options.js';
import { txt2imgSchema, type Txt2ImgRequest } from './txt2img-request.js';

/** Largest decoded init image or mask, in bytes (a 4K PNG is about 25 MB; phone JPEGs 3-8 MB). */
export const MAX_IMAGE_BYTES = 16 * 1024 * 1024;
/** Largest init image or mask, in pixels (before resizing to the model's size). */
export const MAX_IMAGE_PIXELS = 40 * 1000 * 1000;
/** The body: two base64 images (4/3 of their bytes) and the rest of the request. */
export const IMG2IMG_BODY_LIMIT = 2 * Math.ceil((MAX_IMAGE_BYTES * 4) / 3) + 1024 * 1024;

export interface Img2ImgRequest extends Txt2ImgRequest {
  init_images: string[];
  denoising_strength: number;
  resize_mode: number;
  mask: string | null;
  mask_blur: number;
  inpainting_fill: number;
  inpainting_mask_invert: number;
  inpaint_full_res: boolean;
  image_cfg_scale: number | null;
  include_init_images: boolean;
}

export const IMG2IMG_FIELDS = ['denoising_strength', 'resize_mode', 'mask_blur', 'inpainting_fill', 'inpainting_mask_invert', 'inpaint_full_res', 'image_cfg_scale', 'include_init_images'] as const;

export function img2imgSchema(limits: ServerLimits): Record<string, unknown> {
  const base = txt2imgSchema(limits) as { type: string; properties: Record<string, unknown> };
  return {
    type: 'object',
    required: ['init_images'],
    properties: {
      ...base.properties,
      init_images: { type: 'array', minItems: 1, maxItems: 1, items: { type: 'string', minLength: 1 } },
      // A1111's default (StableDiffusionProcessingImg2Img(denoising_strength=0.75)).
      denoising_strength: { type: 'number', default: 0.75, minimum: 0, maximum: 1 },
      // 0 just resize, 1 crop and resize, 2 resize and fill; 3 (latent upscale) runs as 0.
      resize_mode: { type: 'integer', default: 0, minimum: 0, maximum: 3 },
      mask: { type: ['string', 'null'], default: null },
      mask_blur: { type: 'integer', default: 4, minimum: 0, maximum: 64 },
      // 0 fill, 1 original, 2 latent noise, 3 latent nothing: sd-mali starts from the original (1).
      inpainting_fill: { type: 'integer', default: 0, minimum: 0, maximum: 3 },
      inpainting_mask_invert: { type: 'integer', default: 0, minimum: 0, maximum: 1 },
      inpaint_full_res: { type: 'boolean', default: true },
      image_cfg_scale: { type: ['number', 'null'], default: null },
      include_init_images: { type: 'boolean', default: false },
    },
  };
}

/** The bytes of a base64 image, with or without a data URL prefix (as A1111's decode_base64_to_image takes them). */
export function decodeBase64Image(field: string, value: string): Buffer {
  const comma = value.startsWith('data:') ? value.indexOf(',') : -1;
  if (value.startsWith('data:') && (comma < 0 || !/;base64$/i.test(value.slice(0, comma)))) throw fieldError(field, 'a data URL must be base64-encoded (data:image/png;base64,…)');
  const text = comma >= 0 ? value.slice(comma + 1) : value;
  if (text.length > Math.ceil((MAX_IMAGE_BYTES * 4) / 3) + 4) throw fieldError(field, `the image is larger than ${MAX_IMAGE_BYTES} bytes`);
  if (!/^[A-Za-z0-9+/=\s_-]*$/.test(text)) throw fieldError(field, 'is not base64 (nor a data URL of base64)');
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length === 0) throw fieldError(field, 'is empty');
  return bytes;
}

async function sizeOf(field: string, bytes: Buffer): Promise<{ width: number; height: number }> {
  try {
    return await inputImageSize(bytes, field, { maxBytes: MAX_IMAGE_BYTES, maxPixels: MAX_IMAGE_PIXELS });
  } catch (err) {
    if (err instanceof InvalidImageError) throw fieldError(field, err.message, `value_error.image.${err.reason}`);
    throw err;
  }
}

export interface Img2ImgInputs {
  image: Buffer;
  mask?: Buffer;
}

/** The init image and mask, decoded from the body and checked (format, size, mask size). */
export async function readImg2ImgInputs(body: Img2ImgRequest): Promise<Img2ImgInputs> {
  const image = decodeBase64Image('init_images', body.init_images[0]!);
  const imageSize = await sizeOf('init_images', image);
  if (body.mask === null || body.mask === '') return { image };
  const mask = decodeBase64Image('mask', body.mask);
  const maskSize = await sizeOf('mask', mask);
  if (maskSize.width !== imageSize.width || maskSize.height !== imageSize.height) {
    throw fieldError('mask', `the mask is ${maskSize.width}x${maskSize.height} but the init image is ${imageSize.width}x${imageSize.height}; they must be the same size`, 'value_error.image.size-mismatch');
  }
  return { image, mask };
}
