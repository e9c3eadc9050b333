/**
 * `sd-mali worker`: one board of the cluster. The model lives in the same restartable GPU
 * child process `sd-mali serve` uses (lib/server/worker); this process only takes jobs from
 * the model's BullMQ queue, runs their images there, reports progress, writes the PNGs and
 * beats its heartbeat.
 *
 * What BullMQ does for us: the job's lock (renewed while it runs; a board that dies stops
 * renewing, and another board takes the job once the lock expired and the stall check ran),
 * attempts with back-off (a GPU fault fails the attempt; this board waits for its new GPU
 * process, so the retry usually lands elsewhere), and the AbortSignal of a running job.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { AbortError } from '../errors.js';
import { defaultWorkerEntry } from '../server/create-server.js';
import { modelIdentity, type ModelIdentity } from '../server/model-identity.js';
import { DEFAULT_BACKOFF, DEFAULT_WATCHDOG, type RestartBackoff, type Watchdog } from '../server/options.js';
import type { WorkerInfo } from '../server/worker/protocol.js';
import { WorkerCrashedError, WorkerJobError, WorkerSupervisor, type StepEvent } from '../server/worker/supervisor.js';
import { CancelChannel, wasCancelled, type CancelMessage } from './cancel-channel.js';
import { bullConnection, openRedis, settleWithin, waitConnected } from './connections.js';
import { parseJobData, type ClusterImage, type ClusterJobData, type ClusterJobResult, type ClusterProgress } from './job-payload.js';
import { PREFIX, modelNameOf, queueNameOf, resultKey } from './names.js';
import { HEARTBEAT_MS, removeHeartbeat, writeHeartbeat, type CurrentJob, type WorkerHeartbeat } from './registry.js';

export interface ClusterWorkerOptions {
  redis: string;
  /** The model directory. */
  model: string;
  /** This board's name in `status`; default the host name. */
  name?: string;
  tokenizer?: string;
  device?: string;
  runtime?: string;
  /** Accept a CPU as the OpenCL device (PoCL); refused otherwise, as by `serve`. */
  allowCpuOpenCl?: boolean;
  /** The GPU process is replaced when an image makes no progress this long (the job's attempt fails and is retried). */
  watchdog?: Partial<Watchdog>;
  /**
   * How long a job's lock lasts without renewal (BullMQ's lockDuration; renewed every half of
   * it). A dead board's job is taken by another one this long after it died, plus up to one
   * stall check (run as often). Default 30 s.
   */
  lockMs?: number;
  /** The compiled GPU process entry; default the package's. */
  workerEntry?: string;
  restartBackoff?: Partial<RestartBackoff>;
  log?: (line: string) => void;
}

/** The reason a running image is stopped with when the board stops (not a skip). */
const STOPPING = new AbortError('the worker is stopping');

/** Results are read once by the API that waits for them; this is how long they wait for it. */
export const RESULT_TTL_S = 3600;
/** Progress goes to Redis at most this often (plus the first and last step of each image). */
const PROGRESS_EVERY_MS = 100;

interface Running {
  job: Job;
  image: AbortController;
  current: CurrentJob;
  /** The step reported when the cancel arrived. */
  cancelledAtStep: number | undefined;
}

export class ClusterWorker {
  readonly id: string;
  readonly name: string;
  readonly model: string;
  readonly queue: string;
  readonly #options: ClusterWorkerOptions;
  readonly #log: (line: string) => void;
  readonly #supervisor: WorkerSupervisor;
  readonly #client: Redis;
  readonly #results: Redis;
  readonly #cancels: CancelChannel;
  #worker: Worker | undefined;
  #info: WorkerInfo | undefined;
  #identity: ModelIdentity | undefined;
  #running: Running | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #counts = { completed: 0, failed: 0, cancelled: 0 };
  #lastJob: WorkerHeartbeat['lastJob'];
  readonly #startedAt = Date.now();
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: ClusterWorkerOptions) {
    this.#options = options;
    this.#log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.name = options.name ?? hostname();
    this.id = `${this.name}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.model = modelNameOf(options.model);
    this.queue = queueNameOf(this.model);
    this.#supervisor = new WorkerSupervisor(
      options.workerEntry ?? defaultWorkerEntry(),
      {
        model: resolve(options.model),
        ...(options.tokenizer !== undefined ? { tokenizer: resolve(options.tokenizer) } : {}),
        ...(options.device !== undefined ? { device: options.device } : {}),
        ...(options.runtime !== undefined ? { runtime: resolve(options.runtime) } : {}),
        ...(options.allowCpuOpenCl ? { allowCpuOpenCl: true } : {}),
      },
      { ...DEFAULT_BACKOFF, ...options.restartBackoff },
      this.#log,
      { ...DEFAULT_WATCHDOG, ...options.watchdog },
    );
    this.#client = openRedis(options.redis, 'answering', `sd-mali-worker:${this.id}`, this.#log);
    this.#results = openRedis(options.redis, 'waiting', `sd-mali-worker:${this.id}:results`, this.#log);
    this.#cancels = new CancelChannel(options.redis, `worker:${this.id}`, this.#log);
  }

  /** The GPU process's pid (undefined while it restarts). */
  get gpuPid(): number | undefined {
    return this.#supervisor.info?.pid;
  }

  /** Loads the model in the GPU process, then takes jobs. Resolves once it does. */
  async start(): Promise<void> {
    // A wrong URL or password is said now, before the model loads.
    await waitConnected(this.#client, 10_000);
    this.#beat();
    this.#heartbeat = setInterval(() => this.#beat(), HEARTBEAT_MS);
    this.#supervisor.start();
    this.#info = await this.#supervisor.ready();
    this.#identity = await modelIdentity(this.#info.modelDir);
    await this.#cancels.subscribe((m) => this.#onCancel(m));
    const lockDuration = this.#options.lockMs ?? 30_000;
    this.#worker = new Worker<ClusterJobData, ClusterJobResult>(this.queue, (job, _token, signal) => this.#process(job, signal), {
      connection: bullConnection(this.#options.redis, 'waiting', `sd-mali-worker:${this.id}:bullmq`),
      prefix: PREFIX,
      name: this.id,
      concurrency: 1,
      lockDuration,
      stalledInterval: lockDuration,
      // One stall (a board that died) moves the job back to wait; a second fails it.
      maxStalledCount: 1,
    });
    this.#worker.on('error', (err) => this.#log(`sd-mali worker: ${err.message}`));
    this.#worker.on('failed', (job, err) => {
      if (job) this.#log(`sd-mali worker: job ${job.id} attempt ${job.attemptsMade} failed: ${err.message}`);
    });
    await this.#worker.waitUntilReady();
    this.#beat();
  }

  /**
   * Finishes the job running now, then leaves. With `force` (or called again with it), stops
   * that job at its next step and gives Redis at most a few seconds: the job's lock then
   * expires and another board runs it.
   */
  async close(force = false): Promise<void> {
    if (force) this.#running?.image.abort(STOPPING);
    this.#closing ??= this.#shutdown(force);
    if (force) await settleWithin(this.#closing, 5000);
    else await this.#closing;
  }

  async #shutdown(force: boolean): Promise<void> {
    this.#closed = true;
    // Graceful: as long as the job takes (a second close(true) cuts it short).
    await settleWithin(this.#worker?.close(force), force ? 3000 : 24 * 3600_000);
    clearInterval(this.#heartbeat);
    await settleWithin(removeHeartbeat(this.#client, this.id), 1000);
    await settleWithin(this.#cancels.close(), 1000);
    await this.#supervisor.close();
    this.#client.disconnect();
    this.#results.disconnect();
  }

  #beat(): void {
    const running = this.#running;
    const beat: WorkerHeartbeat = {
      id: this.id,
      name: this.name,
      host: hostname(),
      pid: process.pid,
      model: this.model,
      queue: this.queue,
      info: this.#supervisor.info ?? this.#info,
      identity: this.#identity,
      state: this.#supervisor.info === undefined ? 'loading' : running ? 'busy' : 'idle',
      job: running?.current,
      ...this.#counts,
      lastJob: this.#lastJob,
      startedAt: this.#startedAt,
      seenAt: Date.now(),
    };
    // An answering connection: while Redis is away a beat fails at once and the next one retries.
    if (this.#client.status === 'ready') void writeHeartbeat(this.#client, beat).catch(() => undefined);
  }

  #onCancel(m: CancelMessage): void {
    const running = this.#running;
    if (m.queue !== this.queue || !running || running.job.id !== m.jobId) return;
    if (m.what === 'skip') {
      running.image.abort(new AbortError('skipped'));
      return;
    }
    running.cancelledAtStep ??= running.current.step;
    this.#worker?.cancelJob(m.jobId, m.what);
  }

  async #process(job: Job<ClusterJobData, ClusterJobResult>, signal: AbortSignal | undefined): Promise<ClusterJobResult> {
    let data: ClusterJobData;
    try {
      data = parseJobData(job.data);
    } catch (err) {
      // Bad data stays bad on every board: fail it now, no retry.
      this.#counts.failed++;
      throw new UnrecoverableError((err as Error).message);
    }
    const jobId = job.id!;
    const result: ClusterJobResult = { images: [], interrupted: false, skipped: [], worker: this.name };
    const running: Running = {
      job,
      image: new AbortController(),
      current: { id: jobId, image: 0, count: data.seeds.length, step: 0, steps: data.request.steps },
      cancelledAtStep: undefined,
    };
    this.#running = running;
    this.#beat();
    const stop = signal ?? new AbortController().signal;
    try {
      if (await wasCancelled(this.#results, this.queue, jobId)) {
        result.interrupted = true;
        result.cancelledAtStep = 0;
        result.stoppedAtStep = 0;
        this.#finish(running, 'interrupted');
        return result;
      }
      for (let k = 0; k < data.seeds.length; k++) {
        if (stop.aborted) {
          result.interrupted = true;
          break;
        }
        running.image = new AbortController();
        running.current = { ...running.current, image: k, step: 0 };
        const seed = BigInt(data.seeds[k]!);
        try {
          const made = await this.#supervisor.generate(
            { ...data.request, infotext: data.infotexts[k]!, seed },
            { signal: AbortSignal.any([stop, running.image.signal]), onStep: this.#progressReporter(job, running, data.seeds.length) },
          );
          // A board being stopped (close(true)) does not hand back a cut image as a result:
          // the attempt fails and the job runs again elsewhere.
          if (running.image.signal.reason === STOPPING) throw STOPPING;
          await this.#results.hset(resultKey(this.queue, jobId), String(k), Buffer.from(made.png.buffer, made.png.byteOffset, made.png.byteLength));
          const image: ClusterImage = { index: k, seed: String(made.seed), parameters: made.parameters, width: made.width, height: made.height, totalMs: made.totalMs, partial: made.partial };
          result.images.push(image);
          // As a single server (generation-job.ts): an image stopped by /interrupt or /skip is
          // decoded where it stopped and kept; an interrupt makes none after it.
          if (stop.aborted) {
            result.interrupted = true;
            break;
          }
          if (running.image.signal.aborted) result.skipped.push(k);
        } catch (err) {
          if (running.image.signal.reason === STOPPING) throw STOPPING;
          if (err instanceof AbortError) {
            // Stopped before its first step: nothing to decode.
            if (stop.aborted) {
              result.interrupted = true;
              break;
            }
            result.skipped.push(k);
            continue;
          }
          throw this.#attemptError(err);
        }
      }
      await this.#results.expire(resultKey(this.queue, jobId), RESULT_TTL_S);
      if (result.interrupted) {
        result.cancelledAtStep = running.cancelledAtStep ?? running.current.step;
        result.stoppedAtStep = running.current.step;
      }
      this.#finish(running, result.interrupted ? 'interrupted' : 'completed');
      return result;
    } catch (err) {
      this.#finish(running, 'failed');
      throw err;
    }
  }

  #finish(running: Running, outcome: 'completed' | 'interrupted' | 'failed'): void {
    if (outcome === 'completed') this.#counts.completed++;
    else if (outcome === 'interrupted') this.#counts.cancelled++;
    else this.#counts.failed++;
    this.#lastJob = { id: running.current.id, outcome, step: running.current.step, steps: running.current.steps, cancelledAtStep: running.cancelledAtStep };
    this.#running = undefined;
    this.#beat();
  }

  /** A failed image: bad input is final; a GPU fault or a dead GPU process is worth another attempt. */
  #attemptError(err: unknown): Error {
    if (err instanceof WorkerJobError && err.failure.code === 'INVALID_ARGUMENT') return new UnrecoverableError(`${err.failure.name}: ${err.failure.message.split('\n')[0]}`);
    if (err instanceof WorkerCrashedError) {
      // This board's GPU process is being replaced: take no job until it is back, so the
      // retry goes to a board that can run it now.
      const worker = this.#worker;
      if (worker && !this.#closed) {
        void worker.pause(true).then(async () => {
          await this.#supervisor.ready().catch(() => undefined);
          if (!this.#closed) worker.resume();
        });
      }
    }
    return err instanceof Error ? err : new Error(String(err));
  }

  #progressReporter(job: Job, running: Running, count: number): (e: StepEvent) => void {
    let lastSent = -Infinity;
    let preview: StepEvent | undefined;
    return (e) => {
      running.current = { ...running.current, step: e.step, steps: e.steps };
      if (e.preview) preview = e;
      const now = performance.now();
      if (e.step !== 1 && e.step !== e.steps && now - lastSent < PROGRESS_EVERY_MS) return;
      lastSent = now;
      const progress: ClusterProgress = {
        image: running.current.image,
        count,
        step: e.step,
        steps: e.steps,
        worker: this.name,
        previewWidth: preview?.previewWidth ?? 0,
        previewHeight: preview?.previewHeight ?? 0,
        ...(preview?.preview ? { preview: Buffer.from(preview.preview.buffer, preview.preview.byteOffset, preview.preview.byteLength).toString('base64') } : {}),
      };
      preview = undefined;
      void job.updateProgress(progress as unknown as object).catch(() => undefined);
    };
  }
}
