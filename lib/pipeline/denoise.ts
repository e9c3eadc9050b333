/**
 * The denoise stage: from the run's first step (0, or img2img's begin index) to the last,
 * one UNet call per step with the scheduler's scaled input and timestep, guidance on the
 * host or in the unet, the scheduler's step, and the inpainting blend where there is one.
 */
import { AbortError } from '../errors.js';
import type { TorchGenerator } from '../random/index.js';
import type { Scheduler } from '../schedulers/index.js';
import type { NDArray } from '../tvm/index.js';
import { guidedPrediction } from './guidance.js';
import { callEntry, type LoadedModel } from './loaded-model.js';
import type { StepProgress } from './options.js';
import { blendInpaint, type InpaintBlend } from './prepare-latents.js';
import type { ResourceScope } from './resource-scope.js';
import type { StageTimer } from './timer.js';

export interface DenoiseRun {
  scheduler: Scheduler;
  generator: TorchGenerator;
  /** The first step index (img2img, inpainting below strength 1). */
  beginIndex: number;
  /** [1,77,D] (no guidance) or [2,77,D] (negative, prompt). */
  embeddings: NDArray;
  /** The batch the unet must return on a host-guided model; undefined for the port's build. */
  expectedBatch: 1 | 2 | undefined;
  guidanceScale: number;
  blend: InpaintBlend | undefined;
  timer: StageTimer;
  onStep: ((progress: StepProgress) => void) | undefined;
  signal: AbortSignal | undefined;
  /** An abort after the first step ends the loop (the latents reached are decoded) instead of throwing. */
  decodeOnAbort: boolean;
}

export interface DenoiseTimings {
  unetMs: number[];
  schedulerMs: number[];
  copyMs: number[];
}

export async function denoise(model: LoadedModel, scope: ResourceScope, run: DenoiseRun, start: Float32Array): Promise<{ latents: Float32Array; timings: DenoiseTimings }> {
  const { runtime, device, geometry, info } = model;
  const { scheduler, timer, signal } = run;
  const latentsIn = scope.add(await runtime.emptyAsync(geometry.latentShape, 'float32', device));
  const timestep = scope.add(await runtime.emptyAsync([], 'int32', device));
  const timings: DenoiseTimings = { unetMs: [], schedulerMs: [], copyMs: [] };
  const steps = scheduler.length - run.beginIndex;
  let x = start;
  for (let i = run.beginIndex; i < scheduler.length; i++) {
    const done = i - run.beginIndex;
    if (signal?.aborted) {
      if (run.decodeOnAbort && done > 0) break;
      throw new AbortError(`generation aborted after ${done} of ${steps} steps`, { cause: signal.reason });
    }
    // The copies wait on the runtime's thread, behind any model call queued there (another
    // pipeline's UNet step), never on the event loop.
    const [, copyIn] = await timer.time(async () => {
      await latentsIn.copyFromAsync(scheduler.scaleModelInput(x, i));
      await timestep.copyFromAsync(Int32Array.of(scheduler.modelTimestep(i)));
    });
    const [out, unetMs] = await timer.time(async () => {
      const result = await callEntry(model, 'unet', latentsIn, timestep, run.embeddings, model.params.unet!);
      // Wait for the device once per UNet step: the Mali driver fails with
      // CL_OUT_OF_HOST_MEMORY when kernels keep queueing without a sync (apache/tvm#16530).
      await device.syncAsync();
      return result;
    });
    timings.unetMs.push(unetMs);
    const batch = out.shape[0];
    const [prediction, copyOut] = await timer.time(async () => {
      try {
        return await out.toFloat32ArrayAsync();
      } finally {
        out.dispose();
      }
    });
    timings.copyMs.push(copyIn + copyOut);
    const [next, schedulerMs] = await timer.time(async () => {
      const eps = guidedPrediction(prediction, batch, run.expectedBatch, run.guidanceScale, info.executable, (baked) => (info.guidanceBaked = baked));
      const stepped = scheduler.step(eps, i, x, run.generator);
      return run.blend ? blendInpaint(model, scheduler, run.blend, stepped, i) : stepped;
    });
    timings.schedulerMs.push(schedulerMs);
    x = next;
    run.onStep?.({ step: done + 1, steps, timestep: scheduler.timesteps[i]!, elapsedMs: timer.elapsedMs(), latents: x });
  }
  return { latents: x, timings };
}
