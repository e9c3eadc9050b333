/**
 * What travels through Redis: a job carries only what a board needs (the request, the seed
 * list, seeds as decimal strings since they are 64-bit, and each image's infotext, written
 * by the API as a single server writes it), its result the image
 * descriptions (the PNG bytes go to their own key), its progress the step and a preview.
 * A worker checks a job's data before running it: the queue is input like any other.
 */
import { InvalidArgumentError } from '../errors.js';
import { isSigmaSchedule, SCHEDULER_NAMES } from '../schedulers/index.js';
import type { WorkerGenerate } from '../server/worker/protocol.js';
import { MAX_SEED } from '../server/generation-job.js';

export const JOB_NAME = 'txt2img';

export interface ClusterJobData {
  /** Everything the GPU worker needs for each image but the seed and its infotext. */
  request: Omit<WorkerGenerate, 'seed' | 'infotext'>;
  /** One decimal uint64 per image, in order. */
  seeds: string[];
  /** The A1111 infotext written into each image's PNG (it names the seed), one per seed. */
  infotexts: string[];
}

export interface ClusterImage {
  index: number;
  seed: string;
  /** A1111's infotext, also in the PNG. */
  parameters: string;
  width: number;
  height: number;
  totalMs: number;
  /** Stopped by /interrupt or /skip and decoded from the latents it reached (A1111 returns it). */
  partial: boolean;
}

export interface ClusterJobResult {
  images: ClusterImage[];
  /** Stopped by /interrupt or the client leaving: the images made before it are kept. */
  interrupted: boolean;
  skipped: number[];
  /** The board that ran it. */
  worker: string;
  /** When cancelled: the last step reported when the cancel arrived, and the last step run. */
  cancelledAtStep?: number;
  stoppedAtStep?: number;
}

export interface ClusterProgress {
  image: number;
  count: number;
  step: number;
  steps: number;
  worker: string;
  /** RGBA of the cheap latent preview, base64. */
  preview?: string;
  previewWidth: number;
  previewHeight: number;
}

const MAX_IMAGES = 64;
/** Prompts are bounded by the API's limits; this bounds what a board accepts from the queue. */
const MAX_INFOTEXT_LENGTH = 256 * 1024;

function fail(what: string): never {
  throw new InvalidArgumentError(`invalid job data: ${what}`);
}

/** The job's data checked field by field; anything else is an InvalidArgumentError. */
export function parseJobData(data: unknown): ClusterJobData {
  if (typeof data !== 'object' || data === null) fail('not an object');
  const { request, seeds, infotexts } = data as Record<string, unknown>;
  if (typeof request !== 'object' || request === null) fail('no request');
  const r = request as Record<string, unknown>;
  if (typeof r['prompt'] !== 'string') fail('request.prompt is not a string');
  if (typeof r['negativePrompt'] !== 'string') fail('request.negativePrompt is not a string');
  if (!Number.isInteger(r['steps']) || (r['steps'] as number) < 1) fail('request.steps is not an integer >= 1');
  if (typeof r['scheduler'] !== 'string' || !(SCHEDULER_NAMES as readonly string[]).includes(r['scheduler'])) fail(`request.scheduler is not one of ${SCHEDULER_NAMES.join(', ')}`);
  if (r['sigmaSchedule'] !== undefined && (typeof r['sigmaSchedule'] !== 'string' || !isSigmaSchedule(r['sigmaSchedule']))) fail('request.sigmaSchedule is not a schedule type');
  if (r['guidanceScale'] !== undefined && (typeof r['guidanceScale'] !== 'number' || !Number.isFinite(r['guidanceScale']))) fail('request.guidanceScale is not a finite number');
  if (!Array.isArray(seeds) || seeds.length < 1 || seeds.length > MAX_IMAGES) fail(`seeds is not a list of 1 to ${MAX_IMAGES} seeds`);
  for (const s of seeds) {
    if (typeof s !== 'string' || !/^\d{1,20}$/.test(s) || BigInt(s) > MAX_SEED) fail(`seed ${JSON.stringify(s)} is not a decimal uint64`);
  }
  if (!Array.isArray(infotexts) || infotexts.length !== seeds.length) fail('infotexts is not a list with one infotext per seed');
  for (const t of infotexts) {
    if (typeof t !== 'string' || t.length > MAX_INFOTEXT_LENGTH) fail(`an infotext is not a string of at most ${MAX_INFOTEXT_LENGTH} characters`);
  }
  // Only the known fields go on to the GPU process.
  const checked: ClusterJobData['request'] = {
    prompt: r['prompt'] as string,
    negativePrompt: r['negativePrompt'] as string,
    steps: r['steps'] as number,
    scheduler: r['scheduler'] as ClusterJobData['request']['scheduler'],
    ...(r['sigmaSchedule'] !== undefined ? { sigmaSchedule: r['sigmaSchedule'] as NonNullable<ClusterJobData['request']['sigmaSchedule']> } : {}),
    ...(r['guidanceScale'] !== undefined ? { guidanceScale: r['guidanceScale'] as number } : {}),
  };
  return { request: checked, seeds: seeds as string[], infotexts: infotexts as string[] };
}
