/**
 * The noise schedule SD 1.x was trained with, as diffusers builds it from the model's
 * scheduler_config.json: "scaled_linear" betas 0.00085 -> 0.012 over 1000 steps.
 */
import { f32, torchCumprodF32, torchLinspaceF32 } from './numpy-like.js';

export type BetaSchedule = 'scaled_linear' | 'linear';
export type TimestepSpacing = 'leading' | 'linspace' | 'trailing';

export interface TrainingConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  stepsOffset: number;
  /** PNDM and DDIM: the final alpha is 1 instead of alphas_cumprod[0]. SD 1.x: false. */
  setAlphaToOne: boolean;
}

export const SD15_TRAINING: Readonly<TrainingConfig> = Object.freeze({
  numTrainTimesteps: 1000,
  betaStart: 0.00085,
  betaEnd: 0.012,
  betaSchedule: 'scaled_linear',
  stepsOffset: 1,
  setAlphaToOne: false,
});

export interface TrainingSchedule {
  config: TrainingConfig;
  /** float32, like diffusers' tensor. */
  alphasCumprod: Float32Array;
  /** ((1 - a) / a) ** 0.5 per train timestep, float32 tensor ops. */
  sigmas: Float32Array;
}

const cache = new Map<string, TrainingSchedule>();

export function trainingSchedule(config: TrainingConfig = SD15_TRAINING): TrainingSchedule {
  const key = JSON.stringify(config);
  const hit = cache.get(key);
  if (hit) return hit;
  const n = config.numTrainTimesteps;
  let betas: Float32Array;
  if (config.betaSchedule === 'scaled_linear') {
    betas = torchLinspaceF32(Math.sqrt(config.betaStart), Math.sqrt(config.betaEnd), n).map((b) => f32(b * b));
  } else {
    betas = torchLinspaceF32(config.betaStart, config.betaEnd, n);
  }
  const alphas = betas.map((b) => f32(1 - b));
  const alphasCumprod = torchCumprodF32(alphas);
  const sigmas = alphasCumprod.map((a) => f32(Math.sqrt(f32(f32(1 - a) / a))));
  const schedule = { config: { ...config }, alphasCumprod, sigmas };
  cache.set(key, schedule);
  return schedule;
}
