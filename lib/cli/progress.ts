/**
 * Progress for `generate`: bars on a terminal (cli-progress), plain lines otherwise (logs,
 * CI), nothing with --json. Everything goes to stderr; stdout is for results.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { LoadProgress, StepProgress } from '../pipeline/index.js';
import { formatBytes } from './model-report.js';

export interface ProgressView {
  load(p: LoadProgress): void;
  step(p: StepProgress): void;
  stop(): void;
  log(line: string): void;
}

function seconds(ms: number): string {
  if (ms >= 60_000) return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms)}ms`;
}

class TerminalProgress implements ProgressView {
  readonly #bars = new MultiBar(
    { clearOnComplete: false, hideCursor: true, stream: process.stderr, format: ' {label} |{bar}| {percentage}% {detail}' },
    Presets.shades_classic,
  );
  #weights: SingleBar | undefined;
  #steps: SingleBar | undefined;
  #firstStepAt = 0;

  load(p: LoadProgress): void {
    if (p.phase !== 'weights') return;
    this.#weights ??= this.#bars.create(p.totalBytes, 0, { label: 'weights', detail: '' });
    this.#weights.update(p.loadedBytes, { detail: `${formatBytes(p.loadedBytes)} / ${formatBytes(p.totalBytes)}` });
  }

  step(p: StepProgress): void {
    if (!this.#steps) {
      this.#steps = this.#bars.create(p.steps, 0, { label: 'steps  ', detail: '' });
      this.#firstStepAt = p.elapsedMs;
    }
    const perStep = p.step > 1 ? (p.elapsedMs - this.#firstStepAt) / (p.step - 1) : p.elapsedMs;
    this.#steps.update(p.step, { detail: `${p.step}/${p.steps}  ${seconds(perStep)}/step  ETA ${seconds(perStep * (p.steps - p.step))}` });
  }

  log(line: string): void {
    this.#bars.log(`${line}\n`);
  }

  stop(): void {
    this.#bars.stop();
  }
}

class LineProgress implements ProgressView {
  #lastPercent = -1;
  #firstStepAt = 0;

  load(p: LoadProgress): void {
    if (p.phase !== 'weights') {
      process.stderr.write(`loading: ${p.phase}\n`);
      return;
    }
    const percent = p.totalBytes > 0 ? Math.floor((100 * p.loadedBytes) / p.totalBytes) : 100;
    if (percent >= this.#lastPercent + 10 || percent === 100) {
      this.#lastPercent = percent;
      process.stderr.write(`loading weights: ${percent}% (${formatBytes(p.loadedBytes)} of ${formatBytes(p.totalBytes)})\n`);
    }
  }

  step(p: StepProgress): void {
    if (p.step === 1) this.#firstStepAt = p.elapsedMs;
    const perStep = p.step > 1 ? (p.elapsedMs - this.#firstStepAt) / (p.step - 1) : p.elapsedMs;
    process.stderr.write(`step ${p.step}/${p.steps} (timestep ${formatTimestep(p.timestep)}): ${seconds(perStep)}/step, ETA ${seconds(perStep * (p.steps - p.step))}\n`);
  }

  log(line: string): void {
    process.stderr.write(`${line}\n`);
  }

  stop(): void {}
}

class SilentProgress implements ProgressView {
  load(): void {}
  step(): void {}
  log(): void {}
  stop(): void {}
}

export function createProgress(mode: 'auto' | 'silent'): ProgressView {
  if (mode === 'silent') return new SilentProgress();
  return process.stderr.isTTY ? new TerminalProgress() : new LineProgress();
}

/** Karras and sigma-space schedulers give float timesteps: two decimals say enough. */
export function formatTimestep(t: number): string {
  return Number.isInteger(t) ? String(t) : String(Number(t.toFixed(2)));
}
