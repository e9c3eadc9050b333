/**
 * What /sdapi/v1/progress reports: A1111's shared.state for the job running now (steps,
 * image number, interrupted/skipped) and the latest latent preview, plus the handles that
 * /interrupt and /skip pull.
 */
import { encodePng } from '../image/index.js';
import type { StepEvent } from './worker/supervisor.js';

export interface JobControls {
  /** Stop the job: the image running now and every image after it. */
  interrupt(): void;
  /** Stop the image running now; the job goes on with the next. */
  skip(): void;
}

export interface ProgressState {
  skipped: boolean;
  interrupted: boolean;
  stopping_generation: boolean;
  job: string;
  job_count: number;
  job_timestamp: string;
  job_no: number;
  sampling_step: number;
  sampling_steps: number;
}

export interface ProgressResponse {
  progress: number;
  eta_relative: number;
  state: ProgressState;
  current_image: string | null;
  textinfo: string | null;
  /** A1111's task id of the job running ("task(…)"), null when idle. */
  current_task: string | null;
}

/** A1111's job timestamp: YYYYmmddHHMMSS, local time. */
function timestamp(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

export class ProgressTracker {
  #state: ProgressState = ProgressTracker.#idle();
  #startedAt = 0;
  #controls: JobControls | undefined;
  #preview: { rgba: Uint8Array; width: number; height: number } | undefined;
  #previewPng: Promise<Buffer> | undefined;
  #task: string | null = null;

  static #idle(): ProgressState {
    return { skipped: false, interrupted: false, stopping_generation: false, job: '', job_count: 0, job_timestamp: '0', job_no: 0, sampling_step: 0, sampling_steps: 0 };
  }

  beginJob(imageCount: number, steps: number, controls: JobControls, taskId: string): void {
    const now = new Date();
    this.#task = taskId;
    this.#state = { ...ProgressTracker.#idle(), job: 'txt2img', job_count: imageCount, job_timestamp: timestamp(now), sampling_steps: steps };
    this.#startedAt = now.getTime();
    this.#controls = controls;
    this.#preview = undefined;
    this.#previewPng = undefined;
  }

  beginImage(index: number): void {
    this.#state.job_no = index;
    this.#state.sampling_step = 0;
    this.#state.skipped = false;
  }

  step(e: StepEvent): void {
    this.#state.sampling_step = e.step;
    this.#state.sampling_steps = e.steps;
    if (e.preview) {
      this.#preview = { rgba: e.preview, width: e.previewWidth, height: e.previewHeight };
      this.#previewPng = undefined;
    }
  }

  endJob(): void {
    this.#task = null;
    this.#state = ProgressTracker.#idle();
    this.#controls = undefined;
    this.#preview = undefined;
    this.#previewPng = undefined;
  }

  get state(): Readonly<ProgressState> {
    return this.#state;
  }

  /** True when there was a job to interrupt. */
  interrupt(): boolean {
    if (!this.#controls) return false;
    this.#state.interrupted = true;
    this.#controls.interrupt();
    return true;
  }

  skip(): boolean {
    if (!this.#controls) return false;
    this.#state.skipped = true;
    this.#controls.skip();
    return true;
  }

  /** The /progress answer, computed as A1111's progressapi does. */
  async response(skipCurrentImage: boolean): Promise<ProgressResponse> {
    const state = { ...this.#state };
    if (state.job_count === 0) return { progress: 0, eta_relative: 0, state, current_image: null, textinfo: null, current_task: null };
    let progress = 0.01 + state.job_no / state.job_count;
    if (state.sampling_steps > 0) progress += (state.sampling_step / state.sampling_steps) / state.job_count;
    const elapsed = (Date.now() - this.#startedAt) / 1000;
    const etaRelative = elapsed / progress - elapsed;
    let currentImage: string | null = null;
    if (!skipCurrentImage && this.#preview) {
      const { rgba, width, height } = this.#preview;
      this.#previewPng ??= encodePng(rgba, width, height);
      currentImage = (await this.#previewPng).toString('base64');
    }
    return { progress: Math.min(progress, 1), eta_relative: etaRelative, state, current_image: currentImage, textinfo: null, current_task: this.#task };
  }
}
