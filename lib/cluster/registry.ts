/**
 * The registry of live workers: each board writes its heartbeat (what it serves, what it is
 * doing) under a key with a TTL, and its id in a sorted set scored by the time of the beat.
 * A board that stops beating drops out once its key expires; readers also trim the set.
 */
import type { Redis } from 'ioredis';
import type { ModelIdentity } from '../server/model-identity.js';
import type { WorkerInfo } from '../server/worker/protocol.js';
import { MODELS_KEY, WORKERS_KEY, workerKey } from './names.js';

export const HEARTBEAT_MS = 1000;
/** A worker missing this long is gone (a few missed beats, so a busy moment is not a death). */
export const HEARTBEAT_TTL_MS = 5000;

export interface CurrentJob {
  id: string;
  /** 0-based image of the job running now, and how many it has. */
  image: number;
  count: number;
  step: number;
  steps: number;
}

export interface WorkerHeartbeat {
  id: string;
  name: string;
  host: string;
  pid: number;
  model: string;
  queue: string;
  /** The loaded model (undefined while the GPU process loads or restarts). */
  info: WorkerInfo | undefined;
  /**
   * The model's A1111 identity (name, sha256 of its weight index, short hash), computed on the
   * board from its own files, so /sd-models through the API shows what a single server shows.
   */
  identity: ModelIdentity | undefined;
  state: 'loading' | 'idle' | 'busy';
  job: CurrentJob | undefined;
  completed: number;
  failed: number;
  cancelled: number;
  /** How the last job ended, for `status` and the tests. */
  lastJob: { id: string; outcome: 'completed' | 'interrupted' | 'failed'; step: number; steps: number; cancelledAtStep: number | undefined } | undefined;
  startedAt: number;
  seenAt: number;
}

export async function writeHeartbeat(client: Redis, beat: WorkerHeartbeat): Promise<void> {
  await client
    .multi()
    .set(workerKey(beat.id), JSON.stringify(beat), 'PX', HEARTBEAT_TTL_MS)
    .zadd(WORKERS_KEY, beat.seenAt, beat.id)
    .sadd(MODELS_KEY, beat.model)
    .exec();
}

export async function removeHeartbeat(client: Redis, id: string): Promise<void> {
  await client.multi().del(workerKey(id)).zrem(WORKERS_KEY, id).exec();
}

/** The workers whose heartbeat has not expired, by name. */
export async function liveWorkers(client: Redis): Promise<WorkerHeartbeat[]> {
  const now = Date.now();
  await client.zremrangebyscore(WORKERS_KEY, '-inf', now - HEARTBEAT_TTL_MS);
  const ids = await client.zrange(WORKERS_KEY, 0, -1);
  if (ids.length === 0) return [];
  const values = await client.mget(ids.map(workerKey));
  const beats: WorkerHeartbeat[] = [];
  for (const value of values) {
    if (value === null) continue;
    try {
      beats.push(JSON.parse(value) as WorkerHeartbeat);
    } catch {
      // A key that is not ours or was cut: skip it rather than fail the listing.
    }
  }
  return beats.sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
}

/** Every model a worker has served (live or not), for `status`. */
export async function knownModels(client: Redis): Promise<string[]> {
  return (await client.smembers(MODELS_KEY)).sort();
}
