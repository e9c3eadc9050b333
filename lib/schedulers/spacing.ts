/** Timestep spacings, exactly as each diffusers class computes them. */
import { arange, linspace, roundHalfEven } from './numpy-like.js';
import type { TimestepSpacing, TrainingConfig } from './training-schedule.js';
import { InvalidArgumentError } from '../errors.js';

export function checkSteps(steps: number, train: number): void {
  if (!Number.isInteger(steps) || steps < 1) throw new InvalidArgumentError(`steps must be an integer >= 1, got ${steps}`);
  if (steps > train) throw new InvalidArgumentError(`steps (${steps}) cannot exceed the ${train} training timesteps`);
}

/** Integer timesteps, descending (PNDM's base schedule, DDIM). */
export function integerTimesteps(spacing: TimestepSpacing, steps: number, cfg: TrainingConfig): number[] {
  const T = cfg.numTrainTimesteps;
  switch (spacing) {
    case 'linspace':
      return linspace(0, T - 1, steps).map(roundHalfEven).reverse();
    case 'leading': {
      const ratio = Math.floor(T / steps);
      return Array.from({ length: steps }, (_, i) => roundHalfEven(i * ratio) + cfg.stepsOffset).reverse();
    }
    case 'trailing':
      return arange(T, 0, -T / steps).map((t) => roundHalfEven(t) - 1);
  }
}

/** Float32 timesteps, descending (LMS, Euler, Euler ancestral). */
export function floatTimesteps(spacing: TimestepSpacing, steps: number, cfg: TrainingConfig): number[] {
  const T = cfg.numTrainTimesteps;
  switch (spacing) {
    case 'linspace':
      return linspace(0, T - 1, steps).map(Math.fround).reverse();
    case 'leading': {
      const ratio = Math.floor(T / steps);
      return Array.from({ length: steps }, (_, i) => Math.fround(Math.fround(roundHalfEven(i * ratio)) + cfg.stepsOffset)).reverse();
    }
    case 'trailing':
      return arange(T, 0, -T / steps).map((t) => Math.fround(Math.fround(roundHalfEven(t)) - 1));
  }
}
