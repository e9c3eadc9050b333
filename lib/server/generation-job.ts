/**
 * One txt2img request on the worker: batch_size × n_iter images with seeds seed, seed+1, …
 * (as A1111 numbers them), progress reported. As in A1111, /interrupt stops the job and
 * /skip the image running now, and either way the image running is decoded from the
 * latents it reached and returned; the images after an interrupt are not made.
 */
import { AbortError } from '../errors.js';
import { TORCH_SEED_MAX } from '../random/torch-generator.js';
import type { SchedulerName, SigmaSchedule } from '../schedulers/index.js';
import type { ServerContext } from './context.js';
import type { WorkerGenerate, WorkerImage } from './worker/protocol.js';

export interface JobRequest {
  prompt: string;
  negativePrompt: string;
  steps: number;
  scheduler: SchedulerName;
  sigmaSchedule: SigmaSchedule | undefined;
  firstSeed: bigint;
  count: number;
  guidanceScale: number | undefined;
  /** The infotext written into the image of `seed`. */
  infotext: (seed: bigint) => string;
  /** A1111's task id, reported by /progress as current_task. */
  taskId: string;
  /** img2img / inpainting fields passed to the worker as they are. */
  img2img?: Pick<WorkerGenerate, 'image' | 'mask' | 'strength' | 'resizeMode' | 'maskBlur' | 'invertMask'>;
}

/** What the GPU worker needs for each image of `request`, but the seed and its infotext (the same for a board of the cluster). */
export function workerRequestOf(request: JobRequest): Omit<WorkerGenerate, 'seed' | 'infotext'> {
  return {
    prompt: request.prompt,
    negativePrompt: request.negativePrompt,
    steps: request.steps,
    scheduler: request.scheduler,
    ...(request.sigmaSchedule !== undefined ? { sigmaSchedule: request.sigmaSchedule } : {}),
    ...(request.guidanceScale !== undefined ? { guidanceScale: request.guidanceScale } : {}),
    ...request.img2img,
  };
}

/** The largest seed (torch's manual_seed takes a uint64). */
export const MAX_SEED = TORCH_SEED_MAX;

/**
 * The seeds of a request's images: firstSeed, firstSeed + 1, … as A1111 numbers them, exact
 * bigints (the route refuses a first seed whose last image would pass 2^64-1).
 */
export function seedsOf(request: Pick<JobRequest, 'firstSeed' | 'count'>): bigint[] {
  return Array.from({ length: request.count }, (_, k) => request.firstSeed + BigInt(k));
}

export interface JobResult {
  /** In seed order; an image stopped by /skip or /interrupt is there, decoded where it stopped. */
  images: { index: number; seed: bigint; image: WorkerImage }[];
  interrupted: boolean;
  /** Images stopped by /skip (decoded where they stopped). */
  skipped: number[];
  jobTimestamp: string;
}

/** Runs the images of `request`; `signal` (the client went away) interrupts like /interrupt. */
export async function runJob(ctx: ServerContext, request: JobRequest, signal: AbortSignal): Promise<JobResult> {
  const job = new AbortController();
  const stopJob = (): void => job.abort(signal.reason);
  signal.addEventListener('abort', stopJob, { once: true });
  let image: AbortController | undefined;
  ctx.tracker.beginJob(
    request.count,
    request.steps,
    { interrupt: () => job.abort(new Error('interrupted')), skip: () => image?.abort(new Error('skipped')) },
    request.taskId,
  );
  const result: JobResult = { images: [], interrupted: false, skipped: [], jobTimestamp: ctx.tracker.state.job_timestamp };
  try {
    if (signal.aborted) stopJob();
    for (let k = 0; k < request.count; k++) {
      if (job.signal.aborted) {
        result.interrupted = true;
        break;
      }
      ctx.tracker.beginImage(k);
      image = new AbortController();
      const seed = seedsOf(request)[k]!;
      try {
        const made = await ctx.supervisor.generate(
          { ...workerRequestOf(request), infotext: request.infotext(seed), seed },
          { signal: AbortSignal.any([job.signal, image.signal]), onStep: (e) => ctx.tracker.step(e) },
        );
        result.images.push({ index: k, seed, image: made });
        if (job.signal.aborted) {
          result.interrupted = true;
          break;
        }
        if (image.signal.aborted) result.skipped.push(k);
      } catch (err) {
        // Stopped before its first step: nothing to decode.
        if (!(err instanceof AbortError)) throw err;
        if (job.signal.aborted) {
          result.interrupted = true;
          break;
        }
        result.skipped.push(k);
      }
    }
    return result;
  } finally {
    signal.removeEventListener('abort', stopJob);
    ctx.tracker.endJob();
  }
}
