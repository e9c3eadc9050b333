/**
 * Every Redis name the cluster uses, in one place: BullMQ's prefix and queue per model, the
 * workers' heartbeat keys, the result keys and the cancel markers. All under "sd-mali:".
 */
import { basename, resolve } from 'node:path';

/** BullMQ's key prefix (its default is "bull"): every key sd-mali writes starts with it. */
export const PREFIX = 'sd-mali';

/** A model's name as clients see it (/sd-models) and as its queue is named: its directory's last part. */
export function modelNameOf(modelDir: string): string {
  return basename(resolve(modelDir));
}

/** BullMQ refuses ':' in queue names; other characters are kept so redis-cli shows the model. */
export function queueNameOf(model: string): string {
  return `txt2img.${model.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

/** Workers: one key per worker with a TTL (its heartbeat), and a sorted set of ids by last beat. */
export const WORKERS_KEY = `${PREFIX}:workers`;
export const workerKey = (id: string): string => `${PREFIX}:worker:${id}`;
/** Every model a worker has ever served, so `status` finds queues whose workers are gone. */
export const MODELS_KEY = `${PREFIX}:models`;

/** A job's PNGs (a hash: image index -> bytes), kept out of BullMQ's return value and event stream. */
export const resultKey = (queue: string, jobId: string): string => `${PREFIX}:result:${queue}:${jobId}`;
/** Set when a job is cancelled, for the worker that picks it up after the cancel message went by. */
export const cancelKey = (queue: string, jobId: string): string => `${PREFIX}:cancelled:${queue}:${jobId}`;

/** The BullMQ Relay namespace and topic on which the API asks boards to stop a job. */
export const RELAY_NAMESPACE = 'sd-mali';
export const CANCEL_TOPIC = 'jobs.cancel';
