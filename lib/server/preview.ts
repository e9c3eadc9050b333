/**
 * A cheap preview of latents, as A1111's "Approx cheap" live preview: a fixed linear map of
 * the 4 latent channels to RGB (its sd_vae_approx.cheap_approximation coefficients), then
 * x * 0.5 + 0.5 clamped to [0, 1]. One pixel per latent: 64×64 for SD 1.5's 512×512.
 */
import { InvalidArgumentError } from '../errors.js';

/** Rows: latent channel 0..3; columns: R, G, B. */
export const APPROX_CHEAP_COEFFICIENTS: readonly (readonly [number, number, number])[] = [
  [0.298, 0.207, 0.208],
  [0.187, 0.286, 0.173],
  [-0.158, 0.189, 0.264],
  [-0.184, -0.271, -0.473],
];

/** RGBA bytes (width × height × 4) from channel-major latents [1, 4, height, width]. */
export function latentPreview(latents: Float32Array, width: number, height: number): Uint8Array {
  const plane = width * height;
  if (latents.length !== 4 * plane) throw new InvalidArgumentError(`latentPreview: ${latents.length} values is not 4×${height}×${width}`);
  const rgba = new Uint8Array(plane * 4);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      let v = 0;
      for (let l = 0; l < 4; l++) v += latents[l * plane + p]! * APPROX_CHEAP_COEFFICIENTS[l]![c]!;
      const unit = Math.min(1, Math.max(0, v * 0.5 + 0.5));
      rgba[p * 4 + c] = Math.round(unit * 255);
    }
    rgba[p * 4 + 3] = 255;
  }
  return rgba;
}
