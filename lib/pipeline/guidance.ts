/**
 * Classifier-free guidance on the host: u + g * (c - u) over the unet's unguided batch of
 * two (unconditional first), in float32 as diffusers computes it.
 */
import { ArtifactError, InvalidArgumentError } from '../errors.js';
import { BAKED_GUIDANCE_SCALE } from './options.js';

export function applyGuidance(prediction: Float32Array, guidanceScale: number): Float32Array {
  const g = Math.fround(guidanceScale);
  const half = prediction.length / 2;
  const eps = new Float32Array(half);
  for (let k = 0; k < half; k++) {
    const u = prediction[k]!;
    eps[k] = Math.fround(u + Math.fround(g * Math.fround(prediction[half + k]! - u)));
  }
  return eps;
}

/** The error for a guidance scale an executable with guidance baked in cannot apply. */
export function bakedGuidanceError(guidanceScale: number): InvalidArgumentError {
  return new InvalidArgumentError(`this executable bakes guidance scale ${BAKED_GUIDANCE_SCALE} into its unet; guidanceScale ${guidanceScale} cannot be applied`);
}

/**
 * The noise prediction the scheduler steps with, from the unet's batch:
 * - host guidance (sd-mali build): batch 2 is guided here, batch 1 (guidance <= 1) used as is;
 * - the port's build: batch 1 means guidance is baked in (only 7.5 possible), batch 2 is
 *   guided here. `onBaked` records which one the executable is.
 */
export function guidedPrediction(
  prediction: Float32Array,
  batch: number | undefined,
  expectedBatch: 1 | 2 | undefined,
  guidanceScale: number,
  executable: string,
  onBaked: (baked: boolean) => void,
): Float32Array {
  if (expectedBatch !== undefined && batch !== expectedBatch) {
    throw new ArtifactError(executable, `unet returned a batch of ${String(batch)} for embeddings of batch ${expectedBatch}; sd-mali.json says it returns one prediction per embedding`);
  }
  if (batch === 1) {
    if (expectedBatch === 1) return prediction;
    onBaked(true);
    if (guidanceScale !== BAKED_GUIDANCE_SCALE) throw bakedGuidanceError(guidanceScale);
    return prediction;
  }
  if (batch !== 2) throw new ArtifactError(executable, `unet returned a batch of ${String(batch)}; expected 1 (guidance inside) or 2 (unconditional, conditional)`);
  if (expectedBatch === undefined) onBaked(false);
  return applyGuidance(prediction, guidanceScale);
}
