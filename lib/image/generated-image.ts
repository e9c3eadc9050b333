/** A generated image: RGBA bytes, how it was made, and PNG output. */
import { encodePng } from './png.js';

export interface GenerationTimings {
  tokenizeMs: number;
  textEncoderMs: number;
  /** One entry per UNet call. */
  unetMs: number[];
  /** Host scheduler time per step. */
  schedulerMs: number[];
  /** Host <-> device copies per step (latents in, noise prediction out). */
  copyMs: number[];
  vaeMs: number;
  /** img2img and inpainting: the VAE encoder and the start latents. */
  vaeEncodeMs?: number;
  totalMs: number;
}

export interface GenerationParameters {
  prompt: string;
  negativePrompt: string;
  steps: number;
  scheduler: string;
  seed?: bigint;
  guidanceScale: number;
  width: number;
  height: number;
  model?: string;
  /** img2img and inpainting: how much of the image was redrawn (A1111's "Denoising strength"). */
  denoisingStrength?: number;
  /** Inpainting: the mask's blur in pixels (A1111's "Mask blur"). */
  maskBlur?: number;
}

/** AUTOMATIC1111's sampler names, so tools that read its PNG info show ours. */
const A1111_SAMPLER: Record<string, string> = {
  pndm: 'PNDM',
  lms: 'LMS',
  'dpm++2m': 'DPM++ 2M',
  'dpm++2m-karras': 'DPM++ 2M Karras',
  euler: 'Euler',
  'euler-a': 'Euler a',
  ddim: 'DDIM',
  lcm: 'LCM',
};

/** The "parameters" text AUTOMATIC1111 writes into its PNGs. */
export function formatParameters(p: GenerationParameters): string {
  const fields = [
    `Steps: ${p.steps}`,
    `Sampler: ${A1111_SAMPLER[p.scheduler] ?? p.scheduler}`,
    `Schedule type: ${p.scheduler}`,
    `CFG scale: ${p.guidanceScale}`,
    ...(p.seed !== undefined ? [`Seed: ${p.seed}`] : []),
    `Size: ${p.width}x${p.height}`,
    ...(p.model ? [`Model: ${p.model}`] : []),
    ...(p.denoisingStrength !== undefined ? [`Denoising strength: ${p.denoisingStrength}`] : []),
    ...(p.maskBlur !== undefined ? [`Mask blur: ${p.maskBlur}`] : []),
    'Version: sd-mali',
  ];
  const negative = p.negativePrompt ? `\nNegative prompt: ${p.negativePrompt}` : '';
  return `${p.prompt}${negative}\n${fields.join(', ')}`;
}

export class GeneratedImage {
  readonly width: number;
  readonly height: number;
  /** width * height * 4 bytes, row-major RGBA. */
  readonly rgba: Uint8Array;
  /** The seed of the initial noise (undefined when latents were given). */
  readonly seed: bigint | undefined;
  readonly timings: GenerationTimings;
  readonly parameters: GenerationParameters;
  /** The final latents, before the VAE. */
  readonly latents: Float32Array;

  constructor(init: {
    width: number;
    height: number;
    rgba: Uint8Array;
    timings: GenerationTimings;
    parameters: GenerationParameters;
    latents: Float32Array;
  }) {
    this.width = init.width;
    this.height = init.height;
    this.rgba = init.rgba;
    this.seed = init.parameters.seed;
    this.timings = init.timings;
    this.parameters = init.parameters;
    this.latents = init.latents;
  }

  /** A PNG with the generation parameters in a 'parameters' text chunk, as AUTOMATIC1111 writes them. */
  toPNG(): Promise<Buffer> {
    return encodePng(this.rgba, this.width, this.height, { parameters: formatParameters(this.parameters) });
  }
}
