/**
 * `sd-mali serve --redis`: the A1111 routes without a local GPU. Each request becomes a
 * BullMQ job on its model's queue; the answer comes when a board completes it (QueueEvents,
 * with a poll behind it for an event missed across a Redis restart). /progress and
 * /interrupt act on the caller's job wherever it runs; /sd-models lists what live boards
 * serve. While Redis is away, everything that needs it answers 503 at once; the requests
 * already queued keep waiting and are answered when Redis and the boards are back.
 */
import { Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { AbortError } from '../errors.js';
import { servesCheckpoint, type Caller, type GenerationBackend, type ServedModel } from '../server/generation-backend.js';
import { seedsOf, workerRequestOf, type JobRequest, type JobResult } from '../server/generation-job.js';
import { HttpError } from '../server/http-errors.js';
import { ProgressTracker, type ProgressResponse } from '../server/progress-tracker.js';
import { CancelChannel, type CancelWhat } from './cancel-channel.js';
import { bullConnection, openRedis, settleWithin, waitConnected } from './connections.js';
import { JOB_NAME, type ClusterJobData, type ClusterJobResult, type ClusterProgress } from './job-payload.js';
import { PREFIX, queueNameOf, resultKey } from './names.js';
import { redactRedisUrl } from './redis-url.js';
import { liveWorkers, type WorkerHeartbeat } from './registry.js';

export interface RemoteBackendOptions {
  redis: string;
  log: (line: string) => void;
  /** Attempts per job (a GPU fault or a dead board costs one); default 3. */
  attempts?: number;
  /** The first retry's delay, doubling after; default 2000 ms. */
  backoffMs?: number;
  /** How long finished jobs stay in Redis for `status` (removeOnComplete's age); default 1 h. */
  keepCompletedS?: number;
  /** How often the live workers are read; default 1000 ms. */
  refreshMs?: number;
}

interface QueueHandle {
  queue: Queue<ClusterJobData, ClusterJobResult>;
  events: QueueEvents;
  ready: Promise<unknown>;
}

interface RemoteJob {
  queue: QueueHandle;
  id: string;
  caller: string;
  tracker: ProgressTracker;
  active: boolean;
  image: number;
  submittedAt: number;
  /** Set while a request waits for this job; called by the queue's completed/failed events. */
  onCompleted?: (result: ClusterJobResult) => void;
  onFailed?: (reason: string) => void;
}

/** Redis taking longer than this to take a job is an outage: the API answers 503 rather than hang. */
const ADD_TIMEOUT_MS = 5000;
/** Closing waits this long for Redis at most. */
const CLOSE_MS = 2000;
/** The poll behind QueueEvents: how often a waiting request asks for its job's state. */
const POLL_MS = 2000;

function timeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]);
}

export class RemoteBackend implements GenerationBackend {
  readonly #options: Required<Omit<RemoteBackendOptions, 'log'>> & Pick<RemoteBackendOptions, 'log'>;
  readonly #client: Redis;
  readonly #cancels: CancelChannel;
  readonly #queues = new Map<string, QueueHandle>();
  readonly #jobs = new Map<string, RemoteJob>();
  #workers: WorkerHeartbeat[] = [];
  /** Why Redis cannot be used now; undefined while it answers. */
  #outage: string | undefined = 'not connected yet';
  #refreshTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: RemoteBackendOptions) {
    this.#options = { attempts: 3, backoffMs: 2000, keepCompletedS: 3600, refreshMs: 1000, ...options };
    this.#client = openRedis(options.redis, 'answering', 'sd-mali-serve', options.log);
    this.#cancels = new CancelChannel(options.redis, `serve:${process.pid}`, options.log);
  }

  async start(): Promise<void> {
    // A Redis that is not there yet is not fatal: the API answers 503 until it is.
    await waitConnected(this.#client, 3000).catch(() => undefined);
    await this.#refresh();
    if (this.#outage !== undefined) this.#options.log(`sd-mali serve: ${this.#outageMessage()}; answering 503 until it is reachable`);
    else if (this.#workers.length === 0) this.#options.log('sd-mali serve: no worker is connected yet: start `sd-mali worker --redis … --model …` on each board');
    this.#refreshTimer = setInterval(() => void this.#refresh(), this.#options.refreshMs);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#refreshTimer);
    // Requests still waiting end now (their connections are being closed anyway).
    for (const job of this.#jobs.values()) job.onFailed?.('the server is closing');
    await Promise.all(
      [...this.#queues.values()].flatMap((handle) => [settleWithin(handle.events.close(), CLOSE_MS), settleWithin(handle.queue.close(), CLOSE_MS)]),
    );
    await settleWithin(this.#cancels.close(), CLOSE_MS);
    this.#client.disconnect();
  }

  async #refresh(): Promise<void> {
    try {
      if (this.#client.status !== 'ready') throw new Error(`connection ${this.#client.status}`);
      this.#workers = await timeout(liveWorkers(this.#client), 3000, 'reading the workers');
      if (this.#outage !== undefined && this.#refreshTimer !== undefined) this.#options.log('sd-mali serve: Redis is reachable again');
      this.#outage = undefined;
    } catch (err) {
      if (this.#outage === undefined) this.#options.log(`sd-mali serve: Redis is unreachable (${(err as Error).message}); answering 503 until it is back`);
      this.#outage = (err as Error).message;
    }
  }

  #outageMessage(): string {
    return `Redis at ${redactRedisUrl(this.#options.redis)} is unreachable (${this.#outage ?? ''})`;
  }

  #unavailable(): HttpError {
    return new HttpError(503, `${this.#outageMessage()}: try again shortly`, { 'retry-after': '5' });
  }

  models(): ServedModel[] {
    if (this.#outage !== undefined || this.#client.status !== 'ready') {
      this.#outage ??= `connection ${this.#client.status}`;
      throw this.#unavailable();
    }
    const byModel = new Map<string, ServedModel>();
    for (const w of this.#workers) {
      if (!w.info) continue;
      const served = byModel.get(w.model);
      if (served) served.workers++;
      // A board from before identities were sent: its name, without a hash.
      else byModel.set(w.model, { title: w.model, info: w.info, identity: w.identity ?? { name: w.model, title: w.model, shortHash: null, sha256: null, aliases: [w.model] }, workers: 1 });
    }
    return [...byModel.values()].sort((a, b) => a.title.localeCompare(b.title));
  }

  model(checkpoint?: string): ServedModel {
    const models = this.models();
    if (models.length === 0) {
      throw new HttpError(503, 'no worker is serving a model: start `sd-mali worker --redis … --model …` on a board', { 'retry-after': '10' });
    }
    if (checkpoint === undefined) return models[0]!;
    const found = models.find((m) => servesCheckpoint(m, checkpoint));
    if (!found) {
      throw new HttpError(503, `no live worker serves the model ${JSON.stringify(checkpoint.slice(0, 200))}; the workers serve ${models.map((m) => JSON.stringify(m.identity.title)).join(', ')}`, { 'retry-after': '10' });
    }
    return found;
  }

  #queueFor(model: string): QueueHandle {
    const name = queueNameOf(model);
    let handle = this.#queues.get(name);
    if (!handle) {
      const queue = new Queue<ClusterJobData, ClusterJobResult>(name, {
        connection: bullConnection(this.#options.redis, 'answering', 'sd-mali-serve:queue'),
        prefix: PREFIX,
        // Progress events carry a 64×64 preview: keep the event stream short.
        streams: { events: { maxLen: 2000 } },
      });
      queue.on('error', () => undefined); // reported by #refresh, once per outage
      const events = new QueueEvents(name, { connection: bullConnection(this.#options.redis, 'waiting', 'sd-mali-serve:events'), prefix: PREFIX });
      events.on('error', () => undefined);
      events.on('active', ({ jobId }) => this.#onActive(name, jobId));
      events.on('progress', ({ jobId, data }) => this.#onProgress(name, jobId, data as unknown as ClusterProgress));
      events.on('completed', ({ jobId, returnvalue }) => this.#jobs.get(`${name}/${jobId}`)?.onCompleted?.(returnvalue as unknown as ClusterJobResult));
      events.on('failed', ({ jobId, failedReason }) => this.#jobs.get(`${name}/${jobId}`)?.onFailed?.(failedReason));
      handle = { queue, events, ready: Promise.all([queue.waitUntilReady(), events.waitUntilReady()]) };
      this.#queues.set(name, handle);
    }
    return handle;
  }

  #onActive(queue: string, jobId: string): void {
    const job = this.#jobs.get(`${queue}/${jobId}`);
    if (job) job.active = true;
  }

  #onProgress(queue: string, jobId: string, p: ClusterProgress): void {
    const job = this.#jobs.get(`${queue}/${jobId}`);
    if (!job || typeof p !== 'object' || p === null) return;
    job.active = true;
    if (p.image !== job.image) {
      job.image = p.image;
      job.tracker.beginImage(p.image);
    }
    const preview = typeof p.preview === 'string' ? new Uint8Array(Buffer.from(p.preview, 'base64')) : undefined;
    const sized = preview !== undefined && preview.length === p.previewWidth * p.previewHeight * 4;
    job.tracker.step({ step: p.step, steps: p.steps, preview: sized ? preview : undefined, previewWidth: p.previewWidth, previewHeight: p.previewHeight });
  }

  async run(request: JobRequest & { model: string }, caller: Caller, signal: AbortSignal): Promise<JobResult> {
    if (this.#outage !== undefined || this.#client.status !== 'ready') {
      this.#outage ??= `connection ${this.#client.status}`;
      throw this.#unavailable();
    }
    if (signal.aborted) throw new AbortError('the request was cancelled before it was queued');
    // Jobs carry the request as JSON and the boards' job check knows txt2img's fields only:
    // an init image would be dropped and a txt2img made instead, so say so.
    if (request.img2img !== undefined) throw new HttpError(501, 'img2img and inpainting run on a single server (sd-mali serve --model); the cluster (--redis) takes txt2img requests only so far');
    const handle = this.#queueFor(request.model);
    const seeds = seedsOf(request);
    const data: ClusterJobData = { request: workerRequestOf(request), seeds: seeds.map(String), infotexts: seeds.map((seed) => request.infotext(seed)) };
    let added: Job<ClusterJobData, ClusterJobResult>;
    try {
      await timeout(handle.ready, ADD_TIMEOUT_MS, 'connecting the queue');
      added = await timeout(
        handle.queue.add(JOB_NAME, data, {
          attempts: this.#options.attempts,
          backoff: { type: 'exponential', delay: this.#options.backoffMs },
          removeOnComplete: { age: this.#options.keepCompletedS },
          removeOnFail: { age: 24 * 3600 },
        }),
        ADD_TIMEOUT_MS,
        'adding the job',
      );
    } catch (err) {
      this.#outage ??= (err as Error).message;
      throw this.#unavailable();
    }
    const id = added.id!;
    const key = `${handle.queue.name}/${id}`;
    const job: RemoteJob = { queue: handle, id, caller: caller.key, tracker: new ProgressTracker(), active: false, image: 0, submittedAt: Date.now() };
    job.tracker.beginJob(
      request.count,
      request.steps,
      {
        interrupt: () => void this.#cancel(job, 'interrupt').catch(() => undefined),
        skip: () => void this.#cancel(job, 'skip').catch(() => undefined),
      },
      request.taskId,
    );
    const jobTimestamp = job.tracker.state.job_timestamp;
    this.#jobs.set(key, job);
    try {
      const result = await this.#waitFinished(job, signal);
      return await this.#collect(job, result, jobTimestamp);
    } finally {
      this.#jobs.delete(key);
      job.tracker.endJob();
    }
  }

  /** The job's result once a board completed it; AbortError at once if the client leaves (the job is cancelled). */
  #waitFinished(job: RemoteJob, signal: AbortSignal): Promise<ClusterJobResult> {
    const { queue } = job.queue;
    return new Promise<ClusterJobResult>((resolve, reject) => {
      let settled = false;
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        job.onCompleted = undefined;
        job.onFailed = undefined;
        signal.removeEventListener('abort', onAbort);
        clearInterval(poll);
        fn();
      };
      job.onCompleted = (result) => finish(() => resolve(result));
      job.onFailed = (reason) => finish(() => reject(this.#failure(reason)));
      const onAbort = (): void => {
        void this.#cancel(job, 'disconnect').catch((err: Error) => this.#options.log(`sd-mali serve: could not cancel job ${job.id}: ${err.message}`));
        finish(() => reject(new AbortError('the client disconnected')));
      };
      // Behind the events: a job finished while this server's event reader was cut off.
      const poll = setInterval(() => {
        void Job.fromId<ClusterJobData, ClusterJobResult>(queue, job.id)
          .then((found) => {
            if (!found) return finish(() => reject(new HttpError(500, `job ${job.id} is gone from Redis (removed, or Redis lost its data)`)));
            if (found.finishedOn && found.failedReason && found.attemptsMade >= this.#options.attempts) finish(() => reject(this.#failure(found.failedReason)));
            else if (found.finishedOn && found.returnvalue) finish(() => resolve(found.returnvalue));
          })
          .catch(() => undefined);
      }, POLL_MS);
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
    });
  }

  #failure(reason: string): HttpError {
    const status = reason.startsWith('InvalidArgumentError') ? 422 : 500;
    return new HttpError(status, `the job failed on the workers: ${reason}`);
  }

  /** The images' PNGs from their key (read once, then deleted), in the route's shape. */
  async #collect(job: RemoteJob, result: ClusterJobResult, jobTimestamp: string): Promise<JobResult> {
    const key = resultKey(job.queue.queue.name, job.id);
    const pngs = result.images.length > 0 ? await this.#client.hgetallBuffer(key) : {};
    void this.#client.del(key).catch(() => undefined);
    const images = result.images.map((image) => {
      const png = pngs[String(image.index)];
      if (!png) throw new HttpError(500, `job ${job.id}: the PNG of image ${image.index} is missing from Redis`);
      return { index: image.index, seed: BigInt(image.seed), image: { png: new Uint8Array(png), parameters: image.parameters, seed: BigInt(image.seed), width: image.width, height: image.height, totalMs: image.totalMs, partial: image.partial === true } };
    });
    return { images, interrupted: result.interrupted, skipped: result.skipped, jobTimestamp };
  }

  async #cancel(job: RemoteJob, what: CancelWhat): Promise<void> {
    if (this.#client.status !== 'ready') throw this.#unavailable();
    await this.#cancels.publish(this.#client, { queue: job.queue.queue.name, jobId: job.id, what });
    // Not started yet: take it off the queue (a job a board already holds is locked and stays).
    if (what !== 'skip' && !job.active) await job.queue.queue.remove(job.id).catch(() => undefined);
  }

  /** The caller's job /progress reports: the one running, else the one that waited longest. */
  #callersJob(caller: Caller): RemoteJob | undefined {
    let chosen: RemoteJob | undefined;
    for (const job of this.#jobs.values()) {
      if (job.caller !== caller.key) continue;
      if (!chosen || (job.active && !chosen.active) || (job.active === chosen.active && job.submittedAt < chosen.submittedAt)) chosen = job;
    }
    return chosen;
  }

  async progress(caller: Caller, skipCurrentImage: boolean): Promise<ProgressResponse> {
    const job = this.#callersJob(caller);
    return (job?.tracker ?? new ProgressTracker()).response(skipCurrentImage);
  }

  async interrupt(caller: Caller): Promise<void> {
    const job = this.#callersJob(caller);
    if (job && this.#client.status !== 'ready') throw this.#unavailable();
    job?.tracker.interrupt();
  }

  async skip(caller: Caller): Promise<void> {
    const job = this.#callersJob(caller);
    if (job && this.#client.status !== 'ready') throw this.#unavailable();
    job?.tracker.skip();
  }
}
